"""WGAN critics, weight clipping vs gradient penalty: Lipschitz constant and W1 estimate vs the exact LP.

Two data sets: ``ring``, 8 Gaussians (σ = 0.05) on a circle of radius 2 in the plane, and
``logmel``, 80-dim log-mel frames of a corpus (standardized per dimension with the training
frames' mean and deviation; W1 is then in standardized units). For each data set, Lipschitz
mode (``clip``: c = 0.01, RMSprop; ``gradient_penalty``: λ = 10, Adam β = (0.5, 0.9)) and seed,
a ``WassersteinGAN`` trains for ``--steps`` generator steps (5 critic steps each). At each
checkpoint, on held-out real samples and as many generator samples it measures:

- exact W1: the Kantorovich primal LP (HiGHS, ``tfspeech.probabilistic.optimal_transport``)
  between the two sets, uniform weights, Euclidean cost (cross-checked against the
  Hungarian assignment, which solves the same problem for equal-size uniform sets);
- the critic's estimate ``mean f(real) − mean f(fake)`` on the same sets;
- the critic's Lipschitz estimate, the largest ``‖∇f‖`` over one random interpolate per pair;
- the estimate divided by it (what a 1-Lipschitz rescaling of the critic would say).

The noise floor is the exact W1 between two disjoint real sets of the same size. Prints a
Markdown table of medians over seeds; ``--plot`` writes the ring samples and critic contours.

    python -m benchmarks.bench_wgan [--steps 1000] [--seeds 3] [--corpus DIR] [--plot benchmarks/wgan_ring.png]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from tqdm import tqdm

from tfspeech.probabilistic import optimal_transport as ot
from tfspeech.probabilistic.wgan import WassersteinGAN

RING_CENTERS, RING_RADIUS, RING_SIGMA = 8, 2.0, 0.05
CORPUS_VOICE, CORPUS_SENTENCES = "festival:cmu_us_slt_arctic_hts", 1000
MODES = ("clip", "gradient_penalty")
# Learning rates raised from the papers' (RMSprop 5e-5, Adam 1e-4) so that short CPU runs move.
OPTIMIZERS = {
    "clip": lambda: keras.optimizers.RMSprop(5e-4),
    "gradient_penalty": lambda: keras.optimizers.Adam(5e-4, beta_1=0.5, beta_2=0.9),
}
NETWORKS = {  # per data set: noise_dim, hidden widths of both MLPs, evaluation samples
    "ring": dict(noise_dim=2, units=(128, 128, 128), eval_samples=256),
    "logmel": dict(noise_dim=16, units=(256, 256), eval_samples=400),
}
BATCH = 256


def ring_samples(n, rng):
    """``[n, 2]`` draws from 8 Gaussians of deviation ``RING_SIGMA`` on a circle of radius ``RING_RADIUS``."""
    angles = 2 * np.pi * rng.integers(RING_CENTERS, size=n) / RING_CENTERS
    centers = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], -1)
    return (centers + RING_SIGMA * rng.standard_normal((n, 2))).astype("float32")


def log_mel_frames(corpus_dir):
    """(train frames, held-out frames), float32 ``[frames, 80]``, standardized with the train statistics."""
    from tfspeech.data.corpus import build_corpus
    from tfspeech.data.features import cache_log_mels, load_log_mel
    from tfspeech.data.layout import read_corpus

    if corpus_dir is None:
        corpus_dir = build_corpus([CORPUS_VOICE], CORPUS_SENTENCES, seed=0, progress=False)
    cache_log_mels(corpus_dir, progress=False)
    frames = {}
    for split in ("train", "test"):
        utterances = read_corpus(corpus_dir, split)
        if not utterances:
            raise ValueError(f"{corpus_dir} has no {split} utterances; build a larger corpus")
        frames[split] = np.concatenate([load_log_mel(corpus_dir, u.id) for u in utterances])
    mean, std = frames["train"].mean(0), frames["train"].std(0) + 1e-6
    return tuple(((frames[s] - mean) / std).astype("float32") for s in ("train", "test"))


def exact_w1(x, y):
    """(W1 by the primal LP, |LP − Hungarian assignment|) between equal-size sets ``x``, ``y``."""
    cost = cdist(x, y)
    uniform = np.full(len(x), 1.0 / len(x))
    value = ot.solve_kantorovich_primal(uniform, uniform, cost).value
    rows, columns = linear_sum_assignment(cost)
    return value, abs(value - cost[rows, columns].mean())


def measure(model, real, seed):
    """One checkpoint's figures on held-out ``real`` and as many generator samples."""
    fake = model.sample(len(real), seed=seed).numpy()
    exact, lp_check = exact_w1(real, fake)
    estimate = model.wasserstein_estimate(real, fake)
    lipschitz = model.lipschitz_estimate(real, fake, seed=seed)
    return dict(exact=exact, estimate=estimate, lipschitz=lipschitz, normalized=estimate / lipschitz,
                lp_check=lp_check)


