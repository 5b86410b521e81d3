"""Discrete optimal transport: the Kantorovich primal and dual as exact LPs, and log-domain Sinkhorn.

For histograms ``a [m]``, ``b [n]`` of equal mass and a cost ``C [m, n]``::

    primal  min_P ⟨P, C⟩        s.t.  P 1 = a,  Pᵀ 1 = b,  P ≥ 0
    dual    max_{φ,ψ} ⟨φ, a⟩ + ⟨ψ, b⟩   s.t.  φ_i + ψ_j ≤ C_ij

Both are solved as their own linear programs with HiGHS (``scipy.optimize.linprog``), so
strong duality (equal optimal values) is a check, not a construction.

Sinkhorn solves the entropic problem ``min_P ⟨P, C⟩ + ε KL(P ‖ a bᵀ)`` over the same couplings
(generalized KL: ``Σ P log(P / ab) − Σ P + Σ ab``). Its regularized value is at least the LP
value and at most ``LP + ε min(H(a), H(b))``, so both it and ``⟨P_ε, C⟩`` tend to the LP value
as ``ε → 0``. The iterations run on the log-potentials ``f, g`` with ``P_ij = a_i b_j
exp((f_i + g_j − C_ij) / ε)`` and log-sum-exp updates, so small ``ε`` does not underflow.

Invalid input raises ``ValueError`` (in a ``tf.function``, tensor values are checked by
assert ops that raise ``tf.errors.InvalidArgumentError``).
"""

import math
import numbers
from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse
import tensorflow as tf

from tfspeech.probabilistic.checks import require

#: Relative tolerance for "the two marginals have the same total mass".
MASS_RTOL = 1e-6


class KantorovichPrimal(NamedTuple):
    """Optimal plan ``plan [m, n]`` (rows sum to ``a``, columns to ``b``) and ``value = ⟨plan, C⟩``."""

    plan: np.ndarray
    value: float


class KantorovichDual(NamedTuple):
    """Optimal potentials ``phi [m]``, ``psi [n]`` (``φ_i + ψ_j ≤ C_ij``), ``value = ⟨φ, a⟩ + ⟨ψ, b⟩``.

    Potentials are unique only up to ``φ + t, ψ − t``; the LP solver picks one.
    """

    phi: np.ndarray
    psi: np.ndarray
    value: float


class SinkhornResult(NamedTuple):
    """Sinkhorn output for a batch ``[...]`` of problems of size ``m × n``.

    ``plan [..., m, n]``: the entropic plan (columns match ``b`` exactly, rows match ``a`` up to
    ``marginal_error``); ``transport_cost [...]``: ``⟨plan, C⟩``; ``regularized_value [...]``:
    ``⟨plan, C⟩ + ε KL(plan ‖ a bᵀ)``; ``f [..., m]``, ``g [..., n]``: dual log-potentials;
    ``iterations``: scalar count; ``marginal_error [...]``: ``‖plan 1 − a‖₁``;
    ``converged [...]``: ``marginal_error <= tolerance``.
    """

    plan: tf.Tensor
    transport_cost: tf.Tensor
    regularized_value: tf.Tensor
    f: tf.Tensor
    g: tf.Tensor
    iterations: tf.Tensor
    marginal_error: tf.Tensor
    converged: tf.Tensor


