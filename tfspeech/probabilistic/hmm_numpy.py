"""The scaled forward-backward of :mod:`hmm_inference` in numpy, for fits too small to repay an
XLA compilation.

A compiled pass costs seconds to trace and compile once per shape; a fit of 10 EM iterations
on 20,000 frames runs in a fraction of that. This module computes the same E-step (the same
scaled recursion, exact, float32 or float64) with no compilation, in few enough numpy calls
that their overhead stays small (each call costs ≈ 1–3 µs however small its arrays):

- Each sequence is cut into *pieces* of ``L`` frames (its last piece padded at its end); all
  ``P`` pieces advance together, so a pass takes ``L`` steps of a few numpy calls on ``(K, P)``
  arrays instead of ``T`` steps. Arrays are laid out ``(L, K, P)`` (:class:`Layout`): every
  step reads and writes one contiguous block, and sums over states are matrix products with a
  vector of ones (a numpy reduction over a short axis costs ≈ 10x more).
- When a sequence has several pieces, the messages entering each piece come from its
  normalized *transfer matrix* ``Fₚ = A₀ diag(b̃ₜ₀) A diag(b̃ₜ₀₊₁) ⋯ A diag(b̃ₜ₁)`` (``A₀ = I``
  for a sequence's first piece), all ``P`` built together in ``L`` steps (``K³`` per frame):
  forward ``vⱼ₊₁ ∝ vⱼ Fⱼ``, backward ``uⱼ ∝ Fⱼ₊₁ uⱼ₊₁``, one step per piece.
  :func:`piece_length` picks ``L`` from a cost model of these steps.
- Within pieces: ``α̂ₜ = (α̂ₜ₋₁ A) ⊙ b̃ₜ / zₜ`` (``log L = Σ log zₜ + Σ max bₜ``) and the
  Rabiner-scaled ``β̂ₜ₋₁ = A (b̃ₜ ⊙ β̂ₜ) / zₜ``, which keeps ``gₜ = Σ α̂ₜ ⊙ β̂ₜ`` constant
  through a piece; each piece's last ``β̂`` is scaled to ``g = 1``, so the posteriors are
  ``γₜ = α̂ₜ ⊙ β̂ₜ`` and the expected transitions ``A ⊙ Σₜ α̂ₜ₋₁ᵀ (b̃ₜ ⊙ β̂ₜ) / zₜ`` (the
  pair's normalizer ``α̂ₜ₋₁ A (b̃ₜ ⊙ β̂ₜ)`` is ``zₜ gₜ``), one batched matrix product over all
  frames.
- float32 stays float32 in the recursions; transfer matrices, pair sums and log-likelihoods
  are float64, and frame probabilities below float32's smallest normal number are 0 (x86
  computes on subnormal numbers ≈ 100x slower).

Padding frames have ``b̃ = 1``: the forward pass runs through them harmlessly, and since
``A 1 = 1`` the backward pass enters a padded piece with ``β̂ = 1`` as it should; their
posteriors and transition weights are set to zero.

As the compiled pass, each function reports whether every normalizer stayed above
``tiny/eps``; when not (a frame whose every likely state is unreachable), the caller runs the
exact log-space pass.
"""

import contextlib
import functools
import math
import threading

import numpy as np
from threadpoolctl import ThreadpoolController

_threadpools = ThreadpoolController()  # finds the BLAS libraries once (≈ 0.1 s), at import
_limited = threading.local()

#: Per-step costs (µs) of the cost model in :func:`piece_length`, rough fits to timings on the
#: shared 2-core machine (K = 8): a forward plus a backward step over ``P`` pieces, a transfer
#: step (``K³`` per piece), and a step of the piece-to-piece passes (both directions).
STEP_COST = (8.0, 0.006)  # (fixed, per state × piece)
TRANSFER_COST = (6.0, 0.0015)  # (fixed, per state² × piece)
MESSAGE_COST = 12.0
TRANSFER_NORMALIZE_EVERY = 4


