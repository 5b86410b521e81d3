"""Global Style Tokens (Wang et al. 2018): a reference encoder and a bank of learned style tokens.

``ReferenceEncoder``: a log-mel ``(batch, frames, n_mels)`` → 2-D convolutions (3×3, stride 2,
batch norm, ReLU) → a GRU over the down-sampled frames → its state after the last real frame
``(batch, rnn_units)``: a fixed-size summary of how the recording sounds.

``StyleTokens``: ``tokens`` learned vectors (tanh-squashed); multi-head attention of a query (the
reference summary) over them gives per-head weights, and the style embedding is the weighted sum
of the heads' value projections ``(batch, units)``. Control without a recording gives the weights
directly (``from_weights``): one weight per token, the same for every head, or per head.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfspeech.layers.recurrent import make_cell, run_cell


@keras.saving.register_keras_serializable(package="tfspeech")
class ReferenceEncoder(keras.layers.Layer):
    """Log-mel ``(batch, frames, n_mels)`` + lengths ``(batch,)`` → summary ``(batch, rnn_units)``.

    Padding frames (at and beyond each length) are zeroed before the convolutions and skipped by
    the GRU, so a padded reference gives (up to the convolutions' edge) the unpadded summary.

    Args:
        n_mels: mel bands of the input.
        filters: output channels of each 3×3 stride-2 convolution (the paper: 32, 32, 64, 64, 128, 128).
        rnn_units: the GRU's size.
    """

    def __init__(self, n_mels: int, filters=(32, 32, 64, 64, 128, 128), rnn_units: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.n_mels, self.filters, self.rnn_units = int(n_mels), tuple(int(f) for f in filters), int(rnn_units)
        self.convs = [keras.layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False, name=f"conv_{i}")
                      for i, f in enumerate(self.filters)]
        self.norms = [keras.layers.BatchNormalization(name=f"norm_{i}") for i in range(len(self.filters))]
        self.cell = make_cell("gru", self.rnn_units, name="gru")

    @property
    def downsampling(self) -> int:
        """Frames per GRU step."""
        return 2 ** len(self.filters)

    @property
    def min_frames(self) -> int:
        """The shortest reference worth encoding: one GRU step needs this many frames."""
        return self.downsampling

    def reduced_bands(self) -> int:
        bands = self.n_mels
        for _ in self.filters:
            bands = math.ceil(bands / 2)
        return bands

    def build(self, input_shape=None):
        channels = 1
        for conv, norm, filters in zip(self.convs, self.norms, self.filters):
            conv.build((None, None, None, channels))
            norm.build((None, None, None, filters))
            channels = filters
        self.cell.build((None, self.reduced_bands() * self.filters[-1]))

    def call(self, mels, lengths, training=None):
        frames = tf.shape(mels)[1]
        frame_mask = tf.sequence_mask(lengths, frames, mels.dtype)
        x = tf.expand_dims(mels * tf.expand_dims(frame_mask, -1), -1)  # no [:, :, None]: TFLite lacks that StridedSlice
        for conv, norm in zip(self.convs, self.norms):
            x = tf.nn.relu(norm(conv(x), training=training))
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        x = tf.reshape(x, [batch, steps, self.reduced_bands() * self.filters[-1]])
        step_lengths = tf.maximum((tf.cast(lengths, tf.int32) + self.downsampling - 1) // self.downsampling, 1)
        outputs = run_cell(self.cell, x, mask=tf.sequence_mask(step_lengths, steps), training=training)
        return tf.gather(outputs, step_lengths - 1, batch_dims=1)

    def get_config(self):
        return {**super().get_config(), "n_mels": self.n_mels, "filters": list(self.filters),
                "rnn_units": self.rnn_units}


@keras.saving.register_keras_serializable(package="tfspeech")
class StyleTokens(keras.layers.Layer):
    """``tokens`` learned style tokens and the attention that mixes them.

    ``call(query)``: query ``(batch, query_size)`` → ``(style (batch, units), weights (batch,
    heads, tokens))``. ``from_weights(weights)``: ``(batch, tokens)`` → style ``(batch, units)``,
    each head mixing its values with the same weights.

    Written here rather than with ``keras.layers.MultiHeadAttention``: control by token weights
    needs the value path without the scores, which that layer does not expose.

    Args:
        tokens: number of tokens N.
        units: style embedding size (split evenly over the heads).
        heads: attention heads.
    """

    def __init__(self, tokens: int = 10, units: int = 256, heads: int = 4, **kwargs):
        super().__init__(**kwargs)
        if units % heads:
            raise ValueError(f"units ({units}) must be a multiple of heads ({heads})")
        self.tokens, self.units, self.heads = int(tokens), int(units), int(heads)
        self.query_projection = keras.layers.Dense(units, use_bias=False, name="query")
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="key")
        self.value_projection = keras.layers.Dense(units, use_bias=False, name="value")

    def build(self, input_shape):
        token_size = self.units // self.heads  # the paper's token size: the embedding over the heads
        self.bank = self.add_weight(name="bank", shape=(self.tokens, token_size),
                                    initializer=keras.initializers.RandomNormal(stddev=0.5))
        self.query_projection.build(input_shape)
        self.key_projection.build((None, token_size))
        self.value_projection.build((None, token_size))

    def _split(self, x):
        """(..., units) → (..., heads, units / heads)."""
        return tf.reshape(x, tf.concat([tf.shape(x)[:-1], [self.heads, self.units // self.heads]], 0))

    def _values(self):
        """(tokens, heads, units / heads)."""
        return self._split(self.value_projection(tf.tanh(self.bank)))

    def call(self, query):
        queries = self._split(self.query_projection(query))  # (batch, heads, d)
        keys = self._split(self.key_projection(tf.tanh(self.bank)))  # (tokens, heads, d)
        scores = tf.einsum("bhd,nhd->bhn", queries, keys) / math.sqrt(self.units // self.heads)
        weights = tf.nn.softmax(scores, axis=-1)
        style = tf.einsum("bhn,nhd->bhd", weights, self._values())
        return tf.reshape(style, [-1, self.units]), weights

    def from_weights(self, weights):
        """Token weights → style ``(batch, units)``: ``(batch, tokens)`` (the same for every head)
        or ``(batch, heads, tokens)`` (what ``call`` returns, so a reference's style is reproduced)."""
        weights = tf.convert_to_tensor(weights, self.compute_dtype)
        if weights.shape.rank == 2:
            weights = tf.tile(weights[:, None, :], [1, self.heads, 1])
        style = tf.einsum("bhn,nhd->bhd", weights, self._values())
        return tf.reshape(style, [-1, self.units])

    def get_config(self):
        return {**super().get_config(), "tokens": self.tokens, "units": self.units, "heads": self.heads}
