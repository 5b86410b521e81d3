"""VQ-VAE for speech (van den Oord et al. 2017): log-mels → discrete codes → log-mels in any voice.

Encoder: log-mel ``(batch, frames, n_mels)`` → per-utterance mean/variance normalization of
each band (removes the utterance's average spectrum, much of what tells voices apart) →
Conv1D → one strided Conv1D per entry of ``time_strides`` (``time_stride`` = their product
frames per code) → dilated residual blocks → ``z_e`` ``(batch, codes, code_dim)``.

Quantizer: ``tfspeech.layers.vector_quantizer.VectorQuantizer`` (nearest of ``num_codes``
codes, straight-through gradients, EMA or gradient codebook, dead-code restarts).

Decoder, conditioned on a speaker (global conditioning: a learned speaker embedding whose
projection is added to every residual block): Conv1D → residual blocks at the code rate →
per stride: nearest-neighbour upsampling + Conv1D → dilated residual blocks → Conv1D →
log-mel ``(batch, frames, n_mels)`` in the input's units (natural log of the mel magnitude).

Loss (``train_step``): ``mean (log_mel - reconstruction)²`` + codebook term + commitment
term (see the quantizer); codebook perplexity is tracked as a metric. Inputs are
``{"log_mel": (batch, frames, n_mels) float32, "speaker": (batch,) int}``, every frame
valid (train on fixed-length crops); ``speaker`` indexes ``speakers``.
"""

from __future__ import annotations

import difflib
import math

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig, log_mel_spectrogram
from tfspeech.layers.vector_quantizer import VectorQuantizer
from tfspeech.losses.replicas import replica_share

_VARIANCE_FLOOR = 1e-2  # log-mel variance floor: a silent band normalizes to 0, not to noise


