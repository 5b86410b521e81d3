"""The numpy E-step (hmm_numpy) against the compiled one (hmm_inference), the choice between
them, and compile-once: a second estimator with the same shapes traces nothing."""

import numpy as np
import pytest
import tensorflow as tf

from tfspeech.probabilistic import CategoricalHMM, GaussianHMM, GMMHMM, hmm, hmm_inference, hmm_numpy

K = 3


def _chain(seed, left_right=False):
    rng = np.random.default_rng(seed)
    transmat = rng.dirichlet(np.ones(K), K)
    if left_right:
        transmat = np.triu(transmat + 0.1)
        transmat /= transmat.sum(axis=1, keepdims=True)
    return rng.dirichlet(np.ones(K)), transmat


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [None, 3, 7])
@pytest.mark.parametrize("left_right", [False, True])
def test_numpy_pass_equals_the_compiled_pass(dtype, chunk, left_right):
    """Sequences of mixed lengths (1 frame, several pieces, a short last piece), every output."""
    lengths = np.array([1, 17, 5, 30, 2, 9])
    startprob, transmat = _chain(0, left_right)
    log_b = (np.random.default_rng(1).normal(size=(lengths.sum(), K)) * 4).astype(dtype)
    packing = hmm_inference.pack_lanes(lengths)
    padded = np.zeros((packing.n_frames_padded, K), dtype)
    padded[:len(log_b)] = log_b
    lanes = (packing.frame_index, packing.start, packing.valid, packing.position)
    expected = hmm_inference.forward_backward(tf.constant(startprob, dtype), tf.constant(transmat, dtype),
                                              tf.constant(padded), *lanes)
    layout = hmm_numpy.Layout(lengths, chunk)
    *actual, ok = hmm_numpy.forward_backward(startprob, transmat, layout.from_rows(log_b), layout, dtype)
    assert ok
    assert actual[1].dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    assert actual[0] == pytest.approx(float(expected[0]), rel=tolerance)
    np.testing.assert_allclose(layout.to_rows(actual[1]), expected[1].numpy()[:len(log_b)], atol=tolerance * 10)
    np.testing.assert_allclose(actual[2], expected[2].numpy(), atol=tolerance * 10)
    np.testing.assert_allclose(actual[3], expected[3].numpy(), rtol=tolerance * 10, atol=tolerance * 10)
    per_sequence, ok = hmm_numpy.sequence_log_likelihoods(startprob, transmat, layout.from_rows(log_b), layout, dtype)
    increments = hmm_inference.frame_log_likelihoods(tf.constant(startprob, dtype), tf.constant(transmat, dtype),
                                                     tf.constant(padded), *lanes).numpy()[:len(log_b)]
    assert ok
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    np.testing.assert_allclose(per_sequence, np.add.reduceat(increments, offsets), rtol=tolerance)


@pytest.mark.parametrize("make", [
    lambda **kw: GaussianHMM(K, "full", n_iter=6, tol=-np.inf, random_state=0, **kw),
    lambda **kw: GaussianHMM(K, "spherical", n_iter=6, tol=-np.inf, random_state=0, dtype="float32", **kw),
    lambda **kw: GMMHMM(2, n_mix=2, covariance_type="diag", n_iter=6, tol=-np.inf, random_state=0, **kw),
    lambda **kw: CategoricalHMM(K, n_iter=6, tol=-np.inf, random_state=0, **kw),
])
def test_fit_score_and_decode_agree_with_and_without_xla(make):
    rng = np.random.default_rng(2)
    lengths = [40, 1, 75, 24]
    X = rng.normal(size=(sum(lengths), 2)) + np.repeat([0.0, 3.0], [60, 80])[:, None]
    if isinstance(make(), CategoricalHMM):
        X = rng.integers(0, 4, size=(sum(lengths), 1))
    compiled, eager = make(jit_compile=True).fit(X, lengths), make(jit_compile=False).fit(X, lengths)
    rtol = 1e-5 if compiled.dtype == "float32" else 1e-10
    np.testing.assert_allclose(eager.monitor_.history, compiled.monitor_.history, rtol=rtol)
    assert eager.score(X, lengths) == pytest.approx(compiled.score(X, lengths), rel=rtol)
    np.testing.assert_allclose(eager.predict_proba(X, lengths), compiled.predict_proba(X, lengths), atol=1e-4)
    np.testing.assert_array_equal(eager.predict(X, lengths), compiled.predict(X, lengths))


def test_automatic_choice_compiles_large_fits_and_known_shapes(monkeypatch):
    X = np.random.default_rng(3).normal(size=(200, 2))
    monkeypatch.setattr(hmm, "_COMPILED", set())
    small = GaussianHMM(K, n_iter=2, random_state=0).fit(X)
    assert not small._xla_pass  # 2 × 200 × 9 ≪ XLA_MIN_WORK: nothing compiled
    monkeypatch.setattr(hmm, "XLA_MIN_WORK", 2 * 200 * K ** 2)
    large = GaussianHMM(K, n_iter=2, random_state=0).fit(X)
    assert large._xla_pass
    monkeypatch.setattr(hmm, "XLA_MIN_WORK", 1e30)
    same_shapes = GaussianHMM(K, n_iter=1, random_state=0).fit(X)
    assert same_shapes._xla_pass  # compiled already: reuse it
    with pytest.raises(ValueError, match="jit_compile must be None"):
        GaussianHMM(K, jit_compile="yes").fit(X)


def _tracing_count():
    functions = [value for module in (hmm, hmm_inference) for value in vars(module).values()
                 if hasattr(value, "experimental_get_tracing_count")]
    return sum(function.experimental_get_tracing_count() for function in functions)


@pytest.mark.parametrize("jit_compile", [None, True])
def test_a_second_estimator_with_the_same_shapes_traces_nothing(jit_compile):
    """Compiled passes are module-level functions shared by all estimators: a new estimator with
    data of the same shapes (other values) reuses their traces and XLA executables."""
    rng = np.random.default_rng(4)
    lengths = [300, 200, 500]

    def fit(seed):
        X = np.random.default_rng(seed).normal(size=(sum(lengths), 4)) * rng.uniform(1, 2)
        return GaussianHMM(K, "diag", n_iter=3, random_state=seed, jit_compile=jit_compile).fit(X, lengths)

    fit(0)
    before = _tracing_count()
    second = fit(1)
    second.score_samples(np.zeros((sum(lengths), 4)), lengths)
    assert _tracing_count() == before
    if jit_compile:
        assert before > 0  # the first estimator did trace (the count sees these functions)
