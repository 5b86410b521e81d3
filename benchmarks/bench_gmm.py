"""GaussianMixture EM, tfspeech (TensorFlow) vs scikit-learn: time, final log-likelihood, peak RSS.

Full covariances, the same data and the same initial parameters (weights, means,
precisions) for both, ``max_iter`` iterations with ``tol=0`` so every run does all of them.
Each fit runs in its own subprocess; the table gives the median and the spread over
``--repeats`` runs, the final mean log-likelihood (nats per sample), and the peak RSS of
each subprocess (``os.wait4``'s ``ru_maxrss``; "fit" is the part above the RSS before the
fit, i.e. after imports and data generation). "fit CPU s" is the process's CPU time during
the fit (all threads): a figure less sensitive than wall time to other load on the machine.
tfspeech's "first fit" is the time a user waits: a fresh process, a new estimator, tracing
(and XLA compilation with ``--jit``) included; "2nd estimator" is a new estimator fitted on
the same shapes in the same process. "import s" (the library's import, and for tfspeech
starting TensorFlow's runtime) is reported apart.

    python -m benchmarks.bench_gmm                                  # N=200,000, D=16, K=32, 20 iterations, 5 runs
    python -m benchmarks.bench_gmm --samples 20000 --repeats 1      # a quick look
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
IMPLEMENTATIONS = ("scikit-learn", "tfspeech")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def make_problem(n_samples, n_features, n_components, seed):
    """``(X (N, D), initial parameters)``: a mixture of correlated Gaussian blobs, and
    initial weights (uniform), means (random rows) and precisions (inverse data covariance)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_components, n_features))
    scales = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features) + np.eye(n_features)
    labels = rng.choice(n_components, size=n_samples, p=rng.dirichlet(np.full(n_components, 5.0)))
    X = rng.normal(size=(n_samples, n_features))
    for k in range(n_components):  # one component at a time: no (N, D, D) temporary in the RSS figures
        X[labels == k] = centers[k] + X[labels == k] @ scales[k].T
    init = {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": X[rng.choice(n_samples, n_components, replace=False)],
        "precisions_init": np.broadcast_to(np.linalg.inv(np.cov(X.T)),
                                           (n_components, n_features, n_features)).copy(),
    }
    return X, init


def worker(args):
    """One subprocess: fit one implementation and print its figures as JSON."""
    X, init = make_problem(args.samples, args.features, args.components, args.seed)
    settings = dict(covariance_type="full", max_iter=args.iterations, tol=0.0, init_params="random_from_data",
                    **init)
    start = time.perf_counter()
    if args.worker == "scikit-learn":
        from sklearn.mixture import GaussianMixture
    else:
        import tensorflow as tf

        from tfspeech.probabilistic import GaussianMixture

        if args.threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        tf.constant(0.0).numpy()  # start the TensorFlow runtime (once per process, like an import)
        settings.update(dtype=args.dtype, jit_compile=args.jit)
    import_seconds = time.perf_counter() - start
    rss_before_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu_times = [], []
    for _ in range(2 if args.worker == "tfspeech" else 1):
        model = GaussianMixture(args.components, **settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0 never converges: ConvergenceWarning by design
            start, cpu_start = time.perf_counter(), time.process_time()
            model.fit(X)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    print(json.dumps({"seconds": times, "cpu_seconds": cpu_times, "score": float(model.score(X)),
                      "import_seconds": import_seconds,
                      "lower_bounds": [float(v) for v in model.lower_bounds_],
                      "rss_before_fit_kib": rss_before_fit}))


def run_worker(implementation, args):
    """Runs one worker subprocess; returns its figures plus its peak RSS (KiB)."""
    command = [sys.executable, "-m", "benchmarks.bench_gmm", "--worker", implementation,
               "--samples", str(args.samples), "--features", str(args.features),
               "--components", str(args.components), "--iterations", str(args.iterations),
               "--seed", str(args.seed), "--dtype", args.dtype, "--threads", str(args.threads)]
    command += ["--jit"] if args.jit else []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if args.threads:
        env.update({name: str(args.threads) for name in THREAD_VARIABLES})
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage (ru_maxrss in KiB on Linux)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{implementation} worker failed ({process.returncode}):\n{stderr.decode()[-3000:]}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    result["peak_rss_kib"] = usage.ru_maxrss
    return result


def main(argv=()):
    """Run the comparison and print a Markdown table; ``argv`` are command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000, help="N rows")
    parser.add_argument("--features", type=int, default=16, help="D")
    parser.add_argument("--components", type=int, default=32, help="K")
    parser.add_argument("--iterations", type=int, default=20, help="EM iterations (tol=0)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per implementation (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="tfspeech's dtype")
    parser.add_argument("--jit", action="store_true", help="tfspeech with jit_compile=True (XLA)")
    parser.add_argument("--threads", type=int, default=0,
                        help="limit both to this many threads (BLAS/OpenMP and TensorFlow); 0: library defaults")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    load_before = os.getloadavg()
    runs = {name: [] for name in IMPLEMENTATIONS}
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        for name in IMPLEMENTATIONS:
            runs[name].append(run_worker(name, args))
    load_after = os.getloadavg()

    reference = statistics.median(r["seconds"][0] for r in runs["scikit-learn"])
    mib = 1 / 1024
    rows = []
    for name, label, index in (("scikit-learn", "scikit-learn", 0), ("tfspeech", "tfspeech, first fit", 0),
                               ("tfspeech", "tfspeech, 2nd estimator", 1)):
        seconds = [r["seconds"][index] for r in runs[name]]
        median = statistics.median(seconds)
        cpu = statistics.median(r["cpu_seconds"][index] for r in runs[name])
        peak = statistics.median(r["peak_rss_kib"] for r in runs[name]) * mib
        fit_part = statistics.median(r["peak_rss_kib"] - r["rss_before_fit_kib"] for r in runs[name]) * mib
        imported = f"{statistics.median(r['import_seconds'] for r in runs[name]):.2f}" if index == 0 else "–"
        rows.append(f"| {label} | {imported} | {median:.2f} | {min(seconds):.2f}–{max(seconds):.2f} | {reference / median:.1f}x | "
                    f"{cpu:.2f} | "
                    f"{runs[name][0]['score']:.6f} | {peak:.0f} | {fit_part:.0f} |")
    ll_difference = max(abs(a["score"] - b["score"]) for a, b in zip(runs["tfspeech"], runs["scikit-learn"]))
    trajectory = max(np.max(np.abs(np.subtract(a["lower_bounds"], b["lower_bounds"])))
                     for a, b in zip(runs["tfspeech"], runs["scikit-learn"]))

    print(f"GaussianMixture EM, full covariance: N={args.samples:,}, D={args.features}, K={args.components}, "
          f"{args.iterations} iterations (tol=0), same initial parameters; tfspeech dtype={args.dtype}"
          f"{', XLA' if args.jit else ''}; median of {args.repeats} runs, each in its own process; "
          f"threads: {args.threads or 'library defaults'}.")
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after; {time.strftime('%Y-%m-%d')}.")
    print()
    print("| implementation | import s | fit s (median) | range | speed vs scikit-learn | fit CPU s | final mean log-lik | "
          "peak RSS MiB | RSS added by fit MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print(f"max |final mean log-likelihood difference| = {ll_difference:.2e} nats/sample "
          f"({'within' if ll_difference <= 1e-3 else 'OUTSIDE'} 1e-3); max per-iteration lower-bound "
          f"difference = {trajectory:.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
