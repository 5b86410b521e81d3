"""Inverse STFT from builtin TFLite ops: a fixed inverse-DFT matmul and a reshape/pad/sum
overlap-add, and the head that turns features into the spectrum it inverts.

TFLite has no builtin inverse FFT (``tf.signal.inverse_stft`` would need the Flex delegate),
so the inverse real DFT of each frame is one matmul with a constant ``(2 * n_freq, n_fft)``
basis that also applies the synthesis window. It is hand-written for that reason only; a test
checks it against ``tf.signal.inverse_stft`` / librosa.

Frame convention (``MelConfig``, ``center=True``): STFT frame ``t`` is centred on sample
``t * hop``, so it covers the hop-sized blocks ``t - 2 … t + 1`` when ``n_fft = 4 * hop``.
``OverlapAdd`` returns only the blocks that every overlapping frame reached: from ``F`` frames,
the first one frame ``t0``, it returns ``F - n_fft / hop + 1`` blocks starting at block
``t0 + n_fft / (2 hop) - 1``, divided by their (constant) window-square sum as librosa's
``istft`` does inside the signal. Edge blocks with missing frames are never produced, so the
output does not depend on where a chunk was cut.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig, analysis_window, mel_filterbank


def inverse_dft_basis(config: MelConfig) -> np.ndarray:
    """``(2 * n_freq, n_fft)`` float32: ``[real, imag] @ basis`` is ``irfft(real + i imag) * window``."""
    n_fft, n_freq = config.n_fft, config.n_freq
    k = np.arange(n_freq)[:, None]
    n = np.arange(n_fft)[None, :]
    weight = np.where((k == 0) | (k == n_fft // 2), 1.0, 2.0) / n_fft
    angle = 2.0 * np.pi * k * n / n_fft
    window = analysis_window(config).astype(np.float64)
    basis = np.concatenate([weight * np.cos(angle), -weight * np.sin(angle)]) * window
    return basis.astype(np.float32)


def window_envelope(config: MelConfig) -> np.ndarray:
    """``(hop,)`` float32: the sum of squared windows over every frame that covers a sample,
    the same for each block inside the signal. Raises unless ``n_fft`` is a multiple of ``hop``."""
    if config.n_fft % config.hop_length:
        raise ValueError(
            f"the overlap-add needs n_fft ({config.n_fft}) to be a multiple of hop_length ({config.hop_length})"
        )
    square = analysis_window(config).astype(np.float64) ** 2
    envelope = square.reshape(-1, config.hop_length).sum(axis=0)
    if envelope.min() <= 1e-6:
        raise ValueError("the analysis window leaves samples uncovered; use win_length > hop_length")
    return envelope.astype(np.float32)


def mel_to_log_magnitude(config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix (n_mels, n_freq), offset (n_freq,))``: ``log_mel @ matrix + offset`` is a rough
    log |STFT| — each bin interpolates the log-mels of the bands that cover it (weights: the
    filterbank's, normalized per bin; an uncovered bin takes its nearest band), less the log of
    each band's filter area, so a flat spectrum of magnitude A maps back to log A."""
    bank = mel_filterbank(config).astype(np.float64)  # (n_freq, n_mels)
    covered = bank.sum(axis=1) > 0
    centres = np.argmax(bank, axis=0)  # each band's peak bin
    weights = np.zeros_like(bank)
    weights[covered] = bank[covered] / bank[covered].sum(axis=1, keepdims=True)
    for k in np.flatnonzero(~covered):
        weights[k, np.argmin(np.abs(centres - k))] = 1.0
    offset = -weights @ np.log(bank.sum(axis=0))
    return weights.T.astype(np.float32), offset.astype(np.float32)


@keras.saving.register_keras_serializable(package="tfspeech")
class OverlapAdd(keras.layers.Layer):
    """Windowed frames ``(batch, F, n_fft)`` → complete blocks ``(batch, (F - overlap) * hop)``,
    ``overlap = n_fft / hop - 1``, normalized by the window-square envelope."""

    def __init__(self, mel_config: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mel_config = MelConfig.from_dict(mel_config or {}).to_dict()
        config = MelConfig.from_dict(self.mel_config)
        self.hop = config.hop_length
        self.blocks_per_frame = config.n_fft // config.hop_length
        self.inverse_envelope = 1.0 / window_envelope(config)

    @property
    def overlap(self) -> int:
        """Frames lost to incomplete blocks (n_fft / hop - 1)."""
        return self.blocks_per_frame - 1

    def call(self, frames):
        batch, count = tf.shape(frames)[0], tf.shape(frames)[1]
        blocks = tf.reshape(frames, [batch, count, self.blocks_per_frame, self.hop])
        total = None
        # Block b of the output gets block k of frame b + overlap - k; the sum over k of
        # shifted slices is a few adds (TFLite builtins), no scatter and no transposed conv.
        for k in range(self.blocks_per_frame):
            part = blocks[:, self.overlap - k: count - k, k, :]
            total = part if total is None else total + part
        total = total * tf.constant(self.inverse_envelope)
        return tf.reshape(total, [batch, -1])

    def get_config(self):
        return {**super().get_config(), "mel_config": self.mel_config}


@keras.saving.register_keras_serializable(package="tfspeech")
class ISTFTHead(keras.layers.Layer):
    """Features ``(batch, F, channels)`` → log-magnitude and phase per frequency bin →
    windowed time frames ``(batch, F, n_fft)`` (the inverse DFT as a matmul) → audio
    ``(batch, (F - overlap) * hop)`` by overlap-add. Magnitudes are ``exp`` of the
    prediction clipped at ``max_log_magnitude`` (Vocos's parameterization). Given the frames'
    log-mels ``(batch, F, n_mels)``, the prediction is a residual over their
    ``mel_to_log_magnitude`` interpolation (a fixed matmul), so training starts from the
    magnitudes the mels imply instead of from noise."""

    def __init__(self, mel_config: dict | None = None, max_log_magnitude: float = 7.0, **kwargs):
        super().__init__(**kwargs)
        self.mel_config = MelConfig.from_dict(mel_config or {}).to_dict()
        config = MelConfig.from_dict(self.mel_config)
        self.n_freq = config.n_freq
        self.max_log_magnitude = max_log_magnitude
        self.projection = keras.layers.Dense(2 * self.n_freq, name="projection")
        self.basis = inverse_dft_basis(config)
        self.prior_matrix, self.prior_offset = mel_to_log_magnitude(config)
        self.overlap_add = OverlapAdd(self.mel_config, name="overlap_add")

    def build(self, input_shape):
        self.projection.build(input_shape)

    def spectrum(self, features, log_mel=None):
        """``(real, imag)``, each ``(batch, F, n_freq)``."""
        log_magnitude, phase = tf.split(self.projection(features), 2, axis=-1)
        if log_mel is not None:
            log_magnitude += tf.matmul(log_mel, tf.constant(self.prior_matrix)) + tf.constant(self.prior_offset)
        magnitude = tf.exp(tf.minimum(log_magnitude, self.max_log_magnitude))
        return magnitude * tf.cos(phase), magnitude * tf.sin(phase)

    def call(self, features, log_mel=None):
        real, imag = self.spectrum(features, log_mel)
        frames = tf.matmul(tf.concat([real, imag], axis=-1), tf.constant(self.basis))
        return self.overlap_add(frames)

    def get_config(self):
        return {**super().get_config(), "mel_config": self.mel_config,
                "max_log_magnitude": self.max_log_magnitude}
