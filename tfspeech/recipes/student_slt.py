"""Recipe of the ``tacotron2-slt-student`` preset: a Tacotron 2 with under a quarter of
``tacotron2-slt``'s parameters that learns its attention from it (attention distillation).

    python -m tfspeech.recipes.student_slt --epochs 20                   # distilled from tacotron2-slt
    python -m tfspeech.recipes.student_slt --distill-weight 0 --out DIR  # the same student without it
    python -m tfspeech.recipes.student_slt --evaluate                    # figures, preset, card

Training is ``tts_training.train`` on a ``DistilledTacotron2``: the frozen teacher runs
teacher-forced on every batch and its alignments are soft targets for the student's
(``tfspeech.models.distilled_tacotron2``). The teacher is loaded before the seed is set, so a
run with ``--distill-weight 0`` starts from the same weights and sees the same batches.
An "epoch" is ``--epoch-utterances`` utterances (default: the whole train split) in batches of
``--batch-size``; checkpoints come every ``--checkpoint-every`` steps (default: one epoch).
The run's teacher, weight and seed are kept in ``<out>/distillation.json``; resuming with other
ones is refused.

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
from pathlib import Path

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


def training_recipe(teacher, distill_weight: float) -> tts_training.Recipe:
    """``RECIPE`` training a ``DistilledTacotron2`` of the same config against ``teacher`` (a loaded model)."""
    config = {**CONFIG, "teacher": teacher, "distillation_weight": distill_weight}
    return dataclasses.replace(RECIPE, model_class=DistilledTacotron2, config=config)


def steps_per_epoch(corpus_dir, batch_size: int, epoch_utterances: int | None = None) -> int:
    """Steps of one epoch: ``epoch_utterances`` (default: the voice's train split) / batch, rounded up."""
    utterances = epoch_utterances or sum(u.speaker == RECIPE.voice for u in read_corpus(corpus_dir, "train"))
    if utterances < 1:
        raise ValueError(f"{corpus_dir} has no train utterance of {RECIPE.voice}")
    return math.ceil(utterances / batch_size)


def train(corpus_dir, out_dir, *, epochs: int, steps: int | None = None, distill_weight: float = DISTILL_WEIGHT,
          teacher: str = TEACHER, batch_size: int = RECIPE.batch_size, epoch_utterances: int | None = None,
          checkpoint_every: int | None = None, strategy: str = "default", seed: int = 0, zoo_root=None,
          verbose: int = 1):
    """Trains (or resumes) the student for ``epochs`` epochs (or ``steps`` steps, rounded up to a
    checkpoint); returns the ``DistilledTacotron2``."""
    out_dir = Path(out_dir)
    epoch_steps = steps_per_epoch(corpus_dir, batch_size, epoch_utterances)
    checkpoint_every = checkpoint_every or epoch_steps
    _keep_settings(out_dir, {"teacher": teacher if distill_weight > 0 else None, "distill_weight": distill_weight,
                             "seed": seed, "batch_size": batch_size, "epoch_steps": epoch_steps})
    teacher_model = zoo.load(teacher, root=zoo_root, compile=False) if distill_weight > 0 else None
    return tts_training.train(training_recipe(teacher_model, distill_weight), corpus_dir, out_dir,
                              steps=steps or epochs * epoch_steps, batch_size=batch_size,
                              checkpoint_every=checkpoint_every, strategy=strategy, seed=seed, verbose=verbose)


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
        changed = {k: (earlier.get(k), v) for k, v in settings.items() if earlier.get(k) != v}
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
    if args.distill_weight < 0 or args.finetune_steps < 0:
        parser.error("--distill-weight and --finetune-steps must be 0 or more")
    out = args.out if args.out is not None else default_cache_dir() / "runs" / RECIPE.preset
    if args.evaluate:
        folder = student_evaluation.evaluate_run(RECIPE, out, settings=read_settings(out), teacher=args.teacher,
                                                 corpus_dir=args.corpus, zoo_root=args.zoo, subset=args.evaluate_subset,
                                                 seed=args.seed, finetune_steps=args.finetune_steps)
        print(f"preset written: {folder}")
        return 0
    corpus = args.corpus if args.corpus is not None else build_corpus([RECIPE.voice], n=None)
    train(corpus, out, epochs=args.epochs, steps=args.steps, distill_weight=args.distill_weight, teacher=args.teacher,
          batch_size=args.batch_size, epoch_utterances=args.epoch_utterances,
          checkpoint_every=args.checkpoint_every, strategy=args.strategy, seed=args.seed)
    print(f"trained model: {out / 'model.keras'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
