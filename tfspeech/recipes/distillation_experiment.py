"""The seed's attention-distillation experiment: the student with and without distillation.

Every arm over several seeds, measured by free-running attention and stopping after a few epochs.

    python -m tfspeech.recipes.distillation_experiment --out DIR   # seeds 0 1 2 × weights 1, 0 × epochs 1 2 4

For each seed and each ``--weights`` value (and 0, no distillation), ``student_slt.train`` runs
into ``DIR/w<weight>-seed<seed>`` up to each of ``--epochs`` in turn, resuming at the previous
point: a point is the end of a run of that many epochs, whose learning rate (set per epoch) is
held for its first 60% and then decays (runs of 1 and 2 epochs never decay; the 4th epoch of a
4-epoch run is at 0.42×). The same seed gives the same initial weights and batches in every arm. At each point
the model synthesizes ``--subset`` test sentences free running (``model.infer``), measured by
focus rate, diagonality and the share stopping within 1.2× the reference length
(``tfspeech.tts_metrics``). Results go to ``DIR/results.json`` after every point (an interrupted
experiment resumes where it stopped); then ``DIR/curves.png`` (each figure against epochs, every
seed and the mean per weight), ``DIR/alignments-epoch-<first>.png`` (seed 0, the first sentence,
every weight) and ``DIR/results.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfspeech import tts_metrics
from tfspeech.audio.features import MelConfig
from tfspeech.data.corpus import build_corpus
from tfspeech.data.features import cache_log_mels
from tfspeech.plots import save_alignment_plot
from tfspeech.recipes import student_slt
from tfspeech.recipes.tts_evaluation import encode, held_out_utterances, pad_ids
from tfspeech.text import TextEncoder

FIGURES = ("focus_rate", "diagonality", f"stopped_within_{tts_metrics.STOP_FACTOR}x")
BATCH = 8


def free_running_figures(model, corpus_dir, utterances, features: Path) -> dict:
    """Mean focus rate and diagonality of ``model.infer``'s alignments over ``utterances``, the share
    stopping within ``STOP_FACTOR``× the reference length, and the first sentence's alignment."""
    encoder, r = TextEncoder(model.symbols), model.reduction_factor
    focus, diagonal, generated, stopped, alignments = [], [], [], [], []
    for start in range(0, len(utterances), BATCH):
        ids = [encode(encoder, u) for u in utterances[start:start + BATCH]]
        free = {k: v.numpy() for k, v in model.infer(pad_ids(ids)).items()}
        for i, sentence in enumerate(ids):
            frames = int(free["mel_lengths"][i])
            alignment = free["alignments"][i, :math.ceil(frames / r), :len(sentence)]
            focus.append(tts_metrics.focus_rate(alignment))
            diagonal.append(tts_metrics.diagonality(alignment))
            generated.append(frames)
            stopped.append(bool((free["stop_probabilities"][i] > model.stop_threshold).any()))
            alignments.append(alignment)
    references = [np.load(features / f"{u.id}.npy", mmap_mode="r").shape[0] for u in utterances]
    return {"focus_rate": float(np.mean(focus)), "diagonality": float(np.mean(diagonal)),
            FIGURES[2]: tts_metrics.stopped_within(generated, references, stopped),
            "first_alignment": alignments[0].tolist()}


