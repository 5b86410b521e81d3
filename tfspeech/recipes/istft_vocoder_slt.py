"""Train the ``istft-vocoder-slt`` frame-rate vocoder on the Festival HTS slt corpus.

::

    python -m tfspeech.recipes.istft_vocoder_slt                       # train; run again to resume
    python -m tfspeech.recipes.istft_vocoder_slt --evaluate --zoo zoo  # held-out figures + preset
    python -m tfspeech.recipes.istft_vocoder_slt --stage adversarial   # then the GAN stage

Builds (or reuses) the whole slt corpus (the one tacotron2-slt trains on), caches its log-mels
(``MelConfig()``, the features Tacotron 2 predicts) and trains an ``ISTFTVocoder`` with plain
``fit`` on seeded random crops that carry their mel context, with the reconstruction loss
(multi-resolution STFT, mel L1, compressed complex spectrum). A fixed set of validation crops
gives the held-out loss after every epoch.

``--stage adversarial`` warm-starts from the reconstruction run's checkpoint (``--init-from``)
and fine-tunes against period and resolution discriminators (``VocoderGAN``) in its own run
folder (``...-gan``); its card compares the two stages on the same held-out utterances.

``--stage tts`` warm-starts from the same checkpoint and fine-tunes on ``--tts``'s
teacher-forced log-mels (``tfspeech.recipes.teacher_forced_mels``: the TTS model's blur on the
recording's time axis) against the recordings, into the ``istft-vocoder-slt-tts`` preset. Its
copy-synthesis figures are measured from the teacher-forced mels of the test split, and
``--evaluate --stage tts --run-dir <reconstruction run>`` measures the first stage the same way.

The run folder (default ``~/.cache/tfspeech/runs/istft-vocoder-slt``) survives a kill:
``checkpoint.keras`` (model and optimizer) and ``progress.json`` are replaced atomically after
every ``--steps-per-epoch`` steps, and the same command resumes from them. AdamW's rate is
``--learning-rate`` for the first 60% of the steps, then decays exponentially to a tenth.
``--evaluate`` measures the latest checkpoint (a preview while unfinished) on whole held-out
utterances of the test split (``tfspeech.recipes.istft_vocoder_evaluation``) and, with
``--zoo``, saves the preset and its card.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import shlex
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfspeech import zoo
from tfspeech.audio import MelConfig
from tfspeech.data.corpus import build_corpus, default_cache_dir
from tfspeech.data.layout import MANIFEST, read_corpus
from tfspeech.data.waveform_pipeline import context_crop, load_waveform_utterances, waveform_dataset
from tfspeech.losses.spectral import VocoderReconstructionLoss
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.models.vocoder_gan import VocoderGAN
from tfspeech.recipes import istft_vocoder_evaluation
from tfspeech.recipes.callbacks import AtomicCheckpoint, TqdmProgress, late_decay
from tfspeech.recipes.teacher_forced_mels import cache_teacher_forced_mels
from tfspeech.recipes.run_folder import CHECKPOINT, PROGRESS, finished, needs_training, restore_run
from tfspeech.recipes.strategy import add_strategy_option, is_chief, make_strategy, worker_path

PRESET_NAME = "istft-vocoder-slt"
VOICE = "festival:cmu_us_slt_arctic_hts"
EVALUATION = "evaluation"  # <run-dir>/evaluation; from a TTS model's teacher-forced mels: evaluation-tts-inputs
VALIDATION_CROPS = 32
STAGES = {  # stage: (run folder and preset suffix, default steps, default learning rate)
    "reconstruction": ("", 9000, 5e-4),
    "adversarial": ("-gan", 3000, 2e-4),
    "tts": ("-tts", 2000, 2e-4),
}

SIZES = {
    # 2.1 M parameters (8.4 MB as float32); 0.6 s per step of 16 x 64 frames on 2 cores.
    "preset": dict(channels=192, intermediate_channels=576, blocks=8, kernel_size=7),
    "tiny": dict(channels=16, intermediate_channels=32, blocks=2, kernel_size=3),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfspeech.recipes.istft_vocoder_slt", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--corpus", type=Path, help="a built corpus (default: build the whole slt corpus)")
    parser.add_argument("--run-dir", type=Path, help="checkpoints, TensorBoard logs, evaluation "
                        "(default: <cache>/runs/istft-vocoder-slt)")
    parser.add_argument("--stage", choices=sorted(STAGES), default="reconstruction",
                        help="reconstruction losses only, or adversarial fine-tuning of its result")
    parser.add_argument("--init-from", help="adversarial and tts stages: the reconstruction checkpoint (.keras) or "
                        "zoo preset to start from (default: <cache>/runs/istft-vocoder-slt/checkpoint.keras where "
                        "it exists, else the istft-vocoder-slt preset)")
    parser.add_argument("--size", choices=sorted(SIZES), default="preset")
    parser.add_argument("--magnitude-prior", action=argparse.BooleanOptionalAction, default=True,
                        help="predict log-magnitudes as a residual over the log-mels mapped to linear frequency "
                             "(default: on)")
    parser.add_argument("--phase-loss", choices=["complex", "derivative"], default="derivative",
                        help="the reconstruction loss's phase term (see tfspeech.losses.spectral; default: "
                             "%(default)s)")
    parser.add_argument("--steps", type=int, help="total training steps (default: 9,000; adversarial: 3,000; "
                        "tts: 2,000)")
    parser.add_argument("--steps-per-epoch", type=int, default=250, help="steps between checkpoints")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--segment-frames", type=int, default=64, help="frames of audio per crop (x 256 samples)")
    parser.add_argument("--learning-rate", type=float,
                        help="AdamW's rate for the first 60%% of the steps, decayed to a tenth at the end "
                             "(default: 5e-4; adversarial and tts: 2e-4)")
    parser.add_argument("--seed", type=int, default=0)
    add_strategy_option(parser)
    parser.add_argument("--train-utterances", type=int, help="use only the first N training utterances")
    parser.add_argument("--eval-utterances", type=int, default=32, help="whole held-out utterances measured")
    parser.add_argument("--tts-utterances", type=int, default=128,
                        help="test sentences synthesized by the TTS model for the text-to-speech CER (more than "
                             "--eval-utterances: the CER difference between vocoders is small and noisy)")
    parser.add_argument("--tts", default="tacotron2-slt",
                        help="TTS preset whose free-running mels of the held-out sentences are also vocoded "
                             "(default: %(default)s; 'none' to skip)")
    parser.add_argument("--zoo", type=Path, help="save the preset into this zoo folder")
    parser.add_argument("--evaluate", action="store_true",
                        help="do not train: measure the latest checkpoint (a preview while the run is "
                             "unfinished) and, with --zoo, save it")
    return parser


def main(argv: list[str] | None = None) -> dict | None:
    """Runs the recipe; returns the held-out figures when it evaluates."""
    parser = build_parser()
    args = parser.parse_args(argv)
    suffix, default_steps, default_rate = STAGES[args.stage]
    args.steps = default_steps if args.steps is None else args.steps
    args.learning_rate = default_rate if args.learning_rate is None else args.learning_rate
    for name in ("steps", "steps_per_epoch", "batch_size", "segment_frames", "eval_utterances", "tts_utterances"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.tts == "none":
        args.tts = None
    if args.run_dir is None:
        args.run_dir = default_cache_dir() / "runs" / f"{PRESET_NAME}{suffix}"
    if args.stage == "tts" and args.tts is None:
        parser.error("--stage tts needs a TTS preset (--tts)")
    args.preset_name = PRESET_NAME + ("-tts" if args.stage == "tts" else "")
    if args.stage != "reconstruction" and args.init_from is None:
        checkpoint = default_cache_dir() / "runs" / PRESET_NAME / CHECKPOINT
        args.init_from = str(checkpoint) if checkpoint.is_file() else PRESET_NAME
    mel_config = MelConfig()
    corpus = args.corpus or build_corpus([VOICE], n=None, seed=0)
    strategy = make_strategy(args.strategy)
    args.run_dir = worker_path(args.run_dir, strategy)  # a worker other than the chief: <run-dir>.worker-<i>
    args.run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)

    with strategy.scope():
        model, done, train_seconds = _restore_or_build(args, mel_config)
    epochs = math.ceil(args.steps / args.steps_per_epoch)
    if needs_training(args.run_dir, done, epochs, args.steps_per_epoch, args.evaluate):
        _train(model, args, corpus, mel_config, done, train_seconds, epochs)
        done, train_seconds = finished(args.run_dir)
    if (done < epochs and not args.evaluate) or not is_chief(strategy):  # the chief alone measures and saves
        return None
    return _evaluate(model, args, corpus, mel_config, done, train_seconds, argv)


def vocoder_of(model) -> ISTFTVocoder:
    """The vocoder a run trains: the model itself, or a ``VocoderGAN``'s generator."""
    return model.generator if isinstance(model, VocoderGAN) else model


