"""GaussianHMM EM against hmmlearn: the time a user waits, warm time, log-likelihood, memory.

Diagonal covariances, K = 8 states, D = 4 features, data sampled from a fixed random HMM;
(a) one sequence of 20,000 frames and (b) 100 sequences of 1,000. Every implementation
starts from the same parameters (``init_params=""``) and runs exactly ``--n-iter`` EM
iterations (``tol=-inf``). Each implementation runs in its own fresh subprocess, ``--rounds``
times (rounds interleave the implementations, so that a shared machine's load changes
affect them alike), and fits a new estimator ``--repeats + 2`` times in each:

- "import s": importing the library and starting TensorFlow's runtime (reported apart);
- "first fit s": the first fit of the first estimator in the process, everything it waits
  for included (tracing, XLA compilation where a pass compiles): the headline;
- "2nd estimator s": a new estimator, same shapes, same process;
- "warm s": the median of the ``--repeats`` fits after those (CPU s: the process's CPU time
  in them, all threads; steadier than wall time on a shared machine).

Every column is the median over the rounds. Ratios are hmmlearn's time over tfspeech's
in the same round (first fit against hmmlearn's first fit, the second estimator and warm
fits against the same of hmmlearn), the median over rounds, with the range over rounds for
the first fit.
``tfspeech-*`` use the default ``jit_compile=None`` (these fits are small: numpy passes);
``tfspeech-xla-*`` force the XLA passes (``jit_compile=True``). Peak RSS is the child's own high-water
mark (``VmHWM`` of ``/proc/self/status``) at the end and right after imports and data
generation. (``getrusage`` ``ru_maxrss`` is not used: Linux carries the forking parent's
peak across ``exec`` into it, and ``RUSAGE_CHILDREN`` is the largest of all children.)
Prints a Markdown table.

    python benchmarks/bench_hmm.py [--rounds 3] [--repeats 5] [--n-iter 10] [--scan]

``--scan`` adds the forward-pass comparison behind the design choice: the lane-packed
sequential XLA loop against a parallel prefix product with ``tfp.math.scan_associative``.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from benchmarks.measure import peak_rss_mb

N_STATES, N_FEATURES = 8, 4
SCENARIOS = {"a": (1, 20_000), "b": (100, 1_000)}  # name: (sequences, frames per sequence)
IMPLEMENTATIONS = ("hmmlearn-log", "hmmlearn-scaling", "tfspeech-float64", "tfspeech-float32",
                   "tfspeech-xla-float64", "tfspeech-xla-float32")


def true_model(seed=0):
    """``(startprob, transmat, means, variances)`` of the HMM that generates the data."""
    rng = np.random.default_rng(seed)
    transmat = rng.dirichlet(np.full(N_STATES, 0.5), N_STATES) + 5 * np.eye(N_STATES)
    return (np.full(N_STATES, 1 / N_STATES), transmat / transmat.sum(1, keepdims=True),
            rng.normal(size=(N_STATES, N_FEATURES)) * 3, rng.uniform(0.5, 1.5, (N_STATES, N_FEATURES)))


def sample(n_sequences, length, seed=1):
    """``(X (n_sequences·length, D), lengths)`` drawn from :func:`true_model` with numpy only."""
    startprob, transmat, means, variances = true_model()
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(transmat, axis=1)
    states = np.empty((n_sequences, length), np.int64)
    states[:, 0] = rng.choice(N_STATES, size=n_sequences, p=startprob)
    uniforms = rng.random((n_sequences, length))
    for t in range(1, length):
        states[:, t] = np.minimum((cumulative[states[:, t - 1]] < uniforms[:, t, None]).sum(1),
                                  N_STATES - 1)
    states = states.ravel()
    X = means[states] + rng.standard_normal((len(states), N_FEATURES)) * np.sqrt(variances[states])
    return X, np.full(n_sequences, length)


def initial_parameters():
    """The shared starting point: uniform start, sticky uniform transitions, perturbed means."""
    _, _, means, _ = true_model()
    transmat = 0.5 * np.eye(N_STATES) + 0.5 / N_STATES
    offsets = np.random.default_rng(2).normal(scale=0.5, size=means.shape)
    return dict(startprob_=np.full(N_STATES, 1 / N_STATES), transmat_=transmat,
                means_=means + offsets, covars_=np.full((N_STATES, N_FEATURES), 1.5))


def _estimator_class(implementation):
    """The estimator class (imported here: the child times its import)."""
    if implementation.startswith("hmmlearn"):
        from hmmlearn.hmm import GaussianHMM

        return GaussianHMM
    import tensorflow as tf

    from tfspeech.probabilistic import GaussianHMM

    tf.constant(0.0).numpy()  # start TensorFlow's runtime (once per process, like an import)
    return GaussianHMM


def _model(estimator, implementation, n_iter):
    if implementation.startswith("hmmlearn"):
        return estimator(N_STATES, "diag", n_iter=n_iter, tol=-np.inf, init_params="",
                         implementation=implementation.split("-")[1])
    return estimator(N_STATES, "diag", n_iter=n_iter, tol=-np.inf, init_params="",
                     dtype=implementation.split("-")[-1], jit_compile=True if "-xla-" in implementation else None)


def run_child(implementation, scenario, repeats, n_iter):
    """Time fits of new estimators in this process; print one JSON line (seconds, final
    log-likelihood, RSS)."""
    X, lengths = sample(*SCENARIOS[scenario])
    start = time.perf_counter()
    estimator = _estimator_class(implementation)
    import_time = time.perf_counter() - start
    rss_after_import = peak_rss_mb()
    times, cpu_times = [], []
    for _ in range(repeats + 2):
        model = _model(estimator, implementation, n_iter)
        for name, value in initial_parameters().items():
            setattr(model, name, value)
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(X, lengths)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    print(json.dumps({"import": import_time, "first": times[0], "second": times[1], "times": times[2:],
                      "cpu_times": cpu_times[2:], "iterations": len(model.monitor_.history),
                      "log_likelihood": model.monitor_.history[-1],
                      "rss_after_import": rss_after_import, "peak_rss": peak_rss_mb()}))


def run_in_subprocess(implementation, scenario, repeats, n_iter):
    """Run :func:`run_child` in a fresh interpreter and return its result."""
    command = [sys.executable, "-m", "benchmarks.bench_hmm", "--child", implementation, scenario,
               "--repeats", str(repeats), "--n-iter", str(n_iter)]
    completed = subprocess.run(command, capture_output=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if completed.returncode != 0:
        raise RuntimeError(f"{implementation} on scenario {scenario} failed:\n"
                           f"{completed.stderr.decode()[-2000:]}")
    return json.loads(completed.stdout.decode().strip().splitlines()[-1])


def compare_scan(length=20_000, repeats=5):
    """Forward log-likelihood of one sequence: sequential lane loop vs ``scan_associative``."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    from tfspeech.probabilistic import hmm_inference

    startprob, transmat, _, _ = true_model()
    log_b = np.random.default_rng(3).normal(size=(length, N_STATES)) * 3

    def combine(first, second):
        product = tf.matmul(first[0], second[0])
        norm = tf.reduce_max(product, axis=[-2, -1], keepdims=True)
        return product / norm, first[1] + second[1] + tf.math.log(norm[..., 0, 0])

    @tf.function(jit_compile=True)
    def scan_log_likelihood(startprob, transmat, log_b):
        shift = tf.reduce_max(log_b, axis=-1, keepdims=True)
        frame_prob = tf.exp(log_b - shift)
        products, log_norms = tfp.math.scan_associative(
            combine, (transmat * frame_prob[1:, tf.newaxis, :], tf.zeros(length - 1, log_b.dtype)))
        final = tf.linalg.matvec(products[-1], startprob * frame_prob[0], transpose_a=True)
        return tf.math.log(tf.reduce_sum(final)) + log_norms[-1] + tf.reduce_sum(shift)

    packing = hmm_inference.pack_lanes([length])
    padded = np.zeros((packing.n_frames_padded, N_STATES))
    padded[:length] = log_b
    lanes = (packing.frame_index, packing.start, packing.valid, packing.position)
    rows = []
    for dtype in (tf.float64, tf.float32):
        chain = (tf.constant(startprob, dtype), tf.constant(transmat, dtype))
        methods = {
            "scan_associative": lambda: float(scan_log_likelihood(*chain, tf.constant(log_b, dtype))),
            "sequential lanes": lambda: float(np.sum(hmm_inference.frame_log_likelihoods(
                *chain, tf.constant(padded, dtype), *lanes))),
        }
        for name, method in methods.items():
            start = time.perf_counter()
            value = method()
            cold = time.perf_counter() - start
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                method()
                times.append(time.perf_counter() - start)
            rows.append(f"| {name} | {dtype.name} | {cold:.2f} | {1000 * statistics.median(times):.2f} "
                        f"| {value:.6f} |")
    print(f"\nForward log-likelihood, one sequence of {length} frames, K = {N_STATES} (median of {repeats}):\n")
    print("| method | dtype | cold s (compile) | median ms | log-likelihood |")
    print("|---|---|---:|---:|---:|")
    print("\n".join(rows))


