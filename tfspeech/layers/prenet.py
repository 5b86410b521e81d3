"""The decoder prenet: fully connected ReLU layers with dropout that stays on at inference.

Tacotron 2 keeps the prenet's dropout on at inference: it is the only source of variation
in the output and helps the attention generalize. In training the masks are random
(``keras.random.dropout``). At inference they come from a fixed pseudo-random table drawn
from ``seed`` (``mask_period`` rows of 0/1 per layer): decoder step ``s`` uses row
``s mod mask_period``. The same text thus gives the same audio, and the exported graph
is a table lookup that LiteRT runs bit for bit like TensorFlow (LiteRT has no builtin
for stateless random ops, and its stateful ``RANDOM_UNIFORM`` draws other numbers than
TensorFlow's), so exports keep the dropout and still pass their parity checks.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfspeech")
class Prenet(keras.layers.Layer):
    """(..., features) → (..., units[-1]).

    Args:
        units: sizes of the ReLU layers.
        rate: dropout rate after each layer.
        inference_dropout: keep dropout on when ``training`` is False (the paper's setting);
            then ``call`` needs the decoder ``step``.
        seed: seeds the training masks' generator and the inference mask table.
        mask_period: rows of the inference mask table.
    """

    def __init__(self, units=(256, 256), rate: float = 0.5, inference_dropout: bool = True, seed: int = 0,
                 mask_period: int = 512, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"prenet dropout rate must be in [0, 1), got {rate}")
        self.units, self.rate = tuple(units), rate
        self.inference_dropout, self.seed, self.mask_period = inference_dropout, seed, mask_period
        self.dense_layers = [keras.layers.Dense(n, activation="relu", name=f"dense_{i}")
                             for i, n in enumerate(self.units)]
        self.seed_generator = keras.random.SeedGenerator(seed)
        rng = np.random.default_rng(seed)
        self.inference_masks = [(rng.random((mask_period, n)) >= rate).astype(np.float32) / (1.0 - rate)
                                for n in self.units]

    def build(self, input_shape):
        size = input_shape[-1]
        for layer, units in zip(self.dense_layers, self.units):
            layer.build((None, size))
            size = units

    def call(self, inputs, training=None, step=None):
        """``step``: the decoder step, a scalar for ``(batch, features)`` inputs or ``(steps,)``
        for ``(batch, steps, features)``; needed at inference when ``inference_dropout``."""
        x = inputs
        table_dropout = not training and self.inference_dropout and self.rate > 0.0
        if table_dropout and step is None:
            raise ValueError("Prenet with inference_dropout needs the decoder step at inference: call(x, step=s)")
        for layer, masks in zip(self.dense_layers, self.inference_masks):
            x = layer(x)
            if training and self.rate > 0.0:
                x = keras.random.dropout(x, self.rate, seed=self.seed_generator)
            elif table_dropout:
                x = x * tf.gather(tf.constant(masks), tf.math.floormod(step, self.mask_period))
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units[-1])

    def get_config(self):
        return {**super().get_config(), "units": list(self.units), "rate": self.rate,
                "inference_dropout": self.inference_dropout, "seed": self.seed, "mask_period": self.mask_period}
