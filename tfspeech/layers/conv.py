"""A masked 1-D convolution block: convolution, batch normalization, activation, dropout.

The building block of the Tacotron 2 encoder and postnet and of CBHG. Padded steps are
zeroed before the convolution and left out of the batch statistics, so a padded sequence
gives the same outputs at its real steps as the unpadded one (at inference).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def zero_padding(x, mask):
    """``x`` (batch, time, channels) with the steps where ``mask`` (batch, time) is False set to 0."""
    if mask is None:
        return x
    return tf.where(tf.expand_dims(tf.cast(mask, tf.bool), -1), x, tf.zeros_like(x))


@keras.saving.register_keras_serializable(package="tfspeech")
class ConvBlock(keras.layers.Layer):
    """(batch, time, channels) → (batch, time, filters), "same" padding.

    Args:
        filters, kernel_size: the convolution.
        activation: a Keras activation name, or None for linear.
        dropout: rate applied after the activation, in training only.
    """

    def __init__(self, filters: int, kernel_size: int, activation: str | None = "relu", dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.filters, self.kernel_size, self.activation, self.dropout = filters, kernel_size, activation, dropout
        self.conv = keras.layers.Conv1D(filters, kernel_size, padding="same", use_bias=False, name="conv")
        self.norm = keras.layers.BatchNormalization(name="norm")
        self.activation_fn = keras.activations.get(activation)
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")

    def build(self, input_shape):
        self.conv.build((None, None, input_shape[-1]))
        self.norm.build((None, None, self.filters))

    def call(self, inputs, mask=None, training=None):
        x = self.norm(self.conv(zero_padding(inputs, mask)), training=training, mask=mask)
        return self.dropout_layer(self.activation_fn(x), training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "activation": self.activation, "dropout": self.dropout}
