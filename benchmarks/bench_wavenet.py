"""WaveNet generation speed: cached vs naive, and the real-time factor of the preset vocoder.

1. Cached vs naive at receptive fields 256, 1024, 4096 (one stack of 8, 10, 12 layers of the
   preset's widths, mel-conditioned). Cached: seconds per sample of the compiled cached loop
   (XLA, and plain ``tf.function``) over ``--samples`` samples. Naive: seconds per sample once
   the window is full, i.e. one network pass over ``receptive_field + 1`` samples, which is what
   every naive step costs after the first ``receptive_field`` samples; at 256 the naive loop
   itself is also timed over 512 samples (an average that includes its shorter first windows).
   The cache-only floor keeps the layers and the cache (residual width 64) with 4 gate, skip
   and conditioning channels: if the cache cost grew with the receptive field, it would show.
2. Real-time factor (generation seconds / audio seconds) of the ``wavenet-slt`` preset size,
   batch 1 and 4, and what bounds it: FLOPs per sample (counted from the config) against the
   per-step floor of a loop with the same layers and 4 channels (loop, gather/scatter and
   kernel-launch overhead with almost no arithmetic).
3. Training throughput of the preset size (seconds per ``train_on_batch`` step).

Every figure is the median of ``--runs`` timed runs after one warm-up (compilation excluded,
its time reported). Prints Markdown.

    python -m benchmarks.bench_wavenet [--runs 3] [--samples 2000] [--rtf-seconds 1.0] [--parts ...]
"""

import argparse
import os
import sys

import numpy as np
import tensorflow as tf

from benchmarks.measure import timed
from tfspeech.audio import MelConfig
from tfspeech.models.wavenet import WaveNet
from tfspeech.recipes.wavenet_slt import SIZES

RECEPTIVE_FIELDS = {256: 8, 1024: 10, 4096: 12}  # receptive field: layers in one stack
# Same layers and cache (residual width 64) with almost no arithmetic: what the cache costs.
NARROW = dict(gate_channels=4, skip_channels=4, conditioning_channels=4)


def vocoder(mel_config, **overrides):
    model = WaveNet(**{**SIZES["preset"], **overrides}, mel_config=mel_config.to_dict())
    model.build_from_preset()
    return model


