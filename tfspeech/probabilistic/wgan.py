"""Wasserstein GAN: a generator and a 1-Lipschitz critic on the Kantorovich–Rubinstein dual of W1.

For distributions ``P`` (data) and ``Q`` (generator) on ``R^D`` with the Euclidean norm::

    W1(P, Q) = sup_{‖f‖_L ≤ 1}  E_P f(x) − E_Q f(x)

The critic ``f`` (an MLP, ``[batch, D] → [batch]``) maximizes ``E_real f − E_fake f``, the
*Wasserstein estimate*; the generator ``g`` (an MLP, standard normal noise ``[batch, Z] →
[batch, D]``) minimizes ``−E f(g(z))``. The Lipschitz constraint is enforced one of two ways:

- ``lipschitz="clip"`` (Arjovsky et al., 2017): every critic weight is clipped to
  ``[−c, c]`` after each critic update. That bounds the critic's Lipschitz constant by some
  ``K(c, widths)``, not by 1, so the estimate is that of ``K·W1`` at best, with ``K``
  unknown (``lipschitz_estimate`` measures it).
- ``lipschitz="gradient_penalty"`` (Gulrajani et al., 2017): the critic loss adds
  ``λ E(‖∇f(x̂)‖ − 1)²`` at random interpolates ``x̂ = εx + (1 − ε)g(z)``,
  ``ε ~ U[0, 1]`` per example, pulling the gradient norm to 1 where it matters. The penalty
  is soft: scaling the Kantorovich potential by ``s`` gains ``s·W1`` and costs ``λ(s − 1)²``,
  so the best critic has slope ``s = 1 + W1/(2λ)`` and estimates ``s·W1`` (measured in
  ``tests/probabilistic/test_wgan.py``); divide by ``lipschitz_estimate`` to correct.

Units: the estimate is in the data's own units (a distance in ``R^D``), like the exact W1 of
``tfspeech.probabilistic.optimal_transport`` with a Euclidean cost.
"""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf

from tfspeech.losses.replicas import replica_share
from tfspeech.probabilistic.checks import require

