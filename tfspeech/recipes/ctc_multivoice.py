"""Recipe for the ``ctc-multivoice`` preset: a character CTC recognizer trained on synthesized voices.

    python -m tfspeech.recipes.ctc_multivoice                  # build corpora, train (resumes), evaluate, save
    python -m tfspeech.recipes.ctc_multivoice --max-minutes 60 # stop training after an hour (run again to resume)
    python -m tfspeech.recipes.ctc_multivoice --evaluate-only  # best checkpoint → figures → zoo/ctc-multivoice

Data: one corpus per voice of ``TRAIN_VOICES`` (``build_corpus([voice], SENTENCES_PER_VOICE,
seed=i)``), so each voice speaks a different draw of WordNet's example sentences; the
corpus split (by sentence text, seed-independent) keeps test sentences out of every
voice's training data. ``HELD_OUT_VOICE`` is never trained on: its test split measures an
unseen voice on unseen sentences. The LibriVox clips of Debian's ``pocketsphinx-testdata``
(real read speech, 16 kHz) measure the gap to real speech.

Training: ``model.fit`` on length-bucketed batches, SpecAugment, Adam with gradient
clipping and halving on plateaus of the validation CER; resumable
(``callbacks.AtomicBackupAndRestore``), TensorBoard logs, best weights by validation CER.
Everything the run writes lives under ``<cache>/runs/ctc-multivoice`` (``--work-dir``).
``--strategy`` distributes it (``tfspeech.recipes.strategy``): the chief keeps the work folder,
validates, evaluates and saves; another worker only its backup, ``backup.worker-<i>``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import platform
import re
import weakref
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfspeech.recipes.callbacks import AtomicBackupAndRestore, TrainingClock
from tfspeech.recipes.strategy import add_strategy_option, is_chief, make_strategy, worker_path

PRESET_NAME = "ctc-multivoice"
TRAIN_VOICES = (
    "festival:cmu_us_slt_arctic_hts",
    "festival:cmu_us_slt_arctic_hts:pitch=-5:speed=1.1",
    "flite:kal16",
    "flite:rms",
    "flite:slt",
    "flite:rms:pitch=3:speed=0.9",
    "espeak:en-us",
    "espeak:en-gb+m3:pitch=-2",
    "espeak:en-us+f3:speed=1.15",
    "espeak:en-gb-x-rp+m1:speed=0.9",
    "festival:kal_diphone",
    "festival:ked_diphone:pitch=-2",
)
HELD_OUT_VOICE = "flite:awb"
HELD_OUT_SEED = 100
SENTENCES_PER_VOICE = 1000
MODEL_CONFIG = dict(
    n_mels=80,
    conv_filters=192,
    conv_kernel_size=5,
    conv_strides=[3, 1],
    rnn_type="gru",
    rnn_units=192,
    rnn_layers=2,
    dropout=0.1,
    spec_augment=dict(freq_masks=2, freq_width=12, time_masks=2, time_width=20, max_time_fraction=0.15, seed=0),
)
EPOCHS = 40
FRAMES_PER_BATCH = 8000
SEED = 0
BEAM_WIDTH = 16
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
ZOO = Path(__file__).resolve().parents[2] / "zoo"
TRAIN_COMMAND = "python -m tfspeech.recipes.ctc_multivoice"
EVALUATE_COMMAND = "python -m tfspeech.recipes.ctc_multivoice --evaluate-only"


def build_corpora(progress: bool = True) -> tuple[list[Path], Path]:
    """(one corpus folder per training voice, the held-out voice's corpus), built or re-checked."""
    from tfspeech.data.corpus import build_corpus

    train = [build_corpus([voice], SENTENCES_PER_VOICE, seed=seed, progress=progress)
             for seed, voice in enumerate(TRAIN_VOICES)]
    held_out = build_corpus([HELD_OUT_VOICE], SENTENCES_PER_VOICE, seed=HELD_OUT_SEED, progress=progress)
    return train, held_out


def corpora_fingerprint(corpus_dirs) -> str:
    """sha256 over the corpora's manifest files, in order."""
    digest = hashlib.sha256()
    for corpus_dir in corpus_dirs:
        digest.update((Path(corpus_dir) / "manifest.json").read_bytes())
    return digest.hexdigest()


def transcribe_examples(model, examples, beam_width: int = 1, batch_size: int = 16) -> list[str]:
    """Hypotheses for ``tfspeech.data.pipeline.Example`` s, in their order (batched by length)."""
    from tfspeech.decoding import decode

    order = sorted(range(len(examples)), key=lambda i: examples[i].num_frames)
    hypotheses = [""] * len(examples)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        log_mels = [np.load(examples[i].features_path) for i in chunk]
        frames = np.array([len(m) for m in log_mels], dtype=np.int32)
        batch = np.zeros((len(chunk), frames.max(), log_mels[0].shape[1]), np.float32)
        for row, log_mel in enumerate(log_mels):
            batch[row, : len(log_mel)] = log_mel
        logits = _forward(model)({"log_mel": batch, "num_frames": frames})
        texts = decode(logits, model.output_lengths(frames), beam_width=beam_width)
        for i, text in zip(chunk, texts):
            hypotheses[i] = text
    return hypotheses


_FORWARD = weakref.WeakKeyDictionary()


def _forward(model):
    """``model({"log_mel", "num_frames"}, training=False)`` as one tf.function per model, for any shape."""
    if model not in _FORWARD:
        signature = {"log_mel": tf.TensorSpec([None, None, model.n_mels], tf.float32),
                     "num_frames": tf.TensorSpec([None], tf.int32)}
        _FORWARD[model] = tf.function(lambda inputs: model(inputs, training=False), input_signature=[signature])
    return _FORWARD[model]


def error_rates(references, hypotheses) -> dict:
    from tfspeech.metrics import character_error_rate, word_error_rate

    return {"cer": character_error_rate(references, hypotheses), "wer": word_error_rate(references, hypotheses)}


def librivox_clips() -> list[tuple[Path, str]]:
    """(wav, reference transcript) for the pocketsphinx-testdata LibriVox clips."""
    listing = LIBRIVOX_DIR / "transcription"
    if not listing.is_file():
        raise FileNotFoundError(
            f"{listing} is missing: install the Debian package pocketsphinx-testdata "
            "(apt-get install pocketsphinx-testdata)"
        )
    clips = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*<s>(.*)</s>\s*\((\S+)\)\s*", line)
        if match:
            clips.append((LIBRIVOX_DIR / f"{match[2]}.wav", " ".join(match[1].split())))
    return clips


class ValidationCER(keras.callbacks.Callback):
    """Adds ``val_cer`` and ``val_wer`` (greedy decoding of ``examples``) to the epoch logs."""

    def __init__(self, examples):
        super().__init__()
        from tfspeech.decoding import transcript

        self.examples = examples
        self.references = [transcript(e.text) for e in examples]

    def on_epoch_end(self, epoch, logs=None):
        figures = error_rates(self.references, transcribe_examples(self.model, self.examples))
        if logs is not None:
            logs["val_cer"], logs["val_wer"] = figures["cer"], figures["wer"]
        print(f"\nepoch {epoch + 1}: validation CER {figures['cer']:.4f} WER {figures['wer']:.4f}", flush=True)


def train(work_dir: Path, epochs: int, max_minutes: float | None, progress: bool,
          strategy: tf.distribute.Strategy) -> None:
    from tfspeech.data.pipeline import ctc_dataset, load_examples
    from tfspeech.models.ctc import CTCRecognizer

    train_dirs, _ = build_corpora(progress)
    with strategy.scope():
        model = CTCRecognizer(**MODEL_CONFIG)
    stride = model.time_stride
    training = load_examples(train_dirs, "train", time_stride=stride, progress=progress)
    validation = load_examples(train_dirs, "validation", time_stride=stride, progress=progress)
    print(f"training on {len(training)} utterances ({_hours(training):.2f} h), "
          f"validating on {len(validation)}", flush=True)
    dataset = ctc_dataset(training, frames_per_batch=FRAMES_PER_BATCH, seed=SEED)
    validation_set = ctc_dataset(validation, frames_per_batch=FRAMES_PER_BATCH, shuffle=False)

    keras.utils.set_random_seed(SEED)
    with strategy.scope():
        model.build()
        model.compile(**model.default_compile_args())
    work_dir.mkdir(parents=True, exist_ok=True)
    # every worker validates and schedules alike; the chief alone writes the work folder's files
    callbacks = [
        AtomicBackupAndRestore(str(worker_path(work_dir / "backup", strategy))),
        ValidationCER(validation),
        keras.callbacks.ReduceLROnPlateau(monitor="val_cer", mode="min", factor=0.5, patience=2, min_lr=5e-5),
    ]
    if is_chief(strategy):
        callbacks += [
            keras.callbacks.ModelCheckpoint(str(work_dir / "best.weights.h5"), monitor="val_cer", mode="min",
                                            save_best_only=True, save_weights_only=True,
                                            initial_value_threshold=_best_val_cer(work_dir)),
            keras.callbacks.CSVLogger(str(work_dir / "history.csv"), append=True),
            TrainingClock(work_dir / "timing.json", max_minutes, TRAIN_COMMAND),
        ]
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.insert(-1, keras.callbacks.TensorBoard(str(work_dir / "tensorboard")))
        else:
            print("tensorboard is not installed (pip install tensorboard): training without TensorBoard logs")
    model.fit(dataset, validation_data=validation_set, epochs=epochs, callbacks=callbacks,
              verbose=1 if progress and is_chief(strategy) else 2)


def evaluate(model, train_dirs, held_out_dir, work_dir: Path, progress: bool = True) -> dict:
    """Held-out figures: seen voices' test sentences, the unseen voice's test sentences, LibriVox,
    and the TFLite exports (written to ``work_dir``) on the unseen voice."""
    from tfspeech.audio import load
    from tfspeech.data.pipeline import load_examples
    from tfspeech.decoding import decode, speech_log_mel, transcript

    stride = model.time_stride
    sets = {
        "seen_voices_test": load_examples(train_dirs, "test", time_stride=stride, progress=progress),
        "unseen_voice_test": load_examples(held_out_dir, "test", time_stride=stride, progress=progress),
    }
    figures = {}
    for name, examples in sets.items():
        references = [transcript(e.text) for e in examples]
        for beam in (1, BEAM_WIDTH):
            hypotheses = transcribe_examples(model, examples, beam_width=beam)
            figures[f"{name}{_beam_suffix(beam)}"] = {**error_rates(references, hypotheses),
                                                     "utterances": len(examples)}
        figures[f"{name}_samples"] = [
            {"reference": r, "hypothesis": h} for r, h in list(zip(references, hypotheses))[:3]
        ]
    clips = librivox_clips()
    references = [transcript(text) for _, text in clips]
    for beam in (1, BEAM_WIDTH):
        hypotheses = []
        for wav, _ in clips:
            waveform, rate = load(wav)
            log_mel = speech_log_mel(waveform, rate, model.mel_config, what=str(wav))
            inputs = {"log_mel": log_mel[np.newaxis], "num_frames": np.array([len(log_mel)], np.int32)}
            hypotheses += decode(_forward(model)(inputs), beam_width=beam)
        figures[f"librivox{_beam_suffix(beam)}"] = {**error_rates(references, hypotheses), "utterances": len(clips)}
    figures["librivox_samples"] = [{"reference": r, "hypothesis": h} for r, h in zip(references, hypotheses)]
    figures["export"] = export_figures(model, sets["unseen_voice_test"], work_dir)
    return figures


def export_figures(model, examples, out_dir: Path) -> dict:
    """TFLite (builtin ops) float32 and dynamic-int8: file size, worst logit error against Keras on
    real utterances, and the greedy CER of ``examples`` run through LiteRT (no TensorFlow)."""
    from tfspeech import export
    from tfspeech.audio import load
    from tfspeech.decoding import ids_to_text, transcript
    from tfspeech.runtime.litert_runner import LiteRTRunner

    samples = examples[:4]
    data = {
        "transcribe": [load(_wav_of(e))[0][np.newaxis] for e in samples],
        "transcribe_log_mel": [np.load(e.features_path)[np.newaxis] for e in samples],
    }
    references = [transcript(e.text) for e in examples]
    figures = {}
    for mode in (None, "dynamic"):
        name = mode or "float32"
        try:
            report = export.tflite(model, out_dir / f"{PRESET_NAME}-{name}.tflite", quantize=mode,
                                   representative_data=data)
        except export.ParityError as error:  # reported, not hidden: the figures say how far off
            report = error.report
        print(report, flush=True)
        runner = LiteRTRunner(report.path)
        hypotheses = [
            ids_to_text(runner.run_signature("transcribe_log_mel", log_mel=np.load(e.features_path)[np.newaxis])
                        ["label_ids"][0])
            for e in examples
        ]
        figures[name] = {
            "size_bytes": report.size_bytes,
            "max_abs_logit_error": {k.split("/")[0]: v for k, v in report.max_abs_error.items()
                                    if k.endswith("/logits")},
            "label_ids_differ": {o.signature: o.mismatch for o in report.outputs if o.output == "label_ids"},
            "parity_passed": report.passed,
            "tolerance": str(report.tolerance),
            "litert_cer": error_rates(references, hypotheses)["cer"],
            "utterances": len(examples),
        }
    return figures


def save(work_dir: Path, progress: bool) -> Path:
    """Loads the best checkpoint, measures it, and writes ``zoo/ctc-multivoice``."""
    import tfspeech.zoo
    from tfspeech.models.ctc import CTCRecognizer

    best = work_dir / "best.weights.h5"
    if not best.is_file():
        raise FileNotFoundError(f"{best} is missing: train first with `{TRAIN_COMMAND}`")
    train_dirs, held_out_dir = build_corpora(progress)
    model = CTCRecognizer(**MODEL_CONFIG)
    model.build()
    model.load_weights(best)
    figures = evaluate(model, train_dirs, held_out_dir, work_dir, progress)
    (work_dir / "figures.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    history = _history(work_dir)
    metrics = {
        f"{key}_{rate}": {"value": round(value[rate], 4), "command": EVALUATE_COMMAND}
        for key, value in figures.items() if "cer" in value for rate in ("cer", "wer")
    }
    for mode, entry in figures["export"].items():
        metrics[f"tflite_{mode}_unseen_voice_cer"] = {"value": round(entry["litert_cer"], 4),
                                                      "command": EVALUATE_COMMAND}
        for signature, error in entry["max_abs_logit_error"].items():
            metrics[f"tflite_{mode}_{signature}_max_abs_logit_error"] = {"value": error, "command": EVALUATE_COMMAND}
    data = {
        "fingerprint": corpora_fingerprint([*train_dirs, held_out_dir]),
        "train_voices": list(TRAIN_VOICES),
        "held_out_voice": HELD_OUT_VOICE,
        "sentences_per_voice": SENTENCES_PER_VOICE,
        "corpus_commands": [_corpus_command(d) for d in [*train_dirs, held_out_dir]],
        "features": "log-mel, tfspeech.audio.MelConfig() defaults (22,050 Hz, 80 bands, hop 256)",
    }
    training = {
        "command": f"{TRAIN_COMMAND} --epochs {history['epochs']}",
        "epochs": history["epochs"],
        "best_epoch": history["best_epoch"],
        "best_validation_cer": history["best_val_cer"],
        "wall_time_s": history["wall_time_s"],
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), TensorFlow {tf.__version__}",
    }
    folder = tfspeech.zoo.save_preset(model, PRESET_NAME, root=ZOO, data=data, training=training,
                                      metrics=metrics, card=_card(figures, data, training, model),
                                      overwrite=True)
    print(f"saved {folder}")
    return folder


def _history(work_dir: Path) -> dict:
    rows = list(csv.DictReader(open(work_dir / "history.csv", encoding="utf-8")))
    if not rows:
        raise ValueError(f"{work_dir / 'history.csv'} holds no epoch; train first")
    best = min(rows, key=lambda r: float(r["val_cer"]))
    timing = json.loads((work_dir / "timing.json").read_text()) if (work_dir / "timing.json").is_file() else {}
    return {"epochs": len(rows), "best_epoch": int(best["epoch"]) + 1,
            "best_val_cer": round(float(best["val_cer"]), 4), "wall_time_s": round(timing.get("train_s", 0.0))}


def _wav_of(example) -> Path:
    """``<corpus>/wavs/<id>.wav`` of a cached-feature example (``<corpus>/features/<config>/<id>.npy``)."""
    return example.features_path.parents[2] / "wavs" / f"{example.id}.wav"


def _best_val_cer(work_dir: Path) -> float | None:
    """The best validation CER of earlier runs (so a resumed run keeps a better checkpoint)."""
    path = work_dir / "history.csv"
    if not path.is_file():
        return None
    values = [float(r["val_cer"]) for r in csv.DictReader(open(path, encoding="utf-8")) if r.get("val_cer")]
    return min(values, default=None)


def _corpus_command(corpus_dir: Path) -> str:
    return json.loads((Path(corpus_dir) / "manifest.json").read_text(encoding="utf-8"))["command"]


def _beam_suffix(beam: int) -> str:
    return "" if beam == 1 else f"_beam{beam}"


def _hours(examples) -> float:
    return sum(e.num_frames for e in examples) * 256 / 22050 / 3600


def _spec_augment_text(model) -> str:
    c = model.spec_augment_config
    return (f"{c['freq_masks']} frequency masks ≤ {c['freq_width']} bands, {c['time_masks']} time masks "
            f"≤ {c['time_width']} frames and ≤ {c['max_time_fraction']:.0%} of the utterance")


def _card(figures: dict, data: dict, training: dict, model) -> str:
    def row(name, key):
        greedy, beam = figures[key], figures[f"{key}{_beam_suffix(BEAM_WIDTH)}"]
        return (f"| {name} | {greedy['utterances']} | {greedy['cer']:.3f} | {greedy['wer']:.3f} | "
                f"{beam['cer']:.3f} | {beam['wer']:.3f} |")

    samples = "\n".join(
        f"- ref: `{s['reference']}`\n  hyp: `{s['hypothesis']}`" for s in figures["librivox_samples"]
    )
    params = model.count_params()
    corpus_commands = "\n".join(f"  - `{command}`" for command in data["corpus_commands"])
    export_rows = "\n".join(
        f"| {mode} | {e['size_bytes'] / 1e6:.2f} MB | {e['max_abs_logit_error']['transcribe']:.2e} | "
        f"{e['max_abs_logit_error']['transcribe_log_mel']:.2e} | "
        f"{100 * max(e['label_ids_differ'].values()):.1f}% | "
        f"{'passed' if e['parity_passed'] else 'outside ' + e['tolerance']} | {e['litert_cer']:.3f} |"
        for mode, e in figures["export"].items()
    )
    return f"""# ctc-multivoice

A character CTC speech recognizer (`tfspeech>CTCRecognizer`, {params:,} parameters): log-mel
({model.n_mels} bands, {model.mel_config.sample_rate:,} Hz) → per-utterance normalization →
Conv1D ×{len(model.conv_strides)} (time stride {model.time_stride}) →
Bi{model.rnn_type.upper()} {model.rnn_units} ×{model.rnn_layers} → {model.num_classes} classes (tfspeech.text.CHARACTERS
+ blank). Trained only on synthesized speech.
It is the zoo's intelligibility judge: `tfspeech.metrics.intelligibility(waveforms, texts)`.

```python
from tfspeech.decoding import transcribe_file
print(transcribe_file("speech.wav"))          # any sample rate; resampled to 22,050 Hz
```

## Held-out figures

CER/WER on the lowercase transcript (letters, apostrophe, space), no language model.

| test set | utterances | CER greedy | WER greedy | CER beam {BEAM_WIDTH} | WER beam {BEAM_WIDTH} |
|---|---|---|---|---|---|
{row("seen voices, unseen sentences (corpus test split)", "seen_voices_test")}
{row(f"unseen voice {HELD_OUT_VOICE}, unseen sentences", "unseen_voice_test")}
{row("real speech: LibriVox clips (pocketsphinx-testdata)", "librivox")}

Measured with `{EVALUATE_COMMAND}` (figures also in the run's `figures.json`).
Real read speech is far from the synthesized training voices; the LibriVox row says how far.

LibriVox, beam {BEAM_WIDTH}:
{samples}

## Export (TFLite, builtin ops only)

Signatures `transcribe` (waveform at 22,050 Hz) and `transcribe_log_mel`, each → `logits`, `label_ids`
(best path, blanks and repeats as 0). Logit error against Keras on 4 real utterances; CER of the
unseen-voice test set run through `tfspeech.runtime.litert_runner` (ai-edge-litert, no TensorFlow).
Parity tolerances: {figures['export']['float32']['tolerance']} (float32), {figures['export']['dynamic']['tolerance']}
(dynamic). The waveform signature's mel projection (`tfspeech.audio.features.apply_mel_filterbank`,
a gather and sum) stays float32 under dynamic-range quantization, so both logit columns carry only
the acoustic model's quantization error. `label_ids` must match exactly in float32; in the dynamic
model an id flips wherever two logits nearly tie, so its share of differing ids is reported, not gated.

| mode | size | max abs logit error, waveform in | max abs logit error, log-mel in | label ids differing | parity | LiteRT CER (greedy) |
|---|---|---|---|---|---|---|
{export_rows}

## Data

- training voices ({len(data['train_voices'])}): {', '.join(f'`{v}`' for v in data['train_voices'])};
  each speaks its own draw of {data['sentences_per_voice']} WordNet example sentences
  (`build_corpus([voice], {data['sentences_per_voice']}, seed=i)`, i = the voice's position).
- held out entirely: `{data['held_out_voice']}` (seed {HELD_OUT_SEED}); scored on its test-split sentences.
- split by sentence text (90/5/5, seed-independent): no test sentence is trained on by any voice.
- corpora fingerprint (sha256 of the manifests): `{data['fingerprint']}`;
  the recipe builds them, equivalent to:
{corpus_commands}

## Training

- command: `{training['command']}` (resumable: rerun after an interruption; `--max-minutes M`
  stops after the epoch that passes M minutes, and a rerun resumes)
- epochs run: {training['epochs']}, best validation CER {training['best_validation_cer']}
  at epoch {training['best_epoch']}
- training wall time: {training['wall_time_s']} s on {training['hardware']}
- SpecAugment ({_spec_augment_text(model)}), Adam 1e-3 with clipnorm 5,
  halved when the validation CER stalls for 2 epochs; length-bucketed batches of ~{FRAMES_PER_BATCH} frames.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs in all (default {EPOCHS})")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes (a later run resumes)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="skip training: measure the best checkpoint and save the preset")
    parser.add_argument("--no-save", action="store_true", help="train only; do not evaluate or save the preset")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="checkpoints and logs (default <cache>/runs/ctc-multivoice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (for log files)")
    add_strategy_option(parser)
    args = parser.parse_args(argv)
    if args.max_minutes is not None and args.strategy == "multi-worker":
        parser.error("--max-minutes stops each worker by its own clock, so workers would stop at different "
                     "epochs; with --strategy multi-worker use --epochs")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from tfspeech.data.corpus import default_cache_dir

    work_dir = args.work_dir or default_cache_dir() / "runs" / PRESET_NAME
    progress = not args.no_progress
    strategy = make_strategy(args.strategy)
    if not args.evaluate_only:
        train(work_dir, args.epochs, args.max_minutes, progress, strategy)
    if not args.no_save and is_chief(strategy):
        save(work_dir, progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
