"""Gradient estimators: unbiasedness against closed forms, measured variance reduction, bad input."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.special import digamma, polygamma

from tfspeech.probabilistic import estimators as est

tfd = tfp.distributions
NUM_SAMPLES = 4000
MU, SIGMA = 1.0, 2.0
ALPHA, BETA = 2.0, 1.5


def _f64(*values):
    return [tf.constant(v, tf.float64) for v in values]


def _square(x):
    return x**2


def _gamma(alpha, beta):
    return tfd.Gamma(alpha, beta)


def _bernoulli(probs):
    return tfd.Bernoulli(probs=probs, dtype=tf.float64)


# name → (make_distribution, parameters, objective, exact gradient per parameter)
PROBLEMS = {
    "normal_x2": (tfd.Normal, (MU, SIGMA), _square, [2 * MU, 2 * SIGMA]),
    "gamma_x2": (_gamma, (ALPHA, BETA), _square, [(2 * ALPHA + 1) / BETA**2, -2 * ALPHA * (ALPHA + 1) / BETA**3]),
    "gamma_log": (_gamma, (ALPHA, BETA), tf.math.log, [polygamma(1, ALPHA), -1 / BETA]),
    # E_Bernoulli(p)[(x − 0.3)²] = 0.09 + 0.4 p: only the score function applies.
    "bernoulli": (_bernoulli, (0.6,), lambda x: (x - 0.3) ** 2, [0.4]),
}


def _run(estimator, problem, seed, control_variate="none"):
    distribution, parameters, objective, _ = PROBLEMS[problem]
    parameters = _f64(*parameters)
    if estimator == "score":
        return est.score_function_gradient(distribution, parameters, objective, NUM_SAMPLES, seed, control_variate)
    if estimator == "reparameterization":
        return est.reparameterization_gradient(distribution, parameters, objective, NUM_SAMPLES, seed)
    return est.gamma_generalized_reparameterization_gradient(*parameters, objective, NUM_SAMPLES, seed,
                                                             control_variate)


CASES = (
    [("score", problem, cv) for problem in PROBLEMS for cv in est.CONTROL_VARIATES]
    + [("reparameterization", problem, "none") for problem in ("normal_x2", "gamma_x2", "gamma_log")]
    + [("generalized", problem, cv) for problem in ("gamma_x2", "gamma_log") for cv in est.CONTROL_VARIATES]
)


@pytest.mark.parametrize("estimator, problem, control_variate", CASES)
def test_estimator_is_unbiased(estimator, problem, control_variate):
    estimate = _run(estimator, problem, seed=11, control_variate=control_variate)
    exact = PROBLEMS[problem][3]
    for mean, variance, target in zip(estimate.mean, estimate.sample_variance(), exact):
        standard_error = np.sqrt(float(variance) / NUM_SAMPLES)
        assert abs(float(mean) - target) <= 4 * standard_error + 1e-9 * abs(target), (mean, target, standard_error)


def test_generalized_reparameterization_matches_hand_derivatives():
    estimate = _run("generalized", "gamma_x2", seed=3)
    # β is a scale, so its per-sample gradient is pathwise: d(x²)/dβ = −2x²/β gives back x.
    x = np.sqrt(-estimate.per_sample[1].numpy() * BETA / 2)
    psi, psi1, psi2 = digamma(ALPHA), polygamma(1, ALPHA), polygamma(2, ALPHA)
    w = np.log(BETA * x)
    noise = (w - psi) / np.sqrt(psi1)
    dw = psi1 + noise * psi2 / (2 * np.sqrt(psi1))  # ∂w/∂α with ε fixed
    g_rep = 2 * x**2 * dw
    score = w + (ALPHA - np.exp(w)) * dw - psi + psi2 / (2 * psi1)  # ∂/∂α log π(ε; α)
    np.testing.assert_allclose(estimate.per_sample[0], g_rep + x**2 * score, rtol=1e-9)
    # The correction is not optional: g_rep alone misses the gradient by many standard errors.
    exact = PROBLEMS["gamma_x2"][3][0]
    assert abs(g_rep.mean() - exact) > 4 * g_rep.std() / np.sqrt(NUM_SAMPLES)


def test_control_variates_reduce_variance():
    variance = {cv: _run("score", "normal_x2", 5, cv).sample_variance() for cv in est.CONTROL_VARIATES}
    for parameter in range(2):
        none, baseline, optimal = (float(variance[cv][parameter]) for cv in est.CONTROL_VARIATES)
        assert optimal < baseline < none
        assert optimal < 0.6 * none
    generalized_none = _run("generalized", "gamma_x2", 5, "none").sample_variance()[0]
    generalized_optimal = _run("generalized", "gamma_x2", 5, "optimal").sample_variance()[0]
    assert float(generalized_optimal) < 0.9 * float(generalized_none)


def test_reparameterization_beats_score_function_on_the_gaussian():
    reparameterized = _run("reparameterization", "normal_x2", 7).sample_variance()
    for control_variate in est.CONTROL_VARIATES:
        score = _run("score", "normal_x2", 7, control_variate).sample_variance()
        for rep_variance, score_variance in zip(reparameterized, score):
            assert float(rep_variance) < 0.7 * float(score_variance)


def test_batched_parameters_give_per_sample_gradients_of_their_shape():
    loc = tf.constant([-1.0, 0.0, 2.0], tf.float64)
    scale = tf.constant([0.5, 1.0, 1.5], tf.float64)
    estimate = est.reparameterization_gradient(tfd.Normal, [loc, scale], lambda x: tf.reduce_sum(x**2, -1),
                                               NUM_SAMPLES, seed=2)
    assert estimate.per_sample[0].shape == (NUM_SAMPLES, 3) and estimate.mean[1].shape == (3,)
    np.testing.assert_allclose(estimate.mean[0], tf.reduce_mean(estimate.per_sample[0], 0))
    # Pathwise gradients of (μ + σε)²: 2x for μ and 2xε = 2x (x − μ) / σ for σ, per sample.
    samples = estimate.per_sample[0] / 2
    np.testing.assert_allclose(estimate.per_sample[1], 2 * samples * (samples - loc) / scale, rtol=1e-10)
    for mean, variance, exact in zip(estimate.mean, estimate.sample_variance(), (2 * loc, 2 * scale)):
        np.testing.assert_array_less(np.abs(mean - exact), 4 * np.sqrt(variance / NUM_SAMPLES))


def test_same_seed_same_estimate_and_tf_function():
    first = _run("score", "gamma_x2", seed=4, control_variate="optimal")
    second = _run("score", "gamma_x2", seed=4, control_variate="optimal")
    other = _run("score", "gamma_x2", seed=5, control_variate="optimal")
    np.testing.assert_array_equal(first.mean[0], second.mean[0])
    assert float(first.mean[0]) != float(other.mean[0])

    @tf.function
    def compiled(seed):
        return est.gamma_generalized_reparameterization_gradient(*_f64(ALPHA, BETA), _square, 64, seed).mean

    eager = est.gamma_generalized_reparameterization_gradient(*_f64(ALPHA, BETA), _square, 64, seed=9).mean
    np.testing.assert_allclose(compiled(tf.constant([9, 0])), eager, rtol=1e-12)


def test_bad_input_is_rejected():
    normal = _f64(MU, SIGMA)
    with pytest.raises(ValueError, match="not reparameterized"):
        est.reparameterization_gradient(_bernoulli, _f64(0.5), _square, 10, 0)
    with pytest.raises(ValueError, match="one value per sample"):
        est.score_function_gradient(tfd.Normal, normal, tf.reduce_sum, 10, 0)
    with pytest.raises(ValueError, match="control_variate"):
        est.score_function_gradient(tfd.Normal, normal, _square, 10, 0, control_variate="mean")
    with pytest.raises(ValueError, match="num_samples"):
        est.score_function_gradient(tfd.Normal, normal, _square, 1, 0, control_variate="optimal")
    with pytest.raises(ValueError, match="NaN or inf"):
        est.reparameterization_gradient(tfd.Normal, _f64(np.nan, 1.0), _square, 10, 0)
    with pytest.raises(ValueError, match="objective returned NaN"):
        est.score_function_gradient(tfd.Normal, normal, lambda x: tf.math.log(x - 100.0), 10, 0)
    with pytest.raises(ValueError, match="no gradient"):
        est.reparameterization_gradient(lambda loc, unused: tfd.Normal(loc, 1.0), normal, _square, 10, 0)
    with pytest.raises(ValueError, match="float tensors"):
        est.score_function_gradient(tfd.Normal, [tf.constant(1), tf.constant(2)], _square, 10, 0)
    with pytest.raises(ValueError, match="seed"):
        est.score_function_gradient(tfd.Normal, normal, _square, 10, seed=-1)
    with pytest.raises(ValueError, match="> 0"):
        est.gamma_generalized_reparameterization_gradient(*_f64(-1.0, BETA), _square, 10, 0)
    with pytest.raises(ValueError, match="same shape"):
        est.gamma_generalized_reparameterization_gradient(tf.ones([2], tf.float64), tf.ones([3], tf.float64),
                                                          _square, 10, 0)


def test_optimal_coefficient_is_leave_one_out():
    # With two samples the leave-one-out coefficient for sample s is f_t h_t² / h_t² = f_t, the
    # other sample's value: exactly the leave-one-out baseline. A coefficient fitted on all
    # samples (which would bias the estimate) gives something else.
    normal = _f64(MU, SIGMA)
    optimal = est.score_function_gradient(tfd.Normal, normal, _square, 2, 13, control_variate="optimal")
    baseline = est.score_function_gradient(tfd.Normal, normal, _square, 2, 13, control_variate="baseline")
    for optimal_gradient, baseline_gradient in zip(optimal.per_sample, baseline.per_sample):
        np.testing.assert_allclose(optimal_gradient, baseline_gradient, rtol=1e-12)
