"""The estimators the peers' tests import, swapped for tfspeech's.

``hmmlearn_hmm`` stands in for ``hmmlearn.hmm``: tfspeech's GaussianHMM, CategoricalHMM and
GMMHMM, each also taking hmmlearn's ``implementation=`` keyword (``"log"`` or ``"scaling"``,
which picks hmmlearn's forward-backward; tfspeech has one exact implementation with its own
fallback, so the keyword is accepted, kept as a parameter and otherwise ignored).
``sklearn_mixture`` stands in for ``sklearn.mixture``: tfspeech's GaussianMixture as it is.

The peers' small fits run tfspeech's numpy passes (``jit_compile=None`` picks them for small
work); ``TFSPEECH_PEER_JIT_COMPILE=1`` runs the HMM suites with ``jit_compile=True`` (XLA).
"""

import inspect
import os
import types

from tfspeech import probabilistic


def _with_implementation(estimator):
    """A subclass of ``estimator`` whose constructor also takes ``implementation="log"``."""
    signature = inspect.signature(estimator.__init__)
    parameter = inspect.Parameter("implementation", inspect.Parameter.KEYWORD_ONLY, default="log")
    parameters = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]

    def __init__(self, *args, implementation="log", **kwargs):
        if os.environ.get("TFSPEECH_PEER_JIT_COMPILE") == "1":
            kwargs.setdefault("jit_compile", True)
        estimator.__init__(self, *args, **kwargs)
        self.implementation = implementation

    __init__.__signature__ = signature.replace(parameters=parameters + [parameter])
    return type(estimator.__name__, (estimator,), {"__init__": __init__, "__module__": __name__})


hmmlearn_hmm = types.ModuleType("hmmlearn_hmm", "tfspeech's HMMs in place of hmmlearn.hmm")
hmmlearn_hmm.GaussianHMM = _with_implementation(probabilistic.GaussianHMM)
hmmlearn_hmm.CategoricalHMM = _with_implementation(probabilistic.CategoricalHMM)
hmmlearn_hmm.GMMHMM = _with_implementation(probabilistic.GMMHMM)

sklearn_mixture = types.ModuleType("sklearn_mixture", "tfspeech's GaussianMixture in place of sklearn.mixture")
sklearn_mixture.GaussianMixture = probabilistic.GaussianMixture