def solve_kantorovich_primal(a, b, cost):
    """Exact optimal transport plan by the primal LP (HiGHS); ``a [m]``, ``b [n]``, ``cost [m, n]``."""
    a, b, cost = _checked_problem(a, b, cost)
    m, n = cost.shape
    # Variable P.ravel() (row-major): row i's entries are i*n .. i*n+n-1.
    row_sums = scipy.sparse.kron(scipy.sparse.eye(m), np.ones((1, n)))
    column_sums = scipy.sparse.kron(np.ones((1, m)), scipy.sparse.eye(n))
    result = scipy.optimize.linprog(
        cost.ravel(),
        A_eq=scipy.sparse.vstack([row_sums, column_sums]).tocsr(),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    _check_solved(result, "primal")
    plan = result.x.reshape(m, n)
    return KantorovichPrimal(plan=plan, value=float(np.sum(plan * cost)))


def solve_kantorovich_dual(a, b, cost):
    """Exact optimal potentials by the dual LP (HiGHS); ``a [m]``, ``b [n]``, ``cost [m, n]``."""
    a, b, cost = _checked_problem(a, b, cost)
    m, n = cost.shape
    # Variables (φ, ψ); constraint row i*n + j reads φ_i + ψ_j ≤ C_ij.
    constraints = scipy.sparse.hstack([
        scipy.sparse.kron(scipy.sparse.eye(m), np.ones((n, 1))),
        scipy.sparse.kron(np.ones((m, 1)), scipy.sparse.eye(n)),
    ]).tocsr()
    result = scipy.optimize.linprog(
        -np.concatenate([a, b]),
        A_ub=constraints,
        b_ub=cost.ravel(),
        bounds=(None, None),
        method="highs",
    )
    _check_solved(result, "dual")
    phi, psi = result.x[:m], result.x[m:]
    return KantorovichDual(phi=phi, psi=psi, value=float(a @ phi + b @ psi))


def sinkhorn(a, b, cost, epsilon, tolerance=1e-9, max_iterations=10_000):
    """Entropic optimal transport by log-domain Sinkhorn iterations, batched.

    Args:
      a: ``[..., m]`` source histogram(s), ≥ 0 (zeros allowed).
      b: ``[..., n]`` target histogram(s), ≥ 0, with the same total mass as ``a``.
      cost: ``[..., m, n]`` cost matrix (matrices), ≥ 0, finite. Batch axes broadcast.
      epsilon: regularization strength ``ε > 0``, in the units of ``cost``.
      tolerance: stop once ``‖plan 1 − a‖₁ ≤ tolerance`` for every problem of the batch.
      max_iterations: upper bound on the number of (f, g) update pairs.

    Returns:
      :class:`SinkhornResult`; check ``converged`` (the loop stops at ``max_iterations``
      without raising). The dtype follows ``cost`` (use float64 for small ``ε``).
    """
    if not _is_positive_number(epsilon):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}.")
    if not _is_positive_number(tolerance):
        raise ValueError(f"tolerance must be a finite number > 0, got {tolerance!r}.")
    if not (isinstance(max_iterations, numbers.Integral) and max_iterations >= 1):
        raise ValueError(f"max_iterations must be an integer >= 1, got {max_iterations!r}.")
    cost = tf.convert_to_tensor(cost)
    if not cost.dtype.is_floating:
        cost = tf.cast(cost, tf.float32)
    a = tf.convert_to_tensor(a, dtype=cost.dtype)
    b = tf.convert_to_tensor(b, dtype=cost.dtype)
    _check_tensor_problem(a, b, cost)
    batch_shape = tf.broadcast_dynamic_shape(
        tf.broadcast_dynamic_shape(tf.shape(a)[:-1], tf.shape(b)[:-1]), tf.shape(cost)[:-2])
    a = tf.broadcast_to(a, tf.concat([batch_shape, tf.shape(a)[-1:]], 0))
    b = tf.broadcast_to(b, tf.concat([batch_shape, tf.shape(b)[-1:]], 0))
    cost = tf.broadcast_to(cost, tf.concat([batch_shape, tf.shape(cost)[-2:]], 0))
    return _sinkhorn_loop(a, b, cost, tf.constant(epsilon, cost.dtype), tf.constant(tolerance, cost.dtype),
                          tf.constant(int(max_iterations)))


