"""Waveform crops with mel context for the frame-rate vocoder: alignment, edges, batches."""

import math

import numpy as np

from tfspeech.audio import MelConfig
from tfspeech.data.waveform_pipeline import WaveformUtterance, context_crop, waveform_dataset

CONFIG = MelConfig(n_fft=64, win_length=64, hop_length=16, n_mels=4, fmax=4000.0)
SILENCE = np.float32(math.log(CONFIG.log_floor))


def utterance(frames=10):
    audio = np.arange(frames * CONFIG.hop_length - 5, dtype=np.int16)  # a few samples short of whole frames
    mel = np.arange(frames, dtype=np.float32)[:, None].repeat(CONFIG.n_mels, axis=1)  # frame f holds f
    return WaveformUtterance("u", audio, mel, "text")


def test_a_crop_pairs_frames_with_their_samples_and_pads_with_silence():
    mel, audio = context_crop(utterance(), start=1, frames=3, left=2, right=4, mel_config=CONFIG)
    assert mel.shape == (2 + 3 + 4, CONFIG.n_mels)
    np.testing.assert_array_equal(mel[:, 0], [SILENCE, 0, 1, 2, 3, 4, 5, 6, 7])  # frames -1 .. 7
    np.testing.assert_array_equal(audio * 32768.0, np.arange(16, 64))
    mel, audio = context_crop(utterance(), start=8, frames=3, left=1, right=2, mel_config=CONFIG)
    np.testing.assert_array_equal(mel[:, 0], [7, 8, 9, SILENCE, SILENCE, SILENCE])
    assert audio.shape == (48,) and np.all(audio[27:] == 0) and audio[26] * 32768.0 == 154


def test_batches_have_the_declared_shapes_and_repeat_with_the_seed():
    data = [utterance(10), utterance(3)]
    dataset = waveform_dataset(data, CONFIG, segment_frames=4, left_context=2, right_context=3, batch_size=5, seed=1)
    (mel, audio), = dataset.take(1)
    assert mel.shape == (5, 9, CONFIG.n_mels) and audio.shape == (5, 64)
    again, = waveform_dataset(data, CONFIG, segment_frames=4, left_context=2, right_context=3, batch_size=5,
                              seed=1).take(1)
    np.testing.assert_array_equal(again[0], mel)
