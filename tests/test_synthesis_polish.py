"""Polishing in the product: synthesis.synthesize(polish=...), `tfspeech synthesize --polish`,
export/synthesize_text.py's exported polisher."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.models import tts_checks
from tests.no_tensorflow import import_runner
from tfspeech import export
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.models.spectrogram_polisher import SpectrogramPolisher
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.synthesis import synthesize
from tfspeech.text import TextEncoder

EXPORT = Path(__file__).resolve().parent.parent / "export"
MEL_CONFIG = {"n_fft": 256, "win_length": 256, "hop_length": 64, "n_mels": 8}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = Tacotron2(embedding_dim=8, encoder_filters=8, encoder_kernel_size=3, encoder_layers=1, encoder_rnn_units=4,
                      attention_units=4, attention_options={"filters": 2, "kernel_size": 3}, prenet_units=(8,),
                      attention_rnn_units=8, decoder_rnn_units=8, postnet_filters=4, postnet_layers=2,
                      mel_config=MEL_CONFIG, reduction_factor=2, max_frames=10)
    model.build()
    tts_checks.set_stop_bias(model, -30.0)  # every sentence runs to the 10-frame guard
    return model


def polisher(mel_config=MEL_CONFIG):
    """A tiny polisher (factor 4, so 10 frames are padded) whose output layer is not the identity."""
    keras.utils.set_random_seed(0)
    model = SpectrogramPolisher(mel_config, channels=(4, 8), mel_high=1.0)
    model.build_from_preset()
    kernel = model.unet.out.kernel
    kernel.assign(np.random.default_rng(1).normal(0, 0.3, kernel.shape).astype(np.float32))
    return model


def test_the_vocoder_hears_each_sentences_polished_mels(model):
    keras.utils.set_random_seed(0)
    vocoder = ISTFTVocoder(MEL_CONFIG, channels=8, intermediate_channels=8, blocks=1, kernel_size=3)
    vocoder.build_from_preset()
    polish = polisher()
    with pytest.warns(UserWarning, match="did not end within"):
        waveform, _, _ = synthesize("Hello there. How are you?", model=model, vocoder_model=vocoder, polish=polish)
    with pytest.warns(UserWarning, match="did not end within"):
        plain, _, _ = synthesize("Hello there. How are you?", model=model, vocoder_model=vocoder)
    mels = model.infer(np.array([TextEncoder(model.symbols).encode("hello there.")], np.int32))["mels"].numpy()
    alone = vocoder.generate(polish.polish(mels))[0]
    np.testing.assert_allclose(waveform[:640], np.clip(alone, -1.0, 1.0), atol=1e-5)
    assert not np.allclose(waveform, plain, atol=1e-3)  # polishing changed what is heard


def test_griffin_lim_inverts_the_polished_mels(model):
    with pytest.warns(UserWarning, match="did not end within"):
        waveform, _, _ = synthesize("Hello.", model=model, vocoder="griffin-lim", griffin_lim_iters=2,
                                    polish=polisher())
    assert waveform.shape == (9 * 64,) and np.isfinite(waveform).all()


def test_a_polisher_must_fit_the_model(model):
    with pytest.raises(ValueError, match="polisher was trained on other mels"):
        synthesize("Hi.", model=model, vocoder="griffin-lim", polish=polisher({**MEL_CONFIG, "fmax": 4000.0}))
    with pytest.raises(ValueError, match="not a spectrogram polisher"):
        synthesize("Hi.", model=model, vocoder="griffin-lim", polish=model)


def test_cli_polish_takes_an_optional_preset_and_refuses_unknown_ones(tmp_path):
    from tfspeech.cli import build_parser

    parsed = build_parser().parse_args(["synthesize", "Hi.", "-o", "x.wav", "--polish"])
    assert parsed.polish == "spectrogram-polisher-slt"
    assert build_parser().parse_args(["synthesize", "Hi.", "-o", "x.wav"]).polish is None
    result = subprocess.run([sys.executable, "-m", "tfspeech.cli", "synthesize", "Hi.", "-o", str(tmp_path / "x.wav"),
                             "--polish", "no-such-polisher"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no-such-polisher" in result.stderr


def test_the_exported_polisher_runs_on_a_device(tmp_path):
    runner_module = import_runner("synthesize_text")
    model = polisher()
    export.tflite(model, tmp_path / "polisher.tflite")
    device = runner_module.Polisher(tmp_path / "polisher.tflite")
    for frames in (3, 10):
        mel = np.random.default_rng(frames).normal(-4, 2, (frames, 8)).astype(np.float32)
        np.testing.assert_allclose(device.polish(mel), model.polish(mel)[0], atol=1e-4)
    device.check_mel_config({**MEL_CONFIG, **{k: v for k, v in model.mel_config.items() if k not in MEL_CONFIG}})
    with pytest.raises(ValueError, match="other mels"):
        device.check_mel_config({**model.mel_config, "n_mels": 80})
    with pytest.raises(ValueError, match="NaN"):
        device.polish(np.full((4, 8), np.nan, np.float32))
    vocoder = ISTFTVocoder(MEL_CONFIG, channels=8, intermediate_channels=8, blocks=1, kernel_size=3)
    vocoder.build_from_preset()
    export.tflite(vocoder, tmp_path / "vocoder.tflite")
    with pytest.raises(ValueError, match="not a SpectrogramPolisher"):
        runner_module.Polisher(tmp_path / "vocoder.tflite")


def test_synthesize_text_polishes_without_tensorflow(tmp_path):
    import wave

    from tests.models.test_tacotron2 import make
    from tests.no_tensorflow import run_without_tensorflow

    tts = make(max_frames=30, mel_config={"n_mels": 8})
    export.tflite(tts, tmp_path / "tts.tflite")
    export.tflite(polisher(tts.mel_config.to_dict()), tmp_path / "polisher.tflite")
    export.tflite(polisher({**tts.mel_config.to_dict(), "fmax": 4000.0}), tmp_path / "other.tflite")
    script = EXPORT / "synthesize_text.py"

    def speak(*extra):
        name = tmp_path / f"out{len(extra)}.wav"
        result = run_without_tensorflow(script, tmp_path / "tts.tflite", "--ids", "3,4,5", "-o", name,
                                        "--griffin-lim-iters", "2", *extra)
        if result.returncode:
            return result
        with wave.open(str(name), "rb") as wav:
            return np.frombuffer(wav.readframes(wav.getnframes()), "<i2")

    plain, polished = speak(), speak("--polish", tmp_path / "polisher.tflite")
    assert plain.shape == polished.shape and not np.array_equal(plain, polished)
    refused = speak("--polish", tmp_path / "other.tflite")
    assert refused.returncode == 2 and "polisher was trained on other mels" in refused.stderr
