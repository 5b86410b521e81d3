"""CTC loss: it is the forward algorithm of a blank-expanded left-to-right HMM; lengths, masks, errors."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import log_softmax, logsumexp

from tfspeech.losses.ctc import ctc_loss, label_lengths, required_frames

BLANK = -1  # the last class, as the recognizer uses it


def hmm_log_likelihood(log_probs: np.ndarray, labels: list[int], blank: int) -> float:
    """log p(labels | frames) by the forward algorithm of CTC's HMM.

    States are the blank-expanded labels ``b l1 b l2 ... lL b``; state s emits its symbol
    with the frame's probability; a path starts in the first blank or the first label,
    moves left to right (stay, next, or skip a blank between different labels) and ends
    in the last label or the last blank. Transitions carry no probability (all 1).
    """
    states = [blank]
    for label in labels:
        states += [label, blank]
    n = len(states)
    transitions = np.full((n, n), -np.inf)
    for s in range(n):
        transitions[s, s] = 0.0
        if s + 1 < n:
            transitions[s, s + 1] = 0.0
        if s + 2 < n and states[s + 2] != blank and states[s + 2] != states[s]:
            transitions[s, s + 2] = 0.0
    start = np.full(n, -np.inf)
    start[: min(2, n)] = 0.0
    alpha = start + log_probs[0, states]
    for frame in log_probs[1:]:
        alpha = logsumexp(alpha[:, None] + transitions, axis=0) + frame[states]
    return float(logsumexp(alpha[-2:] if n > 1 else alpha))


@pytest.mark.parametrize("labels", [[1, 2, 3], [2, 2, 3], [4, 4, 4], [3], [1, 2, 1, 2]])
def test_ctc_loss_is_minus_hmm_forward_log_likelihood(labels):
    rng = np.random.default_rng(len(labels) * 7 + labels[0])
    frames, classes = 9, 6
    logits = rng.standard_normal((1, frames, classes)).astype(np.float32) * 2.0
    expected = hmm_log_likelihood(log_softmax(logits[0].astype(np.float64), axis=-1), labels, classes - 1)
    loss = ctc_loss(np.array([labels]), logits, blank_index=BLANK).numpy()
    np.testing.assert_allclose(-loss[0], expected, rtol=1e-5, atol=1e-4)


def test_padded_batch_uses_each_utterance_lengths():
    rng = np.random.default_rng(1)
    classes = 6
    logits = rng.standard_normal((2, 10, classes)).astype(np.float32)
    labels = np.array([[1, 2, 2, 3], [4, 0, 0, 0]])  # 0 pads the second utterance
    logit_length = np.array([10, 6])
    loss = ctc_loss(labels, logits, logit_length=logit_length).numpy()
    for row, (ids, frames) in enumerate([([1, 2, 2, 3], 10), ([4], 6)]):
        log_probs = log_softmax(logits[row, :frames].astype(np.float64), axis=-1)
        np.testing.assert_allclose(-loss[row], hmm_log_likelihood(log_probs, ids, classes - 1), rtol=1e-5)


def test_logit_mask_equals_logit_length():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 8, 5)).astype(np.float32)
    labels = np.array([[1, 2], [3, 0]])
    mask = np.arange(8)[None, :] < np.array([[8], [5]])
    np.testing.assert_allclose(
        ctc_loss(labels, logits, logit_mask=mask).numpy(),
        ctc_loss(labels, logits, logit_length=[8, 5]).numpy(),
        rtol=1e-6,
    )


def test_required_frames_count_a_blank_between_repeats():
    labels = np.array([[1, 1, 2, 0], [1, 2, 3, 0], [5, 5, 5, 5], [2, 0, 0, 0]])
    np.testing.assert_array_equal(label_lengths(labels).numpy(), [3, 3, 4, 1])
    np.testing.assert_array_equal(required_frames(labels).numpy(), [4, 3, 7, 1])


def test_labels_longer_than_logits_raise_a_clear_error():
    logits = np.zeros((2, 4, 5), np.float32)
    labels = np.array([[1, 1, 2, 0], [1, 2, 0, 0]])  # the first needs 4 frames, the second 2
    assert np.all(np.isfinite(ctc_loss(labels, logits).numpy()))
    with pytest.raises(ValueError, match=r"longer than the logits allow.*#0: 4 > 3"):
        ctc_loss(labels, logits, logit_length=[3, 3])


def test_labels_too_long_inside_a_graph_raise():
    function = tf.function(lambda labels, logits, lengths: ctc_loss(labels, logits, logit_length=lengths))
    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than the logits allow"):
        function(tf.constant([[1, 2, 3]]), tf.zeros((1, 5, 5)), tf.constant([2]))


def test_wrong_ranks_are_refused():
    with pytest.raises(ValueError, match=r"logits \(batch, frames, classes\)"):
        ctc_loss(np.array([[1, 2]]), np.zeros((4, 5), np.float32))


def test_gradient_pushes_probability_towards_the_labels():
    logits = tf.Variable(tf.zeros((1, 6, 5)))
    labels = tf.constant([[1, 2]])
    with tf.GradientTape() as tape:
        loss = ctc_loss(labels, logits)[0]
    step = logits - 0.5 * tape.gradient(loss, logits)
    assert float(ctc_loss(labels, step)[0]) < float(loss)
