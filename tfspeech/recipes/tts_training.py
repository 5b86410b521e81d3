"""The training run behind the TTS recipes (``python -m tfspeech.recipes.tacotron2_slt`` ...).

A recipe fixes a preset's model config, voice and schedule; this module turns it into a
``model.fit`` run on the ``tfspeech.data.tts_pipeline`` batches of a built corpus:

- scheduled: Adam at the model's ``learning_rate`` for the first 60% of the steps, then
  decayed exponentially to a tenth of it at the last step (``callbacks.late_decay``; set per
  checkpoint interval from the interval's index, so a resumed run follows the same schedule);
- resumable: training is cut into "epochs" of ``--checkpoint-every`` steps, each ending in
  a ``keras.callbacks.BackupAndRestore`` checkpoint (weights, optimizer, epoch), so a
  killed run, started again with the same command, loses at most one interval; a finished
  run started again does nothing;
- observable: Keras' progress bar, TensorBoard scalars (every loss term) and, at every
  checkpoint, images of one utterance's alignment and mels (``<out>/logs``);
- distributable: ``--strategy mirrored`` (all local GPUs) or ``multi-worker`` (machines
  listed in ``TF_CONFIG``) run the same code under ``tf.distribute``; ``--batch-size`` is
  the global batch (``tfspeech.recipes.strategy``). The chief writes the run folder; every
  other worker only its own backup, ``backup.worker-<index>``.

Outputs in ``--out``: ``model.keras`` (the trained model), ``training.json`` (command,
steps, wall time, hardware, data fingerprint; rewritten at every checkpoint), ``backup/``
and ``logs/``.

``--evaluate`` measures the run instead (finished, or its latest checkpoint while it trains)
and writes the zoo preset: see ``tfspeech.recipes.tts_evaluation``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig
from tfspeech.data.corpus import build_corpus, default_cache_dir
from tfspeech.data.layout import MANIFEST, read_corpus
from tfspeech.data.tts_pipeline import tts_dataset
from tfspeech.plots import matrix_png
from tfspeech.recipes import tts_evaluation
from tfspeech.recipes.callbacks import AtomicBackupAndRestore, late_decay
from tfspeech.recipes.strategy import STRATEGIES, add_strategy_option, is_chief, make_strategy, worker_path
from tfspeech.recipes.tts_recipe import Recipe, corpus_fingerprint
from tfspeech.text import TextEncoder

__all__ = ["STRATEGIES", "Recipe", "corpus_fingerprint", "main", "make_strategy", "train"]


def main(recipe: Recipe, argv: list[str] | None = None, *, own_evaluation: bool = False) -> int:
    """Command line of a recipe module (see ``--help``).

    ``own_evaluation``: the recipe module handles ``--evaluate`` itself (its ``--evaluate --help``
    lists the options); the training help then names ``--evaluate`` alone.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {recipe.module}",
        description=f"Train the {recipe.preset} preset ({recipe.model_class.__name__}) on the {recipe.voice} "
                    "corpus. Run the same command again to resume after an interruption.")
    parser.add_argument("--corpus", type=Path,
                        help=f"a built corpus folder (default: build one with "
                             f"{recipe.corpus_sentences or 'every'} WordNet sentence(s) for "
                             f"{', '.join(recipe.training_voices)}, cached; with --evaluate, the run's own)")
    parser.add_argument("--out", type=Path, help=f"run folder (default: <cache>/runs/{recipe.preset})")
    parser.add_argument("--steps", type=int, default=recipe.steps,
                        help="optimizer steps; the learning rate decays to a tenth over the last 40%% "
                             "(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=recipe.batch_size,
                        help="global batch size (default: %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=recipe.checkpoint_every,
                        help="steps between checkpoints and TensorBoard images (default: %(default)s)")
    add_strategy_option(parser)
    parser.add_argument("--seed", type=int, default=0,
                        help="weights and data order; with --evaluate, the held-out draw (default: %(default)s)")
    if own_evaluation:
        parser.add_argument("--evaluate", action="store_true",
                            help=f"do not train: measure the run and write the preset (see "
                                 f"'python -m {recipe.module} --evaluate --help' for its options)")
        return _train_or_refuse(parser, recipe, parser.parse_args(argv))
    evaluation = parser.add_argument_group(
        "evaluation", "measure the run on held-out sentences and write its zoo preset "
                      "(tfspeech.recipes.tts_evaluation)")
    evaluation.add_argument("--evaluate", action="store_true",
                            help="do not train: evaluate the run (model.keras when finished, else its latest "
                                 "checkpoint) and write the preset")
    evaluation.add_argument("--evaluate-subset", type=int, default=tts_evaluation.DEFAULT_SUBSET, metavar="N",
                            help="held-out sentences drawn from the corpus's test split (default: %(default)s)")
    evaluation.add_argument("--finetune-steps", type=int, default=tts_evaluation.FINETUNE_STEPS, metavar="N",
                            help=f"fit steps of the fine-tuning check on {tts_evaluation.FINETUNE_VOICE} "
                                 "(0: skip it; default: %(default)s)")
    evaluation.add_argument("--zoo", type=Path,
                            help="zoo folder for the preset (default: the repository's zoo/ for a finished run, "
                                 f"<out>/{tts_evaluation.PREVIEW_ZOO} for a run in progress)")
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "checkpoint_every", "evaluate_subset"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.finetune_steps < 0:
        parser.error("--finetune-steps must be 0 (skip) or more")
    if args.evaluate:
        folder = tts_evaluation.evaluate_run(recipe, _run_dir(recipe, args), corpus_dir=args.corpus,
                                             zoo_root=args.zoo, subset=args.evaluate_subset, seed=args.seed,
                                             finetune_steps=args.finetune_steps)
        print(f"preset written: {folder}")
        return 0
    return _train_or_refuse(parser, recipe, args)


