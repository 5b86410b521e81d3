"""Waveform losses for vocoders, computed through STFTs (``tf.signal``).

- ``multi_resolution_stft_loss``: spectral convergence ``‖|Y| − |Ŷ|‖_F / ‖|Y|‖_F`` plus the
  mean absolute log-magnitude difference, averaged over several (n_fft, hop, window) settings
  (Parallel WaveGAN, Yamamoto et al. 2020).
- ``mel_l1_loss``: mean absolute difference of the ``MelConfig`` log-mels (HiFi-GAN).
- ``compressed_complex_loss``: mean squared difference of power-law compressed complex spectra
  ``|Y|^c e^{iφ}`` at one resolution (the vocoder's own frames). Magnitude losses leave the phase
  free; this term makes the phase of loud bins follow the recording's, with gradients that stay
  bounded where a bin is silent (unlike a loss on ``angle(Ŷ)``).
- ``phase_derivative_loss``: the same on products of neighbouring compressed bins,
  ``Yc[t, k] · conj(Yc[t − 1, k])`` (phase advance over time: instantaneous frequency) and
  ``Yc[t, k] · conj(Yc[t, k − 1])`` (phase change over frequency: group delay). A mel frame does
  not say where the glottal pulses fall, so the absolute phase is not predictable from it; its
  derivatives mostly are (the harmonics' frequencies, the pulses' alignment across harmonics).

Shapes: waveforms ``(batch, samples)`` float32; every loss returns a scalar.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.audio.features import MelConfig, log_mel_spectrogram

DEFAULT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))  # (n_fft, hop, window)


def resolutions_around(n_fft: int) -> tuple[tuple[int, int, int], ...]:
    """Half, one and two times ``n_fft``, each with a quarter-window hop: ``DEFAULT_RESOLUTIONS``
    for ``n_fft = 1024``."""
    return tuple((size, size // 4, size) for size in (n_fft // 2, n_fft, 2 * n_fft))
_EPS = 1e-7


def _spectrum(waveform, n_fft: int, hop: int, window: int) -> tf.Tensor:
    return tf.signal.stft(waveform, frame_length=window, frame_step=hop, fft_length=n_fft,
                          window_fn=tf.signal.hann_window, pad_end=False)


def _magnitude(spectrum) -> tf.Tensor:
    return tf.sqrt(tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum)) + _EPS)


def multi_resolution_stft_loss(y_true, y_pred, resolutions=DEFAULT_RESOLUTIONS) -> tf.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over ``resolutions``."""
    total = 0.0
    for n_fft, hop, window in resolutions:
        target = _magnitude(_spectrum(y_true, n_fft, hop, window))
        predicted = _magnitude(_spectrum(y_pred, n_fft, hop, window))
        convergence = tf.norm(target - predicted, axis=[-2, -1]) / (tf.norm(target, axis=[-2, -1]) + _EPS)
        log_distance = tf.reduce_mean(tf.abs(tf.math.log(target) - tf.math.log(predicted)), axis=[-2, -1])
        total += tf.reduce_mean(convergence + log_distance)
    return total / len(resolutions)


def mel_l1_loss(y_true, y_pred, mel_config: MelConfig = MelConfig()) -> tf.Tensor:
    """Mean absolute log-mel difference (natural log, ``mel_config``'s analysis)."""
    return tf.reduce_mean(tf.abs(log_mel_spectrogram(y_true, mel_config) - log_mel_spectrogram(y_pred, mel_config)))


def compressed_complex_loss(y_true, y_pred, n_fft: int = 1024, hop: int = 256, window: int = 1024,
                            power: float = 0.3) -> tf.Tensor:
    """Mean ``|Yc − Ŷc|²`` with ``Yc = |Y|^power · Y / |Y|`` (complex, per bin)."""
    difference = (_compressed(_spectrum(y_true, n_fft, hop, window), power)
                  - _compressed(_spectrum(y_pred, n_fft, hop, window), power))
    return tf.reduce_mean(tf.square(tf.math.real(difference)) + tf.square(tf.math.imag(difference)))


def _compressed(spectrum, power: float):
    scale = tf.pow(tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum)) + _EPS, (power - 1.0) / 2.0)
    return tf.complex(tf.math.real(spectrum) * scale, tf.math.imag(spectrum) * scale)


def phase_derivative_loss(y_true, y_pred, n_fft: int = 1024, hop: int = 256, window: int = 1024,
                          power: float = 0.3) -> tf.Tensor:
    """Mean squared difference of the time- and frequency-neighbour products of compressed spectra."""
    true = _compressed(_spectrum(y_true, n_fft, hop, window), power)
    pred = _compressed(_spectrum(y_pred, n_fft, hop, window), power)
    total = 0.0
    for axis in (-2, -1):  # frames (instantaneous frequency), bins (group delay)
        length = tf.shape(true)[axis]

        def product(z):
            later = tf.gather(z, tf.range(1, length), axis=axis)
            earlier = tf.gather(z, tf.range(0, length - 1), axis=axis)
            return later * tf.math.conj(earlier)

        difference = product(true) - product(pred)
        total += tf.reduce_mean(tf.square(tf.math.real(difference)) + tf.square(tf.math.imag(difference)))
    return total


PHASE_LOSSES = {"complex": compressed_complex_loss, "derivative": phase_derivative_loss}


@keras.saving.register_keras_serializable(package="tfspeech")
class VocoderReconstructionLoss(keras.losses.Loss):
    """``mel_weight · mel L1 + stft_weight · multi-resolution STFT + complex_weight ·
    compressed complex`` on waveforms ``(batch, samples)``, which need at least ``2 · n_fft``
    samples. The STFT resolutions are ``resolutions_around(n_fft)``; the phase term
    (``phase_loss``: ``"complex"`` or ``"derivative"``) uses the ``mel_config``'s own STFT frames."""

    def __init__(self, mel_config: dict | None = None, mel_weight: float = 1.0, stft_weight: float = 1.0,
                 complex_weight: float = 1.0, phase_loss: str = "complex", name="vocoder_reconstruction",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if phase_loss not in PHASE_LOSSES:
            raise ValueError(f"phase_loss must be one of {sorted(PHASE_LOSSES)}, got {phase_loss!r}")
        self.mel_config = MelConfig.from_dict(mel_config or {}).to_dict()
        self.mel_weight, self.stft_weight, self.complex_weight = mel_weight, stft_weight, complex_weight
        self.phase_loss = phase_loss

    def call(self, y_true, y_pred):
        config = MelConfig.from_dict(self.mel_config)
        y_true = tf.cast(y_true, tf.float32)
        loss = self.mel_weight * mel_l1_loss(y_true, y_pred, config)
        loss += self.stft_weight * multi_resolution_stft_loss(y_true, y_pred, resolutions_around(config.n_fft))
        loss += self.complex_weight * PHASE_LOSSES[self.phase_loss](
            y_true, y_pred, config.n_fft, config.hop_length, config.win_length)
        # A Loss returns per-example values; the terms above are batch means already.
        return tf.fill(tf.shape(y_true)[:1], loss)

    def get_config(self):
        return {
            **super().get_config(),
            "mel_config": self.mel_config,
            "mel_weight": self.mel_weight,
            "stft_weight": self.stft_weight,
            "complex_weight": self.complex_weight,
            "phase_loss": self.phase_loss,
        }
