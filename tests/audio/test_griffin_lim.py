"""Fast Griffin-Lim convergence on speech, and log-mel → audio."""

import librosa
import numpy as np
import pytest
import tensorflow as tf

from tfspeech.audio.features import (
    MelConfig,
    log_mel_spectrogram,
    magnitude,
    mel_filterbank,
    mel_spectrogram,
)
from tfspeech.audio.griffin_lim import griffin_lim, mel_to_magnitude

CONFIG = MelConfig()
# Spectral convergence after 60 iterations on the sentence below; measured 0.038
# (0.072 without momentum).
GL_CONVERGENCE_MAX = 0.05
# Same, when the magnitude comes from log-mels (inconsistent with any signal); measured 0.134.
LOG_MEL_GL_CONVERGENCE_MAX = 0.2
# Relative mel fit ||mel_to_magnitude(mel) @ F - mel|| / ||mel||; measured 1.8e-3
# (2.4e-2 for the clipped pseudo-inverse alone).
MEL_FIT_MAX = 5e-3


@pytest.fixture(scope="module")
def speech_magnitude(speech):
    return magnitude(speech, CONFIG).numpy()


def spectral_convergence(target, waveform):
    """||S - |STFT(x)|||_F / ||S||_F with librosa's STFT, independent of the code under test."""
    rebuilt = librosa.stft(np.asarray(waveform), n_fft=CONFIG.n_fft, hop_length=CONFIG.hop_length)
    rebuilt = np.abs(rebuilt).T
    return np.linalg.norm(target - rebuilt) / np.linalg.norm(target)


def test_fast_griffin_lim_converges_on_speech(speech_magnitude):
    waveform, convergence = griffin_lim(speech_magnitude, CONFIG, n_iter=60)
    convergence = convergence.numpy()
    assert convergence.shape == (60,)
    assert waveform.shape == (CONFIG.num_samples(speech_magnitude.shape[0]),)
    assert convergence[0] > convergence[9] > convergence[29] > convergence[59]
    assert convergence[-1] < GL_CONVERGENCE_MAX
    # The reported figure is the returned waveform's, measured independently.
    measured = spectral_convergence(speech_magnitude, waveform)
    assert measured == pytest.approx(convergence[-1], abs=1e-3)


def test_momentum_beats_plain_griffin_lim(speech_magnitude):
    _, fast = griffin_lim(speech_magnitude, CONFIG, n_iter=30, momentum=0.99)
    _, plain = griffin_lim(speech_magnitude, CONFIG, n_iter=30, momentum=0.0)
    assert fast[-1] < 0.8 * plain[-1]


def test_seeded_and_batched(speech_magnitude):
    short = speech_magnitude[:100]
    first, first_convergence = griffin_lim(short, CONFIG, n_iter=5, seed=3)
    again, _ = griffin_lim(short, CONFIG, n_iter=5, seed=3)
    other, _ = griffin_lim(short, CONFIG, n_iter=5, seed=4)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert not np.allclose(first.numpy(), other.numpy())
    batch, batch_convergence = griffin_lim(np.stack([short, short]), CONFIG, n_iter=5, seed=3)
    assert batch.shape == (2, first.shape[0]) and batch_convergence.shape == (2, 5)
    np.testing.assert_allclose(batch_convergence[0], first_convergence, atol=1e-6)


def test_mel_to_magnitude_fits_the_mels_without_negatives(speech):
    mel = mel_spectrogram(speech, CONFIG).numpy()
    estimate = mel_to_magnitude(mel, CONFIG).numpy()
    assert estimate.shape == (mel.shape[0], CONFIG.n_freq) and estimate.min() >= 0.0

    def relative_fit(linear):
        return np.linalg.norm(linear @ mel_filterbank(CONFIG) - mel) / np.linalg.norm(mel)

    fit = relative_fit(estimate)
    clipped_pseudo_inverse = relative_fit(mel_to_magnitude(mel, CONFIG, n_iter=0).numpy())
    assert fit < MEL_FIT_MAX and fit < 0.5 * clipped_pseudo_inverse


def test_log_mels_become_a_finite_waveform_of_the_right_length(speech):
    log_mel = log_mel_spectrogram(speech, CONFIG)
    waveform, convergence = griffin_lim(mel_to_magnitude(tf.exp(log_mel), CONFIG), CONFIG)
    frames = log_mel.shape[0]
    assert waveform.shape == ((frames - 1) * CONFIG.hop_length,)
    assert abs(waveform.shape[0] - speech.size) < CONFIG.hop_length
    assert np.all(np.isfinite(waveform.numpy()))
    assert convergence[-1] < LOG_MEL_GL_CONVERGENCE_MAX


@pytest.mark.parametrize(
    "magnitude_, kwargs, message",
    [
        (-np.ones((50, 513), np.float32), {}, "non-negative"),
        (np.ones((50, 257), np.float32), {}, r"\(frames, 513\)"),
        (np.ones((2, 513), np.float32), {}, "too few"),
        (np.ones((50, 513), np.float32), {"momentum": 1.5}, "momentum"),
        (np.ones((50, 513), np.float32), {"n_iter": 0}, "n_iter"),
    ],
)
def test_bad_input_is_rejected(magnitude_, kwargs, message):
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=message):
        griffin_lim(magnitude_, CONFIG, **kwargs)
