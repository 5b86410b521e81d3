"""CBHG and highway layers: shapes, padding invariance, residual size check, config round trip."""

import numpy as np
import pytest

from tfspeech.layers.cbhg import CBHG, Highway


def _small(**overrides):
    options = dict(bank_size=4, bank_filters=8, projections=(16, 6), highway_layers=2, highway_units=8,
                   rnn_units=5)
    return CBHG(**{**options, **overrides})


def _inputs(steps=9, features=6, seed=0):
    return np.random.default_rng(seed).standard_normal((1, steps, features)).astype("float32")


def test_output_shape_and_padding_invariance():
    cbhg = _small()
    x = _inputs()
    alone = cbhg(x).numpy()
    assert alone.shape == (1, 9, 10)
    padded = np.concatenate([x, 50 * _inputs(steps=4, seed=1)], axis=1)
    mask = np.arange(13)[None] < 9
    np.testing.assert_allclose(cbhg(padded, mask=mask).numpy()[:, :9], alone, atol=1e-5)


def test_the_residual_needs_matching_sizes():
    with pytest.raises(ValueError, match="projections"):
        _small(projections=(16, 7))(_inputs())


def test_highway_with_a_closed_gate_is_the_identity():
    highway = Highway(6)
    x = _inputs()
    highway.build(x.shape)
    highway.gate.bias.assign(np.full(6, -100.0, "float32"))
    np.testing.assert_allclose(highway(x).numpy(), x, atol=1e-6)
    highway.gate.bias.assign(np.full(6, 100.0, "float32"))
    transform = np.maximum(x @ highway.transform.kernel.numpy() + highway.transform.bias.numpy(), 0)
    np.testing.assert_allclose(highway(x).numpy(), transform, atol=1e-6)


def test_config_round_trip_gives_the_same_outputs():
    cbhg = _small(projections=(16, 8), highway_units=8)
    x = _inputs(features=8)
    expected = cbhg(x).numpy()
    clone = CBHG.from_config(cbhg.get_config())
    clone.build(x.shape)
    clone.set_weights(cbhg.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), expected)
    assert clone.pre_highway is None and cbhg.pre_highway is None
