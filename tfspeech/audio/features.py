"""STFT, mel and log-mel spectrograms in ``tf.signal`` (they export to SavedModel and TFLite).

Conventions follow librosa so features can be checked against it: frames are centred by
reflect padding (``center=True``), the window is a periodic Hann of ``win_length`` zero-padded
in the middle of ``n_fft``, the mel filterbank is ``librosa.filters.mel`` (Slaney scale and
area normalization). Mel spectrograms are built from the *magnitude* (power 1), and
``log_mel_spectrogram`` is ``ln(max(mel, log_floor))``.

Shapes: waveforms are ``(samples,)`` or ``(batch, samples)`` float32 in [-1, 1];
spectrograms are ``(..., frames, bins)`` with ``frames = 1 + samples // hop_length`` when
centred and ``bins = n_fft // 2 + 1`` (linear) or ``n_mels`` (mel).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math

import keras
import librosa
import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Analysis settings; sizes in samples, frequencies in Hz."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    center: bool = True
    log_floor: float = 1e-5

    def __post_init__(self):
        for name in ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"MelConfig.{name} must be a positive integer, got {value!r}")
        if self.win_length > self.n_fft:
            raise ValueError(
                f"MelConfig.win_length={self.win_length} exceeds n_fft={self.n_fft}; "
                "use win_length <= n_fft"
            )
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"MelConfig needs 0 <= fmin < fmax <= sample_rate / 2 = {self.sample_rate / 2}, "
                f"got fmin={self.fmin}, fmax={self.fmax}"
            )
        if not self.log_floor > 0.0:
            raise ValueError(f"MelConfig.log_floor must be > 0, got {self.log_floor!r}")

    @property
    def n_freq(self) -> int:
        """Number of linear-frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def min_samples(self) -> int:
        """Shortest waveform that can be analysed (reflect padding needs more than n_fft // 2)."""
        return self.n_fft // 2 + 1 if self.center else self.n_fft

    @property
    def min_frames(self) -> int:
        """Fewest frames whose inverse STFT can be analysed again (at least ``min_samples``);
        Griffin-Lim needs this many, so shorter spectrograms get silent frames appended."""
        return 1 + math.ceil((self.min_samples - self.num_samples(1)) / self.hop_length)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a waveform of ``num_samples`` samples."""
        if self.center:
            return 1 + num_samples // self.hop_length
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def num_samples(self, num_frames: int) -> int:
        """Samples that ``inverse_stft`` returns by default for ``num_frames`` frames."""
        return (num_frames - 1) * self.hop_length + (0 if self.center else self.n_fft)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "MelConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown MelConfig keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    def fingerprint(self) -> str:
        """A short stable hash of the settings (10 hex digits), e.g. to name a feature cache."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


@functools.lru_cache(maxsize=16)
def mel_filterbank(config: MelConfig) -> np.ndarray:
    """``(n_freq, n_mels)`` float32 matrix from ``librosa.filters.mel`` (Slaney)."""
    weights = librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    return np.ascontiguousarray(weights.T, dtype=np.float32)


@functools.lru_cache(maxsize=16)
def analysis_window(config: MelConfig) -> np.ndarray:
    """``(n_fft,)`` periodic Hann of ``win_length`` zero-padded in the middle, as librosa."""
    window = librosa.filters.get_window("hann", config.win_length, fftbins=True)
    return librosa.util.pad_center(window, size=config.n_fft).astype(np.float32)


def _is_power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


