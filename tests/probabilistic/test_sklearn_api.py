"""GaussianMixture, GaussianHMM, CategoricalHMM and GMMHMM as scikit-learn estimators: params,
clone, Pipeline, GridSearchCV scored by held-out log-likelihood, scikit-learn's own messages."""

import re
import warnings

import numpy as np
import pytest
from sklearn import mixture
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_get_params_invariance, check_set_params

from tfspeech.probabilistic import CategoricalHMM, GaussianHMM, GaussianMixture, GMMHMM

ESTIMATORS = {
    "GaussianMixture": lambda: GaussianMixture(2, covariance_type="diag", max_iter=20, random_state=0),
    "GaussianHMM": lambda: GaussianHMM(2, "diag", n_iter=5, random_state=0),
    "GMMHMM": lambda: GMMHMM(2, n_mix=2, n_iter=5, random_state=0),
    "CategoricalHMM": lambda: CategoricalHMM(2, n_iter=5, random_state=0),
}


def _two_regimes(n=300, seed=0):
    """``(X (n, 2), states (n,))``: a sticky two-state chain with well-separated Gaussian emissions."""
    rng = np.random.default_rng(seed)
    states = np.repeat(rng.integers(0, 2, n // 20), 20)
    return rng.normal(size=(n, 2)) + 6.0 * states[:, None], states


def _data(name):
    X, states = _two_regimes()
    if name == "CategoricalHMM":
        rng = np.random.default_rng(1)
        return np.where(rng.random(len(states)) < 0.9, 2 * states, 1)[:, None]  # symbols 0..2
    return X


@pytest.mark.parametrize("name", ESTIMATORS)
def test_is_an_estimator_with_params(name):
    model = ESTIMATORS[name]()
    assert isinstance(model, BaseEstimator) and isinstance(model, DensityMixin)
    params = model.get_params()
    assert params["n_components"] == 2 and params["random_state"] == 0
    assert model.set_params(n_components=3, tol=0.5) is model
    assert model.get_params()["n_components"] == 3 and model.tol == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'n_states'"):
        model.set_params(n_states=3)
    check_get_params_invariance(name, ESTIMATORS[name]())
    check_set_params(name, ESTIMATORS[name]())
    assert re.fullmatch(rf"{name}\(.*\)", repr(model), re.DOTALL)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_clone_of_a_fitted_model_is_unfitted_with_the_same_params(name):
    X = _data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ESTIMATORS[name]().fit(X)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        copy.score(X)
    assert np.isfinite(model.score(X))


def test_unfitted_methods_raise_not_fitted_error():
    X = _data("GaussianHMM")
    for method in ("score_samples", "score", "predict", "predict_proba", "bic", "aic"):
        with pytest.raises(NotFittedError):
            getattr(GaussianMixture(2), method)(X)
        with pytest.raises(NotFittedError):
            getattr(GaussianHMM(2), method)(X)
    with pytest.raises(NotFittedError):
        GaussianMixture(2).sample(3)


@pytest.mark.parametrize("name", ["GaussianMixture", "GaussianHMM", "GMMHMM"])
def test_pipeline_scales_then_fits(name):
    """In a Pipeline the estimator sees the scaled data: its score equals fitting it on them."""
    X = _data(name) * [1.0, 100.0] + [0.0, 1000.0]
    pipeline = Pipeline([("scale", StandardScaler()), ("model", ESTIMATORS[name]())]).fit(X)
    direct = ESTIMATORS[name]().fit(StandardScaler().fit_transform(X))
    assert pipeline.score(X) == pytest.approx(direct.score(StandardScaler().fit_transform(X)), rel=1e-9)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_grid_search_picks_the_best_held_out_log_likelihood(name):
    """The data have two regimes: n_components=2 must beat 1 on held-out folds (contiguous
    blocks, each one sequence for the HMMs), and GridSearchCV's scores are the estimator's own
    ``score`` on each held-out fold."""
    X = _data(name)
    cv = KFold(3)
    search = GridSearchCV(ESTIMATORS[name](), {"n_components": [1, 2]}, cv=cv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
        assert search.best_params_ == {"n_components": 2}
        train, test = next(cv.split(X))
        manual = ESTIMATORS[name]().set_params(n_components=1).fit(X[train]).score(X[test])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(manual, rel=1e-9)
    assert search.best_estimator_.n_components == 2


# ------------------------------------------------------------------ scikit-learn's messages


def _error(estimator, X):
    with pytest.raises(ValueError) as error:
        estimator.fit(X)
    return str(error.value)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_bad_init_parameters_get_scikit_learns_messages(covariance_type):
    X = _two_regimes(100)[0]
    K, D = 2, X.shape[1]
    bad = {
        "weights_init": [np.full((K, 1), 0.5), np.full(K, 0.3)],  # shape, normalization
        "means_init": [np.zeros((K + 1, D))],
        "precisions_init": [np.ones({"full": (K + 1, D, D), "tied": (D + 1, D + 1), "diag": (K + 1, D),
                                     "spherical": (K + 1,)}[covariance_type]),
                            -np.ones({"full": (K, D, D), "tied": (D, D), "diag": (K, D),
                                      "spherical": (K,)}[covariance_type])],
    }
    for parameter, values in bad.items():
        for value in values:
            kwargs = {"n_components": K, "covariance_type": covariance_type, parameter: value}
            assert _error(GaussianMixture(**kwargs), X) == _error(mixture.GaussianMixture(**kwargs), X)


def test_out_of_range_weights_name_min_and_max_correctly():
    """scikit-learn's message calls the minimum 'max value'; ours says which is which."""
    X = _two_regimes(100)[0]
    with pytest.raises(ValueError, match=re.escape("should be in the range [0, 1], but got min value "
                                                   "-0.50000, max value 1.50000")):
        GaussianMixture(2, weights_init=[-0.5, 1.5]).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_precisions_init_round_trip_as_scikit_learn(covariance_type):
    """Fitted with ``max_iter=0``, the model is its initial parameters: a fitted scikit-learn
    model's ``precisions_`` as ``precisions_init`` come back with that model's
    ``precisions_cholesky_`` (what scikit-learn's test of its private ``_initialize`` checks;
    scikit-learn's own ``max_iter=0`` fit fails with ``precisions_init``: no ``covariances_``),
    and the covariances are their inverses."""
    X = _two_regimes(100)[0]
    reference = mixture.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    kwargs = dict(n_components=2, covariance_type=covariance_type, max_iter=0, random_state=0,
                  means_init=reference.means_, precisions_init=reference.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**kwargs).fit(X)
    np.testing.assert_allclose(ours.precisions_cholesky_, reference.precisions_cholesky_, rtol=1e-10)
    np.testing.assert_allclose(ours.precisions_, reference.precisions_, rtol=1e-10)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-12)
    if covariance_type in ("full", "tied"):
        identity = np.broadcast_to(np.eye(X.shape[1]), np.shape(ours.covariances_))
        np.testing.assert_allclose(ours.covariances_ @ ours.precisions_, identity, atol=1e-10)
    else:
        np.testing.assert_allclose(ours.covariances_ * ours.precisions_, 1.0, rtol=1e-10)