def _unknown_speaker_message(name, speakers) -> str:
    close = difflib.get_close_matches(str(name), speakers, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown speaker {name!r}; this model knows {len(speakers)}: {', '.join(speakers)}.{hint}"


@keras.saving.register_keras_serializable(package="tfspeech")
class VQVAE(keras.Model):
    """See the module doc.

    Args:
        speakers: the voices the decoder can speak in (names, e.g. corpus voice specs).
        n_mels: log-mel bands (must match ``mel_config``).
        channels: convolution width throughout.
        code_dim, num_codes: the codebook (D, K).
        time_strides: encoder downsampling per strided conv; the decoder upsamples in reverse.
        encoder_dilations: dilations of the encoder's residual blocks (and of the decoder's
            code-rate blocks).
        decoder_dilations: dilations of the decoder's frame-rate residual blocks.
        speaker_dim: speaker embedding size.
        commitment_cost, ema_decay, restart_below: see ``VectorQuantizer``.
        mel_config: ``MelConfig`` fields of the features (used by the waveform signature).
        seed: seeds the quantizer's initialization and restarts.
    """

    def __init__(
        self,
        speakers,
        n_mels: int = 80,
        channels: int = 128,
        code_dim: int = 64,
        num_codes: int = 256,
        time_strides=(2, 2),
        encoder_dilations=(1, 2),
        decoder_dilations=(1, 2, 4, 1, 2, 4),
        speaker_dim: int = 32,
        commitment_cost: float = 0.25,
        ema_decay: float | None = 0.99,
        restart_below: float = 0.03,
        mel_config: dict | None = None,
        seed: int | None = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.speakers = tuple(str(s) for s in speakers)
        if len(self.speakers) < 1 or len(set(self.speakers)) != len(self.speakers):
            raise ValueError(f"speakers must be distinct names, at least one; got {list(self.speakers)}")
        if not time_strides or any(int(s) < 1 for s in time_strides):
            raise ValueError(f"time_strides needs strides >= 1, got {time_strides!r}")
        self.mel_config = MelConfig.from_dict(mel_config) if mel_config is not None else MelConfig(n_mels=n_mels)
        if self.mel_config.n_mels != n_mels:
            raise ValueError(f"n_mels={n_mels} but mel_config has n_mels={self.mel_config.n_mels}; make them equal")
        self.n_mels, self.channels = int(n_mels), int(channels)
        self.code_dim, self.num_codes = int(code_dim), int(num_codes)
        self.time_strides = tuple(int(s) for s in time_strides)
        self.encoder_dilations = tuple(int(d) for d in encoder_dilations)
        self.decoder_dilations = tuple(int(d) for d in decoder_dilations)
        self.speaker_dim = int(speaker_dim)
        self.seed = seed

        def conv(filters, kernel, name, **options):
            return keras.layers.Conv1D(filters, kernel, padding="same", name=name, **options)

        self.encoder_input = conv(channels, 3, "encoder_input", activation="relu")
        self.encoder_downsampling = [
            conv(channels, 2 * s, f"encoder_down_{i}", strides=s, activation="relu")
            for i, s in enumerate(self.time_strides)
        ]
        self.encoder_blocks = [ResidualBlock(channels, d, name=f"encoder_block_{i}")
                               for i, d in enumerate(self.encoder_dilations)]
        self.encoder_output = conv(code_dim, 1, "encoder_output")
        self.quantizer = VectorQuantizer(num_codes, code_dim, commitment_cost=commitment_cost, ema_decay=ema_decay,
                                         restart_below=restart_below, seed=seed, name="quantizer")
        self.speaker_embedding = keras.layers.Embedding(len(self.speakers), speaker_dim, name="speaker_embedding")
        self.decoder_input = conv(channels, 3, "decoder_input")
        self.decoder_code_blocks = [ResidualBlock(channels, d, conditioned=True, name=f"decoder_code_block_{i}")
                                    for i, d in enumerate(self.encoder_dilations)]
        self.decoder_upsampling = [
            (keras.layers.UpSampling1D(s, name=f"decoder_repeat_{i}"),
             conv(channels, 3, f"decoder_up_{i}", activation="relu"))
            for i, s in enumerate(reversed(self.time_strides))
        ]
        self.decoder_frame_blocks = [ResidualBlock(channels, d, conditioned=True, name=f"decoder_frame_block_{i}")
                                     for i, d in enumerate(self.decoder_dilations)]
        self.decoder_output = conv(n_mels, 1, "decoder_output")

        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("reconstruction", "codebook", "commitment", "perplexity")}

    @property
    def time_stride(self) -> int:
        """Input frames per code."""
        return math.prod(self.time_strides)

    def num_code_frames(self, num_frames):
        """Codes for ``num_frames`` frames: ``ceil(frames / stride)`` per strided conv."""
        codes = num_frames
        for stride in self.time_strides:
            codes = -(-codes // stride)
        return codes

    def speaker_id(self, name: str) -> int:
        """The index of speaker ``name``; a ``KeyError`` lists the known speakers."""
        if name not in self.speakers:
            raise KeyError(_unknown_speaker_message(name, self.speakers))
        return self.speakers.index(name)

    # --- building -------------------------------------------------------------------------

    def build(self, input_shape=None):
        shape = (None, None, self.channels)
        self.encoder_input.build((None, None, self.n_mels))
        for layer in [*self.encoder_downsampling, *self.encoder_blocks]:
            layer.build(shape)
        self.encoder_output.build(shape)
        self.quantizer.build((None, None, self.code_dim))
        self.speaker_embedding.build((None,))
        self.decoder_input.build((None, None, self.code_dim))
        for block in [*self.decoder_code_blocks, *self.decoder_frame_blocks]:
            block.build(shape, speaker_shape=(None, self.speaker_dim))
        for repeat, conv in self.decoder_upsampling:
            repeat.build(shape)
            conv.build(shape)
        self.decoder_output.build(shape)
        self.built = True

    def build_from_preset(self):
        """Creates the variables (``tfspeech.zoo.load`` calls this before loading weights)."""
        self.build()

    # --- the three parts ------------------------------------------------------------------

    def encode_continuous(self, log_mel):
        """``z_e`` ``(batch, codes, code_dim)`` of log-mels ``(batch, frames, n_mels)``."""
        log_mel = self._checked_log_mel(log_mel)
        mean, variance = tf.nn.moments(log_mel, axes=[1], keepdims=True)
        x = self.encoder_input((log_mel - mean) * tf.math.rsqrt(variance + _VARIANCE_FLOOR))
        for layer in [*self.encoder_downsampling, *self.encoder_blocks]:
            x = layer(x)
        return self.encoder_output(x)

    def encode(self, log_mel):
        """Code ids ``(batch, ceil(frames / time_stride))`` int32 of log-mels ``(batch, frames, n_mels)``."""
        return self.quantizer.nearest_codes(self.encode_continuous(log_mel))

    def decode_quantized(self, quantized, speaker):
        """Log-mels ``(batch, codes * time_stride, n_mels)`` from code vectors and speaker ids ``(batch,)``."""
        speaker = self.speaker_embedding(tf.reshape(tf.cast(speaker, tf.int32), [-1]))
        x = self.decoder_input(quantized)
        for block in self.decoder_code_blocks:
            x = block(x, speaker)
        for repeat, conv in self.decoder_upsampling:
            x = conv(repeat(x))
        for block in self.decoder_frame_blocks:
            x = block(x, speaker)
        return self.decoder_output(tf.nn.relu(x))

    def decode(self, codes, speaker):
        """Log-mels ``(batch, codes * time_stride, n_mels)`` from code ids ``(batch, codes)`` and speaker ids."""
        return self.decode_quantized(self.quantizer.lookup(tf.cast(codes, tf.int32)), speaker)

    def convert(self, log_mel, speaker):
        """Log-mels ``(batch, frames, n_mels)`` saying what ``log_mel`` says in voice ``speaker`` ``(batch,)``."""
        frames = tf.shape(log_mel)[1]
        return self.decode(self.encode(log_mel), speaker)[:, :frames]

    # --- Keras ----------------------------------------------------------------------------

    def call(self, inputs, training=False):
        """Reconstruction ``(batch, frames, n_mels)`` of ``inputs["log_mel"]`` in voice ``inputs["speaker"]``."""
        return self._forward(inputs, training)["reconstruction"]

    def _forward(self, inputs, training):
        log_mel, speaker = self._unpack(inputs)
        quantizer = self.quantizer(self.encode_continuous(log_mel), training=training)
        reconstruction = self.decode_quantized(quantizer["quantized"], speaker)[:, : tf.shape(log_mel)[1]]
        return {**quantizer, "log_mel": log_mel, "reconstruction": reconstruction}

    def loss_terms(self, inputs, training=False) -> dict:
        """``loss`` and its parts (``reconstruction`` MSE, ``codebook``, ``commitment``) and ``perplexity``."""
        out = self._forward(inputs, training)
        reconstruction = tf.reduce_mean(tf.square(out["log_mel"] - out["reconstruction"]))
        loss = reconstruction + out["codebook_loss"] + out["commitment_loss"]
        if self.losses:
            loss += tf.add_n(self.losses)
        return {"loss": loss, "reconstruction": reconstruction, "codebook": out["codebook_loss"],
                "commitment": out["commitment_loss"], "perplexity": out["perplexity"]}

    def train_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(inputs, training=True)
            loss = replica_share(terms["loss"])
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._track(terms)

    def test_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._track(self.loss_terms(inputs, training=False))

    def _track(self, terms) -> dict:
        self.loss_tracker.update_state(terms["loss"])
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, *self.trackers.values()]

    def default_compile_args(self) -> dict:
        """Adam 1e-3 with gradient clipping (the loss is built in: ``train_step``). No XLA: on
        CPU it made training steps about 1.5x slower (TensorFlow 2.21)."""
        return {"optimizer": keras.optimizers.Adam(learning_rate=1e-3, clipnorm=5.0), "jit_compile": False}

    def _unpack(self, inputs):
        if not isinstance(inputs, dict) or not {"log_mel", "speaker"} <= set(inputs):
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(f"VQVAE takes a dict with 'log_mel' (batch, frames, {self.n_mels}) and 'speaker' "
                             f"(batch,) speaker ids; got {got}")
        speaker = tf.reshape(tf.cast(inputs["speaker"], tf.int32), [-1])
        return self._checked_log_mel(inputs["log_mel"]), speaker

    def _checked_log_mel(self, log_mel):
        log_mel = tf.convert_to_tensor(log_mel, tf.float32)
        if log_mel.shape.rank != 3 or log_mel.shape[-1] not in (None, self.n_mels):
            raise ValueError(
                f"VQVAE expects log-mels of shape (batch, frames, {self.n_mels}), got {log_mel.shape}; "
                "compute them with tfspeech.audio.log_mel_spectrogram and this model's mel_config"
            )
        return log_mel

    # --- export ---------------------------------------------------------------------------

    def export_signatures(self) -> dict:
        """``encode`` (waveform ``(batch, samples)`` at ``mel_config.sample_rate``) and
        ``encode_log_mel`` (``(batch, frames, n_mels)``) → ``codes`` ``(batch, codes)`` int32;
        ``decode`` (``codes`` int32 ``(batch, codes)``, ``speaker`` int32 ``(batch,)``) →
        ``log_mel`` ``(batch, codes * time_stride, n_mels)``."""

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
        def encode(waveform):
            return {"codes": self.encode(log_mel_spectrogram(waveform, self.mel_config))}

        @tf.function(input_signature=[tf.TensorSpec([None, None, self.n_mels], tf.float32, name="log_mel")])
        def encode_log_mel(log_mel):
            return {"codes": self.encode(log_mel)}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="codes"),
                                      tf.TensorSpec([None], tf.int32, name="speaker")])
        def decode(codes, speaker):
            return {"log_mel": self.decode(codes, speaker)}

        return {"encode": encode, "encode_log_mel": encode_log_mel, "decode": decode}

    def representative_data(self) -> dict:
        """Seeded inputs per export signature: 1 s of harmonic tones with a moving pitch and
        a syllable-rate envelope, their log-mels, and their codes with every speaker."""
        rng = np.random.default_rng(0)
        rate = self.mel_config.sample_rate
        t = np.arange(rate) / rate
        waveforms = []
        for _ in range(4):
            pitch = rng.uniform(90, 250) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
            phase = 2 * np.pi * np.cumsum(pitch) / rate
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
            wave = 0.1 * envelope * sum(np.sin(k * phase) / k for k in range(1, 12))
            waveforms.append((wave + 0.005 * rng.standard_normal(rate)).astype(np.float32)[np.newaxis])
        log_mels = [log_mel_spectrogram(w, self.mel_config).numpy() for w in waveforms]
        codes = [self.encode(m).numpy() for m in log_mels]
        speakers = [np.array([i % len(self.speakers)], np.int32) for i in range(len(codes))]
        return {"encode": waveforms, "encode_log_mel": log_mels, "decode": list(zip(codes, speakers))}

    def get_config(self):
        return {
            **super().get_config(),
            "speakers": list(self.speakers),
            "n_mels": self.n_mels,
            "channels": self.channels,
            "code_dim": self.code_dim,
            "num_codes": self.num_codes,
            "time_strides": list(self.time_strides),
            "encoder_dilations": list(self.encoder_dilations),
            "decoder_dilations": list(self.decoder_dilations),
            "speaker_dim": self.speaker_dim,
            "commitment_cost": self.quantizer.commitment_cost,
            "ema_decay": self.quantizer.ema_decay,
            "restart_below": self.quantizer.restart_below,
            "mel_config": self.mel_config.to_dict(),
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="tfspeech")
class ResidualBlock(keras.layers.Layer):
    """``x + Conv1x1(relu(Conv_dilated(relu(h))))`` on ``(batch, time, channels)``, where
    ``h = x + Dense(speaker)`` broadcast over time when ``conditioned`` (global
    conditioning on a ``(batch, speaker_dim)`` embedding), else ``h = x``."""

    def __init__(self, channels: int, dilation: int, conditioned: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.dilation, self.conditioned = int(channels), int(dilation), bool(conditioned)
        self.dilated = keras.layers.Conv1D(channels, 3, dilation_rate=dilation, padding="same", name="dilated")
        self.mix = keras.layers.Conv1D(channels, 1, name="mix")
        self.speaker_projection = keras.layers.Dense(channels, name="speaker_projection") if conditioned else None

    def build(self, input_shape, speaker_shape=None):
        self.dilated.build(input_shape)
        self.mix.build(input_shape)
        if self.conditioned:
            if speaker_shape is None:
                raise ValueError("a conditioned ResidualBlock needs speaker_shape to build")
            self.speaker_projection.build(speaker_shape)
        self.built = True

    def call(self, x, speaker=None):
        if self.conditioned == (speaker is None):
            raise ValueError(f"ResidualBlock(conditioned={self.conditioned}) called with speaker={speaker!r}")
        h = x + self.speaker_projection(speaker)[:, None, :] if self.conditioned else x
        return x + self.mix(tf.nn.relu(self.dilated(tf.nn.relu(h))))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "dilation": self.dilation,
                "conditioned": self.conditioned}
