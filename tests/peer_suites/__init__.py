"""scikit-learn's and hmmlearn's own test suites, run against tfspeech.probabilistic.

Each ``test_<peer>_<file>.py`` here is a thin module: it reads one test file from the
installed peer package (scikit-learn's wheel ships ``sklearn/mixture/tests``, hmmlearn's
ships ``hmmlearn/tests``), swaps the import of the estimator under test for an adapter
(:mod:`.adapters`), and executes it in its own namespace, so pytest collects the peer's tests
unchanged. Tests that exercise a peer's private helpers (not a public API a user could switch
from) or where tfspeech deliberately differs are skipped with the reason next to the name
(``SKIP``). All are marked ``slow``: run them with

    .venv/bin/python -m pytest tests/peer_suites -m slow -q      # also part of `make test-slow`
"""
