"""Recipe of the ``tacotron2-slt-student`` preset: a Tacotron 2 with under a quarter of
``tacotron2-slt``'s parameters that learns its attention from it (attention distillation).

    python -m tfspeech.recipes.student_slt --epochs 20                   # distilled from tacotron2-slt
    python -m tfspeech.recipes.student_slt --distill-weight 0 --out DIR  # the same student without it
    python -m tfspeech.recipes.student_slt --evaluate                    # figures, preset, card
    python -m tfspeech.recipes.student_slt --warm-start RUN --output-distill-weight 1 --dropout 0.1 \
        --learning-rate 5e-4 --out DIR                                   # a second stage from RUN's model

The shipped preset is three stages of 20 epochs (9,520 steps, ≈1.5 h each on 2 CPU cores), ``R``
being ``<cache>/runs/tacotron2-slt-student``:

    python -m tfspeech.recipes.student_slt                               # 1: attention distillation
    python -m tfspeech.recipes.student_slt --warm-start R --output-distill-weight 1 --dropout 0.1 \
        --learning-rate 5e-4 --out R-stage2                              # 2: + output distillation
    python -m tfspeech.recipes.student_slt --warm-start R-stage2 --output-distill-weight 1 --dropout 0 \
        --learning-rate 5e-4 --out R-stage3                              # 3: no encoder/postnet dropout
    python -m tfspeech.recipes.student_slt --evaluate --out R-stage3      # the preset, into zoo/

Training is ``tts_training.train`` on a ``DistilledTacotron2``: the frozen teacher runs
teacher-forced on every batch and its alignments are soft targets for the student's
(``tfspeech.models.distilled_tacotron2``). The teacher is loaded before the seed is set, so a
run with ``--distill-weight 0`` starts from the same weights and sees the same batches.
An "epoch" is ``--epoch-utterances`` utterances (default: the whole train split) in batches of
``--batch-size``; checkpoints come every ``--checkpoint-every`` steps (default: one epoch).
The run's teacher, weights, seed and the options below are kept in ``<out>/distillation.json``;
resuming with other ones is refused.

A second stage continues a finished run (``--warm-start``: its ``model.keras``) in a new folder,
optionally with output distillation (``--output-distill-weight``: the squared error to the
teacher's teacher-forced mels joins the losses), less encoder and postnet dropout (``--dropout``)
and another peak learning rate (``--learning-rate``); the schedule starts afresh.

The student decodes 6 frames a step, twice the teacher's r = 3, and learns the mean alignment of
each pair of teacher steps: per-step overhead, not width, sets the decoder's speed at these
sizes. Untrained, through LiteRT on one thread (cores loaded by other runs), this config at
r = 6 took 0.13 ms per frame against the teacher's 0.51 (3.9×); at r = 3 it took 0.24 against
0.48 (2.0×), short of the 3× the preset is for.

``--evaluate`` writes the preset with ``tts_evaluation`` (a plain ``Tacotron2``) and adds to its
card the teacher measured on the same sentences and the TFLite exports (``student_evaluation``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import keras

from tfspeech import zoo
from tfspeech.audio.features import MelConfig
from tfspeech.data.corpus import build_corpus, default_cache_dir
from tfspeech.data.layout import read_corpus
from tfspeech.models.distilled_tacotron2 import DistilledTacotron2
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import student_evaluation, tts_evaluation, tts_training
from tfspeech.recipes.strategy import add_strategy_option

TEACHER = "tacotron2-slt"
DISTILL_WEIGHT = 1.0
EPOCHS = 20
SETTINGS_FILE = "distillation.json"
SETTING_DEFAULTS = {"output_distill_weight": 0.0, "warm_start": None, "dropout": None, "learning_rate": None}

CONFIG = {  # tacotron2-slt's layout, narrower, r = 6: 798,721 parameters, 24.6% of the teacher's 3,243,761
    "symbols": "phonemes",
    "mel_config": MelConfig().to_dict(),
    "reduction_factor": 6,
    "embedding_dim": 64,
    "encoder_filters": 96,
    "encoder_kernel_size": 5,
    "encoder_layers": 3,
    "encoder_dropout": 0.5,
    "encoder_rnn_units": 64,
    "attention": "location",
    "attention_units": 64,
    "attention_options": {"filters": 16, "kernel_size": 31},
    "prenet_units": [64, 64],
    "prenet_dropout": 0.5,
    "attention_rnn_units": 128,
    "decoder_rnn_units": 128,
    "decoder_dropout": 0.1,
    "postnet_filters": 48,
    "postnet_kernel_size": 5,
    "postnet_layers": 5,
    "postnet_dropout": 0.5,
    "max_frames": 1000,
    "guided_attention_weight": 0.0,  # the teacher's alignments guide it instead
    "learning_rate": 1e-3,
}

FULL_EPOCH_STEPS = 476  # the 7,610 train utterances of the whole slt corpus in batches of 16
RECIPE = tts_training.Recipe(
    preset="tacotron2-slt-student", module="tfspeech.recipes.student_slt",
    model_class=Tacotron2, config=CONFIG, voice="festival:cmu_us_slt_arctic_hts",
    steps=EPOCHS * FULL_EPOCH_STEPS, batch_size=16, checkpoint_every=FULL_EPOCH_STEPS)


@dataclass(frozen=True)
class StudentRecipe(tts_training.Recipe):
    """The student's training recipe; with ``warm_start`` (a finished run folder) the model starts
    from that run's ``model.keras`` weights (a resumed run then restores its own checkpoint)."""

    warm_start: str | None = None

    def build_model(self):
        model = super().build_model()
        if self.warm_start is not None:
            model.set_weights(keras.saving.load_model(_finished_model(self.warm_start), compile=False).get_weights())
        return model