def _tensorflow_version():
    for distribution in ("tensorflow-cpu", "tensorflow"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "unknown"


def _conditions():
    load = os.getloadavg()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}"


def _row(scenario, implementation, runs):
    """One Markdown row: medians over rounds; ratios per round against hmmlearn's rows."""
    ours = runs[scenario, implementation]
    median = statistics.median

    def warm(result):
        return median(result["times"])

    def ratio(reference_name, key, with_range=False):
        reference = runs.get((scenario, f"hmmlearn-{reference_name}"))
        if reference is None:
            return "–"
        ratios = [(warm(theirs) / warm(mine)) if key == "times" else theirs[key] / mine[key]
                  for theirs, mine in zip(reference, ours)]
        text = f"{median(ratios):.2f}"
        return text + (f" ({min(ratios):.2f}–{max(ratios):.2f})" if with_range and len(ratios) > 1 else "")

    log = runs.get((scenario, "hmmlearn-log"))
    final = ours[0]["log_likelihood"]
    delta = f"{final - log[0]['log_likelihood']:+.2e}" if log else "–"
    sequences, length = SCENARIOS[scenario]
    return (f"| ({scenario}) {sequences}×{length} | {implementation} | {median(r['import'] for r in ours):.2f} "
            f"| {median(r['first'] for r in ours):.3f} | {ratio('log', 'first', True)} "
            f"| {ratio('scaling', 'first', True)} | {median(r['second'] for r in ours):.3f} "
            f"| {ratio('log', 'second')} | {median(warm(r) for r in ours):.3f} "
            f"| {median(median(r['cpu_times']) for r in ours):.3f} | {ratio('log', 'times')} "
            f"| {ratio('scaling', 'times')} | {final:.4f} | {delta} "
            f"| {median(r['peak_rss'] for r in ours):.0f} |")


