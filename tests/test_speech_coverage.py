"""Incomplete speech is detected (cut at max_frames, words skipped, the end not reached),
long text is split and retried, and what still fails is named, never returned silently."""

import numpy as np
import pytest

from tests.models import tts_checks
from tests.test_synthesis import tiny_tacotron
from tfspeech.speech_coverage import MAX_JUMP, max_sentence_chars, sentence_problem
from tfspeech.synthesis import synthesize


def alignment(path, symbols):
    weights = np.zeros((len(path), symbols))
    weights[np.arange(len(path)), path] = 1.0
    return weights


def test_a_monotonic_alignment_that_reaches_the_end_is_complete():
    assert sentence_problem(alignment(np.repeat(np.arange(20), 2), 20), stopped=True) is None


def test_skipped_words_unfinished_text_and_cut_speech_are_named():
    skipping = np.r_[np.arange(10), np.arange(10 + MAX_JUMP + 5, 40)]
    assert "skipped" in sentence_problem(alignment(skipping, 40), stopped=True)
    assert "before the end" in sentence_problem(alignment(np.arange(30), 40), stopped=True)
    assert "cut off" in sentence_problem(alignment(np.arange(40), 40), stopped=False)


def test_the_sentence_limit_follows_the_models_frames():
    class Model:
        max_frames = 1000
        mel_config = type("C", (), {"hop_length": 256, "sample_rate": 22050})()
    assert 100 <= max_sentence_chars(Model()) <= 120  # tacotron2-slt: 11.6 s of frames


def test_long_text_is_split_and_what_still_fails_is_named():
    model = tiny_tacotron(max_frames=12)
    tts_checks.set_stop_bias(model, -30.0)  # never stops: every sentence runs into the guard
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen."
    with pytest.warns(UserWarning, match=r"did not end within the model's frames.*'one two three") as caught:
        _, _, alignments = synthesize(text, model=model, griffin_lim_iters=2)
    assert len(alignments) >= 3  # split at max_sentence_chars, then retried in halves
    assert len(caught) == 1


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tacotron2-slt", "tacotron-slt"])
def test_a_long_sentence_is_said_completely_by_the_shipped_presets(preset):
    from tests.text.test_normalize import LONG

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        waveform, rate, alignments = synthesize(LONG, preset=preset, griffin_lim_iters=8)
    assert len(alignments) >= 4 and len(waveform) / rate > 16  # was cut at 11.6 s (tacotron2-slt)
    for a in alignments:
        assert sentence_problem(a, stopped=True) is None
