"""Run an exported ``ISTFTVocoder`` ``.tflite`` (log-mels → audio) without TensorFlow.

Needs numpy, ai-edge-litert, this folder's ``litert_runner.py`` and the settings file
``<vocoder>.json`` that ``tfspeech export`` writes next to the model::

    tfspeech export istft-vocoder-slt --format tflite -o vocoder.tflite   # on the build machine

```python
from neural_vocoder import NeuralVocoder
vocoder = NeuralVocoder("vocoder.tflite", num_threads=1)
audio = vocoder.vocode(mel)                    # (frames, n_mels) log-mels -> (frames * hop,) float32
for chunk in vocoder.stream(mel, chunk_frames=32):
    play(chunk)                                # the same samples, chunk by chunk
```

``stream`` calls the model's ``stream`` signature on overlapping windows of the utterance's
padded log-mels: every output sample depends on a fixed window of frames (valid convolutions),
so the concatenated chunks equal ``vocode``'s output and playback can start after the first chunk.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from litert_runner import LiteRTRunner  # noqa: E402 - the sibling file, as on a device

VOCODER_CLASS = "ISTFTVocoder"


class NeuralVocoder:
    """An exported ``ISTFTVocoder`` and its settings."""

    def __init__(self, model_path: str | Path, num_threads: int | None = None):
        path = Path(model_path).with_suffix(".json")
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: export the vocoder with `tfspeech export NAME --format "
                                    f"tflite -o {Path(model_path).name}`, which writes it")
        settings = json.loads(path.read_text())
        if settings.get("class_name") != VOCODER_CLASS:
            raise ValueError(f"{path} describes a {settings.get('class_name')}, not an {VOCODER_CLASS} vocoder")
        config = settings["config"]
        self.mel_config = config["mel_config"]
        self.n_mels, self.hop = int(self.mel_config["n_mels"]), int(self.mel_config["hop_length"])
        self.silence = math.log(self.mel_config["log_floor"])
        # As ISTFTVocoder.left_context / right_context (a test keeps the two equal).
        receptive = (config["kernel_size"] // 2) * (config["blocks"] + 1)
        half = int(self.mel_config["n_fft"]) // (2 * self.hop)
        self.left_context, self.right_context = receptive + half - 1, receptive + half
        kwargs = {} if num_threads is None else {"num_threads": num_threads}
        self.runner = LiteRTRunner(model_path, **kwargs)

    def check_mel(self, mel: np.ndarray, mel_config: dict | None = None) -> np.ndarray:
        """``(frames, n_mels)`` float32 log-mels, or ``ValueError`` naming what is wrong."""
        if mel_config is not None and {k: mel_config[k] for k in self.mel_config} != self.mel_config:
            raise ValueError(f"the vocoder was trained on other mels ({self.mel_config}) than the TTS model "
                             f"predicts ({mel_config}); export a vocoder trained with the model's MelConfig")
        mel = np.asarray(mel, np.float32)
        if mel.ndim != 2 or mel.shape[1] != self.n_mels:
            raise ValueError(f"expected log-mels of shape (frames, {self.n_mels}), got {mel.shape}")
        if mel.shape[0] == 0:
            raise ValueError("the log-mels are empty (0 frames); nothing to vocode")
        if not np.isfinite(mel).all():
            raise ValueError(f"the log-mels have {int((~np.isfinite(mel)).sum())} NaN/inf values")
        return mel

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        """float32 ``(frames * hop,)`` audio of ``(frames, n_mels)`` log-mels (one call)."""
        mel = self.check_mel(mel)
        return self.runner.run_signature("vocode", mel=mel[None])["audio"][0]

    def stream(self, mel: np.ndarray, chunk_frames: int = 32) -> Iterator[np.ndarray]:
        """The audio of ``vocode(mel)`` in chunks of ``chunk_frames * hop`` samples (the last shorter)."""
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        mel = self.check_mel(mel)
        padded = np.pad(mel, [(self.left_context, self.right_context), (0, 0)], constant_values=self.silence)
        context = self.left_context + self.right_context
        for start in range(0, len(mel), chunk_frames):
            stop = min(start + chunk_frames, len(mel))
            yield self.runner.run_signature("stream", mel=padded[None, start: stop + context])["audio"][0]
