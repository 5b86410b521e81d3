"""Text → speech with a Tacotron-family zoo model, an optional spectrogram polisher and a vocoder.

    waveform, sample_rate, alignments = synthesize("Any sentence. Another one.")

The text is normalized as a whole (unsupported characters are reported with their
positions), split at sentence boundaries and long sentences at clause boundaries (to fit
the model's frames), and all sentences are decoded in one batch; each stops on its own
stop token. A sentence the model did not say completely (cut at ``max_frames``, or its
attention skipped words) is split further and decoded again; one that still fails is named
in a warning, never returned silently. The sentences' audio is joined with short pauses.

A GST model (``GSTTacotron2``) speaks every sentence in one style: one of its named styles
(``style="low-slow"``), a reference recording's (``style=(waveform, sample_rate)``, or an audio
file's path), given token weights (``style=[0.3, 0, ...]``), or without ``style`` its mean
training style.
"""

from __future__ import annotations

import difflib
import functools
import numbers
import os
import warnings

import numpy as np
import tensorflow as tf

from tfspeech import zoo
from tfspeech.audio.features import MelConfig, log_mel_spectrogram
from tfspeech.audio.griffin_lim import griffin_lim, mel_to_magnitude
from tfspeech.audio.io import load, resample
from tfspeech.models.attention_tts import AttentionTTS
from tfspeech.models.gst_tacotron2 import GSTTacotron2
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.models.spectrogram_polisher import SpectrogramPolisher
from tfspeech.models.wavenet import WaveNet
from tfspeech.text import TextEncoder
from tfspeech.speech_coverage import max_sentence_chars, sentence_problem
from tfspeech.text.normalize import split_clauses, split_sentences

DEFAULT_PRESET = "tacotron2-slt"
GRIFFIN_LIM = "griffin-lim"
DEFAULT_VOCODER = "istft-vocoder-slt"
POLISHER = "spectrogram-polisher-slt"  # what `--polish` without a name loads
VOCODER_CLASSES = (ISTFTVocoder, WaveNet)
SENTENCE_PAUSE_S = 0.2
MIN_SPLIT_WORDS = 6  # a sentence the model did not say completely is split and retried from this many words


