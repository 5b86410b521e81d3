"""Postnet: a residual over the mels, padding-invariant, serializable."""

import numpy as np

from tfspeech.layers.conv import ConvBlock
from tfspeech.layers.postnet import Postnet


def _mels(steps=12, n_mels=4, seed=0):
    return np.random.default_rng(seed).standard_normal((2, steps, n_mels)).astype("float32")


def test_output_is_the_input_plus_the_last_convolution():
    postnet = Postnet(4, filters=8, kernel_size=3, num_layers=3)
    mels = _mels()
    postnet.build(mels.shape)
    last = postnet.blocks[-1]
    last.conv.kernel.assign(np.zeros_like(last.conv.kernel.numpy()))
    last.norm.beta.assign(np.full(4, 0.5, "float32"))  # normalized 0 plus beta
    np.testing.assert_allclose(postnet(mels).numpy(), mels + 0.5, atol=1e-5)


def test_padding_changes_nothing_at_real_frames():
    postnet = Postnet(4, filters=8, kernel_size=5, num_layers=3)
    mels = _mels()
    alone = postnet(mels[:1]).numpy()
    padded = np.concatenate([mels[:1], 30 * _mels(steps=6, seed=1)[:1]], axis=1)
    mask = np.arange(18)[None] < 12
    np.testing.assert_allclose(postnet(padded, mask=mask).numpy()[:, :12], alone, atol=1e-5)


def test_conv_block_statistics_ignore_padding_in_training():
    block = ConvBlock(3, 1, activation=None)
    x = _mels(steps=5)
    mask = np.ones((2, 5), bool)
    padded = np.concatenate([x, np.full((2, 3, 4), 1e3, "float32")], axis=1)
    mask_padded = np.concatenate([mask, np.zeros((2, 3), bool)], axis=1)
    out = block(padded, mask=mask_padded, training=True).numpy()[:, :5]
    np.testing.assert_allclose(out, block(x, mask=mask, training=True).numpy(), atol=1e-4)


def test_config_round_trip_gives_the_same_outputs():
    postnet = Postnet(4, filters=6, kernel_size=3, num_layers=2, dropout=0.1)
    mels = _mels()
    expected = postnet(mels).numpy()
    clone = Postnet.from_config(postnet.get_config())
    clone.build(mels.shape)
    clone.set_weights(postnet.get_weights())
    np.testing.assert_array_equal(clone(mels).numpy(), expected)
