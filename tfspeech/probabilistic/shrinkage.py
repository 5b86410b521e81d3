"""Normal-normal shrinkage: the posterior of a mean with known noise variance, batched in TF.

Model: ``x_1..x_n | θ ~ N(θ, σ²)`` independent, with ``σ`` known, and prior ``θ ~ N(μ₀, τ₀²)``.
Precisions add and means are precision-weighted::

    1 / τ_n²  = 1 / τ₀² + n / σ²
    μ_n       = τ_n² (μ₀ / τ₀² + n x̄ / σ²)
              = B_n μ₀ + (1 − B_n) x̄,      B_n = σ² / (σ² + n τ₀²)   (the shrinkage factor)

``B_n`` is the weight left on the prior mean: 1 at ``n = 0``, falling like ``σ² / (n τ₀²)``,
so the posterior mean moves from ``μ₀`` to the sample mean ``x̄`` as ``n`` grows, and
``τ_n² = B_n τ₀² = (1 − B_n) σ² / n``.

All functions broadcast their arguments (any batch shape) and keep the dtype of the data
(float32 for Python numbers). Invalid values raise ``ValueError`` in eager mode and
``tf.errors.InvalidArgumentError`` inside a ``tf.function``.
"""

import pathlib
import statistics
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfspeech.probabilistic.checks import require


class NormalPosterior(NamedTuple):
    """Posterior ``N(mean, variance)`` of the unknown mean, and the shrinkage factor ``B_n``."""

    mean: tf.Tensor
    variance: tf.Tensor
    shrinkage: tf.Tensor


def shrinkage_factor(num_observations, prior_scale, noise_scale):
    """``B_n = σ² / (σ² + n τ₀²)``: the posterior mean's weight on the prior mean (broadcast)."""
    prior_scale, noise_scale = _checked_scales(prior_scale, noise_scale, _as_float(prior_scale).dtype)
    n = _checked_count(num_observations, prior_scale.dtype)
    return _shrinkage(n, prior_scale, noise_scale)


def posterior_from_summary(num_observations, sample_mean, prior_mean, prior_scale, noise_scale):
    """Posterior after ``n`` observations with mean ``x̄`` (both broadcast; ``n = 0`` gives the prior).

    ``μ_n = B_n μ₀ + (1 − B_n) x̄``, ``τ_n² = B_n τ₀²`` with ``B_n = σ² / (σ² + n τ₀²)``.
    """
    sample_mean = _as_float(sample_mean)
    dtype = sample_mean.dtype
    prior_mean = tf.convert_to_tensor(prior_mean, dtype)
    prior_scale, noise_scale = _checked_scales(prior_scale, noise_scale, dtype)
    n = _checked_count(num_observations, dtype)
    require(tf.math.is_finite(sample_mean), "sample_mean has NaN or inf entries; clean the data first.")
    require(tf.math.is_finite(prior_mean), "prior_mean must be finite.")
    shrinkage = _shrinkage(n, prior_scale, noise_scale)
    mean = shrinkage * prior_mean + (1.0 - shrinkage) * sample_mean
    variance = shrinkage * tf.square(prior_scale)
    shape = tf.broadcast_dynamic_shape(tf.shape(mean), tf.shape(variance))
    return NormalPosterior(*(tf.broadcast_to(t, shape) for t in (mean, variance, shrinkage)))


def posterior_one_observation(observation, prior_mean, prior_scale, noise_scale):
    """Posterior after one observation ``x`` (any batch shape).

    ``μ₁ = (σ² μ₀ + τ₀² x) / (σ² + τ₀²)``, ``τ₁² = σ² τ₀² / (σ² + τ₀²)``, ``B₁ = σ² / (σ² + τ₀²)``.
    """
    return posterior_from_summary(1, observation, prior_mean, prior_scale, noise_scale)


def posterior_from_observations(observations, prior_mean, prior_scale, noise_scale, axis=-1):
    """Posterior after all observations along ``axis`` (its length is ``n``; the other axes are a batch)."""
    observations = _as_float(observations)
    require(tf.math.is_finite(observations), "observations have NaN or inf entries; clean the data first.")
    if observations.shape.rank == 0:
        raise ValueError("observations must have at least one axis (the observations); got a scalar.")
    n = tf.shape(observations)[axis]
    return posterior_from_summary(n, tf.reduce_mean(observations, axis=axis), prior_mean, prior_scale,
                                  noise_scale)


