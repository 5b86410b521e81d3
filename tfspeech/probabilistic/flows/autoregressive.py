"""Autoregressive flows: MAF (fast density, slow sampling) and IAF (the reverse).

Both stack ``tfb.MaskedAutoregressiveFlow`` layers whose shift and log-scale come from a
MADE (:class:`~tfspeech.layers.flow_layers.MaskedAutoregressiveNetwork`), with the order
of the dimensions reversed (``tfb.Permute``) between layers.

* MAF (Papamakarios et al. 2017): ``x_i = z_i · exp(s_i(x_<i)) + t_i(x_<i)``. The
  density needs ``z = f⁻¹(x)``: one network pass. Sampling needs ``x`` from ``z``: ``x_i``
  waits for ``x_<i``, ``D`` passes (tfp runs them in a ``tf.while_loop``).
* IAF (Kingma et al. 2016): ``tfb.Invert`` of the same layer, ``x_i = z_i · exp(s_i(z_<i)) +
  t_i(z_<i)``. Sampling is one pass; the density needs ``z`` from ``x``: ``D`` passes.
"""

import keras
import tensorflow_probability as tfp

from tfspeech.layers.flow_layers import MaskedAutoregressiveNetwork, soft_clamp
from tfspeech.probabilistic.flows.base import Flow

tfb = tfp.bijectors

LOG_SCALE_BOUND = 3.0  # |log-scale| per layer stays below this (soft_clamp)


class _AutoregressiveFlow(Flow):
    """Stacked masked autoregressive layers on vectors ``[batch, event_size]``."""

    def __init__(self, event_size: int, num_layers: int = 4, hidden_units=(64, 64), logit_alpha=None, **kwargs):
        super().__init__((event_size,), logit_alpha=logit_alpha, **kwargs)
        if int(num_layers) != num_layers or num_layers < 1:
            raise ValueError(f"num_layers={num_layers!r}: must be a positive integer")
        self.num_layers = int(num_layers)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.networks = [
            MaskedAutoregressiveNetwork(self.latent_size, self.hidden_units, num_params=2, name=f"made_{k}")
            for k in range(self.num_layers)
        ]

    def build_layers(self):
        for network in self.networks:
            network.build((None, self.latent_size))

    def autoregressive_layer(self, network) -> tfb.Bijector:
        """One layer in the forward (sampling) direction."""
        raise NotImplementedError

    def flow_bijector(self, training=False):
        reverse = tfb.Permute(list(range(self.latent_size))[::-1], name="reverse")
        steps = []
        for k, network in enumerate(self.networks):
            steps += [reverse] if k else []
            steps.append(self.autoregressive_layer(network))
        return tfb.Chain(steps[::-1], name=type(self).__name__.lower())

    @staticmethod
    def masked_autoregressive_flow(network) -> tfb.MaskedAutoregressiveFlow:
        """``y = x · exp(s(y)) + t(y)``, the shift and soft-clamped log-scale from ``network``."""

        def shift_and_log_scale(y):
            params = network(y)
            return params[..., 0], soft_clamp(params[..., 1], LOG_SCALE_BOUND)

        return tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale, name="made_layer")

    def get_config(self):
        return {
            **super().get_config(),
            "event_size": self.latent_size,
            "num_layers": self.num_layers,
            "hidden_units": list(self.hidden_units),
        }


@keras.saving.register_keras_serializable(package="tfspeech")
class MAF(_AutoregressiveFlow):
    """Masked autoregressive flow: density in one pass per layer, sampling in ``D``."""

    def autoregressive_layer(self, network):
        return self.masked_autoregressive_flow(network)


@keras.saving.register_keras_serializable(package="tfspeech")
class IAF(_AutoregressiveFlow):
    """Inverse autoregressive flow: sampling in one pass per layer, density in ``D``."""

    def autoregressive_layer(self, network):
        return tfb.Invert(self.masked_autoregressive_flow(network))
