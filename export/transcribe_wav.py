"""Transcribe a WAV file with an exported ``ctc-multivoice`` ``.tflite``, without TensorFlow.

Needs only numpy, ai-edge-litert and this folder's ``litert_runner.py``: copy both files
next to the model on the device. Export the model with
``tfspeech export ctc-multivoice --format tflite -o ctc.tflite``; then::

    python transcribe_wav.py ctc.tflite speech.wav

The WAV must be 16-bit PCM at the model's 22,050 Hz (mono, or channels are averaged):
there is no resampler without TensorFlow or librosa, so another rate is an error, not a
silently wrong transcript (``sox in.wav -r 22050 out.wav`` converts).
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from litert_runner import LiteRTRunner  # noqa: E402 - the sibling file, as on a device

SAMPLE_RATE = 22050
# tfspeech.text.CHARACTERS, the recognizer's label ids (a test keeps the two equal;
# this file cannot import tfspeech on a device).
ALPHABET = "_~!'\"(),-.:;? abcdefghijklmnopqrstuvwxyz"


def read_wav(path: str | Path) -> np.ndarray:
    """Mono float32 samples in [-1, 1] of a 16-bit PCM WAV at ``SAMPLE_RATE``."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples; convert to 16-bit PCM")
        if wav.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: {wav.getframerate()} Hz; the model needs {SAMPLE_RATE} Hz "
                             f"(convert with `sox {path} -r {SAMPLE_RATE} out.wav`)")
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        samples = frames.reshape(-1, wav.getnchannels()).mean(axis=1) / 32768.0
    if samples.size == 0:
        raise ValueError(f"{path} holds no audio")
    return samples.astype(np.float32)


def transcribe(runner: LiteRTRunner, samples: np.ndarray) -> str:
    """Greedy CTC transcript: the model's non-zero ``label_ids`` read through ``ALPHABET``."""
    label_ids = runner.run_signature("transcribe", waveform=samples[np.newaxis])["label_ids"][0]
    return "".join(ALPHABET[i] for i in label_ids if i != 0).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the exported ctc-multivoice .tflite")
    parser.add_argument("wavs", nargs="+", help="16-bit PCM WAV files at 22,050 Hz")
    args = parser.parse_args(argv)
    try:
        recordings = [read_wav(path) for path in args.wavs]
    except (ValueError, OSError, wave.Error) as error:
        print(f"transcribe_wav: error: {error}", file=sys.stderr)
        return 2
    runner = LiteRTRunner(args.model)
    for path, samples in zip(args.wavs, recordings):
        text = transcribe(runner, samples)
        print(f"{path}\t{text}" if len(args.wavs) > 1 else text)
    return 0

if __name__ == "__main__":
    sys.exit(main())
