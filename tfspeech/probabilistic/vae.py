"""A variational autoencoder (Kingma & Welling 2014) on images of discrete pixel levels, trained with ``fit``.

Model: a latent ``z ~ N(0, I_d)`` and, given ``z``, independent pixels, each a categorical
over ``num_levels`` levels (an MLP decoder gives the logits). The encoder ``q(z|x)`` is a
diagonal Gaussian whose mean and scale an MLP computes from the image. Per image::

    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))  ≤  log P(x)        (nats)

The KL term is exact (two Gaussians); the expectation is a Monte Carlo average over
``num_samples`` draws ``z_s ~ q(z|x)``, and ``estimator`` says how its gradient with respect to
the encoder is estimated:

* ``"reparameterization"``: ``z_s = μ + σ ε_s``, gradients flow through the sample;
* ``"score_function"`` (REINFORCE): ``z_s`` held fixed, the encoder gets
  ``(log p(x|z_s) − b_s) ∇ log q(z_s|x)``. With ``control_variate="baseline"``, ``b_s`` is the
  mean of ``log p(x|z)`` over the image's *other* draws (leave-one-out, as in
  :mod:`tfspeech.probabilistic.estimators`), which keeps the estimate unbiased; ``"none"``: ``b_s = 0``.

Both are written as a *surrogate*: :meth:`VariationalAutoencoder.elbo` returns the Monte
Carlo ELBO, and its gradient is the chosen estimator's (the score term is
``signal · (log q − stop_gradient(log q))``, zero in value). So ``fit`` trains either
variant through the ordinary ``compute_loss``, the negative mean ELBO; no custom
``train_step`` is needed (the functions of :mod:`~tfspeech.probabilistic.estimators` take
gradients with their own tape, which ``fit``'s train step cannot host).

Images are ``[batch, *image_shape]`` in ``[0, 1]``; pixel level ``v = min(⌊L x⌋, L − 1)``
for ``L = num_levels``, so ``v / (L − 1)`` and dequantized ``(v + U) / L``, ``U ~ U[0, 1)``,
both give back ``v``. Because the likelihood is discrete, ``−ELBO / (D ln 2)`` is an upper
bound on the negative log-probability of the pixel levels in bits per dimension (``D`` pixels).
"""

import numbers

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from tfspeech.losses.replicas import replica_share
from tfspeech.probabilistic.checks import require

tfd = tfp.distributions

ESTIMATORS = ("reparameterization", "score_function")
CONTROL_VARIATES = ("baseline", "none")
MIN_SCALE = 1e-4  # floor on the encoder's standard deviations
EXPORT_SAMPLES = 8  # rows per sample in representative_data()


