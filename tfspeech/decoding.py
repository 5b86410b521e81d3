"""Speech recognition outputs ↔ text: transcripts, CTC decoding, transcription with a preset.

The recognizer's alphabet (``NUM_CLASSES`` classes per frame, the CTC ``BLANK`` last,
``PAD_ID`` 0 never in a transcript) lives in ``tfspeech.text.alphabet``; its dense best-path
op ``collapse_greedy`` in the model's module, ``tfspeech.models.ctc``. Both are re-exported
here. The model never imports this module (which reaches the zoo): the dependency runs one
way, from this front end to the model.

Logits are ``(batch, frames, NUM_CLASSES)``, batch-major; ``logit_length`` ``(batch,)``
counts the valid frames (default: all).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfspeech.models.ctc import CTCRecognizer, collapse_greedy
from tfspeech.text import CHARACTERS, normalize
from tfspeech.text.alphabet import BLANK, NUM_CLASSES, PAD_ID, TRANSCRIPT_SYMBOLS
from tfspeech.text.normalize import normalize_speakable

__all__ = [
    "BLANK", "NUM_CLASSES", "PAD_ID", "TRANSCRIPT_SYMBOLS", "beam_search_decode", "collapse_greedy", "decode",
    "encode_transcript", "greedy_decode", "ids_to_text", "speech_log_mel", "transcribe", "transcribe_file",
    "transcript",
]
DEFAULT_PRESET = "ctc-multivoice"
_IDS = {symbol: CHARACTERS.index(symbol) for symbol in TRANSCRIPT_SYMBOLS}
_NOT_SPOKEN = re.compile(r"[^a-z' ]+")


def transcript(text: str, *, strict: bool = True) -> str:
    """What a listener can write down: normalized, lowercase letters, apostrophes and single spaces.

    ``"Dr. Smith's 2 cats!"`` → ``"doctor smith's two cats"``. Punctuation is not heard,
    so it becomes a word break. ``strict`` refuses text with symbols the alphabet cannot
    write (``UnknownSymbolsError``, listing them) or with nothing to say (``ValueError``);
    without it such characters are dropped (for scoring any hypothesis).
    """
    spoken = normalize_speakable(text) if strict else normalize(text).lower()
    words = _NOT_SPOKEN.sub(" ", spoken).split()
    return " ".join(word for word in (w.strip("'") for w in words) if word)


def encode_transcript(text: str) -> np.ndarray:
    """``(labels,)`` int32 ids of ``transcript(text)``; raises on text with nothing to say."""
    return np.array([_IDS[symbol] for symbol in transcript(text)], dtype=np.int32)


def ids_to_text(ids) -> str:
    """Label ids → text, skipping padding (id 0) and blanks."""
    return "".join(CHARACTERS[int(i)] for i in ids if int(i) not in (PAD_ID, BLANK))


def greedy_decode(logits, logit_length=None) -> list[str]:
    """Best-path decoding (``tf.nn.ctc_greedy_decoder``) → one string per utterance."""
    logits, logit_length = _time_major(logits, logit_length)
    (decoded,), _ = tf.nn.ctc_greedy_decoder(logits, logit_length, blank_index=BLANK)
    return _sparse_to_texts(decoded, logits.shape[1])


def beam_search_decode(logits, logit_length=None, beam_width: int = 16) -> list[str]:
    """Prefix beam search (``tf.nn.ctc_beam_search_decoder``, no language model) → one string each."""
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    logits, logit_length = _time_major(logits, logit_length)
    (decoded,), _ = tf.nn.ctc_beam_search_decoder(logits, logit_length, beam_width=beam_width, top_paths=1)
    return _sparse_to_texts(decoded, logits.shape[1])


def decode(logits, logit_length=None, beam_width: int = 1) -> list[str]:
    """Greedy decoding for ``beam_width=1``, beam search otherwise."""
    if beam_width == 1:
        return greedy_decode(logits, logit_length)
    return beam_search_decode(logits, logit_length, beam_width)


def transcribe(waveforms, sample_rate: int, preset: str = DEFAULT_PRESET, beam_width: int = 1) -> list[str]:
    """Waveforms (a list of ``(samples,)`` float arrays in [-1, 1]) → one transcript each.

    Resampled to the preset's rate when ``sample_rate`` differs. Raises ``ValueError`` for
    empty audio, NaN/inf samples or audio too short to analyse.
    """
    model = _load_preset(preset)
    texts = []
    for index, waveform in enumerate(waveforms):
        log_mel = speech_log_mel(waveform, sample_rate, model.mel_config, what=f"waveform #{index}")
        texts += decode(model(log_mel[np.newaxis], training=False), beam_width=beam_width)
    return texts


def speech_log_mel(waveform, sample_rate: int, mel_config, what: str = "waveform") -> np.ndarray:
    """Checked ``(frames, n_mels)`` log-mel of a mono ``(samples,)`` waveform, resampled to the config's rate.

    Raises ``ValueError`` naming ``what`` for a non-mono, empty, non-finite or too short
    waveform, or a sample rate that is not a positive integer.
    """
    from tfspeech.audio import log_mel_spectrogram, resample

    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"{what}: expected mono audio of shape (samples,), got {waveform.shape}")
    if waveform.size == 0:
        raise ValueError(f"{what} is empty: there is no speech to transcribe")
    if not np.all(np.isfinite(waveform)):
        raise ValueError(
            f"{what} holds {np.count_nonzero(~np.isfinite(waveform))} NaN/inf samples; "
            "fix or drop the audio before transcribing"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"{what}: sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    waveform = resample(waveform, int(sample_rate), mel_config.sample_rate)
    if waveform.size < mel_config.min_samples:
        raise ValueError(
            f"{what} is {waveform.size / mel_config.sample_rate * 1000:.1f} ms long; the recognizer "
            f"needs at least {mel_config.min_samples} samples at {mel_config.sample_rate} Hz"
        )
    return log_mel_spectrogram(waveform, mel_config).numpy()


def transcribe_file(path: str | Path, preset: str = DEFAULT_PRESET, beam_width: int = 1) -> str:
    """The transcript of one audio file (any format soundfile reads, any sample rate)."""
    from tfspeech.audio import load

    waveform, sample_rate = load(path)
    return transcribe([waveform], sample_rate, preset, beam_width)[0]


@functools.lru_cache(maxsize=2)
def _load_preset(name: str):
    import tfspeech.zoo

    return tfspeech.zoo.load(name, compile=False, expect=CTCRecognizer)


def _time_major(logits, logit_length) -> tuple[tf.Tensor, tf.Tensor]:
    logits = tf.convert_to_tensor(logits, tf.float32)
    if logits.shape.rank != 3 or logits.shape[-1] != NUM_CLASSES:
        raise ValueError(f"expected logits (batch, frames, {NUM_CLASSES}), got {logits.shape}")
    if logit_length is None:
        logit_length = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])
    return tf.transpose(logits, [1, 0, 2]), tf.cast(logit_length, tf.int32)


def _sparse_to_texts(decoded: tf.SparseTensor, batch: int | None) -> list[str]:
    batch = batch if batch is not None else int(decoded.dense_shape[0])
    rows = [[] for _ in range(batch)]
    for (row, _), value in zip(decoded.indices.numpy(), decoded.values.numpy()):
        rows[row].append(value)
    return [ids_to_text(ids) for ids in rows]
