"""Shared test settings: quiet TensorFlow logs, a private numba cache."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# librosa's numba functions cache their machine code next to librosa in the venv; a cache file
# written by concurrent processes was seen corrupt there, and loading it segfaulted a later run
# (test_voices). Each test session (and the processes it starts) compiles into its own folder.
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="tfspeech-numba-"))
