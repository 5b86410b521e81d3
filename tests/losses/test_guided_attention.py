"""Guided attention loss: small for diagonal alignments, large for off-diagonal, blind to padding."""

import numpy as np

from tfspeech.losses.guided_attention import guided_attention_loss, guided_attention_weights


def _diagonal(steps, text):
    alignment = np.zeros((steps, text), "float32")
    alignment[np.arange(steps), np.minimum(np.arange(steps) * text // steps, text - 1)] = 1.0
    return alignment


def test_diagonal_costs_less_than_stuck_attention():
    diagonal = _diagonal(20, 10)[None]
    stuck = np.zeros((1, 20, 10), "float32")
    stuck[:, :, 0] = 1.0
    lengths = ([10], [20])
    assert float(guided_attention_loss(diagonal, *lengths)) < 0.1 * float(guided_attention_loss(stuck, *lengths))


def test_weights_match_the_formula_and_vanish_on_padding():
    weights = guided_attention_weights([3], [4], 6, 5, sigma=0.3).numpy()[0]
    s, n = 2, 1
    np.testing.assert_allclose(weights[s, n], 1 - np.exp(-((n / 3 - s / 4) ** 2) / (2 * 0.3 ** 2)), rtol=1e-6)
    assert np.all(weights[4:] == 0) and np.all(weights[:, 3:] == 0)


def test_padding_never_contributes():
    short = _diagonal(8, 5)
    padded = np.full((1, 12, 9), 1.0, "float32")  # any value at padding
    padded[0, :8, :5] = short
    loss_short = guided_attention_loss(short[None], [5], [8])
    loss_padded = guided_attention_loss(padded, [5], [8])
    np.testing.assert_allclose(float(loss_padded), float(loss_short), rtol=1e-6)


def test_loss_is_the_expected_penalty_per_step_whatever_the_text_length():
    """Even attention costs the mean of W over the text at each step, for short and long texts;
    a diagonal costs about nothing."""
    for text in (10, 80):
        steps = 2 * text
        even = np.full((1, steps, text), 1.0 / text, "float32")
        expected = guided_attention_weights([text], [steps], steps, text).numpy()[0].mean(axis=1).mean()
        np.testing.assert_allclose(float(guided_attention_loss(even, [text], [steps])), expected, rtol=1e-5)
        assert 0.4 < expected < 0.8
        assert float(guided_attention_loss(_diagonal(steps, text)[None], [text], [steps])) < 0.05
