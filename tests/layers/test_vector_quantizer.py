"""VectorQuantizer: nearest-code forward, straight-through gradients, which term trains what,
EMA updates, dead-code restarts, perplexity, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech.layers.vector_quantizer import VectorQuantizer


def vectors(shape=(3, 7, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def quantizer(**options):
    layer = VectorQuantizer(num_codes=options.pop("num_codes", 8), code_dim=4, seed=1, **options)
    layer.build((None, None, 4))
    return layer


def test_forward_output_is_the_nearest_code():
    layer = quantizer()
    z = vectors()
    out = layer(z)
    codebook = layer.codebook.numpy()
    distances = ((z[..., None, :] - codebook) ** 2).sum(-1)
    expected = distances.argmin(-1)
    np.testing.assert_array_equal(out["codes"].numpy(), expected)
    np.testing.assert_allclose(out["quantized"].numpy(), codebook[expected], atol=1e-6)
    np.testing.assert_array_equal(layer.nearest_codes(z).numpy(), expected)
    np.testing.assert_allclose(layer.lookup(expected).numpy(), codebook[expected])


def test_straight_through_passes_the_gradient_to_z_e_unchanged_and_none_to_the_codebook():
    layer = quantizer()
    z = tf.Variable(vectors())
    weights = vectors(seed=2)
    with tf.GradientTape(persistent=True) as tape:
        downstream = tf.reduce_sum(weights * layer(z)["quantized"])
    np.testing.assert_allclose(tape.gradient(downstream, z).numpy(), weights, atol=1e-6)
    assert tape.gradient(downstream, layer.codebook) is None


def test_the_codebook_term_trains_only_the_codebook_and_commitment_only_z_e():
    layer = quantizer(commitment_cost=0.25)
    z = tf.Variable(vectors())
    with tf.GradientTape(persistent=True) as tape:
        out = layer(z)
    codes = out["codes"].numpy().reshape(-1)
    flat_z = z.numpy().reshape(-1, 4)
    codebook = layer.codebook.numpy()
    size = flat_z.size

    assert tape.gradient(out["codebook_loss"], z) is None
    expected = np.zeros_like(codebook)
    np.add.at(expected, codes, 2.0 * (codebook[codes] - flat_z) / size)
    gradient = tf.convert_to_tensor(tape.gradient(out["codebook_loss"], layer.codebook))  # IndexedSlices: a gather
    np.testing.assert_allclose(gradient.numpy(), expected, atol=1e-6)
    assert not np.allclose(expected, 0.0)

    assert tape.gradient(out["commitment_loss"], layer.codebook) is None
    np.testing.assert_allclose(
        tape.gradient(out["commitment_loss"], z).numpy().reshape(-1, 4),
        0.25 * 2.0 * (flat_z - codebook[codes]) / size, atol=1e-6,
    )
    np.testing.assert_allclose(float(out["codebook_loss"]), ((flat_z - codebook[codes]) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(out["commitment_loss"]), 0.25 * float(out["codebook_loss"]), rtol=1e-5)


def test_an_encoder_learns_only_through_the_straight_through_path_and_commitment():
    layer = quantizer()
    encoder = keras.layers.Dense(4)
    x, target = vectors(seed=3), vectors(seed=4)
    with tf.GradientTape(persistent=True) as tape:
        z_e = encoder(x)
        out = layer(z_e)
        reconstruction = tf.reduce_mean(tf.square(out["quantized"] - target))
    assert tape.gradient(out["codebook_loss"], encoder.kernel) is None
    assert tape.gradient(reconstruction + out["commitment_loss"], layer.codebook) is None
    # Through the straight-through path the encoder sees d(reconstruction)/d(quantized) as if z_e were the code.
    quantized = out["quantized"].numpy()
    upstream = 2.0 * (quantized - target) / target.size
    expected = x.reshape(-1, 4).T @ upstream.reshape(-1, 4)
    np.testing.assert_allclose(tape.gradient(reconstruction, encoder.kernel).numpy(), expected, atol=1e-6)


def test_ema_codebook_is_not_trained_by_gradient_and_moves_to_the_assigned_means():
    layer = quantizer(ema_decay=0.9, restart_below=0.0, epsilon=1e-5)
    assert layer.trainable_weights == []
    z = vectors((50, 4), seed=5)
    before, counts_before, sums_before = (layer.codebook.numpy(), layer.ema_counts.numpy(),
                                          layer.ema_sums.numpy())
    out = layer(z, training=True)
    assert float(out["codebook_loss"]) == 0.0
    codes = out["codes"].numpy()
    one_hot = np.eye(8)[codes]
    counts = 0.9 * counts_before + 0.1 * one_hot.sum(0)
    sums = 0.9 * sums_before + 0.1 * one_hot.T @ z
    smoothed = (counts + 1e-5) / (counts.sum() + 8e-5) * counts.sum()
    np.testing.assert_allclose(layer.codebook.numpy(), sums / smoothed[:, None], rtol=1e-4, atol=1e-6)
    assert not np.allclose(layer.codebook.numpy(), before)
    # inference leaves it alone
    after = layer.codebook.numpy()
    layer(z, training=False)
    np.testing.assert_array_equal(layer.codebook.numpy(), after)


def test_repeated_ema_updates_converge_to_the_cluster_means():
    rng = np.random.default_rng(6)
    centres = np.array([[4, 0, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0]], np.float32)
    layer = quantizer(num_codes=3, ema_decay=0.8, restart_below=0.0)
    layer.codebook.assign(centres + 0.5)
    layer.ema_sums.assign(centres + 0.5)
    for _ in range(60):
        z = centres[rng.integers(0, 3, 300)] + 0.1 * rng.standard_normal((300, 4)).astype(np.float32)
        layer(z, training=True)
    np.testing.assert_allclose(layer.codebook.numpy(), centres, atol=0.05)


@pytest.mark.parametrize("ema_decay", [None, 0.99])
def test_dead_codes_restart_at_encoder_outputs(ema_decay):
    layer = quantizer(num_codes=16, ema_decay=ema_decay, restart_below=0.5, usage_decay=0.5)
    z = vectors((40, 4), seed=7) + 100.0  # far from every initial code: one code takes all
    first = layer(z, training=True)
    assert len(np.unique(first["codes"])) == 1
    codebook = layer.codebook.numpy()
    restarted = [row for row in range(16) if row != int(first["codes"][0])]
    distance_to_batch = ((codebook[restarted][:, None] - z[None]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(distance_to_batch, 0.0, atol=1e-6)
    assert len(np.unique(layer(z)["codes"])) > 4


def test_no_restarts_when_disabled():
    layer = quantizer(num_codes=16, restart_below=0.0)
    before = layer.codebook.numpy()
    layer(vectors((40, 4)) + 100.0, training=True)
    np.testing.assert_array_equal(layer.codebook.numpy(), before)


def test_perplexity_is_the_exponentiated_entropy_of_code_use():
    layer = quantizer(num_codes=4)
    layer.codebook.assign(np.eye(4, dtype=np.float32) * 10)
    uniform = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]] * 10
    np.testing.assert_allclose(float(layer(uniform)["perplexity"]), 4.0, rtol=1e-5)
    np.testing.assert_allclose(float(layer(uniform[:1].repeat(5, 0))["perplexity"]), 1.0, rtol=1e-5)
    skewed = uniform[[0, 0, 0, 1]]
    p = np.array([0.75, 0.25])
    np.testing.assert_allclose(float(layer(skewed)["perplexity"]), np.exp(-(p * np.log(p)).sum()), rtol=1e-5)


def test_config_round_trip_and_weights_give_equal_outputs():
    layer = quantizer(ema_decay=0.95, commitment_cost=0.5)
    clone = VectorQuantizer.from_config(layer.get_config())
    clone.build((None, None, 4))
    clone.set_weights(layer.get_weights())
    z = vectors()
    for key in ("quantized", "codes", "commitment_loss"):
        np.testing.assert_allclose(clone(z)[key].numpy(), layer(z)[key].numpy())
    assert clone.get_config() == layer.get_config()


def test_bad_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\) vectors"):
        VectorQuantizer(8, 4)(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="ema_decay"):
        VectorQuantizer(8, 4, ema_decay=1.0)
    with pytest.raises(ValueError, match="num_codes >= 2"):
        VectorQuantizer(1, 4)
