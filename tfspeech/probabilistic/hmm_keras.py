"""A Gaussian HMM as a Keras model: sequence log-likelihood, gradient training, Viterbi, export.

:class:`GaussianHMMDensity` holds the same parameters as :class:`~tfspeech.probabilistic.GaussianHMM`
in unconstrained form and maps a batch of sequences ``x (batch, T, D)`` to their
log-likelihoods ``(batch,)`` (nats) with the scaled forward recursion of
:func:`~tfspeech.probabilistic.hmm_inference.scaled_log_likelihood`. ``model.fit(x)``
minimizes the negative log-likelihood per frame by gradient, for comparison with EM
(``GaussianHMM.to_keras()`` / ``GaussianHMM.from_keras(model)`` convert both ways).
:class:`DiagonalGMMHMMDensity` is the same for states that emit mixtures of diagonal
Gaussians (``GMMHMM(covariance_type="diag").to_keras()``).
"""

import keras
import numpy as np
import tensorflow as tf

from tfspeech.losses.replicas import replica_share
from tfspeech.probabilistic import gaussian, hmm_inference

#: Zero probabilities become this probability in the logits (softmax cannot express 0).
PROBABILITY_FLOOR = 1e-30


class _HMMDensity(keras.Model):
    """What the HMM densities share: ``start_logits`` / ``transition_logits`` variables, the
    scaled forward recursion (``call``) and Viterbi over the subclass's ``frame_log_prob``
    ``(batch, T, D) -> (T, batch, K)``."""

    def chain(self):
        """``(startprob (K,), transmat (K, K))``."""
        return tf.nn.softmax(self.start_logits), tf.nn.softmax(self.transition_logits, axis=-1)

    def call(self, x, mask=None):
        log_b = self.frame_log_prob(x)
        valid = (tf.ones(tf.shape(log_b)[:2], tf.bool) if mask is None
                 else tf.transpose(tf.cast(mask, tf.bool)))
        return hmm_inference.scaled_log_likelihood(*self.chain(), log_b, valid)

    def compute_mask(self, inputs, mask=None):
        """The output (one value per sequence) carries no mask."""
        return None

    def viterbi(self, x):
        """Most likely state paths: ``(log_prob (batch,), states (batch, T) int32)``."""
        log_b = self.frame_log_prob(x)
        start = tf.tile(tf.range(tf.shape(log_b)[0])[:, tf.newaxis] == 0, [1, tf.shape(log_b)[1]])
        startprob, transmat = self.chain()
        log_probs, states = hmm_inference.viterbi_path(
            tf.math.log(startprob), tf.math.log(transmat), log_b, start, tf.ones_like(start))
        return log_probs[-1], tf.transpose(states)


