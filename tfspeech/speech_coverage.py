"""Did an attention TTS model say all of its text? Checks on a decoded sentence.

An autoregressive decoder can fail silently in two ways: it runs into its ``max_frames``
guard before the stop token fires (the speech is cut off), or its attention jumps over
part of the text (words skipped in the middle, typical of content-based attention on long
sentences) or never reaches the end. ``sentence_problem`` names which, from the
decoder's alignment; ``max_sentence_chars`` bounds sentence length so that a sentence fits
the model's frames with room to spare. Numpy only.
"""

from __future__ import annotations

import numpy as np

# Measured on the shipped presets (slt voice): about 16 normalized characters per second;
# a sentence may use 60% of the model's frames.
CHARS_PER_SECOND = 16.0
FRAME_SHARE = 0.6
# The attended symbol (argmax) may move forward by at most this many symbols in one
# decoder step (normal: 1-6 on the shipped presets, 91 when tacotron-slt skipped words),
# and must end within END_SYMBOLS of the last one.
MAX_JUMP = 8
END_SYMBOLS = 3


def max_sentence_chars(model) -> int:
    """Characters of normalized text a sentence may have so ``model`` can say it within
    ``FRAME_SHARE`` of its ``max_frames`` (at least 40)."""
    config = model.mel_config
    return sentence_chars_for(model.max_frames, config.hop_length, config.sample_rate)


def sentence_chars_for(max_frames: int, hop_length: int, sample_rate: int) -> int:
    """``max_sentence_chars`` from the numbers alone (device runners read them from settings)."""
    seconds = max_frames * hop_length / sample_rate
    return max(40, int(seconds * CHARS_PER_SECOND * FRAME_SHARE))


def sentence_problem(alignment: np.ndarray, stopped: bool) -> str | None:
    """Why a decoded sentence is incomplete, or None when it is fine.

    Args:
        alignment: ``(decoder steps, symbols)`` attention weights of the sentence (its own
            steps and symbols, no padding).
        stopped: whether the stop token fired before the ``max_frames`` guard.
    """
    if not stopped:
        return "did not end within the model's frames: the speech is cut off"
    alignment = np.asarray(alignment)
    if alignment.size == 0:
        return None
    path = np.argmax(alignment, axis=1)
    symbols = alignment.shape[1]
    jumps = np.diff(path)
    if len(jumps) and jumps.max() > MAX_JUMP:
        return f"the attention skipped {int(jumps.max()) - 1} symbols: words are missing"
    if path[-1] < symbols - 1 - END_SYMBOLS:
        return f"the attention stopped {symbols - 1 - int(path[-1])} symbols before the end: words are missing"
    return None
