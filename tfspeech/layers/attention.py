"""Attention for autoregressive decoders: content (Bahdanau), location-sensitive, Graves GMM.

Every mechanism has the same interface, so a decoder can take any of them by name
(``get_attention("location", units=128)``):

- ``process_memory(memory)``: ``(batch, text, memory_dim)`` → keys ``(batch, text,
  key_size(memory_dim))``, computed once per utterance;
- ``initial_state(memory)``: ``{name: zeros}``, the mechanism's recurrent state
  (``state_shapes()`` gives their shapes, ``None`` for batch and text length);
- ``call(query, memory, keys, mask, state)`` with query ``(batch, query_dim)`` and mask
  ``(batch, text)`` (True at real symbols) → ``(context (batch, memory_dim),
  weights (batch, text), new state)``.

Padding never gets attention: its weight is exactly 0 (masked energies before the softmax,
or a masked mixture density for GMM).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

_MASKED_ENERGY = -1e9  # exp(-1e9 - max) is exactly 0 in float32: padding gets no weight


class Attention(keras.layers.Layer):
    """Base class: the interface above; subclasses define ``energies`` or override ``call``."""

    def __init__(self, units: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def process_memory(self, memory) -> tf.Tensor:
        return self.memory_layer(memory)

    def key_size(self, memory_size: int) -> int:
        """Last dimension of ``process_memory``'s keys for memory of ``memory_size`` features."""
        return self.units

    def initial_state(self, memory) -> dict[str, tf.Tensor]:
        return {}

    def state_shapes(self) -> dict[str, tuple]:
        return {}

    def call(self, query, memory, keys, mask, state):
        energies = self.energies(query, keys, state)
        weights = tf.nn.softmax(tf.where(mask, energies, _MASKED_ENERGY), axis=-1)
        return _context(weights, memory), weights, self.next_state(weights, state)

    def next_state(self, weights, state) -> dict[str, tf.Tensor]:
        return {}

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfspeech")
class ContentAttention(Attention):
    """Bahdanau et al. (2015): ``e_j = v·tanh(W q + V h_j)``."""

    def __init__(self, units: int = 128, **kwargs):
        super().__init__(units, **kwargs)
        self.query_layer = keras.layers.Dense(units, use_bias=False, name="query")
        self.memory_layer = keras.layers.Dense(units, use_bias=False, name="memory")
        self.energy_layer = keras.layers.Dense(1, use_bias=False, name="energy")

    def build(self, query_shape, memory_shape):
        self.query_layer.build(query_shape)
        self.memory_layer.build(memory_shape)
        self.energy_layer.build((None, None, self.units))

    def energies(self, query, keys, state):
        hidden = tf.tanh(keys + tf.expand_dims(self.query_layer(query), 1))
        return tf.squeeze(self.energy_layer(hidden), -1)


@keras.saving.register_keras_serializable(package="tfspeech")
class LocationSensitiveAttention(ContentAttention):
    """Chorowski et al. (2015), as in Tacotron 2: ``e_j = v·tanh(W q + V h_j + U f_j)``.

    ``f = conv([previous weights, cumulative weights])``: ``filters`` channels of width
    ``kernel_size`` over the text axis. State: ``alignment`` and ``cumulative``, (batch, text).
    """

    def __init__(self, units: int = 128, filters: int = 32, kernel_size: int = 31, **kwargs):
        super().__init__(units, **kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.location_conv = keras.layers.Conv1D(filters, kernel_size, padding="same", use_bias=False,
                                                 name="location_conv")
        self.location_layer = keras.layers.Dense(units, use_bias=False, name="location")

    def build(self, query_shape, memory_shape):
        super().build(query_shape, memory_shape)
        self.location_conv.build((None, None, 2))
        self.location_layer.build((None, None, self.filters))

    def initial_state(self, memory):
        zeros = tf.zeros(tf.shape(memory)[:2], memory.dtype)
        return {"alignment": zeros, "cumulative": zeros}

    def state_shapes(self):
        return {"alignment": (None, None), "cumulative": (None, None)}

    def energies(self, query, keys, state):
        previous = tf.stack([state["alignment"], state["cumulative"]], axis=-1)
        location = self.location_layer(self.location_conv(previous))
        hidden = tf.tanh(keys + tf.expand_dims(self.query_layer(query), 1) + location)
        return tf.squeeze(self.energy_layer(hidden), -1)

    def next_state(self, weights, state):
        return {"alignment": weights, "cumulative": state["cumulative"] + weights}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="tfspeech")
