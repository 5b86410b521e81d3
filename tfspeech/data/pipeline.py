"""``tf.data`` input for CTC training from built corpora: cached log-mels + transcript label ids.

``load_examples`` reads corpora (``tfspeech.data.layout``), fills their log-mel caches
(``tfspeech.data.features``) and encodes transcripts (``tfspeech.decoding.encode_transcript``);
``ctc_dataset`` shuffles them with a seed, groups similar lengths
(``Dataset.bucket_by_sequence_length``) and pads each batch to its longest member.

Batches: ``({"log_mel": (batch, frames, n_mels) float32, "num_frames": (batch,) int32},
labels (batch, max_labels) int32)``; log-mels are padded with 0 and labels with 0 (PAD),
the layout ``tfspeech.models.ctc.CTCRecognizer`` trains on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig
from tfspeech.data.features import cache_log_mels
from tfspeech.data.layout import read_corpus
from tfspeech.decoding import encode_transcript
from tfspeech.losses.ctc import required_frames


@dataclass(frozen=True)
class Example:
    """One utterance ready for training: ``labels`` are the transcript's ids."""

    id: str
    speaker: str
    text: str
    features_path: Path
    num_frames: int
    labels: tuple[int, ...]


def load_examples(
    corpus_dirs: str | Path | Sequence[str | Path],
    split: str | None,
    mel_config: MelConfig = MelConfig(),
    *,
    speakers: Sequence[str] | None = None,
    exclude_speakers: Sequence[str] = (),
    time_stride: int = 1,
    progress: bool = True,
) -> list[Example]:
    """The utterances of ``split`` (None: all) in ``corpus_dirs``, in corpus order.

    ``speakers`` keeps only those voice specs, ``exclude_speakers`` drops some. Utterances
    whose labels need more frames than ``ceil(num_frames / time_stride)`` (the model's
    output frames) cannot be learned by CTC: they are left out with a warning.
    """
    corpus_dirs = [corpus_dirs] if isinstance(corpus_dirs, (str, Path)) else list(corpus_dirs)
    if not corpus_dirs:
        raise ValueError("no corpus folders given; build one with tfspeech.data.corpus.build_corpus")
    candidates = []
    for corpus_dir in corpus_dirs:
        utterances = [
            u for u in read_corpus(corpus_dir, split)
            if (speakers is None or u.speaker in speakers) and u.speaker not in exclude_speakers
        ]
        if not utterances:
            continue
        cache = cache_log_mels(corpus_dir, mel_config, progress=progress)
        for utterance in utterances:
            path = cache / f"{utterance.id}.npy"
            num_frames = int(np.load(path, mmap_mode="r").shape[0])
            labels = tuple(int(i) for i in encode_transcript(utterance.text))
            candidates.append(Example(utterance.id, utterance.speaker, utterance.text, path, num_frames, labels))
    examples, too_long = _split_feasible(candidates, time_stride)
    if too_long:
        warnings.warn(
            f"left out {len(too_long)} utterance(s) whose transcripts are longer than "
            f"{time_stride}x-strided frames allow (e.g. {too_long[:3]})",
            RuntimeWarning,
            stacklevel=2,
        )
    if not examples:
        raise ValueError(
            f"no utterances of split {split!r} in {[str(d) for d in corpus_dirs]} "
            f"(speakers={speakers}, exclude_speakers={list(exclude_speakers)})"
        )
    return examples


def ctc_dataset(
    examples: Sequence[Example],
    *,
    frames_per_batch: int = 8000,
    bucket_boundaries: Sequence[int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of ``examples`` (see the module doc), about ``frames_per_batch`` padded frames each.

    ``bucket_boundaries``: frame counts between length buckets (default: the 10, 20, ..., 90 %
    quantiles of the examples' lengths); a bucket's batch size is ``frames_per_batch``
    divided by its longest possible member (at least 1). With ``shuffle`` the order
    changes every epoch, reproducibly for a ``seed``.
    """
    if not examples:
        raise ValueError("ctc_dataset got no examples")
    lengths = np.array([e.num_frames for e in examples])
    if bucket_boundaries is None:
        bucket_boundaries = sorted({int(q) for q in np.quantile(lengths, np.linspace(0.1, 0.9, 9))})
    bucket_boundaries = [int(b) for b in bucket_boundaries]
    if bucket_boundaries != sorted(set(bucket_boundaries)) or min(bucket_boundaries, default=1) < 1:
        raise ValueError(f"bucket_boundaries must be increasing positive frame counts, got {bucket_boundaries}")
    upper = [*bucket_boundaries, int(lengths.max()) + 1]
    batch_sizes = [max(1, frames_per_batch // bound) for bound in upper]

    n_mels = int(np.load(examples[0].features_path, mmap_mode="r").shape[1])
    paths = tf.constant([str(e.features_path) for e in examples])
    num_frames = tf.constant(lengths, tf.int32)
    labels = tf.ragged.constant([list(e.labels) for e in examples], dtype=tf.int32)

    def load(index):
        log_mel = tf.numpy_function(_load_npy, [tf.gather(paths, index)], tf.float32, stateful=False)
        log_mel.set_shape([None, n_mels])
        return {"log_mel": log_mel, "num_frames": tf.gather(num_frames, index)}, labels[index]

    dataset = tf.data.Dataset.range(len(examples))
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda features, _: features["num_frames"],
        bucket_boundaries=bucket_boundaries,
        bucket_batch_sizes=batch_sizes,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _load_npy(path) -> np.ndarray:
    return np.load(path.decode() if isinstance(path, bytes) else path).astype(np.float32, copy=False)


def _split_feasible(examples: list[Example], time_stride: int) -> tuple[list[Example], list[str]]:
    """(examples CTC can align after ``time_stride``, ids of those it cannot)."""
    if not examples:
        return [], []
    labels = tf.ragged.constant([list(e.labels) for e in examples], dtype=tf.int32).to_tensor()
    needed = required_frames(labels).numpy()
    fits = [n <= -(-e.num_frames // time_stride) for e, n in zip(examples, needed)]
    return [e for e, ok in zip(examples, fits) if ok], [e.id for e, ok in zip(examples, fits) if not ok]
