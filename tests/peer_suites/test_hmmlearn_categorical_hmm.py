"""hmmlearn's ``tests/test_categorical_hmm.py``, run against tfspeech (see :mod:`tests.peer_suites`)."""

from tests.peer_suites.loader import run_peer_module

#: Tests set aside, by name (``Class::test`` or ``test``), with the reason.
SKIP = {
    'TestCategoricalHMM::test__check_and_set_categorical_n_features': (
        "calls hmmlearn's private _check_and_set_n_features; fit's own checks of the symbols (integers, non-negative, below n_features) are in tests/probabilistic/test_hmm.py"),
}

run_peer_module(globals(), "hmmlearn", "tests/test_categorical_hmm.py", [
    ('^from hmmlearn import hmm$', 'from tests.peer_suites.adapters import hmmlearn_hmm as hmm'),
    ('^from \\. import ', 'from hmmlearn.tests import '),
])
