"""Tacotron 2 on a tiny configuration: the shared TTS checks (tts_checks.py)."""

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tfspeech.models.tacotron2 import Tacotron2


def make(**overrides):
    keras.utils.set_random_seed(0)
    config = dict(
        embedding_dim=12, encoder_filters=12, encoder_kernel_size=3, encoder_layers=2, encoder_dropout=0.0,
        encoder_rnn_units=6, attention_units=8, attention_options={"filters": 4, "kernel_size": 5},
        prenet_units=(16, 8), prenet_dropout=0.5, attention_rnn_units=16,
        decoder_rnn_units=16, decoder_dropout=0.0, postnet_filters=8, postnet_kernel_size=3, postnet_layers=3,
        postnet_dropout=0.0, mel_config={"n_mels": 6}, reduction_factor=2, max_frames=8)
    model = Tacotron2(**{**config, **overrides})
    model.build()
    return model


@pytest.fixture(scope="module")
def shared():
    model = make()
    return model, model.get_weights()


@pytest.fixture
def model(shared):
    """The module's model (its inference graph is traced once) with its initial weights."""
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
    tts_checks.check_reduction_factor_keeps_frames_in_order(make)


def test_padding_gets_no_attention(model):
    tts_checks.check_padding_gets_no_attention(model)


def test_padding_gets_no_gmm_attention():
    tts_checks.check_padding_gets_no_attention(make(attention="gmm", attention_options={"mixtures": 3}))


def test_inference_stops_on_the_stop_token_and_the_guard(model):
    tts_checks.check_inference_stops_on_the_stop_token_and_the_guard(model)


def test_tflite_export_and_step_signature(model, tmp_path):
    tts_checks.check_tflite_export_and_step_signature(model, tmp_path)


def test_postnet_refines_the_decoder_mels(model):
    tts_checks.set_stop_bias(model, -30.0)
    out = tts_checks.infer(model, max_frames=4)
    assert np.abs(out["mels"] - out["decoder_mels"]).max() > 0