def _padded(waveform, config: MelConfig) -> tf.Tensor:
    """Float32 ``(..., samples)`` reflect-padded by ``n_fft // 2`` on both sides when centred."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    if waveform.shape.rank not in (1, 2):
        raise ValueError(
            f"expected a waveform of shape (samples,) or (batch, samples), got {waveform.shape}"
        )
    num_samples = waveform.shape[-1]
    if num_samples is not None and num_samples < config.min_samples:
        raise ValueError(
            f"waveform has {num_samples} samples; this MelConfig needs at least "
            f"{config.min_samples} (n_fft={config.n_fft}, center={config.center}): "
            "pad it or use a smaller n_fft"
        )
    if not config.center:
        return waveform
    pad = config.n_fft // 2
    paddings = [[0, 0]] * (waveform.shape.rank - 1) + [[pad, pad]]
    return tf.pad(waveform, paddings, mode="REFLECT")


def stft(waveform, config: MelConfig = MelConfig()) -> tf.Tensor:
    """Complex64 STFT ``(..., frames, n_freq)`` of a ``(..., samples)`` waveform."""
    window = tf.constant(analysis_window(config))
    return tf.signal.stft(
        _padded(waveform, config),
        frame_length=config.n_fft,
        frame_step=config.hop_length,
        fft_length=config.n_fft,
        window_fn=lambda length, dtype: window,
        pad_end=False,
    )


@functools.lru_cache(maxsize=16)
def _real_dft_basis(n_fft: int) -> np.ndarray:
    """``(n_fft, 2 * n_freq)`` matrix ``[cos | -sin]``: real and imaginary parts of an rfft."""
    angles = 2.0 * np.pi * np.outer(np.arange(n_fft), np.arange(n_fft // 2 + 1)) / n_fft
    return np.concatenate([np.cos(angles), -np.sin(angles)], axis=1).astype(np.float32)


def magnitude(waveform, config: MelConfig = MelConfig()) -> tf.Tensor:
    """``|STFT|`` as float32 ``(..., frames, n_freq)``.

    LiteRT's builtin RFFT2D kernel accepts only power-of-two FFT lengths, so for any other
    ``n_fft`` the spectrum is computed as a real DFT matmul (builtin FULLY_CONNECTED) to keep
    the graph convertible without the Flex delegate.
    """
    if _is_power_of_two(config.n_fft):
        return tf.abs(stft(waveform, config))
    frames = tf.signal.frame(_padded(waveform, config), config.n_fft, config.hop_length)
    spectrum = tf.matmul(frames * analysis_window(config), _real_dft_basis(config.n_fft))
    real, imag = tf.split(spectrum, 2, axis=-1)
    return tf.sqrt(real * real + imag * imag)


def mel_spectrogram(waveform, config: MelConfig = MelConfig()) -> tf.Tensor:
    """Mel-scaled magnitude ``(..., frames, n_mels)``: ``|STFT| @ mel_filterbank(config)``."""
    return apply_mel_filterbank(magnitude(waveform, config), config)


def apply_mel_filterbank(spectrum, config: MelConfig = MelConfig()) -> tf.Tensor:
    """``spectrum (..., n_freq) @ mel_filterbank(config)`` → ``(..., n_mels)``, computed band by band.

    Each band sums only its non-zero filter weights (a gather, a multiply and a sum) instead of
    a matmul with the dense filterbank. Same products; and in TFLite these ops stay float
    under dynamic-range quantization, which would otherwise store the filterbank in int8 and
    quantize the magnitudes (spanning 1e-5 to 1e2) to 8 bits on the fly, wiping out quiet
    bins before the log.
    """
    indices, weights = _mel_bands(config)
    return tf.reduce_sum(tf.gather(spectrum, indices, axis=-1) * weights, axis=-1)


@functools.lru_cache(maxsize=16)
def _mel_bands(config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(n_mels, width)`` bin indices and weights of each band's non-zero filterbank entries,
    zero-weighted padding up to the widest band."""
    filterbank = mel_filterbank(config)
    bands = [np.flatnonzero(filterbank[:, band]) for band in range(config.n_mels)]
    width = max(1, max(len(bins) for bins in bands))
    indices = np.zeros((config.n_mels, width), np.int32)
    weights = np.zeros((config.n_mels, width), np.float32)
    for band, bins in enumerate(bands):
        indices[band, :len(bins)] = bins
        weights[band, :len(bins)] = filterbank[bins, band]
    return indices, weights


def log_mel_spectrogram(waveform, config: MelConfig = MelConfig()) -> tf.Tensor:
    """Natural-log mel spectrogram ``(..., frames, n_mels)``, floored at ``config.log_floor``."""
    return tf.math.log(tf.maximum(mel_spectrogram(waveform, config), config.log_floor))


def inverse_stft(spectrum, config: MelConfig = MelConfig(), length: int | None = None) -> tf.Tensor:
    """Waveform ``(..., samples)`` from a complex ``(..., frames, n_freq)`` STFT.

    Least-squares overlap-add (Griffin & Lim 1984), the same estimate as ``librosa.istft``.
    Written out because ``tf.signal.inverse_stft``'s window assumes full overlap and so
    mis-scales the first and last ``n_fft`` samples; here every sample is divided by the actual
    sum of squared windows covering it. ``length`` trims or zero-pads the result; the default
    is ``(frames - 1) * hop_length`` (centred) or ``+ n_fft`` (not centred).
    """
    spectrum = tf.convert_to_tensor(spectrum, tf.complex64)
    window = analysis_window(config)
    frames = tf.signal.irfft(spectrum, fft_length=[config.n_fft]) * window
    signal = tf.signal.overlap_and_add(frames, config.hop_length)
    num_frames = tf.shape(spectrum)[-2]
    envelope = tf.signal.overlap_and_add(
        tf.tile(window[np.newaxis] ** 2, tf.stack([num_frames, 1])), config.hop_length
    )
    tiny = np.finfo(np.float32).tiny
    signal = tf.where(envelope > tiny, signal / tf.maximum(envelope, tiny), signal)
    start = config.n_fft // 2 if config.center else 0
    if length is None:
        stop = tf.shape(signal)[-1] - start
        return signal[..., start:stop]
    signal = signal[..., start : start + length]
    missing = length - tf.shape(signal)[-1]
    paddings = tf.concat([tf.zeros([tf.rank(signal) - 1, 2], tf.int32), [[0, missing]]], axis=0)
    return tf.pad(signal, paddings)


@keras.saving.register_keras_serializable(package="tfspeech")
class LogMel(keras.layers.Layer):
    """Waveform ``(batch, samples)`` float32 → log-mel ``(batch, frames, n_mels)``.

    Put it first in a model so the feature extraction exports with it (SavedModel and
    TFLite builtins). Has no weights.
    """

    def __init__(self, config: MelConfig | dict = MelConfig(), **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, MelConfig) else MelConfig.from_dict(config)

    def call(self, waveform):
        return log_mel_spectrogram(waveform, self.config)

    def compute_output_shape(self, input_shape):
        *batch, num_samples = input_shape
        frames = None if num_samples is None else self.config.num_frames(num_samples)
        return (*batch, frames, self.config.n_mels)

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}
