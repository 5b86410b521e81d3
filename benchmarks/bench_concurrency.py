"""The library under concurrent load, as a service embedding it would call it: one process,
several threads, a shuffled mix of calls, checked against the same calls made one at a time.

    python -m benchmarks.bench_concurrency [--calls 1000] [--threads 4] [--litert-calls 1000]

Keras: ``synthesize`` (tacotron2-slt + the default vocoder), ``transcribe`` (ctc-multivoice) and
the ``gmm-digits`` preset's log-likelihood (a GMM score). LiteRT (``export/litert_runner.py``,
no TensorFlow in the calls): the exported vocoder, recognizer and GMM, **one interpreter per
thread**: a ``tflite`` interpreter holds its tensors and must not be invoked from two threads at
once, and a lock around one interpreter would make the threads wait for each other.

Reported: latency p50/p99 per call type next to its median one at a time (a second, warm
pass), wall time, errors, outputs that differ from the one-at-a-time reference, and resident
memory (RSS when a call ends, median over the first and the last 200 calls; the one-at-a-time
passes are the warm-up).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import statistics
import threading
import time
from pathlib import Path

import numpy as np

SENTENCES = ("Hello there.", "The cat sat on the mat.", "Please call me back tomorrow morning.",
             "It was a bright cold day in April.", "Seven green apples.")
MIX = {"synthesize": 0.15, "transcribe": 0.1, "gmm_score": 0.75}  # shares of the Keras calls
LITERT_MIX = {"vocode": 0.2, "transcribe_log_mel": 0.3, "score_samples": 0.5}
WINDOW = 200  # calls at each end whose RSS is compared
MAX_RSS_GROWTH = 0.05
CACHE = Path(os.environ.get("TFSPEECH_CACHE", Path.home() / ".cache" / "tfspeech")) / "bench-concurrency"


def rss_mb() -> float:
    """This process's resident set size now (``VmRSS``, MB)."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024


def keras_calls() -> dict:
    """``{call type: (function, inputs)}`` through the library's own entry points."""
    from sklearn.datasets import load_digits

    from tfspeech import zoo
    from tfspeech.decoding import transcribe
    from tfspeech.synthesis import synthesize

    gmm = zoo.load("gmm-digits", compile=False)
    spoken = [synthesize(text) for text in SENTENCES[:3]]
    digits = (load_digits().data / 16).astype(np.float32)
    return {
        "synthesize": (lambda text: synthesize(text)[0], list(SENTENCES)),
        "transcribe": (lambda audio: transcribe([audio[0]], audio[1])[0], [(w, rate) for w, rate, _ in spoken]),
        "gmm_score": (lambda x: gmm(x).numpy(), [digits[i:i + 32] for i in range(0, 160, 32)]),
    }


def litert_calls() -> dict:
    """The same kinds of calls through LiteRT runners, one per thread (exports cached in ``CACHE``)."""
    from tfspeech import export, zoo
    from tfspeech.audio import log_mel_spectrogram
    from tfspeech.runtime.litert_runner import LiteRTRunner
    from tfspeech.synthesis import synthesize

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {}
    for signature, preset in (("vocode", "istft-vocoder-slt"), ("transcribe_log_mel", "ctc-multivoice"),
                              ("score_samples", "gmm-digits")):
        paths[signature] = CACHE / f"{preset}-{zoo.info(preset)['weights']['sha256'][:10]}.tflite"
        if not paths[signature].is_file():
            export.tflite(zoo.load(preset, compile=False), paths[signature])
    mels = [log_mel_spectrogram(synthesize(text)[0]).numpy()[None] for text in SENTENCES[:3]]
    digits = np.random.default_rng(0).uniform(0, 1, (5, 32, 64)).astype(np.float32)
    local = threading.local()

    def runner(signature):
        runners = local.__dict__.setdefault("runners", {})
        if signature not in runners:
            runners[signature] = LiteRTRunner(paths[signature], num_threads=1)
        return runners[signature]

    def call(signature, name, output):
        return lambda x: runner(signature).run_signature(signature, **{name: x})[output]

    return {
        "vocode": (call("vocode", "mel", "audio"), mels),
        "transcribe_log_mel": (call("transcribe_log_mel", "log_mel", "label_ids"), mels),
        "score_samples": (call("score_samples", "x", "log_prob"), list(digits)),
    }


