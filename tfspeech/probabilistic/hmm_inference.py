"""HMM inference in log space: forward, forward-backward and Viterbi, compiled with XLA.

Many sequences run together in *lanes*: each lane is a row of a ``(S, L)`` time-major grid
holding several whole sequences back to back. A ``start`` flag restarts the recursion from
the initial distribution at each sequence's first frame and a ``valid`` flag marks the
padding after a lane's last sequence, so sequences of any lengths share one compiled loop
of ``S`` steps (``S`` ≈ total frames / lanes) instead of one loop per sequence, and padding
is small. :func:`pack_lanes` builds the grid; shapes are rounded up to a coarse geometric
grid (:func:`bucket_size`) so that data of similar size reuses one XLA executable.

Recursions (``α``, ``β`` are log messages, ``A`` the transition matrix, ``bₜ`` the frame
log-likelihoods): ``αₜ = log(exp(αₜ₋₁ − m) A) + m + bₜ`` with ``m = max αₜ₋₁``, and
``βₜ = log(A exp(bₜ₊₁ + βₜ₊₁ − m')) + m'``. Shifting by the maximum before the matrix
product keeps every step finite for any length (T = 10⁶ is tested) with ``K`` exponentials
per step instead of the ``K²`` of a log-sum-exp over pairs; zero transitions stay exact.
A sequential XLA ``while_loop`` measured faster on CPU than ``tfp.math.scan_associative``
(which does ``K`` times more work per frame for its matrix products), see benchmarks/README.md.
"""

import heapq
from typing import NamedTuple

import numpy as np
import tensorflow as tf

#: Sequences per lane grid are spread over at most this many lanes.
MAX_LANES = 256


