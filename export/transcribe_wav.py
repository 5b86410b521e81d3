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
import json
import struct
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


def read_wav(path: str | Path, min_samples: int = 1) -> np.ndarray:
    """Mono float32 samples in [-1, 1] of a 16-bit PCM WAV at ``SAMPLE_RATE``.

    Raises ``ValueError`` naming the file for anything else: not a WAV (RIFF) file, float
    or compressed samples, another width or rate, or fewer than ``min_samples`` samples.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, RuntimeError, struct.error, OverflowError) as error:
        # "file does not start with RIFF id", "unknown format: 3" (float); the others from chunk
        # sizes that point past the file (found by tests/test_fuzz.py)
        raise ValueError(f"{path} is not a 16-bit PCM WAV file ({error}); convert it with "
                         f"`sox {path} -b 16 -e signed-integer -r {SAMPLE_RATE} out.wav`") from error
    except EOFError as error:
        raise ValueError(f"{path} is not a WAV file, or a truncated one (its header ends early)") from error
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; convert to 16-bit PCM")
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: {rate} Hz; the model needs {SAMPLE_RATE} Hz "
                         f"(convert with `sox {path} -r {SAMPLE_RATE} out.wav`)")
    frames = np.frombuffer(data[:len(data) - len(data) % (2 * channels)], dtype="<i2")
    samples = frames.reshape(-1, channels).mean(axis=1) / 32768.0
    if samples.size == 0:
        raise ValueError(f"{path} holds no audio")
    if samples.size < min_samples:
        raise ValueError(f"{path} is {1000 * samples.size / SAMPLE_RATE:.0f} ms long; the recognizer needs at "
                         f"least {min_samples} samples ({1000 * min_samples / SAMPLE_RATE:.0f} ms)")
    return samples.astype(np.float32)


def min_samples(model_path: str | Path) -> int:
    """The fewest samples the model's STFT can analyse (one window, ``n_fft``), from the
    settings ``<model>.json`` that ``tfspeech export`` writes; 1024 without it."""
    settings = Path(model_path).with_suffix(".json")
    try:
        mel_config = json.loads(settings.read_text())["config"]["mel_config"]
        return int(mel_config["n_fft"]) // 2 + 1
    except (OSError, ValueError, KeyError, TypeError):
        return 513


def transcribe(runner: LiteRTRunner, samples: np.ndarray) -> str:
    """Greedy CTC transcript: the model's non-zero ``label_ids`` read through ``ALPHABET``."""
    label_ids = runner.run_signature("transcribe", waveform=samples[np.newaxis])["label_ids"][0]
    return "".join(ALPHABET[i] for i in label_ids if i != 0).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the exported ctc-multivoice .tflite")
    parser.add_argument("wavs", nargs="+", help="16-bit PCM WAV files at 22,050 Hz")
    args = parser.parse_args(argv)
    failed, recordings = {}, {}
    shortest = min_samples(args.model)
    for path in args.wavs:
        try:
            recordings[path] = read_wav(path, shortest)
        except (ValueError, OSError) as error:
            failed[path] = str(error)
    if recordings:
        try:
            runner = LiteRTRunner(args.model)
        except (ValueError, OSError) as error:
            print(f"transcribe_wav: error: {args.model}: {error}", file=sys.stderr)
            return 2
    for path, samples in recordings.items():
        try:
            text = transcribe(runner, samples)
        except (ValueError, RuntimeError) as error:
            failed[path] = f"{path}: the model could not run on it ({str(error).splitlines()[0]})"
            continue
        print(f"{path}\t{text}" if len(args.wavs) > 1 else text, flush=True)
    for message in failed.values():
        print(f"transcribe_wav: error: {message}", file=sys.stderr)
    return 0 if not failed else (2 if len(failed) == len(args.wavs) else 1)


if __name__ == "__main__":
    sys.exit(main())
