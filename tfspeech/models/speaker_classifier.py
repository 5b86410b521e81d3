"""Which voice is speaking: log-mels → speaker logits (the judge of voice conversion).

Log-mel ``(batch, frames, n_mels)`` → ``conv_layers`` × (Conv1D, stride 2, ReLU, layer
norm) → statistics pooling (mean and standard deviation of every channel over time, as
x-vectors pool) → Dense ReLU → Dropout → logits ``(batch, len(speakers))``. No per-utterance
normalization: an utterance's average spectrum is a speaker cue. Every frame is valid (train
on fixed-length crops; classify one utterance per row).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig, log_mel_spectrogram


@keras.saving.register_keras_serializable(package="tfspeech")
class SpeakerClassifier(keras.Model):
    """See the module doc.

    Args:
        speakers: class names, in logit order.
        n_mels: log-mel bands (must match ``mel_config``).
        channels, conv_layers, kernel_size: the convolutions.
        hidden: width of the dense layer after pooling.
        dropout: before the logits (training only).
        mel_config: ``MelConfig`` fields of the features (used by the waveform signature).
    """

    def __init__(self, speakers, n_mels: int = 80, channels: int = 96, conv_layers: int = 3, kernel_size: int = 5,
                 hidden: int = 96, dropout: float = 0.2, mel_config: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.speakers = tuple(str(s) for s in speakers)
        if len(self.speakers) < 2 or len(set(self.speakers)) != len(self.speakers):
            raise ValueError(f"speakers must be at least two distinct names, got {list(self.speakers)}")
        self.mel_config = MelConfig.from_dict(mel_config) if mel_config is not None else MelConfig(n_mels=n_mels)
        if self.mel_config.n_mels != n_mels:
            raise ValueError(f"n_mels={n_mels} but mel_config has n_mels={self.mel_config.n_mels}; make them equal")
        self.n_mels, self.channels, self.conv_layers = int(n_mels), int(channels), int(conv_layers)
        self.kernel_size, self.hidden, self.dropout_rate = int(kernel_size), int(hidden), float(dropout)
        self.convs = [keras.layers.Conv1D(channels, kernel_size, strides=2, padding="same", activation="relu",
                                          name=f"conv_{i}") for i in range(self.conv_layers)]
        self.norms = [keras.layers.LayerNormalization(name=f"norm_{i}") for i in range(self.conv_layers)]
        self.dense = keras.layers.Dense(hidden, activation="relu", name="dense")
        self.dropout = keras.layers.Dropout(dropout)
        self.classifier = keras.layers.Dense(len(self.speakers), name="classifier")

    def build(self, input_shape=None):
        shape = (None, None, self.n_mels)
        for conv, norm in zip(self.convs, self.norms):
            conv.build(shape)
            shape = (None, None, self.channels)
            norm.build(shape)
        self.dense.build((None, 2 * self.channels))
        self.classifier.build((None, self.hidden))
        self.built = True

    def build_from_preset(self):
        """Creates the variables (``tfspeech.zoo.load`` calls this before loading weights)."""
        self.build()

    def call(self, log_mel, training=False):
        """Logits ``(batch, len(speakers))`` of log-mels ``(batch, frames, n_mels)``."""
        x = tf.convert_to_tensor(log_mel, tf.float32)
        if x.shape.rank != 3 or x.shape[-1] not in (None, self.n_mels):
            raise ValueError(
                f"SpeakerClassifier expects log-mels of shape (batch, frames, {self.n_mels}), got {x.shape}; "
                "compute them with tfspeech.audio.log_mel_spectrogram and this model's mel_config"
            )
        for conv, norm in zip(self.convs, self.norms):
            x = norm(conv(x))
        mean, variance = tf.nn.moments(x, axes=[1])
        pooled = tf.concat([mean, tf.sqrt(variance + 1e-6)], axis=-1)
        return self.classifier(self.dropout(self.dense(pooled), training=training))

    def predict_speakers(self, log_mels) -> list[str]:
        """The most likely speaker name of each log-mel ``(batch, frames, n_mels)``."""
        return [self.speakers[i] for i in np.argmax(self(log_mels).numpy(), axis=-1)]

    def default_compile_args(self) -> dict:
        return {
            "optimizer": keras.optimizers.Adam(learning_rate=1e-3),
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            "jit_compile": False,
        }

    def export_signatures(self) -> dict:
        """``classify`` (waveform ``(batch, samples)`` at ``mel_config.sample_rate``) and
        ``classify_log_mel`` (``(batch, frames, n_mels)``) → ``logits`` ``(batch, speakers)``
        and ``speaker`` ``(batch,)`` int32, the index into ``speakers``."""

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
        def classify(waveform):
            return self._classification(log_mel_spectrogram(waveform, self.mel_config))

        @tf.function(input_signature=[tf.TensorSpec([None, None, self.n_mels], tf.float32, name="log_mel")])
        def classify_log_mel(log_mel):
            return self._classification(log_mel)

        return {"classify": classify, "classify_log_mel": classify_log_mel}

    def representative_data(self) -> dict:
        """Seeded inputs per export signature: 1 s of noise with a syllable-rate envelope, and its log-mel."""
        rng = np.random.default_rng(0)
        rate = self.mel_config.sample_rate
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(rate) / rate)
        waveforms = [(0.1 * envelope * rng.standard_normal(rate)).astype(np.float32)[np.newaxis] for _ in range(2)]
        return {"classify": waveforms,
                "classify_log_mel": [log_mel_spectrogram(w, self.mel_config).numpy() for w in waveforms]}

    def _classification(self, log_mel) -> dict:
        logits = self(log_mel, training=False)
        return {"logits": logits, "speaker": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    def get_config(self):
        return {
            **super().get_config(),
            "speakers": list(self.speakers),
            "n_mels": self.n_mels,
            "channels": self.channels,
            "conv_layers": self.conv_layers,
            "kernel_size": self.kernel_size,
            "hidden": self.hidden,
            "dropout": self.dropout_rate,
            "mel_config": self.mel_config.to_dict(),
        }
