"""What Tacotron and Tacotron 2 share: attention decoding with a reduction factor, losses, export.

A subclass defines the encoder, one decoder step and what follows the decoder; this base
runs them:

- training (``call``): teacher forcing. Inputs ``{"text": (batch, text) int32 ids with 0 as
  padding, "mels": (batch, frames, n_mels) log-mel targets with frames a multiple of r,
  "mel_lengths": (batch,) int32}``. Outputs ``{"decoder_mels", "mels": (batch, frames,
  n_mels), "stop_logits": (batch, steps), "alignments": (batch, steps, text)}`` (+ the
  subclass's own, e.g. ``"linear"``), ``steps = frames / r``;
- losses (``compute_loss``, used by ``fit``): spectrogram losses of the subclass, the stop
  token's cross-entropy and the optional guided-attention loss, all masked so padding never
  contributes; targets ``{"mels", "stop": (batch, frames) 1.0 from the last real frame on}``;
- inference (``infer``): batched free-running decoding that stops each utterance on its stop
  token, bounded by ``max_frames``, as one ``tf.while_loop`` over preallocated buffers (so
  the whole utterance converts to TFLite with builtin ops);
- export (``export_signatures``): ``synthesize`` (ids → mels, lengths, alignments, stop
  probabilities, as ``infer``), and for streaming hosts ``encode`` (ids → memory and the initial decoder
  state), ``step`` (previous frame, step number and state → r frames, stop probability,
  alignment, next state) and ``postprocess`` (decoder mels → final outputs).

Reduction factor r: decoder step ``s`` emits frames ``s·r .. s·r + r - 1``; its input is the
last frame of step ``s - 1`` (a zero "go" frame first).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfspeech.audio.features import MelConfig
from tfspeech.layers.attention import get_attention
from tfspeech.layers.prenet import Prenet
from tfspeech.losses.guided_attention import guided_attention_loss
from tfspeech.losses.replicas import replica_share
from tfspeech.text import TextEncoder

PAD_ID = TextEncoder.pad_id
ATTENTION_STATE = "attention_state_"  # prefix of the attention mechanism's entries in the decoder state


def frames_to_steps(frames, reduction_factor: int):
    """(batch, frames, n_mels) → (batch, frames / r, r·n_mels): step ``s`` holds frames ``s·r ..``, in order."""
    shape = tf.shape(frames)
    return tf.reshape(frames, [shape[0], shape[1] // reduction_factor, reduction_factor * frames.shape[-1]])


def steps_to_frames(steps, reduction_factor: int):
    """(batch, steps, r·n_mels) → (batch, steps·r, n_mels), the inverse of ``frames_to_steps``."""
    shape = tf.shape(steps)
    return tf.reshape(steps, [shape[0], shape[1] * reduction_factor, steps.shape[-1] // reduction_factor])


def sequence_mask(lengths, max_length, dtype=tf.bool):
    """(batch,) lengths → (batch, max_length) mask, True (1) before each length."""
    return tf.cast(tf.expand_dims(tf.range(max_length), 0) < tf.expand_dims(tf.cast(lengths, tf.int32), 1), dtype)


class AttentionTTS(keras.Model):
    """Base class (not registered): see the module doc. Options common to both models:

    Args:
        symbols: ``"characters"`` or ``"phonemes"``: the ``tfspeech.text.TextEncoder`` set
            the ids come from (``vocab_size`` defaults to its size).
        mel_config: the ``MelConfig`` (or its dict) of the mel targets; ``n_mels`` comes from it.
        reduction_factor: r, frames per decoder step.
        attention: ``"content"``, ``"location"`` or ``"gmm"``; ``attention_units`` its size,
            ``attention_options`` its other arguments (e.g. ``{"mixtures": 5}``).
        prenet_units, prenet_dropout: the decoder prenet; ``prenet_inference_dropout``
            keeps its dropout on at inference (the paper's setting; the inference masks are a
            fixed table drawn from ``prenet_seed``, see ``tfspeech.layers.prenet``).
        max_frames: the inference guard: decoding stops after this many frames.
        stop_threshold: decoding of an utterance stops when its stop probability exceeds it.
        stop_positive_weight: weight of the one positive step per utterance in the stop loss.
        guided_attention_weight, guided_attention_sigma: the guided-attention loss (0: off).
        learning_rate: Adam's, for ``default_compile_args``.
    """

    def __init__(self, symbols: str = "characters", vocab_size: int | None = None, mel_config=None,
                 reduction_factor: int = 1, attention: str = "location", attention_units: int = 128,
                 attention_options: dict | None = None, prenet_units=(256, 256), prenet_dropout: float = 0.5,
                 prenet_inference_dropout: bool = True, prenet_seed: int = 0, max_frames: int = 1000,
                 stop_threshold: float = 0.5, stop_positive_weight: float = 5.0,
                 guided_attention_weight: float = 0.0, guided_attention_sigma: float = 0.2,
                 learning_rate: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(reduction_factor, int) or reduction_factor < 1:
            raise ValueError(f"reduction_factor must be a positive integer, got {reduction_factor!r}")
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.symbols = symbols
        self.vocab_size = vocab_size if vocab_size is not None else TextEncoder(symbols).vocab_size
        self.mel_config = mel_config if isinstance(mel_config, MelConfig) else MelConfig.from_dict(mel_config or {})
        self.n_mels = self.mel_config.n_mels
        self.reduction_factor = reduction_factor
        self.attention_name, self.attention_units = attention, attention_units
        self.attention_options = dict(attention_options or {})
        self.prenet_units, self.prenet_dropout = tuple(prenet_units), prenet_dropout
        self.prenet_inference_dropout, self.prenet_seed = prenet_inference_dropout, prenet_seed
        self.max_frames, self.stop_threshold = int(max_frames), stop_threshold
        self.stop_positive_weight = stop_positive_weight
        self.guided_attention_weight, self.guided_attention_sigma = guided_attention_weight, guided_attention_sigma
        self.learning_rate = learning_rate

        self.attention = get_attention(attention, attention_units, name="attention", **self.attention_options)
        self.prenet = Prenet(self.prenet_units, prenet_dropout, prenet_inference_dropout, prenet_seed, name="prenet")
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names()}
        self._infer_function = None

    # --- what a subclass provides -------------------------------------------------------

    memory_size: int  # features per encoder output step
    query_size: int  # size of the attention query (the attention RNN's output)

    def build_layers(self):
        """Builds every layer but the prenet and attention (done here) from the config sizes."""
        raise NotImplementedError

    def encode_text(self, text, text_mask, training=None):
        """(batch, text) ids → memory (batch, text, memory_size)."""
        raise NotImplementedError

    def encode(self, inputs, text_mask, training=None):
        """The memory the attention reads in training (``call``): the encoded ``inputs["text"]``;
        a subclass may condition it on other inputs (e.g. a style)."""
        return self.encode_text(inputs["text"], text_mask, training=training)

    def inference_memory(self, text, text_mask):
        """The memory free-running decoding reads (``infer`` and the exported graphs)."""
        return self.encode_text(text, text_mask, training=False)

    def rnn_state_sizes(self) -> dict[str, int]:
        """Decoder RNN state entries (besides ``context`` and the attention's): name → size."""
        raise NotImplementedError

    def decoder_step(self, prenet_output, state, memory, keys, text_mask, training=None):
        """One step → ``(frames (batch, r·n_mels), stop logit (batch,), alignment (batch, text), state)``."""
        raise NotImplementedError

    def postprocess(self, decoder_mels, frame_mask, training=None) -> dict:
        """Decoder mels (batch, frames, n_mels) → ``{"mels": ..., other outputs}``."""
        raise NotImplementedError

    def spectrogram_losses(self, y, y_pred, frame_mask) -> dict:
        """``{loss name: scalar}`` over real frames (``frame_mask`` (batch, frames) float)."""
        raise NotImplementedError

    def spectrogram_loss_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    # --- building ----------------------------------------------------------------------

    def build(self, input_shape=None):
        """Creates every variable from the config (input shapes are not needed)."""
        self.prenet.build((None, self.n_mels))
        self.attention.build((None, self.query_size), (None, None, self.memory_size))
        self.build_layers()

    def with_symbols(self, symbols: str, seed: int = 0) -> "AttentionTTS":
        """A copy of this (built) model that reads ``symbols`` (``"characters"`` or ``"phonemes"``),
        for fine-tuning a preset on text in another symbol set.

        Every weight is copied except the embedding table, which is remapped by symbol: rows
        of symbols both sets hold (padding, end, punctuation, space, and letters or phonemes
        present in both) keep their trained vectors; new symbols start at the mean of the
        trained rows plus Gaussian noise of their standard deviation × 0.1 (``seed``).
        """
        if symbols not in ("characters", "phonemes"):
            raise ValueError(f"symbols must be 'characters' or 'phonemes', got {symbols!r}")
        config = {**self.get_config(), "symbols": symbols, "vocab_size": None}
        model = type(self).from_config(config)
        model.build()
        old_table = self.embedding.embeddings.numpy()
        old_ids = {symbol: i for i, symbol in enumerate(TextEncoder(self.symbols).symbols)}
        rng = np.random.default_rng(seed)
        table = old_table.mean(axis=0) + 0.1 * old_table.std(axis=0) * rng.standard_normal(
            (model.vocab_size, old_table.shape[1]))
        for new_id, symbol in enumerate(TextEncoder(symbols).symbols):
            if symbol in old_ids and old_ids[symbol] < len(old_table):
                table[new_id] = old_table[old_ids[symbol]]
        for source, target in zip(self.weights, model.weights, strict=True):
            target.assign(table.astype(np.float32) if source.path == self.embedding.embeddings.path
                          else source.numpy())
        return model

    def build_from_preset(self):
        self.build()

    def get_build_config(self):
        return {"input_shape": None}

    def build_from_config(self, config):
        self.build()

    # --- decoder state -----------------------------------------------------------------

    def initial_state(self, memory) -> dict[str, tf.Tensor]:
        """Zero decoder state for ``memory`` (batch, text, memory_size)."""
        batch = tf.shape(memory)[0]
        state = {name: tf.zeros([batch, size]) for name, size in self.rnn_state_sizes().items()}
        state["context"] = tf.zeros([batch, self.memory_size])
        state.update({ATTENTION_STATE + k: v for k, v in self.attention.initial_state(memory).items()})
        return state

    def state_specs(self) -> dict[str, tf.TensorSpec]:
        """Shapes of the decoder state (``None``: batch, text length), in a fixed order."""
        shapes = {name: (None, size) for name, size in self.rnn_state_sizes().items()}
        shapes["context"] = (None, self.memory_size)
        shapes.update({ATTENTION_STATE + k: v for k, v in self.attention.state_shapes().items()})
        return {name: tf.TensorSpec(shapes[name], tf.float32, name=name) for name in sorted(shapes)}

    def attend(self, query, state, memory, keys, text_mask):
        """Runs the attention: ``(context, alignment, {its new state entries})``."""
        own = {k[len(ATTENTION_STATE):]: v for k, v in state.items() if k.startswith(ATTENTION_STATE)}
        context, alignment, new = self.attention(query, memory, keys, text_mask, own)
        return context, alignment, {ATTENTION_STATE + k: v for k, v in new.items()}

    # --- training ----------------------------------------------------------------------

    def call(self, inputs, training=None):
        text, mels = inputs["text"], inputs["mels"]
        text_mask = tf.not_equal(text, PAD_ID)
        memory = self.encode(inputs, text_mask, training=training)
        keys = self.attention.process_memory(memory)
        r = self.reduction_factor
        tf.debugging.assert_equal(tf.shape(mels)[1] % r, 0,
                                  message=f"mel frames must be a multiple of the reduction factor {r}")
        steps = frames_to_steps(mels, r)
        batch, num_steps = tf.shape(steps)[0], tf.shape(steps)[1]
        go = tf.zeros([batch, 1, self.n_mels])
        previous = tf.concat([go, steps[:, :-1, -self.n_mels:]], axis=1)
        prenet_output = self.prenet(previous, training=training, step=tf.range(num_steps))
        prenet_time_major = tf.transpose(prenet_output, [1, 0, 2])

        def body(s, state, frames, stops, alignments):
            step_frames, stop, alignment, state = self.decoder_step(
                prenet_time_major[s], state, memory, keys, text_mask, training=training)
            return (s + 1, state, _write(frames, s, step_frames), _write(stops, s, stop),
                    _write(alignments, s, alignment))

        start = (0, self.initial_state(memory), tf.zeros([num_steps, batch, r * self.n_mels]),
                 tf.zeros([num_steps, batch]), tf.zeros([num_steps, batch, tf.shape(text)[1]]))
        _, _, frames, stops, alignments = tf.while_loop(lambda s, *_: s < num_steps, body, start,
                                                        maximum_iterations=num_steps)
        decoder_mels = steps_to_frames(tf.transpose(frames, [1, 0, 2]), r)
        lengths = inputs.get("mel_lengths")
        frame_mask = None if lengths is None else sequence_mask(lengths, tf.shape(mels)[1])
        return {
            "decoder_mels": decoder_mels,
            **self.postprocess(decoder_mels, frame_mask, training=training),
            "stop_logits": tf.transpose(stops),
            "alignments": tf.transpose(alignments, [1, 0, 2]),
        }

    def loss_names(self) -> tuple[str, ...]:
        names = (*self.spectrogram_loss_names(), "stop_loss")
        return names + (("guided_attention_loss",) if self.guided_attention_weight > 0 else ())

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Masked losses over real frames, steps and symbols; also updates the per-loss metrics."""
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__} weighs frames by their masks; pass no sample_weight")
        r = self.reduction_factor
        mel_lengths = tf.cast(x["mel_lengths"], tf.int32)
        frame_mask = sequence_mask(mel_lengths, tf.shape(y["mels"])[1], tf.float32)
        losses = dict(self.spectrogram_losses(y, y_pred, frame_mask))
        step_lengths = (mel_lengths + r - 1) // r
        stop_logits = y_pred["stop_logits"]
        step_mask = sequence_mask(step_lengths, tf.shape(stop_logits)[1], tf.float32)
        stop_targets = tf.cast(y["stop"], tf.float32)[:, r - 1::r]
        stop_loss = tf.nn.weighted_cross_entropy_with_logits(stop_targets, stop_logits, self.stop_positive_weight)
        losses["stop_loss"] = tf.reduce_sum(stop_loss * step_mask) / tf.maximum(tf.reduce_sum(step_mask), 1.0)
        total = tf.add_n(list(losses.values()))
        if self.guided_attention_weight > 0:
            text_lengths = tf.reduce_sum(tf.cast(tf.not_equal(x["text"], PAD_ID), tf.int32), axis=1)
            losses["guided_attention_loss"] = guided_attention_loss(
                y_pred["alignments"], text_lengths, step_lengths, self.guided_attention_sigma)
            total += self.guided_attention_weight * losses["guided_attention_loss"]
        for name, value in losses.items():
            self.loss_trackers[name].update_state(value)
        if self.losses:
            total += tf.add_n(self.losses)
        return replica_share(total)

    def default_compile_args(self) -> dict:
        """``model.compile`` arguments for training and fine-tuning (the losses are built in)."""
        return {"optimizer": keras.optimizers.Adam(self.learning_rate, global_clipnorm=1.0), "jit_compile": False}

    # --- inference ---------------------------------------------------------------------

    def infer(self, text, max_frames: int | None = None) -> dict[str, tf.Tensor]:
        """Synthesizes mels for a batch of id sequences (0-padded), each stopping on its stop token.

        Args:
            text: (batch, text) int ids (``tfspeech.text.TextEncoder``), 0 as padding.
            max_frames: the guard (default: the model's ``max_frames``): no utterance gets more.

        Returns:
            ``{"mels": (batch, frames, n_mels), "decoder_mels" (the same before the
            post-processing), "mel_lengths": (batch,) int32, "alignments": (batch, steps, text),
            "stop_probabilities": (batch, steps)}`` (+ the subclass's outputs, e.g. ``"linear"``).
            Frames at and beyond an utterance's length are padding.
        """
        text = tf.convert_to_tensor(text)
        if text.shape.rank != 2 or not text.dtype.is_integer:
            raise ValueError(f"text must be integer ids of shape (batch, length), got {text.dtype.name}{text.shape}")
        max_frames = self.max_frames if max_frames is None else int(max_frames)
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        if self._infer_function is None:
            self._infer_function = tf.function(lambda text, frames: self.synthesize_graph(text, frames), input_signature=[
                tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
        return self._infer_function(tf.cast(text, tf.int32), tf.constant(max_frames, tf.int32))

    def synthesize_graph(self, text, max_frames, memory=None):
        """The whole-utterance graph behind ``infer`` and the ``synthesize`` signature
        (``memory``: default ``inference_memory``)."""
        text_mask = tf.not_equal(text, PAD_ID)
        memory = self.inference_memory(text, text_mask) if memory is None else memory
        keys = self.attention.process_memory(memory)
        r, n_mels = self.reduction_factor, self.n_mels
        batch = tf.shape(text)[0]
        max_steps = (max_frames + r - 1) // r

        def keep_going(s, previous, state, done, *_):
            return tf.logical_and(s < max_steps, tf.reduce_any(tf.logical_not(done)))

        def body(s, previous, state, done, lengths, frames, stops, alignments):
            step_frames, stop_logit, alignment, state = self.decoder_step(
                self.prenet(previous, training=False, step=s), state, memory, keys, text_mask, training=False)
            stop = tf.sigmoid(stop_logit)
            stopping = stop > self.stop_threshold
            lengths = tf.where(tf.logical_and(stopping, tf.logical_not(done)), s + 1, lengths)
            return (s + 1, step_frames[:, -n_mels:], state, tf.logical_or(done, stopping), lengths,
                    _write(frames, s, step_frames), _write(stops, s, stop), _write(alignments, s, alignment))

        start = (0, tf.zeros([batch, n_mels]), self.initial_state(memory), tf.zeros([batch], tf.bool),
                 tf.fill([batch], max_steps), tf.zeros([max_steps, batch, r * n_mels]),
                 tf.zeros([max_steps, batch]), tf.zeros([max_steps, batch, tf.shape(text)[1]]))
        steps, _, _, _, lengths, frames, stops, alignments = tf.while_loop(keep_going, body, start)
        decoder_mels = steps_to_frames(tf.transpose(frames[:steps], [1, 0, 2]), r)[:, :max_frames]
        mel_lengths = tf.minimum(lengths * r, max_frames)
        return {
            "decoder_mels": decoder_mels,
            **self.postprocess(decoder_mels, sequence_mask(mel_lengths, tf.shape(decoder_mels)[1])),
            "mel_lengths": mel_lengths,
            "alignments": tf.transpose(alignments[:steps], [1, 0, 2]),
            "stop_probabilities": tf.transpose(stops[:steps]),
        }

    def encode_graph(self, text, memory=None):
        """Ids → ``{"memory", "keys", "text_mask" (float 0/1), initial state entries}`` for ``step``
        (``memory``: default ``inference_memory``)."""
        text_mask = tf.not_equal(text, PAD_ID)
        memory = self.inference_memory(text, text_mask) if memory is None else memory
        return {"memory": memory, "keys": self.attention.process_memory(memory),
                "text_mask": tf.cast(text_mask, tf.float32), **self.initial_state(memory)}

    def step_graph(self, previous_frame, step, memory, keys, text_mask, state):
        """Free-running step number ``step`` (0, 1, ...; int32 scalar, it selects the prenet's
        inference dropout masks) → ``{"frames" (batch, r, n_mels), "stop_probability",
        "alignment", next state entries}``."""
        step_frames, stop_logit, alignment, state = self.decoder_step(
            self.prenet(previous_frame, training=False, step=step), state, memory, keys, text_mask > 0.5,
            training=False)
        frames = tf.reshape(step_frames, [-1, self.reduction_factor, self.n_mels])
        return {"frames": frames, "stop_probability": tf.sigmoid(stop_logit), "alignment": alignment, **state}

    # --- export ------------------------------------------------------------------------

    def export_signatures(self) -> dict:
        """``synthesize``, ``encode``, ``step`` and ``postprocess`` (see the module doc)."""
        text = tf.TensorSpec([None, None], tf.int32, name="text")
        state_specs = self.state_specs()
        step_specs = [
            tf.TensorSpec([None, self.n_mels], tf.float32, name="previous_frame"),
            tf.TensorSpec([], tf.int32, name="step"),
            tf.TensorSpec([None, None, self.memory_size], tf.float32, name="memory"),
            tf.TensorSpec([None, None, self.attention.key_size(self.memory_size)], tf.float32, name="keys"),
            tf.TensorSpec([None, None], tf.float32, name="text_mask"),
            *state_specs.values(),
        ]

        def step(previous_frame, step_index, memory, keys, text_mask, *state):
            return self.step_graph(previous_frame, step_index, memory, keys, text_mask, dict(zip(state_specs, state)))

        def postprocess(mels, mel_lengths):
            return self.postprocess(mels, sequence_mask(mel_lengths, tf.shape(mels)[1]))

        return {
            "synthesize": tf.function(lambda text: self.synthesize_graph(text, tf.constant(self.max_frames)),
                                      input_signature=[text]),
            "encode": tf.function(lambda text: self.encode_graph(text), input_signature=[text]),
            "step": tf.function(step, input_signature=step_specs),
            "postprocess": tf.function(postprocess, input_signature=[
                tf.TensorSpec([None, None, self.n_mels], tf.float32, name="mels"),
                tf.TensorSpec([None], tf.int32, name="mel_lengths")]),
        }

    def representative_data(self) -> dict:
        """Realistic inputs per signature: id sequences of 3 lengths, their encodings, log-mels."""
        rng = np.random.default_rng(0)
        texts = [np.append(rng.integers(2, self.vocab_size, (1, n)), [[TextEncoder.eos_id]], axis=1).astype(np.int32)
                 for n in (7, 15, 24)]
        steps = []
        for text in texts:
            encoded = {k: v.numpy() for k, v in self.encode_graph(tf.constant(text)).items()}
            frame = rng.normal(-5.0, 2.0, (1, self.n_mels)).astype(np.float32)
            steps.append({"previous_frame": frame, "step": np.int32(len(steps)), **encoded})
        mels = [rng.normal(-5.0, 2.0, (1, frames, self.n_mels)).astype(np.float32) for frames in (20, 37)]
        return {
            "synthesize": [{"text": t} for t in texts],
            "encode": [{"text": t} for t in texts],
            "step": steps,
            "postprocess": [{"mels": m, "mel_lengths": np.array([m.shape[1]], np.int32)} for m in mels],
        }

    # --- configuration -----------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "symbols": self.symbols, "vocab_size": self.vocab_size, "mel_config": self.mel_config.to_dict(),
            "reduction_factor": self.reduction_factor, "attention": self.attention_name,
            "attention_units": self.attention_units, "attention_options": self.attention_options,
            "prenet_units": list(self.prenet_units), "prenet_dropout": self.prenet_dropout,
            "prenet_inference_dropout": self.prenet_inference_dropout, "prenet_seed": self.prenet_seed,
            "max_frames": self.max_frames, "stop_threshold": self.stop_threshold,
            "stop_positive_weight": self.stop_positive_weight,
            "guided_attention_weight": self.guided_attention_weight,
            "guided_attention_sigma": self.guided_attention_sigma, "learning_rate": self.learning_rate,
        }


def _write(buffer, index, value):
    """``buffer[index] = value`` for a preallocated (steps, ...) buffer."""
    return tf.tensor_scatter_nd_update(buffer, [[index]], tf.expand_dims(value, 0))


def masked_mean(values, frame_mask):
    """Mean of (batch, frames, channels) ``values`` over real frames (``frame_mask`` (batch, frames) 0/1)."""
    channels = tf.cast(tf.shape(values)[-1], values.dtype)
    total = tf.reduce_sum(values * tf.expand_dims(frame_mask, -1))
    return total / tf.maximum(tf.reduce_sum(frame_mask) * channels, 1.0)
