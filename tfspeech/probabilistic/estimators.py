"""Monte Carlo estimators of ``∇_θ E_{q(x; θ)}[f(x)]``, with per-sample gradients for their variance.

Every estimator draws ``S`` samples and returns a :class:`GradientEstimate`: the estimate
(the average over samples) and the ``S`` per-sample gradients it averages. The parameters are
tiled along a new leading sample axis before the distribution is built, so sample ``s`` has
its own copy of ``θ`` and one backward pass gives every per-sample gradient.

* :func:`score_function_gradient` (REINFORCE): ``f(x) ∇_θ log q(x; θ)``; needs only
  ``log_prob``, and ``f`` need not be differentiable.
* :func:`reparameterization_gradient`: ``∇_θ f(x(θ, ε))`` through tfp's reparameterized
  sampler. For Normal that is ``x = μ + σ ε``; for Gamma, Beta, Dirichlet tfp differentiates
  the sample implicitly (Figurnov et al. 2018), the exact reference for the estimator below.
* :func:`gamma_generalized_reparameterization_gradient` (Ruiz, Titsias, Blei 2016):
  standardize ``log x`` of ``x ~ Gamma(α, β)`` by its exact mean and standard deviation,
  ``ε = (log(β x) − ψ(α)) / √ψ₁(α)``, whose density ``π(ε; α)`` depends only weakly on ``α``.
  With ``x = T(ε; α, β) = exp(√ψ₁(α) ε + ψ(α)) / β``::

      ∇ E_q[f(x)] = E_π[∇_θ f(T(ε; θ))]  +  E_π[f(T(ε; θ)) ∇_θ log π(ε; θ)]
                    (g_rep, ε held fixed)    (g_corr, a score term in ε-space)
      log π(ε; α) = α w − e^w − log Γ(α) + ½ log ψ₁(α),   w = √ψ₁(α) ε + ψ(α).

Control variates (``control_variate=``) act on the score terms ``h`` (the score of the
sampling density, ``E[h] = 0``), so the estimate stays unbiased:

* ``"baseline"``: subtract ``b h`` with ``b`` the mean of ``f`` over the *other* samples;
* ``"optimal"``: subtract ``c h`` with the per-parameter-entry coefficient that minimizes the
  variance of ``u − c h`` (``u`` the per-sample gradient): ``c* = E[u h] / E[h²]`` (for the
  score function ``E[f h²] / E[h²]``), estimated leave-one-out so that ``c`` is independent
  of the sample it multiplies.

Invalid input raises ``ValueError`` (inside a ``tf.function``, checks on tensor values become
assert ops that raise ``tf.errors.InvalidArgumentError``).
"""

import numbers
from typing import Callable, NamedTuple, Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from tfspeech.probabilistic.checks import require

tfd = tfp.distributions

CONTROL_VARIATES = ("none", "baseline", "optimal")


class GradientEstimate(NamedTuple):
    """``mean``: the gradient estimate per parameter (the parameter's shape); ``per_sample``:
    the ``[num_samples, *parameter.shape]`` per-sample gradients whose average is ``mean``."""

    mean: tuple
    per_sample: tuple

    def sample_variance(self):
        """Per parameter, the variance (ddof=1) of the per-sample gradients; the estimate's variance
        is about this divided by ``num_samples``."""
        return tuple(tf.math.reduce_variance(g, axis=0) * _bessel(g) for g in self.per_sample)


