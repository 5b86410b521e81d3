"""GST Tacotron 2 on a tiny configuration: the shared TTS checks, warm start, style control."""

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tests.models.test_tacotron2 import make as make_tacotron2
from tfspeech.models.gst_tacotron2 import GSTTacotron2
from tfspeech.runtime.litert_runner import LiteRTRunner

STYLE = dict(style_tokens=4, style_units=8, style_heads=2, reference_filters=(4, 4), reference_rnn_units=6)


def make(**overrides):
    tacotron2 = make_tacotron2()
    keras.utils.set_random_seed(0)
    model = GSTTacotron2(**{**tacotron2.get_config(), **STYLE, **overrides})
    model.build()
    return model


def styled(model):
    """The module's model with a non-zero style projection (a fresh one adds nothing)."""
    kernel = model.style_projection.kernel
    kernel.assign(np.random.default_rng(0).normal(0, 1.0, kernel.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def shared():
    model = styled(make())
    return model, model.get_weights()


@pytest.fixture
def model(shared):
    model, weights = shared
    model.set_weights(weights)
    return model


def test_config_and_keras_file_round_trip(model, tmp_path):
    tts_checks.check_config_and_keras_file_round_trip(model, tmp_path)


def test_zoo_round_trip_gives_a_model_ready_for_fit(model, tmp_path):
    tts_checks.check_zoo_round_trip_gives_a_model_ready_for_fit(model, tmp_path)


def test_one_training_step_lowers_the_loss():
    tts_checks.check_one_training_step_lowers_the_loss(lambda **o: styled(make(**o)))


def test_padding_frames_never_change_the_loss_nor_the_style(model):
    tts_checks.check_padding_frames_never_change_the_loss(model)


def test_inference_stops_on_the_stop_token_and_the_guard(model):
    tts_checks.check_inference_stops_on_the_stop_token_and_the_guard(model)


def test_warm_start_keeps_every_tacotron2_weight_and_starts_as_that_model():
    tacotron2 = make_tacotron2()
    model = GSTTacotron2.from_tacotron2(tacotron2, **STYLE)
    x, _ = tts_checks.batch(model)
    expected = tacotron2(x, training=False)
    for key, value in model(x, training=False).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6, err_msg=key)
    free = model.infer(tts_checks.TEXT, style_weights=np.eye(4, dtype=np.float32)[1])
    np.testing.assert_allclose(free["mels"], tacotron2.infer(tts_checks.TEXT)["mels"], atol=1e-6)
    assert len(model.weights) > len(tacotron2.weights)


def test_the_style_steers_the_output_and_a_reference_gives_weights_that_reproduce_its_style(model):
    tts_checks.set_stop_bias(model, -30.0)
    first = model.infer(tts_checks.TEXT, style_weights=[1.0, 0, 0, 0])["mels"].numpy()
    second = model.infer(tts_checks.TEXT, style_weights=[0, 0, 0, 1.0])["mels"].numpy()
    assert np.abs(first - second).max() > 1e-3
    x, _ = tts_checks.batch(model)
    weights = model.reference_weights(x["mels"], x["mel_lengths"])
    assert weights.shape == (2, 2, 4)
    np.testing.assert_allclose(np.sum(weights, -1), 1.0, rtol=1e-5)
    by_reference = model({**x, "style_weights": weights}, training=False)["mels"]
    np.testing.assert_allclose(by_reference, model(x, training=False)["mels"], atol=1e-5)


def test_without_a_style_inference_uses_the_mean_training_style(model):
    tts_checks.set_stop_bias(model, -30.0)
    mean = np.random.default_rng(3).dirichlet(np.ones(4), 2).astype(np.float32)
    model.mean_style_weights.assign(mean)
    np.testing.assert_allclose(model.infer(tts_checks.TEXT)["mels"],
                               model.infer(tts_checks.TEXT, style_weights=mean[None])["mels"], atol=1e-6)


@pytest.mark.parametrize("weights, message", [
    ([0.5, 0.5], "4 values"),
    ([0.5, np.nan, 0, 0], "finite"),
    (np.ones((3, 4)), "3 utterances but 2 texts"),
])
def test_bad_style_weights_are_refused_clearly(model, weights, message):
    with pytest.raises(ValueError, match=message):
        model.infer(tts_checks.TEXT, style_weights=weights)


def test_tflite_export_with_style_signatures(model, tmp_path):
    tts_checks.check_tflite_export_and_step_signature(model, tmp_path)
    runner = LiteRTRunner(tmp_path / "tts.tflite")
    reference = np.random.default_rng(0).normal(-5, 2, (1, 12, model.n_mels)).astype(np.float32)
    weights = runner.run_signature("style_weights", reference=reference)["style_weights"]
    np.testing.assert_allclose(weights, model.reference_weights(reference), atol=1e-5)
    text = tts_checks.TEXT[1:]
    lite = runner.run_signature("synthesize_styled", text=text, style_weights=weights)
    keras_out = model.infer(text, style_weights=weights)
    np.testing.assert_allclose(lite["mels"], keras_out["mels"], atol=1e-4)
