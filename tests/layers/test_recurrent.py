"""Masked recurrent layers: same numbers as Keras' RNN over the same cell, padding-invariant."""

import keras
import numpy as np
import pytest

from tfspeech.layers.recurrent import BidirectionalRNN, MaskedRNN, make_cell


def _inputs(batch=2, steps=7, features=5, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, steps, features)).astype("float32")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_matches_keras_rnn_over_the_same_cell(cell):
    x = _inputs()
    rnn = MaskedRNN(6, cell)
    ours = rnn(x).numpy()
    reference = keras.layers.RNN(rnn.cell, return_sequences=True)(x).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    backward = MaskedRNN(6, cell, reverse=True)
    backward.build(x.shape)
    backward.cell.set_weights(rnn.cell.get_weights())
    reversed_reference = keras.layers.RNN(rnn.cell, return_sequences=True, go_backwards=True)(x).numpy()
    np.testing.assert_allclose(backward(x).numpy(), reversed_reference[:, ::-1], atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_changes_nothing_at_real_steps(cell):
    x = _inputs(batch=1, steps=4)
    padded = np.concatenate([x, 100 * _inputs(batch=1, steps=3, seed=1)], axis=1)
    mask = np.array([[True] * 4 + [False] * 3])
    rnn = BidirectionalRNN(3, cell)
    alone = rnn(x).numpy()
    with_padding = rnn(padded, mask=mask).numpy()
    np.testing.assert_allclose(with_padding[:, :4], alone, atol=1e-6)
    assert np.all(with_padding[:, 4:] == 0.0)


def test_config_round_trip_gives_the_same_outputs():
    x = _inputs()
    layer = BidirectionalRNN(4, "gru")
    expected = layer(x).numpy()
    clone = BidirectionalRNN.from_config(layer.get_config())
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), expected)
    assert clone.get_config() == layer.get_config()


def test_unknown_cell_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        make_cell("rnn", 3)
