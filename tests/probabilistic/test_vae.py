"""Variational autoencoder: estimators agree in expectation and differ in variance, fit, serialization,
export parity, bad input, and the shipped vae-digits preset's held-out figure."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import tfspeech.export
from tfspeech.probabilistic.vae import VariationalAutoencoder

TINY = dict(image_shape=(2, 2, 1), num_levels=3, latent_size=2, hidden_units=(8,))
VARIANTS = (("reparameterization", "baseline"), ("score_function", "baseline"), ("score_function", "none"))


def _images(model, n, seed=0):
    """Images of random pixel levels, as levels / (L - 1)."""
    levels = np.random.default_rng(seed).integers(0, model.num_levels, (n, *model.image_shape))
    return (levels / (model.num_levels - 1)).astype("float32")


def _tiny(seed=1, scale=0.5, **changes):
    """A tiny model, built with seeded initial weights, each then moved by ``scale`` · N(0, 1)
    (biases leave zero too)."""
    keras.utils.set_random_seed(seed)
    model = VariationalAutoencoder(**{**TINY, **changes})
    model(_images(model, 2))
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(weight.numpy() + scale * rng.standard_normal(weight.shape).astype("float32"))
    return model


def _gradient_estimates(model, x, stream, count=200):
    """``[count, num_weights]``: independent estimates of the gradient of ``x``'s mean ELBO, one per seed
    (seeds ``[i, stream]``: give each estimator its own stream, so that estimates of two are independent)."""
    gradient = tf.function(lambda seed: model.elbo_gradient(x, seed=seed))
    return np.stack([
        np.concatenate([g.numpy().ravel() for g in gradient(tf.constant([seed, stream]))]) for seed in range(count)
    ])


def _encoder_mask(model):
    encoder = {id(w) for layer in [*model.encoder_layers, model.encoder_output] for w in layer.weights}
    return np.repeat([id(w) in encoder for w in model.trainable_weights],
                     [int(np.prod(w.shape)) for w in model.trainable_weights])


def test_estimators_agree_in_expectation_and_reparameterization_varies_less():
    """Per weight entry, the means of 200 independent estimates (each over 80 copies of one image)
    agree within 4.5 standard errors between the estimators; the encoder's total variance is
    ordered reparameterization < score function with baseline < score function without."""
    model = _tiny(num_samples=2)
    x = np.repeat(_images(model, 1, seed=3), 80, axis=0)
    encoder = _encoder_mask(model)
    statistics = {}
    for stream, (name, control_variate) in enumerate(VARIANTS):
        estimates = _gradient_estimates(model.with_estimator(name, control_variate), x, stream)
        statistics[name, control_variate] = estimates.mean(0), estimates.var(0, ddof=1)
    reference_mean, reference_variance = statistics[VARIANTS[0]]
    for variant in VARIANTS[1:]:
        mean, variance = statistics[variant]
        standard_error = np.sqrt((variance + reference_variance) / len(variance))
        assert np.all(np.abs(mean - reference_mean) <= 4.5 * standard_error + 1e-6), variant
    total = {variant: variance[encoder].sum() for variant, (_, variance) in statistics.items()}
    assert total[VARIANTS[0]] < total[VARIANTS[1]] < total[VARIANTS[2]]


def test_a_biased_score_function_would_be_caught():
    """The agreement test has power: a baseline that is the draw's own value is biased (it cancels
    the score term) and fails it."""
    model = _tiny(num_samples=2)
    x = np.repeat(_images(model, 1, seed=3), 80, axis=0)
    biased_model = model.with_estimator("score_function")
    biased_model._baseline = lambda reconstruction: reconstruction
    biased = _gradient_estimates(biased_model, x, stream=1)
    unbiased = _gradient_estimates(model.with_estimator("reparameterization"), x, stream=0)
    standard_error = np.sqrt((biased.var(0, ddof=1) + unbiased.var(0, ddof=1)) / len(biased))
    assert np.any(np.abs(biased.mean(0) - unbiased.mean(0)) > 4.5 * standard_error + 1e-6)


def test_elbo_value_does_not_depend_on_the_estimator():
    model = _tiny(num_samples=3)
    x = _images(model, 6)
    np.testing.assert_allclose(model.with_estimator("score_function").elbo(x, seed=2).numpy(),
                               model.elbo(x, seed=2).numpy(), rtol=1e-6)


def test_elbo_and_iwae_bound_the_exact_log_probability():
    """With a 2-D latent, ``log P(x) = log ∫ p(x|z) p(z) dz`` by quadrature: it normalizes over all
    81 images of 4 pixels with 3 levels; the ELBO lies below it, IWAE (k = 4000) between them and
    much closer to it (the ELBO's gap is KL(q(z|x) ‖ p(z|x)), large for these random weights)."""
    model = _tiny()
    step = 0.05
    axis = np.arange(-6.0, 6.0, step) + step / 2
    z = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 1, 2).astype("float32")
    every_image = np.stack(np.meshgrid(*[np.arange(3)] * 4, indexing="ij"), -1).reshape(-1, 2, 2, 1)
    log_joint = model.likelihood(z).log_prob(every_image) + model.prior().log_prob(z)  # [grid, 81]
    exact = tf.reduce_logsumexp(log_joint, 0).numpy() + 2 * np.log(step)
    assert np.exp(exact).sum() == pytest.approx(1.0, abs=1e-4)
    x, exact = (every_image[::10] / 2).astype("float32"), exact[::10]
    elbo = model.elbo(x, num_samples=4000, seed=0).numpy()
    iwae = model.importance_weighted_bound(x, num_samples=4000, seed=0, samples_per_pass=1000).numpy()
    assert np.all(elbo <= exact + 0.01) and np.all(elbo <= iwae) and np.all(iwae <= exact + 0.15)
    assert np.mean(exact - elbo) > 1.0
    assert np.mean(exact - iwae) < 0.2 * np.mean(exact - elbo)


