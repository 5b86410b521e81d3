"""Waveform discriminators for adversarial vocoder training (HiFi-GAN's multi-period and
UnivNet's multi-resolution discriminators), sized for CPUs.

Each discriminator maps waveforms ``(batch, samples)`` to ``(logits, features)``: ``logits`` a
``(batch, ...)`` map of real/fake scores, ``features`` the list of intermediate activations that
feature matching compares. No weight normalization (Keras 3 has none built in); the
least-squares GAN loss used with them is stable without it at these sizes.
"""

from __future__ import annotations

import keras
import tensorflow as tf

LEAK = 0.1


def _scores(convs, out, x):
    """``(logits, features)``: ``x`` through the leaky-ReLU ``convs``, then the ``out`` conv;
    every activation and the logits are features."""
    features = []
    for conv in convs:
        x = tf.nn.leaky_relu(conv(x), LEAK)
        features.append(x)
    logits = out(x)
    return logits, features + [logits]


def _conv_stack(channels, kernel, strides, name):
    return [keras.layers.Conv2D(c, kernel, strides=s, padding="same", name=f"{name}_conv{i}")
            for i, (c, s) in enumerate(zip(channels, strides))]


@keras.saving.register_keras_serializable(package="tfspeech")
class PeriodDiscriminator(keras.layers.Layer):
    """Folds the waveform into ``(samples / period, period)`` and convolves along time only,
    so each column sees every ``period``-th sample (HiFi-GAN)."""

    def __init__(self, period: int, channels=(16, 32, 64, 128), **kwargs):
        super().__init__(**kwargs)
        self.period, self.channels = int(period), tuple(channels)
        strides = [(3, 1)] * len(self.channels)
        self.convs = _conv_stack(self.channels, (5, 1), strides, "period")
        self.last = keras.layers.Conv2D(self.channels[-1], (5, 1), padding="same", name="last")
        self.out = keras.layers.Conv2D(1, (3, 1), padding="same", name="logits")

    def call(self, waveform):
        length = tf.shape(waveform)[1]
        padding = (-length) % self.period
        x = tf.pad(waveform, [[0, 0], [0, padding]])
        return _scores([*self.convs, self.last], self.out, tf.reshape(x, [tf.shape(x)[0], -1, self.period, 1]))

    def get_config(self):
        return {**super().get_config(), "period": self.period, "channels": list(self.channels)}


@keras.saving.register_keras_serializable(package="tfspeech")
class ResolutionDiscriminator(keras.layers.Layer):
    """Convolves the log-compressed magnitude spectrogram at one STFT resolution (UnivNet)."""

    def __init__(self, n_fft: int, hop_length: int, channels: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.hop_length, self.width = int(n_fft), int(hop_length), int(channels)
        # Strided along frequency from the first layer: on CPUs the full-resolution layers
        # of UnivNet's version cost more than the generator.
        self.convs = [
            keras.layers.Conv2D(self.width, (7, 5), strides=(1, 2), padding="same", name="conv0"),
            keras.layers.Conv2D(self.width, (5, 3), strides=(1, 2), padding="same", name="conv1"),
            keras.layers.Conv2D(self.width, (5, 3), strides=(1, 2), padding="same", name="conv2"),
            keras.layers.Conv2D(self.width, (3, 3), padding="same", name="conv3"),
        ]
        self.out = keras.layers.Conv2D(1, (3, 3), padding="same", name="logits")

    def call(self, waveform):
        spectrum = tf.signal.stft(waveform, self.n_fft, self.hop_length, self.n_fft, pad_end=True)
        return _scores(self.convs, self.out, tf.math.log1p(tf.abs(spectrum))[..., None])  # (batch, frames, bins, 1)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop_length": self.hop_length,
                "channels": self.width}


@keras.saving.register_keras_serializable(package="tfspeech")
class WaveformDiscriminators(keras.layers.Layer):
    """Several period and resolution discriminators; ``call`` returns ``[(logits, features)]``."""

    def __init__(self, periods=(2, 3, 5, 7, 11), resolutions=((512, 128), (1024, 256), (2048, 512)),
                 period_channels=(16, 32, 64, 128), resolution_channels: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.periods, self.resolutions = tuple(periods), tuple(tuple(r) for r in resolutions)
        self.period_channels, self.resolution_channels = tuple(period_channels), int(resolution_channels)
        self.discriminators = (
            [PeriodDiscriminator(p, self.period_channels, name=f"period_{p}") for p in self.periods]
            + [ResolutionDiscriminator(n, h, self.resolution_channels, name=f"resolution_{n}")
               for n, h in self.resolutions]
        )

    def call(self, waveform):
        return [discriminator(waveform) for discriminator in self.discriminators]

    def get_config(self):
        return {
            **super().get_config(),
            "periods": list(self.periods),
            "resolutions": [list(r) for r in self.resolutions],
            "period_channels": list(self.period_channels),
            "resolution_channels": self.resolution_channels,
        }
