"""GaussianMixture against scikit-learn's EM, its guarantees, its errors, and its Keras twin."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnMixture

from tfspeech import export, zoo
from tfspeech.probabilistic import GaussianMixture, GaussianMixtureDensity, gaussian, gmm

COVARIANCE_TYPES = gaussian.COVARIANCE_TYPES
K, D = 3, 4

# float64 EM follows scikit-learn to rounding: per-iteration mean log-likelihoods differ
# by < 1e-13 here, and by 6e-9 relative in a k-means++ first iteration whose one-point
# components (covariance = reg_covar) give -2e6 nats. float32 EM differs by ~3e-6
# (centred data, float64 sums).
FLOAT64_TOLERANCE = 1e-10
FLOAT64_RELATIVE = 1e-8
FLOAT32_TOLERANCE = 1e-4


def _blobs(seed=0, n_per_component=200, scale=3.0):
    rng = np.random.default_rng(seed)
    parts = [rng.normal(size=(n_per_component, D)) @ rng.normal(size=(D, D)) * 0.5 + rng.normal(size=D) * scale
             for _ in range(K)]
    return np.concatenate(parts) + 10.0


@pytest.fixture(scope="module")
def X():
    return _blobs()


def _both(covariance_type, dtype="float64", **kwargs):
    settings = dict(covariance_type=covariance_type, max_iter=12, tol=0.0, random_state=1, **kwargs)
    return (SklearnMixture(K, **settings),
            GaussianMixture(K, dtype=dtype, **settings))


def _fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_trajectory_matches_scikit_learn(X, covariance_type):
    reference, model = (_fit_quietly(m, X) for m in _both(covariance_type))
    np.testing.assert_allclose(model.lower_bounds_, reference.lower_bounds_, rtol=FLOAT64_RELATIVE, atol=FLOAT64_TOLERANCE)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_allclose(getattr(model, name), getattr(reference, name), rtol=1e-8, atol=1e-10)
    assert model.n_iter_ == reference.n_iter_ == 12
    assert model.lower_bound_ == pytest.approx(reference.lower_bound_, abs=FLOAT64_TOLERANCE)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_em_stays_close_to_scikit_learn(X, covariance_type):
    reference, model = (_fit_quietly(m, X) for m in _both(covariance_type, dtype="float32"))
    np.testing.assert_allclose(model.lower_bounds_, reference.lower_bounds_, rtol=0, atol=FLOAT32_TOLERANCE)


def test_xla_e_step_gives_the_same_fit(X):
    settings = dict(max_iter=6, tol=0.0, random_state=0, dtype="float64")
    graph = _fit_quietly(GaussianMixture(K, **settings), X)
    xla = _fit_quietly(GaussianMixture(K, jit_compile=True, **settings), X)
    np.testing.assert_allclose(xla.lower_bounds_, graph.lower_bounds_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_every_initialization_matches_scikit_learn_for_the_same_seed(X, init_params):
    reference, model = (_fit_quietly(m, X) for m in _both("full", init_params=init_params))
    np.testing.assert_allclose(model.lower_bounds_, reference.lower_bounds_, rtol=FLOAT64_RELATIVE, atol=FLOAT64_TOLERANCE)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_initial_parameters_give_scikit_learns_trajectory(X, covariance_type):
    rng = np.random.default_rng(2)
    precisions = {
        "full": np.stack([np.eye(D) * (k + 1) for k in range(K)]),
        "tied": np.eye(D) * 0.5,
        "diag": rng.uniform(0.2, 2.0, size=(K, D)),
        "spherical": rng.uniform(0.2, 2.0, size=K),
    }[covariance_type]
    init = dict(weights_init=np.array([0.2, 0.3, 0.5]), means_init=X[rng.choice(len(X), K, replace=False)],
                precisions_init=precisions)
    reference, model = (_fit_quietly(m, X) for m in _both(covariance_type, **init))
    np.testing.assert_allclose(model.lower_bounds_, reference.lower_bounds_, rtol=FLOAT64_RELATIVE, atol=FLOAT64_TOLERANCE)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_never_decreases_the_log_likelihood(covariance_type, seed):
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_t(df=3, size=(150, 2)) + rng.integers(0, 3, size=(150, 1))  # heavy tails, no true mixture
    model = _fit_quietly(GaussianMixture(4, covariance_type=covariance_type, max_iter=30, tol=0.0,
                                         init_params="random", random_state=seed, dtype="float64"), X)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12), np.diff(model.lower_bounds_).min()


def test_duplicate_points_stay_finite_thanks_to_reg_covar():
    X = np.repeat(np.array([[0.0, 1.0], [3.0, -1.0]]), 50, axis=0)
    model = _fit_quietly(GaussianMixture(3, reg_covar=1e-4, random_state=0), X)
    assert np.all(np.isfinite(model.covariances_)) and np.isfinite(model.score(X))
    assert np.all(np.linalg.eigvalsh(model.covariances_) >= 1e-4 - 1e-9)


def test_scores_predictions_and_criteria_match_scikit_learn(X):
    reference, model = (_fit_quietly(m, X) for m in _both("full"))
    test = _blobs(seed=5, n_per_component=20)
    np.testing.assert_allclose(model.score_samples(test), reference.score_samples(test), rtol=1e-10)
    np.testing.assert_allclose(model.predict_proba(test), reference.predict_proba(test), atol=1e-10)
    np.testing.assert_array_equal(model.predict(test), reference.predict(test))
    assert model.score(test) == pytest.approx(reference.score(test), rel=1e-12)
    assert model.bic(test) == pytest.approx(reference.bic(test), rel=1e-12)
    assert model.aic(test) == pytest.approx(reference.aic(test), rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_distribution_log_prob_agrees(X, covariance_type):
    model = _fit_quietly(GaussianMixture(K, covariance_type=covariance_type, max_iter=5, random_state=0,
                                         dtype="float64"), X)
    distribution = model.distribution()
    np.testing.assert_allclose(distribution.log_prob(X).numpy(), model.score_samples(X), rtol=1e-10)


def test_samples_follow_the_fitted_mixture(X):
    model = _fit_quietly(GaussianMixture(K, max_iter=20, random_state=0), X)
    draws, labels = model.sample(30_000)
    assert draws.shape == (30_000, D) and np.all(np.diff(labels) >= 0)
    np.testing.assert_allclose(np.bincount(labels) / len(labels), model.weights_, atol=0.01)
    for k in range(K):
        np.testing.assert_allclose(draws[labels == k].mean(0), model.means_[k], atol=0.1)
        np.testing.assert_allclose(np.cov(draws[labels == k].T), model.covariances_[k], atol=0.15)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_dataset_of_batches_fits_like_the_array(X, covariance_type):
    settings = dict(covariance_type=covariance_type, max_iter=8, tol=0.0, random_state=3, dtype="float64")
    from_array = _fit_quietly(GaussianMixture(K, **settings), X)
    batches = tf.data.Dataset.from_tensor_slices((X, np.zeros(len(X)))).batch(64)
    from_dataset = _fit_quietly(GaussianMixture(K, **settings), batches)
    np.testing.assert_allclose(from_dataset.lower_bounds_, from_array.lower_bounds_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(from_dataset.means_, from_array.means_, atol=1e-9)


def test_warm_start_continues_where_it_stopped(X):
    settings = dict(max_iter=4, tol=0.0, random_state=0, dtype="float64")
    model = _fit_quietly(GaussianMixture(K, warm_start=True, **settings), X)
    _fit_quietly(model, X)
    straight = _fit_quietly(GaussianMixture(K, **{**settings, "max_iter": 8}), X)
    np.testing.assert_allclose(model.means_, straight.means_, atol=1e-10)
    assert model.lower_bounds_[-1] == pytest.approx(straight.lower_bounds_[-1], abs=1e-12)


def test_n_init_keeps_the_best_initialization(X):
    settings = dict(max_iter=3, tol=0.0, init_params="random", dtype="float64")
    shared = np.random.RandomState(0)  # three single fits draw the same three initializations
    single = [_fit_quietly(GaussianMixture(K, random_state=shared, **settings), X).lower_bound_ for _ in range(3)]
    several = _fit_quietly(GaussianMixture(K, n_init=3, random_state=np.random.RandomState(0), **settings), X)
    assert len(set(single)) == 3
    assert several.lower_bound_ == pytest.approx(max(single), abs=1e-12)


def test_convergence_and_its_warning(X):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(K, max_iter=2, tol=0.0, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GaussianMixture(K, max_iter=200, tol=1e-3, random_state=0).fit(X)
    assert model.converged_ and model.n_iter_ < 200


def test_bad_input_gets_clear_errors(X, monkeypatch):
    bad = X.copy()
    bad[[7, 342], 1] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"NaN or inf in 2 row\(s\): 7, 342"):
        GaussianMixture(K).fit(bad)
    monkeypatch.setattr(gmm, "DATASET_INIT_ROWS", 100)  # row 7 is in the initialization sample, 342 not
    with pytest.raises(ValueError, match=r"NaN or inf in 1 row\(s\): 7"):
        GaussianMixture(K).fit(tf.data.Dataset.from_tensor_slices(bad).batch(50))
    with pytest.raises(ValueError, match=r"the dataset has NaN or inf in 1 row\(s\): 242"):
        GaussianMixture(K).fit(tf.data.Dataset.from_tensor_slices(bad[100:]).batch(50))
    with pytest.raises(ValueError, match="fewer than n_components=5"):
        GaussianMixture(5).fit(X[:4])
    with pytest.raises(ValueError, match="reshape"):
        GaussianMixture(K).fit(X[:, 0])
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixture(K, covariance_type="banded").fit(X)
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixture(K).predict(X)
    with pytest.raises(ValueError, match=r"The parameter 'means' should have the shape of \(3, 4\), but got \(2, 4\)"):
        GaussianMixture(K, means_init=np.zeros((2, 4))).fit(X)
    model = _fit_quietly(GaussianMixture(K, max_iter=2), X)
    with pytest.raises(ValueError, match="X has 3 features, but this GaussianMixture was fitted on 4"):
        model.predict(X[:, :3])


def test_non_positive_definite_initial_precision_says_so(X):
    """scikit-learn's messages, not the advice for covariances that EM made singular."""
    with pytest.raises(ValueError, match="'spherical precision' should be positive"):
        GaussianMixture(K, covariance_type="spherical", precisions_init=np.array([1.0, -1.0, 1.0])).fit(X)
    precisions = np.tile(np.eye(4), (K, 1, 1))
    precisions[1, 0, 0] = -1.0
    with pytest.raises(ValueError, match="'full precision' should be symmetric, positive-definite"):
        GaussianMixture(K, precisions_init=precisions).fit(X)


