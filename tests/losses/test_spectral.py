"""Vocoder losses: zero for a perfect copy, and each term sensitive to what it is for."""

import numpy as np
import pytest

from tfspeech.audio import MelConfig
from tfspeech.losses.spectral import (VocoderReconstructionLoss, compressed_complex_loss, mel_l1_loss,
                                      multi_resolution_stft_loss, phase_derivative_loss, resolutions_around)

RATE = 22050


def harmonics(phase_offset=0.0, seconds=0.5, f0=140.0):
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * k * f0 * t + phase_offset) / k for k in range(1, 15))
    return (0.2 * wave)[None].astype(np.float32)


def test_a_perfect_copy_costs_nothing():
    x = harmonics()
    assert float(multi_resolution_stft_loss(x, x)) == pytest.approx(0.0, abs=1e-4)
    assert float(mel_l1_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    assert float(compressed_complex_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(phase_derivative_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(VocoderReconstructionLoss(phase_loss="derivative")(x, x)) == pytest.approx(0.0, abs=1e-3)


def test_magnitude_terms_see_loudness_and_phase_terms_see_phase():
    x = harmonics()
    quieter = 0.5 * x
    assert float(multi_resolution_stft_loss(x, quieter)) > 0.3
    shifted = harmonics(phase_offset=np.pi / 2)  # same magnitudes, every partial a quarter period on
    assert float(multi_resolution_stft_loss(x, shifted)) < 0.05
    assert float(compressed_complex_loss(x, shifted)) > 10 * float(compressed_complex_loss(x, x) + 1e-3)


def test_phase_derivatives_forgive_a_constant_phase_offset_that_the_complex_loss_punishes():
    x, shifted = harmonics(), harmonics(phase_offset=np.pi / 2)
    noisy = x + np.random.default_rng(0).normal(0, 0.02, x.shape).astype(np.float32)
    # The offset changes no partial's frequency, so the time derivative (instantaneous
    # frequency) is unchanged; only the frequency derivative sees a small constant.
    assert float(phase_derivative_loss(x, shifted)) < 0.5 * float(phase_derivative_loss(x, noisy))
    assert float(compressed_complex_loss(x, shifted)) > float(compressed_complex_loss(x, noisy))


def test_resolutions_follow_the_model_stft_and_bad_settings_are_refused():
    assert resolutions_around(1024) == ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
    with pytest.raises(ValueError, match="phase_loss must be one of"):
        VocoderReconstructionLoss(MelConfig().to_dict(), phase_loss="angle")
