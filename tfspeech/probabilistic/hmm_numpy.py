"""The scaled forward-backward of :mod:`hmm_inference` in numpy, for fits too small to repay an
XLA compilation.

A compiled pass costs seconds to trace and compile once per shape; a fit of 10 EM iterations
on 20,000 frames runs in a fraction of that. This module computes the same E-step (the same
scaled recursion, exact, float32 or float64) with no compilation, in few enough numpy calls
that their overhead stays small:

- Each sequence is cut into *pieces* of ``C`` frames; all pieces advance together, so a
  step is one numpy call on a ``(pieces, K)`` array and a pass takes ``C`` steps, not ``T``.
- When a sequence has several pieces, the messages entering each piece come from its
  normalized *transfer matrix* ``Fₚ = A₀ diag(b̃ₜ₀) A diag(b̃ₜ₀₊₁) ⋯ A diag(b̃ₜ₁)`` (``A₀ = I``
  for a sequence's first piece): forward ``vⱼ₊₁ ∝ vⱼ Fⱼ``, backward ``uⱼ ∝ Fⱼ₊₁ uⱼ₊₁``, one
  step per piece. ``C ≈ √(2T/3)`` balances the ``3C`` steps within pieces against the
  ``2T/C`` across them.
- Within pieces: ``α̂ₜ ∝ (α̂ₜ₋₁ A) ⊙ b̃ₜ`` with normalizer ``zₜ`` (``log L = Σ log zₜ + Σ max bₜ``),
  ``β̂ₜ ∝ A (b̃ₜ₊₁ ⊙ β̂ₜ₊₁)`` scaled to max 1; posteriors and expected transitions are
  normalized per frame as in :mod:`hmm_inference`, with one matrix product over all frames.

As the compiled pass, it reports whether every normalizer stayed above ``tiny/eps``; when not
(a frame whose every likely state is unreachable), the caller runs the exact log-space pass.
"""

import functools

import numpy as np
from threadpoolctl import ThreadpoolController

_threadpools = ThreadpoolController()  # finds the BLAS libraries once (≈ 0.1 s), at import


#: Sequences up to this long are one piece each: the transfer matrices (``K³`` work per frame)
#: cost more than the steps they save (measured: 100 × 1,000 frames, K = 8, 2× faster whole).
ONE_PIECE_FRAMES = 4096


def piece_length(max_length):
    """Frames per piece: the longest sequence if short, else ``≈ √(2T/3)``."""
    return int(max_length) if max_length <= ONE_PIECE_FRAMES else max(64, int(np.sqrt(2 * max_length / 3)))


