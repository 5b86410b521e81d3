"""WaveNet building blocks (van den Oord et al. 2016): causal dilated convolution, the gated
residual block with global and local conditioning, and the mel → sample-rate upsampler.

Shapes are channels-last: sequences ``(batch, time, channels)``; one time step of a sequence
``(batch, channels)``. Every block has a teacher-forced ``call`` over whole sequences and a
``step`` that computes one new time step from the past inputs it needs (its "taps"), which
is what cached generation uses.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfspeech")
class CausalConv1D(keras.layers.Conv1D):
    """A dilated 1-D convolution padded on the left only: output ``t`` sees inputs ``<= t``.

    ``(batch, time, in)`` → ``(batch, time, filters)``. Keras' ``padding="causal"`` is the left
    padding; this class adds what cached generation needs: ``taps_needed`` (how many past
    inputs one new output reads) and ``step``.
    """

    def __init__(self, filters, kernel_size=2, dilation_rate=1, **kwargs):
        padding = kwargs.pop("padding", "causal")
        if padding != "causal":
            raise ValueError(f"CausalConv1D pads on the left only (padding='causal'), got {padding!r}")
        if kwargs.get("strides", 1) not in (1, (1,), [1]):
            raise ValueError("CausalConv1D has stride 1; it keeps one output per input time step")
        super().__init__(filters, kernel_size, dilation_rate=dilation_rate, padding="causal", **kwargs)

    @property
    def taps_needed(self) -> int:
        """Past inputs one output reads besides the current one: ``(kernel_size - 1) * dilation``."""
        return (self.kernel_size[0] - 1) * self.dilation_rate[0]

    def step(self, past, current):
        """One output ``(batch, filters)``.

        ``past``: ``(kernel_size - 1, batch, in)``, the inputs at ``t - (k-1)d, …, t - d``
        (oldest first; time-major, as a cache stores them); ``current``: ``(batch, in)``, the
        input at ``t``.
        """
        taps = tf.concat([*tf.unstack(past, num=self.kernel_size[0] - 1), current], axis=-1)
        out = tf.matmul(taps, tf.reshape(self.kernel, [-1, self.filters]))  # (k * in, filters)
        return out + self.bias if self.use_bias else out

    def get_config(self):
        config = super().get_config()
        config.pop("padding")
        config.pop("strides")
        return config


@keras.saving.register_keras_serializable(package="tfspeech")
class GatedResidualBlock(keras.layers.Layer):
    """One WaveNet layer: ``z = tanh(W_f * x + V_f c + U_f g) ⊙ σ(W_g * x + V_g c + U_g g)``.

    ``*`` is a causal dilated convolution, ``c`` the local conditioning at the same time step,
    ``g`` the global conditioning (e.g. a speaker embedding) broadcast over time. Returns
    ``(x + W_r z, W_s z)``: the residual output ``(…, residual_channels)`` for the next
    block and the skip output ``(…, skip_channels)`` summed over blocks.
    """

    def __init__(
        self,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        kernel_size: int = 2,
        dilation: int = 1,
        local_conditioning: bool = False,
        global_conditioning: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.residual_channels = residual_channels
        self.gate_channels = gate_channels
        self.skip_channels = skip_channels
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.local_conditioning = local_conditioning
        self.global_conditioning = global_conditioning
        self.dilated = CausalConv1D(2 * gate_channels, kernel_size, dilation, name="dilated")
        self.local_projection = (
            keras.layers.Dense(2 * gate_channels, use_bias=False, name="local") if local_conditioning else None
        )
        self.global_projection = (
            keras.layers.Dense(2 * gate_channels, use_bias=False, name="global") if global_conditioning else None
        )
        # Residual and skip 1x1 convolutions as one matmul, split after.
        self.output_projection = keras.layers.Dense(residual_channels + skip_channels, name="residual_skip")

    @property
    def taps_needed(self) -> int:
        return self.dilated.taps_needed

    def build(self, x_shape, local_shape=None, speaker_shape=None):
        # Keras passes the shape of each tensor argument of `call` as `<name>_shape`.
        self.dilated.build(x_shape)
        if self.local_projection is not None:
            self.local_projection.build(local_shape)
        if self.global_projection is not None:
            self.global_projection.build(speaker_shape)
        self.output_projection.build((*x_shape[:-1], self.gate_channels))

    def call(self, x, local=None, speaker=None):
        """``x`` ``(batch, time, residual)``; ``local`` ``(batch, time, c)``; ``speaker`` ``(batch, g)``."""
        pre = self.dilated(x) + self._conditioning(local, speaker, over_time=True)
        return self._gate_and_project(x, pre)

    def step(self, past, current, local=None, speaker=None):
        """One time step: ``past`` ``(kernel_size - 1, batch, residual)`` taps at
        ``t - (k-1)d … t - d``, ``current`` ``(batch, residual)``, ``local`` ``(batch, c)``,
        ``speaker`` ``(batch, g)`` → ``(residual (batch, residual), skip (batch, skip))``."""
        pre = self.dilated.step(past, current) + self._conditioning(local, speaker, over_time=False)
        return self._gate_and_project(current, pre)

    def _conditioning(self, local, speaker, over_time):
        bias = 0.0
        if self.local_projection is not None:
            if local is None:
                raise ValueError(f"{self.name} was built with local conditioning; pass `local`")
            bias += self.local_projection(local)
        if self.global_projection is not None:
            if speaker is None:
                raise ValueError(f"{self.name} was built with global conditioning; pass `speaker`")
            projected = self.global_projection(speaker)
            bias += projected[:, None, :] if over_time else projected
        return bias

    def _gate_and_project(self, x, pre):
        filter_part, gate_part = tf.split(pre, 2, axis=-1)
        z = tf.tanh(filter_part) * tf.sigmoid(gate_part)
        residual, skip = tf.split(self.output_projection(z), [self.residual_channels, self.skip_channels], -1)
        return x + residual, skip

    def get_config(self):
        return {
            **super().get_config(),
            "residual_channels": self.residual_channels,
            "gate_channels": self.gate_channels,
            "skip_channels": self.skip_channels,
            "kernel_size": self.kernel_size,
            "dilation": self.dilation,
            "local_conditioning": self.local_conditioning,
            "global_conditioning": self.global_conditioning,
        }


UPSAMPLE_MODES = ("transposed", "repeat")


@keras.saving.register_keras_serializable(package="tfspeech")
class ConditioningUpsampler(keras.layers.Layer):
    """Log-mels ``(batch, frames, n_mels)`` → local conditioning ``(batch, frames * hop, channels)``.

    A non-causal convolution over frames (kernel 3: mels are known whole), then either
    ``"transposed"``: one learned transposed convolution per factor (stride ``f``, kernel
    ``2f``), or ``"repeat"``: each frame repeated ``hop`` times and smoothed by a convolution
    of kernel ``2 * max(factors) + 1`` over samples. ``hop = prod(factors)``.
    """

    def __init__(self, channels: int, factors=(16, 16), mode: str = "transposed", **kwargs):
        super().__init__(**kwargs)
        factors = tuple(int(f) for f in factors)
        if not factors or any(f < 1 for f in factors):
            raise ValueError(f"upsampling factors must be positive integers, got {factors}")
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsampling mode {mode!r}; choose one of {UPSAMPLE_MODES}")
        self.channels, self.factors, self.mode = channels, factors, mode
        self.hop = math.prod(factors)
        self.frame_conv = keras.layers.Conv1D(channels, 3, padding="same", activation="tanh", name="frames")
        if mode == "transposed":
            self.stretch = [
                keras.layers.Conv1DTranspose(channels, 2 * f, strides=f, padding="same", name=f"stretch_{i}")
                for i, f in enumerate(factors)
            ]
        else:
            self.stretch = [keras.layers.Conv1D(channels, 2 * max(factors) + 1, padding="same", name="smooth")]

    def build(self, input_shape):
        self.frame_conv.build(input_shape)
        shape = (input_shape[0], None, self.channels)
        for layer in self.stretch:
            layer.build(shape)

    def call(self, mel):
        x = self.frame_conv(mel)
        if self.mode == "repeat":
            return self.stretch[0](tf.repeat(x, self.hop, axis=1))
        for i, layer in enumerate(self.stretch):
            x = layer(x)
            if i < len(self.stretch) - 1:
                x = tf.nn.leaky_relu(x, 0.4)
        return x

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else frames * self.hop, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "factors": list(self.factors), "mode": self.mode}