def _run_dir(recipe: Recipe, args) -> Path:
    return args.out if args.out is not None else default_cache_dir() / "runs" / recipe.preset


def _train_or_refuse(parser, recipe: Recipe, args) -> int:
    """Trains as ``args`` say (refusing bad numbers); ``--evaluate`` must have been handled already."""
    if args.evaluate:  # an abbreviation (--eval) reached the training parser of a recipe that evaluates itself
        parser.error("write --evaluate in full: this recipe's evaluation has its own options")
    for name in ("steps", "batch_size", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    out = _run_dir(recipe, args)
    corpus = args.corpus if args.corpus is not None else build_corpus(list(recipe.training_voices),
                                                                       n=recipe.corpus_sentences)
    train(recipe, corpus, out, steps=args.steps, batch_size=args.batch_size,
          checkpoint_every=args.checkpoint_every, strategy=args.strategy, seed=args.seed)
    print(f"trained model: {Path(out) / 'model.keras'}")
    return 0


def train(recipe: Recipe, corpus_dir, out_dir, *, steps: int, batch_size: int, checkpoint_every: int,
          strategy: str = "default", seed: int = 0, verbose: int = 1) -> keras.Model:
    """Trains (or resumes) ``recipe``'s model on ``corpus_dir``; returns the trained model.

    ``steps`` is rounded up to a multiple of ``checkpoint_every``.
    """
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    if not (corpus_dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{corpus_dir} is not a built corpus (no {MANIFEST}); build one with "
                                f"`tfspeech corpus build --voices {recipe.voice}`")
    out_dir.mkdir(parents=True, exist_ok=True)
    distribution = make_strategy(strategy)
    keras.utils.set_random_seed(seed)
    train_data = _dataset(recipe, corpus_dir, "train", batch_size, seed, shuffle=True)
    validation = _dataset(recipe, corpus_dir, "validation", batch_size, seed, shuffle=False)
    with distribution.scope():
        model = recipe.build_model()
        model.compile(**model.default_compile_args())
    epochs = math.ceil(steps / checkpoint_every)
    image_batch = next(iter((validation or train_data).take(1)))
    callbacks = [
        *recipe.callbacks(train_data),  # first: what they change at an epoch's end is in its checkpoint
        AtomicBackupAndRestore(str(worker_path(out_dir / "backup", distribution)), delete_checkpoint=False),
        late_decay(model.learning_rate, total_steps=epochs * checkpoint_every, steps_per_epoch=checkpoint_every),
        keras.callbacks.TerminateOnNaN(),
    ]
    if is_chief(distribution):
        callbacks[-1:-1] = [
            keras.callbacks.TensorBoard(str(out_dir / "logs"), update_freq=max(1, min(50, checkpoint_every))),
            AlignmentImages(out_dir / "logs" / "images", image_batch),
            RunRecord(out_dir / "training.json", recipe, corpus_dir, batch_size, checkpoint_every, strategy,
                      distribution, target_steps=epochs * checkpoint_every),
        ]
    model.fit(train_data.repeat(), epochs=epochs, steps_per_epoch=checkpoint_every, callbacks=callbacks,
              validation_data=validation, shuffle=False, verbose=verbose)
    if is_chief(distribution):
        model.save(out_dir / "model.keras")
    return model


def _dataset(recipe: Recipe, corpus_dir: Path, split: str, batch_size: int, seed: int, shuffle: bool):
    """The split's batches, or None for an empty validation split (tiny corpora)."""
    if split == "validation" and not read_corpus(corpus_dir, split):
        return None
    config = recipe.config
    return tts_dataset(corpus_dir, split, symbols=config.get("symbols", "characters"),
                       mel_config=MelConfig.from_dict(config.get("mel_config", {})),
                       reduction_factor=config.get("reduction_factor", 1), batch_size=batch_size, shuffle=shuffle,
                       seed=seed, linear=recipe.linear, max_frames=config.get("max_frames"),
                       speakers=list(recipe.training_voices))


class AlignmentImages(keras.callbacks.Callback):
    """At every epoch end, TensorBoard images of the first utterance of ``batch`` (teacher-forced):
    its alignment (text × decoder steps) and its target and predicted mels."""

    def __init__(self, log_dir, batch):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.inputs, self.targets = batch

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model(self.inputs, training=False)
        text_length = int(np.sum(self.inputs["text"][0].numpy() != TextEncoder.pad_id))
        frames = int(self.inputs["mel_lengths"][0])
        steps = math.ceil(frames / self.model.reduction_factor)
        alignment = outputs["alignments"][0, :steps, :text_length].numpy()
        mels = [self.targets["mels"][0, :frames].numpy().T, outputs["mels"][0, :frames].numpy().T]
        step = int(self.model.optimizer.iterations.numpy())
        with self.writer.as_default(step=step):
            tf.summary.image("alignment", _image(matrix_png(alignment.T, ["alignment"], "decoder step", "text")))
            tf.summary.image("mels", _image(matrix_png(mels, ["target", "predicted"], "frame", "mel bin")))
        self.writer.flush()


class RunRecord(keras.callbacks.Callback):
    """Writes ``training.json`` at every epoch end: steps so far, cumulative wall time, last logs,
    and the command of the whole run (its ``--steps`` is the target, which the schedule depends on)."""

    def __init__(self, path, recipe: Recipe, corpus_dir: Path, batch_size, checkpoint_every, strategy, distribution,
                 *, target_steps: int):
        super().__init__()
        self.path = Path(path)
        earlier = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.previous_wall_time = float(earlier.get("wall_time_s", 0.0))
        self.record = {
            "preset": recipe.preset,
            "command": f"python -m {recipe.module} --corpus <{corpus_dir.name}> --batch-size {batch_size} "
                       f"--checkpoint-every {checkpoint_every} --strategy {strategy} --steps {target_steps}"
                       + (f" {recipe.command_options}" if recipe.command_options else ""),
            "batch_size": batch_size,
            "data": {"corpus": corpus_dir.name, "voice": recipe.voice, "voices": list(recipe.training_voices),
                     "fingerprint": corpus_fingerprint(corpus_dir)},
            "hardware": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                         "cpu_count": os.cpu_count(), "replicas": distribution.num_replicas_in_sync,
                         "gpus": len(tf.config.list_physical_devices("GPU"))},
        }

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        steps = int(self.model.optimizer.iterations.numpy())
        record = {**self.record, "steps": steps,
                  "wall_time_s": round(self.previous_wall_time + time.monotonic() - self.start, 1),
                  "logs": {k: float(v) for k, v in (logs or {}).items()}}
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(partial, self.path)


def _image(png: bytes) -> tf.Tensor:
    return tf.image.decode_png(png, channels=4)[tf.newaxis]
