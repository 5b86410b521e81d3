"""U-Net blocks (pix2pix style) for image-to-image maps of spectrograms.

Shapes are ``(batch, time, frequency, channels)``. Each ``UNetDown`` halves time and
frequency; each ``UNetUp`` doubles them and concatenates the encoder's activation of that
size, so ``UNet`` with ``len(channels)`` levels needs both axes divisible by
``2 ** len(channels)`` (its ``factor``). Up-sampling is nearest-neighbour + convolution (no
transposed convolutions: no checkerboard, and builtin TFLite ops for any input length).
"""

from __future__ import annotations

import keras
import tensorflow as tf

LEAK = 0.2


@keras.saving.register_keras_serializable(package="tfspeech")
class UNetDown(keras.layers.Layer):
    """``(b, t, f, c)`` → ``(b, t / 2, f / 2, filters)``: 4×4 convolution of stride 2, leaky ReLU."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv = keras.layers.Conv2D(self.filters, 4, strides=2, padding="same", name="conv")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return tf.nn.leaky_relu(self.conv(x), LEAK)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="tfspeech")
class UNetUp(keras.layers.Layer):
    """``(x (b, t, f, c), skip (b, 2t, 2f, s))`` → ``(b, 2t, 2f, filters + s)``: nearest
    up-sampling, 3×3 convolution, ReLU, then the skip connection concatenated."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv")

    def build(self, input_shape):
        x_shape = input_shape[0]
        self.conv.build((x_shape[0], None, None, x_shape[-1]))

    def call(self, inputs):
        x, skip = inputs
        up = tf.image.resize(x, tf.shape(skip)[1:3], method="nearest")  # builtin RESIZE_NEAREST_NEIGHBOR
        return tf.concat([tf.nn.relu(self.conv(up)), skip], axis=-1)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="tfspeech")
class UNet(keras.layers.Layer):
    """``(b, t, f, c)`` → ``(b, t, f, out_channels)``; ``t`` and ``f`` multiples of ``factor``.

    Encoder ``channels`` (one ``UNetDown`` each), a mirrored decoder, and a zero-initialized
    3×3 output convolution, so a fresh U-Net outputs zeros (used as a residual it starts as
    the identity).
    """

    def __init__(self, channels=(32, 64, 128, 128), out_channels: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.out_channels = tuple(int(c) for c in channels), int(out_channels)
        if not self.channels:
            raise ValueError("a U-Net needs at least one level (channels)")
        self.downs = [UNetDown(c, name=f"down_{i}") for i, c in enumerate(self.channels)]
        up_filters = [*reversed(self.channels[:-1]), self.channels[0]]
        self.ups = [UNetUp(c, name=f"up_{i}") for i, c in enumerate(up_filters)]
        self.out = keras.layers.Conv2D(self.out_channels, 3, padding="same", kernel_initializer="zeros",
                                       name="out")

    @property
    def factor(self) -> int:
        """What time and frequency sizes must be multiples of (``2 ** levels``)."""
        return 2 ** len(self.channels)

    def build(self, input_shape):
        channels = input_shape[-1]
        skips = [channels]
        for down in self.downs:
            down.build((None, None, None, channels))
            channels = down.filters
            skips.append(channels)
        skips.pop()
        for up in self.ups:
            up.build([(None, None, None, channels), (None, None, None, skips[-1])])
            channels = up.filters + skips.pop()
        self.out.build((None, None, None, channels))

    def call(self, x):
        skips = [x]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up([y, skips.pop()])
        return self.out(y)

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels), "out_channels": self.out_channels}
