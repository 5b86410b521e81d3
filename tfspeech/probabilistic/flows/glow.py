"""Glow (Kingma & Dhariwal 2018): multi-scale flow on images of actnorm, invertible 1x1
convolution and affine coupling steps.

Written, as in the paper, in the density direction ``x ↦ z`` (images ``[H, W, C]`` to a flat
latent ``[D]``), then inverted (``tfb.Invert``) into the sampling direction every flow here
uses. Each of ``num_levels`` levels:

1. squeezes (space to depth, ``[H, W, C] → [H/2, W/2, 4C]``: ``tfb.Reshape`` and
   ``tfb.Transpose``), unless ``squeeze=False``;
2. applies ``steps_per_level`` steps: :class:`~tfspeech.layers.flow_layers.ActNorm`
   (initialized from the first training batch), :class:`~tfspeech.layers.flow_layers.InvertibleConv1x1`
   (``tfb.ScaleMatvecLU``), and an affine coupling ``tfb.RealNVP`` over channels,
   ``y_b = (x_b + t(x_a)) · sigmoid(h(x_a) + 2)`` with a
   :class:`~tfspeech.layers.flow_layers.ConvCouplingNetwork`;
3. except at the last level, factors out half of the channels: they go straight to the
   latent (an identity block of a blockwise bijector) and the next level continues on the
   rest. The factored-out latents have the standard normal prior (RealNVP's multi-scale
   prior, not Glow's learned conditional one).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfspeech.layers.flow_layers import ActNorm, ConvCouplingNetwork, InvertibleConv1x1
from tfspeech.probabilistic.flows.base import Flow

tfb = tfp.bijectors


@keras.saving.register_keras_serializable(package="tfspeech")
class Glow(Flow):
    """Glow on images ``[batch, H, W, C]``.

    Args:
        image_shape: ``(H, W, C)``; with ``squeeze``, ``H`` and ``W`` must be divisible by
            ``2 ** num_levels``.
        num_levels: levels of the multi-scale architecture.
        steps_per_level: actnorm + 1x1 conv + coupling steps per level.
        hidden_channels: width of the coupling networks.
        squeeze: squeeze at the start of each level (``False`` for inputs too small to
            squeeze; each level then needs at least 2 channels).
        logit_alpha: see :class:`~tfspeech.probabilistic.flows.base.Flow`.
        seed: draws the 1x1 convolutions' initial rotations.
    """

    def __init__(
        self,
        image_shape=(8, 8, 1),
        num_levels: int = 2,
        steps_per_level: int = 4,
        hidden_channels: int = 64,
        squeeze: bool = True,
        logit_alpha=None,
        seed: int = 0,
        **kwargs,
    ):
        if len(image_shape) != 3:
            raise ValueError(f"image_shape={tuple(image_shape)}: give (height, width, channels)")
        super().__init__(image_shape, logit_alpha=logit_alpha, **kwargs)
        for name, value in (("num_levels", num_levels), ("steps_per_level", steps_per_level)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name}={value!r}: must be a positive integer")
        self.num_levels, self.steps_per_level = int(num_levels), int(steps_per_level)
        self.hidden_channels, self.squeeze, self.seed = int(hidden_channels), bool(squeeze), int(seed)
        self.level_shapes = self._level_shapes()
        self.actnorms, self.convolutions, self.networks = [], [], []
        for level, (_, _, channels) in enumerate(self.level_shapes):
            for step in range(self.steps_per_level):
                index = level * self.steps_per_level + step
                self.actnorms.append(ActNorm(channels, name=f"actnorm_{index}"))
                self.convolutions.append(InvertibleConv1x1(channels, seed=self.seed + index, name=f"conv1x1_{index}"))
                self.networks.append(
                    ConvCouplingNetwork(channels - channels // 2, self.hidden_channels, name=f"coupling_{index}")
                )

    def _level_shapes(self) -> list[tuple[int, int, int]]:
        """``(H, W, C)`` that each level's steps see."""
        height, width, channels = self.event_shape
        shapes = []
        for level in range(self.num_levels):
            if self.squeeze:
                if height % 2 or width % 2:
                    raise ValueError(
                        f"image_shape={self.event_shape}: level {level} cannot squeeze {height}x{width}; "
                        f"with squeeze, height and width must be divisible by 2**num_levels = {2**self.num_levels}"
                    )
                height, width, channels = height // 2, width // 2, channels * 4
            if channels < 2:
                raise ValueError(
                    f"image_shape={self.event_shape}: level {level} has {channels} channel(s); a coupling "
                    "needs at least 2 (squeeze, or use fewer levels)"
                )
            shapes.append((height, width, channels))
            channels -= channels // 2
        return shapes

    def build_layers(self):
        for level, (height, width, channels) in enumerate(self.level_shapes):
            for step in range(self.steps_per_level):
                index = level * self.steps_per_level + step
                self.actnorms[index].build()
                self.convolutions[index].build()
                self.networks[index].build((None, height, width, channels // 2))

    def flow_bijector(self, training=False):
        return tfb.Invert(self._density_chain(training), name="glow")

    def _density_chain(self, training) -> tfb.Bijector:
        """Images ``[H, W, C]`` to the flat latent, level after level.

        After each level but the last, the state is flat with the factored-out channels first;
        level ``l`` then transforms only the block after all earlier factored-out blocks
        (one blockwise bijector per level, not nested ones: tfp's bookkeeping over nested
        compositions grows steeply with depth).
        """
        levels = []  # in the order the density direction applies them
        done = 0  # size of the factored-out prefix
        for level, (height, width, channels) in enumerate(self.level_shapes):
            applied = []
            height_in, width_in, channels_in = self._input_shape(level)
            if level > 0:  # the kept channels arrive flat, channels first
                size_in = height_in * width_in * channels_in
                applied += [
                    tfb.Reshape([channels_in, height_in, width_in], event_shape_in=[size_in]),
                    tfb.Transpose(perm=[1, 2, 0]),
                ]
            if self.squeeze:
                applied += _squeeze((height_in, width_in, channels_in))
            for step in range(self.steps_per_level):
                index = level * self.steps_per_level + step
                applied += [
                    self.actnorms[index].bijector(initialize=training),
                    self.convolutions[index].bijector(),
                    self._coupling(index, channels),
                ]
            size = height * width * channels
            # Channels first, then flat: the first channels // 2 are the block factored out here.
            applied += [tfb.Transpose(perm=[2, 0, 1]), tfb.Reshape([size], event_shape_in=[channels, height, width])]
            chain = tfb.Chain(applied[::-1], name=f"level_{level}")
            if level == 0:
                levels.append(chain)
            else:
                # The identity on the factored-out prefix as a vector bijector (event rank 1,
                # like `chain`), as tfp's structured log-det bookkeeping wants.
                identity = tfb.Reshape([done], event_shape_in=[done], name="factored_out")
                levels.append(_blockwise([identity, chain], [done, self.latent_size - done], f"after_{done}"))
            done += (channels // 2) * height * width
        return tfb.Chain(levels[::-1], name="glow_density")

    def _input_shape(self, level) -> tuple[int, int, int]:
        """``(H, W, C)`` entering level ``level``, before its squeeze."""
        if level == 0:
            return self.event_shape
        height, width, channels = self.level_shapes[level - 1]
        return height, width, channels - channels // 2

    def _coupling(self, index, channels) -> tfb.Bijector:
        network = self.networks[index]

        def affine(x_a, _units):
            params = network(x_a)
            log_scale = tf.math.log_sigmoid(params[..., 1] + 2.0)
            return tfb.Chain([tfb.Scale(log_scale=log_scale), tfb.Shift(params[..., 0])], name="affine")

        return tfb.RealNVP(num_masked=channels // 2, bijector_fn=affine, name=f"coupling_{index}")

    def export_signatures(self) -> dict:
        """Only ``log_prob``: sampling inverts the 1x1 convolutions with ``tfb.ScaleMatvecLU``'s
        ``lu_solve``, whose ``MatrixTriangularSolve`` is not a TFLite builtin (sample in
        Python with :meth:`sample` or :meth:`transform_noise`)."""
        return {"log_prob": super().export_signatures()["log_prob"]}

    def representative_data(self) -> dict:
        return {"log_prob": super().representative_data()["log_prob"]}

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.event_shape),
            "num_levels": self.num_levels,
            "steps_per_level": self.steps_per_level,
            "hidden_channels": self.hidden_channels,
            "squeeze": self.squeeze,
            "seed": self.seed,
        }


def _blockwise(bijectors, block_sizes, name) -> tfb.Bijector:
    """``tfb.Blockwise`` as the chain it builds (split, one bijector per block, concatenate).

    Built here because ``tfb.Blockwise`` fixes ``validate_event_size=True``, which with a
    dynamic batch size adds a ``tf.print`` warning branch (``PrintV2``, not a TFLite builtin).
    """
    split = tfb.Split(block_sizes, name="split")
    return tfb.Chain([tfb.Invert(split, name="concat"), tfb.JointMap(bijectors, name="blocks"), split], name=name)


def _squeeze(shape) -> list[tfb.Bijector]:
    """Space to depth, ``[H, W, C] → [H/2, W/2, 4C]``, in the order applied."""
    height, width, channels = shape
    return [
        tfb.Reshape([height // 2, 2, width // 2, 2, channels], event_shape_in=[height, width, channels]),
        tfb.Transpose(perm=[0, 2, 1, 3, 4]),
        tfb.Reshape([height // 2, width // 2, 4 * channels], event_shape_in=[height // 2, width // 2, 2, 2, channels]),
    ]
