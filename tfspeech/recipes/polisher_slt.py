"""Train the ``spectrogram-polisher-slt`` U-Net + PatchGAN on tacotron2-slt's blurry log-mels.

::

    python -m tfspeech.recipes.polisher_slt                            # λ = 0.003; run again to resume
    python -m tfspeech.recipes.polisher_slt --adversarial-weight 0.01  # the sweep's other λ
    python -m tfspeech.recipes.polisher_slt --adversarial-weight 0     # the L1-only ablation
    python -m tfspeech.recipes.polisher_slt --evaluate --zoo zoo       # test-split figures (all λ) + preset

Pairs: ``--tts``'s teacher-forced log-mels of the slt corpus (``recipes.teacher_forced_mels``,
cached once per TTS weights: the model's blur on the recording's time axis) and the recording's
log-mels. Each pair is pruned of silence at its edges (frames ``TRIM_DB`` dB under the
recording's peak), then random ``--crop-frames`` × all ``n_mels`` crops train a
``PolisherGAN`` (``--adversarial-weight`` λ; 0 trains the U-Net with L1 alone). All 80 bands:
the vocoder reads all of them, and 80 is a multiple of the U-Net's 16. Normalization
constants (silence … the training recordings' 99.9th percentile → [-1, 1]) are stored in the
polisher's config. The test split is never trained on; validation crops give ``val_loss``.

The run folder (default ``~/.cache/tfspeech/runs/spectrogram-polisher-slt`` for the preset's λ,
``-l1`` for λ = 0, ``-lambda<λ>`` for others) holds ``checkpoint.keras`` (both networks, both
optimizers) and ``progress.json``, replaced after every ``--steps-per-epoch`` steps; the same
command resumes. ``--evaluate`` measures the latest checkpoint and the ``--compare-with`` runs
(default: the other ``SWEEP`` λ's folders) on the test split
(``tfspeech.recipes.polisher_evaluation``) and, with ``--zoo``, saves this run's polisher.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfspeech import zoo
from tfspeech.data.corpus import build_corpus, default_cache_dir
from tfspeech.data.features import cache_log_mels
from tfspeech.data.layout import MANIFEST, read_corpus
from tfspeech.data.vocoder_pipeline import random_starts
from tfspeech.models.polisher_gan import PolisherGAN
from tfspeech.models.spectrogram_polisher import SpectrogramPolisher
from tfspeech.recipes import polisher_evaluation
from tfspeech.recipes.callbacks import AtomicCheckpoint, TqdmProgress, late_decay
from tfspeech.recipes.run_folder import CHECKPOINT, PROGRESS, finished, needs_training, restore_run
from tfspeech.recipes.strategy import add_strategy_option, is_chief, make_strategy, worker_path
from tfspeech.recipes.teacher_forced_mels import cache_teacher_forced_mels

PRESET_NAME = "spectrogram-polisher-slt"
ADVERSARIAL_WEIGHT = 0.003  # the preset's λ: of the sweep, the sharpest per unit of DTW-L1 and CER lost (card)
SWEEP = (0.01, 0.003, 0.0)  # the λ measured side by side in the card
VOICE = "festival:cmu_us_slt_arctic_hts"
VOCODER = "istft-vocoder-slt"
EVALUATION = "evaluation"
VALIDATION_CROPS = 64
TRIM_DB = polisher_evaluation.TRIM_DB
SIZES = {"preset": (32, 64, 128, 128), "tiny": (4, 8)}


@dataclass(frozen=True)
class Pair:
    """One utterance's TTS log-mels and recorded log-mels, ``(frames, n_mels)`` each, same frames."""

    id: str
    tts: np.ndarray
    recording: np.ndarray


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfspeech.recipes.polisher_slt",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a built corpus (default: build the whole slt corpus)")
    parser.add_argument("--run-dir", type=Path, help="checkpoints, TensorBoard logs, evaluation (default: "
                        "<cache>/runs/spectrogram-polisher-slt, -l1 for --adversarial-weight 0)")
    parser.add_argument("--adversarial-weight", type=float, default=ADVERSARIAL_WEIGHT,
                        help="λ of the generator's non-saturating GAN term next to L1 on normalized log-mels "
                             "(pix2pix's 1 : 100; default: %(default)s; 0: L1 only)")
    parser.add_argument("--tts", default="tacotron2-slt", help="the TTS preset whose mels are polished")
    parser.add_argument("--size", choices=sorted(SIZES), default="preset")
    parser.add_argument("--steps", type=int, default=3000, help="total training steps (default: %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop-frames", type=int, default=64, help="frames per crop (all mel bands)")
    parser.add_argument("--learning-rate", type=float, default=2e-4,
                        help="Adam's rate for the first 60%% of the steps, decayed to a tenth at the end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-utterances", type=int, help="use only the first N training utterances")
    parser.add_argument("--eval-utterances", type=int, default=32, help="test sentences measured")
    parser.add_argument("--compare-with", nargs="+", metavar="RUN_DIR",
                        help="other run folders measured beside this one, e.g. other λ (default: the default "
                             f"folders of λ = {', '.join(f'{w:g}' for w in SWEEP)} that have a checkpoint; "
                             "'none': no comparison)")
    parser.add_argument("--zoo", type=Path, help="save the preset into this zoo folder")
    parser.add_argument("--evaluate", action="store_true", help="do not train: measure the latest checkpoint (a "
                        "preview while unfinished) and, with --zoo, save it")
    add_strategy_option(parser)
    return parser


