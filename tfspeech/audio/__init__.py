"""tfspeech.audio: waveform I/O, exportable STFT / mel features, mu-law, Griffin-Lim.

Names are imported on first use, so ``from tfspeech.audio import load`` does not pay for
importing TensorFlow.
"""

import importlib

_EXPORTS = {
    "load": "io",
    "resample": "io",
    "save": "io",
    "MelConfig": "features",
    "LogMel": "features",
    "stft": "features",
    "magnitude": "features",
    "mel_filterbank": "features",
    "mel_spectrogram": "features",
    "log_mel_spectrogram": "features",
    "inverse_stft": "features",
    "mulaw_encode": "mulaw",
    "mulaw_decode": "mulaw",
    "griffin_lim": "griffin_lim",
    "mel_to_magnitude": "griffin_lim",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfspeech.audio' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tfspeech.audio.{_EXPORTS[name]}"), name)


def __dir__():
    return __all__
