"""STFT / mel / log-mel in tf.signal against librosa, the LogMel layer, its TFLite export."""

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from tfspeech.audio.features import (
    LogMel,
    MelConfig,
    inverse_stft,
    log_mel_spectrogram,
    magnitude,
    mel_spectrogram,
    stft,
)

# Max abs difference of natural-log mels from librosa (float64 reference). Measured on the
# espeak-ng sentence below: 7.9e-5 (default), 2.2e-4 (n_fft=800, DFT matmul), 6.1e-5 (not
# centred).
LOG_MEL_ATOL = 1e-3
# Max abs difference LiteRT vs Keras on the log scale; measured 7.1e-5 (RFFT2D) and 1.4e-4
# (DFT matmul).
TFLITE_LOG_MEL_ATOL = 1e-3

CONFIGS = {
    "default": MelConfig(),
    "non_power_of_two_fft": MelConfig(n_fft=800, win_length=600, hop_length=200, fmax=11025.0),
    "not_centred": MelConfig(center=False, n_mels=64, fmin=60.0),
}


def librosa_mel(waveform, config):
    """librosa's magnitude (power 1) mel spectrogram in float64, shape (frames, n_mels)."""
    return librosa.feature.melspectrogram(
        y=waveform.astype(np.float64),
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        center=config.center,
        pad_mode="reflect",
        power=1.0,
    ).T


@pytest.mark.parametrize("name", CONFIGS)
def test_log_mel_matches_librosa(speech, name):
    config = CONFIGS[name]
    expected = np.log(np.maximum(librosa_mel(speech, config), config.log_floor))
    actual = log_mel_spectrogram(speech, config).numpy()
    assert actual.shape == expected.shape == (config.num_frames(speech.size), config.n_mels)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=LOG_MEL_ATOL)


@pytest.mark.parametrize("name", CONFIGS)
def test_mel_and_magnitude_match_librosa(speech, name):
    config = CONFIGS[name]
    expected_mel = librosa_mel(speech, config)
    actual_mel = mel_spectrogram(speech, config).numpy()
    np.testing.assert_allclose(actual_mel, expected_mel, rtol=0, atol=1e-5 * expected_mel.max())
    expected_stft = librosa.stft(
        speech.astype(np.float64),
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        center=config.center,
        pad_mode="reflect",
    ).T
    scale = np.abs(expected_stft).max()
    np.testing.assert_allclose(
        magnitude(speech, config).numpy(), np.abs(expected_stft), rtol=0, atol=1e-6 * scale
    )
    np.testing.assert_allclose(
        stft(speech, config).numpy(), expected_stft, rtol=0, atol=1e-6 * scale
    )


def test_batch_rows_equal_single_waveforms(speech):
    batch = np.stack([speech, 0.5 * speech[::-1]])
    batched = log_mel_spectrogram(batch, MelConfig()).numpy()
    for row, waveform in zip(batched, batch):
        np.testing.assert_allclose(row, log_mel_spectrogram(waveform).numpy(), rtol=0, atol=1e-5)


def test_inverse_stft_restores_the_waveform(speech):
    config = MelConfig()
    restored = inverse_stft(stft(speech, config), config, length=speech.size).numpy()
    np.testing.assert_allclose(restored, speech, rtol=0, atol=1e-5)
    default = inverse_stft(stft(speech, config), config)
    assert default.shape == (config.num_samples(config.num_frames(speech.size)),)


def test_config_round_trips_and_fingerprints():
    config = MelConfig(n_mels=64, fmax=7600.0)
    assert MelConfig.from_dict(config.to_dict()) == config
    assert config.fingerprint() == MelConfig.from_dict(config.to_dict()).fingerprint()
    assert config.fingerprint() != MelConfig().fingerprint()
    with pytest.raises(ValueError, match="unknown MelConfig keys"):
        MelConfig.from_dict({**config.to_dict(), "n_mel": 80})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"win_length": 2048}, "exceeds n_fft"),
        ({"fmax": 12000.0}, "fmax <= sample_rate / 2"),
        ({"hop_length": 0}, "hop_length must be a positive integer"),
        ({"log_floor": 0.0}, "log_floor"),
    ],
)
def test_bad_config_is_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        MelConfig(**fields)


def test_too_short_or_wrong_rank_waveform_is_rejected():
    with pytest.raises(ValueError, match="needs at least 513"):
        log_mel_spectrogram(np.zeros(300, np.float32))
    with pytest.raises(ValueError, match=r"\(samples,\) or \(batch, samples\)"):
        log_mel_spectrogram(np.zeros((1, 2, 4000), np.float32))


def log_mel_model(config):
    waveform = keras.Input((None,), dtype="float32")
    return keras.Model(waveform, LogMel(config)(waveform))


def test_log_mel_layer_saves_and_loads(speech, tmp_path):
    config = CONFIGS["not_centred"]
    model = log_mel_model(config)
    assert model.output.shape == (None, None, config.n_mels)
    assert LogMel(config).compute_output_shape((2, speech.size)) == (
        2,
        config.num_frames(speech.size),
        config.n_mels,
    )
    model.save(tmp_path / "log_mel.keras")
    restored = keras.saving.load_model(tmp_path / "log_mel.keras")
    assert restored.layers[-1].config == config
    np.testing.assert_array_equal(restored(speech[None]).numpy(), model(speech[None]).numpy())
    np.testing.assert_allclose(
        model(speech[None]).numpy()[0], log_mel_spectrogram(speech, config).numpy(), atol=1e-6
    )


@pytest.mark.parametrize("name", ["default", "non_power_of_two_fft"])
def test_log_mel_layer_runs_in_litert_with_builtin_ops(speech, name):
    model = log_mel_model(CONFIGS[name])
    serve = tf.function(
        lambda waveform: model(waveform), input_signature=[tf.TensorSpec([None, None], tf.float32)]
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], model
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    batch = np.stack([speech, 0.3 * speech])
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, batch.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, batch)
    interpreter.invoke()
    actual = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(actual, model(batch).numpy(), rtol=0, atol=TFLITE_LOG_MEL_ATOL)
