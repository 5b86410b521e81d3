"""Tacotron 2 with Global Style Tokens (Wang et al. 2018): one voice, styles learned without labels.

A reference log-mel → ``ReferenceEncoder`` → ``StyleTokens`` attention → style embedding
``(batch, style_units)`` → a linear projection to the memory size, added to every encoder output
the attention reads. The paper concatenates instead; adding keeps every Tacotron 2 weight's shape,
so a trained ``Tacotron2`` warm-starts all of its weights (``from_tacotron2``), and the projection
starts at zero, so the warm-started model begins as exactly the Tacotron 2 it came from.

Training is unsupervised: the reference is the target utterance itself (``call`` uses
``inputs["mels"]`` unless ``inputs["reference"]`` is given). At inference the style comes from
token weights ``(batch, heads, tokens)`` or ``(batch, tokens)``, from a reference
(``reference_weights``), from a named style (``named_style_weights``: token weights kept under a
name in the config, e.g. ``"low-slow"``, set after training by the evaluation), or, with none of
these, from ``mean_style_weights`` (the mean over the training references, set by the recipe;
uniform until then).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from tfspeech.layers.style_tokens import ReferenceEncoder, StyleTokens
from tfspeech.models.tacotron2 import Tacotron2

STYLE_NAME_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@keras.saving.register_keras_serializable(package="tfspeech")
class GSTTacotron2(Tacotron2):
    """Tacotron 2 conditioned on a global style; the Tacotron 2 options are ``Tacotron2``'s.

    Args:
        style_tokens: number of tokens N.
        style_units: the style embedding's size (split over the heads).
        style_heads: attention heads of the token layer.
        reference_filters: the reference encoder's stride-2 convolutions.
        reference_rnn_units: the reference encoder's GRU.
        named_styles: ``{name: token weights}``, each ``(heads, tokens)`` or ``(tokens,)`` (every
            head alike); names of lowercase letters and digits joined by '-' (``"low-slow"``).
    """

    def __init__(self, style_tokens: int = 10, style_units: int = 256, style_heads: int = 4,
                 reference_filters=(32, 32, 64, 64, 128, 128), reference_rnn_units: int = 128,
                 named_styles=None, **kwargs):
        super().__init__(**kwargs)
        self.style_tokens, self.style_units, self.style_heads = int(style_tokens), int(style_units), int(style_heads)
        self.reference_filters, self.reference_rnn_units = tuple(reference_filters), int(reference_rnn_units)
        self.reference_encoder = ReferenceEncoder(self.n_mels, self.reference_filters, self.reference_rnn_units,
                                                  name="reference_encoder")
        self.style_token_layer = StyleTokens(self.style_tokens, self.style_units, self.style_heads,
                                             name="style_tokens")
        self.style_projection = keras.layers.Dense(self.memory_size, use_bias=False, kernel_initializer="zeros",
                                                   name="style_projection")
        self._styled_infer_function = None
        self.set_named_styles({} if named_styles is None else named_styles)

    @classmethod
    def from_tacotron2(cls, tacotron2: Tacotron2, **style_options) -> "GSTTacotron2":
        """A GST model with every weight of a built ``tacotron2`` and fresh style layers."""
        model = cls(**{**tacotron2.get_config(), **style_options})
        model.build()
        trained = {_relative(v.path): v for v in tacotron2.weights}
        for variable in model.weights:
            source = trained.get(_relative(variable.path))
            if source is not None:
                variable.assign(source)
        return model

    @property
    def min_reference_frames(self) -> int:
        return self.reference_encoder.min_frames

    def build_layers(self):
        super().build_layers()
        self.reference_encoder.build()
        self.style_token_layer.build((None, self.reference_rnn_units))
        self.style_projection.build((None, self.style_units))
        self.mean_style_weights = self.add_weight(
            name="mean_style_weights", shape=(self.style_heads, self.style_tokens), trainable=False,
            initializer=keras.initializers.Constant(1.0 / self.style_tokens))

    # --- style ----------------------------------------------------------------------------

    def reference_weights(self, reference, lengths=None, training=None):
        """Reference log-mels ``(batch, frames, n_mels)`` (+ lengths) → token weights ``(batch, heads, tokens)``."""
        reference = tf.convert_to_tensor(reference, tf.float32)
        if lengths is None:
            lengths = tf.fill([tf.shape(reference)[0]], tf.shape(reference)[1])
        summary = self.reference_encoder(reference, lengths, training=training)
        return self.style_token_layer(summary)[1]

    def style_memory(self, memory, style_weights):
        """Encoder outputs ``(batch, text, memory_size)`` + token weights → the memory the attention reads."""
        style = self.style_token_layer.from_weights(style_weights)
        return memory + tf.expand_dims(self.style_projection(style), 1)

    def default_style_weights(self, batch):
        """``(batch, heads, tokens)``: the mean training style."""
        return tf.tile(tf.expand_dims(tf.convert_to_tensor(self.mean_style_weights), 0), [batch, 1, 1])

    # --- named styles ---------------------------------------------------------------------

    @property
    def named_styles(self) -> dict[str, np.ndarray]:
        """``{name: token weights (heads, tokens) float32}``, sorted by name (a copy)."""
        return {name: weights.copy() for name, weights in self._named_styles.items()}

    def set_named_styles(self, named_styles) -> None:
        """Replaces the named styles: ``{name: token weights (heads, tokens) or (tokens,)}``;
        ``ValueError`` for a bad name, shape or value."""
        if not isinstance(named_styles, Mapping):
            raise ValueError(f"named styles must be a mapping {{name: token weights}}, got a "
                             f"{type(named_styles).__name__}")
        checked = {name: self._checked_named_style(name, weights) for name, weights in named_styles.items()}
        self._named_styles = dict(sorted(checked.items()))

    def named_style_weights(self, name: str) -> np.ndarray:
        """Token weights ``(1, heads, tokens)`` float32 of the named style ``name``; ``ValueError``
        listing the named styles for an unknown one."""
        if name not in self._named_styles:
            available = ", ".join(self._named_styles) or "none (set them with set_named_styles)"
            raise ValueError(f"no style named {name!r}; this model's named styles: {available}")
        return self._named_styles[name][None].copy()

    def _checked_named_style(self, name, weights) -> np.ndarray:
        """``weights`` as ``(heads, tokens)`` float32, or ``ValueError`` saying what is wrong."""
        if not isinstance(name, str) or not STYLE_NAME_PATTERN.fullmatch(name):
            raise ValueError(f"style name {name!r}: use lowercase letters and digits, words joined by '-' "
                             "(e.g. 'low-slow')")
        try:
            values = np.asarray(weights, np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(f"named style {name!r}: token weights must be numbers ({error})") from error
        if values.shape not in ((self.style_tokens,), (self.style_heads, self.style_tokens)):
            raise ValueError(f"named style {name!r}: token weights must have shape ({self.style_tokens},) or "
                             f"({self.style_heads}, {self.style_tokens}) (heads, tokens); got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"named style {name!r}: token weights must be finite numbers; got NaN or inf")
        return np.broadcast_to(values, (self.style_heads, self.style_tokens)).copy()

    def encode(self, inputs, text_mask, training=None):
        memory = self.encode_text(inputs["text"], text_mask, training=training)
        weights = inputs.get("style_weights")
        if weights is None:
            reference = inputs.get("reference", inputs["mels"])
            lengths = inputs.get("reference_lengths", inputs.get("mel_lengths") if "reference" not in inputs else None)
            weights = self.reference_weights(reference, lengths, training=training)
        return self.style_memory(memory, weights)

    # --- inference --------------------------------------------------------------------------

    def inference_memory(self, text, text_mask):
        memory = self.encode_text(text, text_mask, training=False)
        return self.style_memory(memory, self.default_style_weights(tf.shape(text)[0]))

    def infer(self, text, max_frames: int | None = None, style_weights=None) -> dict[str, tf.Tensor]:
        """``Tacotron2.infer`` in a style: ``style_weights`` ``(batch, heads, tokens)`` or
        ``(batch, tokens)`` (e.g. ``reference_weights`` of a recording); None: the mean style."""
        if style_weights is None:
            return super().infer(text, max_frames)
        text = tf.cast(tf.convert_to_tensor(text), tf.int32)
        weights = self.check_style_weights(style_weights, int(text.shape[0]))
        max_frames = self.max_frames if max_frames is None else int(max_frames)
        if self._styled_infer_function is None:
            self._styled_infer_function = tf.function(self.styled_synthesize_graph, input_signature=[
                tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32),
                tf.TensorSpec([None, self.style_heads, self.style_tokens], tf.float32)])
        return self._styled_infer_function(text, tf.constant(max_frames, tf.int32), weights)

    def check_style_weights(self, style_weights, batch: int) -> tf.Tensor:
        """Token weights as ``(batch, heads, tokens)`` float32; a clear error for a wrong count or NaN."""
        weights = np.asarray(style_weights, np.float32)
        if weights.ndim == 1:
            weights = weights[None]
        if weights.ndim == 2:
            weights = np.repeat(weights[:, None, :], self.style_heads, axis=1)
        if weights.ndim != 3 or weights.shape[1:] != (self.style_heads, self.style_tokens):
            raise ValueError(f"style weights must hold {self.style_tokens} values (one per token), or "
                             f"({self.style_heads}, {self.style_tokens}) per head; got shape {np.shape(style_weights)}")
        if not np.all(np.isfinite(weights)):
            raise ValueError("style weights must be finite numbers; got NaN or inf")
        if weights.shape[0] not in (1, batch):
            raise ValueError(f"got style weights for {weights.shape[0]} utterances but {batch} texts")
        return tf.constant(np.broadcast_to(weights, (batch, *weights.shape[1:])))

    def styled_synthesize_graph(self, text, max_frames, style_weights):
        """``synthesize_graph`` with the style given by token weights ``(batch, heads, tokens)``."""
        text_mask = tf.not_equal(text, 0)
        memory = self.style_memory(self.encode_text(text, text_mask, training=False), style_weights)
        return self.synthesize_graph(text, max_frames, memory=memory)

    def styled_encode_graph(self, text, style_weights):
        text_mask = tf.not_equal(text, 0)
        memory = self.style_memory(self.encode_text(text, text_mask, training=False), style_weights)
        return self.encode_graph(text, memory=memory)

    # --- export -----------------------------------------------------------------------------

    def export_signatures(self) -> dict:
        """Tacotron 2's signatures (in the mean style), plus ``synthesize_styled`` and
        ``encode_styled`` (text + token weights ``(batch, heads, tokens)``) and ``style_weights``
        (a reference log-mel ``(batch, frames, n_mels)`` → its token weights)."""
        text = tf.TensorSpec([None, None], tf.int32, name="text")
        weights = tf.TensorSpec([None, self.style_heads, self.style_tokens], tf.float32, name="style_weights")
        return {
            **super().export_signatures(),
            "synthesize_styled": tf.function(
                lambda text, style_weights: self.styled_synthesize_graph(text, tf.constant(self.max_frames),
                                                                         style_weights),
                input_signature=[text, weights]),
            "encode_styled": tf.function(self.styled_encode_graph, input_signature=[text, weights]),
            "style_weights": tf.function(
                lambda reference: {"style_weights": self.reference_weights(reference, training=False)},
                input_signature=[tf.TensorSpec([None, None, self.n_mels], tf.float32, name="reference")]),
        }

    def representative_data(self) -> dict:
        data = super().representative_data()
        rng = np.random.default_rng(1)
        weights = [rng.dirichlet(np.ones(self.style_tokens), (1, self.style_heads)).astype(np.float32)
                   for _ in data["synthesize"]]
        references = [rng.normal(-5.0, 2.0, (1, frames, self.n_mels)).astype(np.float32)
                      for frames in (self.min_reference_frames, 3 * self.min_reference_frames)]
        return {
            **data,
            "synthesize_styled": [{**t, "style_weights": w} for t, w in zip(data["synthesize"], weights)],
            "encode_styled": [{**t, "style_weights": w} for t, w in zip(data["encode"], weights)],
            "style_weights": [{"reference": r} for r in references],
        }

    def get_config(self):
        return {
            **super().get_config(),
            "style_tokens": self.style_tokens, "style_units": self.style_units, "style_heads": self.style_heads,
            "reference_filters": list(self.reference_filters), "reference_rnn_units": self.reference_rnn_units,
            "named_styles": {name: weights.tolist() for name, weights in self._named_styles.items()},
        }


def _relative(path: str) -> str:
    """A variable's path without the model's own name (``tacotron2/embedding/embeddings`` → ``embedding/embeddings``)."""
    return path.split("/", 1)[-1]