def mel_for(samples, mel_config, batch=1):
    frames = -(-samples // mel_config.hop_length)
    return np.random.default_rng(0).normal(-4.0, 2.0, (batch, frames, mel_config.n_mels)).astype(np.float32)


def macs_per_sample(model) -> int:
    """Multiply-accumulates per generated sample: blocks, output head, upsampler (amortized)."""
    r, g, s, c, k = (model.residual_channels, model.gate_channels, model.skip_channels,
                     model.conditioning_channels, model.kernel_size)
    block = k * r * 2 * g + c * 2 * g + g * (r + s)
    head = s * s + s * model.quantization_channels
    stretch, rate = 0, 1  # transposed conv i: kernel 2f over stride f = 2 c^2 per output sample
    for factor in model.upsample_factors:
        rate *= factor
        stretch += 2 * c * c * rate
    upsample = (3 * model.n_mels * c + stretch) / model.hop_length
    return int(len(model.blocks) * block + head + upsample)


def cached_seconds_per_sample(model, mel, samples, runs, jit):
    median, warm = timed(lambda: model.generate_classes(mel, jit_compile=jit).numpy(), runs)
    return median / samples, warm


def naive_seconds_per_sample(model, mel_config, runs):
    """One full-window pass, as the naive loop runs it for every sample past the receptive field."""
    window = model.receptive_field + 1
    frames = -(-window // mel_config.hop_length)
    local = model.upsampler(mel_for(frames * mel_config.hop_length, mel_config))[:, :window]
    previous = tf.fill([1, window], model.silence_class)
    forward = tf.function(lambda p, c: model._forward(p, c, None)[:, -1])
    median, _ = timed(lambda: forward(previous, local).numpy(), runs)
    return median


def naive_loop_seconds_per_sample(model, mel_config, runs):
    """The naive loop itself over ``2 * receptive_field`` samples, per sample: a lower bound of
    its steady-state cost (its first windows are shorter)."""
    mel = mel_for(2 * model.receptive_field, mel_config)
    median, _ = timed(lambda: model.generate_classes(mel, naive=True).numpy(), runs)
    return median / (mel.shape[1] * mel_config.hop_length)


def speedup_table(args, mel_config):
    print("### Cached vs naive generation (batch 1, seconds per sample, median of "
          f"{args.runs})\n")
    print("| receptive field | layers | naive | cached (tf.function) | cached (XLA) | speedup (XLA) "
          "| XLA compile | cache-only floor (XLA) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    cross_check = None
    for rf, layers in RECEPTIVE_FIELDS.items():
        model = vocoder(mel_config, layers_per_stack=layers, stacks=1)
        assert model.receptive_field == rf
        mel = mel_for(args.samples, mel_config)
        samples = mel.shape[1] * mel_config.hop_length
        graph, _ = cached_seconds_per_sample(model, mel, samples, args.runs, jit=False)
        xla, compile_s = cached_seconds_per_sample(model, mel, samples, args.runs, jit=True)
        naive = naive_seconds_per_sample(model, mel_config, args.runs)
        floor_model = vocoder(mel_config, layers_per_stack=layers, stacks=1, **NARROW)
        floor, _ = cached_seconds_per_sample(floor_model, mel, samples, args.runs, jit=True)
        if rf == 256:
            cross_check = naive, naive_loop_seconds_per_sample(model, mel_config, args.runs)
        print(f"| {rf} | {layers} | {naive * 1e3:.2f} ms | {graph * 1e6:.0f} µs | {xla * 1e6:.0f} µs "
              f"| {naive / xla:.0f}x | {compile_s:.1f} s | {floor * 1e6:.0f} µs |", flush=True)
    print(f"\nThe naive loop itself at 256, over 512 samples: {cross_check[1] * 1e3:.2f} ms per sample "
          f"on average, its windows growing to full (one full-window pass: {cross_check[0] * 1e3:.2f} ms).\n")


def rtf_table(args, mel_config):
    model = vocoder(mel_config)
    floor_model = vocoder(mel_config, residual_channels=4, **NARROW)
    macs = macs_per_sample(model)
    samples = int(args.rtf_seconds * mel_config.sample_rate)
    print(f"### Real-time factor of the preset-sized vocoder ({len(model.blocks)} layers, receptive field "
          f"{model.receptive_field}, {model.count_params():,} parameters, {macs / 1e6:.2f} M MACs per sample)\n")
    print("| batch | model | generation s per audio s (RTF) | µs per step | achieved GFLOP/s |")
    print("|---:|---|---:|---:|---:|")
    for batch in (1, 4):
        mel = mel_for(samples, mel_config, batch)
        audio_seconds = mel.shape[1] * mel_config.hop_length / mel_config.sample_rate
        for name, m in (("preset", model), ("4-channel floor", floor_model)):
            median, _ = timed(lambda m=m: m.generate_classes(mel).numpy(), args.runs)
            steps = mel.shape[1] * mel_config.hop_length
            flops = 2 * macs_per_sample(m) * steps * batch / median / 1e9
            print(f"| {batch} | {name} | {median / audio_seconds / batch:.2f} | {median / steps * 1e6:.0f} "
                  f"| {flops:.2f} |", flush=True)
    print(f"\nReal time needs {2 * macs * mel_config.sample_rate / 1e9:.1f} GFLOP/s per utterance.\n")


def training_table(args, mel_config):
    """Training throughput of the preset size: what its training time on this machine rests on."""
    model = vocoder(mel_config)
    model.compile(**model.default_compile_args())
    rng = np.random.default_rng(0)
    samples = args.train_frames * mel_config.hop_length
    audio = rng.integers(0, model.quantization_channels, (args.train_batch, samples)).astype(np.int32)
    inputs = {"audio": audio, "mel": mel_for(samples, mel_config, args.train_batch)}
    median, compile_s = timed(lambda: model.train_on_batch(inputs, audio), args.runs)
    print(f"### Training throughput of the preset size (batch {args.train_batch} x {samples} samples, "
          "`default_compile_args()`, no XLA)\n")
    print("| s per step | samples per s | first step (tracing) |")
    print("|---:|---:|---:|")
    print(f"| {median:.2f} | {args.train_batch * samples / median:,.0f} | {compile_s:.1f} s |\n")


PARTS = {"speedup": speedup_table, "rtf": rtf_table, "training": training_table}


def main(argv=()):
    """Run both measurements and print the tables; ``argv`` are command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per cached run")
    parser.add_argument("--rtf-seconds", type=float, default=1.0, help="audio seconds per real-time-factor run")
    parser.add_argument("--train-batch", type=int, default=8, help="crops per training step")
    parser.add_argument("--train-frames", type=int, default=8, help="mel frames per training crop")
    parser.add_argument("--parts", nargs="+", choices=sorted(PARTS), default=list(PARTS), help="what to measure")
    args = parser.parse_args(list(argv))
    mel_config = MelConfig()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; load average at start {load} "
          f"(other jobs share the cores); TensorFlow {tf.__version__}\n")
    for part in args.parts:
        PARTS[part](args, mel_config)


if __name__ == "__main__":
    main(sys.argv[1:])
