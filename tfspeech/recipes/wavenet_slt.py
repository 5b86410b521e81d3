"""Train the ``wavenet-slt`` vocoder: a log-mel-conditioned WaveNet on the Festival HTS slt corpus.

::

    python -m tfspeech.recipes.wavenet_slt --run-dir runs/wavenet-slt --zoo zoo

Builds (or reuses) the corpus, caches its log-mels (``MelConfig()``, the features Tacotron 2
predicts), trains on seeded random crops, then measures held-out utterances
(``tfspeech.recipes.vocoder_evaluation``): the log-mel distance of the vocoded audio to the
reference and its intelligibility (CER through ``ctc-multivoice``) next to Griffin-Lim's from
the same mels, with listening samples (WAV) and a spectrogram plot under
``<run-dir>/evaluation``. ``--zoo`` saves the preset and its card.

The run folder survives a kill: ``checkpoint.keras`` (model and optimizer) and
``progress.json`` are replaced atomically after every ``--steps-per-epoch`` steps, and the same
command resumes from them, with the crops an unbroken run would have drawn next. Adam's rate is ``--learning-rate`` for the first 60% of the steps,
then decays exponentially to a tenth of it at the last step. TensorBoard logs go to
``<run-dir>/tensorboard``, each epoch's loss to ``<run-dir>/history.csv``. ``--evaluate`` measures (and with ``--zoo`` saves) the latest
checkpoint without training: a preview preset while the run is unfinished.

``--strategy multi-worker`` trains on the machines of ``TF_CONFIG`` (``tfspeech.recipes.strategy``):
the chief (worker 0) keeps the run folder and alone measures and saves; worker ``i`` keeps its
own checkpoint in ``<run-dir>.worker-<i>`` and stops after training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import sys
from pathlib import Path

import keras

from tfspeech import zoo
from tfspeech.audio import MelConfig
from tfspeech.data.corpus import build_corpus
from tfspeech.data.layout import MANIFEST
from tfspeech.data.vocoder_pipeline import load_utterances, vocoder_dataset
from tfspeech.models.wavenet import WaveNet
from tfspeech.recipes import vocoder_evaluation
from tfspeech.recipes.callbacks import AtomicCheckpoint, TqdmProgress, late_decay
from tfspeech.recipes.run_folder import CHECKPOINT, PROGRESS, finished, needs_training, restore_run
from tfspeech.recipes.strategy import add_strategy_option, check_same_progress, is_chief, make_strategy, worker_path

PRESET_NAME = "wavenet-slt"
VOICE = "festival:cmu_us_slt_arctic_hts"
EVALUATION = "evaluation"  # <run-dir>/evaluation: figures, listening samples, plot
HISTORY = "history.csv"  # <run-dir>/history.csv: each epoch's training loss

# Model sizes. "preset": 2 stacks of 10 layers (receptive field 2,047 samples, 93 ms at
# 22,050 Hz); "tiny": for tests and smoke runs.
SIZES = {
    "preset": dict(
        residual_channels=64, gate_channels=64, skip_channels=128, layers_per_stack=10, stacks=2,
        conditioning_channels=64,
    ),
    "tiny": dict(
        residual_channels=8, gate_channels=8, skip_channels=8, layers_per_stack=4, stacks=1,
        conditioning_channels=8,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfspeech.recipes.wavenet_slt", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--corpus", type=Path, help="a built corpus (default: build the slt corpus, --sentences)")
    parser.add_argument("--sentences", type=int, default=1000, help="sentences of the built slt corpus")
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoints, TensorBoard logs, samples")
    parser.add_argument("--size", choices=sorted(SIZES), default="preset")
    parser.add_argument("--steps", type=int, default=30000, help="total training steps")
    parser.add_argument("--steps-per-epoch", type=int, default=250, help="steps between checkpoints")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment-frames", type=int, default=8, help="mel frames per crop (x hop_length samples)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's rate for the first 60%% of the steps, decayed to a tenth at the end")
    parser.add_argument("--seed", type=int, default=0)
    add_strategy_option(parser)
    parser.add_argument("--eval-utterances", type=int, default=16, help="held-out utterances measured and written")
    parser.add_argument("--eval-frames", type=int,
                        help="vocode only this many mel frames per held-out utterance (default: whole "
                             "utterances, which the CER needs; with --eval-frames no CER is measured)")
    parser.add_argument("--zoo", type=Path, help="save the trained preset into this zoo folder")
    parser.add_argument("--evaluate", action="store_true",
                        help="do not train: measure the run's latest checkpoint (a preview while the run is "
                             "unfinished) and, with --zoo, save it")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Runs the recipe; returns the held-out metrics (none on a worker that is not the chief)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("steps", "steps_per_epoch", "batch_size", "segment_frames", "eval_frames"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    mel_config = MelConfig()
    corpus = args.corpus or build_corpus([VOICE], n=args.sentences, seed=args.seed)
    strategy = make_strategy(args.strategy)
    state_dir = worker_path(args.run_dir, strategy)  # this worker's checkpoint and progress
    state_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)

    with strategy.scope():
        model, done, train_seconds = _restore_or_build(args, state_dir, mel_config)
    check_same_progress(strategy, done)
    epochs = math.ceil(args.steps / args.steps_per_epoch)
    if needs_training(state_dir, done, epochs, args.steps_per_epoch, args.evaluate):
        train = load_utterances(corpus, "train", mel_config, model.quantization_channels)
        dataset = vocoder_dataset(
            corpus, mel_config=mel_config, segment_frames=args.segment_frames, batch_size=args.batch_size,
            seed=args.seed, quantization_channels=model.quantization_channels, utterances=train,
        ).skip(done * args.steps_per_epoch)  # a resumed run goes on with the crops of an unbroken one
        chief_only = [keras.callbacks.TensorBoard(str(args.run_dir / "tensorboard"), update_freq=50),
                      keras.callbacks.CSVLogger(str(args.run_dir / HISTORY), append=True),
                      TqdmProgress(epochs * args.steps_per_epoch, done * args.steps_per_epoch)]
        model.fit(
            dataset,
            epochs=epochs,
            initial_epoch=done,
            steps_per_epoch=args.steps_per_epoch,
            shuffle=False,  # the crops are random already
            verbose=0,
            callbacks=[
                late_decay(args.learning_rate, total_steps=epochs * args.steps_per_epoch,
                           steps_per_epoch=args.steps_per_epoch),
                AtomicCheckpoint(state_dir, args.steps_per_epoch, train_seconds, CHECKPOINT, PROGRESS),
                *(chief_only if is_chief(strategy) else []),
            ],
        )
        done, train_seconds = finished(state_dir)
    if not is_chief(strategy):
        print(f"worker done: {done * args.steps_per_epoch} steps; the chief measures and saves", file=sys.stderr)
        return {}

    held_out = load_utterances(corpus, "test", mel_config, model.quantization_channels)[: args.eval_utterances]
    # Whole utterances: the recognizer can be scored against their texts.
    texts = [utterance.text for utterance in held_out] if args.eval_frames is None else None
    evaluation_dir = args.run_dir / EVALUATION
    metrics = vocoder_evaluation.evaluate(model, held_out, mel_config, max_frames=args.eval_frames,
                                          out_dir=evaluation_dir, texts=texts)
    (evaluation_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    if args.zoo is not None:
        _save_preset(model, args, corpus, metrics, done * args.steps_per_epoch, train_seconds, argv)
    return metrics


def _restore_or_build(args, state_dir: Path, mel_config: MelConfig) -> tuple[WaveNet, int, float]:
    """The checkpointed model, its finished epochs and training seconds, or a new compiled model."""
    restored = restore_run(state_dir, args.steps_per_epoch)
    if restored is not None:
        return restored
    model = WaveNet(**SIZES[args.size], mel_config=mel_config.to_dict())
    model.build_from_preset()
    compile_args = model.default_compile_args()
    compile_args["optimizer"] = keras.optimizers.Adam(args.learning_rate, clipnorm=1.0)
    model.compile(**compile_args)
    return model, 0, 0.0


def _save_preset(model, args, corpus, metrics, trained_steps, train_seconds, argv) -> None:
    fingerprint = hashlib.sha256((Path(corpus) / MANIFEST).read_bytes()).hexdigest()
    argv = list(argv if argv is not None else sys.argv[1:])
    command = "python -m tfspeech.recipes.wavenet_slt " + shlex.join(argv)
    train_command = "python -m tfspeech.recipes.wavenet_slt " + shlex.join(a for a in argv if a != "--evaluate")
    data = {"corpus": VOICE, "sentences": args.sentences, "fingerprint": f"sha256:{fingerprint}"}
    training = {
        "command": train_command,
        "steps": trained_steps,
        "target_steps": args.steps,
        "finished": trained_steps >= args.steps,
        "batch_size": args.batch_size,
        "learning_rate": f"{args.learning_rate:g}, decayed exponentially from 60% of the steps to a tenth",
        "segment_samples": args.segment_frames * model.hop_length,
        "wall_time_s": round(train_seconds, 1),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    values = vocoder_evaluation.flat_metrics(metrics)
    folder = zoo.save_preset(
        model,
        PRESET_NAME,
        root=args.zoo,
        data=data,
        training=training,
        metrics={name: {"value": round(value, 4), "command": command} for name, value in values.items()},
        card=vocoder_evaluation.card(PRESET_NAME, model, metrics, data, training, command),
        overwrite=True,
    )
    shutil.copyfile(args.run_dir / EVALUATION / vocoder_evaluation.PLOT, folder / vocoder_evaluation.PLOT)
    print(f"saved preset {PRESET_NAME} to {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
