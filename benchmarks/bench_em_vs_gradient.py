"""EM against gradient training (Keras ``fit``, Adam) of the same models from the same start.

Two cases, each on data sampled from a fixed random model, with training and held-out sets:

- ``gmm``: GaussianMixture, full covariances, K = 8, D = 8, 20,000 training rows. EM is
  ``GaussianMixture`` (float64); gradient training is its :class:`GaussianMixtureDensity`
  (float32) with Adam on mini-batches of 1,024 rows.
- ``hmm``: GaussianHMM, diagonal covariances, K = 4, D = 3, 200 sequences of 100 frames.
  EM is ``GaussianHMM``; gradient training is its :class:`GaussianHMMDensity` with Adam on
  batches of 20 sequences.

Both start from the same point: for the GMM one EM step from means at random data rows
(``init_params="random_from_data"``, on 500 rows), for the HMM hmmlearn-style k-means
initialization. For each, the table gives the mean
log-likelihood (nats per row / frame) on training and held-out data after ``--budget``
passes over the data (EM iterations or epochs), the passes and seconds each needed to come
within ``TARGET_GAP`` nats of EM's converged training value ("—": never within the budget),
and the wall time of the whole run (each pass includes one scoring of the training set, for
both methods); medians over ``--repeats`` runs.

    python -m benchmarks.bench_em_vs_gradient [--repeats 3] [--budget 100]
"""

import argparse
import os
import platform
import sys
import statistics
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfspeech.probabilistic import GaussianHMM, GaussianMixture

GMM_LEARNING_RATE = 0.005  # Adam
HMM_LEARNING_RATE = 0.05
TARGET_GAP = 0.01  # nats per row / frame from EM's converged training log-likelihood
GMM_SHAPE = dict(K=8, D=8, n_train=20_000, n_test=5_000)
HMM_SHAPE = dict(K=4, D=3, n_train=200, n_test=50, T=100)


def gmm_data(seed=0):
    """``(train, test)`` rows from a random full-covariance mixture."""
    K, D = GMM_SHAPE["K"], GMM_SHAPE["D"]
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=2.5, size=(K, D))
    factors = rng.normal(scale=0.5, size=(K, D, D))
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.3 * np.eye(D)
    n = GMM_SHAPE["n_train"] + GMM_SHAPE["n_test"]
    labels = rng.choice(K, size=n, p=rng.dirichlet(np.full(K, 3.0)))
    rows = means[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(covariances)[labels],
                                     rng.standard_normal((n, D)))
    return rows[:GMM_SHAPE["n_train"]], rows[GMM_SHAPE["n_train"]:]


def hmm_data(seed=0):
    """``(train, test)`` sequence arrays ``(n, T, D)`` sampled from a random diagonal HMM."""
    K, D, T = HMM_SHAPE["K"], HMM_SHAPE["D"], HMM_SHAPE["T"]
    rng = np.random.default_rng(seed)
    truth = GaussianHMM(K, "diag", init_params="")
    truth.startprob_ = rng.dirichlet(np.ones(K))
    truth.transmat_ = 0.7 * np.eye(K) + 0.3 * rng.dirichlet(np.ones(K), K)
    truth.means_ = rng.normal(scale=2.0, size=(K, D))
    truth.covars_ = rng.uniform(0.3, 1.5, size=(K, D))
    sequences = [truth.sample(T, random_state=int(rng.integers(2**31)))[0]
                 for _ in range(HMM_SHAPE["n_train"] + HMM_SHAPE["n_test"])]
    sequences = np.stack(sequences)
    return sequences[:HMM_SHAPE["n_train"]], sequences[HMM_SHAPE["n_train"]:]


class _Trace(keras.callbacks.Callback):
    """Records (seconds since start, training mean log-likelihood) at each epoch end."""

    def __init__(self, score):
        super().__init__()
        self.score = score
        self.points = []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.points.append((time.perf_counter() - self.start, self.score()))


def _first_within(points, target):
    """(passes, seconds) of the first point at or above ``target``, else (None, None)."""
    for passes, (seconds, value) in enumerate(points, start=1):
        if value >= target:
            return passes, seconds
    return None, None


def _em_points(history, seconds):
    """(seconds, log-likelihood) per EM iteration, the fit's time spread evenly over them."""
    return [(seconds * (i + 1) / len(history), value) for i, value in enumerate(history)]


