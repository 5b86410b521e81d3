"""Gaussian emission densities for mixtures and HMMs: log-densities and the closed-form M-step.

Shapes follow scikit-learn's ``covariances_`` for ``K`` components in ``D`` dimensions:

====================  ===================  ==========================================
``covariance_type``   covariances          precision Cholesky factor ``P``
====================  ===================  ==========================================
``"full"``            ``(K, D, D)``        ``(K, D, D)`` upper triangular
``"tied"``            ``(D, D)``           ``(D, D)`` upper triangular
``"diag"``            ``(K, D)``           ``(K, D)`` (``1 / sqrt(variance)``)
``"spherical"``       ``(K,)``             ``(K,)``
====================  ===================  ==========================================

``P`` is scikit-learn's ``precisions_cholesky_``: the precision is ``Λ = P Pᵀ`` and the
Mahalanobis term is ``‖(x − μ) P‖²``, so a log-density needs matrix products only.

The M-step works on weighted sufficient statistics (:class:`SufficientStatistics`), so
whole-data EM, mini-batch accumulation and the HMM's state posteriors all use the same
closed forms.
"""

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


def check_covariance_type(covariance_type):
    """Raise a clear ``ValueError`` unless ``covariance_type`` is one of :data:`COVARIANCE_TYPES`."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}."
        )


def covariance_shape(covariance_type, n_components, n_features):
    """The shape of ``covariances`` (and of ``P``) for this type, as scikit-learn's ``covariances_``."""
    check_covariance_type(covariance_type)
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def n_covariance_parameters(covariance_type, n_components, n_features):
    """Free parameters in the covariances (for AIC/BIC)."""
    check_covariance_type(covariance_type)
    return {
        "full": n_components * n_features * (n_features + 1) // 2,
        "tied": n_features * (n_features + 1) // 2,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]


def precision_cholesky(covariances, covariance_type):
    """``P`` with ``P Pᵀ = covariances⁻¹`` (upper triangular for full/tied); shapes as the table above.

    Full/tied: ``Σ = L Lᵀ`` by Cholesky, then ``P = L⁻ᵀ`` by a triangular solve against the
    identity. Non-positive-definite input gives NaN entries (see :func:`check_finite_precision`).
    """
    check_covariance_type(covariance_type)
    covariances = tf.convert_to_tensor(covariances)
    if covariance_type in ("full", "tied"):
        lower = _cholesky_or_nan(covariances)
        identity = tf.eye(tf.shape(covariances)[-1], batch_shape=tf.shape(covariances)[:-2],
                          dtype=covariances.dtype)
        return tf.linalg.matrix_transpose(tf.linalg.triangular_solve(lower, identity, lower=True))
    return tf.math.rsqrt(tf.where(covariances > 0, covariances, tf.constant(math.nan, covariances.dtype)))


def _cholesky_or_nan(matrices):
    """``tf.linalg.cholesky`` giving NaN for non-positive-definite input in eager mode too.

    Eager TF raises on a failed factorization while compiled (XLA) kernels return NaN; both
    paths then end in :func:`check_finite_precision`.
    """
    if tf.executing_eagerly():
        try:
            return tf.linalg.cholesky(matrices)
        except tf.errors.InvalidArgumentError:
            return tf.fill(tf.shape(matrices), tf.constant(math.nan, matrices.dtype))
    return tf.linalg.cholesky(matrices)


def check_finite_precision(prec_chol):
    """Raise scikit-learn's ``ValueError`` for ill-defined covariances if ``prec_chol`` has NaN/inf."""
    prec_chol = tf.convert_to_tensor(prec_chol)
    if not bool(tf.reduce_all(tf.math.is_finite(prec_chol))):
        message = ILL_DEFINED_COVARIANCE
        if prec_chol.dtype == tf.float32:
            message += " The numerical accuracy can also be improved with dtype='float64'."
        raise ValueError(message)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """``P`` (upper triangular, as scikit-learn) from precision matrices ``Λ``: ``Λ = P Pᵀ``.

    Full/tied: with the exchange matrix ``J`` (reverse rows and columns), ``J Λ J = L Lᵀ`` and
    ``P = J L J`` is upper triangular. Diag/spherical: ``P = sqrt(Λ)``.
    """
    check_covariance_type(covariance_type)
    precisions = tf.convert_to_tensor(precisions)
    if covariance_type in ("full", "tied"):
        flipped = tf.reverse(precisions, axis=[-2, -1])
        return tf.reverse(_cholesky_or_nan(flipped), axis=[-2, -1])
    return tf.sqrt(precisions)


def covariances_from_precision_cholesky(prec_chol, covariance_type):
    """Covariances ``(P Pᵀ)⁻¹`` from a (triangular) precision factor; shapes as the table above."""
    check_covariance_type(covariance_type)
    prec_chol = tf.convert_to_tensor(prec_chol)
    if covariance_type in ("full", "tied"):
        precisions = tf.matmul(prec_chol, prec_chol, transpose_b=True)
        return tf.linalg.cholesky_solve(
            _cholesky_or_nan(precisions),
            tf.eye(tf.shape(prec_chol)[-1], batch_shape=tf.shape(prec_chol)[:-2], dtype=prec_chol.dtype),
        )
    return 1.0 / tf.square(prec_chol)


def precisions_from_precision_cholesky(prec_chol, covariance_type):
    """Precision matrices ``P Pᵀ`` (full/tied) or ``P²`` (diag/spherical)."""
    check_covariance_type(covariance_type)
    if covariance_type in ("full", "tied"):
        return tf.matmul(prec_chol, prec_chol, transpose_b=True)
    return tf.square(prec_chol)


def log_det_precision_cholesky(prec_chol, covariance_type, n_features):
    """``log det P`` = ``½ log det Λ``: shape ``(K,)``, or ``()`` for tied."""
    check_covariance_type(covariance_type)
    if covariance_type in ("full", "tied"):
        return tf.reduce_sum(tf.math.log(tf.linalg.diag_part(prec_chol)), axis=-1)
    if covariance_type == "diag":
        return tf.reduce_sum(tf.math.log(prec_chol), axis=-1)
    return tf.cast(n_features, prec_chol.dtype) * tf.math.log(prec_chol)


def log_prob_from_precision_cholesky(X, means, prec_chol, covariance_type):
    """Per-component Gaussian log-densities ``log N(x_n | μ_k, Σ_k)``, shape ``(N, K)`` (nats).

    ``X`` is ``(N, D)``, ``means`` ``(K, D)``, ``prec_chol`` as the module table. Whitened
    residuals ``(x − μ_k) P_k`` of all components come from one batched matrix product;
    there is no per-component Python loop.
    """
    check_covariance_type(covariance_type)
    X = tf.convert_to_tensor(X)
    means = tf.cast(means, X.dtype)
    prec_chol = tf.cast(prec_chol, X.dtype)
    n_features = tf.shape(X)[-1]
    residuals = X[tf.newaxis, :, :] - means[:, tf.newaxis, :]  # (K, N, D)
    if covariance_type == "full":
        whitened = tf.matmul(residuals, prec_chol)
    elif covariance_type == "tied":
        whitened = tf.einsum("knd,de->kne", residuals, prec_chol)
    elif covariance_type == "diag":
        whitened = residuals * prec_chol[:, tf.newaxis, :]
    else:
        whitened = residuals * prec_chol[:, tf.newaxis, tf.newaxis]
    mahalanobis = tf.reduce_sum(tf.square(whitened), axis=-1)  # (K, N)
    log_det = log_det_precision_cholesky(prec_chol, covariance_type, n_features)
    log_norm = -0.5 * tf.cast(n_features, X.dtype) * math.log(2.0 * math.pi)
    log_density = log_norm - 0.5 * mahalanobis + log_det[..., tf.newaxis]
    return tf.transpose(log_density)


def log_prob(X, means, covariances, covariance_type):
    """Per-component Gaussian log-densities, shape ``(N, K)``, from covariances (see table)."""
    X = tf.convert_to_tensor(X)
    prec_chol = precision_cholesky(tf.cast(covariances, X.dtype), covariance_type)
    return log_prob_from_precision_cholesky(X, means, prec_chol, covariance_type)


class SufficientStatistics(NamedTuple):
    """Responsibility-weighted moments about ``shift`` (``K`` components, ``D`` features).

    ``nk`` ``(K,)``: Σₙ rₙₖ; ``sum_x`` ``(K, D)``: Σₙ rₙₖ (xₙ − cₖ);
    ``sum_xx``: Σₙ rₙₖ (xₙ − cₖ)(xₙ − cₖ)ᵀ as ``(K, D, D)`` for full/tied, its diagonal
    ``(K, D)`` for diag/spherical; ``shift`` ``(K, D)``: the centres ``cₖ``.
    Taking moments about a centre near the component mean (the current means, say) avoids
    the cancellation of ``E[xxᵀ] − μμᵀ`` in float32. Statistics with the same shift add up
    across batches (:func:`add_statistics`).
    """

    nk: tf.Tensor
    sum_x: tf.Tensor
    sum_xx: tf.Tensor
    shift: tf.Tensor


def sufficient_statistics(X, resp, covariance_type, shift=None):
    """Weighted moments of ``X`` ``(N, D)`` under responsibilities ``resp`` ``(N, K)``.

    ``shift`` ``(K, D)`` defaults to zeros. Returns :class:`SufficientStatistics`.
    """
    check_covariance_type(covariance_type)
    X = tf.convert_to_tensor(X)
    resp = tf.cast(resp, X.dtype)
    n_components = tf.shape(resp)[-1]
    if shift is None:
        shift = tf.zeros([n_components, tf.shape(X)[-1]], X.dtype)
    shift = tf.cast(shift, X.dtype)
    residuals = X[tf.newaxis, :, :] - shift[:, tf.newaxis, :]  # (K, N, D)
    weights = tf.transpose(resp)[:, :, tf.newaxis]  # (K, N, 1)
    weighted = weights * residuals
    sum_x = tf.reduce_sum(weighted, axis=1)
    if covariance_type in ("full", "tied"):
        sum_xx = tf.matmul(weighted, residuals, transpose_a=True)
    else:
        sum_xx = tf.reduce_sum(weighted * residuals, axis=1)
    return SufficientStatistics(tf.reduce_sum(resp, axis=0), sum_x, sum_xx, shift)


def add_statistics(first, second):
    """Sum of two :class:`SufficientStatistics` taken about the same shift."""
    return SufficientStatistics(first.nk + second.nk, first.sum_x + second.sum_x,
                                first.sum_xx + second.sum_xx, first.shift)


def m_step(stats, covariance_type, reg_covar=1e-6):
    """Closed-form M-step: ``(weights (K,), means (K, D), covariances)`` from weighted moments.

    Maximizes the expected complete-data log-likelihood
    ``Σₖ Nₖ log πₖ + Σₙₖ rₙₖ log N(xₙ | μₖ, Σₖ)``:

    - weights: stationary point of the Lagrangian ``Σₖ Nₖ log πₖ + λ (1 − Σₖ πₖ)`` for the
      sum-to-one constraint: ``πₖ = Nₖ / λ`` and ``λ = Σₖ Nₖ``, so ``πₖ = Nₖ / Σⱼ Nⱼ``;
    - means (unconstrained): ``μₖ = Σₙ rₙₖ xₙ / Nₖ = cₖ + sum_x / Nₖ``;
    - covariances (unconstrained): ``Σₖ = Σₙ rₙₖ (xₙ − μₖ)(xₙ − μₖ)ᵀ / Nₖ``
      = ``sum_xx / Nₖ − dₖ dₖᵀ`` with ``dₖ = μₖ − cₖ``; tied pools all components over
      ``Σₖ Nₖ``; diag keeps the diagonal; spherical averages it over features;
      then ``reg_covar`` is added to every variance (as scikit-learn).

    ``Nₖ`` gets ``10·eps`` added (as scikit-learn) so empty components stay finite.
    """
    check_covariance_type(covariance_type)
    dtype = stats.sum_x.dtype
    nk = tf.cast(stats.nk, dtype) + 10.0 * float(np.finfo(dtype.as_numpy_dtype).eps)
    offset = stats.sum_x / nk[:, tf.newaxis]  # (K, D): μₖ − cₖ
    means = tf.cast(stats.shift, dtype) + offset
    n_features = tf.shape(stats.sum_x)[-1]
    if covariance_type == "full":
        scatter = stats.sum_xx / nk[:, tf.newaxis, tf.newaxis]
        covariances = scatter - offset[:, :, tf.newaxis] * offset[:, tf.newaxis, :]
        covariances += reg_covar * tf.eye(n_features, dtype=dtype)
    elif covariance_type == "tied":
        centred = stats.sum_xx - nk[:, tf.newaxis, tf.newaxis] * (
            offset[:, :, tf.newaxis] * offset[:, tf.newaxis, :])
        covariances = tf.reduce_sum(centred, axis=0) / tf.reduce_sum(nk)
        covariances += reg_covar * tf.eye(n_features, dtype=dtype)
    else:
        variances = stats.sum_xx / nk[:, tf.newaxis] - tf.square(offset) + reg_covar
        covariances = variances if covariance_type == "diag" else tf.reduce_mean(variances, axis=-1)
    return nk / tf.reduce_sum(nk), means, covariances


# Exponential-family form: log N(x | μ, Σ) = φ(x)·θ₂ + x·θ₁ + b, with φ(x) the products xᵢxⱼ.
# One feature matrix φ(X) serves every component, so the E-step is two dense products
# (N, T) @ (T, K) and (N, D) @ (D, K), and the M-step's moments are Rᵀ φ(X) and Rᵀ X.
# Expanding the square costs digits when |x| ≫ the component's spread: centre X first
# (near the data mean) and accumulate in float64 when computing in float32.


def second_moment_pairs(n_features, covariance_type):
    """Index pairs ``(rows, cols)`` of the products ``xᵢxⱼ`` the type needs: the upper
    triangle ``i ≤ j`` (``T = D(D+1)/2``) for full/tied, the diagonal (``T = D``) otherwise."""
    check_covariance_type(covariance_type)
    if covariance_type in ("full", "tied"):
        return np.triu_indices(n_features)
    return np.arange(n_features), np.arange(n_features)


def moment_features(X, covariance_type):
    """``φ(X)``: products ``xᵢxⱼ`` for :func:`second_moment_pairs`, shape ``(N, T)``."""
    X = tf.convert_to_tensor(X)
    if covariance_type in ("diag", "spherical"):
        return tf.square(X)
    # Row by row of the upper triangle (the order of ``np.triu_indices``): D slices and
    # products, several times faster than gathering the T index pairs.
    return tf.concat([X[..., i: i + 1] * X[..., i:] for i in range(X.shape[-1])], axis=-1)


def natural_parameters(means, prec_chol, covariance_type):
    """``(quadratic (T, K), linear (D, K), bias (K,))`` with
    ``log N(x | μₖ, Σₖ) = φ(x) @ quadratic[:, k] + x @ linear[:, k] + bias[k]``.

    ``quadratic`` holds ``−½ Λₖ[i, j]`` (doubled off the diagonal, since φ keeps ``i ≤ j``
    once), ``linear`` is ``Λₖ μₖ``, ``bias`` is ``log det P − ½ μₖᵀ Λₖ μₖ − ½ D log 2π``.
    """
    check_covariance_type(covariance_type)
    means = tf.convert_to_tensor(means)
    prec_chol = tf.cast(prec_chol, means.dtype)
    n_components, n_features = means.shape
    if covariance_type in ("full", "tied"):
        precisions = tf.broadcast_to(precisions_from_precision_cholesky(prec_chol, covariance_type),
                                     [n_components, n_features, n_features])
        rows, cols = second_moment_pairs(n_features, covariance_type)
        multiplicity = np.where(rows == cols, 1.0, 2.0)
        quadratic = tf.gather(tf.reshape(precisions, [n_components, -1]), rows * n_features + cols, axis=1)
        quadratic = -0.5 * tf.transpose(quadratic) * multiplicity[:, np.newaxis]
        linear = tf.einsum("kde,ke->kd", precisions, means)
    else:
        precisions = tf.square(prec_chol)
        if covariance_type == "spherical":
            precisions = tf.broadcast_to(precisions[:, tf.newaxis], [n_components, n_features])
        quadratic = -0.5 * tf.transpose(precisions)
        linear = precisions * means
    log_det = tf.broadcast_to(log_det_precision_cholesky(prec_chol, covariance_type, n_features),
                              [n_components])
    bias = log_det - 0.5 * tf.reduce_sum(linear * means, axis=-1) - 0.5 * n_features * math.log(2.0 * math.pi)
    return quadratic, tf.transpose(linear), bias


def statistics_from_moments(nk, sum_x, sum_features, covariance_type):
    """:class:`SufficientStatistics` about zero from ``Rᵀ1`` ``(K,)``, ``Rᵀ X`` ``(K, D)`` and
    ``Rᵀ φ(X)`` ``(K, T)``: unpacks the triangle into symmetric ``(K, D, D)`` for full/tied."""
    check_covariance_type(covariance_type)
    sum_x = tf.convert_to_tensor(sum_x)
    n_components, n_features = sum_x.shape
    sum_xx = tf.convert_to_tensor(sum_features)
    if covariance_type in ("full", "tied"):
        rows, cols = second_moment_pairs(n_features, covariance_type)
        upper = tf.scatter_nd(np.stack([rows, cols], axis=1), tf.transpose(sum_xx),
                              [n_features, n_features, n_components])
        upper = tf.transpose(upper, [2, 0, 1])
        sum_xx = upper + tf.linalg.matrix_transpose(upper) - tf.linalg.diag(tf.linalg.diag_part(upper))
    return SufficientStatistics(tf.cast(nk, sum_x.dtype), sum_x, sum_xx, tf.zeros_like(sum_x))
