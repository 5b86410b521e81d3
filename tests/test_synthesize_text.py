"""export/synthesize_text.py: text → WAV from an exported Tacotron 2 with no TensorFlow."""

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.no_tensorflow import import_runner, run_without_tensorflow
from tfspeech.audio import features
from tfspeech.audio.griffin_lim import griffin_lim as tf_griffin_lim
from tfspeech.audio.griffin_lim import mel_to_magnitude
from tfspeech.audio.features import MelConfig

EXPORT = Path(__file__).resolve().parent.parent / "export"
SCRIPT = EXPORT / "synthesize_text.py"
CONFIG = MelConfig(n_fft=512, hop_length=128, win_length=400, n_mels=40, fmin=50.0, fmax=7000.0)


@pytest.fixture(scope="module")
def runner_module():
    return import_runner("synthesize_text")


def voiced(seconds=0.5, sample_rate=22050):
    """A vowel-like test signal: harmonics of a gliding pitch, with a little noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 2 * np.pi * (120 * t + 40 * t ** 2)
    signal = sum(np.sin(k * pitch) / k for k in range(1, 12))
    return (0.3 * signal / np.abs(signal).max() + 0.01 * np.random.default_rng(0).normal(size=t.size)).astype(
        np.float32)


def test_filterbank_and_stft_match_tfspeech(runner_module):
    stft = runner_module.Stft(CONFIG.to_dict())
    np.testing.assert_allclose(stft.filterbank, features.mel_filterbank(CONFIG), atol=1e-7)
    x = voiced()
    spectrum = stft.forward(x)
    reference = features.stft(x, CONFIG).numpy()
    assert np.abs(spectrum - reference).max() < 1e-4 * np.abs(reference).max()
    reference_inverse = features.inverse_stft(reference, CONFIG).numpy()
    np.testing.assert_allclose(stft.inverse(reference), reference_inverse, atol=1e-5)
    np.testing.assert_allclose(stft.inverse(spectrum), x[:stft.num_samples(len(spectrum))], atol=1e-5)


def test_mel_inversion_and_griffin_lim_match_tfspeech(runner_module):
    stft = runner_module.Stft(CONFIG.to_dict())
    mel = features.mel_spectrogram(voiced(), CONFIG).numpy()
    magnitude = stft.mel_to_magnitude(mel)
    reference = mel_to_magnitude(mel, CONFIG).numpy()
    assert np.abs(magnitude - reference).max() < 1e-3 * reference.max()

    waveform = runner_module.griffin_lim(magnitude, stft, n_iter=40)
    assert waveform.shape == (stft.num_samples(len(magnitude)),)
    ours = np.linalg.norm(magnitude - np.abs(stft.forward(waveform))) / np.linalg.norm(magnitude)
    _, convergence = tf_griffin_lim(reference, CONFIG, n_iter=40)
    assert ours < convergence.numpy()[-1] + 0.02, (ours, convergence.numpy()[-1])
    assert ours < 0.2


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tests.models.test_tacotron2 import make
    from tfspeech import export

    model = make(max_frames=30)
    path = tmp_path_factory.mktemp("tts") / "tts.tflite"
    export.tflite(model, path)
    return model, path


def read_wav(path):
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2"), wav.getframerate()


def test_text_to_wav_without_tensorflow(exported, tmp_path):
    from tfspeech.synthesis import SENTENCE_PAUSE_S
    from tfspeech.text import TextEncoder, split_sentences

    model, path = exported
    text = "Hello there. How are you?"
    result = run_without_tensorflow(SCRIPT, path, text, "-o", tmp_path / "out.wav")
    assert result.returncode == 0, result.stderr[-2000:]
    samples, rate = read_wav(tmp_path / "out.wav")
    assert rate == model.mel_config.sample_rate

    encoder = TextEncoder(model.symbols)
    ids = [encoder.encode(s) for s in split_sentences(text)]
    batch = tf.ragged.constant(ids).to_tensor()
    lengths = model.infer(batch)["mel_lengths"].numpy()
    expected = sum(model.mel_config.num_samples(int(n)) for n in lengths) + int(
        SENTENCE_PAUSE_S * rate) * (len(ids) - 1)
    assert len(samples) == expected
    assert np.abs(samples).max() > 0

    first = run_without_tensorflow(SCRIPT, path, "--ids", ",".join(map(str, ids[0])), "-o", tmp_path / "ids.wav")
    assert first.returncode == 0, first.stderr[-2000:]
    by_ids, _ = read_wav(tmp_path / "ids.wav")
    alone = run_without_tensorflow(SCRIPT, path, "Hello there.", "-o", tmp_path / "alone.wav")
    assert alone.returncode == 0, alone.stderr[-2000:]
    np.testing.assert_array_equal(by_ids, read_wav(tmp_path / "alone.wav")[0])


def test_tacotron_speaks_through_its_linear_spectrogram(tmp_path):
    from tests.models import tts_checks
    from tests.test_synthesis import MEL_CONFIG, tiny_tacotron
    from tfspeech import export

    model = tiny_tacotron(max_frames=12)
    tts_checks.set_stop_bias(model, -30.0)  # decodes to the 12-frame guard
    export.tflite(model, tmp_path / "tacotron.tflite")
    result = run_without_tensorflow(SCRIPT, tmp_path / "tacotron.tflite", "Hi.", "-o", tmp_path / "out.wav")
    assert result.returncode == 0, result.stderr[-2000:]
    samples, _ = read_wav(tmp_path / "out.wav")
    assert len(samples) == (12 - 1) * MEL_CONFIG["hop_length"] and np.abs(samples).max() > 0


@pytest.mark.parametrize("args, message", [
    (["--ids", "3,999"], "--ids [999] are not symbols of this model"),
    (["--ids", "3,x"], "--ids takes comma-separated integers"),
    (["--ids", ""], "--ids is empty"),
    (["Price: 5 €"], "€"),
    (["!!!"], "nothing to speak"),
])
def test_bad_input_is_a_clear_error(exported, tmp_path, args, message):
    _, path = exported
    result = subprocess.run([sys.executable, str(SCRIPT), str(path), *args, "-o", str(tmp_path / "x.wav")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "x.wav").exists()


def test_missing_settings_file_says_how_to_export(exported, tmp_path):
    _, path = exported
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(path.read_bytes())
    result = subprocess.run([sys.executable, str(SCRIPT), str(lonely), "Hi."], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "lonely.json is missing" in result.stderr and "tfspeech export" in result.stderr


def test_long_sentences_are_split_for_the_models_frames(runner_module):
    from tests.text.test_normalize import LONG

    settings = {"max_frames": 1000, "mel_config": {"hop_length": 256, "sample_rate": 22050}}
    ids = runner_module.text_to_ids(LONG, "characters", runner_module._max_chars(settings))
    assert len(ids) >= 4 and all(len(sentence) <= 112 for sentence in ids)  # <= 110 characters + end
    assert len(runner_module.text_to_ids(LONG, "characters")) == 1