def default_run_dir(adversarial_weight: float) -> Path:
    """``<cache>/runs/spectrogram-polisher-slt`` for the preset's λ, ``-l1`` for 0, ``-lambda<λ>`` for others."""
    if adversarial_weight == ADVERSARIAL_WEIGHT:
        suffix = ""
    else:
        suffix = "-l1" if adversarial_weight == 0 else f"-lambda{adversarial_weight:g}"
    return default_cache_dir() / "runs" / (PRESET_NAME + suffix)


def main(argv: list[str] | None = None) -> dict | None:
    """Runs the recipe; returns the held-out figures when it evaluates."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("steps", "steps_per_epoch", "batch_size", "crop_frames", "eval_utterances"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.adversarial_weight < 0:
        parser.error(f"--adversarial-weight must be >= 0, got {args.adversarial_weight}")
    factor = 2 ** len(SIZES[args.size])
    if args.crop_frames % factor:
        parser.error(f"--crop-frames must be a multiple of the U-Net's {factor}, got {args.crop_frames}")
    args.run_dir = args.run_dir or default_run_dir(args.adversarial_weight)
    if args.compare_with is None:
        defaults = [default_run_dir(weight) for weight in SWEEP]
        args.compare_with = [d for d in defaults if (d / CHECKPOINT).is_file() and d != args.run_dir]
    elif args.compare_with == ["none"]:
        args.compare_with = []
    else:
        args.compare_with = [Path(d) for d in args.compare_with]
        for folder in args.compare_with:
            if not (folder / CHECKPOINT).is_file():
                parser.error(f"--compare-with {folder} has no {CHECKPOINT}; train that run first or pass none")
    corpus = args.corpus or build_corpus([VOICE], n=None, seed=0)
    strategy = make_strategy(args.strategy)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    tts_model = zoo.load(args.tts, compile=False)

    args.worker_dir = worker_path(args.run_dir, strategy)  # the run folder; its own one for other workers
    args.worker_dir.mkdir(parents=True, exist_ok=True)
    with strategy.scope():
        model, done, train_seconds = _restore_or_build(args, corpus, tts_model)
    epochs = math.ceil(args.steps / args.steps_per_epoch)
    if needs_training(args.worker_dir, done, epochs, args.steps_per_epoch, args.evaluate):
        _train(model, args, corpus, tts_model, done, train_seconds, epochs, strategy)
        done, train_seconds = finished(args.worker_dir)
    if (done < epochs and not args.evaluate) or not is_chief(strategy):
        return None
    return _evaluate(model.generator, args, corpus, tts_model, done, train_seconds, argv)


def load_pairs(corpus, tts_name: str, tts_model, split: str, limit: int | None = None) -> list[Pair]:
    """The split's (teacher-forced TTS, recorded) log-mels, silence pruned at the edges."""
    weights = zoo.info(tts_name)["weights"]["sha256"][:10]
    folder = cache_teacher_forced_mels(corpus, tts_model, Path(corpus) / "features" /
                                       f"teacher-forced-{tts_name}-{weights}", split=split)
    features = cache_log_mels(corpus, tts_model.mel_config, progress=False)
    pairs = []
    for utterance in read_corpus(corpus, split)[:limit]:
        tts, recording = np.load(folder / f"{utterance.id}.npy"), np.load(features / f"{utterance.id}.npy")
        frames = min(len(tts), len(recording))
        loud = np.flatnonzero(recording[:frames].max(axis=1) > recording.max() - TRIM_DB * polisher_evaluation.NATS_PER_DB)
        kept = slice(loud[0], loud[-1] + 1)
        pairs.append(Pair(utterance.id, tts[kept], recording[kept]))
    if not pairs:
        raise ValueError(f"{corpus} has no {split!r} utterances")
    return pairs


