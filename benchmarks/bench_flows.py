"""MAF vs IAF: time to sample against time to evaluate the density, same dimension and batch.

MAF computes ``z = f⁻¹(x)`` in one MADE pass per layer (tfp's log-det evaluates the network
once more) but needs ``D`` sequential passes to sample; IAF, its inverse, samples in one pass
and needs ``D`` (+1) to evaluate a density. RealNVP (coupling layers) is the reference: one
network pass per coupling either way. Each function is a compiled ``tf.function``, traced
once, then timed ``--repeats`` times (median; the result is fetched to numpy each run).
Prints a Markdown table; "ratio" is sample time / log-prob time.

    python -m benchmarks.bench_flows [--dim 32] [--batch 256] [--layers 4] [--hidden 128] [--repeats 7]
"""

import argparse
import os
import platform
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfspeech.probabilistic.flows import IAF, MAF, RealNVP


def median_seconds(function, argument, repeats):
    """Median wall time of ``function(argument)`` over ``repeats`` runs, after one untimed (tracing) run."""
    function(argument).numpy()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(argument).numpy()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def measure(model, batch, repeats, seed=0):
    """``(log-prob seconds, sample seconds)`` for ``batch`` rows of ``model``."""
    rng = np.random.default_rng(seed)
    noise = tf.constant(rng.standard_normal((batch, model.latent_size)).astype("float32"))
    model.build((None, model.latent_size))
    data = tf.constant(model.transform_noise(noise).numpy())
    log_prob = tf.function(lambda x: model(x))
    sample = tf.function(model.transform_noise)
    return median_seconds(log_prob, data, repeats), median_seconds(sample, noise, repeats)


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_flows", description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=32, help="event size D (default 32)")
    parser.add_argument("--batch", type=int, default=256, help="rows per call (default 256)")
    parser.add_argument("--layers", type=int, default=4, help="flow layers / couplings (default 4)")
    parser.add_argument("--hidden", type=int, default=128, help="units in each of 2 hidden layers (default 128)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per function (default 7)")
    args = parser.parse_args(argv)
    if args.dim < 2 or args.batch < 1 or args.layers < 1 or args.hidden < 1 or args.repeats < 1:
        parser.error("--dim must be at least 2; --batch, --layers, --hidden and --repeats at least 1")

    hidden = (args.hidden, args.hidden)
    flows = {
        "MAF": MAF(args.dim, num_layers=args.layers, hidden_units=hidden),
        "IAF": IAF(args.dim, num_layers=args.layers, hidden_units=hidden),
        "RealNVP": RealNVP(args.dim, num_couplings=args.layers, hidden_units=hidden),
    }
    rows = []
    for name, model in tqdm(flows.items(), desc="flows", leave=False):
        log_prob_s, sample_s = measure(model, args.batch, args.repeats)
        rows.append(f"| {name} | {1e3 * log_prob_s:.2f} | {1e3 * sample_s:.2f} | {sample_s / log_prob_s:.2f} |")

    print(
        f"D = {args.dim}, batch {args.batch}, {args.layers} layers, hidden {hidden}, median of {args.repeats} runs; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}\n"
    )
    print("| flow | log_prob (ms) | sample (ms) | ratio sample / log_prob |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
