"""The Keras side every flow shares: maximum likelihood with ``fit``, sampling, export.

A flow is a ``tfp.bijectors.Bijector`` ``f`` (``bijector()``) from a standard normal latent
``z ∈ R^D`` to the data ``x = f(z)`` (its event shape), and the density of ``x`` by the
change of variables::

    log p(x) = log N(f⁻¹(x); 0, I) + log |det ∂f⁻¹(x)/∂x|

(``distribution()``, a ``tfd.TransformedDistribution``). ``model(x)`` returns it per
example in nats, and ``fit`` minimizes its negative mean.

With ``logit_alpha=α``, data are taken to lie in ``[0, 1]`` (e.g. dequantized pixels) and
the bijector ends in ``x = (sigmoid(y) − α) / (1 − 2α)`` after the flow's own output
``y``, RealNVP's logit preprocessing. Its Jacobian is part of the bijector, so
``log p(x)`` is a density on the data's own ``[0, 1]`` scale.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from tfspeech.losses.replicas import replica_share

tfb = tfp.bijectors
tfd = tfp.distributions

EXPORT_SAMPLES = 8  # rows per sample in representative_data()


class Flow(keras.Model):
    """Base class: a subclass builds its layers in ``build_layers()`` and its transformation
    in ``flow_bijector(training)`` (latent ``[D]`` to its output, before ``logit_alpha``).

    Inputs ``[batch, *event_shape]`` float32; ``call`` returns ``[batch]`` log-densities (nats).
    """

    def __init__(self, event_shape, logit_alpha: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = tuple(int(d) for d in event_shape)
        if logit_alpha is not None and not 0.0 <= logit_alpha < 0.5:
            raise ValueError(f"logit_alpha={logit_alpha!r}: must be in [0, 0.5), e.g. 0.05, or None for no logit")
        self.logit_alpha = None if logit_alpha is None else float(logit_alpha)
        self.latent_size = int(np.prod(self.event_shape))

    def build_layers(self):
        """Creates every sub-layer's variables."""
        raise NotImplementedError

    def flow_bijector(self, training: bool = False) -> tfb.Bijector:
        """Latent ``[D]`` to the flow's output of ``event_shape`` (before ``logit_alpha``)."""
        raise NotImplementedError

    def build(self, input_shape):
        self._check_event_shape(input_shape)
        self.build_layers()

    def bijector(self, training: bool = False) -> tfb.Bijector:
        """The whole map from latent ``[D]`` to data ``event_shape``; ``training`` lets
        layers that initialize from data (Glow's actnorm) do so."""
        flow = self.flow_bijector(training)
        if self.logit_alpha is None:
            return flow
        alpha = self.logit_alpha
        to_unit_interval = tfb.Chain(
            [tfb.Scale(1.0 / (1.0 - 2.0 * alpha)), tfb.Shift(-alpha), tfb.Sigmoid()], name="to_unit_interval"
        )
        return tfb.Chain([to_unit_interval, flow], name="flow_and_logit")

    def distribution(self, training: bool = False) -> tfd.TransformedDistribution:
        """The model's density as a tfp distribution over ``event_shape``."""
        base = tfd.Sample(tfd.Normal(0.0, 1.0), sample_shape=[self.latent_size])
        return tfd.TransformedDistribution(base, self.bijector(training))

    def call(self, x, training=False):
        self._check_event_shape(x.shape)
        return self.distribution(bool(training)).log_prob(x)

    def log_prob(self, x):
        """``[batch]`` log-densities in nats of ``x`` ``[batch, *event_shape]``."""
        return self(ops.convert_to_tensor(x, dtype=self.compute_dtype))

    def sample(self, num_samples: int, seed: int | None = None):
        """``[num_samples, *event_shape]`` draws; the same ``seed`` gives the same draws."""
        if int(num_samples) != num_samples or num_samples < 1:
            raise ValueError(f"num_samples={num_samples!r}: must be a positive integer")
        shape = [int(num_samples), self.latent_size]
        if seed is None:
            noise = tf.random.normal(shape)
        else:
            noise = tf.random.stateless_normal(shape, seed=[0, int(seed)])
        return self.transform_noise(noise)

    def transform_noise(self, noise):
        """``x = f(noise)`` for latent ``noise`` ``[batch, D]``: sampling with noise you supply."""
        noise = tf.convert_to_tensor(noise, dtype=tf.float32)
        if noise.shape.rank != 2 or noise.shape[-1] != self.latent_size:
            raise ValueError(f"noise must have shape [batch, {self.latent_size}]; got {tuple(noise.shape)}")
        if not self.built:
            self.build((None, *self.event_shape))
        return self.bijector().forward(noise)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The batch's mean negative log-likelihood in nats per example (``y`` is ignored)."""
        nll = -y_pred
        if sample_weight is None:
            loss = ops.mean(nll)
        else:
            weights = ops.cast(ops.reshape(sample_weight, ops.shape(nll)), nll.dtype)
            loss = ops.sum(nll * weights) / ops.maximum(ops.sum(weights), 1e-12)
        return replica_share(loss + ops.sum(self.losses) if self.losses else loss)

    def default_compile_args(self) -> dict:
        """Adam at 1e-3, the loss being the model's own negative log-likelihood."""
        return {"optimizer": keras.optimizers.Adam(1e-3)}

    def export_signatures(self) -> dict:
        """``log_prob``: ``x [batch, *event_shape]`` to ``log_prob [batch]`` (nats);
        ``sample``: standard normal ``noise [batch, D]`` to ``x [batch, *event_shape]``."""
        data = tf.TensorSpec([None, *self.event_shape], tf.float32, name="x")
        noise = tf.TensorSpec([None, self.latent_size], tf.float32, name="noise")
        return {
            "log_prob": tf.function(lambda x: {"log_prob": self(x, training=False)}, input_signature=[data]),
            "sample": tf.function(lambda z: {"x": self.transform_noise(z)}, input_signature=[noise]),
        }

    def representative_data(self) -> dict:
        """Inputs in the model's domain for export checks: data in ``[0, 1]`` with
        ``logit_alpha`` (standard normal otherwise), standard normal noise."""
        rng = np.random.default_rng(0)
        shape = (EXPORT_SAMPLES, *self.event_shape)
        data = rng.uniform(size=shape) if self.logit_alpha is not None else rng.standard_normal(shape)
        noise = rng.standard_normal((EXPORT_SAMPLES, self.latent_size))
        return {"log_prob": [data.astype("float32")], "sample": [noise.astype("float32")]}

    def get_config(self):
        return {**super().get_config(), "logit_alpha": self.logit_alpha}

    def _check_event_shape(self, shape):
        if len(shape) != len(self.event_shape) + 1 or tuple(shape[1:]) != self.event_shape:
            expected = ", ".join(str(d) for d in ("batch", *self.event_shape))
            raise ValueError(
                f"{type(self).__name__} takes inputs [{expected}]; got shape {tuple(shape)}. "
                "Reshape the data (one example per row) or build a model for this shape."
            )
