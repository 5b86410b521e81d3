"""Execute a peer's test file against tfspeech: read it from the installed package, rewrite its
imports, run it in the calling module's namespace."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest


def peer_file(package, relative_path):
    """Path of ``relative_path`` inside the installed ``package`` (e.g. ``"sklearn"``)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed; `pip install -e '.[test]'` installs it.")
    path = Path(next(iter(spec.submodule_search_locations))) / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not in the installed {package} (a wheel without tests?).")
    return path


def run_peer_module(namespace, package, relative_path, replacements):
    """Execute the peer's file in ``namespace`` (a test module's ``globals()``).

    ``replacements``: ``(regex, replacement)`` pairs applied line by line to the import lines
    (each must match at least once, so a new peer version that moves an import fails loudly
    instead of silently testing the peer against itself).
    """
    try:
        path = peer_file(package, relative_path)
    except (ImportError, FileNotFoundError) as error:  # the default suite still collects
        pytest.skip(str(error), allow_module_level=True)
    source = path.read_text()
    for pattern, replacement in replacements:
        source, count = re.subn(pattern, replacement, source, flags=re.MULTILINE)
        if count == 0:
            raise RuntimeError(f"{path}: no line matches {pattern!r}; update the adapter for this "
                               f"{package} version.")
    errors = np.geterr()  # hmmlearn's tests/__init__ sets np.seterr(all="warn") for everyone
    try:
        exec(compile(source, str(path), "exec"), namespace)
    finally:
        np.seterr(**errors)
    namespace["__peer_file__"] = str(path)
