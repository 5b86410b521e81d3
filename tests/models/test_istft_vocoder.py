"""ISTFTVocoder: exact inverse STFT, locality (streaming), saving, training, export, bad input."""

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export, zoo
from tfspeech.audio import MelConfig, stft
from tfspeech.audio.features import mel_filterbank
from tfspeech.layers.istft import OverlapAdd, inverse_dft_basis, mel_to_log_magnitude, window_envelope
from tfspeech.models.istft_vocoder import ISTFTVocoder

MEL = MelConfig(n_fft=64, win_length=64, hop_length=16, n_mels=6, fmax=4000.0)
SMALL = dict(mel_config=MEL.to_dict(), channels=8, intermediate_channels=16, blocks=2, kernel_size=3)


def small_vocoder(**overrides):
    keras.utils.set_random_seed(0)
    model = ISTFTVocoder(**{**SMALL, **overrides})
    model.build_from_preset()
    return model


@pytest.fixture(scope="module")
def vocoder():
    return small_vocoder()


def random_mel(batch=1, frames=12, seed=0):
    return np.random.default_rng(seed).normal(-4.0, 2.0, (batch, frames, MEL.n_mels)).astype(np.float32)


@pytest.mark.parametrize("config", [MelConfig(), MEL])
def test_matmul_inverse_dft_and_overlap_add_invert_the_stft(config):
    waveform = np.random.default_rng(1).normal(0, 0.1, (1, config.hop_length * 30)).astype(np.float32)
    spectrum = stft(waveform, config).numpy()
    frames = np.concatenate([spectrum.real, spectrum.imag], -1) @ inverse_dft_basis(config)
    audio = OverlapAdd(config.to_dict())(frames).numpy()[0]
    blocks_per_frame = config.n_fft // config.hop_length
    first = (blocks_per_frame // 2 - 1) * config.hop_length  # frame 0 is centred on sample 0
    assert audio.size == (spectrum.shape[1] - blocks_per_frame + 1) * config.hop_length
    np.testing.assert_allclose(audio, waveform[0, first: first + audio.size], atol=1e-5)
    reference = librosa.istft(spectrum[0].T, hop_length=config.hop_length, win_length=config.win_length,
                              n_fft=config.n_fft, length=waveform.shape[1])
    np.testing.assert_allclose(audio, reference[first: first + audio.size], atol=1e-5)


@pytest.mark.parametrize("config", [MelConfig(), MEL])
def test_the_magnitude_prior_maps_a_flat_spectrum_back_to_its_level(config):
    matrix, offset = mel_to_log_magnitude(config)
    assert matrix.shape == (config.n_mels, config.n_freq)
    flat = np.full((3, config.n_freq), 0.7)
    log_mel = np.log(flat @ mel_filterbank(config))
    np.testing.assert_allclose(log_mel @ matrix + offset, np.log(0.7), atol=1e-4)


def test_window_envelope_needs_a_whole_number_of_hops():
    with pytest.raises(ValueError, match="multiple of hop_length"):
        window_envelope(MelConfig(n_fft=64, win_length=64, hop_length=24, n_mels=6, fmax=4000.0))


def test_each_block_depends_on_its_context_window_only(vocoder):
    left, right, hop = vocoder.left_context, vocoder.right_context, MEL.hop_length
    assert (left, right) == (1 * 3 + 1, 1 * 3 + 2)  # (kernel // 2) * (blocks + 1) + n_fft / (2 hop) - 1
    mel = random_mel(frames=20)
    base = vocoder(mel).numpy()
    assert base.shape == (1, (20 - left - right) * hop)
    block = 5  # output block 5 is the audio of input frame left + 5
    for source in range(20):
        changed = mel.copy()
        changed[0, source] += 1.0
        out = vocoder(changed).numpy()
        moved = not np.allclose(out[0, block * hop: (block + 1) * hop], base[0, block * hop: (block + 1) * hop])
        assert moved == (block <= source <= block + left + right), source


@pytest.mark.parametrize("magnitude_prior", [False, True])
def test_whole_utterance_equals_concatenated_stream_chunks(magnitude_prior):
    vocoder = small_vocoder(magnitude_prior=magnitude_prior)
    mel = random_mel(frames=37, seed=3)
    whole = vocoder.generate(mel)
    assert whole.shape == (1, 37 * MEL.hop_length)
    padded = vocoder.pad(mel).numpy()
    stream = vocoder.export_signatures()["stream"]
    pieces, start, chunk = [], 0, 10
    while start < 37:
        stop = min(start + chunk, 37)
        pieces.append(stream(tf.constant(padded[:, start: stop + vocoder.context_frames]))["audio"].numpy())
        start = stop
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5)


