"""hmmlearn's ``tests/test_gmm_hmm_new.py``, run against tfspeech (see :mod:`tests.peer_suites`)."""

from tests.peer_suites.loader import run_peer_module

#: Tests set aside, by name (``Class::test`` or ``test``), with the reason.
SKIP = {
    'TestGMMHMM_MultiSequence::test_chunked[full]': (
        "deliberate difference, the peer's tolerance: the test compares a fit of 1x1000 frames with one of 5x200 (two different likelihoods) after 10 unconverged EM iterations at atol=1e-3. tfspeech's covariance update uses the scatter about the updated means (the exact M-step); with hmmlearn's update about the previous means tfspeech reproduces hmmlearn's fits to 1e-4 nats and differs by 8.8e-4 here, as hmmlearn; the exact update differs by 1.8e-3"),
}

run_peer_module(globals(), "hmmlearn", "tests/test_gmm_hmm_new.py", [
    ('^from \\.\\.hmm import GMMHMM$', 'from tests.peer_suites.adapters import hmmlearn_hmm\nGMMHMM = hmmlearn_hmm.GMMHMM'),
    ('^from \\.test_gmm_hmm import ', 'from hmmlearn.tests.test_gmm_hmm import '),
    ('^from \\. import ', 'from hmmlearn.tests import '),
])