def run_gmm(budget, seed):
    train, test = gmm_data()
    K = GMM_SHAPE["K"]
    start = GaussianMixture(K, covariance_type="full", max_iter=1, init_params="random_from_data",
                            random_state=seed, dtype="float64").fit(train[:500])
    initial = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    optimum = GaussianMixture(K, covariance_type="full", max_iter=2000, tol=1e-9, dtype="float64",
                              **initial).fit(train).score(train)

    results = {}
    began = time.perf_counter()
    em = GaussianMixture(K, covariance_type="full", max_iter=budget, tol=1e-9, dtype="float64",
                         **initial).fit(train)
    elapsed = time.perf_counter() - began
    # lower_bounds_[i] is the log-likelihood before the (i+1)-th M-step; the final model's is score().
    history = list(em.lower_bounds_[1:]) + [em.score(train)]
    results["EM"] = (_em_points(history, elapsed), em.score(train), em.score(test), elapsed)

    model = start.to_keras()
    model.compile(optimizer=keras.optimizers.Adam(GMM_LEARNING_RATE))
    x32 = train.astype(np.float32)
    trace = _Trace(lambda: float(np.mean(model.predict(x32, batch_size=8192, verbose=0))))
    began = time.perf_counter()
    model.fit(x32, epochs=budget, batch_size=1024, callbacks=[trace], verbose=0)
    elapsed = time.perf_counter() - began
    results["gradient (Adam)"] = (trace.points, float(np.mean(model.predict(x32, verbose=0))),
                                  float(np.mean(model.predict(test.astype(np.float32), verbose=0))), elapsed)
    return optimum, results


def run_hmm(budget, seed):
    train, test = hmm_data()
    K, D, T = HMM_SHAPE["K"], HMM_SHAPE["D"], HMM_SHAPE["T"]
    X, lengths = train.reshape(-1, D), [T] * len(train)
    X_test, test_lengths = test.reshape(-1, D), [T] * len(test)
    optimum = GaussianHMM(K, "diag", n_iter=2000, tol=1e-9, random_state=seed).fit(X, lengths).score(
        X, lengths) / len(X)

    results = {}
    began = time.perf_counter()
    em = GaussianHMM(K, "diag", n_iter=budget, tol=1e-9, random_state=seed).fit(X, lengths)
    elapsed = time.perf_counter() - began
    # monitor_.history[i] is the log-likelihood before the (i+1)-th M-step.
    history = [value / len(X) for value in em.monitor_.history[1:]] + [em.score(X, lengths) / len(X)]
    results["EM"] = (_em_points(history, elapsed), em.score(X, lengths) / len(X),
                     em.score(X_test, test_lengths) / len(X_test), elapsed)

    start = GaussianHMM(K, "diag", n_iter=1, random_state=seed)
    start._init(X, lengths)
    model = start.to_keras()
    model.compile(optimizer=keras.optimizers.Adam(HMM_LEARNING_RATE))
    x32, test32 = train.astype(np.float32), test.astype(np.float32)
    trace = _Trace(lambda: float(tf.reduce_mean(model(x32))) / T)
    began = time.perf_counter()
    model.fit(x32, epochs=budget, batch_size=20, callbacks=[trace], verbose=0)
    elapsed = time.perf_counter() - began
    results["gradient (Adam)"] = (trace.points, float(tf.reduce_mean(model(x32))) / T,
                                  float(tf.reduce_mean(model(test32))) / T, elapsed)
    return optimum, results


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_em_vs_gradient",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (median; default 3)")
    parser.add_argument("--budget", type=int, default=100, help="EM iterations / epochs (default 100)")
    parser.add_argument("--cases", nargs="+", choices=("gmm", "hmm"), default=("gmm", "hmm"))
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    warnings.filterwarnings("ignore", message=".*converge")  # budget-limited EM runs are intended
    print(f"{platform.machine()}, {os.cpu_count()} CPUs; budget {args.budget} passes; "
          f"target: within {TARGET_GAP} nats of EM's converged training log-likelihood; "
          f"medians of {args.repeats} runs\n")
    print("| case | method | train LL | held-out LL | passes to target | s to target | total s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case in args.cases:
        run = {"gmm": run_gmm, "hmm": run_hmm}[case]
        runs = [run(args.budget, seed=0) for _ in range(args.repeats)]
        optimum = runs[0][0]
        for method in runs[0][1]:
            rows = [results[method] for _, results in runs]
            reached = [_first_within(points, optimum - TARGET_GAP) for points, *_ in rows]
            passes = [p for p, _ in reached if p is not None]
            seconds = [s for _, s in reached if s is not None]
            shown_passes = f"{statistics.median(passes):.0f}" if len(passes) == len(rows) else "—"
            shown_seconds = f"{statistics.median(seconds):.2f}" if len(seconds) == len(rows) else "—"
            print(f"| {case} | {method} | {statistics.median(r[1] for r in rows):.4f} | "
                  f"{statistics.median(r[2] for r in rows):.4f} | {shown_passes} | {shown_seconds} | "
                  f"{statistics.median(r[3] for r in rows):.1f} |", flush=True)
        print(f"| {case} | EM converged (tol 1e-8) | {optimum:.4f} | | | | |")


if __name__ == "__main__":
    main(sys.argv[1:])