class GMMAttention(Attention):
    """Graves (2013) Gaussian-mixture attention, in the stable "V2" form of Battenberg et al. (2020).

    An MLP of the query gives per mixture ``k`` a weight ``w_k`` (softmax), a forward step
    ``Δ_k`` (softplus, so the means only move forward) and a width ``σ_k`` (softplus);
    ``μ_k += Δ_k`` and ``α_j = Σ_k w_k N(j; μ_k, σ_k)`` over text positions ``j``. The
    weights are not normalized over the text (as in Graves). State: ``means`` (batch, mixtures).
    Written out: ``tfp.distributions`` would add ops that do not convert to TFLite builtins.
    """

    def __init__(self, units: int = 128, mixtures: int = 5, min_sigma: float = 0.01, **kwargs):
        super().__init__(units, **kwargs)
        self.mixtures, self.min_sigma = mixtures, min_sigma
        self.hidden_layer = keras.layers.Dense(units, activation="tanh", name="hidden")
        self.params_layer = keras.layers.Dense(3 * mixtures, name="params")

    def build(self, query_shape, memory_shape):
        self.hidden_layer.build(query_shape)
        self.params_layer.build((None, self.units))

    def process_memory(self, memory):
        return memory

    def key_size(self, memory_size: int) -> int:
        return memory_size

    def initial_state(self, memory):
        return {"means": tf.zeros([tf.shape(memory)[0], self.mixtures], memory.dtype)}

    def state_shapes(self):
        return {"means": (None, self.mixtures)}

    def call(self, query, memory, keys, mask, state):
        params = self.params_layer(self.hidden_layer(query))
        weight_logits, step_logits, width_logits = tf.split(params, 3, axis=-1)
        mixture_weights = tf.expand_dims(tf.nn.softmax(weight_logits, axis=-1), -1)
        means = state["means"] + _softplus(step_logits)
        sigma = tf.expand_dims(_softplus(width_logits) + self.min_sigma, -1)
        positions = tf.reshape(tf.cast(tf.range(tf.shape(memory)[1]), memory.dtype), [1, 1, -1])
        z = (positions - tf.expand_dims(means, -1)) / sigma
        density = mixture_weights * tf.exp(-0.5 * z * z) / (sigma * math.sqrt(2.0 * math.pi))
        weights = tf.where(mask, tf.reduce_sum(density, axis=1), tf.zeros_like(density[:, 0]))
        return _context(weights, memory), weights, {"means": means}

    def get_config(self):
        return {**super().get_config(), "mixtures": self.mixtures, "min_sigma": self.min_sigma}


def _softplus(x):
    """``log(1 + e^x)`` from builtin ops (LiteRT has no SOFTPLUS kernel), stable for large |x|."""
    return tf.nn.relu(x) + tf.math.log(1.0 + tf.exp(-tf.abs(x)))


def _context(weights, memory):
    """``Σ_j weights_j memory_j``: (batch, text) × (batch, text, dim) → (batch, dim)."""
    return tf.squeeze(tf.matmul(tf.expand_dims(weights, 1), memory), 1)


ATTENTIONS = {
    "content": ContentAttention,
    "bahdanau": ContentAttention,
    "location": LocationSensitiveAttention,
    "gmm": GMMAttention,
}


def get_attention(kind: str, units: int = 128, **kwargs) -> Attention:
    """The attention mechanism ``kind`` (see ``ATTENTIONS``), with its own options (and ``name``) in ``kwargs``."""
    if kind not in ATTENTIONS:
        raise ValueError(f"unknown attention {kind!r}; choose one of {sorted(ATTENTIONS)}")
    return ATTENTIONS[kind](units=units, **kwargs)
