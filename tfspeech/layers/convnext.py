"""ConvNeXt blocks over time (Vocos's backbone), with *valid* padding.

Valid padding makes each output frame a function of a fixed window of input frames
(``kernel_size // 2`` on each side per block) and of nothing else: a whole utterance
(padded once at its ends) and the same utterance cut into overlapping chunks give the
same outputs, which is what a streaming host needs.

Shapes: ``(batch, frames, channels)`` in, ``(batch, frames - 2 * (kernel_size // 2), channels)`` out.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tfspeech")
class ConvNeXtBlock(keras.layers.Layer):
    """Depthwise conv → LayerNorm → pointwise expansion → GELU → projection, scaled by a
    learned per-channel ``gamma`` (layer scale), plus the cropped input (residual)."""

    def __init__(self, channels: int, intermediate_channels: int, kernel_size: int = 7,
                 layer_scale: float = 0.125, **kwargs):
        super().__init__(**kwargs)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.channels, self.intermediate_channels = channels, intermediate_channels
        self.kernel_size, self.layer_scale = kernel_size, layer_scale
        self.depthwise = keras.layers.DepthwiseConv1D(kernel_size, padding="valid", name="depthwise")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")
        self.expand = keras.layers.Dense(intermediate_channels, activation="gelu", name="expand")
        self.project = keras.layers.Dense(channels, name="project")

    @property
    def context(self) -> int:
        """Input frames consumed on each side."""
        return self.kernel_size // 2

    def build(self, input_shape):
        self.depthwise.build(input_shape)
        inner = (*input_shape[:-1], self.channels)
        self.norm.build(inner)
        self.expand.build(inner)
        self.project.build((*input_shape[:-1], self.intermediate_channels))
        self.gamma = self.add_weight(
            name="gamma", shape=(self.channels,),
            initializer=keras.initializers.Constant(self.layer_scale),
        )

    def call(self, x):
        residual = x[:, self.context: -self.context or None]
        y = self.project(self.expand(self.norm(self.depthwise(x))))
        return residual + self.gamma * y

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else frames - 2 * self.context, input_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "intermediate_channels": self.intermediate_channels,
            "kernel_size": self.kernel_size,
            "layer_scale": self.layer_scale,
        }
