"""CBHG (Wang et al. 2017, Tacotron): 1-D convolution bank, highway network, bidirectional GRU.

``conv bank (widths 1..K) → max-pool (width 2, stride 1) → conv projections (+ residual)
→ highway layers → bidirectional GRU``. Tacotron uses one as its text encoder and one
after the decoder to turn mels into a linear spectrogram.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.layers.conv import ConvBlock, zero_padding
from tfspeech.layers.recurrent import BidirectionalRNN


@keras.saving.register_keras_serializable(package="tfspeech")
class Highway(keras.layers.Layer):
    """Srivastava et al. (2015): ``y = relu(W x) · t + x · (1 - t)``, ``t = sigmoid(W_t x)``.

    (..., units) → (..., units). The gate's bias starts at -1 so layers begin close to identity.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units = units
        self.transform = keras.layers.Dense(units, activation="relu", name="transform")
        self.gate = keras.layers.Dense(units, activation="sigmoid", name="gate",
                                       bias_initializer=keras.initializers.Constant(-1.0))

    def build(self, input_shape):
        if input_shape[-1] != self.units:
            raise ValueError(f"Highway({self.units}) needs inputs with {self.units} features, got {input_shape}")
        self.transform.build(input_shape)
        self.gate.build(input_shape)

    def call(self, inputs):
        gate = self.gate(inputs)
        return self.transform(inputs) * gate + inputs * (1.0 - gate)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfspeech")
class CBHG(keras.layers.Layer):
    """(batch, time, features) → (batch, time, 2·rnn_units).

    Args:
        bank_size: K, the conv bank holds widths 1..K.
        bank_filters: channels per bank convolution.
        projections: channels of the projection convolutions (width 3); the last equals
            the input features (it is added to the input: a residual connection).
        highway_layers, highway_units: the highway network; a linear layer maps the
            residual sum to ``highway_units`` when the sizes differ.
        rnn_units: GRU units per direction.
    """

    def __init__(self, bank_size: int = 16, bank_filters: int = 128, projections=(128, 128),
                 highway_layers: int = 4, highway_units: int = 128, rnn_units: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.bank_size, self.bank_filters = bank_size, bank_filters
        self.projections = tuple(projections)
        self.highway_layers, self.highway_units, self.rnn_units = highway_layers, highway_units, rnn_units
        self.bank = [ConvBlock(bank_filters, k, "relu", name=f"bank_{k}") for k in range(1, bank_size + 1)]
        self.pool = keras.layers.MaxPooling1D(2, strides=1, padding="same", name="pool")
        self.projection_blocks = [
            ConvBlock(channels, 3, "relu" if i < len(self.projections) - 1 else None, name=f"projection_{i}")
            for i, channels in enumerate(self.projections)
        ]
        if self.projections[-1] != highway_units:
            self.pre_highway = keras.layers.Dense(highway_units, use_bias=False, name="pre_highway")
        else:
            self.pre_highway = None
        self.highways = [Highway(highway_units, name=f"highway_{i}") for i in range(highway_layers)]
        self.rnn = BidirectionalRNN(rnn_units, "gru", name="rnn")

    def build(self, input_shape):
        features = input_shape[-1]
        if features != self.projections[-1]:
            raise ValueError(
                f"CBHG's last projection ({self.projections[-1]} channels) is added to its input, which "
                f"has {features} features; make projections[-1] equal to {features}"
            )
        for block in self.bank:
            block.build((None, None, features))
        channels = self.bank_size * self.bank_filters
        for block in self.projection_blocks:
            block.build((None, None, channels))
            channels = block.filters
        if self.pre_highway is not None:
            self.pre_highway.build((None, None, features))
        for highway in self.highways:
            highway.build((None, None, self.highway_units))
        self.rnn.build((None, None, self.highway_units))

    def call(self, inputs, mask=None, training=None):
        x = tf.concat([block(inputs, mask=mask, training=training) for block in self.bank], axis=-1)
        # Bank outputs are ReLUs (>= 0) and padding is zeroed, so pooling never lifts a
        # real step with a padded neighbour.
        x = self.pool(zero_padding(x, mask))
        for block in self.projection_blocks:
            x = block(x, mask=mask, training=training)
        x = x + inputs
        if self.pre_highway is not None:
            x = self.pre_highway(x)
        for highway in self.highways:
            x = highway(x)
        return self.rnn(x, mask=mask, training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.rnn_units)

    def get_config(self):
        return {**super().get_config(), "bank_size": self.bank_size, "bank_filters": self.bank_filters,
                "projections": list(self.projections), "highway_layers": self.highway_layers,
                "highway_units": self.highway_units, "rnn_units": self.rnn_units}
