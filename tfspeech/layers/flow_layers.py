"""Keras 3 layers that normalizing flows are built from, each owning its variables.

The networks (:class:`CouplingNetwork`, :class:`ConvCouplingNetwork`,
:class:`MaskedAutoregressiveNetwork`) are called like any layer; the invertible layers
(:class:`ActNorm`, :class:`InvertibleConv1x1`) hold parameters and hand out a
``tfp.bijectors`` object built from them with ``bijector()``.

Why these are written here rather than taken from tfp: tfp 0.25 builds its networks
(``tfb.AutoregressiveNetwork``, ``real_nvp_default_template``, ``tfb.Glow``'s default
network) and its ``tfb.glow`` actnorm on tf_keras, whose variables Keras 3 neither
tracks, trains in ``fit`` nor saves in ``.weights.h5``. The transformations themselves
stay tfp bijectors (``Shift``, ``Scale``, ``ScaleMatvecLU``), given Keras 3 variables.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from tfspeech.losses.replicas import replica_sum

tfb = tfp.bijectors


def soft_clamp(x, bound: float):
    """``bound · tanh(x / bound)``: the identity near 0, smoothly limited to ``(-bound, bound)``.

    Keeps a coupling's log-scale from overflowing early in training without the zero
    gradient a hard clip has outside its range.
    """
    return bound * ops.tanh(x / bound)


@keras.saving.register_keras_serializable(package="tfspeech")
class CouplingNetwork(keras.layers.Layer):
    """An MLP from the conditioning half of a vector to coupling parameters.

    Input ``[..., d_in]``; output ``[..., units, num_params]`` (for an affine coupling,
    ``num_params=2``: shift and raw log-scale). The last layer starts at zero, so a
    coupling starts as the identity (Glow's initialization).
    """

    def __init__(self, units: int, hidden_units=(64, 64), num_params: int = 2, activation="relu", **kwargs):
        super().__init__(**kwargs)
        _check_positive(units=units, num_params=num_params)
        self.units, self.num_params = int(units), int(num_params)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        _check_positive(**{f"hidden_units[{i}]": u for i, u in enumerate(self.hidden_units)})
        self.activation = keras.activations.get(activation)
        self.hidden = [keras.layers.Dense(u, activation=self.activation) for u in self.hidden_units]
        self.out = keras.layers.Dense(self.units * self.num_params, kernel_initializer="zeros")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = shape[:-1] + (layer.units,)
        self.out.build(shape)

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        y = self.out(x)
        return _split_last_axis(y, self.units, self.num_params)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units, self.num_params)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "hidden_units": list(self.hidden_units),
            "num_params": self.num_params,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package="tfspeech")
class ConvCouplingNetwork(keras.layers.Layer):
    """Glow's coupling network: 3x3 conv, ReLU, 1x1 conv, ReLU, 3x3 conv (starting at zero).

    Input ``[batch, H, W, C_in]``; output ``[batch, H, W, channels, num_params]``.
    """

    def __init__(self, channels: int, hidden_channels: int = 64, num_params: int = 2, **kwargs):
        super().__init__(**kwargs)
        _check_positive(channels=channels, hidden_channels=hidden_channels, num_params=num_params)
        self.channels, self.hidden_channels, self.num_params = int(channels), int(hidden_channels), int(num_params)
        self.convs = [
            keras.layers.Conv2D(self.hidden_channels, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(self.hidden_channels, 1, activation="relu"),
            keras.layers.Conv2D(self.channels * self.num_params, 3, padding="same", kernel_initializer="zeros"),
        ]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:-1] + (conv.filters,)

    def call(self, x):
        for conv in self.convs:
            x = conv(x)
        return _split_last_axis(x, self.channels, self.num_params)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.channels, self.num_params)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "hidden_channels": self.hidden_channels,
            "num_params": self.num_params,
        }


@keras.saving.register_keras_serializable(package="tfspeech")
class MaskedAutoregressiveNetwork(keras.layers.Layer):
    """MADE (Germain et al. 2015): output ``i`` depends only on inputs ``< i`` (in order).

    Input ``[..., event_size]``; output ``[..., event_size, num_params]``. Input and
    output degrees are ``1..event_size``; hidden unit ``k`` gets degree
    ``1 + k mod (event_size - 1)`` (tfp's "equal" assignment). A masked kernel
    connects a hidden unit to units of lower-or-equal degree, an output to hidden units
    of strictly lower degree. Written in Keras 3 because ``tfb.AutoregressiveNetwork``
    is a tf_keras layer (see the module doc); the output layer starts at zero.
    """

    def __init__(self, event_size: int, hidden_units=(64, 64), num_params: int = 2, activation="relu", **kwargs):
        super().__init__(**kwargs)
        if int(event_size) < 2:
            raise ValueError(f"event_size={event_size}: an autoregressive network needs at least 2 dimensions")
        _check_positive(num_params=num_params)
        self.event_size, self.num_params = int(event_size), int(num_params)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        if not self.hidden_units:
            raise ValueError("hidden_units is empty; give at least one hidden layer, e.g. (64, 64)")
        _check_positive(**{f"hidden_units[{i}]": u for i, u in enumerate(self.hidden_units)})
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        if input_shape[-1] != self.event_size:
            raise ValueError(f"{self.name} expects inputs [..., {self.event_size}], got shape {tuple(input_shape)}")
        masks = _made_masks(self.event_size, self.hidden_units, self.num_params)
        self._masks = [m.astype(self.compute_dtype) for m in masks]  # numpy: a constant in every graph
        self.kernels, self.biases = [], []
        for i, mask in enumerate(masks):
            last = i == len(masks) - 1
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=mask.shape,
                    initializer="zeros" if last else "glorot_uniform",
                )
            )
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=mask.shape[1:], initializer="zeros"))

    def call(self, x):
        for i, (kernel, bias, mask) in enumerate(zip(self.kernels, self.biases, self._masks)):
            x = ops.matmul(x, kernel * mask) + bias
            if i < len(self.kernels) - 1:
                x = self.activation(x)
        return _split_last_axis(x, self.event_size, self.num_params)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.event_size, self.num_params)

    def get_config(self):
        return {
            **super().get_config(),
            "event_size": self.event_size,
            "hidden_units": list(self.hidden_units),
            "num_params": self.num_params,
            "activation": keras.activations.serialize(self.activation),
        }


def _made_masks(event_size: int, hidden_units: tuple, num_params: int) -> list[np.ndarray]:
    """Binary kernel masks ``[fan_in, fan_out]`` for each layer of a MADE."""
    degrees = [np.arange(1, event_size + 1)]
    degrees += [1 + np.arange(units) % (event_size - 1) for units in hidden_units]
    masks = [(d_out[None, :] >= d_in[:, None]).astype("float32") for d_in, d_out in zip(degrees, degrees[1:])]
    # Output column (i, p) for event index i (degree i + 1) and parameter p.
    output_degrees = np.repeat(np.arange(1, event_size + 1), num_params)
    masks.append((output_degrees[None, :] > degrees[-1][:, None]).astype("float32"))
    return masks


@keras.saving.register_keras_serializable(package="tfspeech")
class ActNorm(keras.layers.Layer):
    """Glow's activation normalization: a per-channel affine map ``y = exp(log_scale) · x + shift``.

    Initialized from data: the first time a ``bijector(initialize=True)`` is applied forward
    (Glow does so on its first training batch), ``shift`` and ``log_scale`` are set from that
    batch so that ``y`` has zero mean and unit variance per channel; ``initialized`` records
    that it happened and is saved with the weights, so a loaded model is not re-initialized.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        _check_positive(channels=channels)
        self.channels = int(channels)

    def build(self, input_shape=None):
        self.shift = self.add_weight(name="shift", shape=(self.channels,), initializer="zeros")
        self.log_scale = self.add_weight(name="log_scale", shape=(self.channels,), initializer="zeros")
        self.initialized = self.add_weight(name="initialized", shape=(), initializer="zeros", trainable=False)

    def bijector(self, initialize: bool = False) -> tfb.Bijector:
        """``x ↦ exp(log_scale) · x + shift`` over the last axis; with ``initialize``, it
        first sets the parameters from its input in the forward direction unless done before."""
        # tfb keeps tf.Variables by reference and reads them when applied, so the values
        # assigned by the initialization (applied first in the chain) are the ones used.
        affine = tfb.Chain([tfb.Shift(self.shift.value), tfb.Scale(log_scale=self.log_scale.value)], name=self.name)
        if not initialize:
            return affine
        return tfb.Chain([affine, _InitializeOnForward(self._initialize)], name=f"{self.name}_initializing")

    def _initialize(self, x):
        # statistics of the global batch under tf.distribute (outside the cond: replicas
        # synchronize in every step alike), so every replica initializes alike
        axes = list(range(len(x.shape) - 1))
        count = replica_sum(tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype))
        mean = replica_sum(tf.reduce_sum(x, axis=axes)) / count
        log_std = 0.5 * tf.math.log(replica_sum(tf.reduce_sum(tf.square(x - mean), axis=axes)) / count + 1e-6)

        def assign():
            return tf.group(
                self.log_scale.value.assign(-log_std),
                self.shift.value.assign(-mean * tf.exp(-log_std)),
                self.initialized.value.assign(1.0),
            )

        return tf.cond(self.initialized.value > 0, tf.no_op, assign)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


class _InitializeOnForward(tfb.Bijector):
    """The identity, which runs ``initialize(x)`` before passing ``x`` on in the forward direction."""

    def __init__(self, initialize):
        self._initialize = initialize
        super().__init__(forward_min_event_ndims=1, is_constant_jacobian=True, parameters={}, name="initialize")

    def _forward(self, x):
        with tf.control_dependencies([self._initialize(x)]):
            return tf.identity(x)

    def _inverse(self, y):
        return y

    def _forward_log_det_jacobian(self, x):
        return tf.zeros([], dtype=x.dtype)


@keras.saving.register_keras_serializable(package="tfspeech")
class InvertibleConv1x1(keras.layers.Layer):
    """Glow's invertible 1x1 convolution ``y = W x`` over channels, with ``W = P L (U + diag(s))``.

    ``P`` is a fixed permutation, ``L`` unit lower triangular, ``U`` strictly upper
    triangular, and ``s = sign · exp(log_abs_s)`` (``sign`` fixed), so ``W`` stays
    invertible and ``log|det W| = Σ log_abs_s``. Starts at the LU factors of a random
    rotation drawn with ``seed``.
    """

    def __init__(self, channels: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        _check_positive(channels=channels)
        self.channels, self.seed = int(channels), int(seed)

    def build(self, input_shape=None):
        c = self.channels
        rotation, _ = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((c, c)))
        with tf.init_scope():  # eager even when Keras builds the layer inside fit's graph
            lower_upper, permutation = (t.numpy() for t in tf.linalg.lu(tf.constant(rotation, tf.float64)))
        diagonal = np.diag(lower_upper)
        constant = keras.initializers.Constant
        self.lower = self.add_weight(name="lower", shape=(c, c), initializer=constant(np.tril(lower_upper, -1)))
        self.upper = self.add_weight(name="upper", shape=(c, c), initializer=constant(np.triu(lower_upper, 1)))
        self.log_abs_s = self.add_weight(name="log_abs_s", shape=(c,), initializer=constant(np.log(np.abs(diagonal))))
        self.sign = self.add_weight(name="sign", shape=(c,), initializer=constant(np.sign(diagonal)), trainable=False)
        self.permutation = self.add_weight(
            name="permutation", shape=(c,), dtype="int32", initializer=constant(permutation), trainable=False
        )

    def bijector(self) -> tfb.Bijector:
        """``tfb.ScaleMatvecLU`` with the packed factors ``L + U + diag(s)``: ``x ↦ W x`` over the last axis."""
        lower = tf.linalg.band_part(self.lower, -1, 0) - tf.linalg.band_part(self.lower, 0, 0)
        upper = tf.linalg.band_part(self.upper, 0, -1) - tf.linalg.band_part(self.upper, 0, 0)
        lower_upper = lower + upper + tf.linalg.diag(self.sign * tf.exp(self.log_abs_s))
        return tfb.ScaleMatvecLU(lower_upper, self.permutation.value, name=self.name)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "seed": self.seed}


def _split_last_axis(x, units: int, num_params: int):
    """``[..., units * num_params] → [..., units, num_params]``."""
    return tf.reshape(x, tf.concat([tf.shape(x)[:-1], [units, num_params]], axis=0))


def _check_positive(**values):
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r}: must be a positive integer")