def config_overrides(settings: dict) -> dict:
    """The changes a run's settings make to ``CONFIG``: ``dropout`` (encoder and postnet) and ``learning_rate``."""
    overrides = {}
    if settings.get("dropout") is not None:
        overrides.update(encoder_dropout=settings["dropout"], postnet_dropout=settings["dropout"])
    if settings.get("learning_rate") is not None:
        overrides["learning_rate"] = settings["learning_rate"]
    return overrides


def evaluation_recipe(settings: dict) -> tts_training.Recipe:
    """``RECIPE`` (a plain ``Tacotron2``) with the run's config: what its preset holds."""
    return dataclasses.replace(RECIPE, config={**CONFIG, **config_overrides(settings)})


def training_recipe(teacher, distill_weight: float, output_distill_weight: float = 0.0,
                    settings: dict | None = None) -> StudentRecipe:
    """``RECIPE`` training a ``DistilledTacotron2`` against ``teacher`` (a loaded model), with the
    run's ``settings`` (``config_overrides``, ``warm_start``)."""
    settings = {**SETTING_DEFAULTS, **(settings or {})}
    config = {**CONFIG, **config_overrides(settings), "teacher": teacher, "distillation_weight": distill_weight,
              "output_distillation_weight": output_distill_weight}
    fields = {f.name: getattr(RECIPE, f.name) for f in dataclasses.fields(RECIPE)}
    return StudentRecipe(**{**fields, "model_class": DistilledTacotron2, "config": config,
                            "command_options": _command_options(distill_weight, output_distill_weight, settings)},
                         warm_start=settings["warm_start"])


def _command_options(distill_weight: float, output_distill_weight: float, settings: dict) -> str:
    """The options (other than the defaults) that trained a run, for its recorded command."""
    options = [] if distill_weight == DISTILL_WEIGHT else [f"--distill-weight {distill_weight:g}"]
    if output_distill_weight:
        options.append(f"--output-distill-weight {output_distill_weight:g}")
    if settings["warm_start"] is not None:
        options.append(f"--warm-start <{Path(settings['warm_start']).name}>")
    for name in ("dropout", "learning_rate"):
        if settings[name] is not None:
            options.append(f"--{name.replace('_', '-')} {settings[name]:g}")
    return " ".join(options)


def _finished_model(run_dir) -> Path:
    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: --warm-start takes a finished run of `python -m {RECIPE.module}`")
    return path