@tf.function
def _sinkhorn_loop(a, b, cost, epsilon, tolerance, max_iterations):
    log_a, log_b = tf.math.log(a), tf.math.log(b)

    def update_f(g):  # f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε): rows of the plan sum to a.
        return -epsilon * tf.reduce_logsumexp(log_b[..., None, :] + (g[..., None, :] - cost) / epsilon, -1)

    def update_g(f):  # g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε): columns of the plan sum to b.
        return -epsilon * tf.reduce_logsumexp(log_a[..., :, None] + (f[..., :, None] - cost) / epsilon, -2)

    def body(f, f_used, g_used, error, iteration):
        # g = G(f) makes the columns exact; the rows of (f, g) then sum to a·exp((f − F(g))/ε),
        # and F(g) is the next f anyway, so measuring the error costs nothing extra.
        g = update_g(f)
        f_next = update_f(g)
        row_sums = tf.math.multiply_no_nan(tf.exp((f - f_next) / epsilon), a)
        return f_next, f, g, tf.reduce_sum(tf.abs(row_sums - a), -1), iteration + 1

    def not_done(f, f_used, g_used, error, iteration):
        return (iteration < max_iterations) & (tf.reduce_max(error) > tolerance)

    f0 = tf.zeros_like(a)
    g0 = tf.zeros_like(b)
    error0 = tf.fill(tf.shape(a)[:-1], tf.constant(np.inf, a.dtype))
    _, f, g, error, iterations = tf.while_loop(not_done, body, (f0, f0, g0, error0, tf.constant(0)))

    log_ratio = (f[..., :, None] + g[..., None, :] - cost) / epsilon  # log(P / a bᵀ), finite
    plan = tf.exp(log_a[..., :, None] + log_b[..., None, :] + log_ratio)
    transport_cost = tf.reduce_sum(plan * cost, [-2, -1])
    kl = (tf.reduce_sum(plan * log_ratio, [-2, -1]) - tf.reduce_sum(plan, [-2, -1])
          + tf.reduce_sum(a, -1) * tf.reduce_sum(b, -1))
    return SinkhornResult(plan, transport_cost, transport_cost + epsilon * kl, f, g, iterations, error,
                          error <= tolerance)


def _checked_problem(a, b, cost):
    """float64 numpy copies of a valid single problem, else ``ValueError`` naming the fault."""
    a, b, cost = (np.asarray(x, dtype=np.float64) for x in (a, b, cost))
    if a.ndim != 1 or b.ndim != 1 or cost.ndim != 2:
        raise ValueError(f"expected a [m], b [n], cost [m, n]; got shapes {a.shape}, {b.shape}, {cost.shape}.")
    if cost.shape != (a.size, b.size):
        raise ValueError(f"cost has shape {cost.shape} but a and b have sizes {a.size} and {b.size}; "
                         "cost[i, j] is the price of moving mass from a[i] to b[j].")
    if a.size == 0 or b.size == 0:
        raise ValueError("a and b must be non-empty.")
    for name, x in (("a", a), ("b", b), ("cost", cost)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} has NaN or inf entries.")
        if np.any(x < 0):
            raise ValueError(f"{name} has negative entries; histograms and costs must be >= 0 "
                             "(shift the cost by its minimum: that changes every plan's cost equally).")
    mass_a, mass_b = a.sum(), b.sum()
    if mass_a <= 0 or not np.isclose(mass_a, mass_b, rtol=MASS_RTOL, atol=0):
        raise ValueError(f"a and b must have the same positive total mass; got {mass_a} and {mass_b} "
                         "(normalize both to sum to 1).")
    return a, b, cost


def _check_tensor_problem(a, b, cost):
    if a.shape.rank is not None and a.shape.rank < 1 or b.shape.rank is not None and b.shape.rank < 1:
        raise ValueError(f"a and b need a last axis (the histogram); got shapes {a.shape} and {b.shape}.")
    if cost.shape.rank is not None and cost.shape.rank < 2:
        raise ValueError(f"cost needs two last axes [m, n]; got shape {cost.shape}.")
    m, n = cost.shape[-2], cost.shape[-1]
    if (None not in (a.shape[-1], m) and a.shape[-1] != m) or (None not in (b.shape[-1], n) and b.shape[-1] != n):
        raise ValueError(f"cost has shape [..., {m}, {n}] but a has shape {a.shape} and b {b.shape}; "
                         "cost[..., i, j] is the price of moving mass from a[..., i] to b[..., j].")
    for name, x in (("a", a), ("b", b), ("cost", cost)):
        require(tf.math.is_finite(x), f"{name} has NaN or inf entries.")
        require(x >= 0, f"{name} has negative entries; histograms and costs must be >= 0.")
    mass_a, mass_b = tf.reduce_sum(a, -1), tf.reduce_sum(b, -1)
    require((mass_a > 0) & (tf.abs(mass_a - mass_b) <= MASS_RTOL * tf.maximum(mass_a, mass_b)),
             "a and b must have the same positive total mass in every problem (normalize both to sum to 1).")


def _is_positive_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _check_solved(result, which):
    if result.status != 0:
        raise RuntimeError(f"the Kantorovich {which} LP was not solved by HiGHS: {result.message}")
