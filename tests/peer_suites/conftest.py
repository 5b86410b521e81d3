"""Settings of the peers' own test runs: their seeds and fixtures, the ``slow`` marker, the skips."""

import os
import random
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent


def pytest_ignore_collect(collection_path, config):
    """Not even collected when the mark expression deselects ``slow`` tests (the default suite's
    ``-m "not slow"``): collecting executes the peers' files, ≈ 10 s of imports, and a peer version
    whose files moved would be a collection error in every run instead of in the peer run."""
    from _pytest.mark.expression import Expression

    markexpr = config.getoption("markexpr", "")
    if collection_path.name.startswith("test_") and markexpr:
        if not Expression.compile(markexpr).evaluate(lambda name, **kwargs: name == "slow"):
            return True
    return None


def pytest_collection_modifyitems(config, items):
    """Every peer test is ``slow``; those a module's ``SKIP`` names (``Class::test``, ``test``, or
    either with its parameter id, ``test[full]``) are skipped with the reason given there."""
    for item in items:
        if HERE not in Path(item.fspath).parents:
            continue
        item.add_marker(pytest.mark.slow)
        skips = getattr(item.module, "SKIP", {})
        name = item.originalname if item.cls is None else f"{item.cls.__name__}::{item.originalname}"
        names = [name, item.originalname]
        if hasattr(item, "callspec"):
            names = [f"{n}[{item.callspec.id}]" for n in names] + names
        reason = next((skips[n] for n in names if n in skips), None)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _peer_seed():
    """hmmlearn seeds numpy's and Python's global generators once per run (``HMMLEARN_SEED``,
    random by default); here once per test, 0 by default, so a test's outcome does not depend
    on which tests ran before it."""
    seed = int(os.environ.get("HMMLEARN_SEED", 0))
    np.random.seed(seed)
    random.seed(seed)


# scikit-learn's conftest fixtures the mixture tests use, with its defaults.

@pytest.fixture(params=[np.float64] + ([np.float32] if os.environ.get("SKLEARN_RUN_FLOAT32_TESTS") == "1" else []))
def global_dtype(request):
    return request.param


@pytest.fixture
def global_random_seed():
    return int(os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", 42))
