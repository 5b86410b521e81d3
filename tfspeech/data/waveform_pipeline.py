"""Training examples for a frame-rate vocoder: random crops of (context log-mels, waveform).

A crop of ``F`` frames starting at frame ``f`` pairs the samples ``[f * hop, (f + F) * hop)``
with the log-mel frames ``[f - left, f + F + right)``: the frames the vocoder needs to produce
exactly those samples (``ISTFTVocoder.left_context`` / ``right_context``). Frames outside the
utterance are silence (``ln(log_floor)``) and samples past its end are zeros, which is how
``ISTFTVocoder.vocode`` pads whole utterances, so training and inference see the same edges.

::

    utterances = load_waveform_utterances(corpus_dir, "train", MelConfig())
    dataset = waveform_dataset(utterances, MelConfig(), segment_frames=64, left_context=28,
                               right_context=29, batch_size=16)
    for mel, audio in dataset.take(1):
        mel    # (16, 64 + 28 + 29, 80) float32 log-mels
        audio  # (16, 64 * 256) float32 in [-1, 1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfspeech.audio.features import MelConfig
from tfspeech.audio.io import load
from tfspeech.data.features import cache_log_mels, load_log_mel
from tfspeech.data.layout import read_corpus
from tfspeech.data.vocoder_pipeline import random_starts


@dataclass(frozen=True)
class WaveformUtterance:
    """``audio`` int16 ``(samples,)``; ``mel`` float32 ``(frames, n_mels)`` log-mels of the
    recording (or of another model that predicts them frame by frame); ``text`` what it says."""

    id: str
    audio: np.ndarray
    mel: np.ndarray
    text: str = ""

    @property
    def waveform(self) -> np.ndarray:
        """float32 ``(samples,)`` in [-1, 1]."""
        return self.audio.astype(np.float32) / 32768.0


def load_waveform_utterances(corpus_dir: str | Path, split: str = "train", mel_config: MelConfig = MelConfig(),
                             progress: bool = True, limit: int | None = None) -> list[WaveformUtterance]:
    """Reads a split of a built corpus (computing missing log-mels in the feature cache);
    ``limit`` keeps the first utterances only."""
    utterances = read_corpus(corpus_dir, split)[:limit]
    if not utterances:
        raise ValueError(f"{corpus_dir} has no {split!r} utterances; build a corpus with more sentences")
    cache_log_mels(corpus_dir, mel_config, progress=progress)
    loaded = []
    for utterance in tqdm(utterances, desc=f"loading {split} audio", unit="utt", disable=not progress):
        waveform, _ = load(utterance.wav_path(corpus_dir), sample_rate=mel_config.sample_rate)
        audio = np.round(np.clip(waveform, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)
        loaded.append(WaveformUtterance(utterance.id, audio, load_log_mel(corpus_dir, utterance.id, mel_config),
                                        utterance.text))
    return loaded


def context_crop(utterance: WaveformUtterance, start: int, frames: int, left: int, right: int,
                 mel_config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(mel (left + frames + right, n_mels), audio (frames * hop,) float32)`` from frame ``start``."""
    hop, mel = mel_config.hop_length, utterance.mel
    silence = np.float32(math.log(mel_config.log_floor))
    first, last = start - left, start + frames + right
    window = np.full((last - first, mel.shape[1]), silence, np.float32)
    inside_first, inside_last = max(first, 0), min(last, mel.shape[0])
    if inside_last > inside_first:
        window[inside_first - first: inside_last - first] = mel[inside_first:inside_last]
    audio = np.zeros(frames * hop, np.float32)
    piece = utterance.audio[start * hop: (start + frames) * hop]
    audio[: piece.size] = piece.astype(np.float32) / 32768.0
    return window, audio


def random_context_crops(utterances: list[WaveformUtterance], frames: int, left: int, right: int,
                         mel_config: MelConfig, seed: int):
    """Endless crops: every start frame of the corpus equally likely."""
    for index, start in random_starts([u.mel.shape[0] for u in utterances], frames, seed):
        yield context_crop(utterances[index], start, frames, left, right, mel_config)


def waveform_dataset(utterances: list[WaveformUtterance], mel_config: MelConfig, *, segment_frames: int,
                     left_context: int, right_context: int, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Endless batches ``(mel (batch, left + segment_frames + right, n_mels), audio (batch,
    segment_frames * hop))`` for ``model.fit`` (use ``steps_per_epoch``). The same ``seed``
    gives the same batches."""
    if not utterances:
        raise ValueError("no utterances to draw crops from")
    signature = (
        tf.TensorSpec([left_context + segment_frames + right_context, mel_config.n_mels], tf.float32),
        tf.TensorSpec([segment_frames * mel_config.hop_length], tf.float32),
    )
    crops = tf.data.Dataset.from_generator(
        lambda: random_context_crops(utterances, segment_frames, left_context, right_context, mel_config, seed),
        output_signature=signature,
    )
    return crops.batch(batch_size, drop_remainder=True).prefetch(2)
