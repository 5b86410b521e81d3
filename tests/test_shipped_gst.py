"""The shipped GST preset: its styles steer pitch and rate the way its card says, and it
fine-tunes with ``fit`` (a few steps on another voice lower that voice's held-out loss)."""

import librosa
import numpy as np
import pytest

from tests.data.test_tts_pipeline import corpus  # noqa: F401 - the tiny espeak-ng corpus fixture
from tests.models.tts_checks import check_fine_tuning_lowers_held_out_loss
from tests.voices import require_voice
from tfspeech import zoo
from tfspeech.data import voices
from tfspeech.synthesis import synthesize

NAME = "gst-tacotron2-slt"
TEXT = "They pick up our trash twice a week."  # test split: never trained on
REFERENCE_TEXT = "I have an exam next week, I must hit the books now."


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Festival slt recordings of another sentence at the slow-low and fast-high settings."""
    from tfspeech.recipes.gst_tacotron2_slt import style_voice

    folder = tmp_path_factory.mktemp("references")
    paths = {}
    for pitch, speed in ((-3, 0.85), (3, 1.15)):
        voice = require_voice(style_voice(pitch, speed))
        paths[pitch] = folder / f"pitch{pitch}.wav"
        assert voices.synthesize(voice, [REFERENCE_TEXT], [paths[pitch]]) == [None]
    return paths


def median_f0(waveform, rate) -> float:
    f0, voiced, _ = librosa.pyin(waveform, fmin=100, fmax=400, sr=rate)
    return float(np.nanmedian(f0[voiced]))


def test_a_slow_low_reference_speaks_longer_and_lower_than_a_fast_high_one(references):
    low_slow, rate, _ = synthesize(TEXT, preset=NAME, style=references[-3])
    high_fast, _, _ = synthesize(TEXT, preset=NAME, style=references[3])
    assert len(low_slow) > 1.15 * len(high_fast)  # the settings' rates differ by 1.15 / 0.85 = 1.35
    assert 12 * np.log2(median_f0(high_fast, rate) / median_f0(low_slow, rate)) > 3  # semitones; 6 apart


def test_fine_tuning_on_another_voice_lowers_its_held_out_loss(corpus):  # noqa: F811
    check_fine_tuning_lowers_held_out_loss(zoo.load(NAME), corpus)


def test_the_named_styles_speak_as_their_names_say():
    assert set(zoo.load(NAME, compile=False).named_styles) == {
        "low-slow", "low", "low-fast", "slow", "neutral", "fast", "high-slow", "high", "high-fast"}
    low_slow, rate, _ = synthesize(TEXT, preset=NAME, style="low-slow")
    high_fast, _, _ = synthesize(TEXT, preset=NAME, style="high-fast")
    assert len(low_slow) > 1.15 * len(high_fast)
    assert 12 * np.log2(median_f0(high_fast, rate) / median_f0(low_slow, rate)) > 3