@pytest.mark.parametrize("estimator", ["reparameterization", "score_function"])
def test_fit_raises_the_elbo(estimator):
    keras.utils.set_random_seed(0)
    model = VariationalAutoencoder((4, 4, 1), num_levels=5, latent_size=2, hidden_units=(32,), estimator=estimator,
                                   num_samples=2)
    ramp = np.tile([0, 1, 2, 4], (4, 1))
    patterns = np.stack([ramp, ramp.T])[..., None] / 4  # a horizontal and a vertical ramp
    x = patterns[np.random.default_rng(0).integers(0, 2, 256)].astype("float32")
    before = model.elbo(x, num_samples=50, seed=0).numpy().mean()
    model.compile(**model.default_compile_args())
    history = model.fit(x, epochs=6, batch_size=32, verbose=0)
    after = model.elbo(x, num_samples=50, seed=0).numpy().mean()
    assert after > before + 5.0
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_config_and_keras_file_round_trip(tmp_path):
    model = _tiny(estimator="score_function", num_samples=3, control_variate="none")
    x = _images(model, 5)
    clone = VariationalAutoencoder.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    model.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert type(loaded) is VariationalAutoencoder and loaded.estimator == "score_function"
    np.testing.assert_allclose(loaded.elbo(x, seed=4).numpy(), model.elbo(x, seed=4).numpy(), rtol=1e-6)
    for ours, theirs in zip(loaded.encode(x), model.encode(x)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    z = np.random.default_rng(0).standard_normal((3, 2)).astype("float32")
    np.testing.assert_allclose(loaded.decode(z).numpy(), model.decode(z).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(loaded.sample(4, seed=3).numpy(), model.sample(4, seed=3).numpy())


def test_export_parity(tmp_path):
    """SavedModel and TFLite (builtin ops) encode and decode as Keras does."""
    model = _tiny()
    saved = tfspeech.export.saved_model(model, tmp_path / "saved")
    lite = tfspeech.export.tflite(model, tmp_path / "vae.tflite")
    for report in (saved, lite):
        assert report.passed
        assert {(o.signature, o.output) for o in report.outputs} == {
            ("encode", "loc"), ("encode", "scale"), ("decode", "mean_image"), ("decode", "level_probabilities")}


def test_pixel_levels_come_back_from_both_encodings():
    model = VariationalAutoencoder((4, 4, 1), num_levels=17)
    levels = np.random.default_rng(0).integers(0, 17, (32, 4, 4, 1))
    dequantized = (levels + np.random.default_rng(1).uniform(0, 0.999, levels.shape)) / 17
    for x in (levels / 16, dequantized):
        np.testing.assert_array_equal(model.levels(x.astype("float32")).numpy(), levels)


def test_samples_are_seeded_levels():
    model = _tiny()
    first = model.sample(50, seed=7).numpy()
    assert first.shape == (50, 2, 2, 1) and set(np.unique(first)) <= {0.0, 0.5, 1.0}
    np.testing.assert_array_equal(first, model.sample(50, seed=7).numpy())
    assert not np.array_equal(first, model.sample(50, seed=8).numpy())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(image_shape=(8, 8)), "height, width, channels"),
        (dict(num_levels=1), "num_levels"),
        (dict(latent_size=0), "latent_size"),
        (dict(hidden_units=()), "hidden_units"),
        (dict(hidden_units=(16, -1)), "hidden_units"),
        (dict(estimator="reinforce"), "estimator"),
        (dict(control_variate="optimal"), "control_variate"),
        (dict(estimator="score_function", num_samples=1), "leave-one-out baseline needs a second draw"),
        (dict(num_samples=2.5), "num_samples"),
    ],
)
def test_invalid_hyperparameters_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        VariationalAutoencoder(**{**TINY, **arguments})


