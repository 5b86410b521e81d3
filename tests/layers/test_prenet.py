"""Prenet: dropout stays on at inference (unless switched off), seeded masks repeat."""

import numpy as np
import pytest
import tensorflow as tf

from tfspeech.layers.prenet import Prenet

X = np.random.default_rng(0).standard_normal((64, 10)).astype("float32")


def _relu_stack(prenet, x):
    for layer in prenet.dense_layers:
        x = np.maximum(x @ layer.kernel.numpy() + layer.bias.numpy(), 0.0)
    return x


def test_dropout_stays_on_at_inference():
    prenet = Prenet((64,), rate=0.5)
    first, second = prenet(X, training=False).numpy(), prenet(X, training=False).numpy()
    assert not np.array_equal(first, second)
    active = _relu_stack(prenet, X) > 0
    dropped = (first == 0) & active
    assert abs(dropped.sum() / active.sum() - 0.5) < 0.06  # ~2,000 active units: 5 standard deviations


def test_kept_units_are_scaled_by_the_keep_probability():
    prenet = Prenet((16,), rate=0.25)
    out = prenet(X, training=True).numpy()
    dense = _relu_stack(prenet, X)
    kept = out != 0
    np.testing.assert_allclose(out[kept], dense[kept] / 0.75, rtol=1e-4, atol=1e-6)


def test_without_inference_dropout_it_is_the_plain_relu_stack():
    prenet = Prenet((32, 16), rate=0.5, inference_dropout=False)
    np.testing.assert_allclose(prenet(X, training=False).numpy(), _relu_stack(prenet, X), rtol=1e-5, atol=1e-6)
    assert not np.allclose(prenet(X, training=True).numpy(), _relu_stack(prenet, X))


def test_seeded_masks_repeat_after_resetting_the_global_seed():
    prenet = Prenet((32, 16), rate=0.5, seed=7)
    tf.random.set_seed(1)
    first = prenet(X).numpy()
    tf.random.set_seed(1)
    np.testing.assert_array_equal(prenet(X).numpy(), first)


def test_config_round_trip_and_bad_rate():
    prenet = Prenet((8, 4), rate=0.3, inference_dropout=False, seed=3)
    expected = prenet(X).numpy()
    clone = Prenet.from_config(prenet.get_config())
    clone.build(X.shape)
    clone.set_weights(prenet.get_weights())
    np.testing.assert_array_equal(clone(X).numpy(), expected)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Prenet(rate=1.0)
