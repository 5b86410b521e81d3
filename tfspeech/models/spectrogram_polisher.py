"""A spectrogram polisher: a U-Net that sharpens a TTS model's over-smoothed log-mels.

``call(mel)``: log-mels ``(batch, T, n_mels)`` (natural log, the ``MelConfig``'s) → polished
log-mels of the same shape, for any ``T``:

1. normalize to about [-1, 1] with ``mel_low`` / ``mel_high`` (nats; the recipe computes
   them from the training recordings and they are stored in the config);
2. pad ``T`` with silent frames to a multiple of the U-Net's ``factor`` (``2 ** levels``);
3. add the U-Net's output (a residual: a fresh polisher is the identity);
4. crop back to ``T`` frames, undo the normalization, floor at silence (``ln(log_floor)``).

Fully convolutional, so training on crops and polishing whole utterances apply the same
operator. ``PolisherGAN`` (``tfspeech.models.polisher_gan``) trains it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig
from tfspeech.layers.unet import UNet


@keras.saving.register_keras_serializable(package="tfspeech")
class SpectrogramPolisher(keras.Model):
    """Log-mels → sharper log-mels.

    Args:
        mel_config: the ``MelConfig`` (as a dict) of the log-mels it polishes; ``n_mels`` must be a
            multiple of ``2 ** len(channels)``.
        channels: the U-Net encoder's widths, one down-sampling level each.
        mel_low, mel_high: log-mel values (nats) mapped to -1 and 1.
    """

    def __init__(self, mel_config: dict | None = None, channels=(32, 64, 128, 128), mel_low: float | None = None,
                 mel_high: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.mel_config = MelConfig.from_dict(mel_config or {}).to_dict()
        self.channels = tuple(int(c) for c in channels)
        self.mel_low = float(self.silence if mel_low is None else mel_low)
        self.mel_high = float(mel_high)
        if not self.mel_high > self.mel_low:
            raise ValueError(f"mel_high ({self.mel_high}) must exceed mel_low ({self.mel_low})")
        self.unet = UNet(self.channels, name="unet")
        if self.n_mels % self.factor:
            raise ValueError(f"a {len(self.channels)}-level U-Net halves the mel bands {len(self.channels)} times: "
                             f"n_mels ({self.n_mels}) must be a multiple of {self.factor}; use fewer channels levels")

    # ------------------------------------------------------------------ shapes

    @property
    def n_mels(self) -> int:
        return self.mel_config["n_mels"]

    @property
    def factor(self) -> int:
        """Frames are padded to a multiple of this (the U-Net's down-sampling)."""
        return 2 ** len(self.channels)

    @property
    def silence(self) -> float:
        """The log-mel value of silence, ``ln(log_floor)``."""
        return math.log(self.mel_config["log_floor"])

    # ------------------------------------------------------------------ computation

    def normalize(self, mel):
        """Log-mels (nats) → about [-1, 1]."""
        return (mel - self.mel_low) * (2.0 / (self.mel_high - self.mel_low)) - 1.0

    def denormalize(self, x):
        return (x + 1.0) * ((self.mel_high - self.mel_low) / 2.0) + self.mel_low

    def call(self, mel, training=None):
        frames = tf.shape(mel)[1]
        padding = (self.factor - frames % self.factor) % self.factor
        x = self.normalize(tf.pad(mel, [[0, 0], [0, padding], [0, 0]], constant_values=self.silence))
        y = x + tf.squeeze(self.unet(tf.expand_dims(x, -1), training=training), -1)  # no new-axis slices: builtins
        return tf.maximum(self.denormalize(y[:, :frames]), self.silence)

    def polish(self, mel) -> np.ndarray:
        """Checked numpy entry point: ``(T, n_mels)`` or ``(batch, T, n_mels)`` log-mels →
        float32 ``(batch, T, n_mels)``. NaN/inf, a wrong band count or no frames raise ``ValueError``."""
        from tfspeech.models.wavenet import check_mel

        return self._polish_function()(check_mel(mel, self.mel_config)).numpy()

    def _polish_function(self):
        if getattr(self, "_compiled_polish", None) is None:
            self._compiled_polish = tf.function(
                self.call, input_signature=[tf.TensorSpec([None, None, self.n_mels], tf.float32)],
                reduce_retracing=True)
        return self._compiled_polish

    # ------------------------------------------------------------------ zoo and export hooks

    def get_config(self):
        return {**super().get_config(), "mel_config": self.mel_config, "channels": list(self.channels),
                "mel_low": self.mel_low, "mel_high": self.mel_high}

    def example_inputs(self, batch_size: int = 1, frames: int | None = None) -> np.ndarray:
        """Silent log-mels ``(batch, frames, n_mels)`` (default: ``factor`` frames)."""
        return np.full((batch_size, frames or self.factor, self.n_mels), self.silence, np.float32)

    def build_from_preset(self):
        """Creates the variables (``tfspeech.zoo.load`` calls this before loading weights)."""
        self(self.example_inputs())

    def default_compile_args(self) -> dict:
        """Adam(2e-4, β₁ = 0.5) as pix2pix, and L1 on log-mels (the λ = 0 polisher)."""
        return {"optimizer": keras.optimizers.Adam(2e-4, beta_1=0.5), "loss": "mean_absolute_error",
                "jit_compile": False}

    def export_signatures(self) -> dict:
        """``polish``: log-mels ``mel (batch, T, n_mels)`` → ``{"polished": (batch, T, n_mels)}``, any ``T``."""
        @tf.function(input_signature=[tf.TensorSpec([None, None, self.n_mels], tf.float32, name="mel")])
        def polish(mel):
            return {"polished": self(mel)}

        return {"polish": polish}

    def representative_data(self, frames=(24, 5, 61, 100)) -> dict:
        """Seeded speech-like log-mels (around -5, spread 2) of several lengths, one shorter than ``factor``."""
        rng = np.random.default_rng(0)
        return {"polish": [{"mel": rng.normal(-5.0, 2.0, (1, count, self.n_mels)).astype(np.float32)}
                           for count in frames]}