def test_bad_input_is_explained():
    model = _tiny()
    with pytest.raises(ValueError, match=r"takes images \[batch, 2, 2, 1\]"):
        model(np.zeros((3, 4), "float32"))
    with pytest.raises(ValueError, match="NaN or inf"):
        model.elbo(np.full((1, 2, 2, 1), np.nan, "float32"))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        model.encode(np.full((1, 2, 2, 1), 2.0, "float32"))
    with pytest.raises(ValueError, match=r"latents must have shape \[\.\.\., 2\]"):
        model.decode(np.zeros((3, 5), "float32"))
    with pytest.raises(ValueError, match="num_samples"):
        model.importance_weighted_bound(_images(model, 1), num_samples=0)
    with pytest.raises(ValueError, match="seed"):
        model.elbo(_images(model, 1), seed=1.5)
    with pytest.raises(ValueError, match="build it"):
        VariationalAutoencoder(**TINY).with_estimator("score_function")


def test_vae_digits_preset_reproduces_its_held_out_elbo():
    import tfspeech.zoo
    from tfspeech.recipes import vae_digits

    info = tfspeech.zoo.info("vae-digits")
    model = tfspeech.zoo.load("vae-digits")
    _, _, test_pixels, fingerprint = vae_digits.splits()
    assert info["data"]["fingerprint"] == fingerprint
    elbo = vae_digits.held_out_elbo(model, test_pixels)
    assert vae_digits.bits_per_dim(elbo) == pytest.approx(info["metrics"]["held_out_elbo_bits_per_dim"]["value"],
                                                          abs=1e-3)
    flow = tfspeech.zoo.info("flow-digits")["metrics"]["held_out_bits_per_dim"]["value"]
    assert vae_digits.bits_per_dim(elbo) < np.log2(17) - 1.0  # far better than uniform
    assert f"{vae_digits.bits_per_dim(elbo):.3f}" in info["card"] and f"{flow:.3f}" in info["card"]


@pytest.mark.slow
def test_vae_digits_preset_reproduces_all_its_metrics():
    import tfspeech.zoo
    from tfspeech.recipes import vae_digits

    info = tfspeech.zoo.info("vae-digits")
    measured = vae_digits.measure(tfspeech.zoo.load("vae-digits"), *vae_digits.splits()[:3])
    for name, value in measured.items():
        assert value == pytest.approx(info["metrics"][name]["value"], abs=2e-3), name
