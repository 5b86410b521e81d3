"""The seed's attention-distillation experiment: the student with and without distillation.

Every arm over several seeds, measured by free-running attention and stopping after a few epochs.

    python -m tfspeech.recipes.distillation_experiment --out DIR   # seeds 0 1 2 × weights 1, 0 × epochs 1 2 4
    python -m tfspeech.recipes.distillation_experiment --out DIR --card zoo/tacotron2-slt-student

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
every weight) and ``DIR/results.md`` (the table). ``--card PRESET_DIR`` then puts the table, the
goal (the distilled student after its first epoch at least as focused and as often stopping as
the undistilled one after its last) and both plots into that preset's ``CARD.md`` (its own
section, replaced on a rerun).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
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
SETTINGS = "experiment.json"
CARD_SECTION = "## Attention distillation: the student with and without it"


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
    (out_dir / SETTINGS).write_text(json.dumps(
        {"subset": subset, "batch_size": batch_size, "teacher": teacher,
         "epoch_steps": student_slt.steps_per_epoch(corpus_dir, batch_size, epoch_utterances)}) + "\n",
        encoding="utf-8")
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


def goal(results: dict) -> dict:
    """Per distillation weight: do its seeds' mean focus rate and stop share after the first
    epoch reach the undistilled arm's after its last? ``{weight: {figure: (distilled, undistilled,
    met)}}``."""
    def mean(weight, epoch, name):
        return float(np.mean([arm[str(epoch)][name] for arm in results[weight].values() if str(epoch) in arm]))

    epochs = sorted({int(e) for seeds in results.values() for arm in seeds.values() for e in arm})
    verdict = {}
    for weight in (w for w in results if float(w) > 0):
        verdict[weight] = {}
        for name in (FIGURES[0], FIGURES[2]):
            distilled, alone = mean(weight, epochs[0], name), mean("0", epochs[-1], name)
            verdict[weight][name] = (distilled, alone, distilled >= alone)
    return verdict


def card_section(results: dict, settings: dict, command: str) -> str:
    """The preset card's section on the experiment: settings, table, goal, plots."""
    epochs = sorted({int(e) for seeds in results.values() for arm in seeds.values() for e in arm})
    weights = sorted((float(w) for w in results if float(w) > 0), reverse=True)
    seeds = sorted({int(seed) for arms in results.values() for seed in arms})
    table = (Path(settings["out_dir"]) / "results.md").read_text(encoding="utf-8").strip()
    lines = []
    for weight, figures in goal(results).items():
        parts = [f"{name.replace('_', ' ')} {d:.3f} vs {a:.3f}" for name, (d, a, _) in figures.items()]
        met = all(m for _, _, m in figures.values())
        lines.append(f"- weight {weight}: after epoch {epochs[0]} " + ", ".join(parts) +
                     f" (undistilled after epoch {epochs[-1]}): {'met' if met else '**not met**'}")
    verdict = "\n".join(lines)
    return f"""
{CARD_SECTION}

The seed's experiment: this student from the same initialization and the same batches per seed,
trained with the attention-distillation term (weights {", ".join(f"{w:g}" for w in weights)},
teacher `{settings["teacher"]}`) and without it (weight 0), seeds {", ".join(map(str, seeds))};
an epoch is {settings["epoch_steps"]} steps of {settings["batch_size"]}. After epochs
{", ".join(map(str, epochs))}, {settings["subset"]} unseen test sentences synthesized **free running**:
attention focus rate, diagonality and the share stopping within {tts_metrics.STOP_FACTOR}× the
reference length (mean ± std over the seeds; each point is the end of a run of that many epochs).

{table}

Goal: with distillation, after epoch {epochs[0]}, focus rate and stop share at least the
undistilled student's after epoch {epochs[-1]}:

{verdict}

![focus, diagonality and stopping against epochs](distillation-curves.png)

Seed 0, the first test sentence, after epoch {epochs[0]}:

![alignments after the first epoch](distillation-alignments-epoch-{epochs[0]}.png)

Command: `{command}`
"""


def write_card(out_dir, preset_dir, command: str) -> None:
    """Puts ``card_section`` of the experiment in ``out_dir`` into ``preset_dir/CARD.md`` (replacing
    an earlier one) and copies its two plots beside it."""
    out_dir, preset_dir = Path(out_dir), Path(preset_dir)
    card = preset_dir / "CARD.md"
    if not card.is_file():
        raise FileNotFoundError(f"{card} does not exist: write the preset first (python -m "
                                f"{student_slt.RECIPE.module} --evaluate)")
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    settings = {**json.loads((out_dir / SETTINGS).read_text(encoding="utf-8")), "out_dir": str(out_dir)}
    first = min(int(e) for seeds in results.values() for arm in seeds.values() for e in arm)
    shutil.copyfile(out_dir / "curves.png", preset_dir / "distillation-curves.png")
    shutil.copyfile(out_dir / f"alignments-epoch-{first}.png",
                    preset_dir / f"distillation-alignments-epoch-{first}.png")
    text = card.read_text(encoding="utf-8")
    if CARD_SECTION in text:
        start = text.index(CARD_SECTION)
        following = text.find("\n## ", start + len(CARD_SECTION))
        text = text[:start].rstrip("\n") + "\n" + (text[following:] if following >= 0 else "")
    partial = card.with_name(f".{card.name}.partial")
    partial.write_text(text.rstrip("\n") + "\n" + card_section(results, settings, command), encoding="utf-8")
    os.replace(partial, card)


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
    parser.add_argument("--card", type=Path, metavar="PRESET_DIR",
                        help="afterwards, put the table, goal and plots into this preset folder's CARD.md")
    args = parser.parse_args(argv)
    if min(args.epochs) < 1 or args.subset < 1 or min(args.weights) <= 0 or (args.epoch_utterances or 1) < 1:
        parser.error("epochs, --subset and --epoch-utterances must be at least 1, --weights above 0")
    corpus = args.corpus if args.corpus is not None else build_corpus([student_slt.RECIPE.voice], n=None)
    run(corpus, args.out, seeds=args.seeds, weights=args.weights, epochs=args.epochs,
        epoch_utterances=args.epoch_utterances, subset=args.subset)
    print((args.out / "results.md").read_text(encoding="utf-8"))
    if args.card is not None:
        write_card(args.out, args.card, "python -m tfspeech.recipes.distillation_experiment " + " ".join(
            a if not Path(a).is_absolute() else "<" + Path(a).name + ">" for a in (argv if argv is not None
                                                                                   else sys.argv[1:])))
        print(f"card updated: {args.card / 'CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