def score_function_gradient(make_distribution: Callable[..., tfd.Distribution], parameters: Sequence,
                            objective: Callable, num_samples: int, seed, control_variate: str = "none"):
    """REINFORCE: average of ``f(x_s) ∇_θ log q(x_s; θ)`` over ``x_s ~ q(·; θ)``.

    Args:
      make_distribution: builds the distribution from the parameters (positional), each with a
        leading sample axis ``[num_samples, *parameter.shape]`` that must act as a batch axis.
      parameters: the tensors (or variables) ``θ`` to differentiate with respect to.
      objective: maps samples ``[num_samples, ...]`` to values ``[num_samples]``; value ``s``
        must depend on sample ``s`` only.
      num_samples: samples ``S`` in the estimate (≥ 2 with a control variate).
      seed: an ``int`` or a shape ``[2]`` integer tensor (stateless sampling: same seed, same draw).
      control_variate: one of :data:`CONTROL_VARIATES`.
    """
    parameters, seed = _checked_arguments(parameters, num_samples, seed, control_variate)
    tiled = _tile(parameters, num_samples)
    with tf.GradientTape() as tape:
        tape.watch(tiled)
        distribution = make_distribution(*tiled)
        samples = tf.stop_gradient(distribution.sample(seed=seed))
        log_prob = _per_sample_sum(distribution.log_prob(samples), num_samples)
    scores = _required_gradients(tape.gradient(log_prob, tiled), "log_prob")
    values = _objective_values(objective, samples, num_samples)
    per_sample = [_apply_control_variate(_times(values, score), score, values, control_variate)
                  for score in scores]
    return _estimate(per_sample)


def reparameterization_gradient(make_distribution: Callable[..., tfd.Distribution], parameters: Sequence,
                                objective: Callable, num_samples: int, seed):
    """Pathwise: average of ``∇_θ f(x_s(θ))`` through tfp's reparameterized sampler.

    Arguments as :func:`score_function_gradient` (no control variate); ``objective`` must be
    differentiable and the distribution ``FULLY_REPARAMETERIZED`` (Normal, Gamma, Beta, ...).
    """
    parameters, seed = _checked_arguments(parameters, num_samples, seed, "none")
    tiled = _tile(parameters, num_samples)
    with tf.GradientTape() as tape:
        tape.watch(tiled)
        distribution = make_distribution(*tiled)
        if distribution.reparameterization_type != tfd.FULLY_REPARAMETERIZED:
            raise ValueError(f"{type(distribution).__name__} samples are not reparameterized in tfp; "
                             "use score_function_gradient for this distribution.")
        values = _objective_values(objective, distribution.sample(seed=seed), num_samples)
    return _estimate(_required_gradients(tape.gradient(values, tiled), "the samples through objective"))


def gamma_generalized_reparameterization_gradient(concentration, rate, objective: Callable, num_samples: int,
                                                  seed, control_variate: str = "none"):
    """G-REP for ``x ~ Gamma(concentration α, rate β)``: per sample ``g_rep + g_corr`` (module docstring).

    ``concentration`` and ``rate`` have the same shape (the batch); gradients come back in the
    order ``(α, β)``. ``β`` is a scale, so ``π`` does not depend on it and its gradient is pure
    ``g_rep`` (the control variate acts on ``α``'s correction term only). Other arguments as
    :func:`score_function_gradient`; ``objective`` must be differentiable.
    """
    parameters, seed = _checked_arguments((concentration, rate), num_samples, seed, control_variate)
    concentration, rate = parameters
    if concentration.shape != rate.shape:
        raise ValueError(f"concentration and rate must have the same shape, got {concentration.shape} "
                         f"and {rate.shape}; broadcast them first.")
    require((concentration > 0) & (rate > 0), "concentration and rate must be > 0.")
    alpha, beta = _tile(parameters, num_samples)
    standard_gamma = tfd.Gamma(alpha, tf.ones_like(alpha)).sample(seed=seed)
    noise = (tf.math.log(standard_gamma) - tf.math.digamma(alpha)) / tf.sqrt(_trigamma(alpha))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([alpha, beta])
        log_standard = tf.sqrt(_trigamma(alpha)) * noise + tf.math.digamma(alpha)  # w = log(β x)
        values = _objective_values(objective, tf.exp(log_standard) / beta, num_samples)
        log_density = (alpha * log_standard - tf.exp(log_standard) - tf.math.lgamma(alpha)
                       + 0.5 * tf.math.log(_trigamma(alpha)))  # log π(ε; α)
        log_density = _per_sample_sum(log_density, num_samples)
    pathwise = _required_gradients(tape.gradient(values, [alpha, beta]), "the samples through objective")
    score_alpha = tape.gradient(log_density, alpha)
    del tape
    alpha_gradient = _apply_control_variate(pathwise[0] + _times(values, score_alpha), score_alpha, values,
                                            control_variate)
    return _estimate([alpha_gradient, pathwise[1]])