def piece_length(lengths, n_states=8):
    """Frames per piece for sequences of ``lengths``: the ``L`` with the least modeled cost
    ``L · (step(P) + transfer(P)) + J · message`` (``P`` pieces, ``J`` per longest sequence;
    no transfer or message steps when every sequence is one piece)."""
    lengths = np.asarray(lengths, np.int64)
    longest = int(lengths.max())
    candidates = {longest} | {int(c) for c in np.geomspace(8, max(longest, 8), 40) if c < longest}
    best, best_cost = longest, math.inf
    for length in sorted(candidates):
        counts = -(-lengths // length)
        pieces, most = int(counts.sum()), int(counts.max())
        cost = length * (STEP_COST[0] + STEP_COST[1] * n_states * pieces)
        if most > 1:
            cost += length * (TRANSFER_COST[0] + TRANSFER_COST[1] * n_states ** 2 * pieces) + most * MESSAGE_COST
        if cost < best_cost:
            best, best_cost = length, cost
    return best


@contextlib.contextmanager
def one_blas_thread():
    """BLAS limited to one thread inside (re-entrant; the limit is set once by the outermost
    use, as setting it costs ≈ 0.3 ms). The products here are small (``K × K`` by ``K × P``),
    where OpenBLAS's threads cost more than they give (a fit of 20,000 frames ran 2.5x slower
    with 2 threads on 2 busy cores)."""
    if getattr(_limited, "depth", 0):
        _limited.depth += 1
        try:
            yield
        finally:
            _limited.depth -= 1
        return
    with _threadpools.limit(limits=1, user_api="blas"):
        _limited.depth = 1
        try:
            yield
        finally:
            _limited.depth = 0


def single_blas_thread(function):
    """Run ``function`` inside :func:`one_blas_thread`, without numpy's floating-point warnings
    (an underflow shows in the ``ok`` the passes return, and the caller falls back)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with one_blas_thread(), np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return wrapper


class Layout:
    """Sequences of ``lengths`` (back to back in ``n_frames`` rows) cut into ``n_pieces`` (P)
    pieces of ``length`` (L) frames (``None``: :func:`piece_length`), laid out time-major:
    *slot* ``(t, p)`` holds frame ``t`` of piece ``p``; pieces follow their sequences in order.

    ``index`` ``(L, P)`` row of each slot (0 in padding); ``padding`` ``(slots t, slots p)`` of
    the padding; ``inverse`` ``(n_frames,)`` flat slot ``t·P + p`` of each row; ``first``/
    ``continues`` ``(P,)`` the piece starts its sequence / follows a piece of its sequence;
    ``grid`` ``(J, n_sequences)`` piece number of each sequence's ``j``-th piece (``P``: none);
    ``piece_offsets`` first piece of each sequence.
    """

    def __init__(self, lengths, length=None, n_states=8):
        lengths = np.asarray(lengths, np.int64)
        self.lengths = lengths
        self.n_frames = int(lengths.sum())
        self.length = L = piece_length(lengths, n_states) if length is None else int(length)
        counts = -(-lengths // L)
        self.n_pieces = P = int(counts.sum())
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.piece_offsets = np.cumsum(counts) - counts
        sequence = np.repeat(np.arange(len(lengths)), counts)
        within = np.arange(P) - np.repeat(self.piece_offsets, counts)
        start = offsets[sequence] + within * L
        steps = np.arange(L)[:, np.newaxis]
        real = steps < np.minimum(L, lengths[sequence] - within * L)
        self.index = np.where(real, start + steps, 0)
        self.padding = np.nonzero(~real)
        self.inverse = np.empty(self.n_frames, np.int64)
        self.inverse[self.index[real]] = np.flatnonzero(real)
        self.first = within == 0
        self.continues = ~self.first
        self.grid = np.full((int(counts.max()), len(lengths)), P, np.int64)
        self.grid[within, sequence] = np.arange(P)
        self._grid_position = within * len(lengths) + sequence  # piece → row of grid.ravel()

    def from_rows(self, values):
        """``(n_frames, C)`` rows → ``(L, C, P)`` slots (zero in padding)."""
        slots = np.ascontiguousarray(np.asarray(values)[self.index].transpose(0, 2, 1))
        slots[self.padding[0], :, self.padding[1]] = 0
        return slots

    def to_rows(self, slots):
        """``(L, C, P)`` slots → ``(n_frames, C)`` rows."""
        L, C, P = slots.shape
        return slots.transpose(0, 2, 1).reshape(L * P, C)[self.inverse]


def frame_probabilities(log_frameprob, layout, dtype, overwrite=False):
    """``(b̃ (L, K, P) dtype, b̃ float64, shift (L, P) float64)``: ``b̃ = exp(log b − shift)``
    with ``shift`` each frame's largest log-density (0 where all are −inf, and in padding,
    where ``b̃ = 1``). ``log_frameprob`` ``(L, K, P)`` slots, overwritten if float64 and
    ``overwrite``. Values below ``dtype``'s smallest normal number are set to 0: arithmetic
    on subnormal numbers is ≈ 100x slower on x86 (float32 fits ran 2x slower whole), and they
    weigh less than ``tiny`` against the frame's largest term, 1."""
    log_b = (np.asarray if overwrite else np.array)(log_frameprob, np.float64)
    shift = log_b.max(axis=1)
    shift[~np.isfinite(shift)] = 0
    shift[layout.padding] = 0
    np.subtract(log_b, shift[:, np.newaxis], out=log_b)
    np.exp(log_b, out=log_b)
    log_b[layout.padding[0], :, layout.padding[1]] = 1
    if dtype != np.float64:
        np.copyto(log_b, 0, where=log_b < np.finfo(dtype).tiny)
    return log_b.astype(dtype, copy=False), log_b, shift


