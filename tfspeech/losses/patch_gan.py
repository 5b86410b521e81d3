"""Cross-entropy GAN losses on PatchGAN logits (pix2pix), averaged over patches and batch.

``D = sigmoid(logits)``. The generator's term is the non-saturating form ``−E log D(G(x))``
(Goodfellow et al. 2014, as pix2pix trains it) rather than ``E log(1 − D(G(x)))``, whose
gradient vanishes while the discriminator still wins easily, which it does early on.
"""

from __future__ import annotations

import tensorflow as tf


def discriminator_cross_entropy(real_logits, fake_logits) -> tf.Tensor:
    """``½ (−E log D(real) − E log(1 − D(fake)))`` (pix2pix halves it to slow D down)."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return 0.5 * (tf.reduce_mean(real) + tf.reduce_mean(fake))


def generator_cross_entropy(fake_logits) -> tf.Tensor:
    """``−E log D(G(x))``: the non-saturating generator loss."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))
