"""Recipe for the ``vqvae-multivoice`` preset: a VQ-VAE over log-mels of six synthesized voices,
and the speaker classifier that judges its voice conversions.

    python -m tfspeech.recipes.vqvae_multivoice                   # corpus, train (resumes), evaluate, save
    python -m tfspeech.recipes.vqvae_multivoice --max-minutes 45  # stop training after 45 minutes
    python -m tfspeech.recipes.vqvae_multivoice --evaluate-only   # best checkpoint → figures → zoo/

Data: one parallel corpus, ``build_corpus(VOICES, SENTENCES, seed=0)``: every voice speaks
every sentence, split by sentence text (90/5/5), so each test sentence exists in every
voice and was never trained on (nor by ``ctc-multivoice``, whose corpora split the same way).

Training: ``model.fit`` on random ``CROP_FRAMES``-frame crops of the training utterances;
resumable (``callbacks.AtomicBackupAndRestore``), best weights by validation reconstruction
error. ``--strategy`` distributes it (``tfspeech.recipes.strategy``): the chief keeps the work
folder, evaluates and saves; another worker only its backup, ``backup.worker-<i>``. The speaker
classifier (``tfspeech.models.speaker_classifier``), a small judge trained at evaluation on the
chief alone, trains on crops of the same training utterances (real audio only).

Evaluation on the test sentences: reconstruction error and codebook perplexity; every
utterance converted to every other voice, rendered to audio with Griffin-Lim, then judged
by the speaker classifier (is it the target voice?) and by the ``ctc-multivoice`` recognizer
(is the content kept?); the DTW-aligned log-mel distance to the target voice's own rendering
of the sentence; TFLite/SavedModel parity. Everything the run writes lives under
``<cache>/runs/vqvae-multivoice`` (``--work-dir``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfspeech.recipes.callbacks import AtomicBackupAndRestore, TrainingClock
from tfspeech.recipes.strategy import add_strategy_option, is_chief, make_strategy, worker_path

PRESET_NAME = "vqvae-multivoice"
CLASSIFIER_NAME = "speaker-classifier"
VOICES = (
    "festival:cmu_us_slt_arctic_hts",
    "flite:rms",
    "flite:kal16",
    "flite:slt",
    "espeak:en-us",
    "espeak:en-us+f3:speed=1.15",
)
SENTENCES = 500
CORPUS_SEED = 0
MODEL_CONFIG = dict(
    channels=160,
    code_dim=64,
    num_codes=256,
    time_strides=[2, 2],
    encoder_dilations=[1, 2, 4],
    decoder_dilations=[1, 2, 4, 8, 1, 2, 4, 8],
    speaker_dim=32,
    commitment_cost=0.25,
    ema_decay=0.99,
    restart_below=0.03,
)
CLASSIFIER_CONFIG = dict(channels=96, hidden=96)
CROP_FRAMES = 128
BATCH_SIZE = 16
STEPS_PER_EPOCH = 500
EPOCHS = 40
CLASSIFIER_CROP_FRAMES = 200
CLASSIFIER_STEPS = 1500
GRIFFIN_LIM_ITERS = 32
SEED = 0
ZOO = Path(__file__).resolve().parents[2] / "zoo"
TRAIN_COMMAND = "python -m tfspeech.recipes.vqvae_multivoice"
EVALUATE_COMMAND = "python -m tfspeech.recipes.vqvae_multivoice --evaluate-only"


def build_parallel_corpus(progress: bool = True) -> Path:
    """The corpus folder (built or re-checked) with its log-mel cache filled."""
    from tfspeech.data.corpus import build_corpus
    from tfspeech.data.features import cache_log_mels

    corpus = build_corpus(list(VOICES), SENTENCES, seed=CORPUS_SEED, progress=progress)
    cache_log_mels(corpus, progress=progress)
    return corpus


def utterances(corpus: Path, split: str) -> list:
    """``tfspeech.data.layout.Utterance`` s of ``split`` whose speaker is one of ``VOICES``."""
    from tfspeech.data.layout import read_corpus

    return [u for u in read_corpus(corpus, split) if u.speaker in VOICES]


def log_mels(corpus: Path, items) -> list[np.ndarray]:
    """The cached ``(frames, n_mels)`` log-mels of ``items`` (utterances), in order."""
    from tfspeech.data.features import load_log_mel

    return [load_log_mel(corpus, u.id) for u in items]


def crop_batches(mels, speakers, crop_frames: int, batch_size: int, seed: int, floor: float):
    """Endless batches ``{"log_mel": (batch, crop, n_mels), "speaker": (batch,)}`` of
    random crops (utterances drawn in proportion to their length); shorter ones are padded
    with silence (``floor``, the log of the mel floor) at the end."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(m) for m in mels], np.float64)
    weights = lengths / lengths.sum()
    n_mels = mels[0].shape[1]
    while True:
        batch = np.full((batch_size, crop_frames, n_mels), floor, np.float32)
        picks = rng.choice(len(mels), batch_size, p=weights)
        for row, index in enumerate(picks):
            mel = mels[index]
            start = rng.integers(0, max(len(mel) - crop_frames, 0) + 1)
            piece = mel[start:start + crop_frames]
            batch[row, :len(piece)] = piece
        yield {"log_mel": batch, "speaker": np.asarray(speakers, np.int32)[picks]}