@single_blas_thread
def forward_backward(startprob, transmat, log_frameprob, layout, dtype=np.float64, overwrite=False):
    """E-step over all sequences: ``(log_likelihood float64, posteriors (L, K, P), start_counts
    (K,), transition_counts (K, K), ok)`` in ``dtype``, posteriors zero in padding (rows:
    :meth:`Layout.to_rows`). ``log_frameprob`` ``(L, K, P)`` slots (:meth:`Layout.from_rows`),
    used as scratch space if float64 and ``overwrite``."""
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    A = np.asarray(transmat, dtype)
    frame_prob, frame_prob64, shift = frame_probabilities(log_frameprob, layout, dtype, overwrite)
    entering, leaving, ok = _piece_messages(startprob, transmat, frame_prob64, layout, dtype)
    alpha, norms = _forward(A, frame_prob, entering)
    norms[layout.padding] = 1
    # Scale each piece's β̂ so that gₜ = Σ α̂ₜ ⊙ β̂ₜ = 1 at its last frame: the scaled recursion
    # keeps gₜ constant through the piece, so γₜ = α̂ₜ ⊙ β̂ₜ and the pair weights need no
    # per-frame normalization (two whole-array passes fewer).
    last_norms = np.einsum("kp,kp->p", alpha[-1], leaving)
    ok = ok and bool(norms.min() >= info.tiny / info.eps) and bool(np.all(last_norms >= info.tiny / info.eps))
    leaving /= last_norms
    weights, beta = _backward(A, frame_prob, norms, leaving)
    gamma = np.multiply(alpha, beta, out=beta)
    for slots in (gamma, weights):
        slots[layout.padding[0], :, layout.padding[1]] = 0
    if dtype != np.float64:  # float32 products of two small numbers underflow, ≈ 100x slower on
        alpha, weights = alpha.astype(np.float64), weights.astype(np.float64)  # x86: 5x the sum
    pairs = np.matmul(alpha[:-1], weights[1:].transpose(0, 2, 1)).sum(axis=0)
    continues = np.flatnonzero(layout.continues)
    if len(continues):  # from the last frame of a piece to the first of the next
        pairs += alpha[-1][:, continues - 1] @ weights[0][:, continues].T
    start_counts = gamma[0][:, layout.first].sum(axis=1)
    ok = ok and bool(np.isfinite(pairs).all()) and bool(np.isfinite(start_counts).all())  # β̂ overflowed?
    log_likelihood = float(np.log(norms, dtype=np.float64).sum() + shift.sum())
    return log_likelihood, gamma, start_counts, (A * pairs).astype(dtype), ok


@single_blas_thread
def sequence_log_likelihoods(startprob, transmat, log_frameprob, layout, dtype=np.float64, overwrite=False):
    """``(log-likelihood of each sequence (n_sequences,) float64, ok)``: the forward pass only."""
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    A = np.asarray(transmat, dtype)
    frame_prob, frame_prob64, shift = frame_probabilities(log_frameprob, layout, dtype, overwrite)
    entering, _, ok = _piece_messages(startprob, transmat, frame_prob64, layout, dtype, backward=False)
    _, norms = _forward(A, frame_prob, entering)
    norms[layout.padding] = 1
    ok = ok and bool(norms.min() >= info.tiny / info.eps)
    per_piece = np.log(norms, dtype=np.float64).sum(axis=0) + shift.sum(axis=0)
    return np.add.reduceat(per_piece, layout.piece_offsets), ok