def crop(pair: Pair, start: int, frames: int, silence: float) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` frames of both mels from ``start``; past the end, silence."""
    out = np.full((2, frames, pair.tts.shape[1]), silence, np.float32)
    piece = slice(start, start + frames)
    out[0, :len(pair.tts[piece])], out[1, :len(pair.recording[piece])] = pair.tts[piece], pair.recording[piece]
    return out[0], out[1]


def pair_dataset(pairs: list[Pair], frames: int, batch_size: int, silence: float, seed: int) -> tf.data.Dataset:
    """Endless batches ``(tts (batch, frames, n_mels), recording (batch, frames, n_mels))``, every
    start frame of the corpus equally likely; the same seed gives the same batches."""
    n_mels = pairs[0].tts.shape[1]
    spec = tf.TensorSpec([frames, n_mels], tf.float32)

    def crops():
        for index, start in random_starts([len(p.tts) for p in pairs], frames, seed):
            yield crop(pairs[index], start, frames, silence)

    return tf.data.Dataset.from_generator(crops, output_signature=(spec, spec)).batch(
        batch_size, drop_remainder=True).prefetch(2)


def _validation_crops(pairs, args, silence) -> tf.data.Dataset:
    """The same ``VALIDATION_CROPS`` crops every epoch (seeded)."""
    rng = np.random.default_rng(12345)
    chosen = rng.choice(len(pairs), VALIDATION_CROPS, replace=len(pairs) < VALIDATION_CROPS)
    crops = [crop(pairs[i], int(rng.integers(max(len(pairs[i].tts) - args.crop_frames, 0) + 1)), args.crop_frames,
                  silence) for i in chosen]
    tts, recording = (np.stack(part) for part in zip(*crops))
    return tf.data.Dataset.from_tensor_slices((tts, recording)).batch(args.batch_size)


class SyncDiscriminatorRate(keras.callbacks.Callback):
    """Gives the discriminator the generator's learning rate at the start of every epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        if self.model.discriminator_optimizer is not None:
            self.model.discriminator_optimizer.learning_rate = float(self.model.generator_optimizer.learning_rate)


def _train(model, args, corpus, tts_model, done, train_seconds, epochs, strategy) -> None:
    """``fit`` from epoch ``done`` to ``epochs``; the resumed run draws other crops, reproducibly."""
    silence = model.generator.silence
    train = load_pairs(corpus, args.tts, tts_model, "train", args.train_utterances)
    validation = load_pairs(corpus, args.tts, tts_model, "validation")
    total = epochs * args.steps_per_epoch
    model.fit(
        pair_dataset(train, args.crop_frames, args.batch_size, silence, args.seed + 1000 * done),
        epochs=epochs, initial_epoch=done, steps_per_epoch=args.steps_per_epoch,
        validation_data=_validation_crops(validation, args, silence), shuffle=False, verbose=0,
        callbacks=[
            late_decay(args.learning_rate, total_steps=total, steps_per_epoch=args.steps_per_epoch),
            SyncDiscriminatorRate(),
            AtomicCheckpoint(args.worker_dir, args.steps_per_epoch, train_seconds, CHECKPOINT, PROGRESS),
            keras.callbacks.TensorBoard(str(worker_path(args.run_dir / "tensorboard", strategy)), update_freq=50),
            TqdmProgress(total, done * args.steps_per_epoch),
        ],
    )


def _restore_or_build(args, corpus, tts_model) -> tuple[PolisherGAN, int, float]:
    restored = restore_run(args.worker_dir, args.steps_per_epoch)
    if restored is not None:
        model = restored[0]
        if model.adversarial_weight != args.adversarial_weight:
            raise SystemExit(f"{args.run_dir} trains --adversarial-weight {model.adversarial_weight:g}; resume with "
                             "that value or use another --run-dir")
        return restored
    if args.evaluate:
        raise SystemExit(f"{args.run_dir} has no checkpoint to evaluate; train first (the same command without "
                         "--evaluate)")
    sample = load_pairs(corpus, args.tts, tts_model, "train", limit=args.train_utterances or 2000)
    high = float(np.percentile(np.concatenate([p.recording for p in sample]), 99.9))
    generator = SpectrogramPolisher(tts_model.mel_config.to_dict(), channels=SIZES[args.size],
                                    mel_high=round(high, 2))
    model = PolisherGAN(generator, adversarial_weight=args.adversarial_weight)
    defaults = model.default_compile_args()
    for optimizer in (defaults["generator_optimizer"], defaults["discriminator_optimizer"]):
        optimizer.learning_rate = args.learning_rate
    model.compile(**defaults)
    return model, 0, 0.0


def _load_polisher(run_dir: Path) -> SpectrogramPolisher:
    return keras.saving.load_model(Path(run_dir) / CHECKPOINT, compile=False).generator


def system_name(adversarial_weight: float) -> str:
    """The key of a polisher in the figures (and its listening samples' file names): ``gan-<λ>`` or ``l1``."""
    return f"gan-{adversarial_weight:g}" if adversarial_weight > 0 else "l1"


def label(name: str) -> str:
    """A system's name in the card's tables."""
    if name == polisher_evaluation.UNPOLISHED:
        return "unpolished"
    return "U-Net, L1 only (λ = 0)" if name == "l1" else f"U-Net + PatchGAN λ = {name.removeprefix('gan-')}"


def _evaluate(polisher, args, corpus, tts_model, done, train_seconds, argv) -> dict:
    from tfspeech.synthesis import check_polisher

    check_polisher(polisher, tts_model)
    polishers = {system_name(args.adversarial_weight): polisher}
    for folder in args.compare_with:
        other = keras.saving.load_model(folder / CHECKPOINT, compile=False)
        if system_name(other.adversarial_weight) in polishers:
            raise SystemExit(f"--compare-with {folder} trained λ = {other.adversarial_weight:g} like another "
                             "measured run; compare runs of different λ")
        polishers[system_name(other.adversarial_weight)] = other.generator
    vocoder = zoo.load(VOCODER, compile=False)
    sentences = read_corpus(corpus, "test")[: args.eval_utterances]
    out_dir = args.run_dir / EVALUATION
    figures = polisher_evaluation.evaluate(polishers, tts_model, vocoder, sentences, corpus, out_dir=out_dir)
    figures.update(shipped=system_name(args.adversarial_weight), tts=args.tts, vocoder=VOCODER)
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "systems"} | {
        "systems": {n: {k: v for k, v in s.items() if k != "gv_ratios"} for n, s in figures["systems"].items()}},
        indent=2))
    if args.zoo is not None:
        _save_preset(polisher, args, corpus, figures, done * args.steps_per_epoch, train_seconds, argv)
    return figures


def _save_preset(polisher, args, corpus, figures, trained_steps, train_seconds, argv) -> None:
    import shutil

    fingerprint = hashlib.sha256((Path(corpus) / MANIFEST).read_bytes()).hexdigest()
    argv = list(argv if argv is not None else sys.argv[1:])
    module = "python -m tfspeech.recipes.polisher_slt"
    command = f"{module} {shlex.join(argv)}".strip()
    data = {"corpus": VOICE, "inputs": f"{args.tts}'s teacher-forced log-mels (train split)",
            "fingerprint": f"sha256:{fingerprint}"}
    training = {
        "command": f"{module} {shlex.join(_training_argv(argv))}".strip(),
        "steps": trained_steps, "target_steps": args.steps, "finished": trained_steps >= args.steps,
        "adversarial_weight": args.adversarial_weight, "batch_size": args.batch_size,
        "crop_frames": args.crop_frames,
        "learning_rate": f"{args.learning_rate:g}, decayed exponentially from 60% of the steps to a tenth",
        "wall_time_s": round(train_seconds, 1), "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    training["compared_runs"] = []
    for folder in args.compare_with:
        other = json.loads((folder / PROGRESS).read_text())
        weight = keras.saving.load_model(folder / CHECKPOINT, compile=False).adversarial_weight
        run_dir = "" if folder == default_run_dir(weight) else f" --run-dir <{folder.name}>"
        training["compared_runs"].append({"steps": other["epochs"] * other["steps_per_epoch"],
                                          "wall_time_s": other["train_seconds"],
                                          "command": f"{module} --adversarial-weight {weight:g}{run_dir}"})
    folder = zoo.save_preset(
        polisher, PRESET_NAME, root=args.zoo, data=data, training=training,
        metrics={name: {"value": round(value, 4), "command": command} for name, value in flat_metrics(figures).items()},
        card=card(polisher, figures, data, training, command), overwrite=True,
        headline=["gv_ratio_mean_polished", "gv_ratio_mean_unpolished", "cer_polished", "cer_unpolished"],
        input={"shape": [None, None, polisher.n_mels], "dtype": "float32"},
    )
    for name in (polisher_evaluation.SPECTROGRAMS, polisher_evaluation.GV_PLOT):
        shutil.copyfile(args.run_dir / EVALUATION / name, folder / name)
    print(f"saved preset {PRESET_NAME} to {folder}", file=sys.stderr)


def _training_argv(argv: list[str]) -> list[str]:
    """``argv`` less ``--evaluate``, ``--zoo`` and ``--compare-with`` (with their values)."""
    kept, skipping = [], False
    for arg in argv:
        if arg.startswith("--"):
            skipping = arg in ("--zoo", "--compare-with")
            if not skipping and arg != "--evaluate" and not arg.startswith(("--zoo=", "--compare-with=")):
                kept.append(arg)
        elif not skipping:
            kept.append(arg)
    return kept


def flat_metrics(figures: dict) -> dict[str, float]:
    """``preset.json`` metrics: ``<figure>_unpolished``, ``<figure>_polished`` (the shipped
    polisher), ``<figure>_<system>`` (each compared run: ``l1``, ``gan_0_003``), the recording's
    CER and the RTF."""
    labels = {polisher_evaluation.UNPOLISHED: "unpolished", figures["shipped"]: "polished"}
    metrics = {"cer_recording": figures["recording_cer"], "test_sentences": figures["sentences"]}
    for name, system in figures["systems"].items():
        suffix = labels.get(name, re.sub(r"\W", "_", name))
        for figure in ("gv_ratio_mean", "modulation_distance_db", "dtw_mel_l1", "cer"):
            metrics[f"{figure}_{suffix}"] = system[figure]
    metrics["tflite_rtf_one_thread"] = figures["rtf"][figures["shipped"]]["rtf"]
    return metrics


def goals(before: dict, after: dict) -> list[tuple[str, bool, str]]:
    """``(goal, met, detail)`` of a polisher's figures against the unpolished ones: the GV ratio
    at least halfway to 1, DTW log-mel L1 at most 2 % worse, CER at most 0.01 worse."""
    closed = polisher_evaluation.gap_closed(before["gv_ratio_mean"], after["gv_ratio_mean"])
    l1 = after["dtw_mel_l1"] / before["dtw_mel_l1"] - 1.0
    cer = after["cer"] - before["cer"]
    return [("GV ratio halfway to 1", closed >= 0.5, f"{closed:+.0%} of the gap"),
            ("DTW log-mel L1 within +2 %", l1 <= 0.02, f"{l1:+.1%}"),
            ("CER within +0.01", cer <= 0.01, f"{cer:+.3f}")]


def card(polisher, figures: dict, data: dict, training: dict, command: str) -> str:
    """CARD.md of the preset."""
    systems = figures["systems"]
    before = systems[polisher_evaluation.UNPOLISHED]
    preview = "" if training["finished"] else (
        f"\n> **Preview of a run in progress** (checkpoint at step {training['steps']:,} of "
        f"{training['target_steps']:,}), not the finished preset.\n")
    rows = ["| tacotron2-slt free running | GV ratio (mean over bands) | share of the gap to 1 closed | "
            "modulation-spectrum distance (dB) | DTW log-mel L1 (nats) | CER |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in systems.items():
        closed = "—" if name == polisher_evaluation.UNPOLISHED else \
            f"{polisher_evaluation.gap_closed(before['gv_ratio_mean'], s['gv_ratio_mean']):+.0%}"
        rows.append(f"| {label(name)} | {s['gv_ratio_mean']:.3f} | {closed} | {s['modulation_distance_db']:.2f} | "
                    f"{s['dtw_mel_l1']:.3f} | {s['cer']:.3f} |")
    rows.append(f"| the recordings | 1 | — | 0 | 0 | {figures['recording_cer']:.3f} |")
    verdicts = [f"- {label(name)}: " + "; ".join(f"{goal} {'met' if ok else 'missed'} ({detail})"
                                                  for goal, ok, detail in goals(before, s))
                for name, s in systems.items() if name != polisher_evaluation.UNPOLISHED]
    rtf_rows = ["| polisher | TFLite size MB | max abs error vs Keras (bound) | RTF, one thread |",
                "|---|---:|---:|---:|"]
    for name, r in figures["rtf"].items():
        rtf_rows.append(f"| {label(name)} | {r['size_mb']:.1f} | {r['max_abs_error']:.2g} ({r['bound']:.2g}) | {r['rtf']:.4f} |")
    compared_text = "".join(
        f" Compared run: `{c['command']}`, {c['steps']:,} steps, {c['wall_time_s'] / 3600:.2f} h."
        for c in training.get("compared_runs", []))
    return f"""# {PRESET_NAME}
{preview}
A spectrogram polisher (the "polishing blurry spectrograms" post-processor): a U-Net
({len(polisher.channels)} levels, channels {list(polisher.channels)}, {polisher.count_params():,}
parameters) that adds a residual to `{figures['tts']}`'s log-mels (all {polisher.n_mels} bands,
normalized with silence … {polisher.mel_high:g} nats → [-1, 1]), trained against a conditional
PatchGAN. Shipped: **{label(figures['shipped'])}** (λ = {training['adversarial_weight']:g}). Any number of frames; fewer than {polisher.factor}
are padded with silence and cropped back.

    tfspeech synthesize "Any sentence." --polish {PRESET_NAME} -o out.wav

## Test-split figures

`{figures['tts']}` free running (as users synthesize) on the first {figures['sentences']} sentences of the
corpus `test` split ({figures['seconds']:.1f} s of recordings; never trained on), audio through
`{figures['vocoder']}`. GV ratio: each band's variance over an utterance's speech frames, over the
recordings' (1 = as sharp as real speech); modulation-spectrum distance: RMS dB difference of the
bands' temporal modulation spectra to the recordings'; DTW log-mel L1 to the recording; CER through
`ctc-multivoice` (lower is better).

{chr(10).join(rows)}

The issue's goals, against the unpolished mels:

{chr(10).join(verdicts)}

![GV ratio per mel band]({polisher_evaluation.GV_PLOT})

![a held-out sentence: recording, unpolished and polished log-mels]({polisher_evaluation.SPECTROGRAMS})

## Cost

Polishing alone as a TFLite float32 model (builtin ops), one thread, over the same
{figures['sentences']} free-running utterances (seconds of polishing per second of speech):

{chr(10).join(rtf_rows)}

Listening samples (unpolished, polished, the recording, per sentence) are written by the
measuring command into `<run-dir>/evaluation/samples/`; they are not committed.

Measured by: `{command}`

## Data

{data['corpus']}: {data['inputs']} paired with the recordings' log-mels, edges quieter than
{TRIM_DB:g} dB under the recording's peak pruned (corpus fingerprint `{data['fingerprint']}`).

## Training

`{training['command']}`: {training['steps']:,} steps of batch {training['batch_size']} crops of
{training['crop_frames']} frames × {polisher.n_mels} bands, Adam (β₁ 0.5) at {training['learning_rate']},
λ = {training['adversarial_weight']:g} (generator: L1 on normalized log-mels + λ · non-saturating
cross-entropy of the PatchGAN), {training['wall_time_s'] / 3600:.2f} h on {training['hardware']}.{compared_text}
"""


if __name__ == "__main__":
    main()
