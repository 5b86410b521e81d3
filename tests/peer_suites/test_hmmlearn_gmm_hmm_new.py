"""hmmlearn's ``tests/test_gmm_hmm_new.py``, run against tfspeech (see :mod:`tests.peer_suites`)."""

from tests.peer_suites.loader import run_peer_module

#: Tests set aside, by name (``Class::test`` or ``test``), with the reason.
SKIP = {}

run_peer_module(globals(), "hmmlearn", "tests/test_gmm_hmm_new.py", [
    ('^from \\.\\.hmm import GMMHMM$', 'from tests.peer_suites.adapters import hmmlearn_hmm\nGMMHMM = hmmlearn_hmm.GMMHMM'),
    ('^from \\.test_gmm_hmm import ', 'from hmmlearn.tests.test_gmm_hmm import '),
    ('^from \\. import ', 'from hmmlearn.tests import '),
])
