"""HMM inference: forward, forward-backward and Viterbi over many sequences, compiled with XLA.

Many sequences run together in *lanes*: each lane is a column of an ``(S, L)`` time-major
grid holding several whole sequences back to back. A ``start`` flag restarts the recursion
from the initial distribution at each sequence's first frame and a ``valid`` flag marks the
padding after a lane's last sequence, so sequences of any lengths share one compiled loop
of ``S`` steps (``S`` ≈ total frames / lanes) instead of one loop per sequence, and padding
is small. :func:`pack_lanes` builds the grid; shapes are rounded up to a coarse geometric
grid (:func:`bucket_size`) so that data of similar size reuses one XLA executable.

Two exact formulations, both finite for any length (T = 10⁶ is tested):

- *scaled* (the fast path): frame likelihoods ``b̃ₜ = exp(bₜ − max bₜ)`` are exponentiated
  once, outside the loop; the loop carries the normalized forward vector
  ``α̂ₜ ∝ (α̂ₜ₋₁ A) ⊙ b̃ₜ`` and its normalizer ``zₜ`` (``log L = Σₜ log zₜ + max bₜ``,
  summed in float64), and a max-normalized backward vector ``β̂ₜ ∝ A (b̃ₜ₊₁ ⊙ β̂ₜ₊₁)``. The loop
  body is multiply-adds only, and the normalization keeps float32 accurate too.
- *log space* (the fallback): ``αₜ(j) = logsumexpᵢ(αₜ₋₁(i) + log Aᵢⱼ) + bₜ(j)``, exact for
  any magnitudes at ``K²`` exponentials per step. It runs when the scaled pass meets a frame
  whose every likely state is unreachable (``zₜ = 0`` after underflow; possible with zero
  transitions and likelihood ratios beyond the float range), which the scaled pass reports.

Posteriors and expected transitions are normalized per frame
(``ξₜ(i, j) ∝ α̂ₜ₋₁(i) Aᵢⱼ b̃ₜ(j) β̂ₜ(j)``), so they need no total likelihood and cannot overflow.

A parallel prefix product (``tfp.math.scan_associative`` over normalized ``K × K`` transfer
matrices) was measured against the sequential loop on CPU: 2–3x slower at T = 20,000 and
4–12x slower to compile, since it does ``K`` times more work per frame; see
``benchmarks/bench_hmm.py --scan``. The loops use ``TensorArray`` (float64 loops that update
a preallocated buffer measured several times slower under XLA); :func:`viterbi_path` and
:func:`scaled_log_likelihood`, which the Keras model exports, use buffers or carries only.
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


def _is_last(start, valid):
    """(S, L) bool: frame is the last of its sequence (next is a start, padding or the end)."""
    next_start = tf.concat([start[1:], tf.ones_like(start[:1])], axis=0)
    next_valid = tf.concat([valid[1:], tf.zeros_like(valid[:1])], axis=0)
    return tf.logical_and(valid, tf.logical_or(next_start, tf.logical_not(next_valid)))


def _to_lanes(frames, frame_index):
    """(N, …) frame array → (S, L, …) lane grid."""
    return tf.gather(frames, frame_index)


def _from_lanes(grid, position):
    """(S, L, …) lane grid → (N, …) frame array (zeros for padding frames)."""
    flat = tf.reshape(grid, tf.concat([[-1], tf.shape(grid)[2:]], axis=0))
    return tf.gather(tf.concat([flat, tf.zeros_like(flat[:1])], axis=0), position)


def _write(buffer, t, value):
    """``buffer[t] = value`` as a new tensor (in place under XLA; converts to TFLite builtins,
    unlike a dynamic-size ``TensorArray``)."""
    return tf.tensor_scatter_nd_update(buffer, [[t]], value[tf.newaxis])


def _vector_matrix(vectors, matrix):
    """``vectors @ matrix`` for (L, K) @ (K, K) as a fused multiply-reduce (faster than a dot
    call for small ``K`` inside an XLA loop on CPU)."""
    return tf.reduce_sum(vectors[:, :, tf.newaxis] * matrix, axis=1)


# ----------------------------------------------------------------------------- scaled


def scaled_forward(startprob, transmat, frame_prob, start, valid):
    """Normalized forward vectors ``α̂`` (S, L, K) and normalizers ``z`` (S, L) (1 on padding).

    ``frame_prob`` (S, L, K) are frame likelihoods up to a per-frame factor; a sequence's
    log-likelihood is ``Σₜ log zₜ`` plus the log factors. Differentiable.
    """
    steps = tf.shape(frame_prob)[0]
    alpha0 = tf.zeros_like(frame_prob[0])
    alphas = tf.TensorArray(frame_prob.dtype, size=steps, element_shape=alpha0.shape)
    norms = tf.TensorArray(frame_prob.dtype, size=steps, element_shape=alpha0.shape[:1])

    def step(t, alpha, alphas, norms):
        predicted = tf.where(start[t][:, tf.newaxis], startprob, _vector_matrix(alpha, transmat))
        joint = predicted * frame_prob[t]
        norm = tf.where(valid[t], tf.reduce_sum(joint, axis=-1), tf.ones_like(joint[:, 0]))
        alpha = tf.where(valid[t][:, tf.newaxis], joint / norm[:, tf.newaxis], alpha)
        return t + 1, alpha, alphas.write(t, alpha), norms.write(t, norm)

    _, _, alphas, norms = tf.while_loop(
        lambda t, *_: t < steps, step, (tf.constant(0), alpha0, alphas, norms))
    return alphas.stack(), norms.stack()


def scaled_backward(transmat, frame_prob, start, valid):
    """Backward vectors ``β̂`` (S, L, K), each scaled to max 1; ones at each sequence's last frame."""
    steps = tf.shape(frame_prob)[0]
    is_last = _is_last(start, valid)
    ones = tf.ones_like(frame_prob[0])
    betas = tf.TensorArray(frame_prob.dtype, size=steps, element_shape=ones.shape)

    def step(t, beta, betas):
        beta = _vector_matrix(frame_prob[t + 1] * beta, tf.transpose(transmat))
        beta = tf.where(is_last[t][:, tf.newaxis], ones, beta / tf.reduce_max(beta, -1, keepdims=True))
        return t - 1, beta, betas.write(t, beta)

    _, _, betas = tf.while_loop(
        lambda t, *_: t >= 0, step, (steps - 2, ones, betas.write(steps - 1, ones)))
    return betas.stack()


