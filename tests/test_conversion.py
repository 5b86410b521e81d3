"""Voice conversion API: the model's conversion rendered with Griffin-Lim, files, bad input."""

import numpy as np
import pytest

from tfspeech import conversion
from tfspeech.audio import load, save
from tfspeech.models.vqvae import VQVAE

SPEAKERS = ["alice", "bob", "carol"]


def save_tiny_vqvae(root):
    """A small untrained VQ-VAE saved as preset ``tiny-vqvae`` under ``root``; returns the model."""
    import tfspeech.zoo

    model = VQVAE(SPEAKERS, channels=8, code_dim=4, num_codes=8, encoder_dilations=[1], decoder_dilations=[1],
                  speaker_dim=4)
    model.build()
    tfspeech.zoo.save_preset(model, "tiny-vqvae", root=root, data={"fingerprint": "none"},
                             training={"command": "test"}, metrics={})
    return model


@pytest.fixture()
def tiny_preset(tmp_path, monkeypatch):
    """``save_tiny_vqvae`` on ``TFSPEECH_ZOO_PATH``, with the conversion module's preset cache cleared."""
    model = save_tiny_vqvae(tmp_path / "zoo")
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "zoo"))
    conversion._load.cache_clear()
    yield model
    conversion._load.cache_clear()


def speech(seconds=0.6, rate=22050):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def test_convert_is_the_models_conversion_rendered_with_griffin_lim(tiny_preset):
    waveform = speech()
    converted, rate = conversion.convert(waveform, 22050, "bob", preset="tiny-vqvae", griffin_lim_iters=4)
    config = tiny_preset.mel_config
    log_mel = conversion.source_log_mel(waveform, 22050, config)
    expected = conversion.log_mel_to_audio(tiny_preset.convert(log_mel[None], np.array([1]))[0], config, 4)
    assert rate == 22050 and converted.dtype == np.float32
    assert len(converted) == config.num_samples(len(log_mel))
    np.testing.assert_allclose(converted, expected, atol=1e-5)
    as_carol, _ = conversion.convert(waveform, 22050, "carol", model=tiny_preset, griffin_lim_iters=4)
    assert np.abs(as_carol - converted).max() > 1e-4


def test_other_sample_rates_are_resampled(tiny_preset):
    converted, rate = conversion.convert(speech(rate=16000), 16000, "alice", preset="tiny-vqvae",
                                         griffin_lim_iters=2)
    assert rate == 22050
    assert abs(len(converted) - 0.6 * 22050) <= tiny_preset.mel_config.hop_length


def test_convert_file_writes_a_wav(tiny_preset, tmp_path):
    source = save(tmp_path / "in.wav", speech(), 22050)
    out = conversion.convert_file(source, "carol", tmp_path / "out" / "converted.wav", preset="tiny-vqvae",
                                  griffin_lim_iters=2)
    waveform, rate = load(out)
    assert rate == 22050 and len(waveform) > 0.5 * 22050


def test_an_unknown_speaker_lists_the_known_ones(tiny_preset, tmp_path):
    with pytest.raises(KeyError, match="unknown speaker 'bobby'; this model knows 3: alice, bob, carol. "
                                       "Did you mean 'bob'"):
        conversion.convert_file(tmp_path / "never-read.wav", "bobby", tmp_path / "out.wav", preset="tiny-vqvae")


def test_bad_audio_is_refused_clearly(tiny_preset):
    def refuse(waveform, rate, match):
        with pytest.raises(ValueError, match=match):
            conversion.convert(waveform, rate, "bob", model=tiny_preset)

    refuse(np.zeros(0, np.float32), 22050, "empty: there is no speech to convert")
    refuse(np.r_[speech(), np.nan, np.inf], 22050, "holds 2 NaN/inf samples")
    refuse(np.zeros((2, 5000), np.float32), 22050, r"mono audio of shape \(samples,\)")
    refuse(np.zeros(300, np.float32), 22050, r"13.6 ms long; conversion needs at least 34.8 ms")
    refuse(speech(), 0, "sample_rate must be a positive integer")


def test_wrong_log_mel_bands_are_refused(tiny_preset):
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        tiny_preset.convert(np.zeros((1, 30, 64), np.float32), np.array([0]))
