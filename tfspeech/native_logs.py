"""Keeps TensorFlow's C++ log lines off a command's terminal.

TensorFlow 2.21 logs through absl before ``absl::InitializeLog()`` runs, so
``TF_CPP_MIN_LOG_LEVEL`` no longer silences it: every process that imports it prints
lines such as ``I0000 00:00:… port.cc:153] oneDNN custom operations are on…`` and, at
error level, ``E0000 … failed call to cuInit…`` on file descriptor 2, below Python.

``filtered_stderr()`` points descriptor 2 at a pipe whose reader thread drops those
lines and forwards everything else (a subprocess's error, a crash message) to the real
stderr; Python's own ``sys.stderr`` (tracebacks, progress bars, our messages) writes to
the real stderr directly. Only the ``tfspeech`` command uses it: a library that imports
tfspeech keeps TensorFlow's own defaults. Pure Python, no TensorFlow import.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import Iterator

# absl/glog line header: severity, MMDD, time, thread id, file:line]
NATIVE_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./+-]+:\d+\]")
_BANNERS = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",
    "INFO: Created TensorFlow Lite",  # LiteRT's delegate notice
    "fully_quantize: ",  # the TFLite quantizer's settings dump
)


def is_native_log(line: str, previous_dropped: bool = False) -> bool:
    """True for a TensorFlow C++ log line, its absl banner, or an indented continuation
    (and MLIR ``loc(...)`` dump) right after a dropped line."""
    if NATIVE_LOG_LINE.match(line) or line.startswith(_BANNERS):
        return True
    return previous_dropped and (line[:1] in (" ", "\t") or line.startswith("loc("))


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Within the block, native writes to descriptor 2 lose their TensorFlow log lines."""
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
        original = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr, or a captured one (a test): leave it be
        yield
        return
    if not python_on_fd2:
        os.close(original)
        yield
        return
    read_end, write_end = os.pipe()
    python_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(original), "wb", buffering=0),
                                  encoding=getattr(python_stderr, "encoding", None) or "utf-8",
                                  errors="backslashreplace", line_buffering=True)
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_forward, args=(read_end, original), daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last writer here: the reader sees its end
        reader.join(timeout=2)
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(original)


def _forward(read_end: int, target: int) -> None:
    dropped = False
    with os.fdopen(read_end, "rb") as pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "replace")
            dropped = is_native_log(line, dropped)
            if not dropped:
                os.write(target, raw)
