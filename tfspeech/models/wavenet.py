"""WaveNet (van den Oord et al. 2016): an autoregressive model of mu-law audio, here mainly a
mel-conditioned vocoder, with fast cached generation (Paine et al. 2016) and export.

Teacher forcing::

    model = WaveNet(mel_config=MelConfig().to_dict())
    logits = model({"audio": classes, "mel": log_mel})  # classes (batch, frames * hop) int32
    # logits (batch, time, 256): logits[:, t] is the distribution of classes[:, t]; it sees
    # classes[:, < t] only (the input is shifted right by one, the silence class first).

Generation (``generate`` returns the waveform, ``generate_classes`` the mu-law classes)::

    waveform = model.generate(log_mel)                  # (batch, frames * hop) float32

Cached generation keeps, for every layer, the past inputs its dilated convolution reads:
one state tensor ``(slots, batch, residual_channels)``, ``slots = sum_i (k - 1) d_i``, used as
a circular buffer per layer, so a new sample costs one gather, one scatter and O(layers)
small matmuls, instead of the O(receptive field) of re-running the network (``naive=True``).
Compiled with XLA (the default) the scatter updates the cache in place, because what it writes
depends on what the gather read; plain ``tf.function`` copies the cache at every step.

Export (``tfspeech.export``) uses ``export_signatures()``: ``generate(mel, seed)`` (the whole
utterance, fixed-size buffers in a ``tf.while_loop``), ``condition(mel)`` (the upsampled
local conditioning) and ``step(sample, conditioning, state, position)`` (state in, state out)
for streaming hosts, which sample from ``output`` themselves.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfspeech.audio.features import MelConfig
from tfspeech.audio.mulaw import mulaw_decode
from tfspeech.layers.wavenet_blocks import UPSAMPLE_MODES, ConditioningUpsampler, GatedResidualBlock

OUTPUT_DISTRIBUTIONS = ("categorical", "logistic_mixture")

# Park & Miller's "minimal standard" generator, x <- 16807 x mod (2^31 - 1), by Schrage's
# method so every product fits in int32. Written out because TensorFlow's random ops are not
# TFLite builtins (StatelessRandomUniformV2 needs the Flex delegate) and the exported
# generation loop must draw the same numbers in TensorFlow, a SavedModel and LiteRT.
_MINSTD_A, _MINSTD_M, _MINSTD_Q, _MINSTD_R = 16807, 2147483647, 127773, 2836
_SEED_STRIDE = 1_000_003  # separates the streams of the utterances in a batch


def _minstd_next(state):
    """Next int32 states ``(batch,)`` in ``[1, 2^31 - 2]`` and their uniforms in (0, 1)."""
    state = _MINSTD_A * tf.math.floormod(state, _MINSTD_Q) - _MINSTD_R * tf.math.floordiv(state, _MINSTD_Q)
    state = tf.where(state < 0, state + _MINSTD_M, state)
    return state, tf.cast(state, tf.float32) / float(_MINSTD_M)


def _initial_rng(seed, batch):
    """Generator states ``(batch,)`` for a scalar int32 ``seed``: one stream per utterance."""
    state = 1 + tf.math.floormod(seed + _SEED_STRIDE * tf.range(batch), _MINSTD_M - 1)
    for _ in range(3):  # nearby seeds give nearby first draws; a few steps decorrelate them
        state, _ = _minstd_next(state)
    return state


def _inverse_cdf(logits, uniform):
    """Category ``(batch,)`` int32 drawn from ``softmax(logits)`` ``(batch, n)`` with uniforms ``(batch,)``."""
    cdf = tf.cumsum(tf.nn.softmax(logits), axis=-1)
    below = tf.cast(cdf < uniform[:, None] * cdf[:, -1:], tf.int32)
    return tf.minimum(tf.reduce_sum(below, axis=-1), logits.shape[-1] - 1)


def _default_factors(hop: int) -> tuple[int, int]:
    """Two upsampling factors with product ``hop``, as equal as divisors allow (256 → 16, 16)."""
    small = max(f for f in range(1, math.isqrt(hop) + 1) if hop % f == 0)
    return hop // small, small


class _FunctionCache:
    """Compiled generation functions, kept out of Keras' and TensorFlow's object tracking
    (a plain dict attribute would be tracked and break saving)."""

    def __init__(self):
        self.functions = {}


@keras.saving.register_keras_serializable(package="tfspeech")
class DiscretizedLogisticMixtureLoss(keras.losses.Loss):
    """Negative log-likelihood of integer classes under WaveNet's logistic mixture output.

    ``y_true`` ``(batch, time)`` classes in ``[0, quantization_channels)``; ``y_pred``
    ``(batch, time, 3 * mixtures)`` raw outputs (see ``WaveNet.mixture``). Each class owns the
    interval ``(c - 1/2, c + 1/2]`` of a continuous logistic mixture; the end classes also
    take the tails (Salimans et al. 2017, PixelCNN++), via ``tfp``'s ``QuantizedDistribution``.
    """

    def __init__(self, quantization_channels: int = 256, name="discretized_logistic_mixture", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantization_channels = quantization_channels

    def call(self, y_true, y_pred):
        distribution = mixture_distribution(y_pred, self.quantization_channels)
        return -distribution.log_prob(tf.cast(y_true, tf.float32))

    def get_config(self):
        return {**super().get_config(), "quantization_channels": self.quantization_channels}


def mixture_parameters(outputs, quantization_channels: int):
    """Raw outputs ``(…, 3M)`` → ``(logits, loc, scale)``, each ``(…, M)``; loc and scale in class units."""
    logits, raw_loc, raw_log_scale = tf.split(outputs, 3, axis=-1)
    half = (quantization_channels - 1) / 2.0
    return logits, half * (1.0 + raw_loc), half * tf.exp(tf.maximum(raw_log_scale, -7.0))


def mixture_distribution(outputs, quantization_channels: int):
    """The ``tfp`` distribution over classes that raw mixture outputs ``(…, 3M)`` describe."""
    tfd = tfp.distributions
    logits, loc, scale = mixture_parameters(outputs, quantization_channels)
    # QuantizedDistribution gives class c the interval (c - 1, c]; shift it to (c - 1/2, c + 1/2].
    components = tfd.QuantizedDistribution(
        tfd.Logistic(loc - 0.5, scale), low=0.0, high=float(quantization_channels - 1)
    )
    return tfd.MixtureSameFamily(tfd.Categorical(logits=logits), components)


@keras.saving.register_keras_serializable(package="tfspeech")
class WaveNet(keras.Model):
    """Mu-law WaveNet with optional local (log-mel) and global (speaker) conditioning.

    Args:
        quantization_channels: mu-law classes (256 = 8 bits).
        residual_channels, gate_channels, skip_channels: widths of the residual stream, of
            each half of the gated unit, and of the skip connections.
        kernel_size: taps of every dilated convolution (>= 2).
        layers_per_stack, stacks: dilations ``1, 2, …, 2^(layers_per_stack - 1)``, repeated
            ``stacks`` times.
        output_distribution: ``"categorical"`` (softmax over the classes) or
            ``"logistic_mixture"`` (``mixtures`` discretized logistics over the classes).
        mel_config: ``MelConfig.to_dict()`` of the log-mels that condition the model, or None
            for an unconditional model.
        upsample_factors: their product must equal ``mel_config["hop_length"]`` (default:
            two factors, as equal as possible); ``upsample_mode``: ``"transposed"`` or
            ``"repeat"`` (see ``ConditioningUpsampler``); ``conditioning_channels``: its width.
        num_speakers, speaker_channels: global conditioning by a learned speaker embedding
            (0 speakers: none).
        sampling_temperature: default temperature of ``generate`` and of the exported
            ``generate`` signature; 0 takes the most likely class.
    """

    def __init__(
        self,
        quantization_channels: int = 256,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 128,
        kernel_size: int = 2,
        layers_per_stack: int = 10,
        stacks: int = 2,
        output_distribution: str = "categorical",
        mixtures: int = 10,
        mel_config: dict | None = None,
        upsample_factors=None,
        upsample_mode: str = "transposed",
        conditioning_channels: int = 64,
        num_speakers: int = 0,
        speaker_channels: int = 16,
        sampling_temperature: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if quantization_channels < 2:
            raise ValueError(f"quantization_channels must be >= 2, got {quantization_channels}")
        if kernel_size < 2:
            raise ValueError(
                f"kernel_size must be >= 2 (a dilated convolution needs a past tap), got {kernel_size}"
            )
        if output_distribution not in OUTPUT_DISTRIBUTIONS:
            raise ValueError(
                f"unknown output_distribution {output_distribution!r}; choose one of {OUTPUT_DISTRIBUTIONS}"
            )
        if upsample_mode not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsample_mode {upsample_mode!r}; choose one of {UPSAMPLE_MODES}")
        if sampling_temperature < 0:
            raise ValueError(f"sampling_temperature must be >= 0, got {sampling_temperature}")
        self.quantization_channels = quantization_channels
        self.residual_channels = residual_channels
        self.gate_channels = gate_channels
        self.skip_channels = skip_channels
        self.kernel_size = kernel_size
        self.layers_per_stack = layers_per_stack
        self.stacks = stacks
        self.output_distribution = output_distribution
        self.mixtures = mixtures
        self.mel_config = None if mel_config is None else MelConfig.from_dict(dict(mel_config)).to_dict()
        self.upsample_mode = upsample_mode
        self.conditioning_channels = conditioning_channels
        self.num_speakers = num_speakers
        self.speaker_channels = speaker_channels
        self.sampling_temperature = float(sampling_temperature)
        self.silence_class = quantization_channels // 2  # mulaw_encode(0.0)

        self.embedding = keras.layers.Embedding(quantization_channels, residual_channels, name="input_embedding")
        self.upsampler = None
        self.upsample_factors = None
        if self.mel_config is not None:
            hop = self.mel_config["hop_length"]
            factors = tuple(upsample_factors) if upsample_factors is not None else _default_factors(hop)
            if math.prod(factors) != hop:
                raise ValueError(
                    f"upsample_factors {factors} multiply to {math.prod(factors)}, not the mel hop_length {hop}"
                )
            self.upsample_factors = [int(f) for f in factors]
            self.upsampler = ConditioningUpsampler(conditioning_channels, factors, upsample_mode, name="upsampler")
        self.speaker_embedding = None
        if num_speakers:
            self.speaker_embedding = keras.layers.Embedding(num_speakers, speaker_channels, name="speaker_embedding")
        self.blocks = [
            GatedResidualBlock(
                residual_channels,
                gate_channels,
                skip_channels,
                kernel_size,
                2**i,
                local_conditioning=self.upsampler is not None,
                global_conditioning=self.speaker_embedding is not None,
                name=f"block_{s}_{i}",
            )
            for s in range(stacks)
            for i in range(layers_per_stack)
        ]
        out_channels = quantization_channels if output_distribution == "categorical" else 3 * mixtures
        self.head_hidden = keras.layers.Dense(skip_channels, name="head_hidden")
        self.head_output = keras.layers.Dense(out_channels, name="head_output")
        self._generators = _FunctionCache()

        # Cache layout: block i owns `taps_i = (k - 1) d_i` slots starting at offsets[i].
        taps = [block.taps_needed for block in self.blocks]
        self.cache_slots = sum(taps)
        offsets = np.cumsum([0] + taps[:-1])
        self._write_offsets = offsets.astype(np.int32)
        self._write_periods = np.array(taps, np.int32)
        # Past taps of block i at step t: times t - j d_i for j = k-1 … 1 (oldest first).
        lags = [
            (j * block.dilation, offset, period)
            for block, offset, period in zip(self.blocks, offsets, taps)
            for j in range(kernel_size - 1, 0, -1)
        ]
        self._read_lags = np.array([lag for lag, _, _ in lags], np.int32)
        self._read_offsets = np.array([o for _, o, _ in lags], np.int32)
        self._read_periods = np.array([p for _, _, p in lags], np.int32)

    # ------------------------------------------------------------------ properties

    @property
    def receptive_field(self) -> int:
        """Past samples one prediction depends on: ``1 + sum_i (k - 1) d_i``."""
        return 1 + self.cache_slots

    @property
    def hop_length(self) -> int | None:
        return None if self.mel_config is None else self.mel_config["hop_length"]

    @property
    def n_mels(self) -> int | None:
        return None if self.mel_config is None else self.mel_config["n_mels"]

    # ------------------------------------------------------------------ teacher forcing

    def call(self, inputs, training=None):
        """``{"audio": (batch, time) int classes, "mel": (batch, frames, n_mels), "speaker": (batch,)}``
        → outputs ``(batch, time, quantization_channels or 3 * mixtures)``; ``time = frames * hop``."""
        if not isinstance(inputs, dict) or "audio" not in inputs:
            raise ValueError(
                "WaveNet takes a dict {'audio': classes (batch, time)[, 'mel': log-mels][, 'speaker': ids]}, "
                f"got {type(inputs).__name__}"
            )
        audio = tf.cast(inputs["audio"], tf.int32)
        local = self._local_conditioning(inputs.get("mel"))
        if local is not None and audio.shape[1] is not None and local.shape[1] is not None:
            if audio.shape[1] != local.shape[1]:
                raise ValueError(
                    f"audio has {audio.shape[1]} samples but the mel's {local.shape[1] // self.hop_length} frames "
                    f"cover {local.shape[1]} (frames * hop_length {self.hop_length}); crop them to match"
                )
        speaker = self._speaker_vector(inputs.get("speaker"))
        silence = tf.fill([tf.shape(audio)[0], 1], self.silence_class)
        previous = tf.concat([silence, audio[:, :-1]], axis=1)
        return self._forward(previous, local, speaker)

    def _forward(self, previous, local, speaker):
        """Outputs for every position of ``previous`` (classes fed in, already shifted)."""
        x = self.embedding(previous)
        skips = 0.0
        for block in self.blocks:
            x, skip = block(x, local, speaker)
            skips += skip
        return self._head(skips)

    def log_likelihood(self, inputs) -> tf.Tensor:
        """Log-probability (nats) of every sample of ``inputs["audio"]`` given the samples before
        it and the conditioning: ``(batch, time)``; inputs as ``call``. Its negated mean is the
        training loss."""
        outputs = self(inputs)
        classes = tf.cast(inputs["audio"], tf.int32)
        if self.output_distribution == "categorical":
            log_probs = tf.nn.log_softmax(outputs)
            return tf.gather(log_probs, classes, axis=-1, batch_dims=2)
        return mixture_distribution(outputs, self.quantization_channels).log_prob(tf.cast(classes, tf.float32))

    def _head(self, skips):
        return self.head_output(tf.nn.relu(self.head_hidden(tf.nn.relu(skips))))

    def _local_conditioning(self, mel):
        if self.upsampler is None:
            if mel is not None:
                raise ValueError("this WaveNet has no local conditioning (mel_config=None); do not pass a mel")
            return None
        if mel is None:
            raise ValueError("this WaveNet is conditioned on log-mels; pass 'mel' (batch, frames, n_mels)")
        return self.upsampler(tf.convert_to_tensor(mel, tf.float32))

    def _speaker_vector(self, speaker):
        if self.speaker_embedding is None:
            if speaker is not None:
                raise ValueError(
                    "this WaveNet has no speaker conditioning (num_speakers=0); do not pass 'speaker'"
                )
            return None
        if speaker is None:
            raise ValueError(
                f"this WaveNet is conditioned on {self.num_speakers} speakers; pass 'speaker' ids (batch,)"
            )
        return self.speaker_embedding(tf.cast(speaker, tf.int32))

    # ------------------------------------------------------------------ cached step

    def initial_state(self, batch_size):
        """Zero cache ``(cache_slots, batch, residual_channels)``: silence before the first sample."""
        return tf.zeros([self.cache_slots, batch_size, self.residual_channels])

    def step(self, sample, local, speaker, state, position):
        """One cached step at time ``position``.

        Args:
            sample: ``(batch,)`` int32, the class at ``position - 1`` (silence at 0).
            local: ``(batch, conditioning_channels)`` upsampled conditioning at ``position``, or None.
            speaker: ``(batch, speaker_channels)`` speaker embedding, or None.
            state: the cache ``(cache_slots, batch, residual_channels)``.
            position: int32 scalar, samples generated so far.
        Returns:
            ``(outputs (batch, out_channels), new state)``.
        """
        # (taps, batch, residual), sliced per block without a transpose: one read of the cache
        # that the scatter below depends on, so XLA can update the cache in place.
        reads = self._read_offsets + tf.math.floormod(position - self._read_lags, self._read_periods)
        past = tf.gather(state, reads)
        x = self.embedding(sample)
        written, skips, k = [], 0.0, self.kernel_size - 1
        for i, block in enumerate(self.blocks):
            written.append(x)
            x, skip = block.step(past[i * k : (i + 1) * k], x, local, speaker)
            skips += skip
        slots = self._write_offsets + tf.math.floormod(position, self._write_periods)
        state = tf.tensor_scatter_nd_update(state, slots[:, None], tf.stack(written))
        return self._head(skips), state

    def _draw(self, outputs, rng, temperature: float):
        """A class ``(batch,)`` from step outputs, and the advanced generator state."""
        if self.output_distribution == "categorical":
            if temperature == 0:
                return tf.argmax(outputs, axis=-1, output_type=tf.int32), rng
            rng, uniform = _minstd_next(rng)
            return _inverse_cdf(outputs / temperature, uniform), rng
        logits, loc, scale = mixture_parameters(outputs, self.quantization_channels)
        if temperature == 0:
            component = tf.argmax(logits, axis=-1, output_type=tf.int32)
            value = tf.gather(loc, component, batch_dims=1)
        else:
            rng, pick = _minstd_next(rng)
            rng, uniform = _minstd_next(rng)
            component = _inverse_cdf(logits, pick)
            uniform = tf.clip_by_value(uniform, 1e-5, 1.0 - 1e-5)
            noise = temperature * (tf.math.log(uniform) - tf.math.log1p(-uniform))
            value = tf.gather(loc, component, batch_dims=1) + tf.gather(scale, component, batch_dims=1) * noise
        classes = tf.clip_by_value(tf.round(value), 0.0, self.quantization_channels - 1.0)
        return tf.cast(classes, tf.int32), rng

    # ------------------------------------------------------------------ generation loops

    def _cached_loop(self, local, speaker, batch, num_samples, seed, temperature):
        """Classes ``(batch, num_samples)``; ``local`` ``(batch, num_samples, c)`` or None."""
        local_by_time = None if local is None else tf.transpose(local, [1, 0, 2])
        classes = tf.zeros([num_samples, batch], tf.int32)  # fixed size: converts to TFLite builtins

        def body(t, previous, state, rng, classes):
            outputs, state = self.step(previous, None if local is None else local_by_time[t], speaker, state, t)
            sample, rng = self._draw(outputs, rng, temperature)
            classes = tf.tensor_scatter_nd_update(classes, [[t]], sample[None])
            return t + 1, sample, state, rng, classes

        first = tf.fill([batch], self.silence_class)
        start = (0, first, self.initial_state(batch), _initial_rng(seed, batch), classes)
        *_, classes = tf.while_loop(lambda t, *_: t < num_samples, body, start)
        return tf.transpose(classes)

    def _naive_loop(self, local, speaker, batch, num_samples, seed, temperature):
        """As ``_cached_loop`` but every sample re-runs the network over its receptive field."""
        classes = tf.zeros([batch, num_samples], tf.int32)
        window = self.receptive_field

        def body(t, rng, classes):
            start = tf.maximum(t - window, 0)
            audio = classes[:, start : t + 1]  # the last entry is the sample being predicted
            previous = tf.concat([tf.fill([batch, 1], self.silence_class), audio[:, :-1]], axis=1)
            local_window = None if local is None else local[:, start : t + 1]
            outputs = self._forward(previous, local_window, speaker)[:, -1]
            sample, rng = self._draw(outputs, rng, temperature)
            indices = tf.stack([tf.range(batch), tf.fill([batch], t)], axis=1)
            return t + 1, rng, tf.tensor_scatter_nd_update(classes, indices, sample)

        *_, classes = tf.while_loop(lambda t, *_: t < num_samples, body, (0, _initial_rng(seed, batch), classes))
        return classes

    def _generator(self, naive: bool, jit_compile: bool, temperature: float):
        """The compiled generation function for these settings (built once, then cached)."""
        key = (naive, jit_compile, temperature)
        if key not in self._generators.functions:
            loop = self._naive_loop if naive else self._cached_loop

            def generate(mel, speaker, num_samples, seed):
                local = None if mel is None else self.upsampler(mel)
                batch = tf.shape(mel)[0] if mel is not None else tf.shape(speaker)[0] if speaker is not None else 1
                if mel is not None:
                    num_samples = tf.shape(local)[1]
                return loop(local, self._speaker_vector(speaker), batch, num_samples, seed, temperature)

            # The naive loop slices windows of changing length, which XLA cannot compile.
            self._generators.functions[key] = tf.function(
                generate, jit_compile=jit_compile and not naive, reduce_retracing=True
            )
        return self._generators.functions[key]

    def generate_classes(
        self,
        mel=None,
        *,
        speaker=None,
        num_samples: int | None = None,
        seed: int = 0,
        temperature: float | None = None,
        naive: bool = False,
        jit_compile: bool = True,
    ) -> tf.Tensor:
        """Mu-law classes ``(batch, samples)`` int32, sampled one at a time.

        Args:
            mel: log-mels ``(frames, n_mels)`` or ``(batch, frames, n_mels)`` computed with
                ``MelConfig(**model.mel_config)`` (pad shorter utterances of a batch); gives
                ``frames * hop_length`` samples. None for an unconditional model.
            speaker: speaker ids ``(batch,)`` for a speaker-conditioned model.
            num_samples: length, for an unconditional model only.
            seed: the same seed gives the same audio (cached, naive, exported alike).
            temperature: scales the logits (default ``sampling_temperature``); 0: most likely class.
            naive: re-run the network over the receptive field for every sample (slow; for
                comparison and tests).
            jit_compile: compile the cached loop with XLA (one compilation per input shape).
        """
        mel, speaker, batch = self._checked_generation_inputs(mel, speaker, num_samples)
        temperature = self.sampling_temperature if temperature is None else float(temperature)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        length = tf.constant(num_samples if num_samples is not None else 0, tf.int32)
        generate = self._generator(naive, jit_compile, temperature)
        return generate(mel, speaker, length, tf.constant(int(seed), tf.int32))

    def generate(self, mel=None, **kwargs) -> np.ndarray:
        """Waveform ``(batch, samples)`` float32 in [-1, 1]; arguments as ``generate_classes``."""
        classes = self.generate_classes(mel, **kwargs)
        return mulaw_decode(classes, self.quantization_channels).numpy()

    def _checked_generation_inputs(self, mel, speaker, num_samples):
        """``(mel (batch, frames, n_mels) float32 or None, speaker (batch,) int32 or None, batch)``."""
        batch = None
        if self.mel_config is not None:
            if mel is None:
                raise ValueError("this WaveNet is a vocoder: pass the log-mels to turn into audio")
            if num_samples is not None:
                raise ValueError("num_samples is set by the mel (frames * hop_length); do not pass it")
            mel = check_mel(mel, self.mel_config)
            batch = mel.shape[0]
        else:
            if mel is not None:
                raise ValueError("this WaveNet has no local conditioning (mel_config=None); do not pass a mel")
            if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
                raise ValueError(f"an unconditional WaveNet needs num_samples >= 1, got {num_samples!r}")
        if self.num_speakers:
            if speaker is None:
                raise ValueError(f"this WaveNet is conditioned on {self.num_speakers} speakers; pass speaker ids")
            speaker = np.atleast_1d(np.asarray(speaker))
            if speaker.ndim != 1 or not np.issubdtype(speaker.dtype, np.integer):
                raise ValueError(
                    f"speaker must be integer ids of shape (batch,), got {speaker.dtype} {speaker.shape}"
                )
            if speaker.min() < 0 or speaker.max() >= self.num_speakers:
                raise ValueError(f"speaker ids must be in [0, {self.num_speakers}), got {speaker.tolist()}")
            if batch is not None and speaker.shape[0] != batch:
                raise ValueError(f"{speaker.shape[0]} speaker ids for {batch} utterances")
            speaker = tf.constant(speaker, tf.int32)
        elif speaker is not None:
            raise ValueError("this WaveNet has no speaker conditioning (num_speakers=0); do not pass 'speaker'")
        return mel, speaker, batch

    # ------------------------------------------------------------------ zoo and export hooks

    def get_config(self):
        return {
            **super().get_config(),
            "quantization_channels": self.quantization_channels,
            "residual_channels": self.residual_channels,
            "gate_channels": self.gate_channels,
            "skip_channels": self.skip_channels,
            "kernel_size": self.kernel_size,
            "layers_per_stack": self.layers_per_stack,
            "stacks": self.stacks,
            "output_distribution": self.output_distribution,
            "mixtures": self.mixtures,
            "mel_config": self.mel_config,
            "upsample_factors": self.upsample_factors,
            "upsample_mode": self.upsample_mode,
            "conditioning_channels": self.conditioning_channels,
            "num_speakers": self.num_speakers,
            "speaker_channels": self.speaker_channels,
            "sampling_temperature": self.sampling_temperature,
        }

    def example_inputs(self, batch_size: int = 1, frames: int = 2) -> dict:
        """Zero inputs of the right structure (``frames`` frames, or ``frames`` samples unconditioned)."""
        samples = frames * (self.hop_length or 1)
        inputs = {"audio": np.full((batch_size, samples), self.silence_class, np.int32)}
        if self.mel_config is not None:
            inputs["mel"] = np.zeros((batch_size, frames, self.n_mels), np.float32)
        if self.num_speakers:
            inputs["speaker"] = np.zeros((batch_size,), np.int32)
        return inputs

    def build_from_preset(self):
        """Creates the variables (``tfspeech.zoo.load`` calls this before loading weights)."""
        self(self.example_inputs())

    def default_compile_args(self) -> dict:
        """Adam and the output's negative log-likelihood (nats per sample), without XLA: on
        2 CPU cores an XLA training step of the preset size took 2x longer (and 80 s to compile)."""
        if self.output_distribution == "categorical":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        else:
            loss = DiscretizedLogisticMixtureLoss(self.quantization_channels)
        return {"optimizer": keras.optimizers.Adam(1e-3, clipnorm=1.0), "loss": loss, "jit_compile": False}

    def export_signatures(self) -> dict:
        """``generate``, ``step`` and (for a vocoder) ``condition``; see the module doc."""
        if self.mel_config is None:
            raise NotImplementedError(
                "export covers mel-conditioned WaveNets (vocoders); give the model a mel_config"
            )
        temperature = self.sampling_temperature
        mel_spec = tf.TensorSpec([None, None, self.n_mels], tf.float32, name="mel")
        speaker_specs = [tf.TensorSpec([None], tf.int32, name="speaker")] if self.num_speakers else []

        @tf.function(input_signature=[mel_spec, tf.TensorSpec([], tf.int32, name="seed"), *speaker_specs])
        def generate(mel, seed, *speaker):  # speaker: () or (ids,), as the signature has it
            local = self.upsampler(mel)
            batch, num_samples = tf.shape(local)[0], tf.shape(local)[1]
            speaker = self._speaker_vector(*speaker) if speaker else None
            classes = self._cached_loop(local, speaker, batch, num_samples, seed, temperature)
            return {"audio": mulaw_decode(classes, self.quantization_channels)}

        @tf.function(input_signature=[mel_spec])
        def condition(mel):
            return {"conditioning": self.upsampler(mel)}

        step_specs = [
            tf.TensorSpec([None], tf.int32, name="sample"),
            tf.TensorSpec([None, self.conditioning_channels], tf.float32, name="conditioning"),
            tf.TensorSpec([self.cache_slots, None, self.residual_channels], tf.float32, name="state"),
            tf.TensorSpec([], tf.int32, name="position"),
            *speaker_specs,
        ]

        @tf.function(input_signature=step_specs)
        def step(sample, conditioning, state, position, *speaker):
            speaker = self._speaker_vector(*speaker) if speaker else None
            outputs, state = self.step(sample, conditioning, speaker, state, position)
            return {"output": outputs, "state": state}

        return {"generate": generate, "condition": condition, "step": step}

    def representative_data(self, samples: int = 4, frames: int = 3) -> dict:
        """Seeded realistic inputs per export signature (log-mels around -4, classes, cache)."""
        rng = np.random.default_rng(0)
        speaker = {"speaker": np.zeros((1,), np.int32)} if self.num_speakers else {}

        def mel():
            return rng.normal(-4.0, 2.0, (1, frames, self.n_mels)).astype(np.float32)

        return {
            "generate": [{"mel": mel(), "seed": np.int32(i), **speaker} for i in range(samples)],
            "condition": [{"mel": mel()} for _ in range(samples)],
            "step": [
                {
                    "sample": rng.integers(0, self.quantization_channels, (1,)).astype(np.int32),
                    "conditioning": rng.normal(0.0, 0.5, (1, self.conditioning_channels)).astype(np.float32),
                    "state": rng.normal(0.0, 0.5, (self.cache_slots, 1, self.residual_channels)).astype(
                        np.float32
                    ),
                    "position": np.int32(rng.integers(0, 10_000)),
                    **speaker,
                }
                for _ in range(samples)
            ],
        }


def check_mel(mel, mel_config: dict) -> tf.Tensor:
    """Float32 log-mels ``(batch, frames, n_mels)`` from ``(frames, n_mels)`` or batched input.

    Raises ``ValueError`` naming the problem: wrong rank or number of bands, no frames,
    NaN/inf values.
    """
    array = np.asarray(mel.numpy() if tf.is_tensor(mel) else mel, dtype=np.float32)
    n_mels = mel_config["n_mels"]
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise ValueError(
            f"expected log-mels of shape (frames, {n_mels}) or (batch, frames, {n_mels}), got {array.shape}"
        )
    if array.shape[-1] != n_mels:
        raise ValueError(
            f"the log-mels have {array.shape[-1]} bands but this vocoder takes {n_mels}; compute them with "
            f"tfspeech.audio.log_mel_spectrogram(waveform, MelConfig(**model.mel_config)) "
            "(frames on axis -2, bands last)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"the log-mels are empty (shape {array.shape}); there is nothing to vocode")
    bad = np.count_nonzero(~np.isfinite(array))
    if bad:
        raise ValueError(f"the log-mels hold {bad} NaN/inf values; they are natural-log mels, finite everywhere")
    return tf.constant(array)
