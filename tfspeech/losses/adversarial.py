"""Least-squares GAN losses and feature matching for multi-discriminator vocoder training.

Each argument ``outputs`` is a list of ``(logits, features)`` pairs, one per discriminator
(``tfspeech.layers.discriminators``). Losses are summed over discriminators (HiFi-GAN's
convention) and averaged over each discriminator's positions.
"""

from __future__ import annotations

import tensorflow as tf


def discriminator_loss(real_outputs, fake_outputs) -> tf.Tensor:
    """``Σ_d E[(D_d(real) − 1)²] + E[D_d(fake)²]`` (LSGAN, Mao et al. 2017)."""
    return tf.add_n([
        tf.reduce_mean(tf.square(real - 1.0)) + tf.reduce_mean(tf.square(fake))
        for (real, _), (fake, _) in zip(real_outputs, fake_outputs)
    ])


def generator_adversarial_loss(fake_outputs) -> tf.Tensor:
    """``Σ_d E[(D_d(fake) − 1)²]``."""
    return tf.add_n([tf.reduce_mean(tf.square(fake - 1.0)) for fake, _ in fake_outputs])


def feature_matching_loss(real_outputs, fake_outputs) -> tf.Tensor:
    """``Σ_d mean_l E|f_l(real) − f_l(fake)|`` over each discriminator's layers, with the real
    features held fixed (no gradient into the discriminator)."""
    total = []
    for (_, real_features), (_, fake_features) in zip(real_outputs, fake_outputs):
        layers = [tf.reduce_mean(tf.abs(tf.stop_gradient(r) - f)) for r, f in zip(real_features, fake_features)]
        total.append(tf.add_n(layers) / len(layers))
    return tf.add_n(total)