def synthesize(text: str, preset: str = DEFAULT_PRESET, vocoder: str | None = None, *, model=None,
               vocoder_model=None, griffin_lim_iters: int = 60, seed: int = 0,
               polish=None, style=None) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Speaks ``text``.

    Args:
        text: any English text; long text is split at sentence boundaries.
        preset: the zoo preset to load (ignored when ``model`` is given).
        vocoder: ``"griffin-lim"``, or the zoo name of a vocoder trained on the same ``MelConfig``
            as the TTS model: an ``ISTFTVocoder`` (e.g. ``"istft-vocoder-slt"``) or a
            mel-conditioned WaveNet. ``None`` (default): ``DEFAULT_VOCODER`` where the zoo has it
            and it was trained on the model's ``MelConfig``, else Griffin-Lim.
        model: a built Tacotron / Tacotron 2 model to use instead of a preset.
        vocoder_model: a built vocoder (either family) to use instead of ``vocoder``.
        griffin_lim_iters: phase reconstruction iterations.
        seed: WaveNet's sampling seed (the same seed gives the same audio).
        polish: a ``SpectrogramPolisher`` preset name (e.g. ``"spectrogram-polisher-slt"``) or
            model trained on the model's ``MelConfig``, applied to the predicted log-mels before
            the vocoder (Griffin-Lim then inverts the polished mels, also for Tacotron); ``None``:
            no polishing.
        style: the speaking style of a GST model (``GSTTacotron2``), the same for every sentence:
            the name of one of its named styles (``model.named_styles``, e.g. ``"low-slow"``; a str is
            looked up among the names before it is taken for a path);
            a reference recording as ``(waveform, sample_rate)`` (mono float ``(samples,)`` in [-1, 1],
            Hz; any rate, resampled to the model's) or as the path of an audio file (any format and
            rate soundfile reads), at least ``model.min_reference_frames`` frames long; or token
            weights, ``(tokens,)`` (every head) or ``(heads, tokens)``. A bare array is always token
            weights: a waveform goes with its sample rate. ``None``: the model's mean training style.

    Returns:
        ``(waveform, sample_rate, alignments)``: float32 ``(samples,)`` in [-1, 1], Hz, and one
        ``(decoder steps, symbols)`` attention alignment per sentence.

    Raises:
        ValueError: empty text, nothing speakable, a model that is no TTS model, a vocoder that does
            not fit the model, a style for a model without style tokens, a reference recording that
            is empty, holds NaN/inf or is too short, or token weights of the wrong count.
        FileNotFoundError: ``style`` is a str that is neither a named style of the model nor an
            existing file (the message lists the named styles), or a path of no file.
        tfspeech.text.UnknownSymbolsError: characters the model cannot read (listed with positions).
        tfspeech.zoo.PresetError: the preset cannot be found or loaded.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty; give at least one word to speak")
    model = _load(preset, AttentionTTS) if model is None else model
    if not isinstance(model, AttentionTTS):
        raise ValueError(f"{type(model).__name__} is not a text-to-speech model; use a Tacotron or Tacotron 2 "
                         f"preset (default {DEFAULT_PRESET!r})")
    style_weights = None if style is None else style_token_weights(model, style)
    if vocoder_model is None and vocoder is None:
        vocoder_model = default_vocoder(model)
    elif vocoder_model is None and vocoder != GRIFFIN_LIM:
        vocoder_model = _load(vocoder, VOCODER_CLASSES)
    if vocoder_model is not None:
        check_vocoder(vocoder_model, model)
    if isinstance(polish, str):
        polish = _load(polish, SpectrogramPolisher)
    if polish is not None:
        check_polisher(polish, model)
    encoder = TextEncoder(model.symbols)
    sentences = split_sentences(text, max_chars=max_sentence_chars(model))
    ids, outputs = _infer_complete(model, encoder, sentences, style_weights)
    config = model.mel_config
    lengths = [int(frames) for frames in outputs["mel_lengths"]]
    if polish is not None:
        outputs = _polished(outputs, polish, lengths)
    if vocoder_model is None:
        waveforms = [_griffin_lim(outputs, index, frames, config, griffin_lim_iters)
                     for index, frames in enumerate(lengths)]
    else:
        # one batch: shorter sentences are padded with silence, their extra samples cut off
        mels = np.where(np.arange(outputs["mels"].shape[1])[None, :, None] < np.array(lengths)[:, None, None],
                        outputs["mels"], np.log(config.log_floor)).astype(np.float32)
        audio = vocoder_model.generate(mels[:, :max(lengths)], seed=seed)
        waveforms = [audio[index, :frames * config.hop_length] for index, frames in enumerate(lengths)]
    pause = np.zeros(int(SENTENCE_PAUSE_S * config.sample_rate), np.float32)
    pieces = [piece for waveform in waveforms for piece in (waveform, pause)][:-1]
    alignments = [outputs["alignments"][index, :-(-frames // model.reduction_factor), :len(sentence_ids)]
                  for index, (frames, sentence_ids) in enumerate(zip(lengths, ids))]
    waveform = np.clip(np.concatenate(pieces), -1.0, 1.0).astype(np.float32)
    return waveform, config.sample_rate, alignments


def style_token_weights(model, style) -> np.ndarray:
    """``synthesize``'s ``style`` (a named style, a path, ``(waveform, sample_rate)`` or token
    weights) → float32 token weights ``(1, heads, tokens)`` of the GST ``model``; ``ValueError``
    naming what is wrong (``FileNotFoundError`` for a str that is neither a named style nor a file).
    A str is looked up among the named styles first, then taken for a path."""
    if not isinstance(model, GSTTacotron2):
        raise ValueError(f"{type(model).__name__} has no style tokens, so it speaks in one style only; "
                         "style control needs a GST model (a GSTTacotron2 preset such as 'gst-tacotron2-slt'), "
                         "or leave style out")
    if isinstance(style, str) and style in model.named_styles:
        return model.named_style_weights(style)
    if isinstance(style, str) and not os.path.isfile(style):
        raise FileNotFoundError(_neither_named_style_nor_file(model, style))
    if isinstance(style, (str, os.PathLike)):
        waveform, sample_rate = load(style)
        return reference_style_weights(model, waveform, sample_rate, what=str(style))
    if _is_recording(style):
        return reference_style_weights(model, *style)
    values = np.asarray(style, np.float32)
    if values.size > model.style_heads * model.style_tokens:
        raise ValueError(f"style got {values.size} values but the model has {model.style_tokens} style tokens; "
                         "pass a reference recording as (waveform, sample_rate) or as a file path")
    return model.check_style_weights(values[None] if values.ndim == 2 else values, 1).numpy()


def _neither_named_style_nor_file(model: GSTTacotron2, style: str) -> str:
    """The error for a ``style`` str that is no named style of ``model`` and no file."""
    names = sorted(model.named_styles)
    close = difflib.get_close_matches(style, names, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    available = f"its named styles are {', '.join(names)}" if names else "it has no named styles"
    return (f"style {style!r} is not a named style of this model ({available}), and there is no audio file at "
            f"{style}: give a style name, or the path of a recording to imitate.{hint}")


def reference_style_weights(model: GSTTacotron2, waveform, sample_rate: int, what: str = "the style reference"):
    """Token weights ``(1, heads, tokens)`` of a reference recording: mono ``(samples,)`` float in
    [-1, 1] at ``sample_rate`` Hz, resampled to the model's rate and turned into the log-mel the
    model was trained on (``log_mel_spectrogram`` of its ``MelConfig``), then ``model.reference_weights``."""
    config = model.mel_config
    waveform = np.asarray(waveform, np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"{what}: expected mono audio of shape (samples,), got {waveform.shape}")
    if waveform.size == 0:
        raise ValueError(f"{what} is empty; give a recording of speech in the style to imitate")
    if not np.all(np.isfinite(waveform)):
        raise ValueError(f"{what} holds {np.count_nonzero(~np.isfinite(waveform))} NaN/inf samples; "
                         "fix or replace the recording")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
        raise ValueError(f"{what}: the sample rate must be a positive integer in Hz, got {sample_rate!r}")
    waveform = resample(waveform, int(sample_rate), config.sample_rate)
    needed = max(config.min_samples, config.num_samples(model.min_reference_frames))
    if waveform.size < needed:
        raise ValueError(f"{what} is {waveform.size / config.sample_rate:.2f} s long; the style encoder needs at "
                         f"least {np.ceil(100 * needed / config.sample_rate) / 100:.2f} s "
                         f"({model.min_reference_frames} frames): give a longer recording")
    log_mel = log_mel_spectrogram(waveform, config)[tf.newaxis]
    return model.reference_weights(log_mel, training=False).numpy()


def _is_recording(style) -> bool:
    """``(waveform, sample_rate)``: a pair of an array and a number (token weights are numbers,
    or rows of numbers)."""
    return (isinstance(style, tuple) and len(style) == 2 and np.ndim(style[0]) >= 1
            and np.ndim(style[1]) == 0)


def default_vocoder(model):
    """The ``DEFAULT_VOCODER`` preset if the zoo has it and it takes ``model``'s log-mels, else
    ``None`` (Griffin-Lim)."""
    try:
        preset = zoo.info(DEFAULT_VOCODER)
    except zoo.PresetError:
        return None
    if MelConfig.from_dict(preset["config"]["mel_config"]) != model.mel_config:
        return None
    return _load(DEFAULT_VOCODER, VOCODER_CLASSES)


def check_vocoder(vocoder_model, model) -> None:
    """Raises ``ValueError`` unless ``vocoder_model`` turns ``model``'s log-mels into audio:
    an ``ISTFTVocoder`` or a mel-conditioned, single-speaker WaveNet with the same ``MelConfig``."""
    if not isinstance(vocoder_model, VOCODER_CLASSES) or getattr(vocoder_model, "mel_config", None) is None:
        raise ValueError(f"{type(vocoder_model).__name__} is not a mel-conditioned vocoder; use "
                         f"{GRIFFIN_LIM!r} or a vocoder preset such as 'istft-vocoder-slt'")
    if getattr(vocoder_model, "num_speakers", 0):
        raise ValueError("the vocoder is conditioned on speakers; synthesize takes a single-speaker vocoder")
    if MelConfig.from_dict(vocoder_model.mel_config) != model.mel_config:
        raise ValueError(f"the vocoder was trained on other mels ({vocoder_model.mel_config}) than the TTS model "
                         f"predicts ({model.mel_config.to_dict()}); pick a vocoder trained with the model's MelConfig")


def check_polisher(polisher, model) -> None:
    """Raises ``ValueError`` unless ``polisher`` is a ``SpectrogramPolisher`` of ``model``'s ``MelConfig``."""
    if not isinstance(polisher, SpectrogramPolisher):
        raise ValueError(f"{type(polisher).__name__} is not a spectrogram polisher; use a SpectrogramPolisher "
                         f"preset such as {POLISHER!r}")
    if MelConfig.from_dict(polisher.mel_config) != model.mel_config:
        raise ValueError(f"the polisher was trained on other mels ({polisher.mel_config}) than the TTS model "
                         f"predicts ({model.mel_config.to_dict()}); pick a polisher trained with the model's MelConfig")


def _polished(outputs: dict, polisher, lengths: list[int]) -> dict:
    """``outputs`` with each sentence's mels (its own frames, no padding) polished; without the
    linear spectrogram, so Griffin-Lim inverts the polished mels."""
    mels = outputs["mels"].copy()
    for index, frames in enumerate(lengths):
        if frames:
            mels[index, :frames] = polisher.polish(mels[index, :frames])[0]
    return {**{k: v for k, v in outputs.items() if k != "linear"}, "mels": mels}


def _griffin_lim(outputs: dict, index: int, frames: int, config: MelConfig, n_iter: int) -> np.ndarray:
    """Sentence ``index``'s audio from its linear spectrogram (Tacotron) or mels (Tacotron 2)."""
    if "linear" in outputs:
        magnitude = np.exp(outputs["linear"][index, :frames])
    else:
        magnitude = mel_to_magnitude(tf.exp(outputs["mels"][index, :frames]), config)
    waveform, _ = griffin_lim(_pad_frames(magnitude, config), config, n_iter=n_iter)
    return waveform.numpy()[:config.num_samples(frames)]


@functools.lru_cache(maxsize=2)
def _load(preset: str, expect: type):
    return zoo.load(preset, compile=False, expect=expect)


def _pad(ids: list[list[int]]) -> np.ndarray:
    batch = np.full((len(ids), max(map(len, ids))), TextEncoder.pad_id, np.int32)
    for row, sentence in zip(batch, ids):
        row[:len(sentence)] = sentence
    return batch


def _pad_frames(magnitude, config):
    """Appends silent frames up to the fewest that Griffin-Lim's STFT can analyse (a sentence
    that stopped at once); the extra samples are cut off afterwards."""
    magnitude = np.asarray(magnitude, np.float32)
    return np.pad(magnitude, [(0, max(0, config.min_frames - len(magnitude))), (0, 0)])


def _infer_complete(model, encoder, sentences: list[str], style_weights=None, retries: int = 2):
    """``(ids, outputs)`` of ``model.infer`` on ``sentences`` (in the style of token weights
    ``(1, heads, tokens)`` when given: a GST model); a sentence the model did not say
    completely (``speech_coverage.sentence_problem``) is split at a clause boundary and the
    batch decoded again, up to ``retries`` times; what still fails is named in a warning."""
    while True:
        ids = [encoder.encode(sentence) for sentence in sentences]
        styled = {} if style_weights is None else {"style_weights": style_weights}
        outputs = {k: v.numpy() for k, v in model.infer(_pad(ids), **styled).items()}
        problems = {}
        for index, sentence_ids in enumerate(ids):
            steps = -(-int(outputs["mel_lengths"][index]) // model.reduction_factor)
            stopped = bool((outputs["stop_probabilities"][index] > model.stop_threshold).any())
            problem = sentence_problem(outputs["alignments"][index, :steps, :len(sentence_ids)], stopped)
            if problem:
                problems[index] = problem
        shorter = [part for index, sentence in enumerate(sentences)
                   for part in (_halves(sentence) if index in problems else [sentence])]
        if not problems or retries == 0 or shorter == sentences:
            break
        sentences, retries = shorter, retries - 1
    for problem in dict.fromkeys(problems.values()):
        failed = [index for index, p in problems.items() if p == problem]
        named = "; ".join(repr(sentences[index]) for index in failed)
        warnings.warn(f"sentence(s) {[index + 1 for index in failed]} {problem} ({named}); "
                      "rephrase or shorten them", stacklevel=4)
    return ids, outputs


def _halves(sentence: str) -> list[str]:
    """``sentence`` split at the clause boundary nearest its middle; kept whole when it has
    fewer than ``MIN_SPLIT_WORDS`` words (a few words are no clause, and a model that cannot
    end them will not end their halves)."""
    if len(sentence.split()) < MIN_SPLIT_WORDS:
        return [sentence]
    return split_clauses(sentence, len(sentence) // 2 + 1)
