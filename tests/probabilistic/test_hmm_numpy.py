"""The numpy E-step (hmm_numpy) against the compiled one (hmm_inference) and against a plain
frame-by-frame log-space recursion, the choice between them, and compile-once: a second
estimator with the same shapes traces nothing."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------- the numpy pass against a plain recursion
def _log_space_reference(startprob, transmat, log_b, lengths):
    """The textbook log-space forward-backward, sequence by sequence and frame by frame:
    ``(log-likelihood of each sequence, posteriors (N, K), start counts, transition counts)``."""
    from scipy.special import logsumexp

    with np.errstate(divide="ignore"):
        log_start, log_transmat = np.log(startprob), np.log(transmat)
    K = len(startprob)
    log_likelihoods, posteriors = [], []
    start_counts, log_pairs = np.zeros(K), np.full((K, K), -np.inf)
    for first in np.cumsum(lengths) - lengths:
        frames = log_b[first:first + lengths[len(log_likelihoods)]]
        forward, backward = np.empty_like(frames), np.zeros_like(frames)
        forward[0] = log_start + frames[0]
        for t in range(1, len(frames)):
            forward[t] = logsumexp(forward[t - 1][:, None] + log_transmat, axis=0) + frames[t]
        for t in range(len(frames) - 2, -1, -1):
            backward[t] = logsumexp(log_transmat + frames[t + 1] + backward[t + 1], axis=1)
        total = logsumexp(forward[-1])
        log_likelihoods.append(total)
        posteriors.append(np.exp(forward + backward - total))
        start_counts += posteriors[-1][0]
        for t in range(len(frames) - 1):
            log_pairs = np.logaddexp(log_pairs, forward[t][:, None] + log_transmat
                                     + frames[t + 1] + backward[t + 1] - total)
    return np.array(log_likelihoods), np.concatenate(posteriors), start_counts, np.exp(log_pairs)


def _check_against_reference(startprob, transmat, log_b, lengths, piece, dtype, rtol):
    layout = hmm_numpy.Layout(lengths, piece, n_states=len(startprob))
    log_likelihood, posteriors, start_counts, transitions, ok = hmm_numpy.forward_backward(
        startprob, transmat, layout.from_rows(log_b), layout, dtype)
    per_sequence, ok_forward = hmm_numpy.sequence_log_likelihoods(
        startprob, transmat, layout.from_rows(log_b), layout, dtype)
    expected = _log_space_reference(startprob, transmat, log_b, np.asarray(lengths))
    assert ok and ok_forward
    assert posteriors.dtype == transitions.dtype == dtype  # float32 stays float32
    scale = np.abs(expected[0]).sum() + 1
    assert abs(log_likelihood - expected[0].sum()) <= rtol * scale
    np.testing.assert_allclose(per_sequence, expected[0], rtol=rtol, atol=rtol * scale / len(lengths))
    np.testing.assert_allclose(layout.to_rows(posteriors), expected[1], atol=100 * rtol)
    np.testing.assert_allclose(start_counts, expected[2], atol=100 * rtol)
    np.testing.assert_allclose(transitions, expected[3], atol=100 * rtol * max(1, sum(lengths) / 100))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-11), (np.float32, 2e-6)])
@pytest.mark.parametrize("lengths,piece", [([1], None), ([7], 1), ([50], 7), ([40, 40], 8), ([1, 17, 5, 30, 2, 9], 3),
                                           ([300, 1, 299], None), ([1000], 32)])
def test_pieces_equal_the_plain_recursion(lengths, piece, dtype, rtol):
    """Every piece length (1 frame, exact multiples, a short padded last piece, sequences of one
    frame among long ones) gives the frame-by-frame log-space recursion's results."""
    K = 4
    rng = np.random.default_rng(len(lengths) + sum(lengths))
    startprob, transmat = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), K)
    log_b = rng.normal(size=(sum(lengths), K)) * 4
    _check_against_reference(startprob, transmat, log_b, lengths, piece, dtype, rtol)



@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=4), piece=st.integers(1, 12) | st.none(),
       n_states=st.integers(1, 4), scale=st.floats(0.1, 30), seed=st.integers(0, 2 ** 16),
       sparse=st.booleans())