def _trigamma(x):
    return tf.math.polygamma(tf.ones_like(x), x)


def _checked_arguments(parameters, num_samples, seed, control_variate):
    if control_variate not in CONTROL_VARIATES:
        raise ValueError(f"control_variate must be one of {CONTROL_VARIATES}, got {control_variate!r}.")
    minimum = 1 if control_variate == "none" else 2
    if not (isinstance(num_samples, numbers.Integral) and num_samples >= minimum):
        raise ValueError(f"num_samples must be an integer >= {minimum} (a leave-one-out control variate "
                         f"needs two), got {num_samples!r}.")
    if isinstance(parameters, (tf.Tensor, tf.Variable)) or not parameters:
        raise ValueError("parameters must be a non-empty sequence of tensors, e.g. (loc, scale).")
    parameters = [tf.convert_to_tensor(p) for p in parameters]
    for index, parameter in enumerate(parameters):
        if not parameter.dtype.is_floating:
            raise ValueError(f"parameter {index} has dtype {parameter.dtype.name}; gradients need float tensors.")
        require(tf.math.is_finite(parameter), f"parameter {index} has NaN or inf entries.")
    return parameters, _stateless_seed(seed)


def _stateless_seed(seed):
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= seed < 2**31:
            raise ValueError(f"an int seed must lie in [0, 2**31), got {seed}.")
        return tf.constant([seed, 0], tf.int32)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer or seed.shape != (2,):
        raise ValueError(f"seed must be an int or a shape [2] integer tensor, got {seed!r}.")
    return seed


def _tile(parameters, num_samples):
    return [tf.broadcast_to(p[None], tf.concat([[num_samples], tf.shape(p)], 0)) for p in parameters]


def _per_sample_sum(values, num_samples):
    """``[S, ...]`` → ``[S]``: independent components of one sample add up (log-densities)."""
    if values.shape.rank is not None and (values.shape.rank == 0 or values.shape[0] not in (None, num_samples)):
        raise ValueError(f"expected a leading sample axis of {num_samples}, got shape {values.shape}; "
                         "make_distribution must treat the parameters' leading axis as a batch axis.")
    if values.shape.rank == 1:
        return values
    return tf.reduce_sum(tf.reshape(values, [num_samples, -1]), -1)


def _objective_values(objective, samples, num_samples):
    values = tf.convert_to_tensor(objective(samples))
    if values.shape.rank != 1 or values.shape[0] not in (None, num_samples):
        raise ValueError(f"objective must return one value per sample, shape [{num_samples}]; got shape "
                         f"{values.shape} for samples of shape {samples.shape}.")
    require(tf.math.is_finite(values), "objective returned NaN or inf values.")
    return values


def _required_gradients(gradients, through):
    for index, gradient in enumerate(gradients):
        if gradient is None:
            raise ValueError(f"parameter {index} gets no gradient through {through}; "
                             "check that make_distribution uses it.")
    return list(gradients)


def _times(values, per_sample):
    """``values [S]`` times ``per_sample [S, ...]``, broadcast over the parameter's axes."""
    return tf.reshape(values, tf.concat([[-1], tf.ones_like(tf.shape(per_sample)[1:])], 0)) * per_sample


def _apply_control_variate(per_sample, score, values, control_variate):
    """``per_sample − c score`` with a leave-one-out coefficient ``c`` (module docstring)."""
    if control_variate == "none":
        return per_sample
    if control_variate == "baseline":
        num_samples = tf.cast(tf.shape(values)[0], values.dtype)
        return per_sample - _times((tf.reduce_sum(values) - values) / (num_samples - 1), score)
    numerator = per_sample * score
    denominator = tf.square(score)
    coefficient = tf.math.divide_no_nan(tf.reduce_sum(numerator, 0) - numerator,
                                        tf.reduce_sum(denominator, 0) - denominator)
    return per_sample - coefficient * score


def _estimate(per_sample):
    return GradientEstimate(mean=tuple(tf.reduce_mean(g, 0) for g in per_sample), per_sample=tuple(per_sample))


def _bessel(per_sample):
    n = tf.cast(tf.shape(per_sample)[0], per_sample.dtype)
    return n / (n - 1)
