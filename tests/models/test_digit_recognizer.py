"""DigitRecognizer: agreement with the EM estimators (single Gaussian and mixtures per state),
old presets, saving, fine-tuning, export, and the zoo preset."""

import json

import keras
import numpy as np
import pytest

from tfspeech import export
from tfspeech.models.digit_recognizer import DigitRecognizer, digit_features
from tfspeech.probabilistic.hmm_keras import DiagonalGMMHMMDensity
from tfspeech.probabilistic import GMMHMM, GaussianHMM
from tfspeech.probabilistic.hmm_keras import GaussianHMMDensity

WORDS = ("low", "mid", "high")
STATES, FEATURES, T = 3, 4, 20
# Dirichlet priors > 1 keep every probability above zero (the Keras model floors zeros at 1e-30).
PRIORS = dict(startprob_prior=1.5, transmat_prior=1.5)


def _word_sequences(word_index, n, rng):
    """``n`` sequences ``(T, FEATURES)`` walking three levels that depend on the word; every other
    sequence is offset by +-0.8 in the first feature, so each state's frames are bimodal."""
    levels = np.repeat(np.arange(STATES), -(-T // STATES))[:T]
    offset = np.array([0.8, 0, 0, 0])
    return [(word_index * 2.0 + levels[:, None] * (1 + word_index) * 0.5 + (-1) ** i * offset
             + 0.3 * rng.standard_normal((T, FEATURES))) for i in range(n)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {i: _word_sequences(i, 6, rng) for i in range(len(WORDS))}


def _fit(estimator, sequences):
    return estimator.fit(np.concatenate(sequences), [T] * len(sequences))


@pytest.fixture(scope="module")
def gaussian_hmms(data):
    return [_fit(GaussianHMM(STATES, "diag", n_iter=5, random_state=0, **PRIORS), seqs) for seqs in data.values()]


@pytest.fixture(scope="module")
def mixture_hmms(data):
    return [_fit(GMMHMM(STATES, n_mix=2, covariance_type="diag", n_iter=5, random_state=0, weights_prior=1.5,
                        **PRIORS), seqs) for seqs in data.values()]


def _recognizer(hmms):
    recognizer = DigitRecognizer(WORDS, n_states=STATES, n_features=FEATURES, n_mix=getattr(hmms[0], "n_mix", 1))
    recognizer.set_word_hmms(hmms)
    return recognizer


@pytest.fixture(params=["gaussian_hmms", "mixture_hmms"])
def hmms(request):
    """Per-word estimators: diag GaussianHMM (n_mix=1) or 2-component diag GMMHMM."""
    return request.getfixturevalue(request.param)


@pytest.fixture()
def model(hmms):
    return _recognizer(hmms)


@pytest.fixture()
def mixture_model(mixture_hmms):
    """Gradient steps and export: the single-Gaussian word HMMs are covered in tests/probabilistic."""
    return _recognizer(mixture_hmms)


def _batch(data):
    x = np.stack([seq for seqs in data.values() for seq in seqs[:2]]).astype(np.float32)
    y = np.repeat(np.arange(len(WORDS)), 2)
    return x, y


def test_scores_match_each_word_estimator_and_recognize(model, hmms, data):
    x, y = _batch(data)
    scores = model(x).numpy()
    assert scores.shape == (len(x), len(WORDS))
    for i, hmm in enumerate(hmms):
        expected = hmm.score_sequences(x.reshape(-1, FEATURES).astype(np.float64), [T] * len(x))
        np.testing.assert_allclose(scores[:, i], expected, rtol=1e-4)
    assert model.predict_words(x) == [WORDS[i] for i in y]


def test_one_component_mixture_is_the_gaussian_hmm(data, gaussian_hmms):
    """The mixture density with n_mix=1 scores and decodes as the single-Gaussian one, and a
    one-component GMMHMM converts to the single-Gaussian layout with the same scores."""
    x, _ = _batch(data)
    hmm = gaussian_hmms[1]
    gaussian = hmm.to_keras()
    mixture = DiagonalGMMHMMDensity(STATES, 1, FEATURES)
    mixture.set_gmm_hmm(hmm.startprob_, hmm.transmat_, np.ones((STATES, 1)), hmm.means_[:, None],
                        hmm._covars_[:, None])
    np.testing.assert_allclose(mixture(x), gaussian(x), rtol=1e-5)
    np.testing.assert_array_equal(mixture.viterbi(x)[1], gaussian.viterbi(x)[1])

    gmm_hmm = _fit(GMMHMM(STATES, n_mix=1, covariance_type="diag", n_iter=5, random_state=0, **PRIORS), data[1])
    recognizer = DigitRecognizer(WORDS, n_states=STATES, n_features=FEATURES)
    recognizer.set_word_hmms([gmm_hmm] * len(WORDS))
    assert all(type(density) is GaussianHMMDensity for density in recognizer.word_hmms)
    expected = gmm_hmm.score_sequences(x.reshape(-1, FEATURES).astype(np.float64), [T] * len(x))
    np.testing.assert_allclose(recognizer(x).numpy()[:, 0], expected, rtol=1e-4)


def test_preset_saved_before_n_mix_existed_loads_and_scores_the_same(tmp_path, data, gaussian_hmms):
    """Old presets have no ``n_mix`` in their config: they must build the single-Gaussian layout
    and load their weights file unchanged."""
    from tfspeech import zoo

    x, _ = _batch(data)
    model = _recognizer(gaussian_hmms)
    zoo.save_preset(model, "old-digits", root=tmp_path, data={"fingerprint": "test"},
                    training={"command": "test"}, metrics={})
    preset_file = tmp_path / "old-digits" / "preset.json"
    preset = json.loads(preset_file.read_text())
    del preset["config"]["n_mix"]
    preset_file.write_text(json.dumps(preset))
    loaded = zoo.load("old-digits", root=tmp_path)
    assert loaded.n_mix == 1 and all(type(density) is GaussianHMMDensity for density in loaded.word_hmms)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_mask_skips_padding(model, data):
    x, _ = _batch(data)
    padded = np.concatenate([x, np.full((len(x), 5, FEATURES), 50.0, np.float32)], axis=1)
    mask = np.arange(T + 5) < T
    np.testing.assert_allclose(model(padded, mask=np.tile(mask, (len(x), 1))), model(x), rtol=1e-5)


def test_viterbi_picks_best_path_word(model, data):
    x, _ = _batch(data)
    word, states, log_prob = (t.numpy() for t in model.viterbi(x))
    np.testing.assert_array_equal(word, np.argmax(log_prob, axis=-1))
    assert np.all(log_prob <= model(x).numpy() + 1e-3)  # one path never beats all paths
    for b in range(len(x)):
        _, best = model.word_hmms[word[b]].viterbi(x[b:b + 1])
        np.testing.assert_array_equal(states[b], best.numpy()[0])


def test_mixture_viterbi_matches_the_estimator_decoder(data, mixture_hmms):
    hmm = mixture_hmms[2]
    density = DiagonalGMMHMMDensity(STATES, 2, FEATURES)
    density.set_gmm_hmm(hmm.startprob_, hmm.transmat_, hmm.weights_, hmm.means_, hmm.covars_)
    sequence = data[2][0]
    log_prob, states = density.viterbi(sequence[None].astype(np.float32))
    expected_log_prob, expected_states = hmm.decode(sequence)
    np.testing.assert_array_equal(states.numpy()[0], expected_states)
    np.testing.assert_allclose(log_prob.numpy()[0], expected_log_prob, rtol=1e-4)


def test_bad_arguments_are_clear_errors(model, hmms):
    with pytest.raises(ValueError, match=rf"\(batch, T, {FEATURES}\)"):
        model(np.zeros((1, T, FEATURES + 1), np.float32))
    with pytest.raises(ValueError, match="22050 Hz"):
        digit_features(np.zeros(16000, np.float32), sample_rate=16000)
    with pytest.raises(ValueError, match="covariance_type='diag'"):
        DigitRecognizer(WORDS, n_states=STATES, n_features=FEATURES, n_mix=2, covariance_type="full")
    with pytest.raises(ValueError, match="mixture components"):
        DigitRecognizer(WORDS, n_states=STATES, n_features=FEATURES, n_mix=model.n_mix + 1).set_word_hmms(hmms)
    with pytest.raises(ValueError, match="finite positive variances"):
        DiagonalGMMHMMDensity(STATES, 2, FEATURES).set_gmm_hmm(
            np.eye(STATES)[0], np.eye(STATES), np.full((STATES, 2), 0.5), np.zeros((STATES, 2, FEATURES)),
            np.zeros((STATES, 2, FEATURES)))


def test_keras_file_round_trip(model, data, tmp_path):
    x, _ = _batch(data)
    rebuilt = DigitRecognizer.from_config(model.get_config())
    assert rebuilt.words == WORDS and rebuilt.n_states == STATES and rebuilt.n_mix == model.n_mix
    model.save(tmp_path / "digits.keras")
    reloaded = keras.saving.load_model(tmp_path / "digits.keras")
    assert isinstance(reloaded, DigitRecognizer)
    np.testing.assert_array_equal(reloaded(x).numpy(), model(x).numpy())


def test_one_fit_step_lowers_true_word_nll(mixture_model, data):
    model = mixture_model
    x, y = _batch(data)
    x = x + 0.5  # shifted data: the EM optimum is no longer a stationary point
    before = -model(x).numpy()[np.arange(len(y)), y]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    after = -model(x).numpy()[np.arange(len(y)), y]
    assert after.mean() < before.mean()


def test_saved_model_and_tflite_parity(mixture_model, tmp_path):
    model = mixture_model
    assert set(model.export_signatures()) == {"score", "viterbi"}
    saved = export.saved_model(model, tmp_path / "saved")
    assert saved.passed
    lite = export.tflite(model, tmp_path / "digits.tflite")
    assert lite.passed and not lite.flex_ops
    assert {(o.signature, o.output) for o in lite.outputs} == {
        ("score", "log_likelihood"), ("viterbi", "word"), ("viterbi", "states"), ("viterbi", "log_prob")}


def test_preset_recognizes_a_held_out_voice(tmp_path):
    from tfspeech import zoo
    from tfspeech.audio import load
    from tfspeech.data import layout
    from tfspeech.data.corpus import build_corpus
    from tfspeech.recipes.spoken_digits import HELD_OUT_VOICES, TRAIN_VOICES

    voice = "flite:kal16:pitch=5:speed=0.9"
    assert voice in HELD_OUT_VOICES and voice not in TRAIN_VOICES
    model = zoo.load("spoken-digits")
    assert "spoken-digits" in zoo.list()
    (tmp_path / "digits.txt").write_text("\n".join(model.words) + "\n")
    corpus_dir = build_corpus([voice], n=None, sentences_file=tmp_path / "digits.txt",
                              out_dir=tmp_path / "corpus", progress=False)
    utterances = layout.read_corpus(corpus_dir)
    assert sorted(u.text for u in utterances) == sorted(model.words)
    features = [digit_features(load(u.wav_path(corpus_dir), sample_rate=22050)[0]) for u in utterances]
    batch = np.zeros((len(features), max(map(len, features)), features[0].shape[1]), np.float32)
    mask = np.zeros(batch.shape[:2], bool)
    for i, frames in enumerate(features):
        batch[i, :len(frames)], mask[i, :len(frames)] = frames, True
    recognized = model.predict_words(batch, mask=mask)
    correct = sum(word == u.text for word, u in zip(recognized, utterances))
    assert correct >= 8, f"{correct}/10 digits recognized: {recognized}"
