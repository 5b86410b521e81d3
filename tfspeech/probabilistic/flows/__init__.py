"""Normalizing flows as Keras models trained by maximum likelihood with ``fit``.

Each flow is a ``tfp.bijectors`` transformation of a standard normal wrapped in a
:class:`~tfspeech.probabilistic.flows.base.Flow` (``model(x)``: log-density in nats;
``log_prob``, ``sample``, ``bijector()``, ``distribution()``, export signatures):

* :class:`NICE`, :class:`RealNVP`: coupling flows on vectors (``coupling``);
* :class:`Glow`: multi-scale actnorm / 1x1 conv / coupling flow on images (``glow``);
* :class:`MAF`, :class:`IAF`: masked autoregressive flows (``autoregressive``).
"""

from tfspeech.probabilistic.flows.autoregressive import IAF, MAF
from tfspeech.probabilistic.flows.base import Flow
from tfspeech.probabilistic.flows.coupling import NICE, RealNVP
from tfspeech.probabilistic.flows.glow import Glow

__all__ = ["Flow", "NICE", "RealNVP", "Glow", "MAF", "IAF"]