def posterior_path(observations, prior_mean, prior_scale, noise_scale):
    """Posteriors after the first ``n = 0, 1, ..., N`` observations of ``observations [..., N]``.

    Returns a :class:`NormalPosterior` with fields of shape ``[..., N + 1]`` (entry 0 is the prior).
    """
    observations = _as_float(observations)
    if observations.shape.rank == 0:
        raise ValueError("observations must have at least one axis (the observations); got a scalar.")
    require(tf.math.is_finite(observations), "observations have NaN or inf entries; clean the data first.")
    running_sum = tf.cumsum(observations, axis=-1)
    zero = tf.zeros_like(running_sum[..., :1])
    running_sum = tf.concat([zero, running_sum], axis=-1)
    n = tf.cast(tf.range(tf.shape(running_sum)[-1]), observations.dtype)
    running_mean = tf.math.divide_no_nan(running_sum, n)
    return posterior_from_summary(n, running_mean, prior_mean, prior_scale, noise_scale)


def plot_shrinkage(observations, prior_mean, prior_scale, noise_scale, path, credible_mass=0.95):
    """Plot the posterior mean against ``n`` for the first ``n`` of ``observations [N]``; save to ``path``.

    Draws the posterior mean (label ``"posterior mean"``, ``n = 0..N``) with its central
    ``credible_mass`` band, the running sample mean (``"sample mean"``, ``n = 1..N``) and the
    prior mean. The file format follows the suffix of ``path`` (PNG, PDF, SVG); missing parent
    folders are created. Uses the Agg canvas, so no display is needed. Returns the ``Figure``.
    """
    if not 0.0 < credible_mass < 1.0:
        raise ValueError(f"credible_mass must lie strictly between 0 and 1, got {credible_mass}.")
    observations = _as_float(observations)
    if observations.shape.rank != 1 or observations.shape[0] == 0:
        raise ValueError(f"plot_shrinkage takes one non-empty series of observations [N]; got shape "
                         f"{observations.shape}.")
    path_posterior = posterior_path(observations, prior_mean, prior_scale, noise_scale)
    mean = path_posterior.mean.numpy()
    half_width = statistics.NormalDist().inv_cdf(0.5 + credible_mass / 2) * np.sqrt(
        path_posterior.variance.numpy())
    n = np.arange(mean.shape[0])
    running_mean = np.cumsum(observations.numpy()) / n[1:]
    prior_mean_value = float(np.asarray(prior_mean))

    figure = Figure(figsize=(7.0, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.fill_between(n, mean - half_width, mean + half_width, alpha=0.25,
                      label=f"{credible_mass:.0%} credible band")
    axes.plot(n, mean, color="C0", label="posterior mean")
    axes.plot(n[1:], running_mean, color="C1", linestyle="--", label="sample mean")
    axes.axhline(prior_mean_value, color="0.4", linestyle=":", label="prior mean")
    axes.set_xscale("symlog", linthresh=1.0)
    axes.set_xlim(0, n[-1])
    axes.set_xlabel("number of observations n")
    axes.set_ylabel("mean")
    axes.set_title(r"$\mu_n = B_n\,\mu_0 + (1 - B_n)\,\bar{x}_n$,  $B_n = \sigma^2 / (\sigma^2 + n\,\tau_0^2)$")
    axes.legend(loc="best")
    figure.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return figure


def _shrinkage(n, prior_scale, noise_scale):
    noise_variance = tf.square(noise_scale)
    return noise_variance / (noise_variance + n * tf.square(prior_scale))


def _as_float(values):
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        values = tf.cast(values, tf.float32)
    return values


def _checked_scales(prior_scale, noise_scale, dtype):
    prior_scale = tf.convert_to_tensor(prior_scale, dtype=dtype)
    noise_scale = tf.convert_to_tensor(noise_scale, dtype=dtype)
    require(tf.math.is_finite(noise_scale) & (noise_scale > 0),
             "noise_scale σ (the known noise standard deviation) must be finite and > 0.")
    require(tf.math.is_finite(prior_scale) & (prior_scale > 0),
             "prior_scale τ₀ (the prior standard deviation) must be finite and > 0.")
    return prior_scale, noise_scale


def _checked_count(num_observations, dtype):
    n = tf.cast(num_observations, dtype)
    require((n >= 0) & tf.math.is_finite(n), "num_observations must be a finite count >= 0.")
    return n
