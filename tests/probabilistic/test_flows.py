"""Normalizing flows: the change-of-variables formula against autodiff, invertibility, densities
that integrate to one, MAF/IAF pass counts, fit, serialization and export parity."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import tfspeech.export
from tfspeech.layers.flow_layers import MaskedAutoregressiveNetwork
from tfspeech.probabilistic.flows import IAF, MAF, NICE, Glow, RealNVP

# Small models of each family; weights are perturbed away from their identity start.
FLOWS = {
    "NICE": lambda: NICE(4, num_couplings=3, hidden_units=(16,)),
    "RealNVP": lambda: RealNVP(4, num_couplings=3, hidden_units=(16,)),
    "RealNVP-logit": lambda: RealNVP(4, num_couplings=2, hidden_units=(16,), logit_alpha=0.05),
    "Glow": lambda: Glow((4, 4, 1), num_levels=2, steps_per_level=1, hidden_channels=8),
    # Three levels factor out twice (nested blocks); 1x1 images keep it cheap.
    "Glow-3-levels": lambda: Glow((1, 1, 8), num_levels=3, steps_per_level=1, hidden_channels=8, squeeze=False),
    "MAF": lambda: MAF(4, num_layers=2, hidden_units=(16,)),
    "IAF": lambda: IAF(4, num_layers=2, hidden_units=(16,)),
}
FLOWS_2D = {
    "NICE": lambda: NICE(2, num_couplings=4, hidden_units=(16,)),
    "RealNVP": lambda: RealNVP(2, num_couplings=4, hidden_units=(16,)),
    "Glow": lambda: Glow((1, 1, 2), num_levels=1, steps_per_level=3, hidden_channels=8, squeeze=False),
    "MAF": lambda: MAF(2, num_layers=3, hidden_units=(16,)),
    "IAF": lambda: IAF(2, num_layers=3, hidden_units=(16,)),
}
FAMILIES = ["NICE", "RealNVP", "Glow", "MAF", "IAF"]


def _data(model, n, seed=0):
    """Inputs in the model's domain: (0, 1) with logit preprocessing, else around N(0, 1)."""
    rng = np.random.default_rng(seed)
    shape = (n, *model.event_shape)
    if model.logit_alpha is not None:
        return rng.uniform(0.02, 0.98, shape).astype("float32")
    return rng.standard_normal(shape).astype("float32")


def _perturbed(model, scale=0.3, seed=1):
    """The model, built (seeded), with every trainable weight moved by ``scale`` · N(0, 1)."""
    keras.utils.set_random_seed(seed)
    model(_data(model, 2))
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(weight.numpy() + scale * rng.standard_normal(weight.shape).astype("float32"))
    return model


def _flat(x):
    return tf.reshape(x, [tf.shape(x)[0], -1])


@pytest.fixture(scope="module", params=list(FLOWS))
def flow(request):
    return _perturbed(FLOWS[request.param]())


def test_log_det_equals_autodiff_jacobian(flow):
    z = tf.constant(np.random.default_rng(2).standard_normal((6, flow.latent_size)).astype("float32"))
    bijector = flow.bijector()
    with tf.GradientTape() as tape:
        tape.watch(z)
        x = _flat(bijector.forward(z))
    _, log_abs_det = tf.linalg.slogdet(tf.cast(tape.batch_jacobian(x, z), tf.float64))
    np.testing.assert_allclose(
        bijector.forward_log_det_jacobian(z, event_ndims=1).numpy() * np.ones(6), log_abs_det.numpy(), atol=2e-4
    )


def test_log_prob_is_the_change_of_variables_formula(flow):
    """``model(x)`` = log N(f⁻¹(x)) + log|det ∂f⁻¹/∂x|, the determinant from autodiff."""
    x = _data(flow, 6, seed=3)
    flat = tf.constant(x.reshape(6, -1))
    with tf.GradientTape() as tape:
        tape.watch(flat)
        z = flow.bijector().inverse(tf.reshape(flat, x.shape))
    _, log_abs_det = tf.linalg.slogdet(tf.cast(tape.batch_jacobian(z, flat), tf.float64))
    base = -0.5 * np.sum(z.numpy().astype("float64") ** 2, axis=1) - 0.5 * flow.latent_size * np.log(2 * np.pi)
    np.testing.assert_allclose(flow(x).numpy(), base + log_abs_det.numpy(), rtol=1e-5, atol=3e-4)


