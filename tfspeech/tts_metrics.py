"""Held-out figures of attention TTS models (numpy), one utterance or one pooled set at a time.

An *alignment* is one utterance's ``(steps, text)`` attention weights, cut to its real
decoder steps and text symbols: row ``s`` is decoder step ``s``'s distribution over the
symbols (rows sum to 1). *Log-mels* are ``(frames, n_mels)`` natural-log mel magnitudes,
``ln(max(mel, log_floor))`` as ``tfspeech.audio.log_mel_spectrogram`` computes them, so mel
distances are in nats (ln units) per mel bin.
"""

from __future__ import annotations

from collections.abc import Sequence

import librosa
import numpy as np
from scipy.spatial.distance import cdist

DIAGONAL_BAND = 0.2
STOP_FACTOR = 1.2


def focus_rate(alignment) -> float:
    """Mean over decoder steps of each step's largest attention weight (the focus rate F of
    FastSpeech, Ren et al. 2019, §3.3): 1 when every step looks at a single symbol, ``1 / text``
    for uniform attention."""
    alignment = _alignment(alignment)
    return float(alignment.max(axis=1).mean())


def diagonality(alignment, band: float = DIAGONAL_BAND) -> float:
    """Share of the attention mass near the straight line from (step 0, symbol 0) to
    (last step, last symbol), the path of text read at a constant rate.

    Step ``s``'s line position is ``(s + ½)·text/steps`` symbols; mass on symbol ``t`` counts
    when its centre ``t + ½`` lies within ``max(band·text, 1)`` symbols of it. 1 for a
    straight diagonal; ``1 - (1 - band)²`` (0.36 at the default band 0.2) for uniform
    attention on long inputs; near ``band`` for attention stuck on the first symbol.
    """
    alignment = _alignment(alignment)
    if not 0.0 < band < 1.0:
        raise ValueError(f"band is a fraction of the text length in (0, 1), got {band!r}")
    steps, text = alignment.shape
    line = (np.arange(steps) + 0.5) * text / steps
    near = np.abs((np.arange(text) + 0.5)[np.newaxis, :] - line[:, np.newaxis]) <= max(band * text, 1.0)
    return float(alignment[near].sum() / alignment.sum())


def dtw_mel_l1(generated, reference) -> float:
    """Mean absolute log-mel difference (nats per mel bin) between frames paired by dynamic
    time warping (``librosa.sequence.dtw``; steps (1,1), (1,0), (0,1), end points tied), so
    a synthesized utterance is compared with the reference at its own pace. Frames the
    warping must pair with distant ones (extra babble, missing words) raise the figure.
    """
    generated, reference = _log_mel(generated, "generated"), _log_mel(reference, "reference")
    if generated.shape[1] != reference.shape[1]:
        raise ValueError(f"generated has {generated.shape[1]} mel bins, reference {reference.shape[1]}; "
                         "compare log-mels of the same MelConfig")
    cost = cdist(generated, reference, "cityblock") / generated.shape[1]
    _, path = librosa.sequence.dtw(C=cost)
    return float(cost[path[:, 0], path[:, 1]].mean())


def stop_token_accuracy(stop_probabilities: Sequence, threshold: float = 0.5) -> dict[str, float]:
    """Teacher-forced stop-token figures over utterances, each a ``(steps,)`` array of stop
    probabilities cut to its real decoder steps, of which only the last should stop.

    Returns ``{"accuracy"}`` (decisions ``p > threshold`` right, pooled over all steps),
    ``{"final_step_recall"}`` (share of utterances whose last step stops) and
    ``{"early_stop_rate"}`` (share of the other steps that stop: in free running each would
    cut the utterance short).
    """
    utterances = [np.asarray(p, dtype=np.float64) for p in stop_probabilities]
    if not utterances or any(p.ndim != 1 or p.size == 0 for p in utterances):
        raise ValueError("give one non-empty (steps,) array of stop probabilities per utterance")
    decisions = [p > threshold for p in utterances]
    correct = sum(int(d[-1]) + int(np.count_nonzero(~d[:-1])) for d in decisions)
    early = sum(int(np.count_nonzero(d[:-1])) for d in decisions)
    non_final = sum(d.size - 1 for d in decisions)
    return {
        "accuracy": correct / sum(d.size for d in decisions),
        "final_step_recall": float(np.mean([d[-1] for d in decisions])),
        "early_stop_rate": early / non_final if non_final else 0.0,
    }


def stopped_within(generated_frames, reference_frames, stopped, factor: float = STOP_FACTOR) -> float:
    """Share of utterances whose free-running decoding stopped on its stop token (``stopped``,
    not cut by the frame guard) after at most ``factor`` × the reference's frame count."""
    generated = np.asarray(generated_frames, dtype=np.float64)
    reference = np.asarray(reference_frames, dtype=np.float64)
    stopped = np.asarray(stopped, dtype=bool)
    if not generated.shape == reference.shape == stopped.shape or generated.ndim != 1 or generated.size == 0:
        raise ValueError(f"give one generated length, reference length and stopped flag per utterance, got shapes "
                         f"{generated.shape}, {reference.shape}, {stopped.shape}")
    return float(np.mean(stopped & (generated <= factor * reference)))


def _alignment(alignment) -> np.ndarray:
    alignment = np.asarray(alignment, dtype=np.float64)
    if alignment.ndim != 2 or 0 in alignment.shape:
        raise ValueError(f"an alignment is a non-empty (decoder steps, text symbols) array, got shape {alignment.shape}")
    if not np.all(np.isfinite(alignment)) or np.any(alignment < 0) or alignment.sum() == 0:
        raise ValueError("alignment weights must be finite, non-negative and not all zero")
    return alignment


def _log_mel(log_mel, what: str) -> np.ndarray:
    log_mel = np.asarray(log_mel, dtype=np.float64)
    if log_mel.ndim != 2 or 0 in log_mel.shape or not np.all(np.isfinite(log_mel)):
        raise ValueError(f"{what} must be a finite, non-empty (frames, n_mels) log-mel, got shape {log_mel.shape}")
    return log_mel