def bucket_size(n):
    """Smallest ``m · 2ᵉ ≥ n`` with ``m`` in 4..7 (so at most 25 % padding), at least 8."""
    n = max(int(n), 8)
    exponent = max(n.bit_length() - 3, 0)
    mantissa = -(-n // (1 << exponent))
    return mantissa << exponent


class LanePacking(NamedTuple):
    """Where each frame of the concatenated sequences sits in the ``(S, L)`` lane grid.

    ``frame_index`` ``(S, L)`` int32: row of the padded frame array (padding points at the
    last row, ``n_frames_padded − 1``, which holds no data); ``start``/``valid`` ``(S, L)``
    bool; ``position`` ``(n_frames_padded,)`` int32: flat grid position ``s·L + l`` of each
    frame (padding rows point one past the grid, where :func:`_from_lanes` puts zeros); ``last_position`` ``(n_sequences,)``: flat
    grid position of each sequence's last frame; ``n_frames``: real frames.
    """

    frame_index: np.ndarray
    start: np.ndarray
    valid: np.ndarray
    position: np.ndarray
    last_position: np.ndarray
    n_frames: int

    @property
    def n_frames_padded(self):
        return len(self.position)


def pack_lanes(lengths, max_lanes=MAX_LANES):
    """Lay sequences of the given lengths (in order, concatenated) into lanes.

    The lane length ``S`` is the longest sequence or ``total / max_lanes``, whichever is
    larger (rounded by :func:`bucket_size`); sequences go longest-first into the least
    filled lane that still has room (a new lane when none has). Returns :class:`LanePacking`.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n_frames = int(lengths.sum())
    lane_length = bucket_size(max(int(lengths.max()), -(-n_frames // max_lanes)))
    lanes = []  # per lane: list of sequence ids
    heap = []  # (fill, lane id) of lanes with room
    for seq in np.argsort(-lengths, kind="stable"):
        if heap and heap[0][0] + lengths[seq] <= lane_length:
            fill, lane = heapq.heappop(heap)
        else:
            fill, lane = 0, len(lanes)
            lanes.append([])
        lanes[lane].append(seq)
        heapq.heappush(heap, (fill + int(lengths[seq]), lane))
    n_lanes = bucket_size(len(lanes)) if len(lanes) > 8 else len(lanes)
    n_padded = bucket_size(n_frames + 1)
    frame_index = np.full((lane_length, n_lanes), n_padded - 1, np.int32)
    start = np.zeros((lane_length, n_lanes), bool)
    valid = np.zeros((lane_length, n_lanes), bool)
    last_position = np.zeros(len(lengths), np.int64)
    for lane, sequences in enumerate(lanes):
        step = 0
        for seq in sorted(sequences):
            length = int(lengths[seq])
            frame_index[step:step + length, lane] = np.arange(offsets[seq], offsets[seq] + length)
            start[step, lane] = True
            valid[step:step + length, lane] = True
            last_position[seq] = (step + length - 1) * n_lanes + lane
            step += length
    position = np.full(n_padded, valid.size, np.int32)
    cells = np.flatnonzero(valid.ravel())
    position[frame_index.ravel()[cells]] = cells
    return LanePacking(frame_index, start, valid, position, last_position, n_frames)


def _safe_max(x):
    """Max over the last axis (kept), 0 where all entries are -inf (so shifts never give NaN)."""
    m = tf.reduce_max(x, axis=-1, keepdims=True)
    return tf.where(tf.math.is_finite(m), m, tf.zeros_like(m))


def _log_matmul_exp(log_x, matrix, transpose=False):
    """``log(exp(log_x) @ matrix)`` (or ``@ matrixᵀ``) with a max shift; ``log_x`` is (L, K)."""
    shift = _safe_max(log_x)
    product = tf.matmul(tf.exp(log_x - shift), matrix, transpose_b=transpose)
    return tf.math.log(product) + shift


def forward(log_startprob, transmat, log_frameprob, start, valid):
    """Log forward messages ``α`` (S, L, K) over a lane grid.

    ``log_startprob`` (K,), ``transmat`` (K, K) (probabilities, rows sum to one),
    ``log_frameprob`` (S, L, K), ``start``/``valid`` (S, L). ``logsumexp(αₜ)`` is the
    log-likelihood of the frames of its sequence up to ``t``. Differentiable.
    """
    steps = tf.shape(log_frameprob)[0]
    first = log_startprob + log_frameprob[0]
    messages = tf.TensorArray(log_frameprob.dtype, size=steps, element_shape=first.shape)

    def step(t, alpha, messages):
        predicted = tf.where(start[t][:, tf.newaxis], log_startprob, _log_matmul_exp(alpha, transmat))
        alpha = tf.where(valid[t][:, tf.newaxis], predicted + log_frameprob[t], alpha)
        return t + 1, alpha, messages.write(t, alpha)

    _, _, messages = tf.while_loop(
        lambda t, *_: t < steps, step, (tf.constant(1), first, messages.write(0, first)))
    return messages.stack()


def _is_last(start, valid):
    """(S, L) bool: frame is the last of its sequence (next is a start, padding or the end)."""
    next_start = tf.concat([start[1:], tf.ones_like(start[:1])], axis=0)
    next_valid = tf.concat([valid[1:], tf.zeros_like(valid[:1])], axis=0)
    return tf.logical_and(valid, tf.logical_or(next_start, tf.logical_not(next_valid)))


def backward(transmat, log_frameprob, start, valid):
    """Log backward messages ``β`` (S, L, K): ``βₜ = 0`` at each sequence's last frame."""
    steps = tf.shape(log_frameprob)[0]
    is_last = _is_last(start, valid)
    zeros = tf.zeros_like(log_frameprob[0])
    messages = tf.TensorArray(log_frameprob.dtype, size=steps, element_shape=zeros.shape)

    def step(t, beta, messages):
        beta = _log_matmul_exp(log_frameprob[t + 1] + beta, transmat, transpose=True)
        beta = tf.where(is_last[t][:, tf.newaxis], zeros, beta)
        return t - 1, beta, messages.write(t, beta)

    _, _, messages = tf.while_loop(
        lambda t, *_: t >= 0, step, (steps - 2, zeros, messages.write(steps - 1, zeros)))
    return messages.stack()


def _to_lanes(frames, frame_index):
    """(N, …) frame array → (S, L, …) lane grid."""
    return tf.gather(frames, frame_index)


def _from_lanes(grid, position):
    """(S, L, …) lane grid → (N, …) frame array (zeros for padding frames)."""
    flat = tf.reshape(grid, tf.concat([[-1], tf.shape(grid)[2:]], axis=0))
    return tf.gather(tf.concat([flat, tf.zeros_like(flat[:1])], axis=0), position)


@tf.function(jit_compile=True, reduce_retracing=True)
def log_likelihood_map(log_startprob, transmat, log_frameprob, frame_index, start, valid):
    """(S, L) grid: log-likelihood of each sequence's frames up to that frame (0 on padding).

    ``log_frameprob`` is (N, K) per frame; the value at a sequence's last frame is the
    sequence's log-likelihood.
    """
    alpha = forward(log_startprob, transmat, _to_lanes(log_frameprob, frame_index), start, valid)
    evidence = tf.reduce_logsumexp(alpha, axis=-1)
    return tf.where(valid, evidence, tf.zeros_like(evidence))


@tf.function(jit_compile=True, reduce_retracing=True)
def forward_backward(log_startprob, transmat, log_frameprob, frame_index, start, valid, position):
    """E-step of Baum-Welch over a lane grid.

    Returns ``(log_likelihood, posteriors, start_counts, transition_counts)``:
    total log-likelihood of all sequences (scalar), state posteriors ``γ`` (N, K) per frame
    (zero rows for padding), expected first states ``Σ γ₀`` (K,) and expected transitions
    ``Σₜ ξₜ`` (K, K). Each ``ξₜ(i, j) ∝ αₜ₋₁(i) Aᵢⱼ exp(bₜ(j) + βₜ(j))`` is normalized to
    sum to one per frame, which needs no total likelihood and cannot overflow.
    """
    log_b = _to_lanes(log_frameprob, frame_index)
    alpha = forward(log_startprob, transmat, log_b, start, valid)
    beta = backward(transmat, log_b, start, valid)
    is_last = _is_last(start, valid)
    evidence = tf.reduce_logsumexp(alpha, axis=-1)
    log_likelihood = tf.reduce_sum(tf.where(is_last, evidence, tf.zeros_like(evidence)))
    gamma = tf.nn.softmax(alpha + beta, axis=-1)
    gamma = tf.where(valid[..., tf.newaxis], gamma, tf.zeros_like(gamma))
    start_counts = tf.reduce_sum(tf.where(start[..., tf.newaxis], gamma, tf.zeros_like(gamma)),
                                 axis=[0, 1])
    previous = alpha[:-1]
    previous = tf.exp(previous - _safe_max(previous))
    following = log_b[1:] + beta[1:]
    following = tf.exp(following - _safe_max(following))
    totals = tf.reduce_sum(tf.matmul(previous, transmat) * following, axis=-1, keepdims=True)
    has_transition = tf.logical_and(valid[1:], tf.logical_not(start[1:]))[..., tf.newaxis]
    tiny = np.finfo(log_b.dtype.as_numpy_dtype).tiny
    previous = tf.where(has_transition, previous / tf.maximum(totals, tiny), tf.zeros_like(previous))
    transition_counts = transmat * tf.einsum("sli,slj->ij", previous, following)
    return log_likelihood, _from_lanes(gamma, position), start_counts, transition_counts


@tf.function(jit_compile=True, reduce_retracing=True)
def viterbi(log_startprob, log_transmat, log_frameprob, frame_index, start, valid, position):
    """Most likely state path: ``(log_probs (S, L), states (N,))``.

    ``log_probs`` holds each sequence's best-path log-probability at its last frame (0
    elsewhere). Max-product recursion ``δₜ(j) = maxᵢ δₜ₋₁(i) + log Aᵢⱼ + bₜ(j)`` with
    back-pointers, then a backward trace that restarts at each sequence's last frame.
    """
    log_b = _to_lanes(log_frameprob, frame_index)
    steps = tf.shape(log_b)[0]
    is_last = _is_last(start, valid)
    first = log_startprob + log_b[0]
    pointers = tf.TensorArray(tf.int32, size=steps, element_shape=first.shape)
    best = tf.TensorArray(tf.int32, size=steps, element_shape=first.shape[:1])
    scores = tf.TensorArray(log_b.dtype, size=steps, element_shape=first.shape[:1])

    def step(t, delta, pointers, best, scores):
        candidates = delta[:, :, tf.newaxis] + log_transmat  # (L, from, to)
        pointer = tf.argmax(candidates, axis=1, output_type=tf.int32)
        predicted = tf.where(start[t][:, tf.newaxis], log_startprob, tf.reduce_max(candidates, axis=1))
        delta = tf.where(valid[t][:, tf.newaxis], predicted + log_b[t], delta)
        return (t + 1, delta, pointers.write(t, pointer),
                best.write(t, tf.argmax(delta, axis=-1, output_type=tf.int32)),
                scores.write(t, tf.reduce_max(delta, axis=-1)))

    _, _, pointers, best, scores = tf.while_loop(
        lambda t, *_: t < steps, step,
        (tf.constant(1), first, pointers.write(0, tf.zeros_like(first, tf.int32)),
         best.write(0, tf.argmax(first, axis=-1, output_type=tf.int32)),
         scores.write(0, tf.reduce_max(first, axis=-1))))
    pointers, best, scores = pointers.stack(), best.stack(), scores.stack()
    n_lanes = tf.shape(log_b)[1]
    lanes = tf.range(n_lanes)
    states = tf.TensorArray(tf.int32, size=steps, element_shape=first.shape[:1])
    final = best[steps - 1]

    def trace(t, state, states):
        following = tf.gather_nd(pointers[t + 1], tf.stack([lanes, state], axis=1))
        state = tf.where(is_last[t], best[t], following)
        return t - 1, state, states.write(t, state)

    _, _, states = tf.while_loop(
        lambda t, *_: t >= 0, trace, (steps - 2, final, states.write(steps - 1, final)))
    states = states.stack()
    log_probs = tf.where(is_last, scores, tf.zeros_like(scores))
    return log_probs, _from_lanes(states[..., tf.newaxis], position)[:, 0]