def main(argv=()):
    """Run every scenario and implementation; print the table (``argv``: command-line options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="warm fits per process")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per implementation")
    parser.add_argument("--n-iter", type=int, default=10, help="EM iterations per fit")
    parser.add_argument("--scenarios", default="ab", help="which of a (1x20000), b (100x1000)")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--scan", action="store_true", help="also time scan_associative")
    parser.add_argument("--child", nargs=2, metavar=("IMPLEMENTATION", "SCENARIO"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(*args.child, args.repeats, args.n_iter)
        return

    from tqdm import tqdm

    print(f"GaussianHMM diag EM, K = {N_STATES}, D = {N_FEATURES}, {args.n_iter} iterations, same init; "
          f"first fit, a second estimator, then the median of {args.repeats} fits, each a new estimator, "
          f"in a fresh process per implementation and round; medians over {args.rounds} rounds. "
          f"hmmlearn {version('hmmlearn')}, TensorFlow {_tensorflow_version()}. Start: {_conditions()}.\n")
    implementations = args.implementations.split(",")
    runs = {}
    jobs = [(round_, scenario, implementation) for round_ in range(args.rounds) for scenario in args.scenarios
            for implementation in implementations]
    for round_, scenario, implementation in tqdm(jobs, desc="processes", file=sys.stderr):
        runs.setdefault((scenario, implementation), []).append(
            run_in_subprocess(implementation, scenario, args.repeats, args.n_iter))
    print("| scenario | implementation | import s | first fit s | × vs log (first) | × vs scaling (first) "
          "| 2nd estimator s | × vs log (2nd) | warm s | CPU s | × vs log (warm) | × vs scaling (warm) "
          "| final log-likelihood | Δ vs hmmlearn | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in args.scenarios:
        for implementation in implementations:
            print(_row(scenario, implementation, runs))
    print(f"\nEnd: {_conditions()}.")
    if args.scan:
        compare_scan(repeats=args.repeats)


if __name__ == "__main__":
    main(sys.argv[1:])
