"""``tf.data`` input pipeline for text-to-speech training (Tacotron, Tacotron 2).

From a built corpus (``tfspeech.data.corpus``) and its cached log-mels
(``tfspeech.data.features``, computed here when missing), each batch is
``(inputs, targets)``::

    inputs  = {"text": (batch, symbols) int32, 0-padded, ending with end-of-sequence,
               "mels": (batch, frames, n_mels) float32 log-mels,
               "mel_lengths": (batch,) int32 real frames}
    targets = {"mels": the same log-mels,
               "stop": (batch, frames) float32, 1.0 from the last real frame on,
               "linear": (batch, frames, n_freq) log-magnitudes (only with linear=True)}

``frames`` is a multiple of the reduction factor r; spectrogram padding holds
``ln(log_floor)`` (silence). Utterances of similar length are batched together
(``tf.data.Dataset.bucket_by_sequence_length``) to waste little compute on padding.

To fine-tune a model, build its batches with ``tts_dataset_for(model, corpus_dir)``: it
takes the symbol set, ``MelConfig``, reduction factor, linear targets and length guard
from the model, so the batches always fit it::

    model = tfspeech.zoo.load("tacotron2-slt")                       # phonemes, r = 3
    model.fit(tts_dataset_for(model, corpus_dir, batch_size=8), epochs=5)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig, magnitude
from tfspeech.audio.io import load
from tfspeech.data.features import cache_log_mels
from tfspeech.data.layout import Utterance, read_corpus
from tfspeech.text import TextEncoder, UnknownSymbolsError

DEFAULT_BUCKETS = 5


def tts_dataset(
    corpus_dir: str | Path,
    split: str | None = "train",
    *,
    symbols: str = "characters",
    mel_config: MelConfig = MelConfig(),
    reduction_factor: int = 1,
    batch_size: int = 16,
    bucket_boundaries: list[int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    linear: bool = False,
    speakers: list[str] | None = None,
    max_frames: int | None = None,
    progress: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(inputs, targets)`` for ``model.fit`` (see the module doc); one pass over the split.

    The defaults (characters, r = 1, the default ``MelConfig``) fit no shipped preset: to
    train or fine-tune a model, use ``tts_dataset_for(model, ...)``, which takes them from it.

    Args:
        corpus_dir: a corpus built by ``tfspeech corpus build``.
        split: ``"train"``, ``"validation"``, ``"test"`` or None (all).
        symbols: ``"characters"`` (ids of the normalized text) or ``"phonemes"`` (ids of the
            corpus's ARPAbet column).
        mel_config: the log-mel settings (the cache for them is computed when missing).
        reduction_factor: r; frames are padded to a multiple of it.
        batch_size: utterances per batch.
        bucket_boundaries: frame counts separating the length buckets (default: quantiles of
            the split's lengths, ``DEFAULT_BUCKETS`` buckets).
        shuffle, seed: shuffle the utterances (reshuffled every pass, reproducibly).
        linear: add linear log-magnitude targets computed from the wavs (Tacotron's post-CBHG).
        speakers: keep only these voices (corpus speaker specs such as ``flite:rms``).
        max_frames: drop utterances longer than this (the model's decoding guard).
    """
    corpus_dir = Path(corpus_dir)
    utterances = _select(corpus_dir, split, speakers)
    features = cache_log_mels(corpus_dir, mel_config, progress=progress)
    encoder = TextEncoder(symbols)
    frames = np.array([_frame_count(features / f"{u.id}.npy") for u in utterances])
    if max_frames is not None:
        keep = frames <= max_frames
        if not keep.any():
            raise ValueError(f"every utterance of {corpus_dir} ({split}) is longer than max_frames={max_frames}")
        utterances, frames = [u for u, k in zip(utterances, keep) if k], frames[keep]
    ids = [_encode(encoder, u) for u in utterances]

    dataset = tf.data.Dataset.from_tensor_slices({
        "text": tf.ragged.constant(ids, dtype=tf.int32),
        "mel_path": [str(features / f"{u.id}.npy") for u in utterances],
        "wav_path": [str(u.wav_path(corpus_dir)) for u in utterances],
        "mel_lengths": frames.astype(np.int32),
    })
    if shuffle:
        dataset = dataset.shuffle(len(utterances), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda e: _load(e, mel_config, linear), num_parallel_calls=tf.data.AUTOTUNE)
    boundaries = _boundaries(frames) if bucket_boundaries is None else sorted(bucket_boundaries)
    floor = math.log(mel_config.log_floor)
    padding = {"text": TextEncoder.pad_id, "mels": floor, "mel_lengths": 0}
    if linear:
        padding["linear"] = floor
    dataset = dataset.bucket_by_sequence_length(
        lambda e: e["mel_lengths"], [b + 1 for b in boundaries], [batch_size] * (len(boundaries) + 1),
        padding_values={k: tf.constant(v, tf.int32 if k in ("text", "mel_lengths") else tf.float32)
                        for k, v in padding.items()})
    return dataset.map(lambda b: _finish(b, reduction_factor, floor)).prefetch(tf.data.AUTOTUNE)


