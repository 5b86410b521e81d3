"""Phase reconstruction: fast Griffin-Lim in TensorFlow, and mel → linear magnitude.

``griffin_lim`` is the accelerated algorithm of Perraudin, Balazs & Søndergaard (2013,
"A fast Griffin-Lim algorithm"), the same iteration as ``librosa.griffinlim``; it reports
the spectral convergence ``||S - |STFT(x)|||_F / ||S||_F`` of every iterate so callers can
see (and tests can check) how well the magnitude was matched.

Turning log-mels into audio::

    magnitude = mel_to_magnitude(tf.exp(log_mel), config)
    waveform, convergence = griffin_lim(magnitude, config)
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig, inverse_stft, mel_filterbank, stft


def griffin_lim(
    magnitude,
    config: MelConfig = MelConfig(),
    n_iter: int = 60,
    momentum: float = 0.99,
    seed: int = 0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Waveform whose STFT magnitude approximates ``magnitude``.

    Args:
        magnitude: non-negative ``(frames, n_freq)`` or ``(batch, frames, n_freq)`` |STFT|
            (power 1) computed with ``config``.
        n_iter: iterations, at least 1.
        momentum: the acceleration ``alpha`` of fast Griffin-Lim in [0, 1); 0 is the
            original Griffin-Lim.
        seed: seeds the random initial phase (the result is deterministic).

    Returns:
        ``(waveform, convergence)``: float32 ``(..., samples)`` with
        ``samples = (frames - 1) * hop_length`` (``+ n_fft`` when not centred), and float32
        ``(..., n_iter)`` spectral convergence of the waveform after each iteration; the last
        entry belongs to the returned waveform.
    """
    magnitude = tf.convert_to_tensor(magnitude, tf.float32)
    if magnitude.shape.rank not in (2, 3) or magnitude.shape[-1] != config.n_freq:
        raise ValueError(
            f"expected a magnitude of shape (frames, {config.n_freq}) or "
            f"(batch, frames, {config.n_freq}) for n_fft={config.n_fft}, got {magnitude.shape}"
        )
    num_frames = magnitude.shape[-2]
    min_frames = config.min_frames
    if num_frames is not None and num_frames < min_frames:
        raise ValueError(
            f"{num_frames} frames are too few to invert with n_fft={config.n_fft}, "
            f"hop_length={config.hop_length}, center={config.center}; need at least {min_frames}"
        )
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    tf.debugging.assert_all_finite(magnitude, "griffin_lim: magnitude has NaN or inf values")
    tf.debugging.assert_non_negative(
        magnitude, "griffin_lim: magnitude must be non-negative (|STFT|, not a log spectrogram)"
    )
    batched = magnitude if magnitude.shape.rank == 3 else magnitude[tf.newaxis]
    waveform, convergence = _fast_griffin_lim(batched, config, n_iter, float(momentum), int(seed))
    if magnitude.shape.rank == 3:
        return waveform, convergence
    return waveform[0], convergence[0]


@tf.function(reduce_retracing=True)
def _fast_griffin_lim(magnitude, config, n_iter, momentum, seed):
    """Batched ``(batch, frames, n_freq)`` → ``(batch, samples)``, ``(batch, n_iter)``."""
    random_phase = 2 * math.pi * tf.random.stateless_uniform(tf.shape(magnitude), seed=[seed, 0])
    angles = tf.exp(tf.complex(tf.zeros_like(random_phase), random_phase))
    complex_magnitude = tf.complex(magnitude, tf.zeros_like(magnitude))
    magnitude_norm = tf.norm(magnitude, axis=[-2, -1])
    previous = tf.zeros_like(angles)
    convergence = tf.TensorArray(tf.float32, size=n_iter)
    waveform = tf.zeros([tf.shape(magnitude)[0], config.num_samples(tf.shape(magnitude)[1])])
    for i in tf.range(n_iter):
        waveform = inverse_stft(complex_magnitude * angles, config)
        rebuilt = stft(waveform, config)
        error = tf.norm(magnitude - tf.abs(rebuilt), axis=[-2, -1])
        convergence = convergence.write(i, error / tf.maximum(magnitude_norm, 1e-12))
        accelerated = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles = accelerated / tf.complex(tf.maximum(tf.abs(accelerated), 1e-30), 0.0)
        previous = rebuilt
    return waveform, tf.transpose(convergence.stack())


def mel_to_magnitude(mel, config: MelConfig = MelConfig(), n_iter: int = 30) -> tf.Tensor:
    """Non-negative least-squares |STFT| ``(..., frames, n_freq)`` from a mel magnitude
    ``(..., frames, n_mels)`` (``mel_spectrogram``, or ``exp`` of ``log_mel_spectrogram``).

    Solves ``min ||X @ F - mel||`` over ``X >= 0`` (``F`` the mel filterbank) like
    ``librosa.feature.inverse.mel_to_stft``, which does it with SciPy's L-BFGS-B outside the
    graph; here: the clipped pseudo-inverse, refined by ``n_iter`` projected-gradient steps
    of size ``1 / ||F||_2^2`` so it stays in TensorFlow. Bins above ``fmax`` come out zero.
    """
    mel = tf.convert_to_tensor(mel, tf.float32)
    if mel.shape.rank not in (2, 3) or mel.shape[-1] != config.n_mels:
        raise ValueError(
            f"expected a mel spectrogram of shape (..., frames, {config.n_mels}), got {mel.shape}"
        )
    filterbank = mel_filterbank(config)
    pseudo_inverse, step = _mel_inverse_constants(config)
    estimate = tf.nn.relu(tf.matmul(mel, pseudo_inverse))
    for _ in range(n_iter):
        gradient = tf.matmul(tf.matmul(estimate, filterbank) - mel, filterbank, transpose_b=True)
        estimate = tf.nn.relu(estimate - step * gradient)
    return estimate


@functools.lru_cache(maxsize=16)
def _mel_inverse_constants(config: MelConfig) -> tuple[np.ndarray, float]:
    """The filterbank's pseudo-inverse ``(n_mels, n_freq)`` and the step ``1 / ||F||_2^2``."""
    filterbank = mel_filterbank(config).astype(np.float64)
    pseudo_inverse = np.linalg.pinv(filterbank).astype(np.float32)
    return pseudo_inverse, float(1.0 / np.linalg.norm(filterbank, 2) ** 2)
