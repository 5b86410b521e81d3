"""The vocoder's text-to-speech evaluation with tiny models: Tacotron 2's free-running mels
through the vocoder and Griffin-Lim, samples, plot, CER, and the card's section."""

import keras
import pytest

from tfspeech.audio import MelConfig
from tfspeech.data.layout import Utterance
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.recipes import istft_vocoder_evaluation


@pytest.fixture(scope="module")
def models():
    from tests.models.test_tacotron2 import make

    from tests.models import tts_checks

    tts = make(max_frames=12)
    tts_checks.set_stop_bias(tts, -30.0)  # every sentence runs to the 12-frame guard
    keras.utils.set_random_seed(0)
    vocoder = ISTFTVocoder(tts.mel_config.to_dict(), channels=8, intermediate_channels=8, blocks=1, kernel_size=3)
    vocoder.build_from_preset()
    return tts, vocoder


def test_tts_mels_through_both_vocoders(models, tmp_path):
    tts, vocoder = models
    sentences = [Utterance(f"s{i}", text, "", "slt", "test") for i, text in enumerate(["hello there.", "a cat."])]
    figures = istft_vocoder_evaluation.evaluate_tts(vocoder, tts, sentences, tts.mel_config, out_dir=tmp_path,
                                                    batch_size=1)
    assert figures["sentences"] == 2 and figures["seconds"] > 0
    assert set(figures["cer"]) == {"vocoder", "griffin_lim"}
    assert all(0.0 <= cer for cer in figures["cer"].values())
    difference = figures["cer_difference"]
    assert difference["difference"] == pytest.approx(figures["cer"]["vocoder"] - figures["cer"]["griffin_lim"])
    assert difference["low"] <= difference["difference"] <= difference["high"]
    for name in ("s0-vocoder", "s0-griffin_lim", "s1-vocoder", "s1-griffin_lim"):
        assert (tmp_path / "tts_samples" / f"{name}.wav").is_file()
    assert (tmp_path / istft_vocoder_evaluation.TTS_PLOT).read_bytes()[:4] == b"\x89PNG"
    assert "with Griffin-Lim" in istft_vocoder_evaluation._tts_section(figures)
    assert "paired bootstrap interval" in istft_vocoder_evaluation._tts_section(figures)


def test_a_vocoder_of_other_mels_is_refused(models, tmp_path):
    tts, _ = models
    other = ISTFTVocoder(MelConfig(n_mels=6, n_fft=512, win_length=512, hop_length=128).to_dict(), channels=4,
                         intermediate_channels=4, blocks=1, kernel_size=3)
    with pytest.raises(ValueError, match="different MelConfigs"):
        istft_vocoder_evaluation.evaluate_tts(other, tts, [], tts.mel_config, out_dir=tmp_path)