def scaled_log_likelihood(startprob, transmat, log_frameprob, valid):
    """Log-likelihood (L,) of one sequence per lane: frames ``log_frameprob`` (S, L, K) from
    ``t = 0``, ``valid`` (S, L) marks real frames (others are skipped).

    The scaled forward recursion keeping only the running vector, no per-frame storage, so it
    converts to TFLite builtins; differentiable (used for training by gradient).
    """
    frame_prob, shift = frame_scale(log_frameprob)
    steps = tf.shape(frame_prob)[0]

    def advance(t, predicted, alpha, total):
        joint = predicted * frame_prob[t]
        norm = tf.reduce_sum(joint, axis=-1)
        alpha = tf.where(valid[t][:, tf.newaxis], joint / norm[:, tf.newaxis], alpha)
        return alpha, total + tf.where(valid[t], tf.math.log(norm), tf.zeros_like(norm))

    alpha, total = advance(0, startprob, tf.ones_like(frame_prob[0]), tf.zeros_like(frame_prob[0, :, 0]))
    _, _, total = tf.while_loop(
        lambda t, *_: t < steps,
        lambda t, alpha, total: (t + 1, *advance(t, _vector_matrix(alpha, transmat), alpha, total)),
        (tf.constant(1), alpha, total), maximum_iterations=steps)  # bound: lets XLA differentiate
    return total + tf.reduce_sum(tf.where(valid, shift[..., 0], tf.zeros_like(total)), axis=0)


