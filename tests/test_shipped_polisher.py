"""The shipped spectrogram polisher: it fits tacotron2-slt, sharpens its mels, keeps any length,
and is opt-in (not the default of `synthesize`)."""

import inspect

import numpy as np
import pytest

from tfspeech import synthesis, zoo
from tfspeech.models.spectrogram_polisher import SpectrogramPolisher
from tfspeech.recipes import polisher_evaluation
from tfspeech.text import TextEncoder
from tests.test_shipped_tts import HELD_OUT

SHIPPED = zoo.roots()[-1]
NAME = "spectrogram-polisher-slt"


@pytest.fixture(scope="module")
def models():
    return zoo.load(NAME, compile=False, expect=SpectrogramPolisher), zoo.load("tacotron2-slt", compile=False)


def test_the_shipped_polisher_fits_tacotron2_slt_and_any_length(models):
    polisher, tts = models
    assert NAME in zoo.list(SHIPPED) and synthesis.POLISHER == NAME
    synthesis.check_polisher(polisher, tts)
    for frames in (1, 5, 37):  # 1 and 5: fewer than the U-Net's 16
        mel = np.full((frames, 80), -6.0, np.float32)
        assert polisher.polish(mel).shape == (1, frames, 80)
    with pytest.raises(ValueError, match="NaN"):
        polisher.polish(np.full((4, 80), np.nan, np.float32))


def test_it_sharpens_tacotron2_slt_on_held_out_sentences(models):
    """The global variance of the polished free-running mels is closer to the recordings' than
    the unpolished mels' (against each other: no recordings of these sentences are needed)."""
    polisher, tts = models
    encoder = TextEncoder(tts.symbols)
    mels = []
    for text in HELD_OUT:
        outputs = tts.infer(np.array([encoder.encode(text)], np.int32))
        mels.append(outputs["mels"][0, :int(outputs["mel_lengths"][0])].numpy())
    polished = [polisher.polish(m)[0] for m in mels]
    assert polisher_evaluation.gv_ratios(polished, mels).mean() > 1.05


def test_polishing_is_opt_in():
    assert inspect.signature(synthesis.synthesize).parameters["polish"].default is None
    metrics = zoo.info(NAME)["metrics"]
    assert metrics["dtw_mel_l1_polished"]["value"] > 1.02 * metrics["dtw_mel_l1_unpolished"]["value"], (
        "the card's faithfulness figure is within the goal now: reconsider making polishing the default")
