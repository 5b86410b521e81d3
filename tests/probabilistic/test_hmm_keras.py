"""GaussianHMMDensity: agreement with the EM estimator, gradient training, saving and export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export
from tfspeech.probabilistic import GMMHMM, GaussianHMM, GaussianHMMDensity

K, D, BATCH, T = 2, 2, 8, 40


@pytest.fixture(scope="module")
def generator():
    model = GaussianHMM(K, "full")
    model.startprob_ = np.array([0.6, 0.4])
    model.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    model.means_ = np.array([[0.0, 0.0], [3.0, 1.0]])
    model.covars_ = np.array([[[1.0, 0.3], [0.3, 1.0]], [[0.5, 0.0], [0.0, 0.8]]])
    return model


@pytest.fixture(scope="module")
def sequences(generator):
    """(BATCH, T, D) float32 sequences sampled from the generator."""
    return np.stack([generator.sample(T, random_state=seed)[0] for seed in range(BATCH)]).astype(np.float32)


def _fitted(covariance_type, sequences, n_iter=5):
    X = sequences.reshape(-1, D).astype(np.float64)
    return GaussianHMM(K, covariance_type, n_iter=n_iter, random_state=0).fit(X, [T] * BATCH)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_log_likelihood_matches_the_estimator(covariance_type, sequences):
    hmm = _fitted(covariance_type, sequences)
    model = hmm.to_keras()
    expected = hmm.score_sequences(sequences.reshape(-1, D), [T] * BATCH)
    np.testing.assert_allclose(model(sequences).numpy(), expected, rtol=2e-6)
    back = GaussianHMM.from_keras(model)
    np.testing.assert_allclose(back.transmat_, hmm.transmat_, rtol=1e-5)
    np.testing.assert_allclose(back.covars_, hmm.covars_, rtol=1e-5, atol=1e-6)


def test_mask_skips_padding_frames(sequences):
    hmm = _fitted("diag", sequences)
    lengths = np.array([T, 25, 10, T, 33, 1, 17, 40])
    mask = np.arange(T)[None, :] < lengths[:, None]
    padded = np.where(mask[..., None], sequences, 1e3).astype(np.float32)
    rows = np.concatenate([sequences[i, :n] for i, n in enumerate(lengths)])
    np.testing.assert_allclose(hmm.to_keras()(padded, mask=mask).numpy(),
                               hmm.score_sequences(rows, lengths), rtol=2e-6)


def test_viterbi_matches_the_estimator(sequences):
    hmm = _fitted("full", sequences)
    log_prob, states = hmm.to_keras().viterbi(sequences)
    expected_log_prob, expected_states = hmm.decode(sequences.reshape(-1, D), [T] * BATCH)
    np.testing.assert_array_equal(states.numpy().ravel(), expected_states)
    assert float(tf.reduce_sum(log_prob)) == pytest.approx(expected_log_prob, rel=1e-6)


def test_gradient_training_reaches_the_em_optimum(sequences):
    """Adam on the per-frame NLL from EM's initial point ends near EM's log-likelihood."""
    X = sequences.reshape(-1, D).astype(np.float64)
    em = GaussianHMM(K, "diag", n_iter=100, tol=1e-6, random_state=1).fit(X, [T] * BATCH)
    start = GaussianHMM(K, "diag", n_iter=1, random_state=1)
    start._init(X, [T] * BATCH)
    model = start.to_keras()
    initial = float(tf.reduce_mean(model(sequences))) / T
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    history = model.fit(sequences, epochs=100, batch_size=BATCH, verbose=0).history["loss"]
    final = float(tf.reduce_mean(model(sequences))) / T
    em_per_frame = em.score(X, [T] * BATCH) / len(X)
    assert history[0] == pytest.approx(-initial, rel=1e-5)  # the loss is the NLL per frame
    assert final > initial + 0.2
    assert final == pytest.approx(em_per_frame, abs=0.01)


def test_keras_file_round_trip(sequences, tmp_path):
    model = _fitted("tied", sequences).to_keras()
    rebuilt = GaussianHMMDensity.from_config(model.get_config())
    assert rebuilt.covariance_type == "tied" and rebuilt.n_components == K
    model.save(tmp_path / "hmm.keras")
    reloaded = keras.saving.load_model(tmp_path / "hmm.keras")
    assert isinstance(reloaded, GaussianHMMDensity)
    np.testing.assert_array_equal(reloaded(sequences).numpy(), model(sequences).numpy())


def test_export_signatures_and_tflite_parity(sequences, tmp_path):
    model = _fitted("full", sequences).to_keras()
    signatures = model.export_signatures()
    assert set(signatures) == {"score", "viterbi"}
    outputs = signatures["viterbi"](tf.constant(sequences))
    assert outputs["states"].dtype == tf.int32 and outputs["states"].shape == (BATCH, T)
    report = export.tflite(model, tmp_path / "hmm.tflite",
                           representative_data={"score": [sequences[:2]], "viterbi": [sequences[:2]]})
    assert report.passed and not report.flex_ops
    assert {(o.signature, o.output) for o in report.outputs} == {
        ("score", "log_likelihood"), ("viterbi", "log_prob"), ("viterbi", "states")}


def test_large_precision_factors_stay_finite():
    """exp() of a large off-diagonal precision-Cholesky entry overflows float32; it once made
    every log-likelihood NaN (inf * 0)."""
    prec_chol = np.triu(np.full((D, D), 500.0), 1) + np.diag([1.0, 2.0])
    covariance = np.linalg.inv(prec_chol @ prec_chol.T)
    model = GaussianHMMDensity(1, D, "full")
    model.set_hmm([1.0], [[1.0]], np.zeros((1, D)), covariance[np.newaxis])
    x = np.random.default_rng(1).normal(scale=1e-3, size=(1, 5, D))
    whitened = x[0] @ prec_chol
    expected = 5 * (-np.log(2 * np.pi) + np.log(np.diag(prec_chol)).sum()) - 0.5 * (whitened ** 2).sum()
    np.testing.assert_allclose(float(model(x.astype(np.float32))[0]), expected, rtol=1e-3)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_gmm_hmm_to_keras_matches_the_estimator(covariance_type, sequences):
    hmm = GMMHMM(K, n_mix=2, covariance_type=covariance_type, n_iter=5, random_state=0)
    hmm.fit(sequences.reshape(-1, D).astype(np.float64), [T] * BATCH)
    model = hmm.to_keras()
    expected = hmm.score_sequences(sequences.reshape(-1, D), [T] * BATCH)
    np.testing.assert_allclose(model(sequences).numpy(), expected, rtol=2e-6)
    _, states = model.viterbi(sequences[:1])
    np.testing.assert_array_equal(states.numpy()[0], hmm.predict(sequences[0]))


def test_gmm_hmm_to_keras_refuses_full_covariances(sequences):
    hmm = GMMHMM(K, n_mix=2, covariance_type="full", n_iter=1, random_state=0)
    hmm.fit(sequences.reshape(-1, D).astype(np.float64), [T] * BATCH)
    with pytest.raises(ValueError, match="covariance_type='full'"):
        hmm.to_keras()