def frame_scale(log_b):
    """``(b̃, shift)``: ``b̃ = exp(log_b − shift)`` with ``shift = max_k log_b`` (S, L, 1)."""
    shift = _safe_max(log_b)
    return tf.exp(log_b - shift), shift


def _well_scaled(norms, valid):
    """True when every valid frame's normalizer is ≥ tiny/eps, so the terms that underflowed
    (each below tiny) change results by at most ~eps relative; else the log-space path runs."""
    info = np.finfo(norms.dtype.as_numpy_dtype)
    return tf.reduce_all(tf.logical_or(tf.logical_not(valid), norms >= info.tiny / info.eps))


def _masked_sum64(values, mask):
    return tf.reduce_sum(tf.where(mask, tf.cast(values, tf.float64), tf.zeros_like(values, tf.float64)))


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _scaled_increments(startprob, transmat, log_frameprob, frame_index, start, valid, position):
    log_b = _to_lanes(log_frameprob, frame_index)
    frame_prob, shift = frame_scale(log_b)
    _, norms = scaled_forward(startprob, transmat, frame_prob, start, valid)
    increments = tf.cast(tf.math.log(norms), tf.float64) + tf.cast(shift[..., 0], tf.float64)
    return _from_lanes(increments, position), _well_scaled(norms, valid)


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _scaled_forward_backward(startprob, transmat, log_frameprob, frame_index, start, valid, position):
    log_b = _to_lanes(log_frameprob, frame_index)
    frame_prob, shift = frame_scale(log_b)
    alpha, norms = scaled_forward(startprob, transmat, frame_prob, start, valid)
    beta = scaled_backward(transmat, frame_prob, start, valid)
    log_likelihood = _masked_sum64(tf.math.log(norms) + shift[..., 0], valid)
    gamma = alpha * beta
    gamma_norms = tf.reduce_sum(gamma, axis=-1)
    gamma = gamma / gamma_norms[..., tf.newaxis]
    following = frame_prob[1:] * beta[1:]
    transitions = _expected_transitions(alpha[:-1], transmat, following, start, valid)
    ok = tf.logical_and(_well_scaled(norms, valid), _well_scaled(gamma_norms, valid))
    return (log_likelihood, *_posterior_outputs(gamma, start, valid, position), transitions, ok)


def _posterior_outputs(gamma, start, valid, position):
    """(posteriors (N, K), start counts (K,)) from the posterior grid."""
    gamma = tf.where(valid[..., tf.newaxis], gamma, tf.zeros_like(gamma))
    start_counts = tf.reduce_sum(tf.where(start[..., tf.newaxis], gamma, tf.zeros_like(gamma)),
                                 axis=[0, 1])
    return _from_lanes(gamma, position), start_counts


def _expected_transitions(previous, transmat, following, start, valid):
    """``Σₜ ξₜ`` (K, K): ``ξₜ ∝ previousₜ₋₁(i) Aᵢⱼ followingₜ(j)``, normalized per frame."""
    totals = tf.reduce_sum(tf.matmul(previous, transmat) * following, axis=-1, keepdims=True)
    has_transition = tf.logical_and(valid[1:], tf.logical_not(start[1:]))[..., tf.newaxis]
    tiny = np.finfo(previous.dtype.as_numpy_dtype).tiny
    previous = tf.where(has_transition, previous / tf.maximum(totals, tiny), tf.zeros_like(previous))
    following = tf.where(has_transition, following, tf.zeros_like(following))
    return transmat * tf.einsum("sli,slj->ij", previous, following)


# -------------------------------------------------------------------------- log space


def _log_vector_matrix(log_x, log_matrix):
    """``logsumexpᵢ(log_x[:, i] + log_matrix[i, j])`` (L, K): exact for any magnitudes."""
    return tf.reduce_logsumexp(log_x[:, :, tf.newaxis] + log_matrix, axis=1)


