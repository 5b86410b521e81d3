"""Attention distillation: a teacher's alignment as soft targets for a student's attention.

Each decoder step's attention is a distribution over the text. The loss is the cross-entropy
to the teacher per step, ``-Σₙ p_teacher[s, n] log p_student[s, n]``, summed over the real
(step, symbol) pairs and divided by the number of real steps, like the guided-attention loss:
its scale does not depend on the text length, and padding never contributes.

Per step, ``cross-entropy = KL(teacher ‖ student) + H(teacher)``; the teacher's entropy does
not depend on the student, so both have the same gradient: minimizing this loss minimizes the
KL divergence. Its floor is the teacher's mean entropy per step, not 0.

The teacher's alignments are a constant here (``tf.stop_gradient``): gradients reach the student only.
"""

from __future__ import annotations

import tensorflow as tf

LOG_FLOOR = 1e-8  # student weights below this count as this: log 0 (padding, far symbols) stays finite


def attention_distillation_loss(student_alignments, teacher_alignments, text_lengths, step_lengths) -> tf.Tensor:
    """Scalar cross-entropy per real decoder step (nats).

    Args:
        student_alignments, teacher_alignments: (batch, steps, text) attention weights, each
            row a distribution over the text.
        text_lengths, step_lengths: (batch,) real symbols and real decoder steps per utterance.
    """
    student = tf.convert_to_tensor(student_alignments, tf.float32)
    teacher = tf.stop_gradient(tf.convert_to_tensor(teacher_alignments, tf.float32))
    shape = tf.shape(student)
    real_steps = tf.cast(tf.range(shape[1])[None, :] < tf.cast(step_lengths, tf.int32)[:, None], tf.float32)
    real_text = tf.cast(tf.range(shape[2])[None, :] < tf.cast(text_lengths, tf.int32)[:, None], tf.float32)
    real = real_steps[:, :, None] * real_text[:, None, :]
    cross_entropy = -tf.reduce_sum(real * teacher * tf.math.log(tf.maximum(student, LOG_FLOOR)))
    return cross_entropy / tf.maximum(tf.reduce_sum(real_steps), 1.0)
