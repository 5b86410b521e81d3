"""Waveform files: read any format soundfile knows, write 16-bit PCM WAV, resample.

Waveforms are mono float32 numpy arrays ``(samples,)`` in [-1, 1]; sample rates in Hz.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import librosa
import numpy as np
import soundfile


def load(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Reads ``path`` as mono float32 in [-1, 1] → ``(waveform, sample_rate)``.

    Channels are averaged. With ``sample_rate`` the audio is resampled to it (soxr, as
    ``resample``) and that rate is returned; otherwise the file's own rate.
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not
    audio, has no samples, or holds NaN/inf.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    try:
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(
            f"cannot read {path} as audio ({error}); soundfile reads WAV, FLAC, OGG and MP3"
        ) from error
    if data.shape[0] == 0:
        raise ValueError(f"{path} holds no audio samples")
    waveform = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(waveform)):
        raise ValueError(
            f"{path} holds {np.count_nonzero(~np.isfinite(waveform))} NaN/inf samples"
        )
    if sample_rate is not None and sample_rate != file_rate:
        waveform = resample(waveform, file_rate, sample_rate)
        file_rate = sample_rate
    # Float files may exceed full scale, and resampling can overshoot it slightly.
    return np.clip(waveform, -1.0, 1.0), int(file_rate)


def save(path: str | Path, waveform, sample_rate: int) -> Path:
    """Writes a mono ``(samples,)`` waveform as 16-bit PCM WAV, creating parent folders.

    Samples outside [-1, 1] are clipped and a ``RuntimeWarning`` says how many and how far.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim == 2 and 1 in waveform.shape:
        waveform = waveform.reshape(-1)
    if waveform.ndim != 1:
        raise ValueError(f"save writes mono audio: expected (samples,), got {waveform.shape}")
    if waveform.size == 0:
        raise ValueError("save got an empty waveform; there is nothing to write")
    if not np.all(np.isfinite(waveform)):
        raise ValueError(
            f"waveform holds {np.count_nonzero(~np.isfinite(waveform))} NaN/inf samples"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or (
        sample_rate <= 0
    ):
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    clipped = np.count_nonzero(np.abs(waveform) > 1.0)
    if clipped:
        warnings.warn(
            f"{path}: clipped {clipped} of {waveform.size} samples to [-1, 1] "
            f"(peak {np.abs(waveform).max():.3f}); scale the waveform down to avoid distortion",
            RuntimeWarning,
            stacklevel=2,
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.clip(waveform, -1.0, 1.0), int(sample_rate), subtype="PCM_16")
    return path


def resample(waveform, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resamples ``(samples,)`` float audio from ``orig_sr`` to ``target_sr`` Hz (soxr_hq)."""
    for name, rate in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if not rate > 0:
            raise ValueError(f"{name} must be a positive sample rate in Hz, got {rate!r}")
    waveform = np.asarray(waveform, dtype=np.float32)
    if orig_sr == target_sr:
        return waveform
    return librosa.resample(waveform, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
