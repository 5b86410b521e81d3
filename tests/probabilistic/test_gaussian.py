"""Gaussian emission helpers against scipy densities and plain numpy weighted moments."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfspeech.probabilistic import gaussian

N, D, K = 300, 4, 3


def _random_covariances(covariance_type, rng):
    """Covariances of the given type and the equivalent (K, D, D) dense matrices."""
    if covariance_type == "full":
        a = rng.normal(size=(K, D, D))
        covariances = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(D)
        return covariances, covariances
    if covariance_type == "tied":
        a = rng.normal(size=(D, D))
        covariances = a @ a.T + 0.5 * np.eye(D)
        return covariances, np.broadcast_to(covariances, (K, D, D))
    if covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(K, D))
        return covariances, np.stack([np.diag(c) for c in covariances])
    covariances = rng.uniform(0.5, 2.0, size=K)
    return covariances, covariances[:, None, None] * np.eye(D)


def _numpy_m_step(X, resp, covariance_type, reg_covar):
    """The weighted-moment M-step written out per component (the textbook forms)."""
    nk = resp.sum(0) + 10 * np.finfo(np.float64).eps
    means = resp.T @ X / nk[:, None]
    full = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) / nk[k] for k in range(K)])
    if covariance_type == "full":
        covariances = full + reg_covar * np.eye(D)
    elif covariance_type == "tied":
        covariances = (nk[:, None, None] * full).sum(0) / nk.sum() + reg_covar * np.eye(D)
    elif covariance_type == "diag":
        covariances = np.stack([np.diag(c) for c in full]) + reg_covar
    else:
        covariances = np.stack([np.diag(c).mean() for c in full]) + reg_covar
    return nk / nk.sum(), means, covariances


@pytest.mark.parametrize("covariance_type", gaussian.COVARIANCE_TYPES)
def test_log_prob_matches_scipy(covariance_type):
    rng = np.random.default_rng(1)
    covariances, dense = _random_covariances(covariance_type, rng)
    means = rng.normal(size=(K, D))
    X = rng.normal(size=(N, D)) * 2
    expected = np.stack(
        [stats.multivariate_normal(means[k], dense[k]).logpdf(X) for k in range(K)], axis=1)
    got = gaussian.log_prob(X, means, covariances, covariance_type).numpy()
    assert got.shape == (N, K)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", gaussian.COVARIANCE_TYPES)
def test_precision_cholesky_round_trips(covariance_type):
    rng = np.random.default_rng(2)
    covariances, dense = _random_covariances(covariance_type, rng)
    prec_chol = gaussian.precision_cholesky(covariances, covariance_type)
    assert prec_chol.shape == gaussian.covariance_shape(covariance_type, K, D)
    precisions = gaussian.precisions_from_precision_cholesky(prec_chol, covariance_type).numpy()
    if covariance_type in ("full", "tied"):
        np.testing.assert_allclose(precisions, np.linalg.inv(covariances), rtol=1e-9)
        assert np.allclose(np.tril(prec_chol.numpy(), -1), 0.0), "P should be upper triangular"
        from_precisions = gaussian.precision_cholesky_from_precisions(precisions, covariance_type)
        assert np.allclose(np.tril(from_precisions.numpy(), -1), 0.0)
        np.testing.assert_allclose(from_precisions.numpy(), prec_chol.numpy(), rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(precisions, 1.0 / covariances, rtol=1e-12)
    back = gaussian.covariances_from_precision_cholesky(prec_chol, covariance_type).numpy()
    np.testing.assert_allclose(back, covariances, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", gaussian.COVARIANCE_TYPES)
def test_m_step_matches_weighted_moments_for_any_shift(covariance_type):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, D)) * 3 + 5
    resp = rng.dirichlet(np.ones(K), size=N)
    expected = _numpy_m_step(X, resp, covariance_type, 1e-3)
    for shift in (None, rng.normal(size=(K, D)) + 5):
        statistics = gaussian.sufficient_statistics(X, resp, covariance_type, shift=shift)
        for got, want in zip(gaussian.m_step(statistics, covariance_type, reg_covar=1e-3), expected):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance_type", gaussian.COVARIANCE_TYPES)
def test_statistics_of_batches_add_up_to_the_whole(covariance_type):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(N, D))
    resp = rng.dirichlet(np.ones(K), size=N)
    shift = rng.normal(size=(K, D))
    whole = gaussian.sufficient_statistics(X, resp, covariance_type, shift=shift)
    halves = gaussian.add_statistics(
        gaussian.sufficient_statistics(X[:100], resp[:100], covariance_type, shift=shift),
        gaussian.sufficient_statistics(X[100:], resp[100:], covariance_type, shift=shift))
    for got, want in zip(halves, whole):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_shift_keeps_float32_covariance_accurate_far_from_the_origin():
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(2000, D)) + 1e4).astype(np.float32)
    resp = np.ones((2000, 1), np.float32)
    exact = np.cov(X.astype(np.float64).T, bias=True)
    about_origin = gaussian.m_step(gaussian.sufficient_statistics(X, resp, "full"), "full", 0.0)[2]
    shift = X[:1].astype(np.float32) + 0.5
    about_shift = gaussian.m_step(
        gaussian.sufficient_statistics(X, resp, "full", shift=shift), "full", 0.0)[2]
    error_shift = np.abs(about_shift.numpy()[0] - exact).max()
    assert error_shift < 1e-3
    assert error_shift < 0.01 * np.abs(about_origin.numpy()[0] - exact).max()


def test_singular_covariance_is_reported_clearly():
    prec_chol = gaussian.precision_cholesky(np.zeros((2, D, D)), "full")
    with pytest.raises(ValueError, match="increase reg_covar"):
        gaussian.check_finite_precision(prec_chol)
    with pytest.raises(ValueError, match="increase reg_covar"):
        gaussian.check_finite_precision(gaussian.precision_cholesky(np.array([1.0, 0.0]), "spherical"))


def test_log_prob_compiles_with_xla():
    rng = np.random.default_rng(6)
    covariances, _ = _random_covariances("full", rng)
    means = rng.normal(size=(K, D)).astype(np.float32)
    X = rng.normal(size=(N, D)).astype(np.float32)
    prec_chol = gaussian.precision_cholesky(covariances.astype(np.float32), "full")
    compiled = tf.function(gaussian.log_prob_from_precision_cholesky, jit_compile=True)
    np.testing.assert_allclose(
        compiled(X, means, prec_chol, "full").numpy(),
        gaussian.log_prob_from_precision_cholesky(X, means, prec_chol, "full").numpy(), rtol=1e-5)


def test_unknown_covariance_type_is_rejected():
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        gaussian.log_prob(np.zeros((2, 2)), np.zeros((1, 2)), np.ones(1), "banded")


@pytest.mark.parametrize("covariance_type", gaussian.COVARIANCE_TYPES)
def test_natural_parameter_form_gives_the_same_log_density(covariance_type):
    rng = np.random.default_rng(7)
    covariances, _ = _random_covariances(covariance_type, rng)
    means = rng.normal(size=(K, D))
    X = rng.normal(size=(N, D)) * 2
    quadratic, linear, bias = gaussian.natural_parameters(
        means, gaussian.precision_cholesky(covariances, covariance_type), covariance_type)
    features = gaussian.moment_features(X, covariance_type)
    rows, cols = gaussian.second_moment_pairs(D, covariance_type)
    np.testing.assert_allclose(features.numpy(), X[:, rows] * X[:, cols], rtol=1e-12)
    got = features @ quadratic + X @ linear + bias
    np.testing.assert_allclose(got.numpy(), gaussian.log_prob(X, means, covariances, covariance_type).numpy(),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", gaussian.COVARIANCE_TYPES)
def test_statistics_from_moments_match_weighted_statistics(covariance_type):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(N, D))
    resp = rng.dirichlet(np.ones(K), size=N)
    features = gaussian.moment_features(X, covariance_type).numpy()
    from_moments = gaussian.statistics_from_moments(resp.sum(0), resp.T @ X, resp.T @ features, covariance_type)
    direct = gaussian.sufficient_statistics(X, resp, covariance_type)
    for got, want in zip(from_moments, direct):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