def steps_per_epoch(corpus_dir, batch_size: int, epoch_utterances: int | None = None) -> int:
    """Steps of one epoch: ``epoch_utterances`` (default: the voice's train split) / batch, rounded up."""
    utterances = epoch_utterances or sum(u.speaker == RECIPE.voice for u in read_corpus(corpus_dir, "train"))
    if utterances < 1:
        raise ValueError(f"{corpus_dir} has no train utterance of {RECIPE.voice}")
    return math.ceil(utterances / batch_size)


def train(corpus_dir, out_dir, *, epochs: int, steps: int | None = None, distill_weight: float = DISTILL_WEIGHT,
          output_distill_weight: float = 0.0, warm_start=None, dropout: float | None = None,
          learning_rate: float | None = None, teacher: str = TEACHER, batch_size: int = RECIPE.batch_size,
          epoch_utterances: int | None = None, checkpoint_every: int | None = None, strategy: str = "default",
          seed: int = 0, zoo_root=None, verbose: int = 1):
    """Trains (or resumes) the student for ``epochs`` epochs (or ``steps`` steps, rounded up to a
    checkpoint); returns the ``DistilledTacotron2``. ``warm_start``, ``dropout``, ``learning_rate``:
    see the module's docstring."""
    out_dir = Path(out_dir)
    epoch_steps = steps_per_epoch(corpus_dir, batch_size, epoch_utterances)
    checkpoint_every = checkpoint_every or epoch_steps
    distilling = distill_weight > 0 or output_distill_weight > 0
    settings = {"teacher": teacher if distilling else None, "distill_weight": distill_weight, "seed": seed,
                "batch_size": batch_size, "epoch_steps": epoch_steps, "output_distill_weight": output_distill_weight,
                "warm_start": None if warm_start is None else str(Path(warm_start).resolve()),
                "dropout": dropout, "learning_rate": learning_rate}
    if warm_start is not None:
        settings["warm_start_training"] = _warm_start_training(warm_start)
    _keep_settings(out_dir, settings)
    teacher_model = zoo.load(teacher, root=zoo_root, compile=False) if distilling else None
    return tts_training.train(training_recipe(teacher_model, distill_weight, output_distill_weight, settings),
                              corpus_dir, out_dir, steps=steps or epochs * epoch_steps, batch_size=batch_size,
                              checkpoint_every=checkpoint_every, strategy=strategy, seed=seed, verbose=verbose)


def _warm_start_training(run_dir) -> dict:
    """What trained the warm-start run: its command and steps (``training.json``) and its settings."""
    _finished_model(run_dir)
    record = json.loads((Path(run_dir) / "training.json").read_text(encoding="utf-8"))
    return {"command": record["command"], "steps": record["steps"], "settings": read_settings(run_dir)}


def read_settings(out_dir) -> dict:
    """The run's ``distillation.json`` (teacher, weight, seed, batch, steps per epoch)."""
    path = Path(out_dir) / SETTINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {out_dir} is not a run of `python -m {RECIPE.module}`")
    return json.loads(path.read_text(encoding="utf-8"))