LIPSCHITZ_MODES = ("clip", "gradient_penalty")
EXPORT_SAMPLES = 8  # rows per sample in representative_data()
# Added under the square root of ‖∇f‖²: the norm's own gradient is 0/0 at a zero gradient
# (a critic whose ReLUs are all off at a point), which would poison the penalty's backprop.
NORM_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package="tfspeech")
class WassersteinGAN(keras.Model):
    """Generator and critic MLPs trained by ``fit(real)`` with alternating updates.

    Args:
      data_dim: ``D``, the size of one data vector (2 for points in the plane, 80 for log-mel frames).
      noise_dim: ``Z``, the size of the generator's standard normal input.
      generator_units, critic_units: hidden layer widths of each MLP (empty: a linear map).
      activation: the hidden layers' activation (a Keras name).
      lipschitz: ``"clip"`` or ``"gradient_penalty"`` (see the module doc).
      clip_value: ``c > 0``, the weight clipping bound (used with ``"clip"``).
      penalty_weight: ``λ > 0``, the gradient penalty weight (used with ``"gradient_penalty"``).
      critic_steps: critic updates per generator update (``n_critic``), each on the same real
        batch with fresh noise: size batches for it.
      seed: seeds the training noise and interpolation draws (None: nondeterministic).

    ``model(noise)`` and ``predict(noise)`` generate ``[batch, D]`` from ``noise [batch, Z]``;
    ``critic_score(x)`` scores ``x [batch, D]``. Metrics of ``fit`` and ``evaluate``, per batch
    (the last critic step's values): ``critic_loss``, ``wasserstein`` (``E_real f − E_fake f``),
    ``generator_loss`` (``−E f(g(z))``) and ``gradient_penalty`` (``E(‖∇f(x̂)‖ − 1)²``
    unweighted; in the loss only with ``"gradient_penalty"``, measured with either).
    """

    def __init__(
        self,
        data_dim,
        noise_dim=8,
        generator_units=(64, 64),
        critic_units=(64, 64),
        activation="relu",
        lipschitz="gradient_penalty",
        clip_value=0.01,
        penalty_weight=10.0,
        critic_steps=5,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_dim = _positive_int("data_dim", data_dim)
        self.noise_dim = _positive_int("noise_dim", noise_dim)
        self.generator_units = _units("generator_units", generator_units)
        self.critic_units = _units("critic_units", critic_units)
        keras.activations.get(activation)  # an unknown name raises here, not at the first call
        self.activation = activation
        if lipschitz not in LIPSCHITZ_MODES:
            raise ValueError(f"lipschitz={lipschitz!r}; choose one of {LIPSCHITZ_MODES}")
        self.lipschitz = lipschitz
        self.clip_value = _positive_float("clip_value", clip_value, "the critic weights are clipped to ±clip_value")
        self.penalty_weight = _positive_float(
            "penalty_weight", penalty_weight, "use lipschitz='clip' for a critic without penalty")
        self.critic_steps = _positive_int("critic_steps", critic_steps)
        self.seed = None if seed is None else int(seed)

        self.generator = _mlp(self.noise_dim, self.generator_units, self.data_dim, activation, "generator")
        self.critic = _mlp(self.data_dim, self.critic_units, 1, activation, "critic")
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.critic_loss_tracker = keras.metrics.Mean(name="critic_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.penalty_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.built = True

    # -- forward passes ---------------------------------------------------------------------

    def call(self, noise, training=False):
        """``[batch, D]`` samples ``g(noise)`` for ``noise [batch, Z]``."""
        _check_width(noise.shape, self.noise_dim, "noise")
        return self.generator(noise, training=training)

    def critic_score(self, x, training=False):
        """``[batch]`` critic values ``f(x)`` for ``x [batch, D]``."""
        _check_width(x.shape, self.data_dim, "data")
        return tf.squeeze(self.critic(x, training=training), -1)

    def sample(self, num_samples, seed=None):
        """``[num_samples, D]`` generator samples; the same ``seed`` gives the same samples."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 1:
            raise ValueError(f"num_samples={num_samples!r}: must be a positive integer")
        shape = [int(num_samples), self.noise_dim]
        noise = tf.random.normal(shape) if seed is None else tf.random.stateless_normal(shape, seed=[0, int(seed)])
        return self(noise)

    # -- measurements -----------------------------------------------------------------------

    def wasserstein_estimate(self, real, fake):
        """The critic's estimate ``mean f(real) − mean f(fake)`` for ``real [n, D]``, ``fake [m, D]``.

        With a 1-Lipschitz critic it is at most the exact W1 between the two sample sets.
        """
        real, fake = self._checked_data(real, "real"), self._checked_data(fake, "fake")
        return float(tf.reduce_mean(self.critic_score(real)) - tf.reduce_mean(self.critic_score(fake)))

    def lipschitz_estimate(self, real, fake, seed=None):
        """``max ‖∇f(x̂)‖`` over one random interpolate per pair of ``real [n, D]``, ``fake [n, D]``.

        A lower bound on the critic's Lipschitz constant where the two sets meet.
        """
        real, fake = self._checked_pairs(real, fake)
        return float(tf.reduce_max(self._gradient_norms(_interpolates(real, fake, _mix(real, seed)))))

    def gradient_penalty(self, real, fake, seed=None):
        """``mean (‖∇f(x̂)‖ − 1)²`` over one random interpolate per pair (unweighted by λ)."""
        real, fake = self._checked_pairs(real, fake)
        norms = self._gradient_norms(_interpolates(real, fake, _mix(real, seed)))
        return float(tf.reduce_mean(tf.square(norms - 1.0)))

    # -- training ---------------------------------------------------------------------------

    def compile(self, critic_optimizer=None, generator_optimizer=None, **kwargs):
        """Sets one optimizer per network (default: ``default_compile_args()``).

        ``kwargs`` go to ``keras.Model.compile`` (``run_eagerly``, ``jit_compile``,
        ``steps_per_execution``); the losses and metrics are the model's own.
        ``model.optimizer`` is the critic's optimizer (callbacks that adjust it see the critic).
        """
        for fixed in ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics"):
            if fixed in kwargs:
                raise ValueError(
                    f"WassersteinGAN.compile takes no {fixed}=: its losses and metrics are the WGAN objectives; "
                    "pass critic_optimizer= and generator_optimizer= instead")
        defaults = self.default_compile_args()
        self.critic_optimizer = keras.optimizers.get(critic_optimizer or defaults["critic_optimizer"])
        self.generator_optimizer = keras.optimizers.get(generator_optimizer or defaults["generator_optimizer"])
        if self.critic_optimizer is self.generator_optimizer:
            raise ValueError("critic_optimizer and generator_optimizer must be two optimizer objects, "
                             "each keeps the state of its own network's variables")
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.generator_optimizer.build(self.generator.trainable_variables)
        super().compile(optimizer=self.critic_optimizer, **kwargs)
        self._wgan_compile_kwargs = kwargs

    def default_compile_args(self):
        """Each paper's optimizers: RMSprop(5e-5) with clipping, Adam(1e-4, β₁=0.5, β₂=0.9) with the penalty."""
        if self.lipschitz == "clip":
            make = lambda: keras.optimizers.RMSprop(5e-5)  # noqa: E731
        else:
            make = lambda: keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9)  # noqa: E731
        return {"critic_optimizer": make(), "generator_optimizer": make()}

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "critic_optimizer": keras.optimizers.serialize(self.critic_optimizer),
            "generator_optimizer": keras.optimizers.serialize(self.generator_optimizer),
            **self._wgan_compile_kwargs,
        }

    def compile_from_config(self, config):
        self.compile(
            critic_optimizer=keras.optimizers.deserialize(config.pop("critic_optimizer")),
            generator_optimizer=keras.optimizers.deserialize(config.pop("generator_optimizer")),
            **config,
        )

    def train_step(self, data):
        """``critic_steps`` critic updates, then one generator update, on one batch of real data.

        A custom step because a WGAN has two objectives with opposite signs, each minimized
        over its own network's variables in alternation; ``fit``'s single loss and single
        gradient step cannot express that.
        """
        real = self._batch(data)
        batch = tf.shape(real)[0]
        for _ in range(self.critic_steps):
            fake = self.generator(self._noise(batch), training=True)
            with tf.GradientTape() as tape:
                critic_loss, wasserstein, penalty = self._critic_terms(real, fake, training=True)
                critic_share = replica_share(critic_loss)
            variables = self.critic.trainable_variables
            self.critic_optimizer.apply(tape.gradient(critic_share, variables), variables)
            if self.lipschitz == "clip":
                for variable in variables:
                    variable.assign(tf.clip_by_value(variable, -self.clip_value, self.clip_value))
        with tf.GradientTape() as tape:
            fake = self.generator(self._noise(batch), training=True)
            generator_loss = -tf.reduce_mean(self.critic_score(fake, training=True))
            generator_share = replica_share(generator_loss)
        variables = self.generator.trainable_variables
        self.generator_optimizer.apply(tape.gradient(generator_share, variables), variables)
        return self._record(critic_loss, wasserstein, generator_loss, penalty)

    def test_step(self, data):
        """The training metrics on one batch of held-out real data, without updates."""
        real = self._batch(data)
        fake = self.generator(self._noise(tf.shape(real)[0]))
        critic_loss, wasserstein, penalty = self._critic_terms(real, fake, training=False)
        generator_loss = -tf.reduce_mean(self.critic_score(fake))
        return self._record(critic_loss, wasserstein, generator_loss, penalty)

    @property
    def metrics(self):
        return [self.critic_loss_tracker, self.wasserstein_tracker, self.generator_loss_tracker,
                self.penalty_tracker]

    # -- export -----------------------------------------------------------------------------

    def export_signatures(self):
        """``generate``: ``noise [batch, Z]`` to ``samples [batch, D]``;
        ``critic``: ``x [batch, D]`` to ``score [batch]``."""
        noise = tf.TensorSpec([None, self.noise_dim], tf.float32, name="noise")
        data = tf.TensorSpec([None, self.data_dim], tf.float32, name="x")
        return {
            "generate": tf.function(lambda z: {"samples": self(z)}, input_signature=[noise]),
            "critic": tf.function(lambda x: {"score": self.critic_score(x)}, input_signature=[data]),
        }

    def representative_data(self):
        """Standard normal noise for ``generate`` and the generator's own samples for ``critic``."""
        noise = np.random.default_rng(0).standard_normal((EXPORT_SAMPLES, self.noise_dim)).astype("float32")
        return {"generate": [noise], "critic": [self(noise).numpy()]}

    def get_config(self):
        return {
            **super().get_config(),
            "data_dim": self.data_dim,
            "noise_dim": self.noise_dim,
            "generator_units": list(self.generator_units),
            "critic_units": list(self.critic_units),
            "activation": self.activation,
            "lipschitz": self.lipschitz,
            "clip_value": self.clip_value,
            "penalty_weight": self.penalty_weight,
            "critic_steps": self.critic_steps,
            "seed": self.seed,
        }

    # -- internals --------------------------------------------------------------------------

    def _critic_terms(self, real, fake, training):
        """(critic loss, Wasserstein estimate, unweighted gradient penalty) on one batch."""
        wasserstein = (tf.reduce_mean(self.critic_score(real, training=training))
                       - tf.reduce_mean(self.critic_score(fake, training=training)))
        mix = keras.random.uniform([tf.shape(real)[0]], seed=self.seed_generator)
        norms = self._gradient_norms(_interpolates(real, fake, mix), training=training)
        penalty = tf.reduce_mean(tf.square(norms - 1.0))
        critic_loss = -wasserstein
        if self.lipschitz == "gradient_penalty":
            critic_loss += self.penalty_weight * penalty
        return critic_loss, wasserstein, penalty

    def _gradient_norms(self, points, training=False):
        """``[n]`` norms ``‖∇f(points)‖`` for ``points [n, D]`` (examples are independent, so the
        gradient of the summed scores is each example's own)."""
        with tf.GradientTape() as tape:
            tape.watch(points)
            scores = self.critic_score(points, training=training)
        gradients = tape.gradient(scores, points)
        return tf.sqrt(tf.reduce_sum(tf.square(gradients), -1) + NORM_EPSILON)

    def _noise(self, batch):
        return keras.random.normal([batch, self.noise_dim], seed=self.seed_generator)

    def _batch(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = tf.convert_to_tensor(real, dtype=self.compute_dtype)
        _check_width(real.shape, self.data_dim, "training data")
        require(tf.math.is_finite(real), "the training data have NaN or inf entries; drop or repair those rows")
        return real

    def _record(self, critic_loss, wasserstein, generator_loss, penalty):
        self.critic_loss_tracker.update_state(critic_loss)
        self.wasserstein_tracker.update_state(wasserstein)
        self.generator_loss_tracker.update_state(generator_loss)
        self.penalty_tracker.update_state(penalty)
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def _checked_data(self, x, name):
        x = np.asarray(x, dtype=np.float32)
        _check_width(x.shape, self.data_dim, name)
        if x.shape[0] == 0:
            raise ValueError(f"{name} holds no samples")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} has NaN or inf entries; drop or repair those rows")
        return tf.constant(x)

    def _checked_pairs(self, real, fake):
        real, fake = self._checked_data(real, "real"), self._checked_data(fake, "fake")
        if real.shape[0] != fake.shape[0]:
            raise ValueError(f"real and fake are paired for interpolation and need as many rows; got "
                             f"{real.shape[0]} and {fake.shape[0]}")
        return real, fake


