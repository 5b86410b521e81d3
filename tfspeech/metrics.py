"""Recognition error rates, and the zoo's intelligibility judge for synthesized speech.

Error rates are corpus-level: the edit distance (substitutions + deletions + insertions,
Levenshtein) summed over all pairs, divided by the total reference length, in characters
(CER) or words (WER). They can exceed 1 when a hypothesis inserts a lot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def edit_distances(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> np.ndarray:
    """``(pairs,)`` int64 Levenshtein distances between token sequences (``tf.edit_distance``)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"got {len(references)} references but {len(hypotheses)} hypotheses; pair them one to one")
    if not references:
        return np.zeros(0, dtype=np.int64)
    distances = tf.edit_distance(_sparse(hypotheses), _sparse(references), normalize=False)
    return np.rint(distances.numpy()).astype(np.int64)


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character edits / reference characters (spaces count as characters)."""
    return _error_rate([list(r) for r in _texts(references)], [list(h) for h in _texts(hypotheses)], "characters")


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word edits / reference words (words split on whitespace)."""
    return _error_rate([r.split() for r in _texts(references)], [h.split() for h in _texts(hypotheses)], "words")


def paired_cer_difference(references: Sequence[str], hypotheses_a: Sequence[str], hypotheses_b: Sequence[str], *,
                          resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Corpus CER of system a minus system b on the same sentences, with a paired bootstrap interval.

    Sentences are resampled with replacement (the same draw for both systems), so the interval
    says how far the difference could move on other sentences of the same kind. Returns
    ``{"difference", "low", "high", "confidence"}``; ``high < 0`` means a is better at that confidence.
    """
    references = [list(r) for r in _texts(references)]
    distances = [edit_distances(references, [list(h) for h in _texts(hyp)]) for hyp in (hypotheses_a, hypotheses_b)]
    lengths = np.array([len(r) for r in references], dtype=np.float64)
    if lengths.sum() == 0:
        raise ValueError("the references hold no characters; an error rate needs at least one")
    delta = (distances[0] - distances[1]).astype(np.float64)
    draws = np.random.default_rng(seed).integers(len(references), size=(resamples, len(references)))
    resampled = delta[draws].sum(axis=1) / np.maximum(lengths[draws].sum(axis=1), 1.0)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return {"difference": float(delta.sum() / lengths.sum()), "low": float(low), "high": float(high),
            "confidence": confidence}


def intelligibility(
    waveforms,
    texts: Sequence[str],
    sample_rate: int = 22050,
    preset: str = "ctc-multivoice",
    beam_width: int = 1,
) -> float:
    """CER of the recognizer preset on speech that should say ``texts`` (lower is more intelligible).

    ``waveforms``: one mono ``(samples,)`` float array in [-1, 1] per text, at
    ``sample_rate`` Hz (resampled as needed). References are ``tfspeech.decoding.transcript(text)``.
    """
    from tfspeech.decoding import transcribe, transcript

    waveforms, texts = list(waveforms), list(texts)
    if len(waveforms) != len(texts):
        raise ValueError(f"got {len(waveforms)} waveforms but {len(texts)} texts; give one text per waveform")
    references = [transcript(text) for text in texts]
    return character_error_rate(references, transcribe(waveforms, sample_rate, preset, beam_width))


def _texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of strings (one per utterance), not a single string")
    return [str(t) for t in texts]


def _error_rate(references, hypotheses, unit: str) -> float:
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError(f"the references hold no {unit}; an error rate needs at least one")
    return float(edit_distances(references, hypotheses).sum() / total)


def _sparse(sequences) -> tf.SparseTensor:
    """Token sequences as a ``(pairs, max_len)`` string SparseTensor, row by row."""
    indices = [[row, col] for row, tokens in enumerate(sequences) for col in range(len(tokens))]
    values = [token for tokens in sequences for token in tokens]
    longest = max((len(tokens) for tokens in sequences), default=0)
    return tf.SparseTensor(
        indices=tf.constant(indices, tf.int64, shape=[len(indices), 2]),
        values=tf.constant(values, tf.string, shape=[len(values)]),
        dense_shape=[len(sequences), max(longest, 1)],
    )
