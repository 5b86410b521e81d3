"""Tacotron on a tiny configuration: the shared TTS checks (tts_checks.py) plus its linear output."""

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tfspeech.models.tacotron import Tacotron

MEL_CONFIG = {"n_fft": 64, "win_length": 64, "hop_length": 16, "n_mels": 6}


def make(**overrides):
    keras.utils.set_random_seed(0)
    config = dict(
        embedding_dim=12, encoder_prenet_units=(12, 8), encoder_prenet_dropout=0.0, encoder_bank_size=3,
        encoder_bank_filters=4, encoder_highway_layers=2, encoder_highway_units=8, encoder_rnn_units=6,
        attention_units=8, prenet_units=(16, 8), attention_rnn_units=16,
        decoder_units=16, postnet_bank_size=3, postnet_bank_filters=4, postnet_projection_units=8,
        postnet_highway_layers=1, postnet_highway_units=8, postnet_rnn_units=5, mel_config=MEL_CONFIG,
        reduction_factor=2, max_frames=8)
    model = Tacotron(**{**config, **overrides})
    model.build()
    return model


@pytest.fixture(scope="module")
def shared():
    model = make(attention="gmm", attention_options={"mixtures": 3})
    return model, model.get_weights()


@pytest.fixture
def model(shared):
    """The module's model (GMM attention; its inference graph is traced once) with its initial weights."""
    model, weights = shared
    model.set_weights(weights)
    return model


def test_config_and_keras_file_round_trip(model, tmp_path):
    tts_checks.check_config_and_keras_file_round_trip(model, tmp_path)


def test_zoo_round_trip_gives_a_model_ready_for_fit(model, tmp_path):
    tts_checks.check_zoo_round_trip_gives_a_model_ready_for_fit(model, tmp_path)


def test_one_training_step_lowers_the_loss():
    tts_checks.check_one_training_step_lowers_the_loss(make)


def test_padding_frames_never_change_the_loss(model):
    tts_checks.check_padding_frames_never_change_the_loss(model)


def test_reduction_factor_keeps_frames_in_order():
    tts_checks.check_reduction_factor_keeps_frames_in_order(make)  # content attention, the default


def test_padding_gets_no_attention(model):
    tts_checks.check_padding_gets_no_attention(model)


def test_inference_stops_on_the_stop_token_and_the_guard(model):
    tts_checks.check_inference_stops_on_the_stop_token_and_the_guard(model)


def test_tflite_export_and_step_signature(model, tmp_path):
    tts_checks.check_tflite_export_and_step_signature(model, tmp_path)


def test_linear_spectrogram_has_one_bin_per_fft_frequency(model):
    tts_checks.set_stop_bias(model, -30.0)
    out = tts_checks.infer(model, max_frames=6)
    assert out["linear"].shape == (2, 6, 33)
    np.testing.assert_array_equal(out["mels"], out["decoder_mels"])
