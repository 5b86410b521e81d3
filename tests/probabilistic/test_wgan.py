"""WassersteinGAN: serialization, alternating updates, clipping, gradient penalty by hand,
Lipschitz and Wasserstein estimates against the exact LP, export parity, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.distance import cdist

import tfspeech.export
from tfspeech.probabilistic import optimal_transport as ot
from tfspeech.probabilistic.wgan import WassersteinGAN

SMALL = dict(data_dim=3, noise_dim=4, generator_units=(8,), critic_units=(8,))


def _data(n, dim=3, seed=0, shift=0.0):
    return (np.random.default_rng(seed).normal(size=(n, dim)) + shift).astype("float32")


def _exact_w1(x, y):
    """W1 between two equal-size sample sets (uniform weights, Euclidean cost) by the exact LP."""
    uniform = np.full(len(x), 1.0 / len(x))
    return ot.solve_kantorovich_primal(uniform, uniform, cdist(x, y)).value


def _copies(variables):
    return [v.numpy().copy() for v in variables]


def _linear_wgan(critic_kernel, fake_point, lipschitz="gradient_penalty", penalty_weight=10.0):
    """Critic ``f(x) = w·x + 0.5``; a generator that outputs ``fake_point`` whatever the noise;
    both optimizers frozen (learning rate 0) and a clip bound the weights already meet, so a
    training step only measures."""
    model = WassersteinGAN(2, noise_dim=3, generator_units=(), critic_units=(), lipschitz=lipschitz,
                           clip_value=float(np.abs(critic_kernel).max()), penalty_weight=penalty_weight,
                           critic_steps=2, seed=0)
    model.critic.set_weights([np.reshape(critic_kernel, (2, 1)).astype("float32"), np.array([0.5], "float32")])
    model.generator.set_weights([np.zeros((3, 2), "float32"), np.asarray(fake_point, "float32")])
    model.compile(critic_optimizer=keras.optimizers.SGD(0.0), generator_optimizer=keras.optimizers.SGD(0.0))
    return model


def test_config_round_trip_and_keras_file_keep_outputs_and_optimizer_state(tmp_path):
    model = WassersteinGAN(**SMALL, lipschitz="clip", clip_value=0.05, critic_steps=2, seed=3)
    model.compile()
    model.fit(_data(64), batch_size=32, epochs=1, verbose=0)
    noise, x = _data(5, dim=4, seed=1), _data(5, seed=2)

    rebuilt = WassersteinGAN.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt(noise), model(noise))

    model.save(tmp_path / "wgan.keras")
    loaded = keras.models.load_model(tmp_path / "wgan.keras")
    assert isinstance(loaded, WassersteinGAN) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(noise), model(noise))
    np.testing.assert_array_equal(loaded.critic_score(x), model.critic_score(x))
    assert isinstance(loaded.critic_optimizer, keras.optimizers.RMSprop)
    assert int(loaded.critic_optimizer.iterations) == int(model.critic_optimizer.iterations) == 4
    assert int(loaded.generator_optimizer.iterations) == 2
    for saved, restored in zip(model.critic_optimizer.variables, loaded.critic_optimizer.variables):
        np.testing.assert_array_equal(saved, restored)
    loaded.fit(_data(32), batch_size=32, epochs=1, verbose=0)  # fine-tunes after loading
    assert int(loaded.generator_optimizer.iterations) == 3


def test_training_step_updates_both_networks_and_evaluate_updates_none():
    model = WassersteinGAN(**SMALL, critic_steps=3, seed=0)
    model.compile(critic_optimizer=keras.optimizers.Adam(1e-2), generator_optimizer=keras.optimizers.Adam(1e-2))
    critic, generator = _copies(model.critic.weights), _copies(model.generator.weights)
    metrics = model.train_on_batch(_data(16), return_dict=True)

    assert set(metrics) == {"critic_loss", "wasserstein", "generator_loss", "gradient_penalty"}
    assert all(np.isfinite(value) for value in metrics.values())
    assert int(model.critic_optimizer.iterations) == 3 and int(model.generator_optimizer.iterations) == 1
    # Every critic weight moves but the output bias: it shifts E_real f and E_fake f alike.
    assert all(not np.array_equal(a, b) for a, b in zip(critic[:-1], model.critic.weights[:-1]))
    assert all(not np.array_equal(a, b) for a, b in zip(generator, model.generator.weights))

    trained = _copies(model.weights)
    model.evaluate(_data(16, seed=1), verbose=0)
    for before, after in zip(trained, model.weights):
        if after.path.endswith("seed_generator_state"):
            continue  # evaluate draws noise
        np.testing.assert_array_equal(before, after)


def test_weight_clipping_keeps_every_critic_weight_within_the_bound():
    clip = 0.05
    model = WassersteinGAN(**SMALL, lipschitz="clip", clip_value=clip, critic_steps=2, seed=0)
    model.compile(critic_optimizer=keras.optimizers.SGD(0.5))  # large steps push weights past the bound
    assert max(np.abs(w).max() for w in model.critic.get_weights()) > clip  # Glorot init exceeds it
    model.fit(_data(64, shift=2.0), batch_size=16, epochs=2, verbose=0)
    weights = np.concatenate([w.ravel() for w in model.critic.get_weights()])
    assert np.abs(weights).max() <= clip
    assert np.mean(np.isclose(np.abs(weights), clip)) > 0.2  # the clip is active, not idle


@pytest.mark.parametrize("lipschitz", ["gradient_penalty", "clip"])
def test_training_step_losses_and_penalty_match_a_hand_computation_on_a_linear_critic(lipschitz):
    kernel, fake_point, weight = np.array([1.5, -2.0]), np.array([0.3, -0.7]), 7.0
    model = _linear_wgan(kernel, fake_point, lipschitz, penalty_weight=weight)
    real = _data(32, dim=2, shift=1.0)

    norm = np.linalg.norm(kernel)  # the gradient of a linear critic, at every interpolate
    penalty = (norm - 1.0) ** 2
    wasserstein = (real @ kernel).mean() - fake_point @ kernel
    critic_loss = -wasserstein + (weight * penalty if lipschitz == "gradient_penalty" else 0.0)
    fake = np.tile(fake_point, (32, 1))
    assert model.gradient_penalty(real, fake, seed=0) == pytest.approx(penalty, rel=1e-5)
    assert model.lipschitz_estimate(real, fake, seed=0) == pytest.approx(norm, rel=1e-5)
    assert model.wasserstein_estimate(real, fake) == pytest.approx(wasserstein, rel=1e-5)

    metrics = model.train_on_batch(real, return_dict=True)
    assert metrics["gradient_penalty"] == pytest.approx(penalty, rel=1e-5)
    assert metrics["wasserstein"] == pytest.approx(wasserstein, rel=1e-5)
    assert metrics["critic_loss"] == pytest.approx(critic_loss, rel=1e-5)
    assert metrics["generator_loss"] == pytest.approx(-(fake_point @ kernel + 0.5), rel=1e-5)


def test_gradient_penalty_critic_is_near_1_lipschitz_and_its_estimate_nears_the_exact_w1():
    """Generator frozen: the critic alone learns the potential between two fixed distributions.

    With the penalty, the best critic is the Kantorovich potential scaled by ``s = 1 + W1/(2λ)``
    (the slope that maximizes ``s·W1 − λ(s − 1)²``), so its estimate is ``s·W1``, not W1.
    """
    weight = 10.0
    model = WassersteinGAN(2, noise_dim=2, generator_units=(), critic_units=(32, 32), critic_steps=1,
                           penalty_weight=weight, seed=0)
    model.compile(critic_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5, beta_2=0.9),
                  generator_optimizer=keras.optimizers.SGD(0.0))
    real, fake = _data(128, dim=2, seed=1, shift=1.0), model.sample(128, seed=2).numpy()
    exact = _exact_w1(real, fake)
    slope = 1.0 + exact / (2.0 * weight)
    gap_before = abs(model.wasserstein_estimate(real, fake) - slope * exact)

    model.fit(_data(4096, dim=2, seed=3, shift=1.0), batch_size=128, epochs=10, verbose=0)
    estimate, lipschitz = model.wasserstein_estimate(real, fake), model.lipschitz_estimate(real, fake, seed=0)
    assert 1.0 <= lipschitz <= 1.35  # runs measured 1.10-1.24
    assert estimate == pytest.approx(slope * exact, rel=0.05)  # runs measured within 3 %
    assert abs(estimate - slope * exact) <= gap_before / 4


def test_clipped_critic_is_far_from_1_lipschitz_and_underestimates_w1():
    model = WassersteinGAN(2, noise_dim=2, generator_units=(), critic_units=(32, 32), critic_steps=1,
                           lipschitz="clip", seed=0)
    model.compile(critic_optimizer=keras.optimizers.RMSprop(1e-3), generator_optimizer=keras.optimizers.SGD(0.0))
    model.fit(_data(2048, dim=2, seed=3, shift=2.0), batch_size=256, epochs=5, verbose=0)
    real, fake = _data(128, dim=2, seed=1, shift=2.0), model.sample(128, seed=2).numpy()
    lipschitz = model.lipschitz_estimate(real, fake, seed=0)
    assert lipschitz < 0.1  # c = 0.01 over two 32-wide layers: K(c) is far below 1
    assert 0 < model.wasserstein_estimate(real, fake) < 0.1 * _exact_w1(real, fake)


def test_generator_and_critic_export_with_parity(tmp_path):
    model = WassersteinGAN(**SMALL, seed=0)
    model.compile()
    model.fit(_data(32), batch_size=16, epochs=1, verbose=0)
    for report in (tfspeech.export.saved_model(model, tmp_path / "saved"),
                   tfspeech.export.tflite(model, tmp_path / "wgan.tflite")):
        assert report.passed and not report.flex_ops
        assert {(o.signature, o.output) for o in report.outputs} == {("generate", "samples"), ("critic", "score")}
    served = tf.saved_model.load(str(tmp_path / "saved" / "1")).signatures["generate"]
    noise = _data(3, dim=4, seed=5)
    np.testing.assert_allclose(served(noise=noise)["samples"], model(noise), atol=1e-5)


def test_sample_is_seeded_and_shaped():
    model = WassersteinGAN(**SMALL)
    a, b, c = model.sample(6, seed=1), model.sample(6, seed=1), model.sample(6, seed=2)
    assert a.shape == (6, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("argument, value, message", [
    ("clip_value", 0.0, "clip_value"),
    ("clip_value", -0.01, "clip_value"),
    ("clip_value", float("nan"), "clip_value"),
    ("penalty_weight", -1.0, "penalty_weight"),
    ("penalty_weight", 0, "penalty_weight"),
    ("critic_steps", 0, "critic_steps"),
    ("critic_steps", 2.5, "critic_steps"),
    ("lipschitz", "spectral", "lipschitz"),
    ("data_dim", 0, "data_dim"),
    ("noise_dim", -2, "noise_dim"),
    ("critic_units", [16, 0], "critic_units"),
    ("generator_units", 16, "generator_units"),
    ("activation", "sigmoidal", "activation"),
])
def test_invalid_hyperparameters_are_refused(argument, value, message):
    with pytest.raises(ValueError, match=message):
        WassersteinGAN(**{**SMALL, argument: value})


def test_bad_data_gets_clear_errors():
    model = WassersteinGAN(**SMALL, critic_steps=1)
    model.compile()
    good = _data(8)
    with pytest.raises(ValueError, match=r"shape \[batch, 3\]"):
        model.fit(_data(8, dim=5), verbose=0)
    nan_data = good.copy()
    nan_data[3, 1] = np.nan
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="NaN or inf"):
        model.fit(nan_data, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        model.wasserstein_estimate(good, nan_data)
    with pytest.raises(ValueError, match=r"shape \[batch, 3\]"):
        model.wasserstein_estimate(good, _data(8, dim=2))
    with pytest.raises(ValueError, match="as many rows"):
        model.lipschitz_estimate(good, good[:5])
    with pytest.raises(ValueError, match="no samples"):
        model.gradient_penalty(good[:0], good[:0])
    with pytest.raises(ValueError, match=r"shape \[batch, 4\]"):
        model(tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="num_samples"):
        model.sample(0)
    with pytest.raises(ValueError, match="critic_optimizer"):
        model.compile(optimizer="adam")
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer objects"):
        model.compile(critic_optimizer=shared, generator_optimizer=shared)