def log_forward(log_startprob, log_transmat, log_frameprob, start, valid):
    """Log forward messages ``α`` (S, L, K); ``logsumexp(αₜ)`` is the sequence's log-likelihood
    up to frame ``t``."""
    steps = tf.shape(log_frameprob)[0]
    first = log_startprob + log_frameprob[0]
    messages = tf.TensorArray(log_frameprob.dtype, size=steps, element_shape=first.shape)

    def step(t, alpha, messages):
        predicted = tf.where(start[t][:, tf.newaxis], log_startprob,
                             _log_vector_matrix(alpha, log_transmat))
        alpha = tf.where(valid[t][:, tf.newaxis], predicted + log_frameprob[t], alpha)
        return t + 1, alpha, messages.write(t, alpha)

    _, _, messages = tf.while_loop(
        lambda t, *_: t < steps, step, (tf.constant(1), first, messages.write(0, first)))
    return messages.stack()


def log_backward(log_transmat, log_frameprob, start, valid):
    """Log backward messages ``β`` (S, L, K): ``βₜ = 0`` at each sequence's last frame."""
    steps = tf.shape(log_frameprob)[0]
    is_last = _is_last(start, valid)
    zeros = tf.zeros_like(log_frameprob[0])
    messages = tf.TensorArray(log_frameprob.dtype, size=steps, element_shape=zeros.shape)

    def step(t, beta, messages):
        beta = _log_vector_matrix(log_frameprob[t + 1] + beta, tf.transpose(log_transmat))
        beta = tf.where(is_last[t][:, tf.newaxis], zeros, beta)
        return t - 1, beta, messages.write(t, beta)

    _, _, messages = tf.while_loop(
        lambda t, *_: t >= 0, step, (steps - 2, zeros, messages.write(steps - 1, zeros)))
    return messages.stack()


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _log_increments(log_startprob, log_transmat, log_frameprob, frame_index, start, valid,
                    position):
    alpha = log_forward(log_startprob, log_transmat, _to_lanes(log_frameprob, frame_index),
                        start, valid)
    evidence = tf.cast(tf.reduce_logsumexp(alpha, axis=-1), tf.float64)
    previous = tf.concat([tf.zeros_like(evidence[:1]), evidence[:-1]], axis=0)
    increments = evidence - tf.where(start, tf.zeros_like(previous), previous)
    return _from_lanes(tf.where(valid, increments, tf.zeros_like(increments)), position)


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _log_forward_backward(log_startprob, log_transmat, log_frameprob, frame_index, start, valid,
                          position):
    log_b = _to_lanes(log_frameprob, frame_index)
    alpha = log_forward(log_startprob, log_transmat, log_b, start, valid)
    beta = log_backward(log_transmat, log_b, start, valid)
    log_likelihood = _masked_sum64(tf.reduce_logsumexp(alpha, axis=-1), _is_last(start, valid))
    gamma = tf.nn.softmax(alpha + beta, axis=-1)
    # log ξₜ(i, j) = αₜ₋₁(i) + log Aᵢⱼ + bₜ(j) + βₜ(j), normalized over (i, j) per frame.
    log_xi = (alpha[:-1, :, :, tf.newaxis] + log_transmat
              + (log_b[1:] + beta[1:])[:, :, tf.newaxis, :])
    log_xi -= tf.reduce_logsumexp(log_xi, axis=[2, 3], keepdims=True)
    has_transition = tf.logical_and(valid[1:], tf.logical_not(start[1:]))
    xi = tf.where(has_transition[..., tf.newaxis, tf.newaxis], tf.exp(log_xi), tf.zeros_like(log_xi))
    return (log_likelihood, *_posterior_outputs(gamma, start, valid, position),
            tf.reduce_sum(xi, axis=[0, 1]))


# ----------------------------------------------------------------------- entry points


