"""A convolutional PatchGAN discriminator (pix2pix) for spectrogram "images".

``(batch, time, frequency, channels)`` → logits ``(batch, time / 2^k, frequency / 2^k, 1)``
with ``k = len(channels) - 1``: one real/fake score per patch, each seeing a limited window
(about 34 × 34 bins with the default three layers), so the discriminator judges local
texture (the fine structure that an L1 loss blurs) rather than the whole utterance.
"""

from __future__ import annotations

import keras
import tensorflow as tf

LEAK = 0.2


@keras.saving.register_keras_serializable(package="tfspeech")
class PatchDiscriminator(keras.layers.Layer):
    """4×4 convolutions with leaky ReLUs, stride 2 except the last, then a 4×4 convolution
    to one logit per patch (no normalization layers: a patch's score does not depend on the
    other crops of its batch)."""

    def __init__(self, channels=(32, 64, 128), **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(int(c) for c in channels)
        if not self.channels:
            raise ValueError("a PatchGAN needs at least one convolution (channels)")
        last = len(self.channels) - 1
        self.convs = [keras.layers.Conv2D(c, 4, strides=1 if i == last else 2, padding="same", name=f"conv_{i}")
                      for i, c in enumerate(self.channels)]
        self.out = keras.layers.Conv2D(1, 4, padding="same", name="logits")

    def build(self, input_shape):
        channels = input_shape[-1]
        for conv in self.convs:
            conv.build((None, None, None, channels))
            channels = conv.filters
        self.out.build((None, None, None, channels))

    def call(self, x):
        for conv in self.convs:
            x = tf.nn.leaky_relu(conv(x), LEAK)
        return self.out(x)

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels)}
