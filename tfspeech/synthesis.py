"""Text → speech with a Tacotron-family zoo model and Griffin-Lim.

    waveform, sample_rate, alignments = synthesize("Any sentence. Another one.")

The text is normalized as a whole (unsupported characters are reported with their
positions), split at sentence boundaries, and all sentences are decoded in one batch; each
stops on its own stop token (or at the model's ``max_frames`` guard, with a warning). The
sentences' audio is joined with short pauses.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import tensorflow as tf

from tfspeech import zoo
from tfspeech.audio.griffin_lim import griffin_lim, mel_to_magnitude
from tfspeech.text import TextEncoder
from tfspeech.text.normalize import split_sentences

DEFAULT_PRESET = "tacotron2-slt"
VOCODERS = ("griffin-lim",)
SENTENCE_PAUSE_S = 0.2


def synthesize(text: str, preset: str = DEFAULT_PRESET, vocoder: str = "griffin-lim", *, model=None,
               griffin_lim_iters: int = 60) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Speaks ``text``.

    Args:
        text: any English text; long text is split at sentence boundaries.
        preset: the zoo preset to load (ignored when ``model`` is given).
        vocoder: ``"griffin-lim"`` (the only one so far).
        model: a built Tacotron / Tacotron 2 model to use instead of a preset.
        griffin_lim_iters: phase reconstruction iterations.

    Returns:
        ``(waveform, sample_rate, alignments)``: float32 ``(samples,)`` in [-1, 1], Hz, and one
        ``(decoder steps, symbols)`` attention alignment per sentence.

    Raises:
        ValueError: empty text, nothing speakable, or an unknown vocoder.
        tfspeech.text.UnknownSymbolsError: characters the model cannot read (listed with positions).
        tfspeech.zoo.PresetError: the preset cannot be found or loaded.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty; give at least one word to speak")
    if vocoder not in VOCODERS:
        raise ValueError(f"unknown vocoder {vocoder!r}; choose one of {VOCODERS}")
    model = _load(preset) if model is None else model
    encoder = TextEncoder(model.symbols)
    ids = [encoder.encode(sentence) for sentence in split_sentences(text)]
    outputs = {k: v.numpy() for k, v in model.infer(_pad(ids)).items()}
    _warn_unstopped(outputs, model)
    config = model.mel_config
    pieces, alignments = [], []
    pause = np.zeros(int(SENTENCE_PAUSE_S * config.sample_rate), np.float32)
    for index, sentence_ids in enumerate(ids):
        frames = int(outputs["mel_lengths"][index])
        if "linear" in outputs:
            magnitude = np.exp(outputs["linear"][index, :frames])
        else:
            magnitude = mel_to_magnitude(tf.exp(outputs["mels"][index, :frames]), config)
        waveform, _ = griffin_lim(_pad_frames(magnitude, config), config, n_iter=griffin_lim_iters)
        pieces += [waveform.numpy()[:config.num_samples(frames)], pause]
        steps = -(-frames // model.reduction_factor)
        alignments.append(outputs["alignments"][index, :steps, :len(sentence_ids)])
    waveform = np.clip(np.concatenate(pieces[:-1]), -1.0, 1.0).astype(np.float32)
    return waveform, config.sample_rate, alignments


@functools.lru_cache(maxsize=2)
def _load(preset: str):
    return zoo.load(preset, compile=False)


def _pad(ids: list[list[int]]) -> np.ndarray:
    batch = np.full((len(ids), max(map(len, ids))), TextEncoder.pad_id, np.int32)
    for row, sentence in zip(batch, ids):
        row[:len(sentence)] = sentence
    return batch


def _pad_frames(magnitude, config):
    """Appends silent frames up to the fewest that Griffin-Lim's STFT can analyse (a sentence
    that stopped at once); the extra samples are cut off afterwards."""
    magnitude = np.asarray(magnitude, np.float32)
    needed = 1 + math.ceil((config.min_samples - config.num_samples(1)) / config.hop_length)
    return np.pad(magnitude, [(0, max(0, needed - len(magnitude))), (0, 0)])


def _warn_unstopped(outputs: dict, model) -> None:
    unstopped = [i + 1 for i, probabilities in enumerate(outputs["stop_probabilities"])
                 if not (probabilities > model.stop_threshold).any()]
    if unstopped:
        warnings.warn(f"sentence(s) {unstopped} did not end within the model's {model.max_frames} frames: "
                      "their audio is cut there; split long sentences", stacklevel=3)
