"""Coupling flows on vectors: NICE (additive) and RealNVP (affine), with alternating masks.

Each coupling is a ``tfb.RealNVP`` bijector: one half of the vector passes unchanged and
conditions the transformation of the other half, so the Jacobian is triangular and its
log-determinant is the sum of the log-scales. Masks alternate between couplings: coupling
``k`` keeps the first ``D // 2`` units for even ``k`` and the last ``D // 2`` for odd ``k``
(``num_masked`` positive, then negative), so every unit is transformed.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfspeech.layers.flow_layers import CouplingNetwork, soft_clamp
from tfspeech.probabilistic.flows.base import Flow

tfb = tfp.bijectors

LOG_SCALE_BOUND = 3.0  # |log-scale| per affine coupling stays below this (soft_clamp)


class _CouplingFlow(Flow):
    """Alternating couplings on vectors ``[batch, event_size]``; subclasses give the coupling's
    number of network outputs per unit and the bijector made from them."""

    num_params = 1

    def __init__(self, event_size: int, num_couplings: int = 4, hidden_units=(64, 64), logit_alpha=None, **kwargs):
        super().__init__((event_size,), logit_alpha=logit_alpha, **kwargs)
        if self.latent_size < 2:
            raise ValueError(f"event_size={event_size}: a coupling flow needs at least 2 dimensions")
        if int(num_couplings) != num_couplings or num_couplings < 1:
            raise ValueError(f"num_couplings={num_couplings!r}: must be a positive integer (use 2 or more)")
        self.num_couplings = int(num_couplings)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        masked = self.latent_size // 2
        self.networks = [
            CouplingNetwork(self.latent_size - masked, self.hidden_units, self.num_params, name=f"coupling_{k}")
            for k in range(self.num_couplings)
        ]

    def build_layers(self):
        for network in self.networks:
            network.build((None, self.latent_size // 2))

    def coupling_bijector(self, params) -> tfb.Bijector:
        """The transformation of the changing half, from the network's ``[..., units, num_params]``."""
        raise NotImplementedError

    def couplings(self) -> list[tfb.Bijector]:
        """The couplings in the order the forward (sampling) direction applies them."""
        masked = self.latent_size // 2
        return [
            tfb.RealNVP(
                num_masked=masked if k % 2 == 0 else -masked,
                bijector_fn=lambda x0, _units, network=network: self.coupling_bijector(network(x0)),
                is_constant_jacobian=self.num_params == 1,
                name=f"coupling_{k}",
            )
            for k, network in enumerate(self.networks)
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "event_size": self.latent_size,
            "num_couplings": self.num_couplings,
            "hidden_units": list(self.hidden_units),
        }


@keras.saving.register_keras_serializable(package="tfspeech")
class NICE(_CouplingFlow):
    """NICE (Dinh et al. 2014): additive couplings ``x_b = z_b + t(z_a)`` (volume preserving),
    then NICE's learned diagonal scaling ``exp(log_scale)``, the only term in the log-det.

    Sampling direction: ``x = couplings(exp(log_scale) ⊙ z)``.
    """

    num_params = 1

    def build_layers(self):
        super().build_layers()
        self.log_scale = self.add_weight(name="log_scale", shape=(self.latent_size,), initializer="zeros")

    def coupling_bijector(self, params):
        return tfb.Shift(params[..., 0])

    def flow_bijector(self, training=False):
        # ScaleMatvecDiag, not Scale: Scale's log-det on a vector event goes through tfp's
        # reduction over a dynamic shape, which the TFLite converter (TF 2.21) gets wrong
        # (it returns the first element, not the sum).
        steps = [tfb.ScaleMatvecDiag(tf.exp(self.log_scale))] + self.couplings()
        return tfb.Chain(steps[::-1], name="nice")


@keras.saving.register_keras_serializable(package="tfspeech")
class RealNVP(_CouplingFlow):
    """RealNVP (Dinh et al. 2016) on vectors: affine couplings ``x_b = z_b ⊙ exp(s(z_a)) + t(z_a)``
    with ``s`` soft-clamped to ``(-3, 3)``. The paper's batch normalization between
    couplings is left out: its running statistics would make ``log p`` depend on the batch
    in training and on state in inference; the couplings start at the identity instead."""

    num_params = 2

    def coupling_bijector(self, params):
        shift, log_scale = params[..., 0], soft_clamp(params[..., 1], LOG_SCALE_BOUND)
        return tfb.Chain([tfb.Shift(shift), tfb.Scale(log_scale=log_scale)], name="affine")

    def flow_bijector(self, training=False):
        return tfb.Chain(self.couplings()[::-1], name="real_nvp")