def _piece_messages(startprob, transmat, frame_prob, layout, dtype, backward=True):
    """``(entering, leaving, ok)``: ``(K, P)`` in ``dtype``, the forward vector entering each
    piece's first frame (``π`` for a sequence's first piece, else ``v A`` with ``v`` the
    normalized ``α̂`` at the end of the piece before), and the backward vector ``β̂`` at its last
    frame (scale arbitrary); ``ok``: no message fell below ``tiny/eps`` before normalizing.
    Computed in float64 from ``frame_prob`` float64 (a transfer matrix's entries span a wider
    range than float32's; its subnormal numbers are slow)."""
    startprob, A = np.asarray(startprob, np.float64), np.asarray(transmat, np.float64)
    K, P = A.shape[0], layout.n_pieces
    n_pieces, n_sequences = layout.grid.shape
    if n_pieces == 1:  # one piece per sequence
        return np.repeat(startprob[:, np.newaxis].astype(dtype), P, axis=1), np.ones((K, P), dtype), True
    transfer = _transfer_matrices(A, frame_prob, layout.first)  # (K, K, P): [j, i, p] = Fₚ[i, j]
    # (J, S, K, K) in grid order, [j, s, a, b] = F[a, b] of sequence s's j-th piece (I where none)
    transfer = np.concatenate([transfer.transpose(2, 1, 0), np.eye(K, dtype=A.dtype)[np.newaxis]])[layout.grid]
    ones = np.ones(K, A.dtype)
    sums = np.ones((2, n_pieces, n_sequences))
    # messages[j]: (S, 1, K) row vectors (forward) or (S, K, 1) columns (backward), written in place
    forward = np.empty((n_pieces, n_sequences, 1, K), A.dtype)
    forward[0] = startprob
    for j in range(n_pieces - 1):
        following = forward[j + 1]
        np.matmul(forward[j], transfer[j], out=following)
        np.matmul(following, ones, out=sums[0, j + 1, :, np.newaxis])
        np.divide(following, sums[0, j + 1, :, np.newaxis, np.newaxis], out=following)
    entering = forward.reshape(-1, K)[layout._grid_position].T.copy()
    entering[:, layout.continues] = A.T @ entering[:, layout.continues]
    entering = entering.astype(dtype, copy=False)
    leaving = None
    if backward:
        messages = np.empty((n_pieces, n_sequences, K, 1), A.dtype)
        messages[-1] = 1
        for j in range(n_pieces - 1, 0, -1):
            previous = messages[j - 1]
            np.matmul(transfer[j], messages[j], out=previous)
            np.matmul(ones, previous, out=sums[1, j, :, np.newaxis])
            np.divide(previous, sums[1, j, :, np.newaxis, np.newaxis], out=previous)
        leaving = messages.reshape(-1, K)[layout._grid_position].T.astype(dtype)
    ok = bool(sums.min() >= np.finfo(dtype).tiny / np.finfo(dtype).eps)
    return entering, leaving, ok


def _transfer_matrices(A, frame_prob, first):
    """``(K, K, P)`` transposed products over each piece's frames, ``[j, i, p] = Fₚ[i, j]``,
    normalized to sum 1: ``A diag(b̃ₜ)`` per frame, ``diag(b̃ₜ)`` for a sequence's first frame.
    Transposed so that a step is one ``(K, K) @ (K, K·P)`` product and a broadcast. float64,
    normalized every :data:`TRANSFER_NORMALIZE_EVERY` frames (a step loses at most the
    frame's ``z``, far from float64's range in so few frames; an underflow shows as a zero
    message in :func:`_piece_messages`)."""
    L, K, P = frame_prob.shape
    step = np.where(first, np.eye(K)[:, :, np.newaxis], A.T[:, :, np.newaxis])
    transfer = np.multiply(step, frame_prob[0][:, np.newaxis, :])
    flat, product = transfer.reshape(K, K * P), np.empty((K, K, P))
    flat_product, rows = product.reshape(K, K * P), transfer.reshape(K * K, P)
    transposed, ones, scale = np.ascontiguousarray(A.T), np.ones(K * K), np.empty(P)
    for t in range(1, L):
        np.matmul(transposed, flat, out=flat_product)
        np.multiply(product, frame_prob[t][:, np.newaxis, :], out=transfer)
        if t % TRANSFER_NORMALIZE_EVERY == 0 or t == L - 1:
            np.matmul(ones, rows, out=scale)
            np.divide(transfer, scale, out=transfer)
    return transfer


