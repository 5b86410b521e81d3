"""tfspeech.audio: waveform I/O, exportable STFT / mel features, mu-law, Griffin-Lim."""

from tfspeech.audio.features import (
    LogMel,
    MelConfig,
    inverse_stft,
    log_mel_spectrogram,
    magnitude,
    mel_filterbank,
    mel_spectrogram,
    stft,
)
from tfspeech.audio.griffin_lim import griffin_lim, mel_to_magnitude
from tfspeech.audio.io import load, resample, save
from tfspeech.audio.mulaw import mulaw_decode, mulaw_encode

__all__ = [
    "LogMel",
    "MelConfig",
    "griffin_lim",
    "inverse_stft",
    "load",
    "log_mel_spectrogram",
    "magnitude",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_magnitude",
    "mulaw_decode",
    "mulaw_encode",
    "resample",
    "save",
]
