"""The shipped vocoder preset: the default voice of `synthesize`, intelligible, and fine-tunable
on another voice's corpus as the README shows."""

import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.metrics import intelligibility
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.synthesis import DEFAULT_VOCODER, default_vocoder, synthesize
from tests.test_shipped_tts import HELD_OUT

SHIPPED = zoo.roots()[-1]


def test_the_default_vocoder_is_shipped_and_fits_tacotron2_slt():
    assert DEFAULT_VOCODER in zoo.list(SHIPPED)
    tts = zoo.load("tacotron2-slt", compile=False)
    assert isinstance(default_vocoder(tts), ISTFTVocoder)


def test_the_default_voice_is_at_least_as_intelligible_as_griffin_lim():
    by_vocoder, by_griffin_lim = [], []
    for text in HELD_OUT:
        waveform, rate, _ = synthesize(text)
        by_vocoder.append(waveform)
        by_griffin_lim.append(synthesize(text, vocoder="griffin-lim")[0])
    vocoder_cer = intelligibility(by_vocoder, HELD_OUT, sample_rate=rate)
    assert vocoder_cer <= intelligibility(by_griffin_lim, HELD_OUT, sample_rate=rate) + 0.05
    assert vocoder_cer < 0.35


@pytest.mark.slow
def test_fine_tuning_on_another_voice_lowers_its_held_out_loss(tmp_path):
    from tfspeech.audio import MelConfig
    from tfspeech.data.corpus import build_corpus
    from tfspeech.data.waveform_pipeline import load_waveform_utterances, waveform_dataset

    corpus = build_corpus(["flite:rms"], 24, out_dir=tmp_path / "rms", progress=False)
    model = zoo.load(DEFAULT_VOCODER)  # compiled for fine-tuning
    config = MelConfig.from_dict(model.mel_config)
    utterances = load_waveform_utterances(corpus, "train", config, progress=False)
    train, held_out = utterances[:-4], utterances[-4:]

    def crops(data, seed):
        return waveform_dataset(data, config, segment_frames=32, left_context=model.left_context,
                                right_context=model.right_context, batch_size=4, seed=seed)

    before = model.evaluate(crops(held_out, 1).take(4), verbose=0)
    model.fit(crops(train, 0), steps_per_epoch=20, epochs=1, verbose=0)
    after = model.evaluate(crops(held_out, 1).take(4), verbose=0)
    assert np.isfinite(after) and after < before
