"""Gradient estimators side by side: empirical mean, standard error and variance over many seeds.

For objectives with closed-form gradients, every estimator is run with ``--samples`` samples
per estimate for ``--seeds`` seeds (float64). The variance column is the variance of one
estimate across seeds; "bias/SE" is ``|mean − exact| / SE`` and "unbiased" checks it is ≤ 3.
"× var" is the variance relative to the reparameterized estimator of the same problem
(explicit for Normal, tfp's implicit one for Gamma). Prints a Markdown table.

    python -m benchmarks.bench_estimators [--seeds 1000] [--samples 64]
"""

import argparse
import sys
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.special import polygamma
from tqdm import tqdm

from tfspeech.probabilistic import estimators as est

tfd = tfp.distributions
MU, SIGMA = 1.0, 2.0
ALPHA, BETA = 2.0, 1.5


class Problem(NamedTuple):
    name: str
    make_distribution: Callable
    parameter_names: tuple
    parameters: tuple
    objective: Callable
    exact: tuple
    estimators: dict


def _estimator(kind, control_variate="none"):
    """A uniform ``fn(make_distribution, parameters, objective, num_samples, seed)`` for each method."""
    def estimate(make_distribution, parameters, objective, num_samples, seed):
        if kind == "score":
            return est.score_function_gradient(make_distribution, parameters, objective, num_samples, seed,
                                               control_variate)
        if kind == "reparameterization":
            return est.reparameterization_gradient(make_distribution, parameters, objective, num_samples, seed)
        return est.gamma_generalized_reparameterization_gradient(*parameters, objective, num_samples, seed,
                                                                 control_variate)
    return estimate


NORMAL_ESTIMATORS = {
    "score": _estimator("score"),
    "score + baseline": _estimator("score", "baseline"),
    "score + optimal": _estimator("score", "optimal"),
    "reparameterization": _estimator("reparameterization"),
}
GAMMA_ESTIMATORS = {
    "score": _estimator("score"),
    "score + optimal": _estimator("score", "optimal"),
    "G-REP": _estimator("generalized"),
    "G-REP + optimal": _estimator("generalized", "optimal"),
    "implicit reparameterization (tfp)": _estimator("reparameterization"),
}


def _square(x):
    return x**2


def _gamma(concentration, rate):
    return tfd.Gamma(concentration, rate)


PROBLEMS = (
    Problem("E_N(μ=1,σ=2)[x²]", tfd.Normal, ("μ", "σ"), (MU, SIGMA), _square, (2 * MU, 2 * SIGMA),
            NORMAL_ESTIMATORS),
    Problem("E_Gamma(α=2,β=1.5)[x²]", _gamma, ("α", "β"), (ALPHA, BETA), _square,
            ((2 * ALPHA + 1) / BETA**2, -2 * ALPHA * (ALPHA + 1) / BETA**3), GAMMA_ESTIMATORS),
    Problem("E_Gamma(α=2,β=1.5)[log x]", _gamma, ("α", "β"), (ALPHA, BETA), tf.math.log,
            (polygamma(1, ALPHA), -1 / BETA), GAMMA_ESTIMATORS),
)


def estimates_over_seeds(estimator, problem, num_samples, num_seeds, progress):
    """``[num_seeds, num_parameters]`` gradient estimates, one per stateless seed ``(k, 0)``."""
    parameters = [tf.constant(p, tf.float64) for p in problem.parameters]
    compiled = tf.function(lambda seed: tf.stack(
        estimator(problem.make_distribution, parameters, problem.objective, num_samples, seed).mean))
    rows = []
    for k in range(num_seeds):
        rows.append(compiled(tf.constant([k, 0], tf.int32)).numpy())
        progress.update()
    return np.stack(rows)


def main(argv=()):
    """Run every estimator on every problem and print the table; ``argv``: options (none: defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="independent estimates per estimator")
    parser.add_argument("--samples", type=int, default=64, help="samples per estimate")
    args = parser.parse_args(argv)

    total = args.seeds * sum(len(problem.estimators) for problem in PROBLEMS)
    rows, all_unbiased, reparameterization_wins = [], True, True
    with tqdm(total=total, desc="estimates", file=sys.stderr) as progress:
        for problem in PROBLEMS:
            name, exact = problem.name, problem.exact
            results = {label: estimates_over_seeds(fn, problem, args.samples, args.seeds, progress)
                       for label, fn in problem.estimators.items()}
            reference = results[next(label for label in results if "reparameterization" in label)]
            reference_variance = reference.var(0, ddof=1)
            for index, parameter in enumerate(problem.parameter_names):
                for label, values in results.items():
                    mean = values[:, index].mean()
                    variance = values[:, index].var(ddof=1)
                    standard_error = np.sqrt(variance / args.seeds)
                    bias = abs(mean - exact[index])
                    unbiased = bias <= 3 * standard_error + 1e-9 * abs(exact[index])
                    all_unbiased &= bool(unbiased)
                    if label.startswith("score"):
                        reparameterization_wins &= bool(reference_variance[index] < variance)
                    # A zero-variance column (β's pathwise gradient of log x is exactly −1/β) has no ratio.
                    deterministic = reference_variance[index] <= 1e-20 * max(1.0, exact[index] ** 2)
                    ratio = "—" if deterministic else f"{variance / reference_variance[index]:.3g}"
                    z_score = "—" if standard_error <= 1e-12 else f"{bias / standard_error:.2f}"
                    rows.append(f"| {name} | {parameter} | {label} | {exact[index]:.4f} | {mean:.4f} | "
                                f"{standard_error:.4f} | {variance:.4g} | {ratio} | {z_score} | "
                                f"{'yes' if unbiased else 'NO'} |")

    print(f"Gradient estimators: {args.seeds} seeds × {args.samples} samples per estimate, float64")
    print()
    print("| objective | θ | estimator | exact | mean | SE | variance | × var of rep | bias/SE "
          "| unbiased (≤ 3 SE) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print()
    print(f"all estimators within 3 SE of the exact gradient: {'yes' if all_unbiased else 'NO'}")
    print(f"reparameterization variance below every score-function variant: "
          f"{'yes' if reparameterization_wins else 'NO'}")


if __name__ == "__main__":
    main(sys.argv[1:])
