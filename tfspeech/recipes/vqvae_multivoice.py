"""Recipe for the ``vqvae-multivoice`` preset: a VQ-VAE over log-mels of six synthesized voices,
and the speaker classifier that judges its voice conversions.

    python -m tfspeech.recipes.vqvae_multivoice                   # corpus, train (resumes), evaluate, save
    python -m tfspeech.recipes.vqvae_multivoice --max-minutes 45  # stop training after 45 minutes
    python -m tfspeech.recipes.vqvae_multivoice --evaluate-only   # best checkpoint → figures → zoo/

Data: one parallel corpus, ``build_corpus(VOICES, SENTENCES, seed=0)``: every voice speaks
every sentence, split by sentence text (90/5/5), so each test sentence exists in every
voice and was never trained on (nor by ``ctc-multivoice``, whose corpora split the same way).

Training: ``model.fit`` on random ``CROP_FRAMES``-frame crops of the training utterances;
resumable (``keras.callbacks.BackupAndRestore``), best weights by validation reconstruction
error. The speaker classifier (``tfspeech.models.speaker_classifier``) trains on crops of
the same training utterances (real audio only).

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


class TrainingClock(keras.callbacks.Callback):
    """Adds each epoch's wall time to ``timing.json`` (over resumed runs too) and stops
    training after ``max_minutes`` of this run (a later run resumes)."""

    def __init__(self, path: Path, max_minutes: float | None):
        super().__init__()
        self.path, self.max_minutes = path, max_minutes

    def on_train_begin(self, logs=None):
        self.start = self.epoch_start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        timing = json.loads(self.path.read_text()) if self.path.is_file() else {"train_s": 0.0}
        timing["train_s"] += time.monotonic() - self.epoch_start
        self.path.write_text(json.dumps(timing) + "\n")
        if self.max_minutes is not None and time.monotonic() - self.start > 60 * self.max_minutes:
            print(f"\ntime limit of {self.max_minutes:g} minutes reached after epoch {epoch + 1}; "
                  f"run `{TRAIN_COMMAND}` again to resume", flush=True)
            self.model.stop_training = True


def new_model():
    from tfspeech.models.vqvae import VQVAE

    model = VQVAE(list(VOICES), **MODEL_CONFIG)
    model.build()
    return model


def train(work_dir: Path, epochs: int, max_minutes: float | None, progress: bool) -> None:
    corpus = build_parallel_corpus(progress)
    train_items, validation_items = utterances(corpus, "train"), utterances(corpus, "validation")
    model = new_model()
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

    keras.utils.set_random_seed(SEED)
    model.compile(**model.default_compile_args())
    work_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(work_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(work_dir / "best.weights.h5"), monitor="val_reconstruction",
                                        mode="min", save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=_best(work_dir, "val_reconstruction")),
        keras.callbacks.ReduceLROnPlateau(monitor="val_reconstruction", mode="min", factor=0.5, patience=2,
                                          min_lr=1e-4),
        keras.callbacks.CSVLogger(str(work_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(work_dir / "tensorboard")),
        TrainingClock(work_dir / "timing.json", max_minutes),
    ]
    model.fit(dataset, validation_data=tf.data.Dataset.from_tensor_slices(validation).batch(32),
              epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, callbacks=callbacks, verbose=1 if progress else 2)


def _best(work_dir: Path, column: str) -> float | None:
    """The best (lowest) ``column`` of earlier runs, so a resumed run keeps a better checkpoint."""
    path = work_dir / "history.csv"
    if not path.is_file():
        return None
    values = [float(r[column]) for r in csv.DictReader(open(path, encoding="utf-8")) if r.get(column)]
    return min(values, default=None)


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
    args = parser.parse_args(argv)
    if not args.evaluate_only:
        train(args.work_dir, args.epochs, args.max_minutes, not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
