"""The polisher's over-smoothing figures: GV ratio, modulation-spectrum distance, silence pruning."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from tfspeech.recipes import polisher_evaluation as evaluation


def speech(frames=200, seed=0):
    """Log-mels with silent edges and a fast-changing middle, ``(frames, 8)``."""
    rng = np.random.default_rng(seed)
    mel = np.full((frames, 8), np.log(1e-5), np.float32)
    mel[20:-20] = rng.normal(-3.0, 1.5, (frames - 40, 8))
    return mel


def test_silent_edges_are_pruned():
    mel = speech()
    assert evaluation.speech_frames(mel).shape == (160, 8)
    np.testing.assert_array_equal(evaluation.speech_frames(mel), mel[20:-20])


def test_identical_mels_have_ratio_one_and_distance_zero():
    mels = [speech(seed=s) for s in range(3)]
    np.testing.assert_allclose(evaluation.gv_ratios(mels, mels), 1.0)
    assert evaluation.modulation_distance(mels, mels) == 0.0


def test_smoothing_lowers_the_gv_ratio_and_moves_the_modulation_spectrum():
    real = [speech(seed=s) for s in range(3)]
    blurred = [np.concatenate([m[:20], uniform_filter1d(m[20:-20], 5, axis=0), m[-20:]]) for m in real]
    assert np.all(evaluation.gv_ratios(blurred, real) < 0.5)
    assert evaluation.modulation_distance(blurred, real) > 3.0
    sharper = [np.concatenate([m[:20], 1.5 * b[20:-20] - 0.5 * b[20:-20].mean(0), m[-20:]])
               for m, b in zip(real, blurred)]
    assert evaluation.gv_ratios(sharper, real).mean() > evaluation.gv_ratios(blurred, real).mean()


def test_short_utterances_still_have_a_modulation_spectrum():
    assert evaluation.modulation_spectrum([speech(frames=60)]).shape == (evaluation.SEGMENT // 2 + 1, 8)


@pytest.mark.parametrize(("before", "after", "closed"), [(0.8, 0.9, 0.5), (0.8, 0.8, 0.0), (0.8, 1.0, 1.0),
                                                         (0.8, 0.7, -0.5)])
def test_gap_closed(before, after, closed):
    assert evaluation.gap_closed(before, after) == pytest.approx(closed)