def centre_crops(mels, crop_frames: int, floor: float) -> np.ndarray:
    """``(utterances, crop, n_mels)``: the middle ``crop_frames`` of each, silence-padded."""
    out = np.full((len(mels), crop_frames, mels[0].shape[1]), floor, np.float32)
    for row, mel in enumerate(mels):
        start = max(len(mel) - crop_frames, 0) // 2
        piece = mel[start:start + crop_frames]
        out[row, :len(piece)] = piece
    return out


def _dataset(generator, crop_frames: int, n_mels: int) -> tf.data.Dataset:
    signature = {"log_mel": tf.TensorSpec([None, crop_frames, n_mels], tf.float32),
                 "speaker": tf.TensorSpec([None], tf.int32)}
    return tf.data.Dataset.from_generator(lambda: generator, output_signature=signature).prefetch(2)


def new_model():
    from tfspeech.models.vqvae import VQVAE

    model = VQVAE(list(VOICES), **MODEL_CONFIG)
    model.build()
    return model


def train(work_dir: Path, epochs: int, max_minutes: float | None, progress: bool,
          strategy: tf.distribute.Strategy) -> None:
    corpus = build_parallel_corpus(progress)
    train_items, validation_items = utterances(corpus, "train"), utterances(corpus, "validation")
    keras.utils.set_random_seed(SEED)
    with strategy.scope():
        model = new_model()
        model.compile(**model.default_compile_args())
    floor = float(np.log(model.mel_config.log_floor))
    train_mels = log_mels(corpus, train_items)
    speakers = [model.speaker_id(u.speaker) for u in train_items]
    hours = sum(len(m) for m in train_mels) * model.mel_config.hop_length / model.mel_config.sample_rate / 3600
    print(f"training on {len(train_items)} utterances ({hours:.2f} h) of {len(VOICES)} voices, "
          f"validating on {len(validation_items)}", flush=True)
    dataset = _dataset(crop_batches(train_mels, speakers, CROP_FRAMES, BATCH_SIZE, SEED, floor),
                       CROP_FRAMES, model.n_mels)
    validation = {"log_mel": centre_crops(log_mels(corpus, validation_items), CROP_FRAMES, floor),
                  "speaker": np.array([model.speaker_id(u.speaker) for u in validation_items], np.int32)}

    work_dir.mkdir(parents=True, exist_ok=True)
    # every worker schedules alike; the chief alone writes the work folder's files
    callbacks = [
        AtomicBackupAndRestore(str(worker_path(work_dir / "backup", strategy))),
        keras.callbacks.ReduceLROnPlateau(monitor="val_reconstruction", mode="min", factor=0.5, patience=2,
                                          min_lr=1e-4),
    ]
    if is_chief(strategy):
        callbacks += [
            keras.callbacks.ModelCheckpoint(str(work_dir / "best.weights.h5"), monitor="val_reconstruction",
                                            mode="min", save_best_only=True, save_weights_only=True,
                                            initial_value_threshold=_best(work_dir, "val_reconstruction")),
            keras.callbacks.CSVLogger(str(work_dir / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(work_dir / "tensorboard")),
            TrainingClock(work_dir / "timing.json", max_minutes, TRAIN_COMMAND),
        ]
    model.fit(dataset, validation_data=tf.data.Dataset.from_tensor_slices(validation).batch(32),
              epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, callbacks=callbacks,
              verbose=1 if progress and is_chief(strategy) else 2)


def _best(work_dir: Path, column: str) -> float | None:
    """The best (lowest) ``column`` of earlier runs, so a resumed run keeps a better checkpoint."""
    path = work_dir / "history.csv"
    if not path.is_file():
        return None
    values = [float(r[column]) for r in csv.DictReader(open(path, encoding="utf-8")) if r.get(column)]
    return min(values, default=None)


def train_classifier(corpus: Path, work_dir: Path, progress: bool):
    """The speaker classifier, trained on crops of the training utterances (real audio) unless
    ``work_dir`` already holds its weights; prints its validation accuracy."""
    from tfspeech.models.speaker_classifier import SpeakerClassifier

    classifier = SpeakerClassifier(list(VOICES), **CLASSIFIER_CONFIG)
    classifier.build()
    path = work_dir / "speaker_classifier.weights.h5"
    if path.is_file():
        classifier.load_weights(path)
        return classifier
    items = utterances(corpus, "train")
    mels = log_mels(corpus, items)
    floor = float(np.log(classifier.mel_config.log_floor))
    batches = crop_batches(mels, [VOICES.index(u.speaker) for u in items], CLASSIFIER_CROP_FRAMES, BATCH_SIZE,
                           SEED + 1, floor)
    signature = (tf.TensorSpec([None, CLASSIFIER_CROP_FRAMES, classifier.n_mels], tf.float32),
                 tf.TensorSpec([None], tf.int32))
    dataset = tf.data.Dataset.from_generator(lambda: ((b["log_mel"], b["speaker"]) for b in batches),
                                             output_signature=signature).prefetch(2)
    keras.utils.set_random_seed(SEED)
    classifier.compile(**classifier.default_compile_args())
    start = time.monotonic()
    classifier.fit(dataset, steps_per_epoch=CLASSIFIER_STEPS, epochs=1, verbose=1 if progress else 2)
    validation = utterances(corpus, "validation")
    predicted = [classifier.predict_speakers(m[np.newaxis])[0] for m in log_mels(corpus, validation)]
    accuracy = np.mean([p == u.speaker for p, u in zip(predicted, validation)])
    print(f"speaker classifier: validation accuracy {accuracy:.3f} ({len(validation)} utterances), "
          f"trained in {time.monotonic() - start:.0f} s", flush=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    classifier.save_weights(path)
    (work_dir / "speaker_classifier.json").write_text(json.dumps(
        {"validation_accuracy": float(accuracy), "train_s": round(time.monotonic() - start)}) + "\n")
    return classifier


def dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance between log-mel frames ``(frames, n_mels)`` along the best DTW path."""
    import librosa

    cost, path = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")
    return float(cost[-1, -1] / len(path))


def evaluate(model, classifier, corpus: Path, work_dir: Path, progress: bool = True) -> dict:
    """Held-out figures on the test sentences (see the module doc); also writes ``conversion.png``."""
    from tqdm import tqdm

    from tfspeech.audio import log_mel_spectrogram
    from tfspeech.conversion import log_mel_to_audio
    from tfspeech.decoding import transcript
    from tfspeech.metrics import character_error_rate

    config = model.mel_config
    items = utterances(corpus, "test")
    mels = log_mels(corpus, items)
    real = {(u.speaker, u.text): m for u, m in zip(items, mels)}
    targets = np.arange(len(VOICES), dtype=np.int32)

    def classify(log_mel):
        return VOICES[int(np.argmax(classifier(log_mel[np.newaxis]).numpy()))]

    squared_error, frames, code_counts = 0.0, 0, np.zeros(model.num_codes)
    rows = []  # one per (utterance, target voice)
    controls = []  # one per utterance: the real audio and its Griffin-Lim rendering
    for item, mel in tqdm(list(zip(items, mels)), desc="converting test utterances", disable=not progress):
        source = VOICES.index(item.speaker)
        codes = model.encode(mel[np.newaxis])
        code_counts += np.bincount(codes.numpy().reshape(-1), minlength=model.num_codes)
        decoded = model.decode(tf.repeat(codes, len(VOICES), axis=0), targets)[:, : len(mel)].numpy()
        squared_error += float(np.sum((decoded[source] - mel) ** 2))
        frames += mel.size
        audio = log_mel_to_audio(np.concatenate([decoded, mel[np.newaxis]]), config, GRIFFIN_LIM_ITERS)
        heard = log_mel_spectrogram(audio, config).numpy()
        for target in targets:
            voice = VOICES[target]
            rows.append({
                "source": item.speaker, "target": voice, "text": item.text, "heard": heard[target],
                "classified_mel": classify(decoded[target]), "classified_audio": classify(heard[target]),
                "dtw_converted": dtw_distance(decoded[target], real[(voice, item.text)]),
                "dtw_source": dtw_distance(mel, real[(voice, item.text)]),
            })
        controls.append({"speaker": item.speaker, "text": item.text, "heard": heard[-1],
                         "classified_real": classify(mel), "classified_griffin_lim": classify(heard[-1])})

    originals = [{"text": u.text, "heard": m} for u, m in zip(items, mels)]  # the cache holds the wavs' log-mels
    print("transcribing (ctc-multivoice) ...", flush=True)
    everything = rows + controls + originals
    for entry, hypothesis in zip(everything, transcribe_log_mels([e["heard"] for e in everything], config)):
        entry["hypothesis"] = hypothesis

    def cer(entries):
        return character_error_rate([transcript(e["text"]) for e in entries], [e["hypothesis"] for e in entries])

    def share(entries, predicate):
        return float(np.mean([predicate(e) for e in entries]))

    converted = [r for r in rows if r["source"] != r["target"]]
    reconstructed = [r for r in rows if r["source"] == r["target"]]
    probabilities = code_counts / code_counts.sum()
    used = probabilities[probabilities > 0]
    figures = {
        "utterances": len(items),
        "sentences": len({u.text for u in items}),
        "reconstruction_mse": squared_error / frames,
        "codebook_perplexity": float(np.exp(-np.sum(used * np.log(used)))),
        "codes_used": int(np.count_nonzero(code_counts)),
        "classifier_accuracy_real": share(controls, lambda e: e["classified_real"] == e["speaker"]),
        "classifier_accuracy_griffin_lim": share(controls, lambda e: e["classified_griffin_lim"] == e["speaker"]),
        "reconstruction_speaker_accuracy": share(reconstructed, lambda r: r["classified_audio"] == r["target"]),
        "conversion_accuracy": share(converted, lambda r: r["classified_audio"] == r["target"]),
        "conversion_accuracy_mel": share(converted, lambda r: r["classified_mel"] == r["target"]),
        "conversion_judged_source": share(converted, lambda r: r["classified_audio"] == r["source"]),
        "conversions": len(converted),
        "dtw_converted_to_target": float(np.mean([r["dtw_converted"] for r in converted])),
        "dtw_source_to_target": float(np.mean([r["dtw_source"] for r in converted])),
        "cer_original": cer(originals),
        "cer_griffin_lim_original": cer(controls),
        "cer_reconstruction": cer(reconstructed),
        "cer_converted": cer(converted),
        "conversion_matrix": {
            source: {target: share([r for r in converted if r["source"] == source and r["target"] == target],
                                   lambda r: r["classified_audio"] == r["target"])
                     for target in VOICES if target != source}
            for source in VOICES
        },
        "cer_converted_by_target": {target: cer([r for r in converted if r["target"] == target]) for target in VOICES},
    }
    figures["export"] = export_figures(model, items, mels, corpus, work_dir)
    _conversion_picture(model, items, mels, real, work_dir / "conversion.png")
    return figures


def transcribe_log_mels(log_mels, mel_config, batch_size: int = 32) -> list[str]:
    """Greedy ``ctc-multivoice`` transcripts of ``(frames, n_mels)`` log-mels computed with
    ``mel_config`` (the recognizer's), in order; batched by length through one tf.function."""
    import tfspeech.zoo
    from tfspeech.decoding import decode

    recognizer = tfspeech.zoo.load("ctc-multivoice", compile=False)
    if recognizer.mel_config != mel_config:
        raise ValueError(f"ctc-multivoice reads {recognizer.mel_config}, not {mel_config}")
    signature = {"log_mel": tf.TensorSpec([None, None, recognizer.n_mels], tf.float32),
                 "num_frames": tf.TensorSpec([None], tf.int32)}
    forward = tf.function(lambda inputs: recognizer(inputs, training=False), input_signature=[signature])
    order = sorted(range(len(log_mels)), key=lambda i: len(log_mels[i]))
    texts = [""] * len(log_mels)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        frames = np.array([len(log_mels[i]) for i in chunk], np.int32)
        batch = np.zeros((len(chunk), frames.max(), recognizer.n_mels), np.float32)
        for row, i in enumerate(chunk):
            batch[row, :frames[row]] = log_mels[i]
        logits = forward({"log_mel": batch, "num_frames": frames})
        for i, text in zip(chunk, decode(logits, recognizer.output_lengths(frames))):
            texts[i] = text
    return texts


def export_figures(model, items, mels, corpus: Path, out_dir: Path) -> dict:
    """SavedModel and TFLite (float32, builtin ops) parity on real test audio, and how many code
    ids LiteRT gives differently from Keras over every test utterance."""
    from tfspeech import export
    from tfspeech.audio import load
    from tfspeech.runtime.litert_runner import LiteRTRunner

    samples = list(range(0, len(items), max(1, len(items) // 4)))[:4]
    waveforms = [load(items[i].wav_path(corpus), model.mel_config.sample_rate)[0][np.newaxis] for i in samples]
    codes = [model.encode(mels[i][np.newaxis]).numpy() for i in samples]
    data = {"encode": waveforms, "encode_log_mel": [mels[i][np.newaxis] for i in samples],
            "decode": [(c, np.array([s % len(VOICES)], np.int32)) for s, c in enumerate(codes)]}
    figures = {}
    for name, write in (("saved_model", lambda: export.saved_model(model, out_dir / "saved_model", sample_data=data)),
                        ("tflite", lambda: export.tflite(model, out_dir / f"{PRESET_NAME}.tflite",
                                                         representative_data=data))):
        try:
            report = write()
        except export.ParityError as error:  # reported, not hidden
            report = error.report
        print(report, flush=True)
        figures[name] = {"path": str(report.path), "size_bytes": report.size_bytes, "passed": report.passed,
                         "tolerance": str(report.tolerance), "flex_ops": list(report.flex_ops),
                         "max_abs_error": report.max_abs_error}
    runner = LiteRTRunner(out_dir / f"{PRESET_NAME}.tflite")
    different = total = 0
    for mel in mels:
        keras_codes = model.encode(mel[np.newaxis]).numpy()
        litert_codes = runner.run_signature("encode_log_mel", log_mel=mel[np.newaxis])["codes"]
        different += int(np.count_nonzero(keras_codes != litert_codes))
        total += keras_codes.size
    figures["tflite"].update(code_ids_compared=total, code_ids_different=different)
    return figures


def _conversion_picture(model, items, mels, real, path: Path) -> None:
    """One test sentence: source log-mel, converted to another voice, that voice's own rendering."""
    from tfspeech.plots import matrix_png

    source_index = next(i for i, u in enumerate(items) if u.speaker == VOICES[0])
    item, target = items[source_index], VOICES[1]
    converted = model.convert(mels[source_index][np.newaxis], np.array([VOICES.index(target)]))[0].numpy()
    path.write_bytes(matrix_png(
        [mels[source_index].T, converted.T, real[(target, item.text)].T],
        titles=[f"source: {item.speaker}", f"converted to {target}", f"{target} saying the same sentence"],
        xlabel="frame", ylabel="mel band"))


def save(work_dir: Path, progress: bool) -> Path:
    """Loads the best checkpoint, measures it, and writes ``zoo/vqvae-multivoice`` (with the
    speaker classifier as a preset inside it, ``speaker-classifier``)."""
    best = work_dir / "best.weights.h5"
    if not best.is_file():
        raise FileNotFoundError(f"{best} is missing: train first with `{TRAIN_COMMAND}`")
    corpus = build_parallel_corpus(progress)
    model = new_model()
    model.load_weights(best)
    classifier = train_classifier(corpus, work_dir, progress)
    figures = evaluate(model, classifier, corpus, work_dir, progress)
    (work_dir / "figures.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return write_presets(model, classifier, figures, corpus, work_dir)


def write_presets(model, classifier, figures: dict, corpus: Path, work_dir: Path) -> Path:
    """``zoo/vqvae-multivoice`` from measured ``figures``, with the classifier as ``speaker-classifier`` inside."""
    import tfspeech.zoo

    history = _history(work_dir)
    scalar = {k: v for k, v in figures.items() if isinstance(v, (float, int))}
    metrics = {k: {"value": round(v, 4) if isinstance(v, float) else v, "command": EVALUATE_COMMAND}
               for k, v in scalar.items()}
    metrics["tflite_code_ids_different"] = {"value": figures["export"]["tflite"]["code_ids_different"],
                                            "command": EVALUATE_COMMAND}
    for key, error in figures["export"]["tflite"]["max_abs_error"].items():
        metrics[f"tflite_max_abs_error_{key.replace('/', '_')}"] = {"value": error, "command": EVALUATE_COMMAND}
    manifest = corpus / "manifest.json"
    data = {
        "fingerprint": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "voices": list(VOICES),
        "sentences": SENTENCES,
        "corpus_command": json.loads(manifest.read_text(encoding="utf-8"))["command"],
        "features": "log-mel, tfspeech.audio.MelConfig() defaults (22,050 Hz, 80 bands, hop 256)",
        "split": "by sentence text (90/5/5, seed-independent); every voice speaks every sentence",
    }
    training = {
        "command": f"{TRAIN_COMMAND} --epochs {history['epochs']}",
        "epochs": history["epochs"],
        "steps": history["epochs"] * STEPS_PER_EPOCH,
        "batch": f"{BATCH_SIZE} random crops of {CROP_FRAMES} frames",
        "best_epoch": history["best_epoch"],
        "best_validation_reconstruction_mse": history["best"],
        "wall_time_s": history["wall_time_s"],
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), TensorFlow {tf.__version__}",
    }
    folder = tfspeech.zoo.save_preset(model, PRESET_NAME, root=ZOO, data=data, training=training, metrics=metrics,
                                      card=_card(figures, data, training, model), overwrite=True)
    (folder / "conversion.png").write_bytes((work_dir / "conversion.png").read_bytes())
    classifier_info = json.loads((work_dir / "speaker_classifier.json").read_text())
    tfspeech.zoo.save_preset(
        classifier, CLASSIFIER_NAME, root=folder, data={**data, "split_used": "train (crops), validation"},
        training={"command": TRAIN_COMMAND, "steps": CLASSIFIER_STEPS,
                  "batch": f"{BATCH_SIZE} random crops of {CLASSIFIER_CROP_FRAMES} frames",
                  "wall_time_s": classifier_info["train_s"], "hardware": training["hardware"]},
        metrics={"validation_accuracy": {"value": round(classifier_info["validation_accuracy"], 4),
                                         "command": TRAIN_COMMAND},
                 "test_accuracy_real": {"value": round(figures["classifier_accuracy_real"], 4),
                                        "command": EVALUATE_COMMAND},
                 "test_accuracy_griffin_lim": {"value": round(figures["classifier_accuracy_griffin_lim"], 4),
                                               "command": EVALUATE_COMMAND}},
        card=_classifier_card(classifier, figures, classifier_info), overwrite=True)
    print(f"saved {folder}")
    return folder


def _classifier_card(classifier, figures: dict, info: dict) -> str:
    return f"""# {CLASSIFIER_NAME}

The judge of `{PRESET_NAME}`'s voice conversions: a `tfspeech>SpeakerClassifier` ({classifier.count_params():,}
parameters; log-mel → {classifier.conv_layers} strided Conv1D {classifier.channels} → mean/std pooling over time →
Dense {classifier.hidden} → {len(classifier.speakers)} voices), trained on {CLASSIFIER_STEPS} batches of
{BATCH_SIZE} random {CLASSIFIER_CROP_FRAMES}-frame crops of the training utterances (real audio) by
`{TRAIN_COMMAND}` in {info['train_s']} s.

```python
import tfspeech.zoo
judge = tfspeech.zoo.load("{CLASSIFIER_NAME}", root=tfspeech.zoo.info("{PRESET_NAME}")["path"])
judge.predict_speakers(log_mels)            # (batch, frames, 80) → voice names
```

| utterances | accuracy |
|---|---|
| validation split, real audio | {info['validation_accuracy']:.3f} |
| test split, real audio | {figures['classifier_accuracy_real']:.3f} |
| test split, log-mel → Griffin-Lim audio | {figures['classifier_accuracy_griffin_lim']:.3f} |

Voices: {", ".join(f"`{v}`" for v in classifier.speakers)}.
"""


def _history(work_dir: Path) -> dict:
    rows = list(csv.DictReader(open(work_dir / "history.csv", encoding="utf-8")))
    if not rows:
        raise ValueError(f"{work_dir / 'history.csv'} holds no epoch; train first")
    best = min(rows, key=lambda r: float(r["val_reconstruction"]))
    timing = json.loads((work_dir / "timing.json").read_text()) if (work_dir / "timing.json").is_file() else {}
    return {"epochs": len(rows), "best_epoch": int(best["epoch"]) + 1,
            "best": round(float(best["val_reconstruction"]), 4), "wall_time_s": round(timing.get("train_s", 0.0))}


def _card(figures: dict, data: dict, training: dict, model) -> str:
    f = figures
    short = {voice: f"V{i + 1}" for i, voice in enumerate(VOICES)}
    legend = ", ".join(f"{short[v]} = `{v}`" for v in VOICES)
    matrix = "\n".join(
        f"| {short[source]} | " + " | ".join(
            "—" if target == source else f"{f['conversion_matrix'][source][target]:.2f}" for target in VOICES) + " |"
        for source in VOICES)
    cer_by_target = " | ".join(f"{f['cer_converted_by_target'][v]:.3f}" for v in VOICES)
    tflite, saved = f["export"]["tflite"], f["export"]["saved_model"]
    errors = ", ".join(f"`{k}` {v:.2g}" for k, v in tflite["max_abs_error"].items())
    return f"""# {PRESET_NAME}

A VQ-VAE over log-mels (`tfspeech>VQVAE`, {model.count_params():,} parameters) that turns speech into
discrete codes and back, in any of {len(VOICES)} synthesized voices: voice conversion by decoding one voice's
codes with another voice's speaker embedding. Encoder: per-utterance band normalization → Conv1D
{model.channels} → 2 strided convs (one code per {model.time_stride} frames, {model.mel_config.sample_rate * 1.0 /
model.mel_config.hop_length / model.time_stride:.1f} codes/s) → {len(model.encoder_dilations)} dilated residual blocks →
{model.code_dim}-d `z_e`; codebook of {model.num_codes} codes (EMA updates, decay {model.quantizer.ema_decay},
commitment β = {model.quantizer.commitment_cost}, dead-code restarts); decoder: speaker embedding
({model.speaker_dim}-d) added to every residual block, nearest-neighbour upsampling, {len(model.decoder_dilations)}
dilated residual blocks → 80-band log-mel. Audio comes back through Griffin-Lim.

```python
from tfspeech.conversion import convert_file
convert_file("speech.wav", "flite:rms", "as_rms.wav")   # any voice in; a known voice out
```
```sh
tfspeech convert speech.wav --to flite:rms -o as_rms.wav
```
```python
import tfspeech.zoo
model = tfspeech.zoo.load("{PRESET_NAME}")
codes = model.encode(log_mel)                        # (batch, frames / {model.time_stride}) int32
log_mel = model.decode(codes, [model.speaker_id("flite:slt")])
```

Speakers: {", ".join(f"`{v}`" for v in VOICES)}.

## Held-out figures

On the corpus test split: {f['sentences']} sentences never trained on, each spoken by every voice
({f['utterances']} utterances). Measured with `{EVALUATE_COMMAND}` (all figures also in the run's `figures.json`).

| figure | value |
|---|---|
| reconstruction error (own voice), log-mel MSE (nats², per band and frame) | {f['reconstruction_mse']:.3f} |
| codebook perplexity over all test codes (of {model.num_codes}) | {f['codebook_perplexity']:.1f} |
| codes used on the test set | {f['codes_used']} |
| conversion accuracy: classifier hears the target voice (Griffin-Lim audio, {f['conversions']} conversions) | {f['conversion_accuracy']:.3f} |
| the same, classifying the converted log-mel directly | {f['conversion_accuracy_mel']:.3f} |
| converted audio still judged the source voice | {f['conversion_judged_source']:.3f} |

### Is it the target voice?

The judge is a `SpeakerClassifier` (log-mel → 3 strided convs → mean/std pooling → speaker) trained
on crops of the training utterances' real audio only, shipped in this folder as the preset
`{CLASSIFIER_NAME}` (`tfspeech.zoo.load("{CLASSIFIER_NAME}", root=tfspeech.zoo.info("{PRESET_NAME}")["path"])`).
On the test utterances it names the right voice for {f['classifier_accuracy_real']:.3f} of the real recordings and
{f['classifier_accuracy_griffin_lim']:.3f} of their Griffin-Lim renderings (the control: what Griffin-Lim alone costs
the judge); for own-voice reconstructions it names the right voice {f['reconstruction_speaker_accuracy']:.3f} of the time.

Share of conversions judged to be the target voice (rows: source, columns: target; {legend}):

| source \\ target | {" | ".join(short[v] for v in VOICES)} |
|---|{"---|" * len(VOICES)}
{matrix}

### Is the content kept?

Character error rate of the `ctc-multivoice` recognizer (greedy) on the test sentences:

| audio | CER |
|---|---|
| original recordings | {f['cer_original']:.3f} |
| original log-mel → Griffin-Lim (vocoder alone) | {f['cer_griffin_lim_original']:.3f} |
| VQ-VAE reconstruction, own voice → Griffin-Lim | {f['cer_reconstruction']:.3f} |
| converted to another voice → Griffin-Lim | {f['cer_converted']:.3f} |

Converted, by target ({legend}): {cer_by_target}.

Distance to the target voice's own rendering of the sentence (mean Euclidean log-mel frame distance
along the DTW path): converted {f['dtw_converted_to_target']:.2f}, unconverted source {f['dtw_source_to_target']:.2f}.

![a test sentence: source, converted, target's own rendering](conversion.png)

Limitations: the decoder is trained with a squared error, so it predicts the average of what a code may
sound like: harmonics blur (see the picture) and Griffin-Lim adds its own artifacts; conversion keeps the
source's timing and rhythm. All voices are synthetic and differ a lot, so the judge's task is easy: its
accuracy says the converted audio carries the target voice's statistics, not that it sounds natural.

## Export

`tfspeech.export.saved_model` / `tfspeech.export.tflite` give the signatures `encode` (waveform at
{model.mel_config.sample_rate:,} Hz → `codes`), `encode_log_mel` (log-mel → `codes`) and `decode` (`codes`,
`speaker` → `log_mel`), builtin ops only. Parity on 4 real test utterances, float32: {errors}
(tolerance {tflite['tolerance']}); code ids from LiteRT differ from Keras in {tflite['code_ids_different']} of
{tflite['code_ids_compared']} over every test utterance. TFLite {tflite['size_bytes'] / 1e6:.1f} MB, SavedModel
{saved['size_bytes'] / 1e6:.1f} MB.

## Data

- `{data['corpus_command']}`: every voice speaks the same {SENTENCES} WordNet example sentences.
- {data['split']}; the test sentences are also outside every `ctc-multivoice` training corpus.
- corpus fingerprint (sha256 of manifest.json): `{data['fingerprint']}`

## Training

- command: `{training['command']}` (resumable; `--max-minutes M` stops after the epoch that passes M minutes)
- {training['epochs']} epochs of {STEPS_PER_EPOCH} steps, batches of {training['batch']}; Adam 1e-3, clipnorm 5,
  halved after 2 epochs without a better validation reconstruction; best epoch {training['best_epoch']}
  (validation log-mel MSE {training['best_validation_reconstruction_mse']} on centre crops)
- wall time: {training['wall_time_s']} s on {training['hardware']}
- speaker classifier: {CLASSIFIER_STEPS} steps of {BATCH_SIZE} crops of {CLASSIFIER_CROP_FRAMES} frames, same command
"""


def main(argv=None) -> int:
    from tfspeech.data.corpus import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"epochs of {STEPS_PER_EPOCH} steps in all (default {EPOCHS})")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes (a later run resumes)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="skip training: measure the best checkpoint and save the preset")
    parser.add_argument("--work-dir", type=Path, default=default_cache_dir() / "runs" / PRESET_NAME)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_strategy_option(parser)
    args = parser.parse_args(argv)
    if args.max_minutes is not None and args.strategy == "multi-worker":
        parser.error("--max-minutes stops each worker by its own clock, so workers would stop at different "
                     "epochs; with --strategy multi-worker use --epochs")
    strategy = make_strategy(args.strategy)
    if not args.evaluate_only:
        train(args.work_dir, args.epochs, args.max_minutes, not args.quiet, strategy)
    if is_chief(strategy):
        save(args.work_dir, not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
