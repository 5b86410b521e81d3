"""GST Tacotron 2 on a tiny configuration: the shared TTS checks, warm start, style control."""

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tests.models.test_tacotron2 import make as make_tacotron2
from tfspeech import zoo
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


# --- named styles --------------------------------------------------------------------------------

NAMED = {"low-slow": np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, 0.4]], np.float32),  # (heads, tokens)
         "fast": np.array([0.0, 0.0, 0.25, 0.75], np.float32)}  # (tokens,): every head


def test_named_styles_survive_config_keras_file_and_zoo_round_trips(tmp_path):
    model = make(named_styles=NAMED)
    config = model.get_config()
    assert list(config["named_styles"]) == ["fast", "low-slow"]  # sorted
    assert config["named_styles"]["fast"] == [NAMED["fast"].tolist()] * 2  # plain JSON lists, per head
    tts_checks.check_config_and_keras_file_round_trip(model, tmp_path)
    model.save(tmp_path / "named.keras")
    zoo.save_preset(model, "tiny-named", root=tmp_path, data={"fingerprint": "none"}, training={"command": "tests"},
                    metrics={})
    for other in (keras.saving.load_model(tmp_path / "named.keras"), zoo.load("tiny-named", root=tmp_path)):
        assert other.get_config()["named_styles"] == config["named_styles"]
        np.testing.assert_array_equal(other.named_style_weights("low-slow"), NAMED["low-slow"][None])


def test_a_named_style_is_its_token_weights_for_every_head(model):
    model.set_named_styles(NAMED)
    try:
        assert sorted(model.named_styles) == ["fast", "low-slow"]
        weights = model.named_style_weights("fast")
        assert weights.dtype == np.float32 and weights.shape == (1, 2, 4)
        np.testing.assert_array_equal(weights[0], np.tile(NAMED["fast"], (2, 1)))
        tts_checks.set_stop_bias(model, -30.0)
        by_name = model.infer(tts_checks.TEXT, style_weights=model.named_style_weights("fast"))["mels"]
        np.testing.assert_array_equal(by_name, model.infer(tts_checks.TEXT, style_weights=NAMED["fast"])["mels"])
        with pytest.raises(ValueError, match="no style named 'slow'; this model's named styles: fast, low-slow"):
            model.named_style_weights("slow")
    finally:
        model.set_named_styles({})
    with pytest.raises(ValueError, match="no style named 'fast'; this model's named styles: none"):
        model.named_style_weights("fast")


@pytest.mark.parametrize("named, message", [
    ({"Low": [1.0, 0, 0, 0]}, "style name 'Low': use lowercase letters and digits, words joined by '-'"),
    ({"low_slow": [1.0, 0, 0, 0]}, "style name 'low_slow'"),
    ({"-low": [1.0, 0, 0, 0]}, "style name '-low'"),
    ({"": [1.0, 0, 0, 0]}, "style name ''"),
    ({"low": [0.5, 0.5]}, r"named style 'low': token weights must have shape \(4,\) or \(2, 4\) .* got \(2,\)"),
    ({"low": np.ones((3, 4))}, r"got \(3, 4\)"),
    ({"low": [0.5, np.nan, 0, 0]}, "named style 'low': token weights must be finite"),
    ({"low": ["a", 0, 0, 0]}, "named style 'low': token weights must be numbers"),
    ([("low", [1.0, 0, 0, 0])], "named styles must be a mapping"),
])
def test_bad_named_styles_are_refused_clearly_and_change_nothing(model, named, message):
    with pytest.raises(ValueError, match=message):
        model.set_named_styles({"fast": NAMED["fast"], **named} if isinstance(named, dict) else named)
    assert model.named_styles == {}