def run(corpus_dir, out_dir, *, seeds, weights, epochs, epoch_utterances=None, subset: int = 32,
        batch_size: int = student_slt.RECIPE.batch_size, teacher: str = student_slt.TEACHER, zoo_root=None,
        verbose: int = 1) -> dict:
    """Trains and measures every (weight, seed) arm at every epoch point; returns the results
    ``{"<weight>": {"<seed>": {"<epoch>": figures}}}`` (also in ``out_dir/results.json``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    features = cache_log_mels(corpus_dir, MelConfig.from_dict(student_slt.CONFIG["mel_config"]), progress=False)
    utterances = held_out_utterances(corpus_dir, features, voice=student_slt.RECIPE.voice, subset=subset, seed=0,
                                     split="test", max_frames=student_slt.CONFIG["max_frames"])
    for seed in seeds:
        for weight in (*weights, 0.0):
            arm = results.setdefault(f"{weight:g}", {}).setdefault(str(seed), {})
            for epoch in sorted(epochs):
                if str(epoch) in arm:
                    continue
                model = student_slt.train(corpus_dir, out_dir / f"w{weight:g}-seed{seed}", epochs=epoch,
                                          distill_weight=weight, teacher=teacher, batch_size=batch_size,
                                          epoch_utterances=epoch_utterances, seed=seed, zoo_root=zoo_root,
                                          verbose=verbose)
                arm[str(epoch)] = free_running_figures(model, corpus_dir, utterances, features)
                path.write_text(json.dumps(results) + "\n", encoding="utf-8")
    write_report(results, out_dir)
    return results


def write_report(results: dict, out_dir: Path) -> None:
    """``curves.png``, ``alignments-epoch-<first>.png`` and ``results.md`` from ``results``."""
    out_dir = Path(out_dir)
    figure = Figure(figsize=(4 * len(FIGURES), 3.2), layout="constrained")
    FigureCanvasAgg(figure)
    lines = ["| weight | epoch | " + " | ".join(FIGURES) + " | seeds |", "|---" * (len(FIGURES) + 3) + "|"]
    for column, name in enumerate(FIGURES):
        axes = figure.add_subplot(1, len(FIGURES), column + 1)
        for weight, seeds in results.items():
            label = f"distillation weight {weight}" if float(weight) > 0 else "no distillation"
            epochs = sorted({int(e) for arm in seeds.values() for e in arm})
            means = [np.mean([arm[str(e)][name] for arm in seeds.values() if str(e) in arm]) for e in epochs]
            line, = axes.plot(epochs, means, marker="o", label=label)
            for arm in seeds.values():
                points = sorted((int(e), f[name]) for e, f in arm.items())
                axes.plot(*zip(*points), color=line.get_color(), alpha=0.3, linewidth=0.8)
        axes.set(title=name.replace("_", " "), xlabel="epoch", ylim=(0, 1.02))
        axes.legend(fontsize="small")
    figure.savefig(out_dir / "curves.png", dpi=80)
    for weight, seeds in results.items():
        for epoch in sorted({int(e) for arm in seeds.values() for e in arm}):
            arms = [arm[str(epoch)] for arm in seeds.values() if str(epoch) in arm]
            cells = [f"{np.mean([a[name] for a in arms]):.3f} ± {np.std([a[name] for a in arms]):.3f}"
                     for name in FIGURES]
            lines.append(f"| {weight} | {epoch} | " + " | ".join(cells) + f" | {len(arms)} |")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = min(int(e) for seeds in results.values() for arm in seeds.values() for e in arm)
    shown = [(weight, seeds["0"][str(first)]) for weight, seeds in results.items() if str(first) in seeds.get("0", {})]
    if shown:
        save_alignment_plot([np.array(f["first_alignment"]) for _, f in shown],
                            out_dir / f"alignments-epoch-{first}.png",
                            [f"weight {w}, seed 0, after epoch {first}" for w, _ in shown])


def main(argv: list[str] | None = None) -> int:
    """Command line (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m tfspeech.recipes.distillation_experiment",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="experiment folder (resumable)")
    parser.add_argument("--corpus", type=Path, help="a built corpus (default: every WordNet sentence for the "
                                                    "slt voice, cached)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default: %(default)s)")
    parser.add_argument("--weights", type=float, nargs="+", default=[student_slt.DISTILL_WEIGHT],
                        help="distillation weights besides 0 (default: %(default)s)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 4],
                        help="measuring points, in epochs (default: %(default)s)")
    parser.add_argument("--epoch-utterances", type=int, metavar="N",
                        help="utterances per epoch (default: the whole train split)")
    parser.add_argument("--subset", type=int, default=32, help="test sentences measured (default: %(default)s)")
    args = parser.parse_args(argv)
    if min(args.epochs) < 1 or args.subset < 1 or min(args.weights) <= 0 or (args.epoch_utterances or 1) < 1:
        parser.error("epochs, --subset and --epoch-utterances must be at least 1, --weights above 0")
    corpus = args.corpus if args.corpus is not None else build_corpus([student_slt.RECIPE.voice], n=None)
    run(corpus, args.out, seeds=args.seeds, weights=args.weights, epochs=args.epochs,
        epoch_utterances=args.epoch_utterances, subset=args.subset)
    print((args.out / "results.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