def test_inverse_undoes_forward(flow):
    z = np.random.default_rng(4).standard_normal((8, flow.latent_size)).astype("float32")
    # Fresh tensors in each direction: tfp caches forward/inverse pairs by tensor identity.
    x = flow.bijector().forward(tf.constant(z)).numpy()
    np.testing.assert_allclose(flow.bijector().inverse(tf.constant(x)).numpy(), z, atol=2e-5)
    data = _data(flow, 8, seed=5)
    z_data = flow.bijector().inverse(tf.constant(data)).numpy()
    np.testing.assert_allclose(flow.bijector().forward(tf.constant(z_data)).numpy(), data, atol=2e-5)


@pytest.mark.parametrize("name", list(FLOWS_2D))
def test_density_integrates_to_one_on_a_grid(name):
    model = _perturbed(FLOWS_2D[name](), scale=0.2)  # larger moves put mass beyond the grid
    step = 0.05
    axis = np.arange(-10.0, 10.0, step) + step / 2
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, *model.event_shape).astype("float32")
    log_prob = model(grid).numpy()
    inverse_log_det = model.bijector().inverse_log_det_jacobian(tf.constant(grid), event_ndims=len(model.event_shape))
    mass = np.exp(log_prob) * step**2
    assert mass.sum() == pytest.approx(1.0, abs=2e-3)
    # The log-det term is far from negligible where the mass is (1e-1 vs the 2e-3 tolerance).
    assert np.sum(mass * np.abs(inverse_log_det.numpy())) > 0.1


