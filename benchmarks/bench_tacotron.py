"""Tacotron 2 and Tacotron at preset size (untrained): mel generation speed, exports, training speed.

1. Real-time factor (compute seconds / audio seconds) of generating ``--frames`` mel frames
   for one sentence, batch 1: Keras (``model.infer``, a ``tf.function``), the SavedModel's
   ``synthesize`` signature, and the TFLite ``synthesize`` signature in LiteRT (2 threads).
   The stop token is forced off so every run decodes exactly ``--frames`` frames (the
   prenet's inference dropout stays on). Median of ``--runs`` runs after a warm-up.
2. TFLite size and worst error against Keras for float32, float16 and dynamic-int8 weights
   (the exporter's parity check on the model's representative inputs).
3. Training throughput (utterances per second of wall time, and CPU seconds per utterance,
   which a busy machine disturbs less; medians over ``--train-steps`` steps after a
   warm-up) with and without XLA (``jit_compile``), on synthetic batches shaped like the slt
   corpus (``--batch`` utterances of 2.7 s and 45 symbols, one fixed shape, so XLA compiles
   once), each in its own process so its peak memory (VmHWM) is its own.

Prints Markdown.

    python -m benchmarks.bench_tacotron [--runs 5] [--frames 500] [--batch 16] [--train-steps 5]
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.measure import peak_rss_mb, timed
from tfspeech import export
from tfspeech.recipes import tacotron2_slt, tacotron_slt
from tfspeech.runtime.litert_runner import LiteRTRunner
from tfspeech.text import TextEncoder

RECIPES = {"tacotron2-slt": tacotron2_slt.RECIPE, "tacotron-slt": tacotron_slt.RECIPE}
SENTENCE = "The quick brown fox jumps over the lazy dog."
TRAIN_FRAMES, TRAIN_SYMBOLS = 234, 45  # the slt corpus: 2.7 s per utterance on average


def untrained(recipe, max_frames):
    """The preset's model, untrained, decoding exactly ``max_frames`` frames (stop token off)."""
    keras.utils.set_random_seed(0)
    model = recipe.model_class(**{**recipe.config, "max_frames": max_frames})
    model.build()
    model.stop_projection.kernel.assign(tf.zeros_like(model.stop_projection.kernel))
    model.stop_projection.bias.assign(tf.fill(model.stop_projection.bias.shape, -30.0))
    return model


def generation(name, recipe, frames, runs, folder):
    """Rows of (runtime, median s, RTF, warm-up s) and export rows (mode, bytes, max error)."""
    model = untrained(recipe, frames)
    ids = np.array([TextEncoder(model.symbols).encode(SENTENCE)], np.int32)
    audio_seconds = frames * model.mel_config.hop_length / model.mel_config.sample_rate
    rows = []

    def keras_run():
        outputs = model.infer(ids)
        assert outputs["mels"].shape[1] == frames
    rows.append(("Keras (tf.function)", *timed(keras_run, runs)))

    report = export.saved_model(model, folder / f"{name}-saved")
    synthesize = tf.saved_model.load(str(report.path)).signatures["synthesize"]
    rows.append(("SavedModel", *timed(lambda: synthesize(text=tf.constant(ids)), runs)))

    exports = []
    for mode in (None, "float16", "dynamic"):
        path = folder / f"{name}-{mode or 'float32'}.tflite"
        try:
            report = export.tflite(model, path, quantize=mode)
        except export.ParityError as error:
            report = error.report
        synthesize_error = max(v for k, v in report.max_abs_error.items() if k.startswith("synthesize/mels"))
        exports.append((mode or "float32", report.size_bytes, synthesize_error, report.passed))
        if mode is None:
            runner = LiteRTRunner(path, num_threads=2)
            rows.append(("TFLite (LiteRT, 2 threads)", *timed(lambda: runner.run_signature("synthesize", text=ids),
                                                               runs)))
    return [(runtime, median, median / audio_seconds, warm) for runtime, median, warm in rows], exports, audio_seconds