@keras.saving.register_keras_serializable(package="tfspeech")
class GaussianHMMDensity(_HMMDensity):
    """``call(x (batch, T, D), mask=None) -> log p(x) (batch,)`` for a Gaussian HMM (nats).

    Variables: ``start_logits`` ``(K,)`` and ``transition_logits`` ``(K, K)`` (softmax over
    the last axis → ``startprob``, ``transmat``), ``means`` ``(K, D)``, and
    ``precision_factor``: the precision Cholesky ``P`` of :mod:`~tfspeech.probabilistic.gaussian`
    (``Λ = P Pᵀ``, upper triangle used, diagonal stored as ``log P_ii`` so it stays positive).
    A ``mask`` (batch, T) skips frames (padding). Frames of one sequence form one lane of the
    recursion; the graph uses only elementwise ops, small matrix products and a while loop,
    so it converts to TFLite builtins.
    """

    def __init__(self, n_components, n_features, covariance_type="diag", **kwargs):
        super().__init__(**kwargs)
        gaussian.check_covariance_type(covariance_type)
        self.n_components = int(n_components)
        self.n_features = int(n_features)
        self.covariance_type = covariance_type
        K, D = self.n_components, self.n_features
        self.start_logits = self.add_weight(shape=(K,), initializer="zeros", name="start_logits")
        self.transition_logits = self.add_weight(shape=(K, K), initializer="zeros",
                                                 name="transition_logits")
        self.means = self.add_weight(shape=(K, D), initializer="random_normal", name="means")
        self.precision_factor = self.add_weight(
            shape=gaussian.covariance_shape(covariance_type, K, D), initializer="zeros",
            name="precision_factor")
        self.supports_masking = True  # consumes the frame mask; the output has none
        self.built = True

    # ------------------------------------------------------------------ parameters
    def precision_cholesky(self):
        """``P`` from ``precision_factor`` (shapes as :mod:`~tfspeech.probabilistic.gaussian`)."""
        factor = self.precision_factor
        if self.covariance_type in ("full", "tied"):
            eye = tf.eye(self.n_features, dtype=factor.dtype)
            # exp of the diagonal only: exp of a large off-diagonal entry would overflow (inf * 0).
            return tf.linalg.band_part(factor, 0, -1) * (1 - eye) + tf.exp(factor * eye) * eye
        return tf.exp(factor)

    def hmm(self):
        """``(startprob, transmat, means, covariances)`` as float64 numpy arrays (compact
        covariance shapes of ``covariance_type``)."""
        startprob, transmat = (np.asarray(p, np.float64) for p in self.chain())
        prec_chol = tf.constant(np.asarray(self.precision_cholesky(), np.float64))
        covariances = gaussian.covariances_from_precision_cholesky(prec_chol, self.covariance_type)
        return startprob, transmat, np.asarray(self.means, np.float64), np.asarray(covariances)

    def set_hmm(self, startprob, transmat, means, covariances):
        """Set the variables from HMM parameters (covariances in the compact shape of the type).

        Zero probabilities are floored at :data:`PROBABILITY_FLOOR` (logits must be finite).
        """
        prec_chol = np.asarray(gaussian.precision_cholesky(
            tf.constant(np.asarray(covariances, np.float64)), self.covariance_type))
        gaussian.check_finite_precision(prec_chol)
        if self.covariance_type in ("full", "tied"):
            diagonal = np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1))
            factor = np.triu(prec_chol, 1) + diagonal[..., np.newaxis] * np.eye(self.n_features)
        else:
            factor = np.log(prec_chol)
        self.start_logits.assign(np.log(np.maximum(startprob, PROBABILITY_FLOOR)).astype(np.float32))
        self.transition_logits.assign(np.log(np.maximum(transmat, PROBABILITY_FLOOR)).astype(np.float32))
        self.means.assign(np.asarray(means, np.float32))
        self.precision_factor.assign(factor.astype(np.float32))

    # ------------------------------------------------------------------- inference
    def frame_log_prob(self, x):
        """Per-state log-densities, time-major: ``x (batch, T, D) -> (T, batch, K)``."""
        x = tf.convert_to_tensor(x, self.means.dtype)
        frames = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, self.n_features])
        log_prob = gaussian.log_prob_from_precision_cholesky(
            frames, self.means, self.precision_cholesky(), self.covariance_type)
        return tf.reshape(log_prob, [tf.shape(x)[1], tf.shape(x)[0], self.n_components])


    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Negative log-likelihood per frame, averaged over the batch (``y`` is ignored); this
        replica's share under ``tf.distribute``."""
        frames = tf.cast(tf.shape(x)[1], y_pred.dtype)
        nll = -y_pred / frames
        if sample_weight is not None:
            sample_weight = tf.cast(tf.reshape(sample_weight, [-1]), nll.dtype)
            return replica_share(tf.reduce_sum(nll * sample_weight) / tf.reduce_sum(sample_weight))
        return replica_share(tf.reduce_mean(nll))

    def default_compile_args(self):
        """How ``tfspeech.zoo.load`` compiles it for fine-tuning."""
        return {"optimizer": keras.optimizers.Adam(1e-2)}

    def export_signatures(self):
        """``score``: ``x (None, None, D) -> log_likelihood (None,)``; ``viterbi``: ``x ->
        states (None, None) int32, log_prob (None,)``, for ``tfspeech.export``."""
        spec = tf.TensorSpec([None, None, self.n_features], tf.float32, name="x")

        def viterbi(x):
            log_prob, states = self.viterbi(x)
            return {"states": states, "log_prob": log_prob}

        return {"score": tf.function(lambda x: {"log_likelihood": self(x)}, input_signature=[spec]),
                "viterbi": tf.function(viterbi, input_signature=[spec])}

    def representative_data(self):
        """``{signature: sequences}`` drawn near the state means, for export parity checks."""
        rng = np.random.default_rng(0)
        means = np.asarray(self.means)
        states = rng.integers(0, self.n_components, size=(4, 2, 24))
        samples = [(means[s] + 0.3 * rng.standard_normal(means[s].shape)).astype(np.float32)
                   for s in states]
        return {"score": samples, "viterbi": samples}

    def get_config(self):
        return {**super().get_config(), "n_components": self.n_components,
                "n_features": self.n_features, "covariance_type": self.covariance_type}


