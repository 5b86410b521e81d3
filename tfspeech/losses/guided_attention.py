"""Guided attention loss (Tachibana et al. 2017): penalize attention far from the diagonal.

``W[s, n] = 1 - exp(-(n / N - s / S)² / (2 g²))`` for decoder step ``s`` of ``S`` and text
position ``n`` of ``N`` (each utterance's own lengths). The loss is the expected penalty
per decoder step, ``Σₙ alignment[s, n] · W[s, n]`` averaged over the real steps: about 0 for a
diagonal alignment, about 0.6 for attention spread evenly, whatever the text length;
padding never contributes.

Tachibana et al. average over all (step, symbol) cells instead, which divides the signal by
the text length (≈ 1/40 on sentences): in a Tacotron 2 trained with that form (weight 1, mel
L1 ≈ 1.4) the alignment had not formed after 750 steps of batch 16.
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
    weights = guided_attention_weights(text_lengths, step_lengths, shape[1], shape[2], sigma)
    real_steps = tf.reduce_sum(tf.minimum(tf.cast(step_lengths, tf.float32), tf.cast(shape[1], tf.float32)))
    return tf.reduce_sum(alignments * weights) / tf.maximum(real_steps, 1.0)


def _grid(text_lengths, step_lengths, max_steps, max_text):
    """Normalized distance from the diagonal and the 0/1 mask of real pairs, (batch, steps, text)."""
    text_lengths = tf.cast(text_lengths, tf.float32)[:, None, None]
    step_lengths = tf.cast(step_lengths, tf.float32)[:, None, None]
    steps = tf.cast(tf.range(max_steps), tf.float32)[None, :, None]
    symbols = tf.cast(tf.range(max_text), tf.float32)[None, None, :]
    distance = symbols / tf.maximum(text_lengths, 1.0) - steps / tf.maximum(step_lengths, 1.0)
    real = tf.cast(steps < step_lengths, tf.float32) * tf.cast(symbols < text_lengths, tf.float32)
    return distance, real
