"""Every shipped text-to-speech preset loads and speaks unseen sentences intelligibly.

The sentences come from the test split of the presets' corpus (the examples in their cards),
and the ``ctc-multivoice`` recognizer scores the Griffin-Lim audio. On these three sentences
tacotron2-slt scores a CER of 0.18 and tacotron-slt 0.45 (their cards: 0.16 and 0.41 over 64);
noise or a broken front end scores near 1, tacotron-slt's step-1,250 checkpoint 0.71.
"""

import pytest

from tfspeech import zoo
from tfspeech.metrics import intelligibility
from tfspeech.synthesis import synthesize

TTS_CLASSES = {"tfspeech>Tacotron", "tfspeech>Tacotron2", "tfspeech>GSTTacotron2"}
SHIPPED = zoo.roots()[-1]
SHIPPED_TTS = [name for name in zoo.list(SHIPPED) if zoo.info(name, SHIPPED)["class"] in TTS_CLASSES]
HELD_OUT = [
    "I have an exam next week, I must hit the books now.",
    "They pick up our trash twice a week.",
    "It was common practice to lead off the young ones and teach them bad habits.",
]
MAX_CER = 0.6


def test_the_default_preset_is_shipped():
    assert "tacotron2-slt" in SHIPPED_TTS


@pytest.mark.parametrize("preset", SHIPPED_TTS)
def test_shipped_preset_is_intelligible_on_unseen_sentences(preset):
    waveforms = []
    for text in HELD_OUT:
        waveform, sample_rate, alignments = synthesize(text, preset=preset)
        assert len(alignments) == 1 and waveform.ndim == 1
        waveforms.append(waveform)
    assert intelligibility(waveforms, HELD_OUT, sample_rate=sample_rate) < MAX_CER
