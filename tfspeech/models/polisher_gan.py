"""Adversarial training of a ``SpectrogramPolisher`` against a conditional PatchGAN (pix2pix).

``PolisherGAN`` wraps the polisher for training only; the product is ``gan.generator``, a
plain ``SpectrogramPolisher``. Data are ``(TTS log-mels, recorded log-mels)`` crops on the same
time axis, both ``(batch, frames, n_mels)`` in nats. On normalized values (``generator.normalize``),
the generator minimizes

    L_G = E|G(x) − y| + λ · (−E log D(x, G(x)))

(``λ = adversarial_weight``; the non-saturating form, ``tfspeech.losses.patch_gan``) and the
discriminator, which sees the TTS mels beside the real or polished ones, its cross-entropy.
With ``λ = 0`` no discriminator is built or trained: the L1-only polisher (the ablation).
``loss`` and ``val_loss`` are the L1 term, comparable across λ.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.layers.patchgan import PatchDiscriminator
from tfspeech.losses.patch_gan import discriminator_cross_entropy, generator_cross_entropy
from tfspeech.losses.replicas import replica_share
from tfspeech.models.spectrogram_polisher import SpectrogramPolisher


@keras.saving.register_keras_serializable(package="tfspeech")
class PolisherGAN(keras.Model):
    """Args:
        generator: a ``SpectrogramPolisher``, or its serialized form.
        discriminator: ``PatchDiscriminator`` keyword arguments.
        adversarial_weight: λ; 0 trains with L1 only.
    """

    def __init__(self, generator, discriminator: dict | None = None, adversarial_weight: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        if isinstance(generator, dict):
            generator = keras.saving.deserialize_keras_object(generator)
        if not isinstance(generator, SpectrogramPolisher):
            raise TypeError(f"PolisherGAN trains a SpectrogramPolisher, got {type(generator).__name__}")
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}")
        self.generator = generator
        self.adversarial_weight = float(adversarial_weight)
        self.discriminator_config = dict(discriminator or {})
        self.discriminator = (PatchDiscriminator(**self.discriminator_config, name="discriminator")
                              if self.adversarial else None)
        names = ("loss", "discriminator_loss", "adversarial_loss") if self.adversarial else ("loss",)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def adversarial(self) -> bool:
        return self.adversarial_weight > 0

    def build(self, input_shape=None):
        self.generator.build_from_preset()
        if self.adversarial:
            self.discriminator.build((None, None, self.generator.n_mels, 2))

    def call(self, mel, training=None):
        return self.generator(mel, training=training)

    # ------------------------------------------------------------------ training

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, **kwargs):
        """One optimizer per network (default: ``default_compile_args()``); ``model.optimizer`` is
        the generator's. ``kwargs`` go to ``keras.Model.compile`` (``jit_compile``, ...)."""
        for fixed in ("optimizer", "loss", "metrics"):
            if fixed in kwargs:
                raise ValueError(f"PolisherGAN.compile takes no {fixed}=: pass generator_optimizer= and "
                                 "discriminator_optimizer=; the losses are the model's own")
        if not self.built:
            self.build()
        defaults = self.default_compile_args()
        self.generator_optimizer = keras.optimizers.get(generator_optimizer or defaults["generator_optimizer"])
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer = None
        if self.adversarial:
            self.discriminator_optimizer = keras.optimizers.get(
                discriminator_optimizer or defaults["discriminator_optimizer"])
            if self.generator_optimizer is self.discriminator_optimizer:
                raise ValueError("the generator and the discriminator need two optimizer objects")
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        super().compile(optimizer=self.generator_optimizer, **kwargs)
        self._gan_compile_kwargs = kwargs

    def default_compile_args(self) -> dict:
        """Adam(2e-4, β₁ = 0.5) for both networks, as pix2pix."""
        def make():
            return keras.optimizers.Adam(2e-4, beta_1=0.5)
        return {"generator_optimizer": make(), "discriminator_optimizer": make(), "jit_compile": False}

    def get_compile_config(self):
        if not self.compiled:
            return {}
        config = {"generator_optimizer": keras.optimizers.serialize(self.generator_optimizer),
                  **self._gan_compile_kwargs}
        if self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.optimizers.serialize(self.discriminator_optimizer)
        return config

    def compile_from_config(self, config):
        discriminator_optimizer = config.pop("discriminator_optimizer", None)
        self.compile(
            generator_optimizer=keras.optimizers.deserialize(config.pop("generator_optimizer")),
            discriminator_optimizer=(None if discriminator_optimizer is None
                                     else keras.optimizers.deserialize(discriminator_optimizer)),
            **config,
        )

    def train_step(self, data):
        """One discriminator update, then one generator update, on one batch.

        A custom step because the two networks minimize opposite objectives over their own
        variables in alternation, which ``fit``'s single loss cannot express.
        """
        mel, target = data
        condition, real = self._image(mel), self._image(target)
        with tf.GradientTape() as generator_tape:
            fake = self._image(self.generator(mel, training=True))
            l1 = tf.reduce_mean(tf.abs(fake - real))
            if not self.adversarial:
                g_loss = l1
            else:
                with generator_tape.stop_recording():
                    with tf.GradientTape() as discriminator_tape:
                        d_loss = discriminator_cross_entropy(
                            self.discriminator(tf.concat([condition, real], -1)),
                            self.discriminator(tf.concat([condition, tf.stop_gradient(fake)], -1)))
                        d_share = replica_share(d_loss)
                    variables = self.discriminator.trainable_variables
                    self.discriminator_optimizer.apply(discriminator_tape.gradient(d_share, variables), variables)
                adversarial = generator_cross_entropy(self.discriminator(tf.concat([condition, fake], -1)))
                g_loss = l1 + self.adversarial_weight * adversarial
            g_share = replica_share(g_loss)  # the strategy sums the replicas' gradients
        variables = self.generator.trainable_variables
        self.generator_optimizer.apply(generator_tape.gradient(g_share, variables), variables)
        if not self.adversarial:
            return self._record(loss=l1)
        return self._record(loss=l1, discriminator_loss=d_loss, adversarial_loss=adversarial)

    def test_step(self, data):
        """The L1 term on held-out crops (``val_loss``)."""
        mel, target = data
        return self._record(loss=tf.reduce_mean(tf.abs(self._image(self.generator(mel)) - self._image(target))))

    def _image(self, mel):
        """Log-mels ``(batch, frames, n_mels)`` → normalized ``(batch, frames, n_mels, 1)``."""
        return tf.expand_dims(self.generator.normalize(mel), -1)

    def _record(self, **values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        return {**super().get_config(), "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": self.discriminator_config, "adversarial_weight": self.adversarial_weight}
