"""Adversarial fine-tuning of an ``ISTFTVocoder``: the vocoder against period and resolution
discriminators, with least-squares GAN losses, feature matching and the reconstruction loss.

``VocoderGAN`` wraps the vocoder for training only; the product is ``gan.generator``, a plain
``ISTFTVocoder`` that saves, exports and streams as before. Data are the same ``(context mels,
audio)`` crops as for reconstruction training; ``val_loss`` is the reconstruction loss, so it
compares across the two stages.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.layers.discriminators import WaveformDiscriminators
from tfspeech.losses.adversarial import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from tfspeech.losses.replicas import replica_share
from tfspeech.losses.spectral import VocoderReconstructionLoss
from tfspeech.models.istft_vocoder import ISTFTVocoder


@keras.saving.register_keras_serializable(package="tfspeech")
class VocoderGAN(keras.Model):
    """Args:
        generator: an ``ISTFTVocoder`` (e.g. the reconstruction stage's, to warm-start), or its
            serialized form.
        discriminators: ``WaveformDiscriminators`` keyword arguments.
        reconstruction_weight, feature_weight, adversarial_weight: the generator's loss is
            ``reconstruction_weight · reconstruction + feature_weight · feature matching +
            adversarial_weight · LSGAN`` (HiFi-GAN's 45 / 2 / 1).
    """

    def __init__(self, generator, discriminators: dict | None = None, reconstruction_weight: float = 45.0,
                 feature_weight: float = 2.0, adversarial_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(generator, dict):
            generator = keras.saving.deserialize_keras_object(generator)
        if not isinstance(generator, ISTFTVocoder):
            raise TypeError(f"VocoderGAN trains an ISTFTVocoder, got {type(generator).__name__}")
        self.generator = generator
        self.discriminator_config = dict(discriminators or {})
        self.discriminators = WaveformDiscriminators(**self.discriminator_config, name="discriminators")
        self.reconstruction_weight = reconstruction_weight
        self.feature_weight, self.adversarial_weight = feature_weight, adversarial_weight
        self.reconstruction = VocoderReconstructionLoss(generator.mel_config, phase_loss="derivative")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("loss", "discriminator_loss", "adversarial_loss", "feature_loss")}

    def build(self, input_shape=None):
        mel = self.generator.example_inputs(frames=32)
        self.generator.build_from_preset()
        self.discriminators(self.generator(mel))

    def call(self, mel, training=None):
        return self.generator(mel, training=training)

    # ------------------------------------------------------------------ training

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, **kwargs):
        """One optimizer per network (default: ``default_compile_args()``); ``model.optimizer`` is
        the generator's. ``kwargs`` go to ``keras.Model.compile`` (``jit_compile``, ...)."""
        for fixed in ("optimizer", "loss", "metrics"):
            if fixed in kwargs:
                raise ValueError(f"VocoderGAN.compile takes no {fixed}=: pass generator_optimizer= and "
                                 "discriminator_optimizer=; the losses are the model's own")
        if not self.built:
            self.build()
        defaults = self.default_compile_args()
        self.generator_optimizer = keras.optimizers.get(generator_optimizer or defaults["generator_optimizer"])
        self.discriminator_optimizer = keras.optimizers.get(
            discriminator_optimizer or defaults["discriminator_optimizer"])
        if self.generator_optimizer is self.discriminator_optimizer:
            raise ValueError("the generator and the discriminators need two optimizer objects")
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminators.trainable_variables)
        super().compile(optimizer=self.generator_optimizer, **kwargs)
        self._gan_compile_kwargs = kwargs

    def default_compile_args(self) -> dict:
        """AdamW(2e-4, β = 0.8, 0.99) for both networks, as Vocos and HiFi-GAN."""
        def make():
            return keras.optimizers.AdamW(2e-4, weight_decay=0.01, beta_1=0.8, beta_2=0.99, clipnorm=10.0)
        return {"generator_optimizer": make(), "discriminator_optimizer": make(), "jit_compile": False}

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "generator_optimizer": keras.optimizers.serialize(self.generator_optimizer),
            "discriminator_optimizer": keras.optimizers.serialize(self.discriminator_optimizer),
            **self._gan_compile_kwargs,
        }

    def compile_from_config(self, config):
        self.compile(
            generator_optimizer=keras.optimizers.deserialize(config.pop("generator_optimizer")),
            discriminator_optimizer=keras.optimizers.deserialize(config.pop("discriminator_optimizer")),
            **config,
        )

    def train_step(self, data):
        """One discriminator update, then one generator update, on one batch.

        A custom step because the two networks minimize opposite objectives over their own
        variables in alternation, which ``fit``'s single loss cannot express.
        """
        mel, audio = data
        with tf.GradientTape() as generator_tape:
            fake = self.generator(mel, training=True)
            with generator_tape.stop_recording():
                with tf.GradientTape() as discriminator_tape:
                    d_loss = discriminator_loss(self.discriminators(audio),
                                                self.discriminators(tf.stop_gradient(fake)))
                    d_share = replica_share(d_loss)
                variables = self.discriminators.trainable_variables
                self.discriminator_optimizer.apply(discriminator_tape.gradient(d_share, variables), variables)
            real_outputs = self.discriminators(audio)
            fake_outputs = self.discriminators(fake)
            adversarial = generator_adversarial_loss(fake_outputs)
            features = feature_matching_loss(real_outputs, fake_outputs)
            # the loss's own call: Keras' Loss.__call__ already divides by the replicas
            reconstruction = tf.reduce_mean(self.reconstruction.call(audio, fake))
            g_share = replica_share(self.reconstruction_weight * reconstruction + self.feature_weight * features
                                    + self.adversarial_weight * adversarial)
        variables = self.generator.trainable_variables
        self.generator_optimizer.apply(generator_tape.gradient(g_share, variables), variables)
        return self._record(loss=reconstruction, discriminator_loss=d_loss, adversarial_loss=adversarial,
                            feature_loss=features)

    def test_step(self, data):
        """The reconstruction loss on held-out crops (``val_loss``), comparable across stages."""
        mel, audio = data
        return self._record(loss=tf.reduce_mean(self.reconstruction.call(audio, self.generator(mel))))

    def _record(self, **values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminators": self.discriminator_config,
            "reconstruction_weight": self.reconstruction_weight,
            "feature_weight": self.feature_weight,
            "adversarial_weight": self.adversarial_weight,
        }
