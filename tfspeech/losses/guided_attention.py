"""Guided attention loss (Tachibana et al. 2017): penalize attention far from the diagonal.

``W[s, n] = 1 - exp(-(n / N - s / S)² / (2 g²))`` for decoder step ``s`` of ``S`` and text
position ``n`` of ``N`` (each utterance's own lengths); the loss is the mean of
``alignment · W`` over the real (step, symbol) pairs, so padding never contributes.
"""

from __future__ import annotations

import tensorflow as tf


def guided_attention_weights(text_lengths, step_lengths, max_steps, max_text, sigma: float = 0.2) -> tf.Tensor:
    """Penalty ``W`` (batch, max_steps, max_text), 0 on the diagonal, towards 1 off it; 0 at padding."""
    distance, real = _grid(text_lengths, step_lengths, max_steps, max_text)
    return (1.0 - tf.exp(-tf.square(distance) / (2.0 * sigma * sigma))) * real


def guided_attention_loss(alignments, text_lengths, step_lengths, sigma: float = 0.2) -> tf.Tensor:
    """Scalar loss for ``alignments`` (batch, steps, text) given per-utterance lengths (batch,)."""
    alignments = tf.convert_to_tensor(alignments, tf.float32)
    shape = tf.shape(alignments)
    _, real = _grid(text_lengths, step_lengths, shape[1], shape[2])
    weights = guided_attention_weights(text_lengths, step_lengths, shape[1], shape[2], sigma)
    return tf.reduce_sum(alignments * weights) / tf.maximum(tf.reduce_sum(real), 1.0)


def _grid(text_lengths, step_lengths, max_steps, max_text):
    """Normalized distance from the diagonal and the 0/1 mask of real pairs, (batch, steps, text)."""
    text_lengths = tf.cast(text_lengths, tf.float32)[:, None, None]
    step_lengths = tf.cast(step_lengths, tf.float32)[:, None, None]
    steps = tf.cast(tf.range(max_steps), tf.float32)[None, :, None]
    symbols = tf.cast(tf.range(max_text), tf.float32)[None, None, :]
    distance = symbols / tf.maximum(text_lengths, 1.0) - steps / tf.maximum(step_lengths, 1.0)
    real = tf.cast(steps < step_lengths, tf.float32) * tf.cast(symbols < text_lengths, tf.float32)
    return distance, real
