"""Sinkhorn against the exact Kantorovich LP as ε shrinks: cost gap, regularized gap, iterations.

A batch of random problems (two point clouds in 2-D, squared Euclidean cost scaled to max 1,
random histograms) is solved exactly by the primal and dual LPs (HiGHS) and by log-domain
Sinkhorn (float64) for a sweep of ε. Prints a Markdown table.

    python -m benchmarks.bench_sinkhorn [--problems 8] [--size 40] [--seed 0]
"""

import argparse
import sys
import time

import numpy as np
from tqdm import tqdm

from tfspeech.probabilistic import optimal_transport as ot

EPSILONS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4)


def random_problems(count, size, seed):
    """``count`` problems ``(a [size], b [size], cost [size, size])`` stacked on a leading axis."""
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(count, size, 2))
    target = rng.normal(size=(count, size, 2)) * 0.7 + [1.5, 0.0]
    cost = ((source[:, :, None] - target[:, None, :]) ** 2).sum(-1)
    cost /= cost.max(axis=(1, 2), keepdims=True)
    a = rng.uniform(0.1, 1.0, size=(count, size))
    b = rng.uniform(0.1, 1.0, size=(count, size))
    return a / a.sum(1, keepdims=True), b / b.sum(1, keepdims=True), cost


def _entropy(histograms):
    return -(histograms * np.log(histograms)).sum(-1)


def main(argv=()):
    """Run the sweep and print the table; ``argv`` are command-line options (none: the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=8, help="problems in the batch")
    parser.add_argument("--size", type=int, default=40, help="points per cloud (m = n)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-9, help="Sinkhorn ‖P1 − a‖₁ tolerance")
    parser.add_argument("--max-iterations", type=int, default=200_000)
    args = parser.parse_args(argv)

    a, b, cost = random_problems(args.problems, args.size, args.seed)
    primal = [ot.solve_kantorovich_primal(*problem) for problem in zip(a, b, cost)]
    dual = [ot.solve_kantorovich_dual(*problem) for problem in zip(a, b, cost)]
    exact = np.array([solution.value for solution in primal])
    duality_gap = max(abs(p.value - d.value) for p, d in zip(primal, dual))
    entropy = np.minimum(_entropy(a), _entropy(b))

    print(f"Sinkhorn (log domain, float64) vs exact LP: {args.problems} problems, {args.size}x{args.size}, "
          f"seed {args.seed}; mean LP value {exact.mean():.6f}; max |primal − dual| {duality_gap:.1e}")
    print()
    print("| ε | mean ⟨P,C⟩ − LP | max ⟨P,C⟩ − LP | mean reg. − LP | ε·min H (bound) | iterations | "
          "max ‖P1 − a‖₁ | seconds |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    ot.sinkhorn(a, b, cost, EPSILONS[0], max_iterations=1)  # trace the loop once, outside the timings
    for epsilon in tqdm(EPSILONS, desc="ε sweep", file=sys.stderr):
        start = time.perf_counter()
        result = ot.sinkhorn(a, b, cost, epsilon, tolerance=args.tolerance, max_iterations=args.max_iterations)
        seconds = time.perf_counter() - start
        cost_gap = result.transport_cost.numpy() - exact
        regularized_gap = result.regularized_value.numpy() - exact
        iterations = f"{int(result.iterations)}" + ("" if bool(np.all(result.converged)) else " (max)")
        tqdm.write(f"| {epsilon:g} | {cost_gap.mean():.2e} | {cost_gap.max():.2e} | {regularized_gap.mean():.2e} | "
                   f"{(epsilon * entropy).mean():.2e} | {iterations} | {result.marginal_error.numpy().max():.1e} | "
                   f"{seconds:.2f} |", file=sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
