"""The decoder prenet: fully connected ReLU layers with dropout that stays on at inference.

Tacotron 2 keeps the prenet's dropout on at inference: it is the only source of variation
in the output and helps the attention generalize. The dropout mask comes from TensorFlow's
``tf.random.uniform`` with an op-level ``seed`` rather than ``keras.random``: Keras draws
through stateless random ops, which LiteRT has no builtin kernel for, while
``RandomUniform`` converts to the builtin ``RANDOM_UNIFORM``. With ``seed`` set and
``tf.random.set_seed`` called first, the masks repeat exactly (tests).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfspeech")
class Prenet(keras.layers.Layer):
    """(..., features) → (..., units[-1]).

    Args:
        units: sizes of the ReLU layers.
        rate: dropout rate after each layer.
        inference_dropout: keep dropout on when ``training`` is False (the paper's setting);
            False gives a deterministic prenet (parity checks, reproducible outputs).
        seed: op-level seed of the dropout masks (layer ``i`` uses ``seed + i``).
    """

    def __init__(self, units=(256, 256), rate: float = 0.5, inference_dropout: bool = True,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"prenet dropout rate must be in [0, 1), got {rate}")
        self.units, self.rate = tuple(units), rate
        self.inference_dropout, self.seed = inference_dropout, seed
        self.dense_layers = [keras.layers.Dense(n, activation="relu", name=f"dense_{i}")
                             for i, n in enumerate(self.units)]

    def build(self, input_shape):
        size = input_shape[-1]
        for layer, units in zip(self.dense_layers, self.units):
            layer.build((None, size))
            size = units

    def call(self, inputs, training=None):
        x = inputs
        dropout = self.rate > 0.0 and (bool(training) or self.inference_dropout)
        for i, layer in enumerate(self.dense_layers):
            x = layer(x)
            if dropout:
                seed = None if self.seed is None else self.seed + i
                keep = tf.random.uniform(tf.shape(x), dtype=x.dtype, seed=seed) >= self.rate
                x = tf.where(keep, x / (1.0 - self.rate), tf.zeros_like(x))
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units[-1])

    def get_config(self):
        return {**super().get_config(), "units": list(self.units), "rate": self.rate,
                "inference_dropout": self.inference_dropout, "seed": self.seed}
