"""Mu-law encode/decode: the G.711 curve, class range, invertibility within one step."""

import librosa
import numpy as np
import pytest

from tfspeech.audio.mulaw import mulaw_decode, mulaw_encode


@pytest.mark.parametrize("channels", [256, 16])
def test_round_trip_is_within_half_a_step_on_the_companded_scale(channels):
    mu = channels - 1
    waveform = np.linspace(-1.0, 1.0, 100_001, dtype=np.float32)
    restored = mulaw_decode(mulaw_encode(waveform, channels), channels).numpy()
    error = np.abs(
        librosa.mu_compress(restored, mu=mu, quantize=False)
        - librosa.mu_compress(waveform, mu=mu, quantize=False)
    )
    # One quantization step is 2 / mu wide; rounding to its centre errs by at most half.
    assert error.max() <= 1.0 / mu + 1e-5


@pytest.mark.parametrize("channels", [256, 16])
def test_classes_cover_the_range_in_order(channels):
    waveform = np.linspace(-1.0, 1.0, 100_001, dtype=np.float32)
    classes = mulaw_encode(waveform, channels).numpy()
    assert classes.dtype == np.int32
    assert classes.min() == 0 and classes.max() == channels - 1
    assert np.all(np.diff(classes) >= 0)
    assert set(np.unique(classes)) == set(range(channels))


@pytest.mark.parametrize("channels", [256, 16])
def test_decode_is_librosas_expansion_and_encode_inverts_it(channels):
    mu = channels - 1
    classes = np.arange(channels, dtype=np.int32)
    decoded = mulaw_decode(classes, channels).numpy()
    expected = librosa.mu_expand(2.0 * classes / mu - 1.0, mu=mu, quantize=False)
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(mulaw_encode(decoded, channels).numpy(), classes)


def test_out_of_range_input_is_clipped_and_shape_kept():
    waveform = np.array([[-3.0, -1.0], [1.0, 2.5]], np.float32)
    classes = mulaw_encode(waveform).numpy()
    assert classes.shape == (2, 2)
    np.testing.assert_array_equal(classes, [[0, 0], [255, 255]])


@pytest.mark.parametrize("channels", [1, 2.5, True])
def test_bad_channel_count_is_rejected(channels):
    with pytest.raises(ValueError, match="channels must be an integer >= 2"):
        mulaw_encode(np.zeros(3, np.float32), channels)