def _forward(A, frame_prob, entering):
    """Normalized ``α̂`` ``(L, K, P)`` and normalizers ``z`` ``(L, P)`` (past a piece's end the
    values run on through padding, where ``b̃ = 1``)."""
    L, K, P = frame_prob.shape
    alpha = np.empty((L, K, P), A.dtype)
    norms = np.empty((L, P), A.dtype)
    transposed, ones = np.ascontiguousarray(A.T), np.ones(K, A.dtype)
    np.multiply(entering, frame_prob[0], out=alpha[0])
    for t in range(L):
        current = alpha[t]
        if t:
            np.matmul(transposed, alpha[t - 1], out=current)
            np.multiply(current, frame_prob[t], out=current)
        np.matmul(ones, current, out=norms[t])
        np.divide(current, norms[t], out=current)
    return alpha, norms


def _backward(A, frame_prob, norms, leaving):
    """``(b̃ ⊙ β̂ / z, β̂)`` ``(L, K, P)`` each: the Rabiner-scaled ``β̂``, ``leaving`` at each
    piece's last frame; the first is the transition weight of each frame (also kept at a
    piece's first frame, whose transition comes from the piece before)."""
    weights = np.divide(frame_prob, norms[:, np.newaxis])
    beta = np.empty(frame_prob.shape, A.dtype)
    beta[-1] = leaving
    for t in range(frame_prob.shape[0] - 1, 0, -1):
        np.multiply(weights[t], beta[t], out=weights[t])
        np.matmul(A, weights[t], out=beta[t - 1])
    np.multiply(weights[0], beta[0], out=weights[0])
    return weights, beta


def diagonal_design_rows(X):
    """``[x², x, 1]`` ``(N, 2D + 1)`` float64 of rows ``X`` ``(N, D)``: with it a diagonal
    Gaussian's log-densities and its sufficient statistics are one matrix product each."""
    X = np.asarray(X, np.float64)
    return np.concatenate([X * X, X, np.ones((len(X), 1))], axis=1)


def diagonal_design(X, layout):
    """:func:`diagonal_design_rows` in the ``(L, 2D + 1, P)`` slots of ``layout``."""
    return layout.from_rows(diagonal_design_rows(X))


@single_blas_thread
def diagonal_gaussian_log_prob(design, means, variances):
    """``log N(xₙ | μₖ, diag σ²ₖ)`` ``(..., K, P)`` float64 from :func:`diagonal_design` slots
    ``(..., 2D + 1, P)`` (``means``/``variances`` ``(K, D)``): ``[x², x, 1] @ [−½σ⁻², μσ⁻², −½(Σμ²σ⁻² + log|2πΣ|)]``
    (the expansion's rounding, ≈ eps·x²/σ², is far below the tolerances of the fits)."""
    precision = 1.0 / variances
    peak = -0.5 * (variances.shape[1] * np.log(2 * np.pi) + np.sum(np.log(variances), axis=1))
    weights = np.concatenate([-0.5 * precision, means * precision,
                              (peak - 0.5 * np.sum(means * means * precision, axis=1))[:, np.newaxis]], axis=1)
    return np.matmul(weights, design)


@single_blas_thread
def diagonal_statistics(design, posteriors, shift):
    """``(nk (K,), Σ γ (x − c) (K, D), Σ γ (x − c)² (K, D))`` float64 about ``shift`` ``c``
    ``(K, D)``, from :func:`diagonal_design` slots and posteriors ``(L, K, P)`` (zero in padding)."""
    posteriors = np.asarray(posteriors, np.float64)
    sums = np.matmul(posteriors, design.transpose(0, 2, 1)).sum(axis=0)  # (K, 2D + 1)
    D = shift.shape[1]
    sum_xx, sum_x, nk = sums[:, :D], sums[:, D:2 * D], sums[:, 2 * D]
    return (nk, sum_x - nk[:, None] * shift,
            sum_xx - 2 * shift * sum_x + nk[:, None] * shift * shift)