def _mlp(input_dim, units, output_dim, activation, name):
    layers = [keras.Input((input_dim,))]
    layers += [keras.layers.Dense(width, activation=activation) for width in units]
    layers.append(keras.layers.Dense(output_dim))
    return keras.Sequential(layers, name=name)


def _interpolates(real, fake, mix):
    """``mix·real + (1 − mix)·fake`` row by row; ``mix [n]`` in ``[0, 1]``."""
    mix = mix[:, None]
    return mix * real + (1.0 - mix) * fake


def _mix(real, seed):
    shape = [real.shape[0]]
    return tf.random.uniform(shape) if seed is None else tf.random.stateless_uniform(shape, seed=[1, int(seed)])


def _check_width(shape, width, name):
    if len(shape) != 2 or (shape[-1] is not None and shape[-1] != width):
        raise ValueError(f"{name} must have shape [batch, {width}]; got {tuple(shape)}. "
                         "Give one vector per row, or build the model for this size.")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r}: must be a positive integer")
    return int(value)


def _positive_float(name, value, hint):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r}: must be a finite number > 0 ({hint})")
    return float(value)


def _units(name, units):
    try:
        widths = tuple(units)
    except TypeError:
        raise ValueError(f"{name}={units!r}: must be a list of layer widths, e.g. [64, 64]") from None
    for width in widths:
        _positive_int(f"a width in {name}", width)
    return tuple(int(width) for width in widths)
