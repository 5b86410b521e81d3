"""Waveform I/O: 16-bit PCM round trip, clipping, resampling, and errors for bad files."""

import numpy as np
import pytest
import soundfile

from tfspeech.audio.io import load, resample, save

RATE = 22050


def sine(frequency, seconds=1.0, rate=RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(waveform, rate):
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(waveform.size)))
    return np.argmax(spectrum) * rate / waveform.size


def test_save_writes_16_bit_pcm_that_loads_back(tmp_path):
    waveform = sine(440.0)
    path = save(tmp_path / "nested" / "tone.wav", waveform, RATE)
    info = soundfile.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", RATE, 1)
    loaded, rate = load(path)
    assert rate == RATE and loaded.dtype == np.float32 and loaded.shape == waveform.shape
    np.testing.assert_allclose(loaded, waveform, rtol=0, atol=1.0 / 32768)


def test_save_clips_and_says_so(tmp_path):
    waveform = np.array([0.0, 1.5, -2.0, 0.25], np.float32)
    with pytest.warns(RuntimeWarning, match=r"clipped 2 of 4 samples .*peak 2\.000"):
        save(tmp_path / "loud.wav", waveform, RATE)
    loaded, _ = load(tmp_path / "loud.wav")
    np.testing.assert_allclose(loaded, [0.0, 1.0, -1.0, 0.25], atol=1.0 / 32768)


def test_load_resamples_when_asked(tmp_path):
    save(tmp_path / "tone.wav", sine(440.0), RATE)
    loaded, rate = load(tmp_path / "tone.wav", sample_rate=16000)
    assert rate == 16000 and loaded.dtype == np.float32
    assert abs(loaded.size - 16000) <= 1
    assert peak_frequency(loaded, 16000) == pytest.approx(440.0, abs=2.0)
    assert np.abs(loaded).max() <= 1.0


def test_resample_keeps_the_pitch_and_duration():
    resampled = resample(sine(1000.0), RATE, 44100)
    assert abs(resampled.size - 44100) <= 1
    assert peak_frequency(resampled, 44100) == pytest.approx(1000.0, abs=2.0)
    with pytest.raises(ValueError, match="target_sr must be a positive sample rate"):
        resample(sine(1000.0), RATE, 0)


def test_load_mixes_stereo_and_clips_float_overshoot(tmp_path):
    left, right = sine(440.0, amplitude=0.4), np.full(RATE, 0.2, np.float32)
    stereo = np.stack([left, right], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, RATE, subtype="FLOAT")
    mixed, _ = load(tmp_path / "stereo.wav")
    np.testing.assert_allclose(mixed, (left + right) / 2, atol=1e-7)
    hot = np.array([0.5, 1.7, -1.2], np.float32)
    soundfile.write(tmp_path / "hot.wav", hot, RATE, subtype="FLOAT")
    np.testing.assert_allclose(load(tmp_path / "hot.wav")[0], [0.5, 1.0, -1.0])


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no audio file at .*missing.wav"):
        load(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(ValueError, match="cannot read .*text.wav as audio"):
        load(tmp_path / "text.wav")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), RATE)
    with pytest.raises(ValueError, match="holds no audio samples"):
        load(tmp_path / "empty.wav")
    nan = np.array([0.1, np.nan, 0.2], np.float32)
    soundfile.write(tmp_path / "nan.wav", nan, RATE, subtype="FLOAT")
    with pytest.raises(ValueError, match="1 NaN/inf samples"):
        load(tmp_path / "nan.wav")


@pytest.mark.parametrize(
    "waveform, rate, message",
    [
        (np.array([0.1, np.nan], np.float32), RATE, "NaN/inf"),
        (np.zeros((2, 100), np.float32), RATE, "mono"),
        (np.zeros(0, np.float32), RATE, "empty"),
        (np.zeros(100, np.float32), 0, "sample_rate must be a positive integer"),
    ],
)
def test_save_rejects_bad_input(tmp_path, waveform, rate, message):
    with pytest.raises(ValueError, match=message):
        save(tmp_path / "bad.wav", waveform, rate)
    assert not (tmp_path / "bad.wav").exists()