@keras.saving.register_keras_serializable(package="tfspeech")
class VariationalAutoencoder(keras.Model):
    """Gaussian-latent VAE with a categorical pixel likelihood (module doc).

    ``model(x)`` returns the Monte Carlo ELBO ``[batch]`` (nats per image) with the
    configured estimator's gradient; ``fit`` maximizes its mean.

    Args:
        image_shape: ``(height, width, channels)`` of the images.
        num_levels: pixel levels ``L`` (17 for scikit-learn's digits, values 0..16).
        latent_size: dimension ``d`` of ``z``.
        hidden_units: widths of the encoder's hidden layers; the decoder mirrors them.
        estimator: one of :data:`ESTIMATORS`.
        num_samples: draws of ``z`` per image in the ELBO (≥ 2 for the score function
            with a baseline: the leave-one-out baseline needs another draw).
        control_variate: one of :data:`CONTROL_VARIATES`; used by the score function only.
    """

    def __init__(
        self,
        image_shape=(8, 8, 1),
        num_levels: int = 17,
        latent_size: int = 16,
        hidden_units=(256,),
        estimator: str = "reparameterization",
        num_samples: int = 1,
        control_variate: str = "baseline",
        **kwargs,
    ):
        super().__init__(**kwargs)
        image_shape, hidden_units = tuple(image_shape), tuple(hidden_units)
        if len(image_shape) != 3 or not all(_positive_int(d) for d in image_shape):
            raise ValueError(f"image_shape={image_shape}: give (height, width, channels), positive integers")
        if not (_positive_int(num_levels) and num_levels >= 2):
            raise ValueError(f"num_levels={num_levels!r}: must be an integer >= 2 (17 for pixel values 0..16)")
        if not _positive_int(latent_size):
            raise ValueError(f"latent_size={latent_size!r}: must be a positive integer")
        if not hidden_units or not all(_positive_int(u) for u in hidden_units):
            raise ValueError(f"hidden_units={hidden_units}: give one or more positive layer widths, e.g. (256,)")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator={estimator!r}: choose one of {ESTIMATORS}")
        if control_variate not in CONTROL_VARIATES:
            raise ValueError(f"control_variate={control_variate!r}: choose one of {CONTROL_VARIATES}")
        _check_num_samples(num_samples, estimator, control_variate)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.num_levels, self.latent_size = int(num_levels), int(latent_size)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.estimator, self.num_samples, self.control_variate = estimator, int(num_samples), control_variate
        self.num_pixels = int(np.prod(self.image_shape))
        dense = keras.layers.Dense
        self.encoder_layers = [
            dense(u, activation="relu", name=f"encoder_{i}") for i, u in enumerate(self.hidden_units)
        ]
        self.encoder_output = dense(2 * self.latent_size, name="encoder_output")
        self.decoder_layers = [
            dense(u, activation="relu", name=f"decoder_{i}") for i, u in enumerate(reversed(self.hidden_units))
        ]
        self.decoder_output = dense(self.num_pixels * self.num_levels, name="decoder_output")

    def build(self, input_shape):
        self._check_shape(input_shape)
        width = self.num_pixels
        for layer in self.encoder_layers:
            layer.build((None, width))
            width = layer.units
        self.encoder_output.build((None, width))
        width = self.latent_size
        for layer in self.decoder_layers:
            layer.build((None, width))
            width = layer.units
        self.decoder_output.build((None, width))

    # The model's distributions.

    def prior(self) -> tfd.Distribution:
        """``p(z) = N(0, I_d)``, event shape ``[d]``."""
        return tfd.Independent(tfd.Normal(tf.zeros(self.latent_size), 1.0), reinterpreted_batch_ndims=1)

    def posterior(self, x) -> tfd.Distribution:
        """``q(z|x)`` for images ``x`` ``[batch, *image_shape]`` in [0, 1]: batch ``[batch]``, event ``[d]``."""
        loc, scale = self._posterior_parameters(self.levels(x))
        return _diagonal_normal(loc, scale)

    def likelihood(self, z) -> tfd.Distribution:
        """``p(x|z)`` over pixel levels (int32 ``0..L−1``) for latents ``z`` ``[..., d]``:
        event shape ``image_shape``, batch shape ``z``'s leading axes."""
        z = self._checked_latents(z)
        return tfd.Independent(tfd.Categorical(logits=self._logits(z)), reinterpreted_batch_ndims=3)

    def levels(self, x):
        """Pixel levels ``v = min(⌊L x⌋, L − 1)`` (int32, ``x``'s shape) of images in [0, 1], checked."""
        x = tf.convert_to_tensor(x, dtype=self.compute_dtype)
        self._check_shape(x.shape)
        self._build_once()
        require(tf.math.is_finite(x), "images have NaN or inf entries; clean the data first.")
        require((x >= 0) & (x <= 1), "image values must lie in [0, 1]: pass pixel levels v as v / (num_levels - 1).")
        return self._levels(x)

    # Objectives.

    def call(self, x, training=False):
        return self.elbo(x)

    def elbo(self, x, num_samples: int | None = None, seed=None):
        """Monte Carlo ``ELBO(x)`` ``[batch]`` in nats per image, whose gradient is the model's estimator's.

        Args:
            x: images ``[batch, *image_shape]`` in [0, 1].
            num_samples: draws of ``z`` per image (default: the model's).
            seed: an int or a shape ``[2]`` integer tensor (tfp's stateless seed, e.g. inside a
                ``tf.function``) for reproducible draws, or None.
        """
        num_samples = self.num_samples if num_samples is None else num_samples
        _check_num_samples(num_samples, self.estimator, self.control_variate)
        levels = self.levels(x)
        posterior = _diagonal_normal(*self._posterior_parameters(levels))
        z = posterior.sample(num_samples, seed=_stateless_seed(seed, tensor_allowed=True))  # [S, batch, d]
        kl = tfd.kl_divergence(posterior, self.prior())
        if self.estimator == "reparameterization":
            return tf.reduce_mean(self._log_likelihood(levels, z), 0) - kl
        z = tf.stop_gradient(z)
        reconstruction = self._log_likelihood(levels, z)
        log_q = posterior.log_prob(z)
        signal = tf.stop_gradient(reconstruction - self._baseline(reconstruction))
        score_term = signal * (log_q - tf.stop_gradient(log_q))  # zero; its gradient is REINFORCE's
        return tf.reduce_mean(reconstruction + score_term, 0) - kl

    def elbo_gradient(self, x, num_samples: int | None = None, seed=None) -> list:
        """The estimator's gradient of the batch's mean ELBO, one tensor per ``trainable_weights`` entry
        (the negative of the gradient ``fit`` descends); arguments as :meth:`elbo`."""
        with tf.GradientTape() as tape:
            mean_elbo = tf.reduce_mean(self.elbo(x, num_samples, seed))
        return tape.gradient(mean_elbo, self.trainable_weights)

    def with_estimator(self, estimator: str, control_variate: str | None = None, num_samples: int | None = None):
        """A copy of this built model, same weights, whose gradients come from another estimator
        (and control variate, and draws per image, when given)."""
        if not self.built:
            raise ValueError("with_estimator copies weights: call the model on a batch first to build it.")
        config = {**self.get_config(), "estimator": estimator}
        if control_variate is not None:
            config["control_variate"] = control_variate
        if num_samples is not None:
            config["num_samples"] = num_samples
        twin = type(self).from_config(config)
        twin.build((None, *self.image_shape))
        twin.set_weights(self.get_weights())
        return twin

    def importance_weighted_bound(self, x, num_samples: int = 1000, seed: int = 0, samples_per_pass: int = 100):
        """IWAE estimate of ``log P(x)`` ``[batch]`` (nats per image) with ``k = num_samples`` draws:
        ``log (1/k) Σ_s p(x, z_s) / q(z_s|x)``, ``z_s ~ q(z|x)``. Its expectation is a lower bound on
        ``log P(x)`` that rises with ``k`` (Burda et al. 2016); ``k = 1`` is the ELBO.
        Draws are made ``samples_per_pass`` at a time to bound memory."""
        if not _positive_int(num_samples):
            raise ValueError(f"num_samples={num_samples!r}: must be a positive integer")
        if not _positive_int(samples_per_pass):
            raise ValueError(f"samples_per_pass={samples_per_pass!r}: must be a positive integer")
        if not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed={seed!r}: must be an int (the estimate is always seeded)")
        levels = self.levels(x)
        posterior = _diagonal_normal(*self._posterior_parameters(levels))
        log_weights = []
        for start in range(0, num_samples, samples_per_pass):
            count = min(samples_per_pass, num_samples - start)
            z = posterior.sample(count, seed=tf.constant([int(seed), start], tf.int32))
            log_weights.append(self._log_likelihood(levels, z) + self.prior().log_prob(z) - posterior.log_prob(z))
        return tf.reduce_logsumexp(tf.concat(log_weights, 0), 0) - np.log(num_samples)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The negative mean ELBO in nats per image (``y`` is ignored); its gradient is the estimator's."""
        negative_elbo = -y_pred
        if sample_weight is None:
            loss = ops.mean(negative_elbo)
        else:
            weights = ops.cast(ops.reshape(sample_weight, ops.shape(negative_elbo)), negative_elbo.dtype)
            loss = ops.sum(negative_elbo * weights) / ops.maximum(ops.sum(weights), 1e-12)
        return replica_share(loss + ops.sum(self.losses) if self.losses else loss)

    # Encoding, decoding, sampling.

    def encode(self, x):
        """``(loc, scale)`` of ``q(z|x)``, each ``[batch, d]``, for images ``x`` ``[batch, *image_shape]``."""
        return self._posterior_parameters(self.levels(x))

    def decode(self, z):
        """The mean image under ``p(x|z)`` ``[batch, *image_shape]`` in [0, 1] (expected level / (L − 1))
        for latents ``z`` ``[batch, d]``."""
        return self._mean_image(self._checked_latents(z))

    def sample(self, num_samples: int, seed: int | None = None):
        """``[num_samples, *image_shape]`` draws of the model, as levels / (L − 1) in [0, 1];
        the same ``seed`` gives the same draws."""
        if not _positive_int(num_samples):
            raise ValueError(f"num_samples={num_samples!r}: must be a positive integer")
        latent_seed, pixel_seed = _stateless_seed(seed), _stateless_seed(seed, 1)
        z = self.prior().sample(int(num_samples), seed=latent_seed)
        levels = self.likelihood(z).sample(seed=pixel_seed)
        return tf.cast(levels, self.compute_dtype) / (self.num_levels - 1)

    # Keras and export hooks.

    def default_compile_args(self) -> dict:
        """Adam at 1e-3; the loss is the model's own negative ELBO."""
        return {"optimizer": keras.optimizers.Adam(1e-3)}

    def export_signatures(self) -> dict:
        """``encode``: images ``x [batch, *image_shape]`` to ``loc``, ``scale`` ``[batch, d]``;
        ``decode``: latents ``z [batch, d]`` to ``mean_image [batch, *image_shape]`` and
        ``level_probabilities [batch, *image_shape, L]``."""
        images = tf.TensorSpec([None, *self.image_shape], tf.float32, name="x")
        latents = tf.TensorSpec([None, self.latent_size], tf.float32, name="z")

        def encode(x):
            loc, scale = self._posterior_parameters(self._levels(x))
            return {"loc": loc, "scale": scale}

        def decode(z):
            return {"mean_image": self._mean_image(z), "level_probabilities": tf.nn.softmax(self._logits(z))}

        return {
            "encode": tf.function(encode, input_signature=[images]),
            "decode": tf.function(decode, input_signature=[latents]),
        }

    def representative_data(self) -> dict:
        """Images of random levels and standard normal latents, for export checks and calibration."""
        rng = np.random.default_rng(0)
        levels = rng.integers(0, self.num_levels, (EXPORT_SAMPLES, *self.image_shape))
        latents = rng.standard_normal((EXPORT_SAMPLES, self.latent_size))
        return {
            "encode": [(levels / (self.num_levels - 1)).astype("float32")],
            "decode": [latents.astype("float32")],
        }

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "num_levels": self.num_levels,
            "latent_size": self.latent_size,
            "hidden_units": list(self.hidden_units),
            "estimator": self.estimator,
            "num_samples": self.num_samples,
            "control_variate": self.control_variate,
        }

    # Unchecked internals (the export graphs use these: no assert ops).

    def _levels(self, x):
        levels = tf.clip_by_value(tf.floor(x * self.num_levels), 0.0, self.num_levels - 1.0)
        return tf.cast(levels, tf.int32)

    def _posterior_parameters(self, levels):
        h = tf.reshape(tf.cast(levels, self.compute_dtype), [-1, self.num_pixels]) / (self.num_levels - 1)
        for layer in self.encoder_layers:
            h = layer(h)
        loc, raw_scale = tf.split(self.encoder_output(h), 2, axis=-1)
        return loc, tf.nn.softplus(raw_scale) + MIN_SCALE

    def _logits(self, z):
        """``[..., *image_shape, L]`` logits for latents ``[..., d]``."""
        h = tf.reshape(z, [-1, self.latent_size])
        for layer in self.decoder_layers:
            h = layer(h)
        shape = tf.concat([tf.shape(z)[:-1], self.image_shape, [self.num_levels]], 0)
        return tf.reshape(self.decoder_output(h), shape)

    def _mean_image(self, z):
        values = tf.range(self.num_levels, dtype=self.compute_dtype) / (self.num_levels - 1)
        return tf.reduce_sum(tf.nn.softmax(self._logits(z)) * values, -1)

    def _log_likelihood(self, levels, z):
        """``log p(x|z_s)`` ``[S, batch]`` for levels ``[batch, *image_shape]`` and ``z`` ``[S, batch, d]``."""
        log_probs = tf.nn.log_softmax(self._logits(z))  # [S, batch, *image_shape, L]
        chosen = tf.one_hot(levels, self.num_levels, dtype=log_probs.dtype) * log_probs
        return tf.reduce_sum(chosen, axis=[-4, -3, -2, -1])

    def _baseline(self, reconstruction):
        """``b_s`` ``[S, batch]``: the leave-one-out mean of ``log p(x|z)`` over the other draws, or 0."""
        if self.control_variate == "none":
            return tf.zeros_like(reconstruction)
        count = tf.cast(tf.shape(reconstruction)[0], reconstruction.dtype)
        return (tf.reduce_sum(reconstruction, 0, keepdims=True) - reconstruction) / (count - 1)

    def _checked_latents(self, z):
        z = tf.convert_to_tensor(z, dtype=self.compute_dtype)
        if z.shape.rank is None or z.shape.rank < 1 or z.shape[-1] != self.latent_size:
            raise ValueError(f"latents must have shape [..., {self.latent_size}]; got {tuple(z.shape)}")
        self._build_once()
        require(tf.math.is_finite(z), "latents have NaN or inf entries.")
        return z

    def _build_once(self):
        """Builds the layers on first use, whichever method comes first (``call`` builds through Keras)."""
        if not self.built:
            self.build((None, *self.image_shape))

    def _check_shape(self, shape):
        if len(shape) != 4 or tuple(shape[1:]) != self.image_shape:
            raise ValueError(
                f"{type(self).__name__} takes images [batch, {', '.join(map(str, self.image_shape))}]; got shape "
                f"{tuple(shape)}. Reshape the data (e.g. x.reshape(-1, {', '.join(map(str, self.image_shape))}))."
            )


def _diagonal_normal(loc, scale) -> tfd.Distribution:
    return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _check_num_samples(num_samples, estimator, control_variate):
    minimum = 2 if estimator == "score_function" and control_variate == "baseline" else 1
    if not (_positive_int(num_samples) and num_samples >= minimum):
        raise ValueError(
            f"num_samples={num_samples!r}: must be an integer >= {minimum}"
            + (" (the score function's leave-one-out baseline needs a second draw)" if minimum == 2 else "")
        )


def _stateless_seed(seed, stream: int = 0, tensor_allowed: bool = False):
    """None (fresh draws each call), an int as tfp's stateless seed (``stream`` tells draws from one
    int apart), or, with ``tensor_allowed``, a shape ``[2]`` integer tensor used as it is."""
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return tf.constant([int(seed), stream], tf.int32)
    if tensor_allowed and tf.is_tensor(seed) and seed.dtype.is_integer and seed.shape == (2,):
        return seed
    accepted = "an int, a shape [2] integer tensor" if tensor_allowed else "an int"
    raise ValueError(f"seed={seed!r}: must be {accepted} or None")