def _keep_settings(out_dir: Path, settings: dict) -> None:
    """Writes ``settings`` to the run's ``distillation.json``, or refuses other ones than a run has."""
    path = out_dir / SETTINGS_FILE
    if path.is_file():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        changed = {k: (earlier.get(k, SETTING_DEFAULTS.get(k)), v) for k, v in settings.items()
                   if earlier.get(k, SETTING_DEFAULTS.get(k)) != v}
        if changed:
            differences = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
            raise ValueError(f"{out_dir} is a run with other settings ({differences}); resume it with its own, "
                             "or train into another --out")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {RECIPE.module}",
        description=f"Train the {RECIPE.preset} preset (a small Tacotron 2) with attention distillation from "
                    f"{TEACHER}. Run the same command again to resume after an interruption.")
    parser.add_argument("--corpus", type=Path, help=f"a built corpus folder (default: every WordNet sentence for "
                                                    f"{RECIPE.voice}, cached; with --evaluate, the run's own)")
    parser.add_argument("--out", type=Path, help=f"run folder (default: <cache>/runs/{RECIPE.preset})")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=EPOCHS, help="epochs to train (default: %(default)s)")
    length.add_argument("--steps", type=int, help="optimizer steps to train instead (as training.json records them)")
    parser.add_argument("--epoch-utterances", type=int, metavar="N",
                        help="utterances per epoch (default: the whole train split)")
    parser.add_argument("--batch-size", type=int, default=RECIPE.batch_size, help="global batch (default: %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="steps between checkpoints "
                                                                              "(default: one epoch)")
    parser.add_argument("--distill-weight", type=float, default=DISTILL_WEIGHT,
                        help="weight of the attention-distillation loss; 0 trains without the teacher "
                             "(default: %(default)s)")
    parser.add_argument("--teacher", default=TEACHER,
                        help="the teacher's zoo preset; with --evaluate, the model compared with when the run "
                             "had no teacher (default: %(default)s)")
    parser.add_argument("--output-distill-weight", type=float, default=0.0,
                        help="weight of the squared error to the teacher's teacher-forced mels (default: %(default)s)")
    parser.add_argument("--warm-start", type=Path, metavar="RUN",
                        help="start from this finished run's model.keras (a second stage; train into a new --out)")
    parser.add_argument("--dropout", type=float, metavar="RATE",
                        help=f"encoder and postnet dropout (default: {CONFIG['encoder_dropout']:g})")
    parser.add_argument("--learning-rate", type=float, metavar="LR",
                        help=f"peak learning rate (default: {CONFIG['learning_rate']:g})")
    add_strategy_option(parser)
    parser.add_argument("--seed", type=int, default=0,
                        help="weights and data order; with --evaluate, the held-out draw (default: %(default)s)")
    evaluation = parser.add_argument_group("evaluation", "measure the run and write its preset")
    evaluation.add_argument("--evaluate", action="store_true", help="do not train: evaluate the run and write "
                                                                    "the preset")
    evaluation.add_argument("--evaluate-subset", type=int, default=tts_evaluation.DEFAULT_SUBSET, metavar="N",
                            help="held-out sentences (default: %(default)s)")
    evaluation.add_argument("--finetune-steps", type=int, default=tts_evaluation.FINETUNE_STEPS, metavar="N",
                            help="fit steps of the fine-tuning check (0: skip; default: %(default)s)")
    evaluation.add_argument("--zoo", type=Path, help="zoo folder for the preset (default: zoo/ for a finished "
                                                     f"run, <out>/{tts_evaluation.PREVIEW_ZOO} otherwise)")
    args = parser.parse_args(argv)
    for name in ("epochs", "steps", "batch_size", "evaluate_subset", "epoch_utterances", "checkpoint_every"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(args.distill_weight, args.output_distill_weight, args.finetune_steps) < 0:
        parser.error("--distill-weight, --output-distill-weight and --finetune-steps must be 0 or more")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        parser.error("--dropout must be in [0, 1)")
    if args.learning_rate is not None and args.learning_rate <= 0:
        parser.error("--learning-rate must be positive")
    out = args.out if args.out is not None else default_cache_dir() / "runs" / RECIPE.preset
    if args.evaluate:
        settings = read_settings(out)
        folder = student_evaluation.evaluate_run(evaluation_recipe(settings), out, settings=settings, teacher=args.teacher,
                                                 corpus_dir=args.corpus, zoo_root=args.zoo, subset=args.evaluate_subset,
                                                 seed=args.seed, finetune_steps=args.finetune_steps)
        print(f"preset written: {folder}")
        return 0
    if args.warm_start is not None and args.warm_start.resolve() == out.resolve():
        parser.error("--warm-start is the run to start from: train into another --out")
    corpus = args.corpus if args.corpus is not None else build_corpus([RECIPE.voice], n=None)
    train(corpus, out, epochs=args.epochs, steps=args.steps, distill_weight=args.distill_weight,
          output_distill_weight=args.output_distill_weight, warm_start=args.warm_start, dropout=args.dropout,
          learning_rate=args.learning_rate, teacher=args.teacher,
          batch_size=args.batch_size, epoch_utterances=args.epoch_utterances,
          checkpoint_every=args.checkpoint_every, strategy=args.strategy, seed=args.seed)
    print(f"trained model: {out / 'model.keras'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
