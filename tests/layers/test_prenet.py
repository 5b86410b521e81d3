"""Prenet: random dropout in training, a seeded mask table at inference (kept on), or none."""

import numpy as np
import pytest

from tfspeech.layers.prenet import Prenet

X = np.random.default_rng(0).standard_normal((64, 10)).astype("float32")


def _relu_stack(prenet, x):
    for layer in prenet.dense_layers:
        x = np.maximum(x @ layer.kernel.numpy() + layer.bias.numpy(), 0.0)
    return x


def test_training_dropout_is_random_and_rescales_kept_units():
    prenet = Prenet((64,), rate=0.25)
    first, second = prenet(X, training=True).numpy(), prenet(X, training=True).numpy()
    assert not np.array_equal(first, second)
    dense = _relu_stack(prenet, X)
    kept = first != 0
    np.testing.assert_allclose(first[kept], dense[kept] / 0.75, rtol=1e-4, atol=1e-6)
    active = dense > 0
    assert abs(((first == 0) & active).sum() / active.sum() - 0.25) < 0.05  # ~2,000 active units


def test_inference_dropout_stays_on_and_depends_only_on_the_step():
    prenet = Prenet((64,), rate=0.5, seed=3)
    step_0, again = prenet(X, step=0).numpy(), prenet(X, step=0).numpy()
    np.testing.assert_array_equal(step_0, again)
    assert not np.array_equal(step_0, prenet(X, step=1).numpy())
    np.testing.assert_array_equal(prenet(X, step=512).numpy(), step_0)  # the table repeats every mask_period
    dense = _relu_stack(prenet, X)
    mask = prenet.inference_masks[0][0]
    np.testing.assert_allclose(step_0, dense * mask, rtol=1e-5, atol=1e-6)
    assert set(np.unique(mask)) == {0.0, 2.0} and abs((mask == 0).mean() - 0.5) < 0.2  # 64 units


def test_a_step_vector_masks_each_step_of_a_sequence():
    prenet = Prenet((16, 8), rate=0.5, seed=1)
    sequence = np.stack([X[:4], X[4:8], X[8:12]], axis=1)  # (batch 4, steps 3, features)
    together = prenet(sequence, step=np.arange(3)).numpy()
    for step in range(3):
        np.testing.assert_allclose(together[:, step], prenet(sequence[:, step], step=step).numpy(), rtol=1e-6)


def test_seeds_choose_the_masks_and_inference_dropout_can_be_off():
    assert np.array_equal(Prenet((32,), seed=5).inference_masks[0], Prenet((32,), seed=5).inference_masks[0])
    assert not np.array_equal(Prenet((32,), seed=5).inference_masks[0], Prenet((32,), seed=6).inference_masks[0])
    plain = Prenet((32, 16), rate=0.5, inference_dropout=False)
    np.testing.assert_allclose(plain(X).numpy(), _relu_stack(plain, X), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="step"):
        Prenet((8,))(X)


def test_config_round_trip_and_bad_rate():
    prenet = Prenet((8, 4), rate=0.3, seed=3, mask_period=16)
    expected = prenet(X, step=7).numpy()
    clone = Prenet.from_config(prenet.get_config())
    clone.build(X.shape)
    clone.set_weights(prenet.get_weights())
    np.testing.assert_array_equal(clone(X, step=7).numpy(), expected)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Prenet(rate=1.0)