def test_config_and_keras_file_round_trips_give_equal_outputs(vocoder, tmp_path):
    mel = random_mel(2, frames=15)
    expected = vocoder(mel).numpy()
    clone = ISTFTVocoder.from_config(vocoder.get_config())
    clone.build_from_preset()
    clone.set_weights(vocoder.get_weights())
    np.testing.assert_array_equal(clone(mel).numpy(), expected)
    vocoder.save(tmp_path / "vocoder.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "vocoder.keras")(mel).numpy(), expected)


def test_zoo_round_trip_and_fit_lowers_held_out_loss(tmp_path):
    """Fine-tuning as a user does it: zoo.load, then fit on (context mels, audio) crops."""
    zoo.save_preset(small_vocoder(), "tiny-vocoder", root=tmp_path, data={"fingerprint": "test"},
                    training={"command": "pytest"}, metrics={"x": {"value": 1.0, "command": "-"}})
    model = zoo.load("tiny-vocoder", root=tmp_path)
    assert model.loss is not None
    rng = np.random.default_rng(0)
    t = np.arange(MEL.hop_length * 8) / MEL.sample_rate
    audio = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in rng.uniform(300, 900, 8)]).astype(np.float32)
    spectrum = np.abs(stft(np.pad(audio, ((0, 0), (64, 64))), MEL).numpy())
    mel = np.log(np.maximum(spectrum @ librosa.filters.mel(sr=MEL.sample_rate, n_fft=64, n_mels=6,
                                                          fmax=4000.0).T, 1e-5)).astype(np.float32)
    mel = mel[:, 4 - model.left_context: 4 + 8 + model.right_context]
    assert mel.shape[1] == 8 + model.context_frames
    model.compile(**{**model.default_compile_args(), "optimizer": keras.optimizers.Adam(3e-3)})
    before = model.evaluate(mel[6:], audio[6:], verbose=0)
    model.fit(mel[:6], audio[:6], epochs=30, batch_size=6, verbose=0)
    assert model.evaluate(mel[6:], audio[6:], verbose=0) < before


@pytest.mark.parametrize("magnitude_prior", [False, True])
def test_tflite_uses_builtins_and_matches_keras(magnitude_prior, tmp_path):
    vocoder = small_vocoder(magnitude_prior=magnitude_prior)
    report = export.tflite(vocoder, tmp_path / "vocoder.tflite")
    assert report.passed and report.flex_ops == ()
    assert set(report.max_abs_error) == {"vocode/audio", "stream/audio"}
    assert max(report.max_abs_error.values()) <= 1e-4
    quantized = export.tflite(vocoder, tmp_path / "vocoder-dynamic.tflite", quantize="dynamic")
    assert quantized.passed and quantized.flex_ops == ()


def test_saved_model_vocode_signature_matches_keras(vocoder, tmp_path):
    report = export.saved_model(vocoder, tmp_path / "served")
    assert report.passed
    loaded = tf.saved_model.load(str(report.path))
    mel = random_mel(2, frames=9, seed=4)
    np.testing.assert_allclose(loaded.signatures["vocode"](mel=tf.constant(mel))["audio"].numpy(),
                               vocoder.generate(mel), atol=1e-5)


@pytest.mark.parametrize(
    "mel, message",
    [
        (np.zeros((1, 5, 7), np.float32), "7 bands but this vocoder takes 6"),
        (np.zeros((1, 0, 6), np.float32), "empty"),
        (np.full((1, 5, 6), np.nan, np.float32), "30 NaN/inf"),
        (np.zeros((6,), np.float32), "shape \\(frames, 6\\)"),
    ],
)
def test_bad_mels_get_clear_errors(vocoder, mel, message):
    with pytest.raises(ValueError, match=message):
        vocoder.generate(mel)


def test_bad_settings_get_clear_errors():
    with pytest.raises(ValueError, match="even multiple of hop_length"):
        ISTFTVocoder(MelConfig(n_fft=48, win_length=48, hop_length=16, n_mels=6, fmax=4000.0).to_dict())
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ISTFTVocoder(MEL.to_dict(), kernel_size=4)