class SyncDiscriminatorRate(keras.callbacks.Callback):
    """Gives the discriminators the generator's learning rate at the start of every epoch
    (after the schedule set it)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.discriminator_optimizer.learning_rate = float(self.model.generator_optimizer.learning_rate)


def _utterances(args, corpus, split: str, mel_config, limit: int | None = None):
    """A split's utterances; for the tts stage with the TTS model's teacher-forced mels instead of
    the recordings' (computed once into the corpus's feature folder)."""
    utterances = load_waveform_utterances(corpus, split, mel_config, limit=limit)
    if args.stage != "tts":
        return utterances
    tts_model = zoo.load(args.tts, compile=False)
    weights = zoo.info(args.tts)["weights"]["sha256"][:10]
    folder = cache_teacher_forced_mels(corpus, tts_model, Path(corpus) / "features" / f"teacher-forced-{args.tts}-"
                                       f"{weights}", split=split)
    return [dataclasses.replace(u, mel=np.load(folder / f"{u.id}.npy")) for u in utterances]


def _train(model, args, corpus, mel_config, done, train_seconds, epochs) -> None:
    train = _utterances(args, corpus, "train", mel_config, limit=args.train_utterances)
    validation = _utterances(args, corpus, "validation", mel_config)
    vocoder = vocoder_of(model)
    # A resumed run draws other crops than the first epochs did, reproducibly.
    dataset = waveform_dataset(
        train, mel_config, segment_frames=args.segment_frames, left_context=vocoder.left_context,
        right_context=vocoder.right_context, batch_size=args.batch_size, seed=args.seed + 1000 * done,
    )
    gan_callbacks = [SyncDiscriminatorRate()] if isinstance(model, VocoderGAN) else []
    model.fit(
        dataset,
        epochs=epochs,
        initial_epoch=done,
        steps_per_epoch=args.steps_per_epoch,
        validation_data=_validation_crops(validation, vocoder, args, mel_config),
        shuffle=False,  # the crops are random already
        verbose=0,
        callbacks=[
            late_decay(args.learning_rate, total_steps=epochs * args.steps_per_epoch,
                       steps_per_epoch=args.steps_per_epoch),
            *gan_callbacks,
            AtomicCheckpoint(args.run_dir, args.steps_per_epoch, train_seconds, CHECKPOINT, PROGRESS),
            keras.callbacks.TensorBoard(str(args.run_dir / "tensorboard"), update_freq=50),
            TqdmProgress(epochs * args.steps_per_epoch, done * args.steps_per_epoch),
        ],
    )


def _validation_crops(utterances, model, args, mel_config) -> tf.data.Dataset:
    """The same ``VALIDATION_CROPS`` crops every epoch (seeded), batched like training."""
    rng = np.random.default_rng(12345)
    crops = []
    for index in rng.choice(len(utterances), VALIDATION_CROPS, replace=len(utterances) < VALIDATION_CROPS):
        utterance = utterances[index]
        start = int(rng.integers(max(utterance.mel.shape[0] - args.segment_frames, 0) + 1))
        crops.append(context_crop(utterance, start, args.segment_frames, model.left_context,
                                  model.right_context, mel_config))
    mels, audio = (np.stack(part) for part in zip(*crops))
    return tf.data.Dataset.from_tensor_slices((mels, audio)).batch(args.batch_size)


def _starting_vocoder(init_from: str, stage: str) -> ISTFTVocoder:
    """The reconstruction stage's vocoder, from a ``.keras`` checkpoint or a zoo preset (so a
    machine without the run folder can start the later stages from the shipped preset)."""
    if Path(init_from).is_file():
        return keras.saving.load_model(init_from, compile=False)
    try:
        return zoo.load(init_from, compile=False, expect=ISTFTVocoder)
    except zoo.PresetError as error:
        raise SystemExit(f"the {stage} stage starts from a reconstruction checkpoint or preset; {init_from} is "
                         f"neither ({error}): train the reconstruction stage first, or pass --init-from") from error


def _restore_or_build(args, mel_config: MelConfig) -> tuple[keras.Model, int, float]:
    """The checkpointed model, its finished epochs and training seconds, or a new compiled model."""
    restored = restore_run(args.run_dir, args.steps_per_epoch)
    if restored is not None:
        return restored
    if args.stage != "reconstruction":
        generator = _starting_vocoder(args.init_from, args.stage)
        if args.stage == "tts":
            generator.compile(**generator.default_compile_args())
            return generator, 0, 0.0
        model = VocoderGAN(generator)
        model.compile()
        return model, 0, 0.0
    model = ISTFTVocoder(mel_config.to_dict(), **SIZES[args.size], magnitude_prior=args.magnitude_prior)
    model.build_from_preset()
    compile_args = model.default_compile_args()
    compile_args["loss"] = VocoderReconstructionLoss(mel_config.to_dict(), phase_loss=args.phase_loss)
    compile_args["optimizer"].learning_rate = args.learning_rate
    model.compile(**compile_args)
    return model, 0, 0.0


def _evaluate(model, args, corpus, mel_config, done, train_seconds, argv) -> dict:
    model = vocoder_of(model)
    held_out = _utterances(args, corpus, "test", mel_config, limit=args.eval_utterances)
    out_dir = _evaluation_dir(args)
    figures = istft_vocoder_evaluation.evaluate(model, held_out, mel_config, out_dir=out_dir)
    figures["inputs"] = f"{args.tts}'s teacher-forced log-mels" if args.stage == "tts" else "the recordings' log-mels"
    if args.tts is not None:
        tts_model = zoo.load(args.tts, compile=False)
        sentences = read_corpus(corpus, "test")[: args.tts_utterances]
        figures["tts"] = istft_vocoder_evaluation.evaluate_tts(model, tts_model, sentences, mel_config,
                                                               out_dir=out_dir)
    figures["exports"] = istft_vocoder_evaluation.evaluate_exports(model, held_out, mel_config, out_dir=out_dir)
    if args.stage == "adversarial" and Path(args.init_from).is_file():
        first_stage = Path(args.init_from).parent / EVALUATION / "metrics.json"
        if first_stage.is_file():
            figures["reconstruction_stage"] = json.loads(first_stage.read_text())
    gan_stage = args.run_dir.parent / f"{args.run_dir.name}{STAGES['adversarial'][0]}" / EVALUATION / "metrics.json"
    if args.stage == "reconstruction" and gan_stage.is_file():  # the ablation, in the card of the stage shipped
        figures["adversarial_stage"] = json.loads(gan_stage.read_text())
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    if args.zoo is not None:
        _save_preset(model, args, corpus, figures, done * args.steps_per_epoch, train_seconds, argv)
    return figures


def _evaluation_dir(args) -> Path:
    """Where the figures, samples and plots go: apart for teacher-forced inputs, so measuring a
    reconstruction run both ways keeps both."""
    return args.run_dir / (EVALUATION + ("-tts-inputs" if args.stage == "tts" else ""))


def _save_preset(model, args, corpus, figures, trained_steps, train_seconds, argv) -> None:
    fingerprint = hashlib.sha256((Path(corpus) / MANIFEST).read_bytes()).hexdigest()
    argv = list(argv if argv is not None else sys.argv[1:])
    module = "python -m tfspeech.recipes.istft_vocoder_slt"
    command = f"{module} {shlex.join(argv)}".strip()
    train_command = f"{module} {shlex.join(a for a in _without_evaluation_flags(argv))}".strip()
    data = {"corpus": VOICE, "sentences": "all (8,481)", "fingerprint": f"sha256:{fingerprint}"}
    training = {
        "command": train_command,
        "steps": trained_steps,
        "target_steps": args.steps,
        "finished": trained_steps >= args.steps,
        "stage": args.stage,
        "batch_size": args.batch_size,
        "segment_frames": args.segment_frames,
        "learning_rate": f"{args.learning_rate:g}, decayed exponentially from 60% of the steps to a tenth",
        "wall_time_s": round(train_seconds, 1),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    values = istft_vocoder_evaluation.flat_metrics(figures)
    folder = zoo.save_preset(
        model, args.preset_name, root=args.zoo, data=data, training=training,
        metrics={name: {"value": round(value, 4), "command": command} for name, value in values.items()},
        card=istft_vocoder_evaluation.card(args.preset_name, model, figures, data, training, command),
        overwrite=True,
        headline=["pesq_vocoder", "pesq_griffin_lim", "stoi_vocoder", "cer_vocoder"],
    )
    istft_vocoder_evaluation.copy_plots(_evaluation_dir(args), folder)
    print(f"saved preset {args.preset_name} to {folder}", file=sys.stderr)


def _without_evaluation_flags(argv: list[str]) -> list[str]:
    """``argv`` less ``--evaluate`` and ``--zoo <folder>``: the training command."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--zoo":
            skip = True
        elif arg != "--evaluate" and not arg.startswith("--zoo="):
            kept.append(arg)
    return kept


if __name__ == "__main__":
    main()