def run(calls: dict, mix: dict, total: int, threads: int, seed: int = 0) -> dict:
    """Every input once, one at a time (the reference and warm-up), then ``total`` calls of the
    ``mix`` from ``threads`` threads; per call type: latencies, errors, outputs off the reference."""
    reference = {(kind, i): function(x) for kind, (function, inputs) in calls.items() for i, x in enumerate(inputs)}
    alone = {kind: [] for kind in calls}  # a second pass, warm: the latency without contention
    for kind, (function, inputs) in calls.items():
        for x in inputs:
            start = time.perf_counter()
            function(x)
            alone[kind].append(time.perf_counter() - start)
    schedule = [(kind, i % len(calls[kind][1])) for kind, share in mix.items() for i in range(round(share * total))]
    random.Random(seed).shuffle(schedule)

    def one(task):
        kind, index = task
        function, inputs = calls[kind]
        start = time.perf_counter()
        try:
            output, error = function(inputs[index]), None
        except Exception as problem:  # counted and reported, never hidden
            output, error = None, f"{type(problem).__name__}: {problem}"
        seconds = time.perf_counter() - start
        same = error is None and _same(output, reference[task])
        return kind, seconds, error, same, time.perf_counter(), rss_mb()

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, schedule))
    wall = time.perf_counter() - start
    by_end = [r[5] for r in sorted(results, key=lambda r: r[4])]
    first, last = statistics.median(by_end[:WINDOW]), statistics.median(by_end[-WINDOW:])
    report = {"calls": len(results), "threads": threads, "wall_s": round(wall, 1),
              "rss_first_mb": round(first, 1), "rss_last_mb": round(last, 1),
              "rss_growth": round(last / first - 1, 4), "types": {}}
    for kind in mix:
        mine = [r for r in results if r[0] == kind]
        latencies = np.array([r[1] for r in mine]) * 1000
        report["types"][kind] = {
            "calls": len(mine), "alone_median_ms": round(1000 * statistics.median(alone[kind]), 1), "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "errors": sorted({r[2] for r in mine if r[2]}), "differ": sum(1 for r in mine if not r[2] and not r[3]),
        }
    report["bounds_met"] = bool(report["rss_growth"] < MAX_RSS_GROWTH and all(
        not t["errors"] and t["differ"] == 0 for t in report["types"].values()))
    return report


def _same(output, expected) -> bool:
    if isinstance(expected, str):
        return output == expected
    return np.array_equal(np.asarray(output), np.asarray(expected))


def table(title: str, report: dict) -> str:
    rows = [f"### {title}: {report['calls']} calls from {report['threads']} threads in {report['wall_s']} s",
            "", "| call | calls | one at a time, median (ms) | p50 (ms) | p99 (ms) | errors | outputs off the "
                "one-at-a-time reference |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, t in report["types"].items():
        rows.append(f"| {kind} | {t['calls']} | {t['alone_median_ms']} | {t['p50_ms']} | {t['p99_ms']} | "
                    f"{len(t['errors'])} | {t['differ']} |")
    rows += ["", f"RSS (median at the end of a call): first {WINDOW} calls {report['rss_first_mb']} MB, last "
                 f"{WINDOW} {report['rss_last_mb']} MB, growth {100 * report['rss_growth']:.1f}% "
                 f"(bound {100 * MAX_RSS_GROWTH:.0f}%); bounds {'met' if report['bounds_met'] else 'NOT met'}"]
    return "\n".join(rows)


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_concurrency", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="Keras calls in all (default: %(default)s)")
    parser.add_argument("--litert-calls", type=int, default=1000, help="LiteRT calls in all (0: skip)")
    parser.add_argument("--threads", type=int, default=4, help="calling threads (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    reports = {"keras": run(keras_calls(), MIX, args.calls, args.threads)}
    print(table("Keras (tfspeech.synthesis, tfspeech.decoding, zoo.load)", reports["keras"]), flush=True)
    if args.litert_calls:
        reports["litert"] = run(litert_calls(), LITERT_MIX, args.litert_calls, args.threads)
        print("\n" + table("LiteRT runner, one interpreter per thread", reports["litert"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main(None)
