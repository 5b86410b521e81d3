"""Tacotron 2 (Shen et al. 2018): text → log-mel spectrogram.

Encoder: symbol embedding → 3 convolutions (batch norm, ReLU, dropout) → bidirectional
LSTM. Decoder step: prenet (dropout kept on at inference) → attention LSTM (input: prenet
output and the previous context) → attention (location-sensitive by default, pluggable)
→ decoder LSTM (attention LSTM output and the new context) → linear projection to r mel
frames and a stop token. A 5-convolution postnet adds a residual to the decoder's mels.
Losses: mean squared error of the mels before and after the postnet, stop-token
cross-entropy, optional guided attention (see ``AttentionTTS``).

The default sizes are the paper's; zoo presets use smaller ones (see their ``preset.json``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.layers.conv import ConvBlock, zero_padding
from tfspeech.layers.postnet import Postnet
from tfspeech.layers.recurrent import BidirectionalRNN
from tfspeech.models.attention_tts import AttentionTTS, masked_mean


@keras.saving.register_keras_serializable(package="tfspeech")
class Tacotron2(AttentionTTS):
    """Tacotron 2; the common options (symbols, mel config, r, attention, prenet, stop token,
    losses) are ``AttentionTTS``'s.

    Args:
        embedding_dim: symbol embedding size.
        encoder_filters, encoder_kernel_size, encoder_layers, encoder_dropout: the encoder convolutions.
        encoder_rnn_units: LSTM units per direction (memory size is twice this).
        attention_rnn_units, decoder_rnn_units: the two decoder LSTMs.
        decoder_dropout: dropout on both decoder LSTM outputs in training.
        postnet_filters, postnet_kernel_size, postnet_layers, postnet_dropout: the postnet.
    """

    def __init__(self, embedding_dim: int = 512, encoder_filters: int = 512, encoder_kernel_size: int = 5,
                 encoder_layers: int = 3, encoder_dropout: float = 0.5, encoder_rnn_units: int = 256,
                 attention_rnn_units: int = 1024, decoder_rnn_units: int = 1024, decoder_dropout: float = 0.1,
                 postnet_filters: int = 512, postnet_kernel_size: int = 5, postnet_layers: int = 5,
                 postnet_dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.encoder_filters, self.encoder_kernel_size = encoder_filters, encoder_kernel_size
        self.encoder_layers, self.encoder_dropout = encoder_layers, encoder_dropout
        self.encoder_rnn_units = encoder_rnn_units
        self.attention_rnn_units, self.decoder_rnn_units = attention_rnn_units, decoder_rnn_units
        self.decoder_dropout = decoder_dropout
        self.postnet_filters, self.postnet_kernel_size = postnet_filters, postnet_kernel_size
        self.postnet_layers, self.postnet_dropout = postnet_layers, postnet_dropout
        self.embedding = keras.layers.Embedding(self.vocab_size, embedding_dim, name="embedding")
        self.encoder_convs = [ConvBlock(encoder_filters, encoder_kernel_size, "relu", encoder_dropout,
                                        name=f"encoder_conv_{i}") for i in range(encoder_layers)]
        self.encoder_rnn = BidirectionalRNN(encoder_rnn_units, "lstm", name="encoder_rnn")
        self.attention_rnn = keras.layers.LSTMCell(attention_rnn_units, name="attention_rnn")
        self.decoder_rnn = keras.layers.LSTMCell(decoder_rnn_units, name="decoder_rnn")
        self.attention_dropout_layer = keras.layers.Dropout(decoder_dropout, name="attention_rnn_dropout")
        self.decoder_dropout_layer = keras.layers.Dropout(decoder_dropout, name="decoder_rnn_dropout")
        self.frame_projection = keras.layers.Dense(self.reduction_factor * self.n_mels, name="frame_projection")
        self.stop_projection = keras.layers.Dense(1, name="stop_projection")
        self.postnet = Postnet(self.n_mels, postnet_filters, postnet_kernel_size, postnet_layers, postnet_dropout,
                               name="postnet")

    @property
    def memory_size(self) -> int:
        return 2 * self.encoder_rnn_units

    @property
    def query_size(self) -> int:
        return self.attention_rnn_units

    def build_layers(self):
        self.embedding.build((None, None))
        channels = self.embedding_dim
        for conv in self.encoder_convs:
            conv.build((None, None, channels))
            channels = self.encoder_filters
        self.encoder_rnn.build((None, None, channels))
        self.attention_rnn.build((None, self.prenet_units[-1] + self.memory_size))
        self.decoder_rnn.build((None, self.attention_rnn_units + self.memory_size))
        self.frame_projection.build((None, self.decoder_rnn_units + self.memory_size))
        self.stop_projection.build((None, self.decoder_rnn_units + self.memory_size))
        self.postnet.build((None, None, self.n_mels))

    def encode_text(self, text, text_mask, training=None):
        x = self.embedding(text)
        for conv in self.encoder_convs:
            x = conv(x, mask=text_mask, training=training)
        return self.encoder_rnn(zero_padding(x, text_mask), mask=text_mask, training=training)

    def rnn_state_sizes(self):
        return {"attention_rnn_h": self.attention_rnn_units, "attention_rnn_c": self.attention_rnn_units,
                "decoder_rnn_h": self.decoder_rnn_units, "decoder_rnn_c": self.decoder_rnn_units}

    def decoder_step(self, prenet_output, state, memory, keys, text_mask, training=None):
        attention_input = tf.concat([prenet_output, state["context"]], axis=-1)
        query, (attention_h, attention_c) = self.attention_rnn(
            attention_input, [state["attention_rnn_h"], state["attention_rnn_c"]], training=training)
        query = self.attention_dropout_layer(query, training=training)
        context, alignment, attention_state = self.attend(query, state, memory, keys, text_mask)
        output, (decoder_h, decoder_c) = self.decoder_rnn(
            tf.concat([query, context], axis=-1), [state["decoder_rnn_h"], state["decoder_rnn_c"]], training=training)
        output = tf.concat([self.decoder_dropout_layer(output, training=training), context], axis=-1)
        new_state = {"attention_rnn_h": attention_h, "attention_rnn_c": attention_c, "decoder_rnn_h": decoder_h,
                     "decoder_rnn_c": decoder_c, "context": context, **attention_state}
        return self.frame_projection(output), tf.squeeze(self.stop_projection(output), -1), alignment, new_state

    def postprocess(self, decoder_mels, frame_mask, training=None):
        return {"mels": self.postnet(decoder_mels, mask=frame_mask, training=training)}

    def spectrogram_loss_names(self):
        return ("decoder_mel_loss", "mel_loss")

    def spectrogram_losses(self, y, y_pred, frame_mask):
        return {
            "decoder_mel_loss": masked_mean(tf.square(y_pred["decoder_mels"] - y["mels"]), frame_mask),
            "mel_loss": masked_mean(tf.square(y_pred["mels"] - y["mels"]), frame_mask),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim, "encoder_filters": self.encoder_filters,
            "encoder_kernel_size": self.encoder_kernel_size, "encoder_layers": self.encoder_layers,
            "encoder_dropout": self.encoder_dropout, "encoder_rnn_units": self.encoder_rnn_units,
            "attention_rnn_units": self.attention_rnn_units, "decoder_rnn_units": self.decoder_rnn_units,
            "decoder_dropout": self.decoder_dropout, "postnet_filters": self.postnet_filters,
            "postnet_kernel_size": self.postnet_kernel_size, "postnet_layers": self.postnet_layers,
            "postnet_dropout": self.postnet_dropout,
        }