def frame_log_likelihoods(startprob, transmat, log_frameprob, frame_index, start, valid, position):
    """Per-frame log-likelihood increments (N,) float64: ``log p(xₜ | x₀..ₜ₋₁)`` within each
    sequence, so a sequence's log-likelihood is the sum over its frames.

    ``startprob`` (K,), ``transmat`` (K, K), ``log_frameprob`` (N, K) (rows of padded frames
    are ignored), lane tensors from :func:`pack_lanes`.
    """
    increments, ok = _scaled_increments(startprob, transmat, log_frameprob, frame_index,
                                        start, valid, position)
    if bool(ok):
        return increments
    return _log_increments(tf.math.log(startprob), tf.math.log(transmat), log_frameprob,
                           frame_index, start, valid, position)


def forward_backward(startprob, transmat, log_frameprob, frame_index, start, valid, position):
    """E-step of Baum-Welch over a lane grid (scaled; log space where that underflows).

    Returns ``(log_likelihood, posteriors, start_counts, transition_counts)``: total
    log-likelihood of all sequences (float64 scalar), state posteriors ``γ`` (N, K) (zero
    rows for padding), expected first states ``Σ γ₀`` (K,) and expected transitions
    ``Σₜ ξₜ`` (K, K).
    """
    *outputs, ok = _scaled_forward_backward(startprob, transmat, log_frameprob, frame_index,
                                            start, valid, position)
    if bool(ok):
        return tuple(outputs)
    return _log_forward_backward(tf.math.log(startprob), tf.math.log(transmat), log_frameprob,
                                 frame_index, start, valid, position)


def viterbi_path(log_startprob, log_transmat, log_frameprob, start, valid):
    """Most likely state path over a lane grid: ``(log_probs (S, L), states (S, L) int32)``.

    ``log_probs`` holds each sequence's best-path log-probability at its last frame (0
    elsewhere). Max-product recursion ``δₜ(j) = maxᵢ δₜ₋₁(i) + log Aᵢⱼ + bₜ(j)`` with
    back-pointers, then a backward trace that restarts at each sequence's last frame.
    """
    steps = tf.shape(log_frameprob)[0]
    is_last = _is_last(start, valid)
    first = log_startprob + log_frameprob[0]

    def step(t, delta, pointers, best, scores):
        candidates = delta[:, :, tf.newaxis] + log_transmat  # (L, from, to)
        predicted = tf.where(start[t][:, tf.newaxis], log_startprob, tf.reduce_max(candidates, axis=1))
        delta = tf.where(valid[t][:, tf.newaxis], predicted + log_frameprob[t], delta)
        return (t + 1, delta,
                _write(pointers, t, tf.argmax(candidates, axis=1, output_type=tf.int32)),
                _write(best, t, tf.argmax(delta, axis=-1, output_type=tf.int32)),
                _write(scores, t, tf.reduce_max(delta, axis=-1)))

    zeros = tf.zeros_like(log_frameprob[..., 0], tf.int32)
    _, _, pointers, best, scores = tf.while_loop(
        lambda t, *_: t < steps, step,
        (tf.constant(1), first, tf.zeros_like(log_frameprob, tf.int32),
         _write(zeros, 0, tf.argmax(first, axis=-1, output_type=tf.int32)),
         _write(tf.zeros_like(log_frameprob[..., 0]), 0, tf.reduce_max(first, axis=-1))))
    lanes = tf.range(tf.shape(log_frameprob)[1])
    final = best[steps - 1]

    def trace(t, state, states):
        following = tf.gather_nd(pointers[t + 1], tf.stack([lanes, state], axis=1))
        state = tf.where(is_last[t], best[t], following)
        return t - 1, state, _write(states, t, state)

    _, _, states = tf.while_loop(
        lambda t, *_: t >= 0, trace, (steps - 2, final, _write(zeros, steps - 1, final)))
    return tf.where(is_last, scores, tf.zeros_like(scores)), states


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def viterbi(log_startprob, log_transmat, log_frameprob, frame_index, start, valid, position):
    """:func:`viterbi_path` for frames (N, K): ``(log_probs (S, L), states (N,))``."""
    log_probs, states = viterbi_path(log_startprob, log_transmat,
                                     _to_lanes(log_frameprob, frame_index), start, valid)
    return log_probs, _from_lanes(states[..., tf.newaxis], position)[:, 0]