def tts_dataset_for(
    model,
    corpus_dir: str | Path,
    split: str | None = "train",
    *,
    batch_size: int = 16,
    speakers: list[str] | None = None,
    shuffle: bool | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tf.data.Dataset:
    """``tts_dataset`` batches that fit ``model`` (a Tacotron or Tacotron 2, e.g. from
    ``tfspeech.zoo.load``): its ``symbols``, ``mel_config``, ``reduction_factor``, linear
    targets when its loss has them, and no utterance longer than its ``max_frames``.

    Args:
        corpus_dir: a corpus built by ``tfspeech corpus build`` (any voices: fine-tuning to
            another voice is the point); its log-mels for the model's ``MelConfig`` are
            computed and cached when missing.
        split: ``"train"`` (default), ``"validation"``, ``"test"`` or None (all).
        speakers: keep only these voices of the corpus.
        shuffle: default True for ``"train"``, else False.

    Raises:
        TypeError: ``model`` is not a text-to-speech model.
    """
    needed = ("symbols", "mel_config", "reduction_factor", "max_frames")
    missing = [name for name in needed if not hasattr(model, name)]
    if missing:
        raise TypeError(f"{type(model).__name__} is not a text-to-speech model (it has no {', '.join(missing)}); "
                        "tts_dataset_for takes a Tacotron or Tacotron 2, e.g. tfspeech.zoo.load('tacotron2-slt')")
    linear = hasattr(model, "loss_names") and "linear_loss" in model.loss_names()
    return tts_dataset(corpus_dir, split, symbols=model.symbols, mel_config=model.mel_config,
                       reduction_factor=model.reduction_factor, batch_size=batch_size,
                       shuffle=split == "train" if shuffle is None else shuffle, seed=seed, linear=linear,
                       speakers=speakers, max_frames=model.max_frames, progress=progress)


def stop_targets(mel_lengths, frames) -> tf.Tensor:
    """(batch, frames) float32: 0.0 before each utterance's last real frame, 1.0 from it on."""
    positions = tf.expand_dims(tf.range(frames), 0)
    return tf.cast(positions >= tf.expand_dims(tf.cast(mel_lengths, tf.int32) - 1, 1), tf.float32)


def _select(corpus_dir: Path, split, speakers) -> list[Utterance]:
    utterances = read_corpus(corpus_dir, split)
    if speakers is not None:
        available = sorted({u.speaker for u in utterances})
        unknown = sorted(set(speakers) - set(available))
        if unknown:
            raise ValueError(f"speakers {unknown} are not in {corpus_dir} ({split or 'all splits'}); "
                             f"it has {available}")
        utterances = [u for u in utterances if u.speaker in set(speakers)]
    if not utterances:
        raise ValueError(f"{corpus_dir} has no utterances in split {split!r}; build a larger corpus "
                         "(tfspeech corpus build --n ...) or choose another split")
    return utterances


def _frame_count(path: Path) -> int:
    return int(np.load(path, mmap_mode="r").shape[0])


def _encode(encoder: TextEncoder, utterance: Utterance) -> list[int]:
    try:
        if encoder.symbol_set == "phonemes":
            return encoder.encode_phonemes(utterance.phonemes)
        return encoder.encode(utterance.text)
    except (UnknownSymbolsError, ValueError) as error:
        raise ValueError(f"utterance {utterance.id!r} cannot be encoded as {encoder.symbol_set}: {error}") from error


def _load(element, mel_config: MelConfig, linear: bool) -> dict:
    mels = tf.numpy_function(lambda path: np.load(path.decode()), [element["mel_path"]], tf.float32)
    mels.set_shape([None, mel_config.n_mels])
    loaded = {"text": element["text"], "mels": mels, "mel_lengths": element["mel_lengths"]}
    if linear:
        waveform = tf.numpy_function(
            lambda path: load(path.decode(), sample_rate=mel_config.sample_rate)[0].astype(np.float32),
            [element["wav_path"]], tf.float32)
        waveform.set_shape([None])
        loaded["linear"] = tf.math.log(tf.maximum(magnitude(waveform, mel_config), mel_config.log_floor))
    return loaded


def _boundaries(frames: np.ndarray) -> list[int]:
    """Frame counts at the quantiles that split ``frames`` into ``DEFAULT_BUCKETS`` equal groups."""
    quantiles = np.quantile(frames, np.linspace(0, 1, DEFAULT_BUCKETS + 1)[1:-1])
    return sorted({int(q) for q in quantiles})


def _finish(batch: dict, reduction_factor: int, floor: float):
    """Pads frames to a multiple of r and splits the batch into (inputs, targets)."""
    frames = tf.shape(batch["mels"])[1]
    extra = (-frames) % reduction_factor
    padded = {k: tf.pad(batch[k], [[0, 0], [0, extra], [0, 0]], constant_values=floor)
              for k in ("mels", "linear") if k in batch}
    inputs = {"text": batch["text"], "mels": padded["mels"], "mel_lengths": batch["mel_lengths"]}
    targets = {**padded, "stop": stop_targets(batch["mel_lengths"], frames + extra)}
    return inputs, targets