def test_made_output_depends_only_on_earlier_inputs():
    made = MaskedAutoregressiveNetwork(5, hidden_units=(12, 12), num_params=2, activation="tanh")  # no dead units
    made.build((None, 5))
    rng = np.random.default_rng(0)
    for weight in made.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32"))
    x = tf.constant(rng.standard_normal((3, 5)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reshape(made(x), [3, 10])
    jacobian = np.abs(tape.batch_jacobian(y, x).numpy()).max(axis=0).reshape(5, 2, 5).max(axis=1)
    assert np.all(jacobian[np.triu_indices(5)] == 0), "output i depends on an input at or after i"
    assert np.all(jacobian[np.tril_indices(5, -1)] > 0), "output i ignores an earlier input"


@pytest.mark.parametrize("family", ["MAF", "IAF"])
def test_maf_and_iaf_network_passes(family, monkeypatch):
    """Per layer, MADE passes: MAF's density takes 2 (the inverse, and tfp's log-det evaluates
    the network again) and its sampling D; IAF's density D + 1 and its sampling 1."""
    size = 8
    model = _perturbed(MAF(size, num_layers=2, hidden_units=(16,)) if family == "MAF" else IAF(size, num_layers=2))
    network = model.networks[0]
    calls = []
    original = type(network).call
    monkeypatch.setattr(network, "call", lambda x: calls.append(1) or original(network, x))
    model(_data(model, 3))
    log_prob_passes, calls[:] = len(calls), []
    model.sample(3, seed=0)
    expected = (2, size) if family == "MAF" else (size + 1, 1)
    assert (log_prob_passes, len(calls)) == expected


def test_glow_actnorm_initializes_from_the_first_training_batch():
    model = Glow((4, 4, 1), num_levels=1, steps_per_level=2, hidden_channels=8)
    first = _data(model, 64) * 3.0 + 2.0
    model(first, training=True)
    squeezed = first.reshape(64, 2, 2, 2, 2, 1).transpose(0, 1, 3, 2, 4, 5).reshape(64, 2, 2, 4)
    out = model.actnorms[0].bijector().forward(squeezed).numpy().reshape(-1, 4)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-3)
    shift = model.actnorms[0].shift.numpy()
    model(_data(model, 64, seed=9), training=True)  # a later batch leaves it alone
    np.testing.assert_array_equal(model.actnorms[0].shift.numpy(), shift)
    assert all(a.initialized.numpy() == 1.0 for a in model.actnorms)


@pytest.mark.parametrize("name", FAMILIES)
def test_fit_lowers_negative_log_likelihood(name):
    keras.utils.set_random_seed(0)
    model = FLOWS[name]()
    rng = np.random.default_rng(0)
    x = _data(model, 256)
    x = (x.reshape(256, -1) @ (np.eye(model.latent_size) + rng.uniform(-1, 1, (model.latent_size,) * 2)) + 1.5)
    x = x.reshape(256, *model.event_shape).astype("float32")
    before = -model(x).numpy().mean()
    model.compile(**model.default_compile_args())
    history = model.fit(x, epochs=4, batch_size=64, verbose=0)
    after = -model(x).numpy().mean()
    assert after < before - 0.5
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("name", FAMILIES + ["RealNVP-logit"])
def test_config_and_keras_file_round_trip(name, tmp_path):
    model = _perturbed(FLOWS[name]())
    x = _data(model, 5)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    model.save(tmp_path / "flow.keras")
    loaded = keras.saving.load_model(tmp_path / "flow.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loaded.sample(4, seed=3).numpy(), model.sample(4, seed=3).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", FAMILIES)
def test_export_parity(name, tmp_path):
    """SavedModel and TFLite (builtin ops) match Keras; MAF's sampling and IAF's density are tf.while_loops."""
    model = _perturbed(FLOWS[name]())
    saved = tfspeech.export.saved_model(model, tmp_path / "saved")
    lite = tfspeech.export.tflite(model, tmp_path / "flow.tflite")
    signatures = {"log_prob"} if name == "Glow" else {"log_prob", "sample"}
    for report in (saved, lite):
        assert report.passed and {o.signature for o in report.outputs} == signatures


def test_tflite_parity_with_logit_preprocessing(tmp_path):
    model = _perturbed(FLOWS["RealNVP-logit"]())
    assert tfspeech.export.tflite(model, tmp_path / "flow.tflite").passed


def test_samples_are_seeded_and_shaped():
    model = _perturbed(FLOWS["RealNVP-logit"]())
    first, again = model.sample(3, seed=7).numpy(), model.sample(3, seed=7).numpy()
    low, high = -0.05 / 0.9, 0.95 / 0.9  # (sigmoid(y) - α) / (1 - 2α) for α = 0.05
    assert first.shape == (3, 4) and np.all((first > low) & (first < high))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, model.sample(3, seed=8).numpy())


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: NICE(1), "at least 2"),
        (lambda: RealNVP(4, num_couplings=0), "num_couplings"),
        (lambda: MAF(4, hidden_units=()), "hidden_units"),
        (lambda: IAF(4, num_layers=-1), "num_layers"),
        (lambda: RealNVP(4, logit_alpha=0.5), "logit_alpha"),
        (lambda: Glow((6, 6, 1), num_levels=2), "divisible"),
        (lambda: Glow((2, 2, 1), squeeze=False), "at least 2"),
        (lambda: Glow((8, 8)), "height, width, channels"),
    ],
)
def test_invalid_hyperparameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_input_shapes_are_explained():
    model = _perturbed(FLOWS["MAF"]())
    with pytest.raises(ValueError, match=r"takes inputs \[batch, 4\]"):
        model(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"noise must have shape \[batch, 4\]"):
        model.transform_noise(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="num_samples"):
        model.sample(0)


def test_bits_per_dim_of_a_uniform_density_is_log2_of_the_levels():
    from tfspeech.recipes import flow_digits

    assert flow_digits.bits_per_dim(np.zeros(10)) == pytest.approx(np.log2(17))
    # Twice the density on [0, 1]^64 is one bit less per image: 1/64 bit per dimension.
    assert flow_digits.bits_per_dim(np.full(10, np.log(2.0))) == pytest.approx(np.log2(17) - 1 / 64)


def test_flow_digits_preset_reproduces_its_held_out_figure():
    import tfspeech.zoo
    from tfspeech.recipes import flow_digits

    info = tfspeech.zoo.info("flow-digits")
    model = tfspeech.zoo.load("flow-digits")
    _, _, test_pixels, fingerprint = flow_digits.splits()
    assert info["data"]["fingerprint"] == fingerprint
    measured = flow_digits.held_out_bits_per_dim(lambda x: model.predict(x, batch_size=512, verbose=0), test_pixels)
    assert measured == pytest.approx(info["metrics"]["held_out_bits_per_dim"]["value"], abs=1e-3)
    assert measured < np.log2(17) - 1.0  # far better than uniform
