"""hmmlearn's ``tests/test_gmm_hmm.py``, run against tfspeech (see :mod:`tests.peer_suites`)."""

from tests.peer_suites.loader import run_peer_module

#: Tests set aside, by name (``Class::test`` or ``test``), with the reason.
SKIP = {}

run_peer_module(globals(), "hmmlearn", "tests/test_gmm_hmm.py", [
    ('^from hmmlearn import hmm$', 'from tests.peer_suites.adapters import hmmlearn_hmm as hmm'),
    ('^from \\. import ', 'from hmmlearn.tests import '),
])
