"""spoken_digits recipe pieces: left-to-right HMM initialization, confusion counting, voice split."""

import numpy as np

from tfspeech.data.voices import parse_voice
from tfspeech.models.digit_recognizer import DigitRecognizer
from tfspeech.recipes import spoken_digits


def _ramps(rng, n=5, features=3):
    """Sequences rising through three levels, of varying length."""
    return [np.repeat(np.arange(3.0), length)[:, None] * np.ones(features) + 0.1 * rng.standard_normal((3 * length, features))
            for length in rng.integers(4, 9, size=n)]


def test_left_to_right_hmm_stays_left_to_right_and_orders_states():
    hmm = spoken_digits.left_to_right_hmm(_ramps(np.random.default_rng(0)), n_states=3)
    np.testing.assert_allclose(hmm.startprob_, [1, 0, 0])
    assert np.all(np.tril(hmm.transmat_, -1) == 0) and np.all(np.triu(hmm.transmat_, 2) == 0)
    np.testing.assert_allclose(hmm.means_.mean(axis=1), [0, 1, 2], atol=0.1)


def test_confusion_counts_true_against_recognized():
    rng = np.random.default_rng(1)
    words = ("up", "down")
    rising = _ramps(rng)
    falling = [sequence[::-1] for sequence in _ramps(rng)]
    model = DigitRecognizer(words, n_states=3, n_features=3)
    model.set_word_hmms([spoken_digits.left_to_right_hmm(rising, 3), spoken_digits.left_to_right_hmm(falling, 3)])
    voices = {"a": {"up": rising[0], "down": falling[0]}, "b": {"up": falling[1], "down": falling[2]}}
    matrix, accuracy = spoken_digits.confusion(model, voices)
    np.testing.assert_array_equal(matrix, [[1, 1], [0, 2]])
    assert accuracy == 0.75


def test_held_out_voices_are_disjoint_from_training_voices():
    held_out = {parse_voice(spec).spec for spec in spoken_digits.HELD_OUT_VOICES}
    training = {parse_voice(spec).spec for spec in spoken_digits.TRAIN_VOICES}
    assert len(held_out) >= 3 and not held_out & training
