"""The spectrogram polisher's share of synthesis time: LiteRT, one CPU thread.

Exports the polisher preset and the vocoder preset to TFLite (float32, builtin ops), takes
``tacotron2-slt``'s free-running log-mels of ``--text`` (about 10 s of speech) and times, per
call on the whole utterance, the polisher alone and the vocoder alone (medians of ``--runs``
warm calls after one first call). Real-time factor (RTF) = compute seconds / audio seconds.
Prints Markdown.

    python -m benchmarks.bench_polisher [--runs 7] [--polisher spectrogram-polisher-slt]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tfspeech import export, zoo
from tfspeech.runtime.litert_runner import LiteRTRunner
from tfspeech.text import TextEncoder

TEXT = ("The old lighthouse keeper climbed the narrow stairs every evening, lit the great lamp, "
        "and watched the ships pass safely through the dark water.")


def median_seconds(call, runs: int) -> float:
    call()  # the first call allocates
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_polisher", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--polisher", default="spectrogram-polisher-slt")
    parser.add_argument("--vocoder", default="istft-vocoder-slt")
    parser.add_argument("--text", default=TEXT)
    args = parser.parse_args(argv)
    tts = zoo.load("tacotron2-slt", compile=False)
    outputs = tts.infer(np.array([TextEncoder(tts.symbols).encode(args.text)], np.int32))
    mel = outputs["mels"][:, :int(outputs["mel_lengths"][0])].numpy()
    seconds = mel.shape[1] * tts.mel_config.hop_length / tts.mel_config.sample_rate
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for role, name, signature, output in (("polisher", args.polisher, "polish", "polished"),
                                              ("vocoder", args.vocoder, "vocode", "audio")):
            path = Path(tmp) / f"{role}.tflite"
            export.tflite(zoo.load(name, compile=False), path)
            runner = LiteRTRunner(path, num_threads=1)
            elapsed = median_seconds(lambda: runner.run_signature(signature, mel=mel)[output], args.runs)
            rows.append((role, name, elapsed, path.stat().st_size / 1e6))
    print(f"tacotron2-slt's mels of a {seconds:.1f} s sentence, LiteRT float32, one thread, median of {args.runs}:\n")
    print("| model | preset | ms | RTF | TFLite MB |\n|---|---|---:|---:|---:|")
    for role, name, elapsed, size in rows:
        print(f"| {role} | `{name}` | {1000 * elapsed:.1f} | {elapsed / seconds:.4f} | {size:.1f} |")
    polish, vocode = rows[0][2], rows[1][2]
    print(f"\nPolishing adds {polish / vocode:.1f}× the vocoder's time ({polish / (polish + vocode):.0%} of the two).")


if __name__ == "__main__":
    main()
