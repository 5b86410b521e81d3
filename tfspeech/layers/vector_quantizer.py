"""Vector quantization with a learned codebook (van den Oord et al. 2017, "Neural Discrete
Representation Learning", VQ-VAE).

An encoder output ``z_e`` of shape ``(..., code_dim)`` is replaced by its nearest codebook
vector ``e_k`` (Euclidean distance). The lookup has no gradient, so the layer returns the
straight-through value ``z_e + stop_gradient(e_k - z_e)``: its value is ``e_k`` and its
gradient is passed to ``z_e`` unchanged. The codebook learns from its own term instead:

- gradient codebook: ``codebook_loss = mean ||stop_gradient(z_e) - e_k||²`` moves codes to
  the encoder outputs assigned to them;
- EMA codebook (``ema_decay`` set): the codebook is not trained by gradient; every training
  call moves each code to the exponential moving average of the encoder outputs assigned to
  it (the paper's appendix, with Laplace-smoothed counts), and ``codebook_loss`` is 0;
- both: ``commitment_loss = commitment_cost * mean ||z_e - stop_gradient(e_k)||²`` keeps the
  encoder near its codes.

Losses are means over vectors and dimensions (squared error per element). Codes whose
usage (an exponential moving average of the fraction of vectors assigned to each code)
falls below ``restart_below / num_codes`` are dead: a training call moves each to a
random encoder output of the batch (dead-code restart). Usage starts at 0, so the first
training batch initializes every code it does not reach from the data.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.losses.replicas import from_first_replica, replica_sum


@keras.saving.register_keras_serializable(package="tfspeech")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-neighbour quantizer of ``(..., code_dim)`` vectors; see the module doc.

    Args:
        num_codes: codebook size K.
        code_dim: code dimension D (the input's last axis).
        commitment_cost: beta, the commitment loss weight.
        ema_decay: None for a gradient-trained codebook, else the EMA decay (e.g. 0.99).
        restart_below: a code used less than ``restart_below / num_codes`` of the time is
            restarted; 0 disables restarts.
        usage_decay: decay of the usage moving average (about ``1 / (1 - usage_decay)``
            training calls of memory).
        epsilon: Laplace smoothing of the EMA counts.
        seed: seeds the codebook initializer and the restarts.

    ``call(z_e, training)`` returns a dict: ``quantized`` (straight-through, shaped like
    ``z_e``), ``codes`` (``z_e.shape[:-1]`` int32), ``codebook_loss``,
    ``commitment_loss`` and ``perplexity`` (``exp`` of the entropy of the batch's code
    histogram: K when codes are used uniformly, 1 when one code takes everything).
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        commitment_cost: float = 0.25,
        ema_decay: float | None = None,
        restart_below: float = 0.03,
        usage_decay: float = 0.99,
        epsilon: float = 1e-5,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_codes) < 2 or int(code_dim) < 1:
            raise ValueError(f"need num_codes >= 2 and code_dim >= 1, got {num_codes} and {code_dim}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {ema_decay!r}")
        if not 0.0 < usage_decay < 1.0:
            raise ValueError(f"usage_decay must be in (0, 1), got {usage_decay!r}")
        if not 0.0 <= restart_below < 1.0:
            raise ValueError(f"restart_below must be in [0, 1) (a fraction of uniform usage), got {restart_below!r}")
        self.num_codes, self.code_dim = int(num_codes), int(code_dim)
        self.commitment_cost = float(commitment_cost)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.restart_below, self.usage_decay = float(restart_below), float(usage_decay)
        self.epsilon = float(epsilon)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def uses_ema(self) -> bool:
        return self.ema_decay is not None

    def build(self, input_shape):
        if input_shape[-1] not in (None, self.code_dim):
            raise ValueError(f"VectorQuantizer expects (..., {self.code_dim}) vectors, got shape {input_shape}")
        self.codebook = self.add_weight(
            shape=(self.num_codes, self.code_dim),
            initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "uniform", seed=self.seed),
            trainable=not self.uses_ema,
            name="codebook",
        )
        self.usage = self.add_weight(shape=(self.num_codes,), initializer="zeros", trainable=False, name="usage")
        if self.uses_ema:
            self.ema_counts = self.add_weight(shape=(self.num_codes,), initializer="ones", trainable=False,
                                              name="ema_counts")
            self.ema_sums = self.add_weight(shape=(self.num_codes, self.code_dim), initializer="zeros",
                                            trainable=False, name="ema_sums")
            self.ema_sums.assign(self.codebook)
        self.built = True

    def nearest_codes(self, z_e):
        """``(...)`` int32 ids of the codes nearest to ``z_e`` ``(..., code_dim)``."""
        flat = tf.reshape(z_e, [-1, self.code_dim])
        # ||z - e||² = ||z||² - 2 z·e + ||e||²; ||z||² is the same for every code, so it is left out.
        distances = tf.reduce_sum(tf.square(self.codebook), axis=1) - 2.0 * tf.matmul(flat, self.codebook,
                                                                                       transpose_b=True)
        codes = tf.argmin(distances, axis=1, output_type=tf.int32)
        return tf.reshape(codes, tf.shape(z_e)[:-1])

    def lookup(self, codes):
        """Code vectors ``(..., code_dim)`` for int ids ``(...)``."""
        return tf.gather(self.codebook, codes)

    def call(self, z_e, training=False):
        z_e = tf.convert_to_tensor(z_e, self.compute_dtype)
        codes = self.nearest_codes(z_e)
        codes_used = self.lookup(codes)
        commitment_loss = self.commitment_cost * tf.reduce_mean(tf.square(z_e - tf.stop_gradient(codes_used)))
        if self.uses_ema:
            codebook_loss = tf.zeros([], z_e.dtype)
        else:
            codebook_loss = tf.reduce_mean(tf.square(tf.stop_gradient(z_e) - codes_used))
        quantized = z_e + tf.stop_gradient(codes_used - z_e)

        flat_z = tf.stop_gradient(tf.reshape(z_e, [-1, self.code_dim]))
        one_hot = tf.one_hot(tf.reshape(codes, [-1]), self.num_codes, dtype=z_e.dtype)
        # over the global batch under tf.distribute, so every replica updates the codebook alike
        frequencies = replica_sum(tf.reduce_sum(one_hot, axis=0))
        frequencies /= tf.reduce_sum(frequencies)
        perplexity = tf.exp(-tf.reduce_sum(frequencies * tf.math.log(frequencies + 1e-10)))
        if training:
            if self.uses_ema:
                self._ema_update(flat_z, one_hot)
            self._track_usage_and_restart(flat_z, frequencies)
        return {
            "quantized": quantized,
            "codes": codes,
            "codebook_loss": codebook_loss,
            "commitment_loss": commitment_loss,
            "perplexity": perplexity,
        }

    def _ema_update(self, flat_z, one_hot):
        decay = self.ema_decay
        counts = decay * self.ema_counts + (1.0 - decay) * replica_sum(tf.reduce_sum(one_hot, axis=0))
        sums = decay * self.ema_sums + (1.0 - decay) * replica_sum(tf.matmul(one_hot, flat_z, transpose_a=True))
        total = tf.reduce_sum(counts)
        smoothed = (counts + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.ema_counts.assign(counts)
        self.ema_sums.assign(sums)
        self.codebook.assign(sums / smoothed[:, None])

    def _track_usage_and_restart(self, flat_z, frequencies):
        usage = self.usage_decay * self.usage + (1.0 - self.usage_decay) * frequencies
        if self.restart_below <= 0.0:
            self.usage.assign(usage)
            return
        dead = usage < self.restart_below / self.num_codes
        picks = keras.random.randint([self.num_codes], 0, tf.shape(flat_z)[0], seed=self.seed_generator,
                                     dtype="int32")
        replacements = from_first_replica(tf.gather(flat_z, picks))
        self.codebook.assign(tf.where(dead[:, None], replacements, self.codebook))
        self.usage.assign(tf.where(dead, tf.fill([self.num_codes], 1.0 / self.num_codes), usage))
        if self.uses_ema:
            self.ema_counts.assign(tf.where(dead, tf.ones_like(self.ema_counts), self.ema_counts))
            self.ema_sums.assign(tf.where(dead[:, None], replacements, self.ema_sums))

    def compute_output_spec(self, z_e):
        scalar = keras.KerasTensor([], dtype=self.compute_dtype)
        return {
            "quantized": keras.KerasTensor(z_e.shape, dtype=self.compute_dtype),
            "codes": keras.KerasTensor(z_e.shape[:-1], dtype="int32"),
            "codebook_loss": scalar,
            "commitment_loss": scalar,
            "perplexity": scalar,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "commitment_cost": self.commitment_cost,
            "ema_decay": self.ema_decay,
            "restart_below": self.restart_below,
            "usage_decay": self.usage_decay,
            "epsilon": self.epsilon,
            "seed": self.seed,
        }
