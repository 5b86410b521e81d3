"""Tacotron (Wang et al. 2017): text → log-mel and linear log-magnitude spectrograms.

Encoder: symbol embedding → encoder prenet (dropout in training only) → CBHG. Decoder step:
prenet (dropout kept on at inference) → attention GRU (input: prenet output and the
previous context) → attention (content-based by default, pluggable) → a linear layer of
the GRU output and the context → residual decoder GRUs → r mel frames, and a stop token
(an addition to the paper, which decoded to a fixed length). A post-processing CBHG turns
the mels into a linear log-magnitude spectrogram, ``ln(max(|STFT|, log_floor))`` of the
model's ``MelConfig``, which Griffin-Lim inverts. Losses: L1 of the mels and of the linear
spectrogram, stop-token cross-entropy, optional guided attention (see ``AttentionTTS``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.layers.cbhg import CBHG
from tfspeech.layers.prenet import Prenet
from tfspeech.models.attention_tts import AttentionTTS, masked_mean


@keras.saving.register_keras_serializable(package="tfspeech")
class Tacotron(AttentionTTS):
    """Tacotron; the common options (symbols, mel config, r, attention, prenet, stop token,
    losses) are ``AttentionTTS``'s (defaults here: content attention, r = 2, prenet 256-128).

    Args:
        embedding_dim: symbol embedding size.
        encoder_prenet_units, encoder_prenet_dropout: the encoder prenet (its dropout acts in training only).
        encoder_bank_size, encoder_bank_filters, encoder_highway_layers, encoder_highway_units,
        encoder_rnn_units: the encoder CBHG; its projections are (highway units,
            encoder_prenet_units[-1]) and its memory has 2·encoder_rnn_units features.
        attention_rnn_units: the attention GRU.
        decoder_units, decoder_layers: the residual decoder GRUs.
        postnet_bank_size, postnet_bank_filters, postnet_projection_units, postnet_highway_layers,
        postnet_highway_units, postnet_rnn_units: the post-processing CBHG (projections
            (postnet_projection_units, n_mels)).
    """

    def __init__(self, embedding_dim: int = 256, encoder_prenet_units=(256, 128), encoder_prenet_dropout: float = 0.5,
                 encoder_bank_size: int = 16,
                 encoder_bank_filters: int = 128, encoder_highway_layers: int = 4, encoder_highway_units: int = 128,
                 encoder_rnn_units: int = 128, attention_rnn_units: int = 256, decoder_units: int = 256,
                 decoder_layers: int = 2, postnet_bank_size: int = 8, postnet_bank_filters: int = 128,
                 postnet_projection_units: int = 256, postnet_highway_layers: int = 4,
                 postnet_highway_units: int = 128, postnet_rnn_units: int = 128, attention: str = "content",
                 reduction_factor: int = 2, prenet_units=(256, 128), **kwargs):
        super().__init__(attention=attention, reduction_factor=reduction_factor, prenet_units=prenet_units,
                         **kwargs)
        self.embedding_dim, self.encoder_prenet_units = embedding_dim, tuple(encoder_prenet_units)
        self.encoder_prenet_dropout = encoder_prenet_dropout
        self.encoder_bank_size, self.encoder_bank_filters = encoder_bank_size, encoder_bank_filters
        self.encoder_highway_layers, self.encoder_highway_units = encoder_highway_layers, encoder_highway_units
        self.encoder_rnn_units = encoder_rnn_units
        self.attention_rnn_units = attention_rnn_units
        self.decoder_units, self.decoder_layers = decoder_units, decoder_layers
        self.postnet_bank_size, self.postnet_bank_filters = postnet_bank_size, postnet_bank_filters
        self.postnet_projection_units = postnet_projection_units
        self.postnet_highway_layers, self.postnet_highway_units = postnet_highway_layers, postnet_highway_units
        self.postnet_rnn_units = postnet_rnn_units
        self.n_freq = self.mel_config.n_freq

        self.embedding = keras.layers.Embedding(self.vocab_size, embedding_dim, name="embedding")
        self.encoder_prenet = Prenet(self.encoder_prenet_units, encoder_prenet_dropout, inference_dropout=False,
                                     name="encoder_prenet")
        self.encoder_cbhg = CBHG(encoder_bank_size, encoder_bank_filters,
                                 (encoder_highway_units, self.encoder_prenet_units[-1]), encoder_highway_layers,
                                 encoder_highway_units, encoder_rnn_units, name="encoder_cbhg")
        self.attention_rnn = keras.layers.GRUCell(attention_rnn_units, name="attention_rnn")
        self.decoder_input = keras.layers.Dense(decoder_units, name="decoder_input")
        self.decoder_rnns = [keras.layers.GRUCell(decoder_units, name=f"decoder_rnn_{i}")
                             for i in range(decoder_layers)]
        self.frame_projection = keras.layers.Dense(self.reduction_factor * self.n_mels, name="frame_projection")
        self.stop_projection = keras.layers.Dense(1, name="stop_projection")
        self.postnet_cbhg = CBHG(postnet_bank_size, postnet_bank_filters, (postnet_projection_units, self.n_mels),
                                 postnet_highway_layers, postnet_highway_units, postnet_rnn_units, name="postnet_cbhg")
        self.linear_projection = keras.layers.Dense(self.n_freq, name="linear_projection")

    @property
    def memory_size(self) -> int:
        return 2 * self.encoder_rnn_units

    @property
    def query_size(self) -> int:
        return self.attention_rnn_units

    def build_layers(self):
        self.embedding.build((None, None))
        self.encoder_prenet.build((None, None, self.embedding_dim))
        self.encoder_cbhg.build((None, None, self.encoder_prenet_units[-1]))
        self.attention_rnn.build((None, self.prenet_units[-1] + self.memory_size))
        self.decoder_input.build((None, self.attention_rnn_units + self.memory_size))
        for rnn in self.decoder_rnns:
            rnn.build((None, self.decoder_units))
        self.frame_projection.build((None, self.decoder_units))
        self.stop_projection.build((None, self.decoder_units + self.memory_size))
        self.postnet_cbhg.build((None, None, self.n_mels))
        self.linear_projection.build((None, None, 2 * self.postnet_rnn_units))

    def encode_text(self, text, text_mask, training=None):
        x = self.encoder_prenet(self.embedding(text), training=training)
        return self.encoder_cbhg(x, mask=text_mask, training=training)

    def rnn_state_sizes(self):
        sizes = {"attention_rnn_h": self.attention_rnn_units}
        sizes.update({f"decoder_rnn_{i}_h": self.decoder_units for i in range(self.decoder_layers)})
        return sizes

    def decoder_step(self, prenet_output, state, memory, keys, text_mask, training=None):
        query, _ = self.attention_rnn(tf.concat([prenet_output, state["context"]], axis=-1),
                                      [state["attention_rnn_h"]], training=training)
        context, alignment, attention_state = self.attend(query, state, memory, keys, text_mask)
        x = self.decoder_input(tf.concat([query, context], axis=-1))
        new_state = {"attention_rnn_h": query, "context": context, **attention_state}
        for i, rnn in enumerate(self.decoder_rnns):
            output, _ = rnn(x, [state[f"decoder_rnn_{i}_h"]], training=training)
            new_state[f"decoder_rnn_{i}_h"] = output
            x = x + output
        stop = tf.squeeze(self.stop_projection(tf.concat([x, context], axis=-1)), -1)
        return self.frame_projection(x), stop, alignment, new_state

    def postprocess(self, decoder_mels, frame_mask, training=None):
        features = self.postnet_cbhg(decoder_mels, mask=frame_mask, training=training)
        return {"mels": decoder_mels, "linear": self.linear_projection(features)}

    def spectrogram_loss_names(self):
        return ("mel_loss", "linear_loss")

    def spectrogram_losses(self, y, y_pred, frame_mask):
        return {
            "mel_loss": masked_mean(tf.abs(y_pred["mels"] - y["mels"]), frame_mask),
            "linear_loss": masked_mean(tf.abs(y_pred["linear"] - y["linear"]), frame_mask),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim, "encoder_prenet_units": list(self.encoder_prenet_units),
            "encoder_prenet_dropout": self.encoder_prenet_dropout,
            "encoder_bank_size": self.encoder_bank_size, "encoder_bank_filters": self.encoder_bank_filters,
            "encoder_highway_layers": self.encoder_highway_layers,
            "encoder_highway_units": self.encoder_highway_units, "encoder_rnn_units": self.encoder_rnn_units,
            "attention_rnn_units": self.attention_rnn_units, "decoder_units": self.decoder_units,
            "decoder_layers": self.decoder_layers, "postnet_bank_size": self.postnet_bank_size,
            "postnet_bank_filters": self.postnet_bank_filters,
            "postnet_projection_units": self.postnet_projection_units,
            "postnet_highway_layers": self.postnet_highway_layers,
            "postnet_highway_units": self.postnet_highway_units, "postnet_rnn_units": self.postnet_rnn_units,
        }
