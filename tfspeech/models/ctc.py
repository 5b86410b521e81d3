"""A small CTC speech recognizer: log-mels → per-frame character logits (Graves et al. 2006).

Log-mel ``(batch, frames, n_mels)`` → per-utterance mean/variance normalization per band →
SpecAugment (training only) → ``len(conv_strides)`` Conv1D layers (ReLU, layer norm) that
stride time by ``time_stride`` → ``rnn_layers`` bidirectional GRU/LSTM → dense logits
``(batch, ceil(frames / time_stride), num_classes)``; the last class is the CTC blank
(alphabet: ``tfspeech.text.alphabet``; decoding to text: ``tfspeech.decoding``, which
imports this module, never the other way round).

Padded batches go in as ``{"log_mel": (batch, frames, n_mels), "num_frames": (batch,)}``:
normalization, SpecAugment and the recurrent layers then see only each utterance's own
frames, and ``compute_loss`` gives ``tf.nn.ctc_loss`` the matching logit lengths. A
plain log-mel tensor means every frame is valid.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig, log_mel_spectrogram
from tfspeech.text.alphabet import BLANK, NUM_CLASSES
from tfspeech.layers.spec_augment import SpecAugment
from tfspeech.losses.ctc import ctc_loss
from tfspeech.losses.replicas import replica_share

_VARIANCE_FLOOR = 1e-2  # log-mel variance floor: a silent band normalizes to 0, not to noise
_RNN_TYPES = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


def collapse_greedy(logits) -> tf.Tensor:
    """``(batch, frames)`` int32 best-path label ids, with repeats and blanks replaced by 0 (PAD).

    Dense ops only (argmax, compare, select), so it exports to TFLite builtins; dropping
    the zeros gives what ``tf.nn.ctc_greedy_decoder`` returns.
    """
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=BLANK)
    keep = tf.logical_and(tf.not_equal(best, BLANK), tf.not_equal(best, previous))
    return tf.where(keep, best, tf.zeros_like(best))


@keras.saving.register_keras_serializable(package="tfspeech")
class CTCRecognizer(keras.Model):
    """Acoustic model for CTC; see the module doc for shapes.

    Args:
        n_mels: log-mel bands per frame (must match ``mel_config``).
        num_classes: output classes, blank last (``tfspeech.text.alphabet.NUM_CLASSES``).
        conv_filters, conv_kernel_size, conv_strides: the convolutional front end, one
            entry of ``conv_strides`` per layer; their product is ``time_stride``.
        rnn_type: ``"gru"`` or ``"lstm"``; rnn_units per direction; rnn_layers.
        dropout: after each recurrent layer (training only).
        spec_augment: ``SpecAugment`` arguments, or None for no masking.
        mel_config: ``MelConfig`` fields of the features (used by the waveform signature).
    """

    def __init__(
        self,
        n_mels: int = 80,
        num_classes: int = NUM_CLASSES,
        conv_filters: int = 192,
        conv_kernel_size: int = 5,
        conv_strides=(2, 1),
        rnn_type: str = "gru",
        rnn_units: int = 192,
        rnn_layers: int = 2,
        dropout: float = 0.1,
        spec_augment: dict | None = None,
        mel_config: dict | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rnn_type not in _RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(_RNN_TYPES)}, got {rnn_type!r}")
        if not conv_strides or any(int(s) < 1 for s in conv_strides):
            raise ValueError(f"conv_strides needs one stride >= 1 per conv layer, got {conv_strides!r}")
        self.mel_config = MelConfig.from_dict(mel_config) if mel_config is not None else MelConfig(n_mels=n_mels)
        if self.mel_config.n_mels != n_mels:
            raise ValueError(f"n_mels={n_mels} but mel_config has n_mels={self.mel_config.n_mels}; make them equal")
        self.n_mels, self.num_classes = n_mels, num_classes
        self.conv_filters, self.conv_kernel_size = conv_filters, conv_kernel_size
        self.conv_strides = tuple(int(s) for s in conv_strides)
        self.rnn_type, self.rnn_units, self.rnn_layers = rnn_type, rnn_units, rnn_layers
        self.dropout_rate = dropout
        self.spec_augment_config = dict(spec_augment) if spec_augment else None

        self.spec_augment = SpecAugment(**spec_augment, name="spec_augment") if spec_augment else None
        self.convs = [
            keras.layers.Conv1D(conv_filters, conv_kernel_size, strides=stride, padding="valid",
                                activation="relu", name=f"conv_{i}")
            for i, stride in enumerate(self.conv_strides)
        ]
        self.conv_norms = [keras.layers.LayerNormalization(name=f"conv_norm_{i}") for i in range(len(self.convs))]
        rnn = _RNN_TYPES[rnn_type]
        self.rnns = [
            keras.layers.Bidirectional(rnn(rnn_units, return_sequences=True), name=f"{rnn_type}_{i}")
            for i in range(rnn_layers)
        ]
        self.dropouts = [keras.layers.Dropout(dropout) for _ in range(rnn_layers)]
        self.classifier = keras.layers.Dense(num_classes, name="classifier")

    @property
    def time_stride(self) -> int:
        """Input frames per output frame."""
        return math.prod(self.conv_strides)

    def output_lengths(self, num_frames):
        """Logit frames for ``num_frames`` input frames (``ceil(frames / stride)`` per conv)."""
        lengths = tf.cast(num_frames, tf.int32)
        for stride in self.conv_strides:
            lengths = (lengths + stride - 1) // stride
        return lengths

    def build(self, input_shape=None):
        shape = (None, None, self.n_mels)
        for conv, norm in zip(self.convs, self.conv_norms):
            conv.build(shape)
            shape = (None, None, self.conv_filters)
            norm.build(shape)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = rnn.compute_output_shape(shape)
        self.classifier.build(shape)
        self.built = True

    def build_from_preset(self):
        """Creates the variables (``tfspeech.zoo.load`` calls this before loading weights)."""
        self.build()

    def call(self, inputs, training=False):
        log_mel, num_frames = self._unpack(inputs)
        frames = tf.shape(log_mel)[1]
        mask = None if num_frames is None else tf.sequence_mask(num_frames, frames)
        x = _normalize(log_mel, mask)
        if self.spec_augment is not None:
            x = self.spec_augment(x, lengths=num_frames, training=training)
        lengths = num_frames
        for conv, norm, stride in zip(self.convs, self.conv_norms, self.conv_strides):
            x = norm(conv(self._pad(x)))
            if lengths is not None:
                lengths = (lengths + stride - 1) // stride
                x = x * tf.cast(tf.sequence_mask(lengths, tf.shape(x)[1]), x.dtype)[:, :, None]
        out_mask = None if lengths is None else tf.sequence_mask(lengths, tf.shape(x)[1])
        for rnn, dropout in zip(self.rnns, self.dropouts):
            x = dropout(rnn(x, mask=out_mask, training=training), training=training)
        return self.classifier(x)

    def _pad(self, x):
        """Zero padding so a 'valid' strided conv gives ``ceil(frames / stride)`` frames, with
        a left pad that does not depend on the length (unlike 'same'): a padded batch then
        computes exactly what each utterance alone computes (padded frames are zeros)."""
        left = (self.conv_kernel_size - 1) // 2
        return tf.pad(x, [[0, 0], [left, self.conv_kernel_size - 1 - left], [0, 0]])

    def _unpack(self, inputs):
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - {"log_mel", "num_frames"})
            if "log_mel" not in inputs or unknown:
                raise ValueError(
                    f"CTCRecognizer takes a log-mel tensor or a dict with 'log_mel' and optional "
                    f"'num_frames'; got keys {sorted(inputs)}"
                )
            log_mel, num_frames = inputs["log_mel"], inputs.get("num_frames")
        else:
            log_mel, num_frames = inputs, None
        log_mel = tf.convert_to_tensor(log_mel, tf.float32)
        if log_mel.shape.rank != 3 or log_mel.shape[-1] not in (None, self.n_mels):
            raise ValueError(
                f"CTCRecognizer expects log-mels of shape (batch, frames, {self.n_mels}), got "
                f"{log_mel.shape}; compute them with tfspeech.audio.log_mel_spectrogram and this "
                "model's mel_config"
            )
        return log_mel, (None if num_frames is None else tf.cast(tf.reshape(num_frames, [-1]), tf.int32))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss over the batch (weighted by ``sample_weight``), plus any layer losses.

        ``y``: ``(batch, max_labels)`` label ids padded with 0; the logit lengths come from
        ``x["num_frames"]`` (all frames when ``x`` is a plain tensor).
        """
        _, num_frames = self._unpack(x)
        logit_length = None if num_frames is None else self.output_lengths(num_frames)
        losses = ctc_loss(y, y_pred, logit_length=logit_length)
        if sample_weight is None:
            loss = tf.reduce_mean(losses)
        else:
            weights = tf.cast(tf.reshape(sample_weight, [-1]), losses.dtype)
            loss = tf.math.divide_no_nan(tf.reduce_sum(losses * weights), tf.reduce_sum(weights))
        if self.losses:
            loss += tf.add_n(self.losses)
        return replica_share(loss)

    def default_compile_args(self) -> dict:
        """Adam with gradient clipping; no XLA (``tf.nn.ctc_loss`` has no XLA kernel)."""
        return {"optimizer": keras.optimizers.Adam(learning_rate=1e-3, clipnorm=5.0), "jit_compile": False}

    def export_signatures(self) -> dict:
        """``transcribe`` (waveform ``(batch, samples)`` at ``mel_config.sample_rate``) and
        ``transcribe_log_mel`` (``(batch, frames, n_mels)``), each returning ``logits`` and
        ``label_ids`` ``(batch, logit frames)`` int32: best-path ids with blanks and repeats
        set to 0, so the transcript is the non-zero ids read through ``tfspeech.text.CHARACTERS``.
        One utterance per call: TFLite lowers the recurrent loop to builtins only when its
        per-step shape is static, so the batch is fixed at 1 (any length).
        """

        @tf.function(input_signature=[tf.TensorSpec([1, None], tf.float32, name="waveform")])
        def transcribe(waveform):
            return self._transcription(log_mel_spectrogram(waveform, self.mel_config))

        @tf.function(input_signature=[tf.TensorSpec([1, None, self.n_mels], tf.float32, name="log_mel")])
        def transcribe_log_mel(log_mel):
            return self._transcription(log_mel)

        return {"transcribe": transcribe, "transcribe_log_mel": transcribe_log_mel}

    def representative_data(self) -> dict:
        """Seeded speech-like inputs per export signature: 1 s of harmonic tones with a
        moving pitch and syllable-rate envelope plus noise, and their log-mels."""
        rng = np.random.default_rng(0)
        rate = self.mel_config.sample_rate
        waveforms = []
        for _ in range(4):
            t = np.arange(rate) / rate
            pitch = rng.uniform(90, 250) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
            phase = 2 * np.pi * np.cumsum(pitch) / rate
            voice = sum(np.sin(k * phase) / k for k in range(1, 12))
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
            wave = 0.1 * envelope * voice + 0.005 * rng.standard_normal(rate)
            waveforms.append(wave.astype(np.float32)[np.newaxis])
        log_mels = [log_mel_spectrogram(w, self.mel_config).numpy() for w in waveforms]
        return {"transcribe": waveforms, "transcribe_log_mel": log_mels}

    def _transcription(self, log_mel) -> dict:
        logits = self(log_mel, training=False)
        return {"label_ids": collapse_greedy(logits), "logits": logits}

    def get_config(self):
        return {
            **super().get_config(),
            "n_mels": self.n_mels,
            "num_classes": self.num_classes,
            "conv_filters": self.conv_filters,
            "conv_kernel_size": self.conv_kernel_size,
            "conv_strides": list(self.conv_strides),
            "rnn_type": self.rnn_type,
            "rnn_units": self.rnn_units,
            "rnn_layers": self.rnn_layers,
            "dropout": self.dropout_rate,
            "spec_augment": self.spec_augment_config,
            "mel_config": self.mel_config.to_dict(),
        }


def _normalize(log_mel, mask):
    """Per-utterance, per-band zero mean and unit variance over the valid frames; padding → 0."""
    if mask is None:
        mean, variance = tf.nn.moments(log_mel, axes=[1], keepdims=True)
        return (log_mel - mean) * tf.math.rsqrt(variance + _VARIANCE_FLOOR)
    weights = tf.cast(mask, log_mel.dtype)[:, :, None]
    count = tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(log_mel * weights, axis=1, keepdims=True) / count
    variance = tf.reduce_sum(tf.square(log_mel - mean) * weights, axis=1, keepdims=True) / count
    return (log_mel - mean) * tf.math.rsqrt(variance + _VARIANCE_FLOOR) * weights
