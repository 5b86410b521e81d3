"""Recurrent layers over padded batches that convert to TFLite with builtin ops only.

Keras' own ``LSTM``/``GRU`` layers step through time with a ``TensorArray`` whose element
shape holds the dynamic batch size; the TFLite converter cannot lower that to builtins
(``TensorListReserve ... requires element_shape to be static``). These layers run the same
Keras cells (``LSTMCell``, ``GRUCell``) in a ``tf.while_loop`` that writes each step into a
preallocated ``(time, batch, units)`` buffer, which converts (see DESIGN.md, export contract).

Padding: where ``mask`` is False a step keeps the previous state and outputs zeros, so a
padded sequence gives exactly the outputs of the unpadded one, in either direction.
"""

from __future__ import annotations

import keras
import tensorflow as tf

CELLS = {"lstm": keras.layers.LSTMCell, "gru": keras.layers.GRUCell}


def make_cell(kind: str, units: int, name: str | None = None) -> keras.layers.Layer:
    """A Keras ``LSTMCell`` (``kind="lstm"``) or ``GRUCell`` (``"gru"``) of ``units``."""
    if kind not in CELLS:
        raise ValueError(f"unknown recurrent cell {kind!r}; choose one of {sorted(CELLS)}")
    return CELLS[kind](units, name=name)


def run_cell(cell, inputs, mask=None, reverse: bool = False, training=None) -> tf.Tensor:
    """Runs ``cell`` over ``inputs`` (batch, time, features) → (batch, time, units).

    ``mask`` (batch, time) bool marks real steps; ``reverse`` runs from the last step to the
    first (outputs stay in input order).
    """
    inputs = tf.convert_to_tensor(inputs)
    batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    time_major = tf.transpose(inputs, [1, 0, 2])
    mask = tf.ones([batch, steps], tf.bool) if mask is None else tf.cast(mask, tf.bool)
    mask_time_major = tf.transpose(mask)
    states = [tf.zeros([batch, size], inputs.dtype) for size in _state_sizes(cell)]
    buffer = tf.zeros([steps, batch, cell.units], inputs.dtype)

    def body(i, states, buffer):
        t = steps - 1 - i if reverse else i
        output, new_states = cell(time_major[t], states, training=training)
        keep = tf.expand_dims(mask_time_major[t], -1)
        states = [tf.where(keep, new, old) for new, old in zip(tf.nest.flatten(new_states), states)]
        output = tf.where(keep, output, tf.zeros_like(output))
        return i + 1, states, tf.tensor_scatter_nd_update(buffer, [[t]], tf.expand_dims(output, 0))

    _, _, buffer = tf.while_loop(lambda i, *_: i < steps, body, (0, states, buffer), maximum_iterations=steps)
    return tf.transpose(buffer, [1, 0, 2])


def _state_sizes(cell) -> list[int]:
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


@keras.saving.register_keras_serializable(package="tfspeech")
class MaskedRNN(keras.layers.Layer):
    """One direction of an LSTM or GRU: (batch, time, features) → (batch, time, units).

    Args:
        units: state size.
        cell: ``"lstm"`` or ``"gru"``.
        reverse: run from the last real step to the first.
    """

    def __init__(self, units: int, cell: str = "lstm", reverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units, self.cell_type, self.reverse = units, cell, reverse
        self.cell = make_cell(cell, units, name="cell")

    def build(self, input_shape):
        self.cell.build((None, input_shape[-1]))

    def call(self, inputs, mask=None, training=None):
        return run_cell(self.cell, inputs, mask, self.reverse, training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell": self.cell_type, "reverse": self.reverse}


@keras.saving.register_keras_serializable(package="tfspeech")
class BidirectionalRNN(keras.layers.Layer):
    """Forward and backward ``MaskedRNN`` concatenated: (batch, time, features) → (batch, time, 2·units)."""

    def __init__(self, units: int, cell: str = "lstm", **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units, self.cell_type = units, cell
        self.forward = MaskedRNN(units, cell, name="forward")
        self.backward = MaskedRNN(units, cell, reverse=True, name="backward")

    def build(self, input_shape):
        self.forward.build(input_shape)
        self.backward.build(input_shape)

    def call(self, inputs, mask=None, training=None):
        return tf.concat(
            [self.forward(inputs, mask=mask, training=training), self.backward(inputs, mask=mask, training=training)],
            axis=-1,
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell": self.cell_type}
