"""export/synthesize_text.py with an exported GST Tacotron 2: --style, --style-weights and --style-wav
without TensorFlow, and clear refusals."""

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.models import tts_checks
from tests.models.test_gst_tacotron2 import NAMED, make, styled
from tests.no_tensorflow import import_runner, run_without_tensorflow
from tfspeech import export
from tfspeech.audio import load, log_mel_spectrogram, save

SCRIPT = Path(__file__).resolve().parent.parent / "export" / "synthesize_text.py"
IDS = [3, 4, 5, 1]


def voiced(seconds: float, sample_rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 2 * np.pi * (120 * t + 60 * t ** 2)
    return (0.3 * sum(np.sin(k * pitch) / k for k in range(1, 20))).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny GST model (runs to its 8-frame guard) with ``NAMED`` styles, and its ``.tflite``."""
    model = styled(make(named_styles=NAMED))
    tts_checks.set_stop_bias(model, -30.0)
    model.mean_style_weights.assign(np.random.default_rng(3).dirichlet(np.ones(4), 2).astype(np.float32))
    path = tmp_path_factory.mktemp("gst") / "gst.tflite"
    export.tflite(model, path)
    return model, path


@pytest.fixture(scope="module")
def device(exported):
    runner_module = import_runner("synthesize_text")
    path = exported[1]
    return runner_module, runner_module.LiteRTRunner(path), runner_module.load_settings(path)


def speak(path, out, *extra):
    """The runner's WAV samples, or the finished process when it failed."""
    result = run_without_tensorflow(SCRIPT, path, "--ids", ",".join(map(str, IDS[:-1])), "-o", out,
                                    "--griffin-lim-iters", "2", *extra)
    if result.returncode:
        return result
    with wave.open(str(out), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


def test_style_weights_steer_the_exported_model_without_tensorflow(exported, tmp_path):
    _, path = exported
    plain = speak(path, tmp_path / "plain.wav")
    first = speak(path, tmp_path / "first.wav", "--style-weights", "1,0,0,0")
    heads = speak(path, tmp_path / "heads.wav", "--style-weights=1,0,0,0,1,0,0,0")
    assert isinstance(first, np.ndarray), first.stderr[-2000:]
    assert first.shape == plain.shape and not np.array_equal(first, plain)
    np.testing.assert_array_equal(first, heads)


def test_a_named_style_speaks_as_its_token_weights_without_tensorflow(exported, tmp_path):
    _, path = exported
    weights = ",".join(repr(float(value)) for value in NAMED["low-slow"].ravel())
    by_name = speak(path, tmp_path / "named.wav", "--style", "low-slow")
    assert isinstance(by_name, np.ndarray), by_name.stderr[-2000:]
    np.testing.assert_array_equal(by_name, speak(path, tmp_path / "weights.wav", f"--style-weights={weights}"))
    assert not np.array_equal(by_name, speak(path, tmp_path / "plain.wav"))


def test_named_styles_come_from_the_settings_file(device):
    runner_module, _, settings = device
    assert sorted(settings["named_styles"]) == ["fast", "low-slow"]
    np.testing.assert_array_equal(runner_module.named_style_weights(settings, "fast", 2, 4),
                                  np.tile(NAMED["fast"], (2, 1)))
    with pytest.raises(ValueError, match="--style fast: the model has no named styles; give --style-weights or "
                                         "--style-wav instead"):
        runner_module.named_style_weights({**settings, "named_styles": {}}, "fast", 2, 4)
    with pytest.raises(ValueError, match=r"named style 'fast' of the settings file holds weights of shape \(3,\)"):
        runner_module.named_style_weights({"named_styles": {"fast": [1.0, 0, 0]}}, "fast", 2, 4)


def test_help_names_the_style_option():
    result = run_without_tensorflow(SCRIPT, "--help")
    assert result.returncode == 0 and "--style NAME" in result.stdout and "named style" in result.stdout


def test_the_styled_signature_speaks_the_keras_models_style_and_its_mean_style(exported, device):
    model, _ = exported
    runner_module, runner, settings = device
    ids = np.array([IDS], np.int32)
    weights = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]], np.float32)
    mels = runner.run_signature(runner_module.STYLED, text=ids, style_weights=weights[None])["mels"]
    np.testing.assert_allclose(mels, model.infer(ids, style_weights=weights[None])["mels"], atol=1e-4)
    mean = runner_module.synthesize(runner, [IDS], settings["mel_config"], 2,
                                    style_weights=model.mean_style_weights.numpy())
    np.testing.assert_allclose(mean, runner_module.synthesize(runner, [IDS], settings["mel_config"], 2), atol=1e-4)


def test_a_reference_wav_gives_the_keras_models_weights(exported, device, tmp_path):
    model, path = exported
    runner_module, runner, settings = device
    wav = save(tmp_path / "ref.wav", voiced(0.3), 22050)
    log_mel = log_mel_spectrogram(load(wav)[0], model.mel_config)[None]
    np.testing.assert_allclose(runner_module.reference_style_weights(runner, wav, settings),
                               model.reference_weights(log_mel)[0], atol=1e-4)
    by_wav = speak(path, tmp_path / "wav.wav", "--style-wav", wav)
    assert isinstance(by_wav, np.ndarray), by_wav.stderr[-2000:]
    assert not np.array_equal(by_wav, speak(path, tmp_path / "plain.wav"))


def test_a_model_without_styles_is_refused(tmp_path):
    from tests.models.test_tacotron2 import make as make_tacotron2

    export.tflite(make_tacotron2(), tmp_path / "plain.tflite")
    for style in (["--style-weights", "1,0,0,0"], ["--style", "fast"]):
        result = speak(tmp_path / "plain.tflite", tmp_path / "x.wav", *style)
        assert result.returncode == 2 and "no synthesize_styled signature" in result.stderr


@pytest.mark.parametrize("extra, message", [
    (["--style", "slow"], "--style slow: the model has no style of that name; choose one of fast, low-slow"),
    (["--style", "fast", "--style-wav", "short"], "not allowed with argument"),
    (["--style-weights", "1,0"], "--style-weights got 2 values; the model has 4 style tokens: give 4 weights "
                                 "(one per token) or 8 (head by head)"),
    (["--style-weights", "1,x,0,0"], "--style-weights takes comma-separated numbers"),
    (["--style-weights", "1,inf,0,0"], "--style-weights must be finite numbers"),
    (["--style-wav", "16k"], "16-bit at 16000 Hz; the model needs 16-bit PCM at 22050 Hz"),
    (["--style-wav", "short"], "0.01 s long; the style encoder needs at least 0.04 s (4 frames)"),
    (["--style-wav", "missing"], "No such file"),
    (["--style-weights", "1,0,0,0", "--style-wav", "short"], "not allowed with argument"),
])
def test_bad_style_is_a_clear_error(exported, tmp_path, extra, message):
    wavs = {"16k": save(tmp_path / "16k.wav", voiced(0.3, 16000), 16000),
            "short": save(tmp_path / "short.wav", voiced(0.01), 22050), "missing": tmp_path / "missing.wav"}
    extra = [str(wavs.get(item, item)) for item in extra]
    result = subprocess.run([sys.executable, str(SCRIPT), str(exported[1]), "--ids", "3,4", *extra,
                             "-o", str(tmp_path / "x.wav")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "x.wav").exists()
