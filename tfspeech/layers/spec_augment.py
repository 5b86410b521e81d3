"""SpecAugment-style masking (Park et al. 2019): random frequency bands and time spans set to a value."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfspeech")
class SpecAugment(keras.layers.Layer):
    """Masks ``freq_masks`` bands of up to ``freq_width`` bins and ``time_masks`` spans of up to
    ``time_width`` frames (at most ``max_time_fraction`` of each utterance) with ``fill_value``.

    Input ``(batch, frames, bins)``; optional ``lengths`` ``(batch,)`` keeps time masks inside
    each utterance's valid frames. Active only when ``training=True``; otherwise the
    identity. Each utterance draws its own masks; widths are uniform in ``[0, max]``.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 15,
        time_masks: int = 2,
        time_width: int = 25,
        max_time_fraction: float = 0.2,
        fill_value: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("freq_masks", freq_masks), ("freq_width", freq_width),
                            ("time_masks", time_masks), ("time_width", time_width)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"SpecAugment {name} must be a non-negative integer, got {value!r}")
        if not 0.0 <= max_time_fraction <= 1.0:
            raise ValueError(f"SpecAugment max_time_fraction must be in [0, 1], got {max_time_fraction!r}")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.max_time_fraction = max_time_fraction
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, features, lengths=None, training=None):
        if not training:
            return features
        shape = ops.shape(features)
        batch, frames, bins = shape[0], shape[1], shape[2]
        if lengths is None:
            lengths = ops.full((batch,), frames)
        lengths = ops.cast(lengths, "float32")
        time_limit = ops.minimum(float(self.time_width), self.max_time_fraction * lengths)
        masked_frames = self._spans(batch, frames, self.time_masks, time_limit, lengths)
        masked_bins = self._spans(batch, bins, self.freq_masks, ops.full((batch,), float(self.freq_width)),
                                  ops.full((batch,), ops.cast(bins, "float32")))
        masked = ops.logical_or(masked_frames[:, :, None], masked_bins[:, None, :])
        return ops.where(masked, ops.cast(self.fill_value, features.dtype), features)

    def _spans(self, batch, size, count, max_width, extent):
        """``(batch, size)`` bool: the union of ``count`` random spans per row, each of width
        ``[0, max_width]`` starting inside ``[0, extent - width]``."""
        positions = ops.cast(ops.arange(size), "float32")[None, :]
        masked = ops.zeros((batch, size), dtype="bool")
        for _ in range(count):
            width = ops.floor(keras.random.uniform((batch,), seed=self.seed_generator) * (max_width + 1.0))
            start = ops.floor(
                keras.random.uniform((batch,), seed=self.seed_generator) * ops.maximum(extent - width, 0.0)
            )
            span = ops.logical_and(positions >= start[:, None], positions < (start + width)[:, None])
            masked = ops.logical_or(masked, span)
        return masked

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "freq_masks": self.freq_masks,
            "freq_width": self.freq_width,
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "max_time_fraction": self.max_time_fraction,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }
