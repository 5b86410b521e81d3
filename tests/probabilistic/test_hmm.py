"""HMM estimators against hmmlearn (same initial parameters → same EM trajectory, float64),
against tfp's HiddenMarkovModel, EM monotonicity, long sequences and bad input."""

import numpy as np
import pytest
import tensorflow as tf
from hmmlearn import hmm as hmmlearn
from sklearn.exceptions import NotFittedError

from tfspeech.probabilistic import CategoricalHMM, GaussianHMM, GMMHMM, hmm_inference
from tfspeech.probabilistic import hmm as hmm_module

K, D = 3, 2
LENGTHS = [50, 80, 30]
#: Per-iteration log-likelihoods agree with hmmlearn to this absolute tolerance (nats, on
#: totals of about -500; float64 round-off of the two implementations).
TRAJECTORY_ATOL = 1e-8


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(sum(LENGTHS), D))
    X[:60] += 2.0
    return X


@pytest.fixture(scope="module")
def chain():
    rng = np.random.default_rng(1)
    return rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), K)


GAUSSIAN_COVARS = {
    "diag": np.full((K, D), 1.5),
    "spherical": np.full(K, 1.5),
    "full": np.tile(np.eye(D) * 1.5 + 0.3, (K, 1, 1)),
    "tied": np.eye(D) * 1.5 + 0.3,
}


def _set(model, **params):
    for name, value in params.items():
        setattr(model, name, value)
    return model


def _fit_both(ours, theirs, X, lengths, **params):
    ours, theirs = _set(ours, **params), _set(theirs, **params)
    ours.fit(X, lengths)
    theirs.fit(X, lengths)
    return ours, theirs


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
def test_gaussian_em_trajectory_matches_hmmlearn(covariance_type, data, chain):
    means = np.random.default_rng(2).normal(size=(K, D))
    kwargs = dict(n_components=K, covariance_type=covariance_type, init_params="", n_iter=8,
                  tol=-np.inf)
    ours, theirs = _fit_both(GaussianHMM(**kwargs), hmmlearn.GaussianHMM(**kwargs), data, LENGTHS,
                             startprob_=chain[0], transmat_=chain[1], means_=means,
                             covars_=GAUSSIAN_COVARS[covariance_type])
    assert len(ours.monitor_.history) == 8
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, rtol=0,
                               atol=TRAJECTORY_ATOL)
    np.testing.assert_allclose(ours.transmat_, theirs.transmat_, atol=1e-10)
    np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-10)
    # hmmlearn keeps spherical variances tiled over features, (K, D).
    theirs_covars = theirs._covars_[:, 0] if covariance_type == "spherical" else theirs._covars_
    np.testing.assert_allclose(ours._covars_, theirs_covars, atol=1e-10)


def test_random_initialization_matches_hmmlearn(data):
    """Same random_state → same start, transitions, k-means means and covariances as hmmlearn."""
    ours, theirs = _fit_both(GaussianHMM(K, "full", random_state=3, n_iter=5),
                             hmmlearn.GaussianHMM(K, "full", random_state=3, n_iter=5),
                             data, LENGTHS)
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, atol=TRAJECTORY_ATOL)


def test_categorical_em_trajectory_matches_hmmlearn(chain):
    rng = np.random.default_rng(4)
    X = rng.integers(0, 4, size=(sum(LENGTHS), 1))
    kwargs = dict(n_components=K, init_params="", n_iter=8, tol=-np.inf, n_features=4,
                  emissionprob_prior=1.5)
    ours, theirs = _fit_both(CategoricalHMM(**kwargs), hmmlearn.CategoricalHMM(**kwargs), X, LENGTHS,
                             startprob_=chain[0], transmat_=chain[1],
                             emissionprob_=rng.dirichlet(np.ones(4), K))
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, atol=TRAJECTORY_ATOL)
    np.testing.assert_allclose(ours.emissionprob_, theirs.emissionprob_, atol=1e-10)


GMM_COVARS = {
    "diag": np.full((K, 2, D), 1.5),
    "spherical": np.full((K, 2), 1.5),
    "full": np.tile(np.eye(D) * 1.5 + 0.3, (K, 2, 1, 1)),
    "tied": np.tile(np.eye(D) * 1.5 + 0.3, (K, 1, 1)),
}


@pytest.mark.parametrize("params", ["stwc", "stwm"])
@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
def test_gmmhmm_em_trajectory_matches_hmmlearn(covariance_type, params, data, chain):
    """hmmlearn 0.3 updates covariances about the previous means; with means or covariances
    held fixed that is the exact M-step, so trajectories must agree there."""
    # hmmlearn's default spherical prior is maximum likelihood only when n_mix == n_features;
    # pass the maximum-likelihood value explicitly to both.
    covars_prior = -(D + 2) / 2 if covariance_type == "spherical" else None
    kwargs = dict(n_components=K, n_mix=2, covariance_type=covariance_type, init_params="",
                  params=params, n_iter=6, tol=-np.inf, covars_prior=covars_prior)
    ours, theirs = _fit_both(GMMHMM(**kwargs), hmmlearn.GMMHMM(**kwargs), data, LENGTHS,
                             startprob_=chain[0], transmat_=chain[1],
                             weights_=np.array([[0.3, 0.7]] * K),
                             means_=np.random.default_rng(5).normal(size=(K, 2, D)),
                             covars_=GMM_COVARS[covariance_type])
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, atol=TRAJECTORY_ATOL)
    np.testing.assert_allclose(ours.weights_, theirs.weights_, atol=1e-10)


def test_sequences_without_transitions_keep_the_transition_rows(data):
    """Length-1 sequences give no transition counts: hmmlearn zeroes the rows (an invalid
    model); here they keep their values, and the log-likelihoods still match hmmlearn."""
    lengths = [1] * len(data)
    ours, theirs = _fit_both(GaussianHMM(2, "diag", random_state=0, n_iter=4),
                             hmmlearn.GaussianHMM(2, "diag", random_state=0, n_iter=4), data, lengths)
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, atol=TRAJECTORY_ATOL)
    np.testing.assert_allclose(theirs.transmat_, 0.0)
    np.testing.assert_allclose(ours.transmat_.sum(axis=1), 1.0)
    assert ours.predict(data, lengths).shape == (len(data),)


def _left_right(n_states):
    transmat = np.diag(np.full(n_states, 0.7)) + np.diag(np.full(n_states - 1, 0.3), k=1)
    transmat[-1, -1] = 1.0
    return np.eye(n_states)[0], transmat


@pytest.mark.parametrize("topology", ["ergodic", "left-right"])
def test_decoding_and_posteriors_match_hmmlearn(topology, data, chain):
    startprob, transmat = chain if topology == "ergodic" else _left_right(K)
    params = dict(startprob_=startprob, transmat_=transmat,
                  means_=np.array([[0.0, 0.0], [2.0, 2.0], [-1.0, 1.0]]),
                  covars_=GAUSSIAN_COVARS["diag"])
    ours = _set(GaussianHMM(K, "diag"), **params)
    theirs = _set(hmmlearn.GaussianHMM(K, "diag"), **params)
    log_prob, states = ours.decode(data, LENGTHS)
    their_log_prob, their_states = theirs.decode(data, LENGTHS)
    assert log_prob == pytest.approx(their_log_prob, abs=1e-9)
    np.testing.assert_array_equal(states, their_states)
    np.testing.assert_allclose(ours.predict_proba(data, LENGTHS), theirs.predict_proba(data, LENGTHS),
                               atol=1e-10)
    assert ours.score(data, LENGTHS) == pytest.approx(theirs.score(data, LENGTHS), abs=1e-9)
    np.testing.assert_array_equal(ours.decode(data, LENGTHS, algorithm="map")[1],
                                  theirs.decode(data, LENGTHS, algorithm="map")[1])
    assert ours.aic(data, LENGTHS) == pytest.approx(theirs.aic(data, LENGTHS), abs=1e-8)
    assert ours.bic(data, LENGTHS) == pytest.approx(theirs.bic(data, LENGTHS), abs=1e-8)


def test_underflowing_frames_fall_back_to_log_space():
    """A first frame that only an unreachable state explains: the scaled pass underflows
    (z = 0) and reports it; the log-space fallback still matches hmmlearn."""
    params = dict(startprob_=np.array([1.0, 0.0]), transmat_=np.array([[0.5, 0.5], [0.0, 1.0]]),
                  means_=np.array([[0.0], [60.0]]), covars_=np.array([[1.0], [1.0]]))
    X = np.array([[60.0], [59.0], [61.0], [0.5]])
    ours = _set(GaussianHMM(2, "diag"), **params)
    theirs = _set(hmmlearn.GaussianHMM(2, "diag"), **params)
    packing = hmm_inference.pack_lanes([4])
    log_b = np.zeros((packing.n_frames_padded, 2))
    log_b[:4] = ours._log_frameprob(tf.constant(X)).numpy()
    lanes = (packing.frame_index, packing.start, packing.valid, packing.position)
    *_, scaled_ok = hmm_inference._scaled_forward_backward(
        tf.constant(params["startprob_"]), tf.constant(params["transmat_"]), tf.constant(log_b), *lanes)
    assert not bool(scaled_ok)
    assert np.isfinite(ours.score(X))
    assert ours.score(X) == pytest.approx(theirs.score(X), abs=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_never_decreases_the_log_likelihood(seed):
    rng = np.random.default_rng(seed)
    lengths = np.array([47, 22, 58, 35])  # fixed, so the seeds share compiled shapes
    X = rng.normal(size=(lengths.sum(), 3)) * rng.uniform(0.5, 3.0, size=3)
    symbols = rng.integers(0, 5, size=(lengths.sum(), 1))
    models = [
        (GaussianHMM(4, "full", n_iter=15, tol=-np.inf, random_state=seed), X),
        (GaussianHMM(4, "spherical", n_iter=15, tol=-np.inf, random_state=seed), X),
        (CategoricalHMM(3, n_iter=15, tol=-np.inf, random_state=seed), symbols),
        (GMMHMM(2, n_mix=3, covariance_type="diag", n_iter=15, tol=-np.inf, random_state=seed), X),
    ]
    for model, observations in models:
        history = np.array(model.fit(observations, lengths).monitor_.history)
        gains = np.diff(history)
        assert np.all(gains >= -1e-8 * np.abs(history[1:])), (type(model).__name__, gains)
        assert model.monitor_.decreases == []


def test_distribution_log_prob_agrees(data):
    gaussian_model = GaussianHMM(K, "full", n_iter=3, random_state=0).fit(data, LENGTHS)
    symbols = np.random.default_rng(6).integers(0, 4, size=(80, 1))
    categorical = CategoricalHMM(2, n_iter=3, random_state=0).fit(symbols)
    mixture = GMMHMM(2, n_mix=2, covariance_type="tied", n_iter=3, random_state=0).fit(data)
    for model, X in [(gaussian_model, data[:50]), (categorical, symbols), (mixture, data[:50])]:
        X_tfp = X[:, 0] if isinstance(model, CategoricalHMM) else X
        expected = float(model.distribution(len(X)).log_prob(X_tfp))
        assert model.score(X) == pytest.approx(expected, rel=1e-10), type(model).__name__


def _long_sequence_agrees_with_tfp(n_steps):
    rng = np.random.default_rng(7)
    model = _set(GaussianHMM(4, "diag"), startprob_=np.full(4, 0.25),
                 transmat_=rng.dirichlet(np.ones(4) * 2, 4) * 0.5 + np.eye(4) * 0.5,
                 means_=rng.normal(size=(4, 3)) * 2, covars_=rng.uniform(0.5, 2.0, size=(4, 3)))
    X, _ = model.sample(n_steps, random_state=8)
    log_likelihood = model.score(X)
    assert np.isfinite(log_likelihood) and log_likelihood < -n_steps  # far below exp() range
    # tfp's log_prob compiled with XLA: eager takes minutes at 10⁶ steps.
    expected = float(tf.function(model.distribution(n_steps).log_prob, jit_compile=True)(X))
    assert log_likelihood == pytest.approx(expected, rel=1e-9)


def test_long_sequence_does_not_underflow():
    _long_sequence_agrees_with_tfp(20_000)


@pytest.mark.slow
def test_million_frame_sequence_does_not_underflow():
    _long_sequence_agrees_with_tfp(1_000_000)


def test_float32_scores_close_to_float64(data):
    model = GaussianHMM(K, "diag", n_iter=5, random_state=0).fit(data, LENGTHS)
    single = _set(GaussianHMM(K, "diag", dtype="float32"), startprob_=model.startprob_,
                  transmat_=model.transmat_, means_=model.means_, covars_=model._covars_)
    assert single.score(data, LENGTHS) == pytest.approx(model.score(data, LENGTHS), rel=1e-5)
    np.testing.assert_allclose(single.predict_proba(data, LENGTHS),
                               model.predict_proba(data, LENGTHS), atol=1e-4)


def test_sample_follows_the_chain(chain):
    model = _set(GaussianHMM(K, "diag"), startprob_=chain[0], transmat_=chain[1],
                 means_=np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]), covars_=GAUSSIAN_COVARS["diag"])
    X, states = model.sample(20_000, random_state=9)
    assert X.shape == (20_000, D) and states.shape == (20_000,)
    counts = np.zeros((K, K))
    np.add.at(counts, (states[:-1], states[1:]), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), chain[1], atol=0.03)
    for k in range(K):
        np.testing.assert_allclose(X[states == k].mean(0), model.means_[k], atol=0.1)
        np.testing.assert_allclose(X[states == k].var(0), model._covars_[k], rtol=0.1)
    continued, _ = model.sample(3, random_state=10, currstate=2)
    assert continued.shape == (3, D)


def test_pack_lanes_places_every_frame_once():
    lengths = np.random.default_rng(11).integers(1, 300, size=500)
    packing = hmm_inference.pack_lanes(lengths)
    S, L = packing.frame_index.shape
    assert S >= lengths.max() and packing.valid.sum() == lengths.sum()
    frames = packing.frame_index[packing.valid]
    np.testing.assert_array_equal(np.sort(frames), np.arange(lengths.sum()))
    np.testing.assert_array_equal(packing.frame_index.ravel()[packing.position[:lengths.sum()]],
                                  np.arange(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    np.testing.assert_array_equal(np.sort(packing.frame_index[packing.start]), offsets)
    np.testing.assert_array_equal(packing.frame_index.ravel()[packing.last_position],
                                  offsets + lengths - 1)


def test_bad_input_gets_clear_errors(data):
    model = GaussianHMM(K, "diag", n_iter=2, random_state=0)
    bad = data.copy()
    bad[[4, 17]] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"2 row\(s\): \[4, 17\]"):
        model.fit(bad)
    with pytest.raises(ValueError, match="lengths sum to 159 but X has 160 rows"):
        model.fit(data, [50, 80, 29])
    with pytest.raises(ValueError, match="n_components=3 is more than the 2 samples"):
        model.fit(data[:2])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.predict(data)
    model.fit(data, LENGTHS)
    with pytest.raises(ValueError, match="X has 3 features but this model has n_features=2"):
        model.predict(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        model.decode(data, algorithm="beam")
    with pytest.raises(ValueError, match="symbols must be integers"):
        CategoricalHMM(2).fit(np.array([[0.5], [1.0]]))
    with pytest.raises(ValueError, match="transmat_ must be non-negative and sum to 1"):
        _set(GaussianHMM(2), startprob_=np.array([0.5, 0.5]), transmat_=np.ones((2, 2)),
             means_=np.zeros((2, 1)), covars_=np.ones((2, 1))).score(np.zeros((3, 1)))


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
def test_gmmhmm_component_without_frames_keeps_its_covariance(covariance_type, data):
    """A mixture component no frame visits (zero weight) has zero expected count: its covariance
    stays as it was (it once became 0.01 / 0 = inf for diag)."""
    covars = GMM_COVARS[covariance_type][:1]
    model = GMMHMM(1, n_mix=2, covariance_type=covariance_type, init_params="", params="mc", n_iter=2)
    model.startprob_, model.transmat_ = np.ones(1), np.ones((1, 1))
    model.weights_ = np.array([[1.0, 0.0]])
    model.means_ = np.array([[[0.0, 0.0], [50.0, 50.0]]])
    model.covars_ = covars.copy()
    model.fit(data, LENGTHS)
    assert np.all(np.isfinite(model.covars_))
    if covariance_type != "tied":  # tied: one matrix per state, shared with the visited component
        np.testing.assert_allclose(model.covars_[0, 1], covars[0, 1])
        assert not np.allclose(model.covars_[0, 0], covars[0, 0])


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
@pytest.mark.parametrize("family", ["GaussianHMM", "GMMHMM"])
def test_singular_covariance_is_regularized_and_logged(family, covariance_type, caplog):
    """Constant data and no covariance prior: the M-step's covariance is singular. EM carries on
    with ``min_covar`` on the diagonal (variances: in place of zeros) and says so, as hmmlearn
    does with its ridge, instead of ending in a NaN log-likelihood."""
    X = np.zeros((20, 2))
    if family == "GaussianHMM":
        model = GaussianHMM(1, covariance_type, covars_prior=0.0, n_iter=3, init_params="", min_covar=1e-3)
        model.means_ = np.ones((1, 2))
        model.covars_ = {"diag": np.ones((1, 2)), "spherical": np.ones(1), "full": np.eye(2)[None],
                         "tied": np.eye(2)}[covariance_type]
    else:
        model = GMMHMM(1, n_mix=1, covariance_type=covariance_type, n_iter=3, init_params="", min_covar=1e-3)
        model.weights_, model.means_ = np.ones((1, 1)), np.ones((1, 1, 2))
        model.covars_ = {"diag": np.ones((1, 1, 2)), "spherical": np.ones((1, 1)),
                         "full": np.eye(2)[None, None], "tied": np.eye(2)[None]}[covariance_type]
    model.startprob_, model.transmat_ = np.ones(1), np.ones((1, 1))
    with caplog.at_level("WARNING", logger="tfspeech.probabilistic.hmm"):
        model.fit(X)
    assert any("min_covar=0.001" in record.getMessage() for record in caplog.records)
    assert np.all(np.isfinite(model.monitor_.history))
    variances = np.diagonal(model.covars_, axis1=-2, axis2=-1) if covariance_type in ("full", "tied") \
        or family == "GaussianHMM" else model.covars_
    np.testing.assert_allclose(variances, 1e-3)  # zero scatter + the ridge
    assert model.score(X) > 0  # a density concentrated at the data


def test_logs_what_hmmlearn_logs(data, caplog):
    """Same logger meaning as hmmlearn: init_params overwrites a value the user set; fewer data
    values than free parameters."""
    model = GaussianHMM(K, n_iter=1, random_state=0)
    model.startprob_ = np.full(K, 1.0 / K)
    with caplog.at_level("WARNING", logger="tfspeech.probabilistic.hmm"):
        model.fit(data)
    assert ["will be overwritten" in r.getMessage() and "'startprob_'" in r.getMessage()
            for r in caplog.records] == [True]
    caplog.clear()
    with caplog.at_level("WARNING", logger="tfspeech.probabilistic.hmm"):
        GaussianHMM(K, "full", n_iter=1, random_state=0).fit(data[:6])
    assert [r.getMessage() for r in caplog.records] == [
        "Fitting a model with 23 free scalar parameters with only 12 data points will result in a "
        "degenerate solution."]  # 2 + 6 start/transitions, 6 means, 9 covariance entries


def test_a_users_own_monitor_is_kept(data):
    class Recorder(hmm_module.ConvergenceMonitor):
        reports = []

        def report(self, log_prob):
            self.reports.append(log_prob)
            super().report(log_prob)

    model = GaussianHMM(K, n_iter=4, tol=-np.inf, random_state=0)
    model.monitor_ = Recorder(model.tol, model.n_iter)
    model.fit(data, LENGTHS)
    assert isinstance(model.monitor_, Recorder) and len(Recorder.reports) == 4 == model.monitor_.iter


def test_covariance_type_is_checked_at_fit_not_construction(data):
    model = GMMHMM(2, covariance_type="banded")  # set_params / clone must be able to build it
    with pytest.raises(ValueError, match=r"covariance_type must be one of \('full', 'tied', 'diag', 'spherical'\), got 'banded'"):
        model.fit(data)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianHMM(2, covariance_type="banded").fit(data)


def test_spherical_covars_take_k_variances_in_any_shape():
    model = GaussianHMM(2, "spherical")
    model.covars_ = np.array([[[[4.0]]], [[[3.0]]]])
    model.means_ = np.array([[3.0], [5.0]])
    np.testing.assert_array_equal(model.covars_, [[[4.0]], [[3.0]]])
