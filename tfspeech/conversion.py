"""Voice conversion with a VQ-VAE preset: the same words, spoken in another (known) voice.

    waveform, sample_rate = convert(waveform, 16000, "flite:rms")
    convert_file("in.wav", "flite:rms", "out.wav")          # `tfspeech convert in.wav --to flite:rms -o out.wav`

The source audio is resampled to the model's rate, turned into a log-mel, encoded into
discrete codes (the encoder needs no source speaker: any voice works), decoded with the
target speaker's embedding, and rendered to audio with Griffin-Lim. Targets are the
model's ``speakers`` (``tfspeech zoo info vqvae-multivoice``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfspeech import zoo
from tfspeech.audio import griffin_lim, log_mel_spectrogram, mel_to_magnitude, resample
from tfspeech.audio.features import MelConfig

DEFAULT_PRESET = "vqvae-multivoice"


def convert(waveform, sample_rate: int, to_speaker: str, *, preset: str = DEFAULT_PRESET, model=None,
            griffin_lim_iters: int = 60) -> tuple[np.ndarray, int]:
    """``(waveform, sample_rate)`` of ``waveform`` (mono ``(samples,)`` in [-1, 1] at ``sample_rate``
    Hz) spoken by ``to_speaker``, at the model's sample rate.

    Args:
        preset: the VQ-VAE preset to load (ignored when ``model`` is given).
        model: a built ``tfspeech.models.vqvae.VQVAE`` to use instead.
        griffin_lim_iters: phase reconstruction iterations.

    Raises:
        KeyError: ``to_speaker`` is not one of the model's speakers (they are listed).
        ValueError: audio that is not mono, is empty or too short, holds NaN/inf, or a bad
            sample rate.
    """
    model = _load(preset) if model is None else model
    speaker = model.speaker_id(to_speaker)
    log_mel = source_log_mel(waveform, sample_rate, model.mel_config)
    converted = model.convert(log_mel[np.newaxis], np.array([speaker], np.int32))[0]
    return log_mel_to_audio(converted, model.mel_config, griffin_lim_iters), model.mel_config.sample_rate


def convert_file(in_path: str | Path, to_speaker: str, out_path: str | Path, *, preset: str = DEFAULT_PRESET,
                 griffin_lim_iters: int = 60) -> Path:
    """Converts the audio file ``in_path`` (any format and rate soundfile reads) to ``to_speaker``
    and writes ``out_path`` (16-bit WAV); returns ``out_path``. Raises as ``convert``."""
    from tfspeech.audio import load, save

    model = _load(preset)
    model.speaker_id(to_speaker)  # refuse an unknown speaker before reading anything
    waveform, sample_rate = load(in_path)
    converted, rate = convert(waveform, sample_rate, to_speaker, model=model, griffin_lim_iters=griffin_lim_iters)
    return save(out_path, converted, rate)


def source_log_mel(waveform, sample_rate: int, config: MelConfig, what: str = "the source audio") -> np.ndarray:
    """Checked ``(frames, n_mels)`` log-mel of a mono waveform, resampled to ``config.sample_rate``.

    Raises ``ValueError`` naming ``what`` for audio that is not mono, empty, non-finite, or
    shorter than ``min_samples(config)`` after resampling, and for a bad sample rate.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"{what}: expected mono audio of shape (samples,), got {waveform.shape}; "
                         "average the channels first (tfspeech.audio.load does)")
    if waveform.size == 0:
        raise ValueError(f"{what} is empty: there is no speech to convert")
    if not np.all(np.isfinite(waveform)):
        raise ValueError(f"{what} holds {np.count_nonzero(~np.isfinite(waveform))} NaN/inf samples; "
                         "fix or drop the audio before converting")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"{what}: sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    waveform = resample(waveform, int(sample_rate), config.sample_rate)
    needed = min_samples(config)
    if waveform.size < needed:
        raise ValueError(f"{what} is {1000 * waveform.size / config.sample_rate:.1f} ms long; conversion needs "
                         f"at least {1000 * needed / config.sample_rate:.1f} ms ({needed} samples at "
                         f"{config.sample_rate} Hz)")
    return log_mel_spectrogram(waveform, config).numpy()


def min_samples(config: MelConfig) -> int:
    """The shortest waveform whose log-mel Griffin-Lim can turn back into audio."""
    min_frames = 1 + math.ceil((config.min_samples - config.num_samples(1)) / config.hop_length)
    return max(config.min_samples, config.num_samples(min_frames))


def log_mel_to_audio(log_mel, config: MelConfig, griffin_lim_iters: int = 60) -> np.ndarray:
    """Float32 ``(samples,)`` waveform in [-1, 1] from a ``(frames, n_mels)`` log-mel (Griffin-Lim)."""
    log_mel = tf.convert_to_tensor(log_mel, tf.float32)
    waveform, _ = griffin_lim(mel_to_magnitude(tf.exp(log_mel), config), config, n_iter=griffin_lim_iters)
    return np.clip(waveform.numpy(), -1.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _load(preset: str):
    from tfspeech.models.vqvae import VQVAE

    return zoo.load(preset, compile=False, expect=VQVAE)