def training_throughput(recipe_name, jit, batch, steps, queue):
    """In a child process: (utterances per second, CPU seconds per utterance, warm-up seconds, peak
    RSS MB), medians over ``steps`` steps, or an error string."""
    try:
        recipe = RECIPES[recipe_name]
        keras.utils.set_random_seed(0)
        model = recipe.build_model()
        model.compile(**{**model.default_compile_args(), "jit_compile": jit})
        rng = np.random.default_rng(0)
        r = model.reduction_factor
        frames = -(-TRAIN_FRAMES // r) * r
        lengths = np.full(batch, TRAIN_FRAMES, np.int32)
        text = rng.integers(2, model.vocab_size, (batch, TRAIN_SYMBOLS)).astype(np.int32)
        text[:, -1] = TextEncoder.eos_id
        mels = rng.normal(-5.0, 2.0, (batch, frames, model.n_mels)).astype(np.float32)
        x = {"text": text, "mels": mels, "mel_lengths": lengths}
        y = {"mels": mels, "stop": (np.arange(frames)[None] >= lengths[:, None] - 1).astype(np.float32)}
        if recipe.linear:
            y["linear"] = rng.normal(-5.0, 2.0, (batch, frames, model.n_freq)).astype(np.float32)
        start = time.perf_counter()
        model.train_on_batch(x, y)
        warm = time.perf_counter() - start
        wall, cpu = [], []
        for _ in range(steps):
            start, start_cpu = time.perf_counter(), time.process_time()
            model.train_on_batch(x, y)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        queue.put((batch / statistics.median(wall), statistics.median(cpu) / batch, warm, peak_rss_mb()))
    except Exception as error:  # reported in the table (e.g. an op XLA cannot compile)
        queue.put(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")


def main(argv=()):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--frames", type=int, default=500, help="mel frames generated per run")
    parser.add_argument("--batch", type=int, default=16, help="training batch size")
    parser.add_argument("--train-steps", type=int, default=5, help="timed training steps (median)")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)

    print(f"Untrained preset-size models, {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f} at start; sentence {SENTENCE!r}.\n")
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in RECIPES.items() if not args.skip_generation else ():
            rows, exports, audio = generation(name, recipe, args.frames, args.runs, Path(tmp))
            print(f"### {name}: {args.frames} frames ({audio:.2f} s of audio), batch 1\n")
            print("| runtime | median s | real-time factor | warm-up s |\n|---|---:|---:|---:|")
            for runtime, median, rtf, warm in rows:
                print(f"| {runtime} | {median:.3f} | {rtf:.3f} | {warm:.1f} |")
            print("\n| TFLite weights | bytes | max abs error of synthesize mels vs Keras | parity check |")
            print("|---|---:|---:|---|")
            for mode, size, error, passed in exports:
                print(f"| {mode} | {size:,} | {error:.2g} | {'passed' if passed else 'outside its tolerance'} |")
            print(flush=True)

    if args.skip_training:
        return
    print(f"### Training throughput: batch {args.batch}, {TRAIN_FRAMES} frames and {TRAIN_SYMBOLS} symbols "
          f"per utterance\n")
    print("| preset | XLA | utterances / s | CPU s / utterance | warm-up s | peak RSS MB |\n"
          "|---|---|---:|---:|---:|---:|")
    context = multiprocessing.get_context("spawn")
    for name in RECIPES:
        for jit in (False, True):
            queue = context.Queue()
            child = context.Process(target=training_throughput, args=(name, jit, args.batch, args.train_steps, queue))
            child.start()
            result = queue.get()
            child.join()
            if isinstance(result, str):
                print(f"| {name} | {'on' if jit else 'off'} | failed: {result} | | | |", flush=True)
            else:
                rate, cpu, warm, peak = result
                print(f"| {name} | {'on' if jit else 'off'} | {rate:.2f} | {cpu:.3f} | {warm:.0f} | {peak:,.0f} |",
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