def single_blas_thread(function):
    """Run ``function`` with one BLAS thread: its matrix products are small (``K × K``, or
    ``(N, D) @ (D, K)``), where OpenBLAS's threads cost more than they give (a fit of 20,000
    frames ran 2.5x slower with 2 threads on 2 busy cores)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _threadpools.limit(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


@single_blas_thread
def diagonal_gaussian_log_prob(X, means, variances):
    """``log N(xₙ | μₖ, diag σ²ₖ)`` ``(N, K)`` float64 by matrix products (``X`` ``(N, D)``,
    ``means``/``variances`` ``(K, D)``): a few ``(N, D) @ (D, K)`` products instead of
    ``(K, N, D)`` residuals; float64, so the expansion loses nothing that matters."""
    X = np.asarray(X, np.float64)
    precision = 1.0 / variances
    mahalanobis = ((X * X) @ precision.T - 2 * X @ (means * precision).T
                   + np.sum(means * means * precision, axis=1))
    log_det = np.sum(np.log(variances), axis=1)
    return -0.5 * (X.shape[1] * np.log(2 * np.pi) + log_det + np.maximum(mahalanobis, 0))


@single_blas_thread
def diagonal_statistics(X, posteriors, shift):
    """``(nk (K,), Σ γ (x − c) (K, D), Σ γ (x − c)² (K, D))`` float64 about ``shift`` ``c`` (K, D)."""
    X = np.asarray(X, np.float64)
    posteriors = np.asarray(posteriors, np.float64)
    nk = posteriors.sum(axis=0)
    sum_x = posteriors.T @ X
    sum_xx = posteriors.T @ (X * X)
    return (nk, sum_x - nk[:, None] * shift,
            sum_xx - 2 * shift * sum_x + nk[:, None] * shift * shift)


class Pieces:
    """Sequences of ``lengths`` (back to back in ``n_frames`` rows) cut into pieces of ``chunk``
    frames: ``left`` ``(C, P)`` row of each piece's frame ``t`` (left-aligned; ``n_frames``,
    a padding row, after its end), ``right`` the same right-aligned (padding before its start),
    ``grid`` ``(J, n_sequences)`` piece index of each sequence's ``j``-th piece (−1: none),
    ``first`` ``(P,)``: the piece starts its sequence."""

    def __init__(self, lengths, chunk=None):
        lengths = np.asarray(lengths, np.int64)
        self.lengths = lengths
        self.n_frames = int(lengths.sum())
        self.chunk = chunk = piece_length(lengths.max()) if chunk is None else int(chunk)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.offsets = offsets
        counts = -(-lengths // chunk)
        n_pieces = int(counts.sum())
        sequence = np.repeat(np.arange(len(lengths)), counts)
        index = np.arange(n_pieces) - np.repeat(np.cumsum(counts) - counts, counts)
        start = offsets[sequence] + index * chunk
        length = np.minimum(chunk, lengths[sequence] - index * chunk)
        steps = np.arange(chunk)[:, np.newaxis]
        self.valid = steps < length
        self.left = np.where(self.valid, start + steps, self.n_frames)
        self.right = np.where(steps >= chunk - length, start + steps - (chunk - length), self.n_frames)
        self.grid = np.full((int(counts.max()), len(lengths)), -1, np.int64)
        self.grid[index, sequence] = np.arange(n_pieces)
        self.first = index == 0
        self.sequence = sequence
        self.n_pieces = n_pieces


@single_blas_thread
def forward_backward(startprob, transmat, log_frameprob, pieces):
    """E-step over all sequences: ``(log_likelihood, posteriors (N, K), start_counts (K,),
    transition_counts (K, K), ok)``; float64 log-likelihood, the rest in ``log_frameprob``'s
    dtype. ``log_frameprob`` ``(N, K)``; ``pieces``: :class:`Pieces` of the sequences."""
    dtype = log_frameprob.dtype
    n_frames, K = log_frameprob.shape
    A = np.asarray(transmat, dtype)
    shift = log_frameprob.max(axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0)
    frame_prob = np.exp(log_frameprob - shift)
    padded = np.concatenate([frame_prob, np.ones((1, K), dtype)])
    v, u = _piece_messages(np.asarray(startprob, dtype), A, padded, pieces)
    alpha, norms = _forward(A, padded[pieces.left], v, pieces.first)
    beta = _backward(A, padded[pieces.right], u)
    valid = pieces.valid
    log_likelihood = float(np.log(norms[valid], dtype=np.float64).sum() + shift.sum(dtype=np.float64))
    info = np.finfo(dtype)
    ok = bool(np.all(norms[valid] >= info.tiny / info.eps))
    frames = np.empty((n_frames + 1, K), dtype)
    frames[pieces.left[valid]] = alpha[valid]
    alpha = frames[:n_frames].copy()
    frames[pieces.right] = beta
    beta = frames[:n_frames]
    gamma = alpha * beta
    gamma_norms = gamma.sum(axis=1, keepdims=True)
    ok = ok and bool(np.all(gamma_norms >= info.tiny / info.eps))
    gamma /= gamma_norms
    following = frame_prob[1:] * beta[1:]
    previous = alpha[:-1]
    totals = np.einsum("nk,nk->n", previous @ A, following)
    previous = previous / np.maximum(totals, info.tiny)[:, np.newaxis]
    previous[pieces.offsets[1:] - 1] = 0  # no transition into a sequence's first frame
    transitions = A * (previous.T @ following)
    return log_likelihood, gamma, gamma[pieces.offsets].sum(axis=0), transitions, ok


@single_blas_thread
def sequence_log_likelihoods(startprob, transmat, log_frameprob, pieces):
    """``(log-likelihood of each sequence (n_sequences,) float64, ok)``: the forward pass only."""
    dtype = log_frameprob.dtype
    K = log_frameprob.shape[1]
    A = np.asarray(transmat, dtype)
    shift = log_frameprob.max(axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0)
    padded = np.concatenate([np.exp(log_frameprob - shift), np.ones((1, K), dtype)])
    v, _ = _piece_messages(np.asarray(startprob, dtype), A, padded, pieces, backward=False)
    _, norms = _forward(A, padded[pieces.left], v, pieces.first)
    info = np.finfo(dtype)
    ok = bool(np.all(norms[pieces.valid] >= info.tiny / info.eps))
    log_norms = np.where(pieces.valid, np.log(np.where(pieces.valid, norms, 1), dtype=np.float64), 0.0)
    totals = np.zeros(len(pieces.lengths))
    np.add.at(totals, pieces.sequence, log_norms.sum(axis=0))
    return totals + np.add.reduceat(shift[:, 0].astype(np.float64), pieces.offsets), ok


def _piece_messages(startprob, A, padded, pieces, backward=True):
    """Forward vectors entering and backward vectors leaving each piece, ``(P, K)`` each."""
    P, K = pieces.n_pieces, len(startprob)
    n_sequences = pieces.grid.shape[1]
    if pieces.grid.shape[0] == 1:  # one piece per sequence
        return np.broadcast_to(startprob, (P, K)), np.ones((P, K), A.dtype)
    transfer = _transfer_matrices(A, padded[pieces.right], pieces.right < pieces.n_frames, pieces.first)
    v, u = np.empty((P, K), A.dtype), np.empty((P, K), A.dtype)
    message = np.broadcast_to(startprob, (n_sequences, K)).copy()
    for ids in pieces.grid:
        has = ids >= 0
        v[ids[has]] = message[has]
        following = np.einsum("sk,skl->sl", message[has], transfer[ids[has]])
        message[has] = following / following.sum(axis=1, keepdims=True)
    message = np.ones((n_sequences, K), A.dtype)
    for ids in pieces.grid[::-1] if backward else ():
        has = ids >= 0
        u[ids[has]] = message[has]
        previous = np.einsum("skl,sl->sk", transfer[ids[has]], message[has])
        message[has] = previous / previous.max(axis=1, keepdims=True)
    return v, u


def _transfer_matrices(A, frame_prob, real, first):
    """``(P, K, K)`` products over each piece's frames, normalized to max 1: ``A diag(b̃ₜ)`` per
    frame, ``diag(b̃ₜ)`` for a sequence's first frame. ``frame_prob`` ``(C, P, K)`` right-aligned,
    ``real`` ``(C, P)`` marks its frames (the padding before a piece's start leaves ``I``)."""
    C, P, K = frame_prob.shape
    transfer = np.broadcast_to(np.eye(K, dtype=A.dtype), (P, K, K)).copy()
    starts = real & ~np.concatenate([np.zeros((1, P), bool), real[:-1]])
    for t in range(C):
        product = (transfer.reshape(P * K, K) @ A).reshape(P, K, K)
        if np.any(starts[t] & first):
            product = np.where((starts[t] & first)[:, None, None], transfer, product)
        product *= frame_prob[t][:, None, :]
        product /= product.max(axis=(1, 2), keepdims=True)
        transfer = np.where(real[t][:, None, None], product, transfer)
    return transfer


def _forward(A, frame_prob, v, first):
    """Normalized ``α̂`` and normalizers ``z`` ``(C, P, K)``/``(C, P)`` over left-aligned pieces
    (past a piece's end the values are garbage that callers mask out)."""
    C, P, K = frame_prob.shape
    alpha = np.empty((C, P, K), A.dtype)
    norms = np.empty((C, P), A.dtype)
    joint = np.where(first[:, None], v, v @ A) * frame_prob[0]
    for t in range(C):
        if t:
            joint = (alpha[t - 1] @ A) * frame_prob[t]
        norms[t] = joint.sum(axis=1)
        alpha[t] = joint / norms[t][:, None]
    return alpha, norms


def _backward(A, frame_prob, u):
    """``β̂`` ``(C, P, K)`` over right-aligned pieces, ``u`` at each piece's last frame."""
    C = frame_prob.shape[0]
    beta = np.empty(frame_prob.shape, A.dtype)
    beta[C - 1] = u
    transposed = A.T
    for t in range(C - 2, -1, -1):
        previous = (frame_prob[t + 1] * beta[t + 1]) @ transposed
        beta[t] = previous / previous.max(axis=1, keepdims=True)
    return beta