def run(data_name, mode, seed, train, held_out, checkpoints, bar):
    """Trains one model and returns ``{step: figures}`` and the model."""
    net = NETWORKS[data_name]
    model = WassersteinGAN(train.shape[1], noise_dim=net["noise_dim"], generator_units=net["units"],
                           critic_units=net["units"], lipschitz=mode, seed=seed)
    model.compile(critic_optimizer=OPTIMIZERS[mode](), generator_optimizer=OPTIMIZERS[mode]())
    rng = np.random.default_rng(seed)
    real = held_out[rng.choice(len(held_out), net["eval_samples"], replace=False)]
    figures, done = {0: measure(model, real, seed)}, 0
    for step in checkpoints:
        batches = train[rng.integers(len(train), size=(step - done) * BATCH)]
        model.fit(batches, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        bar.update(step - done)
        done = step
        figures[step] = measure(model, real, seed)
    return figures, model


def noise_floor(held_out, size, seed):
    """Exact W1 between two disjoint random real sets of ``size`` rows."""
    rows = np.random.default_rng(seed + 1000).permutation(len(held_out))
    return exact_w1(held_out[rows[:size]], held_out[rows[size:2 * size]])[0]


def plot_ring(models, real, path):
    """Data, generator samples and critic contours of each mode's model, side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grid = np.linspace(-3, 3, 121, dtype="float32")
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    figure = Figure(figsize=(5 * len(models), 5))
    FigureCanvasAgg(figure)
    for index, (mode, model) in enumerate(models.items()):
        axes = figure.add_subplot(1, len(models), index + 1)
        scores = model.critic_score(points).numpy().reshape(len(grid), len(grid))
        contours = axes.contourf(grid, grid, scores, levels=20, cmap="RdBu_r")
        figure.colorbar(contours, ax=axes, shrink=0.8, label="critic f(x)")
        fake = model.sample(len(real), seed=0).numpy()
        axes.scatter(*real.T, s=3, c="black", label="data")
        axes.scatter(*fake.T, s=3, c="orange", label="generator")
        axes.set(title=f"{mode}", xlim=(-3, 3), ylim=(-3, 3), aspect="equal")
        axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main(argv=()):
    """Train, measure and print the table; ``argv`` are command-line options (none: the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="generator steps per run")
    parser.add_argument("--checkpoints", type=int, default=4, help="evaluations during training, evenly spaced")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", nargs="+", choices=sorted(NETWORKS), default=sorted(NETWORKS, reverse=True))
    parser.add_argument("--corpus", type=Path, default=None,
                        help=f"a built corpus (default: build or re-check {CORPUS_VOICE}, "
                             f"{CORPUS_SENTENCES} sentences, seed 0)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the ring data, samples and critics")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.seeds < 1 or not 1 <= args.checkpoints <= args.steps:
        parser.error("--steps and --seeds must be >= 1, and 1 <= --checkpoints <= --steps")

    checkpoints = sorted({round(args.steps * (i + 1) / args.checkpoints) for i in range(args.checkpoints)})
    data = {}
    for name in args.data:
        if name == "ring":
            data[name] = ring_samples(200_000, np.random.default_rng(0)), ring_samples(20_000, np.random.default_rng(1))
        else:
            data[name] = log_mel_frames(args.corpus)

    results, floors, lp_checks, ring_models = {}, {}, [], {}
    start = time.perf_counter()
    total = len(data) * len(MODES) * args.seeds * args.steps
    with tqdm(total=total, desc="generator steps", file=sys.stderr) as bar:
        for name, (train, held_out) in data.items():
            size = NETWORKS[name]["eval_samples"]
            floors[name] = statistics.median(noise_floor(held_out, size, seed) for seed in range(args.seeds))
            for mode in MODES:
                for seed in range(args.seeds):
                    figures, model = run(name, mode, seed, train, held_out, checkpoints, bar)
                    results[name, mode, seed] = figures
                    lp_checks += [f["lp_check"] for f in figures.values()]
                    if name == "ring" and seed == 0:
                        ring_models[mode] = model
    minutes = (time.perf_counter() - start) / 60

    print(f"WGAN critics, clip vs gradient penalty: {args.seeds} seeds (medians), {args.steps} generator "
          f"steps × 5 critic steps, batch {BATCH}; {minutes:.1f} min; max |LP − Hungarian| {max(lp_checks):.1e}")
    print()
    print("| data | mode | step | exact W1 (LP) | critic estimate | estimate / exact | Lipschitz est. | "
          "estimate / Lipschitz | real-vs-real W1 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in data:
        for mode in MODES:
            for step in [0, *checkpoints]:
                runs = [results[name, mode, seed][step] for seed in range(args.seeds)]
                median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                ratio = statistics.median(r["estimate"] / r["exact"] for r in runs)
                print(f"| {name} ({data[name][0].shape[1]}-D) | {mode} | {step} | {median['exact']:.3f} | "
                      f"{median['estimate']:.4g} | {ratio:.3g} | {median['lipschitz']:.4g} | "
                      f"{median['normalized']:.3f} | {floors[name]:.3f} |")
    if args.plot is not None and "ring" in data:
        plot_ring(ring_models, data["ring"][1][:512], args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main(sys.argv[1:])
