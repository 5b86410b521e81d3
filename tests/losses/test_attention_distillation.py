"""Attention distillation loss: the cross-entropy to the teacher = KL + the teacher's entropy, per
real step, blind to padding, the same scale for short and long texts, gradients into the student only."""

import numpy as np
import tensorflow as tf
from scipy.special import softmax
from scipy.stats import entropy

from tfspeech.losses.attention_distillation import attention_distillation_loss


def _alignments(rng, batch, steps, text):
    return softmax(rng.normal(0.0, 2.0, (batch, steps, text)), axis=-1).astype(np.float32)


def test_loss_is_kl_plus_the_teacher_entropy_per_step():
    rng = np.random.default_rng(0)
    student, teacher = _alignments(rng, 3, 7, 5), _alignments(rng, 3, 7, 5)
    kl = entropy(teacher, student, axis=-1)  # (batch, steps), nats
    teacher_entropy = entropy(teacher, axis=-1)
    loss = attention_distillation_loss(student, teacher, [5, 5, 5], [7, 7, 7])
    np.testing.assert_allclose(float(loss), np.mean(kl + teacher_entropy), rtol=1e-5)
    assert float(attention_distillation_loss(teacher, teacher, [5] * 3, [7] * 3)) < float(loss)


def test_padding_never_contributes():
    rng = np.random.default_rng(1)
    student, teacher = _alignments(rng, 1, 6, 4), _alignments(rng, 1, 6, 4)
    loss = attention_distillation_loss(student, teacher, [4], [6])
    padded_student = np.zeros((2, 9, 7), np.float32)  # exact zeros at padded symbols, as the attention gives
    padded_teacher = rng.random((2, 9, 7)).astype(np.float32)  # any values past the lengths
    padded_student[0, :6, :4], padded_teacher[0, :6, :4] = student[0], teacher[0]
    padded_student[1, :6, :4], padded_teacher[1, :6, :4] = student[0], teacher[0]
    padded = attention_distillation_loss(padded_student, padded_teacher, [4, 4], [6, 6])
    assert np.isfinite(float(padded))
    np.testing.assert_allclose(float(padded), float(loss), rtol=1e-6)


def test_the_same_mistake_costs_the_same_for_short_and_long_texts():
    """A one-hot teacher and a student giving half its weight to the teacher's symbol: log 2 per
    step, whatever the text length (averaging over (step, symbol) cells would divide by it)."""
    def loss_for(text):
        steps = 2 * text
        teacher = np.zeros((1, steps, text), np.float32)
        teacher[0, np.arange(steps), np.arange(steps) // 2] = 1.0
        student = 0.5 * teacher + 0.5 * (1.0 - teacher) / (text - 1)
        return float(attention_distillation_loss(student, teacher, [text], [steps]))

    np.testing.assert_allclose([loss_for(5), loss_for(40)], [np.log(2.0)] * 2, rtol=1e-5)


def test_gradients_reach_the_student_only():
    rng = np.random.default_rng(2)
    student_logits = tf.Variable(rng.normal(size=(2, 4, 3)).astype(np.float32))
    teacher_logits = tf.Variable(rng.normal(size=(2, 4, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = attention_distillation_loss(tf.nn.softmax(student_logits), tf.nn.softmax(teacher_logits),
                                           [3, 2], [4, 3])
    student_gradient, teacher_gradient = tape.gradient(loss, [student_logits, teacher_logits])
    assert teacher_gradient is None
    assert np.abs(student_gradient.numpy()).max() > 0
    np.testing.assert_array_equal(student_gradient.numpy()[1, 3], 0.0)  # a padded step
