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
import weakref
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
CHUNK_SECONDS = 20.0  # long audio is transcribed this much at a time
SEARCH_SECONDS = 4.0  # each chunk ends at the quietest point of its last seconds
SILENCE_DBFS = -55.0  # a chunk with no 25 ms window louder than this is silence: no text
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

    Resampled to the preset's rate when ``sample_rate`` differs. Long waveforms are
    transcribed in chunks cut at quiet points (``chunk_waveform``); silence gives "".
    Raises ``ValueError`` for empty audio, NaN/inf samples or audio too short to analyse.
    """
    model = _load_preset(preset)
    texts = []
    for index, waveform in enumerate(waveforms):
        what = f"waveform #{index}"
        speech_log_mel(waveform, sample_rate, model.mel_config, what=what, check_only=True)
        rate = int(sample_rate)
        pieces = chunk_waveform(np.asarray(waveform, np.float32), rate)
        texts.append(_join(_transcribe_piece(model, piece, rate, beam_width, what, whole=len(pieces) == 1)
                           for piece in pieces))
    return texts


def chunk_waveform(waveform: np.ndarray, sample_rate: int, chunk_seconds: float = CHUNK_SECONDS) -> list[np.ndarray]:
    """``waveform`` cut into pieces of at most ``chunk_seconds``, each cut at the quietest
    point of the last ``SEARCH_SECONDS`` before the limit (between words, not inside one)."""
    pieces, start = [], 0
    limit, search = int(chunk_seconds * sample_rate), int(SEARCH_SECONDS * sample_rate)
    while len(waveform) - start > limit:
        window = waveform[start:start + limit]
        cut = limit - search + quietest_point(window[-search:], sample_rate)
        pieces.append(window[:cut])
        start += cut
    pieces.append(waveform[start:])
    return pieces


def quietest_point(waveform: np.ndarray, sample_rate: int) -> int:
    """The sample at the centre of the 25 ms window (10 ms hop) with the least energy."""
    window, hop = max(1, int(0.025 * sample_rate)), max(1, int(0.010 * sample_rate))
    if len(waveform) <= window:
        return len(waveform) // 2
    frames = np.lib.stride_tricks.sliding_window_view(waveform, window)[::hop]
    return int(np.argmin(np.mean(frames.astype(np.float64) ** 2, axis=1))) * hop + window // 2


def is_silence(waveform: np.ndarray, sample_rate: int) -> bool:
    """No 25 ms window louder than ``SILENCE_DBFS`` (a recognizer would only hallucinate)."""
    window = max(1, int(0.025 * sample_rate))
    squares = np.asarray(waveform, np.float64) ** 2
    if len(squares) < window:
        loudest = squares.mean() if len(squares) else 0.0
    else:
        loudest = np.max(np.convolve(squares, np.ones(window) / window, mode="valid"))
    return bool(10 * np.log10(max(loudest, 1e-20)) < SILENCE_DBFS)


def _transcribe_piece(model, piece: np.ndarray, sample_rate: int, beam_width: int, what: str, whole: bool) -> str:
    if is_silence(piece, sample_rate):
        return ""
    if not whole and len(piece) * model.mel_config.sample_rate < model.mel_config.min_samples * sample_rate:
        return ""  # a sliver left at the end of a long recording: nothing a recognizer can hear
    log_mel = speech_log_mel(piece, sample_rate, model.mel_config, what=what)
    return decode(_recognize(model, log_mel[np.newaxis]), beam_width=beam_width)[0]


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _recognize(model, log_mel: np.ndarray) -> tf.Tensor:
    """``model`` on one ``(1, frames, n_mels)`` log-mel through one traced graph per model (the
    frame axis is unknown, so any length reuses it): about 15x faster than an eager Keras call."""
    graph = _GRAPHS.get(model)
    if graph is None:
        def call(x):
            return model(x, training=False)

        graph = _GRAPHS[model] = tf.function(call, input_signature=[
            tf.TensorSpec([1, None, log_mel.shape[-1]], tf.float32)])
    return graph(tf.constant(log_mel, tf.float32))


def _join(texts) -> str:
    return " ".join(text.strip() for text in texts if text.strip())


def speech_log_mel(waveform, sample_rate: int, mel_config, what: str = "waveform",
                   check_only: bool = False) -> np.ndarray | None:
    """Checked ``(frames, n_mels)`` log-mel of a mono ``(samples,)`` waveform, resampled to the config's rate.

    Raises ``ValueError`` naming ``what`` for a non-mono, empty, non-finite or too short
    waveform, or a sample rate that is not a positive integer. ``check_only``: the checks,
    no log-mel (None).
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
    if waveform.size * mel_config.sample_rate < mel_config.min_samples * int(sample_rate):
        raise ValueError(
            f"{what} is {waveform.size / int(sample_rate) * 1000:.1f} ms long; the recognizer "
            f"needs at least {mel_config.min_samples} samples at {mel_config.sample_rate} Hz"
        )
    if check_only:
        return None
    waveform = resample(waveform, int(sample_rate), mel_config.sample_rate)
    return log_mel_spectrogram(waveform, mel_config).numpy()


def transcribe_file(path: str | Path, preset: str = DEFAULT_PRESET, beam_width: int = 1, *,
                    chunk_seconds: float = CHUNK_SECONDS, progress: bool | None = False) -> str:
    """The transcript of one audio file (any format soundfile reads, any sample rate).

    The file is read and transcribed ``chunk_seconds`` at a time, each chunk cut at a quiet
    point (``chunk_waveform``), so memory stays bounded however long the recording; silent
    chunks give no text, a silent file "". ``progress``: a progress bar on stderr (None:
    only on a terminal). Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for
    a file that is not audio, has no samples, holds NaN/inf or is too short to analyse.
    """
    import soundfile
    from tqdm.auto import tqdm

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    model = _load_preset(preset)
    try:
        audio = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"cannot read {path} as audio ({error}); soundfile reads WAV, FLAC, OGG and MP3") from error
    with audio:
        rate, total = audio.samplerate, audio.frames
        if total == 0:
            raise ValueError(f"{path} holds no audio samples")
        limit, search = int(chunk_seconds * rate), int(SEARCH_SECONDS * rate)
        texts, carry, done = [], np.zeros(0, np.float32), 0
        with tqdm(total=round(total / rate), unit="s", desc=path.name, disable=None if progress is None else not progress,
                  leave=False) as bar:
            while True:
                block = audio.read(max(limit - len(carry), 0), dtype="float32", always_2d=True).mean(axis=1)
                buffer = np.concatenate([carry, block])
                finished = audio.tell() >= total
                if not np.all(np.isfinite(buffer)):
                    raise ValueError(f"{path} holds {np.count_nonzero(~np.isfinite(buffer))} NaN/inf samples")
                if finished and not texts and done == 0:  # the whole file fits in one chunk
                    speech_log_mel(buffer, rate, model.mel_config, what=str(path), check_only=True)
                cut = len(buffer) if finished else limit - search + quietest_point(buffer[-search:], rate)
                texts.append(_transcribe_piece(model, np.clip(buffer[:cut], -1, 1), rate, beam_width, str(path),
                                               whole=finished and done == 0))
                done += cut
                bar.update(round(done / rate) - bar.n)
                carry = buffer[cut:]
                if finished:
                    return _join(texts)


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
