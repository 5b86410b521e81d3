"""TTS figures on hand-made alignments, log-mels and stop decisions."""

import numpy as np
import pytest

from tfspeech.tts_metrics import (
    DIAGONAL_BAND, diagonality, dtw_mel_l1, focus_rate, stop_token_accuracy, stopped_within)


def straight(steps, text):
    """One-hot alignment on the symbol under the straight line at each step's centre."""
    alignment = np.zeros((steps, text))
    alignment[np.arange(steps), ((np.arange(steps) + 0.5) * text / steps).astype(int)] = 1.0
    return alignment


@pytest.mark.parametrize("steps, text", [(90, 30), (30, 30), (7, 40)])
def test_a_straight_diagonal_is_fully_focused_and_diagonal(steps, text):
    assert focus_rate(straight(steps, text)) == 1.0
    assert diagonality(straight(steps, text)) == 1.0


def test_uniform_attention():
    steps, text = 400, 200
    uniform = np.full((steps, text), 1.0 / text)
    assert focus_rate(uniform) == pytest.approx(1.0 / text)
    # the band |x - y| <= b covers 1 - (1 - b)^2 of the unit square
    assert diagonality(uniform) == pytest.approx(1 - (1 - DIAGONAL_BAND) ** 2, abs=0.01)
    assert diagonality(uniform, band=0.5) == pytest.approx(0.75, abs=0.01)


def test_stuck_and_reversed_attention_are_far_from_diagonal():
    steps, text = 100, 50
    stuck = np.zeros((steps, text))
    stuck[:, 0] = 1.0
    assert focus_rate(stuck) == 1.0  # focused, yet wrong: diagonality tells
    assert diagonality(stuck) == pytest.approx(DIAGONAL_BAND, abs=0.02)
    reversed_ = straight(steps, text)[::-1]
    assert diagonality(reversed_) == pytest.approx(DIAGONAL_BAND, abs=0.03)


def test_focus_rate_of_split_attention():
    alignment = np.zeros((4, 10))
    alignment[:, :2] = [0.7, 0.3]
    assert focus_rate(alignment) == pytest.approx(0.7)


def test_short_texts_get_a_band_of_at_least_one_symbol():
    # 3 symbols: band 0.2 would be 0.6 symbols; a step between two symbols still counts both
    alignment = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    assert diagonality(alignment) == 1.0


def test_dtw_mel_l1_ignores_pace_but_not_content():
    rng = np.random.default_rng(0)
    reference = rng.normal(-5.0, 2.0, (40, 8))
    assert dtw_mel_l1(reference, reference) == 0.0
    slow = np.repeat(reference, 2, axis=0)  # the same speech at half the speed
    assert dtw_mel_l1(slow, reference) == 0.0
    assert np.abs(slow[:40] - reference).mean() > 1.0  # frame by frame they differ
    assert dtw_mel_l1(reference + 0.25, reference) == pytest.approx(0.25)
    babble = np.concatenate([reference, np.full((40, 8), 3.0)])  # did not stop: 40 frames of noise
    assert dtw_mel_l1(babble, reference) > 1.0


def test_dtw_mel_l1_needs_the_same_bins():
    with pytest.raises(ValueError, match="mel bins"):
        dtw_mel_l1(np.zeros((5, 8)), np.zeros((5, 6)))
    with pytest.raises(ValueError, match="finite"):
        dtw_mel_l1(np.full((5, 8), np.nan), np.zeros((5, 8)))


def test_stop_token_accuracy():
    perfect = [np.array([0.1, 0.2, 0.9]), np.array([0.0, 0.8])]
    assert stop_token_accuracy(perfect) == {"accuracy": 1.0, "final_step_recall": 1.0, "early_stop_rate": 0.0}
    # one early stop (step 0 of the first) and one missed final step (the second)
    flawed = [np.array([0.7, 0.2, 0.9]), np.array([0.0, 0.3])]
    figures = stop_token_accuracy(flawed)
    assert figures["accuracy"] == pytest.approx(3 / 5)
    assert figures["final_step_recall"] == 0.5
    assert figures["early_stop_rate"] == pytest.approx(1 / 3)
    assert stop_token_accuracy(flawed, threshold=0.25)["final_step_recall"] == 1.0


def test_stopped_within():
    generated, reference = [100, 130, 119, 1000], [100, 100, 100, 900]
    assert stopped_within(generated, reference, [True, True, True, True]) == 0.75
    # the last one reached the frame guard: not stopped, whatever its length
    assert stopped_within(generated, reference, [True, True, True, False]) == 0.5
    assert stopped_within(generated, reference, [True] * 4, factor=1.5) == 1.0


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(3), np.zeros((2, 3)), -np.ones((2, 3))])
def test_bad_alignments_are_clear_errors(bad):
    with pytest.raises(ValueError, match="alignment"):
        focus_rate(bad)


def test_mismatched_lengths_are_clear_errors():
    with pytest.raises(ValueError, match="per utterance"):
        stopped_within([1, 2], [1], [True, True])
    with pytest.raises(ValueError, match="per utterance"):
        stop_token_accuracy([np.array([])])
