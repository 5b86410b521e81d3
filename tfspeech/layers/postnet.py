"""The Tacotron 2 postnet: five convolutions that predict a residual added to the decoder's mels."""

from __future__ import annotations

import keras

from tfspeech.layers.conv import ConvBlock


@keras.saving.register_keras_serializable(package="tfspeech")
class Postnet(keras.layers.Layer):
    """Mels (batch, frames, n_mels) → refined mels, ``mels + convs(mels)``.

    ``num_layers`` ``ConvBlock``s of ``filters`` channels (tanh), the last one linear with
    ``n_mels`` channels; dropout in training only. ``mask`` (batch, frames) marks real frames.
    """

    def __init__(self, n_mels: int, filters: int = 512, kernel_size: int = 5, num_layers: int = 5,
                 dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 2:
            raise ValueError(f"the postnet needs at least 2 layers, got num_layers={num_layers}")
        self.supports_masking = True
        self.n_mels, self.filters, self.kernel_size = n_mels, filters, kernel_size
        self.num_layers, self.dropout = num_layers, dropout
        self.blocks = [
            ConvBlock(filters, kernel_size, "tanh", dropout, name=f"conv_{i}") for i in range(num_layers - 1)
        ] + [ConvBlock(n_mels, kernel_size, None, dropout, name=f"conv_{num_layers - 1}")]

    def build(self, input_shape):
        channels = input_shape[-1]
        for block in self.blocks:
            block.build((None, None, channels))
            channels = block.filters

    def call(self, mels, mask=None, training=None):
        x = mels
        for block in self.blocks:
            x = block(x, mask=mask, training=training)
        return mels + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n_mels": self.n_mels, "filters": self.filters,
                "kernel_size": self.kernel_size, "num_layers": self.num_layers, "dropout": self.dropout}
