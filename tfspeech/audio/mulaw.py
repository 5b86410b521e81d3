"""Mu-law companding and quantization (ITU-T G.711 curve, as in WaveNet), in TensorFlow.

``mulaw_encode`` maps a waveform in [-1, 1] to integer classes ``0 … channels - 1``;
``mulaw_decode`` maps classes back to the centre of their bin. The round trip is exact to
within one quantization step: on the companded scale the error is at most ``1 / mu``
(half a step), with ``mu = channels - 1``. Written out because ``tf.signal`` has no mu-law;
the curve is the one ``librosa.mu_compress`` / ``mu_expand`` use.
"""

from __future__ import annotations

import tensorflow as tf


def _mu(channels: int) -> float:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 2:
        raise ValueError(f"channels must be an integer >= 2, got {channels!r}")
    return float(channels - 1)


def mulaw_encode(waveform, channels: int = 256) -> tf.Tensor:
    """Int32 classes in ``[0, channels)``, same shape as ``waveform`` (clipped to [-1, 1])."""
    mu = _mu(channels)
    waveform = tf.clip_by_value(tf.convert_to_tensor(waveform, tf.float32), -1.0, 1.0)
    companded = tf.sign(waveform) * tf.math.log1p(mu * tf.abs(waveform)) / tf.math.log1p(mu)
    return tf.cast(tf.floor((companded + 1.0) / 2.0 * mu + 0.5), tf.int32)


def mulaw_decode(classes, channels: int = 256) -> tf.Tensor:
    """Float32 waveform in [-1, 1] from integer classes in ``[0, channels)``."""
    mu = _mu(channels)
    companded = 2.0 * tf.cast(classes, tf.float32) / mu - 1.0
    return tf.sign(companded) * tf.math.expm1(tf.abs(companded) * tf.math.log1p(mu)) / mu
