"""Training examples for a mel-conditioned vocoder: random crops of (mu-law audio, log-mels).

A crop of ``frames`` log-mel frames starting at frame ``f`` is paired with the samples
``[f * hop, (f + frames) * hop)`` of the same utterance, so the vocoder's upsampled
conditioning (``frames * hop`` samples) lines up with the audio. An utterance's audio is
padded with silence to ``(its frames) * hop`` samples; an utterance shorter than a crop is
padded with silence and log-floor mel frames.

::

    dataset = vocoder_dataset(corpus_dir, "train", MelConfig(), segment_frames=8, batch_size=8)
    for inputs, targets in dataset.take(1):
        inputs["audio"]  # (8, 8 * 256) int32 mu-law classes; targets is the same tensor
        inputs["mel"]    # (8, 8, 80) float32 log-mels
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
from tfspeech.audio.mulaw import mulaw_encode
from tfspeech.data.features import cache_log_mels, load_log_mel
from tfspeech.data.layout import read_corpus


@dataclass(frozen=True)
class VocoderUtterance:
    """One utterance in memory: ``classes`` ``(frames * hop,)`` mu-law classes (padded with
    ``silence_class``), ``mel`` ``(frames, n_mels)`` log-mels, ``num_samples`` before padding,
    ``text`` what it says (from ``metadata.csv``)."""

    id: str
    classes: np.ndarray
    mel: np.ndarray
    num_samples: int
    silence_class: int
    text: str = ""


def load_utterances(
    corpus_dir: str | Path,
    split: str = "train",
    mel_config: MelConfig = MelConfig(),
    quantization_channels: int = 256,
    progress: bool = True,
) -> list[VocoderUtterance]:
    """Reads a split of a built corpus (computing missing log-mels in the feature cache)."""
    utterances = read_corpus(corpus_dir, split)
    if not utterances:
        raise ValueError(f"{corpus_dir} has no {split!r} utterances; build a corpus with more sentences")
    cache_log_mels(corpus_dir, mel_config, progress=progress)
    dtype = np.uint8 if quantization_channels <= 256 else np.int32
    silence = int(mulaw_encode(0.0, quantization_channels))
    loaded = []
    for utterance in tqdm(utterances, desc=f"loading {split} audio", unit="utt", disable=not progress):
        waveform, _ = load(utterance.wav_path(corpus_dir), sample_rate=mel_config.sample_rate)
        mel = load_log_mel(corpus_dir, utterance.id, mel_config)
        classes = np.full(mel.shape[0] * mel_config.hop_length, silence, dtype)
        classes[: waveform.size] = mulaw_encode(waveform, quantization_channels).numpy()
        loaded.append(VocoderUtterance(utterance.id, classes, mel, waveform.size, silence, utterance.text))
    return loaded


def crop(utterance: VocoderUtterance, start_frame: int, frames: int, mel_config: MelConfig):
    """``(classes (frames * hop,), mel (frames, n_mels))`` from ``start_frame``, padded past the end."""
    hop = mel_config.hop_length
    mel = utterance.mel[start_frame : start_frame + frames]
    classes = utterance.classes[start_frame * hop : (start_frame + frames) * hop]
    missing = frames - mel.shape[0]
    if missing:
        floor = np.float32(math.log(mel_config.log_floor))
        mel = np.concatenate([mel, np.full((missing, mel.shape[1]), floor, np.float32)])
        classes = np.concatenate([classes, np.full(missing * hop, utterance.silence_class, classes.dtype)])
    return classes, mel


def random_starts(lengths: list[int], frames: int, seed: int):
    """Endless ``(utterance index, start frame)`` of ``frames``-frame crops from utterances of
    ``lengths`` frames: every start frame of the corpus equally likely (an utterance shorter than
    a crop has one, 0)."""
    if frames < 1:
        raise ValueError(f"a crop needs at least one frame, got {frames}")
    starts = np.array([max(length - frames, 0) + 1 for length in lengths], np.float64)
    rng = np.random.default_rng(seed)
    while True:
        index = int(rng.choice(len(lengths), p=starts / starts.sum()))
        yield index, int(rng.integers(starts[index]))


def random_crops(utterances: list[VocoderUtterance], frames: int, mel_config: MelConfig, seed: int):
    """Endless crops ``(classes, mel)``: every start frame of the corpus equally likely."""
    for index, start in random_starts([u.mel.shape[0] for u in utterances], frames, seed):
        yield crop(utterances[index], start, frames, mel_config)


def vocoder_dataset(
    corpus_dir: str | Path,
    split: str = "train",
    mel_config: MelConfig = MelConfig(),
    *,
    segment_frames: int = 8,
    batch_size: int = 8,
    seed: int = 0,
    quantization_channels: int = 256,
    utterances: list[VocoderUtterance] | None = None,
    progress: bool = True,
) -> tf.data.Dataset:
    """Endless batches ``({"audio": (batch, segment_frames * hop) int32, "mel": (batch,
    segment_frames, n_mels) float32}, audio)`` for ``model.fit`` (use ``steps_per_epoch``).

    The same ``seed`` gives the same batches, on every iteration of the dataset.
    ``utterances`` reuses a ``load_utterances`` result instead of reading the corpus.
    """
    if utterances is None:
        utterances = load_utterances(corpus_dir, split, mel_config, quantization_channels, progress)
    samples = segment_frames * mel_config.hop_length
    signature = (
        tf.TensorSpec([samples], tf.as_dtype(utterances[0].classes.dtype)),
        tf.TensorSpec([segment_frames, mel_config.n_mels], tf.float32),
    )
    crops = tf.data.Dataset.from_generator(
        lambda: random_crops(utterances, segment_frames, mel_config, seed), output_signature=signature
    )

    def to_example(classes, mel):
        audio = tf.cast(classes, tf.int32)
        return {"audio": audio, "mel": mel}, audio

    return crops.batch(batch_size, drop_remainder=True).map(to_example).prefetch(2)