# ---------------------------------------------------------------- Keras


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_keras_density_equals_the_mixture_both_ways(X, covariance_type):
    model = _fit_quietly(GaussianMixture(K, covariance_type=covariance_type, max_iter=10, random_state=0), X)
    density = model.to_keras()
    # float32 on both sides (the Keras model in its residual form): a few 1e-6 nats apart
    np.testing.assert_allclose(density(X.astype(np.float32)).numpy(), model.score_samples(X), rtol=1e-5, atol=1e-5)
    back = GaussianMixture.from_keras(density)
    np.testing.assert_allclose(back.score_samples(X), model.score_samples(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(back.covariances_, model.covariances_, rtol=1e-4, atol=1e-6)


def test_keras_density_stays_finite_with_large_precision_factors():
    """A nearly singular component has precision-Cholesky entries in the hundreds; exp() of an
    off-diagonal entry overflows float32, which once made every log-density NaN (inf * 0)."""
    D = 3
    prec_chol = np.triu(np.full((D, D), 500.0), 1) + np.diag([1.0, 2.0, 0.5])
    density = GaussianMixtureDensity(1, D, "full")
    density.set_mixture([1.0], np.zeros((1, D)), prec_chol[np.newaxis])
    x = np.random.default_rng(1).normal(scale=1e-3, size=(20, D))
    whitened = x @ prec_chol
    expected = (-0.5 * D * np.log(2 * np.pi) + np.log(np.diag(prec_chol)).sum()
                - 0.5 * (whitened ** 2).sum(axis=1))
    np.testing.assert_allclose(density(x.astype(np.float32)).numpy(), expected, rtol=1e-4)


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_keras_density_survives_config_and_keras_file(X, covariance_type, tmp_path):
    density = _fit_quietly(GaussianMixture(K, covariance_type=covariance_type, max_iter=5, random_state=0),
                           X).to_keras()
    expected = density(X).numpy()
    rebuilt = GaussianMixtureDensity.from_config(density.get_config())
    rebuilt.set_weights(density.get_weights())
    np.testing.assert_array_equal(rebuilt(X).numpy(), expected)
    density.save(tmp_path / "gmm.keras")
    reloaded = keras.models.load_model(tmp_path / "gmm.keras")
    assert isinstance(reloaded, GaussianMixtureDensity)
    np.testing.assert_array_equal(reloaded(X).numpy(), expected)


def test_keras_density_applies_its_input_projection_first(X, tmp_path):
    rng = np.random.default_rng(9)
    mean, matrix = X.mean(0), rng.normal(size=(D, 2))
    projected = (X - mean) @ matrix
    model = _fit_quietly(GaussianMixture(K, max_iter=10, random_state=0), projected)
    density = model.to_keras(input_projection=(mean, matrix))
    assert density.export_signatures()["score_samples"].input_signature[0].shape.as_list() == [None, D]
    np.testing.assert_allclose(density(X).numpy(), model.score_samples(projected), rtol=1e-5, atol=1e-5)
    assert len(density.trainable_weights) == 3 and len(density.non_trainable_weights) == 2
    density.save(tmp_path / "projected.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "projected.keras")(X).numpy(), density(X).numpy())


def test_one_keras_fit_step_lowers_the_negative_log_likelihood(X):
    density = GaussianMixtureDensity(K, D, "full")
    density.set_mixture(np.full(K, 1 / K), X[:K], np.stack([np.eye(D) * 0.5] * K))
    data = X.astype(np.float32)
    before = -density(data).numpy().mean()
    density.compile(optimizer=keras.optimizers.SGD(1e-3))
    history = density.fit(data, batch_size=len(data), epochs=1, verbose=0)
    after = -density(data).numpy().mean()
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-5)
    assert after < before


def test_keras_export_signature_scores_rows(X):
    density = _fit_quietly(GaussianMixture(K, max_iter=5, random_state=0), X).to_keras()
    function = density.export_signatures()["score_samples"]
    assert function.input_signature[0].shape.as_list() == [None, D]
    np.testing.assert_allclose(function(tf.constant(X[:5], tf.float32))["log_prob"].numpy(),
                               density(X[:5]).numpy(), rtol=1e-6)


def test_tflite_export_passes_its_parity_check(X, tmp_path):
    density = _fit_quietly(GaussianMixture(K, max_iter=5, random_state=0), X).to_keras()
    report = export.tflite(density, tmp_path / "gmm.tflite", representative_data=[X[:16].astype(np.float32)])
    assert report.passed and [output.signature for output in report.outputs] == ["score_samples"]


def test_gmm_digits_preset_reproduces_its_card_and_exports(tmp_path):
    from tfspeech.recipes import gmm_digits

    model = zoo.load(gmm_digits.PRESET_NAME)
    recorded = zoo.info(gmm_digits.PRESET_NAME)
    train, test, fingerprint = gmm_digits.digits_split()
    assert recorded["data"]["fingerprint"] == fingerprint
    for name, value in gmm_digits.held_out_metrics(model, train, test).items():
        assert value == pytest.approx(recorded["metrics"][name]["value"], abs=1e-3), name
    samples = [test[:16].astype(np.float32)]
    assert export.tflite(model, tmp_path / "gmm-digits.tflite", representative_data=samples).passed
    assert export.saved_model(model, tmp_path / "saved", sample_data=samples).passed



def test_a_second_mixture_with_the_same_shapes_traces_nothing(X):
    """The compiled E-step, M-step and scoring functions are shared per configuration."""
    functions = [gmm._compiled(gmm._block_moments, jit_compile=False, any_shape=True),
                 gmm._compiled(gmm._natural_parameters, "diag", tf.float32),
                 gmm._compiled(gmm._m_step, "diag", 1e-6),
                 gmm._compiled(gmm._log_responsibilities, "diag", any_shape=True)]
    _fit_quietly(GaussianMixture(K, covariance_type="diag", max_iter=3, random_state=0), X).score(X)
    before = [f.experimental_get_tracing_count() for f in functions]
    second = _fit_quietly(GaussianMixture(K, covariance_type="diag", max_iter=3, random_state=1), X + 1.0)
    second.score(X)
    assert [f.experimental_get_tracing_count() for f in functions] == before
    assert min(before) > 0
