"""Files and folders written whole: build a temporary sibling, then put it in place in one step.

A reader (or a process started after a kill at any moment) finds the old folder or the new
one, never a mix. On Linux the swap is ``renameat2(RENAME_EXCHANGE)``, one atomic step; where
that is missing, the old folder is renamed aside first and :func:`recover` (which every
:func:`folder` calls) brings it back if a kill fell between the two renames.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import uuid
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@contextlib.contextmanager
def folder(final):
    """``with folder(path) as partial:`` write into ``partial``; on a clean exit it replaces
    ``path`` (created or swapped in whole); on an exception ``path`` is left as it was."""
    final = Path(final)
    recover(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.partial-*"):
        if not _alive(stale.name.rsplit("-", 2)[-2]):  # its writer was killed
            shutil.rmtree(stale, ignore_errors=True)
    partial = final.with_name(f".{final.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    partial.mkdir()
    try:
        yield partial
        _sync_files(partial)
        replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def write_file(path, data) -> None:
    """Writes ``data`` (bytes or str) to ``path`` whole: a flushed temporary sibling, renamed over it."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(partial, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def replace(partial: Path, final: Path) -> None:
    """Puts the folder ``partial`` at ``final`` in one step; ``partial`` then holds the old
    folder (or is gone when there was none)."""
    if not final.exists():
        os.rename(partial, final)
    elif not _exchange(partial, final):
        aside = _aside(final)
        os.rename(final, aside)
        os.rename(partial, final)
        os.rename(aside, partial)
    _sync_folder(final.parent)


def recover(final) -> None:
    """Brings back the old folder if a kill fell between the two renames of the fallback swap."""
    final = Path(final)
    aside = _aside(final)
    if aside.exists():
        if final.exists():
            shutil.rmtree(aside)
        else:
            os.rename(aside, final)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True


def _aside(final: Path) -> Path:
    return final.with_name(f".{final.name}.old")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths (Linux ``renameat2``); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _sync_files(path: Path) -> None:
    """Flushes the files under ``path`` to disk, so the rename never publishes unwritten data."""
    for item in path.rglob("*"):
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
    _sync_folder(path)


def _sync_folder(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