def test_pieces_equal_the_plain_recursion_on_random_chains(lengths, piece, n_states, scale, seed, sparse):
    """Random chains (some with zero transitions and start probabilities), emissions over a wide
    range of scales, any piece length: the chunked pass is the plain recursion (float64)."""
    rng = np.random.default_rng(seed)
    startprob, transmat = rng.dirichlet(np.ones(n_states)), rng.dirichlet(np.ones(n_states), n_states)
    if sparse and n_states > 1:
        transmat = transmat * (rng.random((n_states, n_states)) < 0.7) + np.eye(n_states) * 0.1
        transmat /= transmat.sum(axis=1, keepdims=True)
        startprob = np.eye(n_states)[0]
    log_b = rng.normal(size=(sum(lengths), n_states)) * scale
    _check_against_reference(startprob, transmat, log_b, lengths, piece, np.float64, 1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_sequences_do_not_underflow(dtype):
    """20,000 frames whose unscaled probabilities would underflow ≈ 3,000 times over (log L
    ≈ −2e6), in both dtypes, against the log-space pass of hmm_inference (exact)."""
    K, lengths = 5, [20_000, 1, 3_000]
    rng = np.random.default_rng(7)
    startprob, transmat = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), K)
    log_b = (rng.normal(size=(sum(lengths), K)) * 20 - 100).astype(dtype)
    packing = hmm_inference.pack_lanes(lengths)
    padded = np.zeros((packing.n_frames_padded, K), dtype)
    padded[:len(log_b)] = log_b
    expected = hmm_inference._log_forward_backward(
        tf.math.log(tf.constant(startprob, tf.float64)), tf.math.log(tf.constant(transmat, tf.float64)),
        tf.constant(padded, tf.float64), packing.frame_index, packing.start, packing.valid, packing.position)
    layout = hmm_numpy.Layout(lengths, n_states=K)
    assert layout.grid.shape[0] > 1  # several pieces per long sequence: the transfer matrices run
    log_likelihood, posteriors, start_counts, transitions, ok = hmm_numpy.forward_backward(
        startprob, transmat, layout.from_rows(log_b), layout, dtype)
    assert ok
    assert log_likelihood < -1.5e6
    rtol = 1e-12 if dtype == np.float64 else 1e-7
    assert log_likelihood == pytest.approx(float(expected[0]), rel=rtol)
    atol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(layout.to_rows(posteriors), expected[1].numpy()[:len(log_b)], atol=atol)
    np.testing.assert_allclose(transitions, expected[3].numpy(), rtol=100 * rtol, atol=atol * 100)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dtype_given_by_name_is_kept(dtype):
    """The estimators pass their ``dtype`` string: float32 stays float32, float64 is not copied."""
    lengths = [30, 12]
    rng = np.random.default_rng(8)
    startprob, transmat = _chain(8)
    layout = hmm_numpy.Layout(lengths, 8)
    log_b = layout.from_rows(rng.normal(size=(sum(lengths), K)))
    _, posteriors, start_counts, transitions, ok = hmm_numpy.forward_backward(startprob, transmat, log_b, layout, dtype)
    assert ok and posteriors.dtype == start_counts.dtype == transitions.dtype == np.dtype(dtype)
    expected = hmm_numpy.forward_backward(startprob, transmat, log_b, layout, np.dtype(dtype))
    np.testing.assert_array_equal(posteriors, expected[1])


def test_unreachable_frames_are_reported_not_returned():
    """A frame that no reachable state can emit makes the pass say so (the estimator then runs
    the log-space pass), with no numpy warning."""
    startprob, transmat = np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]])
    log_b = np.zeros((300, 2))
    log_b[150, 0] = -np.inf  # state 0 cannot emit frame 150, and state 1 is never reached
    for piece in (None, 16):
        layout = hmm_numpy.Layout([300], piece)
        with np.errstate(all="raise"):
            assert not hmm_numpy.forward_backward(startprob, transmat, layout.from_rows(log_b), layout)[-1]
            assert not hmm_numpy.sequence_log_likelihoods(startprob, transmat, layout.from_rows(log_b), layout)[-1]


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=5), piece=st.integers(1, 10) | st.none())
def test_layout_places_every_frame_once(lengths, piece):
    layout = hmm_numpy.Layout(lengths, piece)
    rows = np.arange(sum(lengths) * 2, dtype=np.float64).reshape(-1, 2) + 1
    slots = layout.from_rows(rows)
    assert slots.shape == (layout.length, 2, layout.n_pieces)
    np.testing.assert_array_equal(layout.to_rows(slots), rows)
    assert np.count_nonzero(slots) == rows.size  # padding slots are zero
    assert layout.first.sum() == len(lengths)


def test_piece_length_follows_the_cost_model():
    assert hmm_numpy.piece_length([1000] * 100) == 1000  # many short sequences: one piece each
    assert hmm_numpy.piece_length([5]) == 5
    long = hmm_numpy.piece_length([20_000])
    assert 40 <= long <= 400  # ≈ √T: both the steps within and between pieces stay few


def test_diagonal_design_gives_the_gaussian_log_densities_and_statistics():
    from tfspeech.probabilistic import gaussian

    rng = np.random.default_rng(5)
    lengths, D = [13, 40, 2], 3
    X = rng.normal(size=(sum(lengths), D)) * 3
    means, variances = rng.normal(size=(K, D)), rng.uniform(0.5, 2, (K, D))
    layout = hmm_numpy.Layout(lengths, 8)
    design = hmm_numpy.diagonal_design(X, layout)
    expected = gaussian.log_prob(tf.constant(X), tf.constant(means), tf.constant(variances), "diag").numpy()
    np.testing.assert_allclose(layout.to_rows(hmm_numpy.diagonal_gaussian_log_prob(design, means, variances)),
                               expected, rtol=1e-12, atol=1e-10)
    posteriors = rng.dirichlet(np.ones(K), len(X))
    nk, first, second = hmm_numpy.diagonal_statistics(design, layout.from_rows(posteriors), means)
    np.testing.assert_allclose(nk, posteriors.sum(axis=0))
    np.testing.assert_allclose(first, np.einsum("nk,nkd->kd", posteriors, X[:, None] - means))
    np.testing.assert_allclose(second, np.einsum("nk,nkd->kd", posteriors, (X[:, None] - means) ** 2))
