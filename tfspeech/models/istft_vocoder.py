"""A frame-rate neural vocoder (Vocos-style): log-mels → ConvNeXt backbone → magnitude and
phase per frame → inverse DFT and overlap-add.

Its cost is counted per frame (86 per second at 22,050 Hz, hop 256), not per sample, so it
trains on CPUs and runs many times faster than real time on one core. Every convolution is
*valid*, so an output block depends on a fixed window of input frames:

- ``call(mel)``: **context mels** ``(batch, F + context_frames, n_mels)`` → audio
  ``(batch, F * hop)`` for the middle ``F`` frames' blocks. This is what ``fit`` trains on
  (random crops that carry their context) and what a streaming host calls on overlapping
  chunks (``export_signatures()['stream']``).
- ``vocode(mel)``: a whole utterance ``(batch, T, n_mels)`` → ``(batch, T * hop)``, by padding
  its ends with silent (log-floor) frames, then ``call``. Chunks of the padded mels give the
  same samples (a test checks it).

The training loss (``VocoderReconstructionLoss``) compares waveforms, so ``fit`` with the
compiled defaults fine-tunes a preset on ``(context mels, audio)`` pairs from
``tfspeech.data.waveform_pipeline``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig
from tfspeech.layers.convnext import ConvNeXtBlock
from tfspeech.layers.istft import ISTFTHead
from tfspeech.losses.spectral import VocoderReconstructionLoss


@keras.saving.register_keras_serializable(package="tfspeech")
class ISTFTVocoder(keras.Model):
    """Log-mel → waveform at the frame rate.

    Args:
        mel_config: the ``MelConfig`` (as a dict) of the input log-mels; its ``n_fft``,
            ``hop_length`` and window also define the inverse STFT.
        channels: backbone width; ``intermediate_channels``: the ConvNeXt expansion.
        blocks: ConvNeXt blocks; ``kernel_size``: their depthwise kernel (odd).
        magnitude_prior: predict log-magnitudes as a residual over the frame's log-mels mapped
            to linear frequency (``tfspeech.layers.istft.mel_to_log_magnitude``).
    """

    def __init__(self, mel_config: dict | None = None, channels: int = 192, intermediate_channels: int = 576,
                 blocks: int = 8, kernel_size: int = 7, magnitude_prior: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.mel_config = MelConfig.from_dict(mel_config or {}).to_dict()
        config = MelConfig.from_dict(self.mel_config)
        blocks_per_frame, remainder = divmod(config.n_fft, config.hop_length)
        if remainder or blocks_per_frame % 2:
            raise ValueError(
                f"ISTFTVocoder needs n_fft ({config.n_fft}) to be an even multiple of hop_length "
                f"({config.hop_length})"
            )
        if not config.center:
            raise ValueError("ISTFTVocoder needs centred frames (MelConfig.center=True)")
        self.channels, self.intermediate_channels = channels, intermediate_channels
        self.blocks, self.kernel_size = blocks, kernel_size
        self.magnitude_prior = bool(magnitude_prior)
        self.embed = keras.layers.Conv1D(channels, kernel_size, padding="valid", name="embed")
        self.embed_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="embed_norm")
        self.backbone = [
            ConvNeXtBlock(channels, intermediate_channels, kernel_size, layer_scale=1.0 / blocks,
                          name=f"convnext_{i}")
            for i in range(blocks)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.head = ISTFTHead(self.mel_config, name="head")
        self.receptive = (kernel_size // 2) * (blocks + 1)  # input frames consumed on each side
        # Spectral frames -left .. T-1+right feed the complete blocks 0 .. T-1.
        self.left_context = self.receptive + blocks_per_frame // 2 - 1
        self.right_context = self.receptive + blocks_per_frame // 2

    # ------------------------------------------------------------------ shapes

    @property
    def hop_length(self) -> int:
        return self.mel_config["hop_length"]

    @property
    def n_mels(self) -> int:
        return self.mel_config["n_mels"]

    @property
    def context_frames(self) -> int:
        """Input frames beyond the ``F`` whose audio ``call`` returns (left + right)."""
        return self.left_context + self.right_context

    @property
    def silence(self) -> float:
        """The log-mel value of silence (``ln(log_floor)``), used to pad utterance ends."""
        return math.log(self.mel_config["log_floor"])

    # ------------------------------------------------------------------ computation

    def call(self, mel, training=None):
        x = self.embed_norm(self.embed(mel))
        for block in self.backbone:
            x = block(x)
        # The frames the spectral frames stand on: the input less the receptive margins.
        own_mels = mel[:, self.receptive: -self.receptive or None] if self.magnitude_prior else None
        return self.head(self.final_norm(x), own_mels)

    def pad(self, mel):
        """Whole-utterance log-mels ``(batch, T, n_mels)`` with silent context frames at both ends."""
        return tf.pad(mel, [[0, 0], [self.left_context, self.right_context], [0, 0]],
                      constant_values=self.silence)

    def vocode(self, mel) -> tf.Tensor:
        """Whole-utterance log-mels ``(batch, T, n_mels)`` → audio ``(batch, T * hop)`` in [-1, 1]-ish."""
        return self(self.pad(mel))

    def generate(self, mel, **unused) -> np.ndarray:
        """Checked numpy entry point: ``(T, n_mels)`` or ``(batch, T, n_mels)`` log-mels →
        float32 audio ``(batch, T * hop)``. ``unused`` keyword arguments (``seed``) exist so
        callers can treat every vocoder family alike."""
        from tfspeech.models.wavenet import check_mel

        mel = check_mel(mel, self.mel_config)
        return self._vocode_function()(mel).numpy()

    def _vocode_function(self):
        if getattr(self, "_compiled_vocode", None) is None:
            self._compiled_vocode = tf.function(
                self.vocode, input_signature=[tf.TensorSpec([None, None, self.n_mels], tf.float32)],
                reduce_retracing=True,
            )
        return self._compiled_vocode

    # ------------------------------------------------------------------ zoo and export hooks

    def get_config(self):
        return {
            **super().get_config(),
            "mel_config": self.mel_config,
            "channels": self.channels,
            "intermediate_channels": self.intermediate_channels,
            "blocks": self.blocks,
            "kernel_size": self.kernel_size,
            "magnitude_prior": self.magnitude_prior,
        }

    def example_inputs(self, batch_size: int = 1, frames: int = 4) -> np.ndarray:
        """Silent context mels ``(batch, frames + context_frames, n_mels)``."""
        return np.full((batch_size, frames + self.context_frames, self.n_mels), self.silence, np.float32)

    def build_from_preset(self):
        """Creates the variables (``tfspeech.zoo.load`` calls this before loading weights)."""
        self(self.example_inputs())

    def default_compile_args(self) -> dict:
        """AdamW and the reconstruction loss on waveforms (multi-resolution STFT, mel L1, phase
        derivatives), the recipe's, without XLA."""
        return {
            "optimizer": keras.optimizers.AdamW(2e-4, weight_decay=0.01, beta_1=0.8, beta_2=0.99,
                                                clipnorm=10.0),
            "loss": VocoderReconstructionLoss(self.mel_config, phase_loss="derivative"),
            "jit_compile": False,
        }

    def export_signatures(self) -> dict:
        """``vocode`` (whole utterance: mel ``(batch, T, n_mels)`` → audio ``(batch, T * hop)``)
        and ``stream`` (context mels ``(batch, F + context_frames, n_mels)`` → the audio of
        the middle ``F`` frames): call ``stream`` on ``vocode``'s padding of the utterance,
        cut into windows that overlap by ``context_frames``, and concatenate."""
        mel_spec = tf.TensorSpec([None, None, self.n_mels], tf.float32, name="mel")

        @tf.function(input_signature=[mel_spec])
        def vocode(mel):
            return {"audio": self.vocode(mel)}

        @tf.function(input_signature=[mel_spec])
        def stream(mel):
            return {"audio": self(mel)}

        return {"vocode": vocode, "stream": stream}

    def representative_data(self, samples: int = 4, frames: int = 24) -> dict:
        """Seeded speech-like log-mels per export signature (around -4, spread 2)."""
        rng = np.random.default_rng(0)

        def mel(count):
            return rng.normal(-4.0, 2.0, (1, count, self.n_mels)).astype(np.float32)

        return {
            "vocode": [{"mel": mel(frames)} for _ in range(samples)],
            "stream": [{"mel": mel(frames + self.context_frames)} for _ in range(samples)],
        }
