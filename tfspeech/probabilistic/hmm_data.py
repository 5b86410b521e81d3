"""Sequences laid out for the HMMs' compiled passes: one in-memory array, or a ``tf.data.Dataset``
of sequences streamed in chunks so that EM never holds more than a chunk of frames.

Every EM statistic (log-likelihood, start and transition counts, emission moments about the
current means) is a sum over sequences, so summing it over chunks gives exactly the
whole-data E-step.
"""

import numpy as np
import tensorflow as tf

from tfspeech.probabilistic import hmm_inference, hmm_numpy

DATASET_INIT_FRAMES = 100_000  # frames of the dataset's first sequences that initialize parameters
DATASET_CHUNK_FRAMES = 262_144  # frames per compiled forward-backward pass when streaming


class PackedSequences:
    """Sequences ``X (n_frames, D)`` of ``lengths`` laid out once for repeated passes: padded X
    (numpy, in the compute dtype; int32 symbols) and the lane grid of
    :func:`hmm_inference.pack_lanes`, or :meth:`layout` for the numpy passes."""

    def __init__(self, X, lengths, dtype):
        self.packing = packing = hmm_inference.pack_lanes(lengths)
        dtype = tf.as_dtype(dtype).as_numpy_dtype if np.issubdtype(X.dtype, np.floating) else np.int32
        self.X = np.zeros((packing.n_frames_padded,) + X.shape[1:], dtype)  # numpy: the passes
        self.X[:len(X)] = X  # without XLA need no tensors; compiled functions convert their inputs
        self.lanes = (packing.frame_index, packing.start, packing.valid)
        self.position = packing.position
        self.n_frames = packing.n_frames
        self.lengths = lengths
        self._layouts = {}
        self._designs = {}
        self._signature = None

    def layout(self, n_states):
        """The same sequences in the slots of a :class:`hmm_numpy.Layout` (passes without XLA;
        its piece length depends on the number of states), made once."""
        if n_states not in self._layouts:
            self._layouts[n_states] = hmm_numpy.Layout(self.lengths, n_states=n_states)
        return self._layouts[n_states]

    def diagonal_design(self, n_states):
        """:func:`hmm_numpy.diagonal_design` of X in :meth:`layout`'s slots, made once per fit."""
        if n_states not in self._designs:
            self._designs[n_states] = hmm_numpy.diagonal_design(self.X[:self.n_frames], self.layout(n_states))
        return self._designs[n_states]

    @property
    def signature(self):
        """The shapes a compiled pass over these sequences is specialized to (made once: each
        EM iteration asks)."""
        if self._signature is None:
            self._signature = (self.X.shape, self.X.dtype.name, tuple(self.lanes[0].shape))
        return self._signature


class DatasetSequences:
    """A ``tf.data.Dataset`` with one sequence per element, read once per pass.

    Elements: ``(T, D)`` arrays (``(T,)`` or ``(T, 1)`` symbols for categorical HMMs), or
    tuples whose first item is one. ``check_X`` validates one sequence (the model's own
    check, which raises ``ValueError``); iterating yields :class:`PackedSequences` chunks of
    about ``chunk_frames`` frames. ``n_frames`` and ``n_sequences`` are known after a pass.
    """

    def __init__(self, dataset, check_X, dtype, chunk_frames=None):
        chunk_frames = DATASET_CHUNK_FRAMES if chunk_frames is None else chunk_frames
        if not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise ValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}.")
        self.dataset = dataset
        self.check_X = check_X
        self.dtype = dtype
        self.chunk_frames = chunk_frames
        self.n_frames = None
        self.n_sequences = None

    def sequences(self):
        """Yields each validated sequence as a numpy array ``(T, D)``."""
        count = 0
        for count, element in enumerate(self.dataset, start=1):
            if isinstance(element, (tuple, list)):
                element = element[0]
            try:
                yield self.check_X(np.asarray(element))
            except ValueError as error:
                raise ValueError(
                    f"dataset sequence {count - 1}: {error} Each dataset element must be one "
                    "sequence (T, n_features) (unbatch a batched dataset first).") from None
        if count == 0:
            raise ValueError("the dataset is empty; it must yield at least one sequence.")

    def first(self, n_frames=None):
        """``(X, lengths)``: the first sequences, up to at least ``n_frames`` frames (default
        ``DATASET_INIT_FRAMES``) or all of them."""
        n_frames = DATASET_INIT_FRAMES if n_frames is None else n_frames
        sequences = []
        total = 0
        for sequence in self.sequences():
            sequences.append(sequence)
            total += len(sequence)
            if total >= n_frames:
                break
        return np.concatenate(sequences), np.array([len(s) for s in sequences], np.int64)

    def __iter__(self):
        pending, total = [], 0
        n_frames = n_sequences = 0
        for sequence in self.sequences():
            pending.append(sequence)
            total += len(sequence)
            n_frames += len(sequence)
            n_sequences += 1
            if total >= self.chunk_frames:
                yield self._pack(pending)
                pending, total = [], 0
        if pending:
            yield self._pack(pending)
        self.n_frames, self.n_sequences = n_frames, n_sequences

    def _pack(self, sequences):
        lengths = np.array([len(s) for s in sequences], np.int64)
        return PackedSequences(np.concatenate(sequences), lengths, self.dtype)
