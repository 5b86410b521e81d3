"""Reference encoder and style tokens: shapes, padding, weights control, serialization."""

import keras
import numpy as np
import pytest

from tfspeech.layers.style_tokens import ReferenceEncoder, StyleTokens


def make_encoder():
    keras.utils.set_random_seed(0)
    encoder = ReferenceEncoder(n_mels=10, filters=(4, 8), rnn_units=6)
    encoder.build()
    return encoder


def test_reference_encoder_summarizes_any_length_into_one_vector():
    encoder = make_encoder()
    rng = np.random.default_rng(0)
    for frames in (4, 9, 33):
        mels = rng.normal(-5, 2, (3, frames, 10)).astype(np.float32)
        out = encoder(mels, np.full(3, frames, np.int32))
        assert out.shape == (3, 6) and np.all(np.isfinite(out))


def test_padding_frames_do_not_change_the_summary():
    encoder = make_encoder()
    rng = np.random.default_rng(1)
    mels = rng.normal(-5, 2, (1, 16, 10)).astype(np.float32)
    padded = np.concatenate([mels, rng.normal(50, 9, (1, 8, 10)).astype(np.float32)], axis=1)
    alone = encoder(mels, np.array([16]), training=False)
    in_padding = encoder(padded, np.array([16]), training=False)
    np.testing.assert_allclose(in_padding, alone, atol=1e-5)
    assert not np.allclose(encoder(padded, np.array([24]), training=False), alone, atol=1e-3)


def test_style_tokens_attention_weights_are_distributions_per_head():
    keras.utils.set_random_seed(0)
    tokens = StyleTokens(tokens=5, units=8, heads=2)
    tokens.build((None, 6))
    style, weights = tokens(np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32))
    assert style.shape == (3, 8) and weights.shape == (3, 2, 5)
    np.testing.assert_allclose(np.sum(weights, -1), 1.0, rtol=1e-5)


def test_style_from_weights_reproduces_the_attended_style_and_one_weight_per_token_fills_every_head():
    keras.utils.set_random_seed(0)
    tokens = StyleTokens(tokens=5, units=8, heads=2)
    tokens.build((None, 6))
    style, weights = tokens(np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32))
    np.testing.assert_allclose(tokens.from_weights(weights), style, atol=1e-6)
    one_per_token = np.array([[0.0, 1.0, 0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(tokens.from_weights(one_per_token),
                               tokens.from_weights(np.repeat(one_per_token[:, None], 2, axis=1)), atol=1e-6)


def test_units_must_split_over_heads():
    with pytest.raises(ValueError, match="multiple of heads"):
        StyleTokens(tokens=4, units=10, heads=3)


def test_layers_round_trip_their_config():
    encoder = make_encoder()
    clone = ReferenceEncoder.from_config(encoder.get_config())
    assert clone.get_config() == encoder.get_config()
    tokens = StyleTokens(tokens=3, units=4, heads=2)
    assert StyleTokens.from_config(tokens.get_config()).get_config() == tokens.get_config()
