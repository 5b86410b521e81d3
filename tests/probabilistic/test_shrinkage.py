"""Normal-normal shrinkage against tfp's conjugate helper, the path, the plot and bad input."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfspeech.probabilistic import shrinkage

tfd = tfp.distributions


def _tfp_posterior(n, total, prior_mean, prior_scale, noise_scale):
    prior = tfd.Normal(loc=np.float64(prior_mean), scale=np.float64(prior_scale))
    return tfd.normal_conjugates_known_scale_posterior(prior, np.float64(noise_scale), total, n)


def test_batched_posterior_matches_tfp_conjugate_helper():
    rng = np.random.default_rng(0)
    batch, n = 5, 40
    prior_mean = rng.normal(size=(batch, 1))
    prior_scale = rng.uniform(0.2, 3.0, size=(batch, 1))
    noise_scale = rng.uniform(0.2, 3.0, size=(batch, 1))
    observations = rng.normal(size=(batch, 3, n)) * noise_scale[..., None] + 1.0

    ours = shrinkage.posterior_from_observations(observations, prior_mean, prior_scale, noise_scale)
    reference = _tfp_posterior(n, observations.sum(-1), prior_mean, prior_scale, noise_scale)

    assert ours.mean.shape == (batch, 3) and ours.mean.dtype == tf.float64
    np.testing.assert_allclose(ours.mean, reference.loc, rtol=1e-12)
    np.testing.assert_allclose(ours.variance, np.broadcast_to(reference.scale**2, (batch, 3)), rtol=1e-12)
    expected_factor = noise_scale**2 / (noise_scale**2 + n * prior_scale**2)
    np.testing.assert_allclose(ours.shrinkage, np.broadcast_to(expected_factor, (batch, 3)), rtol=1e-12)


def test_one_observation_matches_tfp_and_the_textbook_form():
    x, prior_mean, prior_scale, noise_scale = 3.0, -1.0, 2.0, 0.5
    ours = shrinkage.posterior_one_observation(np.float64(x), prior_mean, prior_scale, noise_scale)
    reference = _tfp_posterior(1, np.float64(x), prior_mean, prior_scale, noise_scale)
    np.testing.assert_allclose(ours.mean, reference.loc, rtol=1e-12)
    np.testing.assert_allclose(ours.variance, reference.scale**2, rtol=1e-12)
    s2, t2 = noise_scale**2, prior_scale**2
    np.testing.assert_allclose(ours.mean, (s2 * prior_mean + t2 * x) / (s2 + t2), rtol=1e-12)


def test_path_starts_at_prior_and_matches_each_prefix():
    rng = np.random.default_rng(1)
    observations = rng.normal(4.0, 2.0, size=30)
    path = shrinkage.posterior_path(observations, 0.5, 1.5, 2.0)
    assert path.mean.shape == (31,)
    np.testing.assert_allclose([path.mean[0], path.variance[0], path.shrinkage[0]], [0.5, 1.5**2, 1.0])
    for n in (1, 7, 30):
        prefix = _tfp_posterior(n, observations[:n].sum(), 0.5, 1.5, 2.0)
        np.testing.assert_allclose(path.mean[n], prefix.loc, rtol=1e-12)
        np.testing.assert_allclose(path.variance[n], prefix.scale**2, rtol=1e-12)
    assert np.all(np.diff(path.shrinkage) < 0) and np.all(np.diff(path.variance) < 0)


def test_shrinkage_factor_and_zero_observations():
    factor = shrinkage.shrinkage_factor([0, 1, 4], prior_scale=1.0, noise_scale=2.0)
    np.testing.assert_allclose(factor, [1.0, 0.8, 0.5], rtol=1e-6)
    prior_only = shrinkage.posterior_from_summary(0, 123.0, 2.0, 3.0, 1.0)
    np.testing.assert_allclose([prior_only.mean, prior_only.variance], [2.0, 9.0], rtol=1e-6)


def test_works_inside_tf_function():
    compiled = tf.function(shrinkage.posterior_from_observations)
    observations = tf.constant([[1.0, 2.0, 3.0]])
    result = compiled(observations, tf.constant(0.0), tf.constant(1.0), tf.constant(1.0))
    np.testing.assert_allclose(result.mean, [1.5], rtol=1e-6)  # B = 1/4: 0.75 · 2
    with pytest.raises(tf.errors.InvalidArgumentError, match="noise_scale"):
        compiled(observations, tf.constant(0.0), tf.constant(1.0), tf.constant(-1.0))


def test_plot_is_written_and_curve_runs_from_prior_to_data(tmp_path):
    rng = np.random.default_rng(2)
    observations = rng.normal(5.0, 1.0, size=200)
    figure = shrinkage.plot_shrinkage(observations, prior_mean=-2.0, prior_scale=0.5, noise_scale=1.0,
                                      path=tmp_path / "plots" / "shrinkage.png")
    written = tmp_path / "plots" / "shrinkage.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and written.stat().st_size > 10_000

    (curve,) = [line for line in figure.axes[0].lines if line.get_label() == "posterior mean"]
    n, mean = curve.get_data()
    assert n[0] == 0 and n[-1] == 200
    assert mean[0] == pytest.approx(-2.0)
    expected_last = _tfp_posterior(200, observations.sum(), -2.0, 0.5, 1.0).loc.numpy()
    assert mean[-1] == pytest.approx(expected_last, rel=1e-5)
    sample_mean = observations.mean()
    assert abs(mean[-1] - sample_mean) < 0.05 * abs(-2.0 - sample_mean)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(noise_scale=0.0), "noise_scale"),
        (dict(noise_scale=-1.0), "noise_scale"),
        (dict(prior_scale=0.0), "prior_scale"),
        (dict(prior_scale=np.inf), "prior_scale"),
        (dict(observations=[1.0, np.nan]), "NaN or inf"),
        (dict(observations=[1.0, np.inf]), "NaN or inf"),
        (dict(observations=5.0), "at least one axis"),
    ],
)
def test_bad_input_is_rejected(kwargs, message):
    arguments = dict(observations=[1.0, 2.0], prior_mean=0.0, prior_scale=1.0, noise_scale=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        shrinkage.posterior_from_observations(**arguments)


def test_bad_count_and_plot_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_observations"):
        shrinkage.posterior_from_summary(-1, 0.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="credible_mass"):
        shrinkage.plot_shrinkage([1.0], 0.0, 1.0, 1.0, tmp_path / "x.png", credible_mass=1.0)
    with pytest.raises(ValueError, match="one non-empty series"):
        shrinkage.plot_shrinkage([[1.0], [2.0]], 0.0, 1.0, 1.0, tmp_path / "x.png")
