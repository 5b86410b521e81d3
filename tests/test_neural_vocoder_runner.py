"""export/neural_vocoder.py and synthesize_text.py --vocoder: an exported ISTFTVocoder speaks
without TensorFlow, streams the same samples, and refuses what it cannot vocode."""

import json
import wave
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.no_tensorflow import import_runner, run_without_tensorflow
from tfspeech import export
from tfspeech.models.istft_vocoder import ISTFTVocoder

EXPORT = Path(__file__).resolve().parent.parent / "export"
SCRIPT = EXPORT / "synthesize_text.py"


@pytest.fixture(scope="module")
def runner_module():
    return import_runner("neural_vocoder")


@pytest.fixture(scope="module")
def tts_and_vocoder(tmp_path_factory):
    """A tiny Tacotron 2 and a tiny vocoder on its MelConfig, both exported."""
    from tests.models.test_tacotron2 import make

    folder = tmp_path_factory.mktemp("exported")
    model = make(max_frames=30)
    export.tflite(model, folder / "tts.tflite")
    keras.utils.set_random_seed(1)
    vocoder = ISTFTVocoder(model.mel_config.to_dict(), channels=8, intermediate_channels=16, blocks=2,
                           kernel_size=3)
    vocoder.build_from_preset()
    export.tflite(vocoder, folder / "vocoder.tflite")
    return model, vocoder, folder


def read_wav(path):
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2"), wav.getframerate()


def test_context_and_audio_match_the_keras_vocoder(runner_module, tts_and_vocoder):
    _, vocoder, folder = tts_and_vocoder
    device = runner_module.NeuralVocoder(folder / "vocoder.tflite", num_threads=1)
    assert (device.left_context, device.right_context) == (vocoder.left_context, vocoder.right_context)
    mel = np.random.default_rng(0).normal(-4, 2, (45, vocoder.n_mels)).astype(np.float32)
    audio = device.vocode(mel)
    np.testing.assert_allclose(audio, vocoder.generate(mel)[0], atol=1e-4)
    chunks = list(device.stream(mel, chunk_frames=16))
    assert [len(c) for c in chunks] == [16 * vocoder.hop_length] * 2 + [13 * vocoder.hop_length]
    np.testing.assert_allclose(np.concatenate(chunks), audio, atol=1e-5)


def test_text_to_wav_through_the_vocoder_without_tensorflow(tts_and_vocoder, tmp_path):
    from tfspeech.text import TextEncoder

    model, vocoder, folder = tts_and_vocoder
    result = run_without_tensorflow(SCRIPT, folder / "tts.tflite", "Hello there.", "--vocoder",
                                    folder / "vocoder.tflite", "--threads", "1", "-o", tmp_path / "out.wav")
    assert result.returncode == 0, result.stderr[-2000:]
    samples, rate = read_wav(tmp_path / "out.wav")
    assert rate == model.mel_config.sample_rate
    outputs = model.infer(tf.constant([TextEncoder(model.symbols).encode("hello there.")]))
    frames = int(outputs["mel_lengths"][0])
    expected = np.clip(vocoder.generate(outputs["mels"][0, :frames].numpy())[0], -1, 1)
    assert samples.shape == (frames * model.mel_config.hop_length,)
    np.testing.assert_allclose(samples / 32767, expected, atol=2e-3)


def test_a_vocoder_of_other_mels_or_no_settings_is_a_clear_error(runner_module, tts_and_vocoder, tmp_path):
    _, vocoder, folder = tts_and_vocoder
    other = ISTFTVocoder({**vocoder.mel_config, "n_mels": 5}, channels=4, intermediate_channels=4, blocks=1,
                         kernel_size=3)
    other.build_from_preset()
    export.tflite(other, tmp_path / "other.tflite")
    result = run_without_tensorflow(SCRIPT, folder / "tts.tflite", "Hi.", "--vocoder", tmp_path / "other.tflite")
    assert result.returncode == 2 and "trained on other mels" in result.stderr
    (tmp_path / "bare.tflite").write_bytes((folder / "vocoder.tflite").read_bytes())
    result = run_without_tensorflow(SCRIPT, folder / "tts.tflite", "Hi.", "--vocoder", tmp_path / "bare.tflite")
    assert result.returncode == 2 and "bare.json is missing" in result.stderr
    settings = json.loads((folder / "tts.json").read_text())
    (tmp_path / "tts-as-vocoder.tflite").write_bytes(b"")
    (tmp_path / "tts-as-vocoder.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="not an ISTFTVocoder"):
        runner_module.NeuralVocoder(tmp_path / "tts-as-vocoder.tflite")
    device = runner_module.NeuralVocoder(folder / "vocoder.tflite")
    for mel, message in [(np.zeros((4, 3)), r"shape \(frames, 6\)"), (np.zeros((0, 6)), "empty"),
                         (np.full((2, 6), np.nan), "12 NaN/inf")]:
        with pytest.raises(ValueError, match=message):
            device.vocode(mel)