@keras.saving.register_keras_serializable(package="tfspeech")
class DiagonalGMMHMMDensity(_HMMDensity):
    """``call(x (batch, T, D), mask=None) -> log p(x) (batch,)`` for an HMM whose states emit
    mixtures of ``n_mix`` diagonal Gaussians (nats).

    Variables: ``start_logits`` ``(K,)``, ``transition_logits`` ``(K, K)`` and
    ``mixture_logits`` ``(K, M)`` (softmax over the last axis → ``startprob``, ``transmat``,
    mixture ``weights``), ``means`` ``(K, M, D)`` and ``precision_factor`` ``(K, M, D)``
    ``= −log σ`` (the log of the diagonal precision Cholesky, as
    :class:`~tfspeech.probabilistic.hmm_keras.GaussianHMMDensity`). The state densities
    ``log Σ_m w_km N(x | μ_km, σ²_km)`` feed the same scaled forward recursion and Viterbi
    as the single-Gaussian model (builtin TFLite ops only).
    """

    def __init__(self, n_components, n_mix, n_features, **kwargs):
        super().__init__(**kwargs)
        self.n_components = int(n_components)
        self.n_mix = int(n_mix)
        self.n_features = int(n_features)
        K, M, D = self.n_components, self.n_mix, self.n_features
        self.start_logits = self.add_weight(shape=(K,), initializer="zeros", name="start_logits")
        self.transition_logits = self.add_weight(shape=(K, K), initializer="zeros", name="transition_logits")
        self.mixture_logits = self.add_weight(shape=(K, M), initializer="zeros", name="mixture_logits")
        self.means = self.add_weight(shape=(K, M, D), initializer="random_normal", name="means")
        self.precision_factor = self.add_weight(shape=(K, M, D), initializer="zeros", name="precision_factor")
        self.supports_masking = True  # consumes the frame mask; the output has none
        self.built = True

    def set_gmm_hmm(self, startprob, transmat, weights, means, variances):
        """Set the variables from GMM-HMM parameters: ``weights (K, M)``, ``means`` and
        ``variances`` ``(K, M, D)``. Zero probabilities are floored at ``PROBABILITY_FLOOR``."""
        variances = np.asarray(variances, np.float64)
        if not (np.isfinite(variances).all() and np.all(variances > 0)):
            raise ValueError("every mixture component needs finite positive variances; "
                             "fit with a variance floor (min_covar / covars_prior)")
        for variable, value in ((self.start_logits, np.log(np.maximum(startprob, PROBABILITY_FLOOR))),
                                (self.transition_logits, np.log(np.maximum(transmat, PROBABILITY_FLOOR))),
                                (self.mixture_logits, np.log(np.maximum(weights, PROBABILITY_FLOOR))),
                                (self.means, means), (self.precision_factor, -0.5 * np.log(variances))):
            variable.assign(np.asarray(value, np.float32))

    def frame_log_prob(self, x):
        """Per-state mixture log-densities, time-major: ``x (batch, T, D) -> (T, batch, K)``."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        x = tf.convert_to_tensor(x, self.means.dtype)
        frames = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, D])
        components = gaussian.log_prob_from_precision_cholesky(
            frames, tf.reshape(self.means, [K * M, D]),
            tf.reshape(tf.exp(self.precision_factor), [K * M, D]), "diag")  # (T·batch, K·M)
        joint = tf.reshape(components, [-1, K, M]) + tf.nn.log_softmax(self.mixture_logits, axis=-1)
        return tf.reshape(tf.reduce_logsumexp(joint, axis=-1), [tf.shape(x)[1], tf.shape(x)[0], K])


    def get_config(self):
        return {**super().get_config(), "n_components": self.n_components, "n_mix": self.n_mix,
                "n_features": self.n_features}
