"""A TTS model's teacher-forced log-mels of a corpus, frame-aligned with its recordings.

Run teacher forced (each decoder step sees the recorded frames before it), Tacotron 2 predicts
one frame per recorded frame: the blur and errors of its own output, on the recording's time
axis. A vocoder fine-tuned on (these mels, the recording) learns to undo that blur, which it
then meets on the model's free-running output.

Cached as ``<out_dir>/<id>.npy`` ``(frames, n_mels)`` float32, one per utterance; finished
files are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfspeech.data.features import cache_log_mels
from tfspeech.data.layout import read_corpus
from tfspeech.recipes.tts_evaluation import encode, pad_ids
from tfspeech.text import TextEncoder


def cache_teacher_forced_mels(corpus_dir: str | Path, tts_model, out_dir: str | Path, *, split: str | None = None,
                              batch_size: int = 16, progress: bool = True) -> Path:
    """Writes the missing ``out_dir/<id>.npy`` for the ``split`` (None: all) of the corpus; returns ``out_dir``.

    Utterances are batched by length (less padding); a batch's recorded log-mels are padded
    with silence to a multiple of the model's reduction factor, as in training.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    features = cache_log_mels(corpus_dir, tts_model.mel_config, progress=progress)
    todo = [u for u in read_corpus(corpus_dir, split) if not (out_dir / f"{u.id}.npy").is_file()]
    references = {u.id: np.load(features / f"{u.id}.npy") for u in todo}
    todo.sort(key=lambda u: len(references[u.id]))
    encoder = TextEncoder(tts_model.symbols)
    forward = tf.function(lambda inputs: tts_model(inputs, training=False)["mels"], reduce_retracing=True)
    r, silence = tts_model.reduction_factor, math.log(tts_model.mel_config.log_floor)
    for start in tqdm(range(0, len(todo), batch_size), desc="teacher-forced mels", unit="batch",
                      disable=not progress):
        batch = todo[start: start + batch_size]
        mels = [references[u.id] for u in batch]
        frames = r * math.ceil(max(len(m) for m in mels) / r)
        padded = np.full((len(mels), frames, tts_model.n_mels), silence, np.float32)
        for row, mel in zip(padded, mels):
            row[:len(mel)] = mel
        inputs = {"text": pad_ids([encode(encoder, u) for u in batch]), "mels": padded,
                  "mel_lengths": np.array([len(m) for m in mels], np.int32)}
        predicted = forward(inputs).numpy()
        for utterance, mel, row in zip(batch, mels, predicted):
            partial = out_dir / f".partial-{utterance.id}.npy"
            np.save(partial, row[:len(mel)].astype(np.float32))
            os.replace(partial, out_dir / f"{utterance.id}.npy")
    return out_dir
