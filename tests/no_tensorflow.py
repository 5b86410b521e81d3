"""Run an export/ script the way a device does: in a fresh process that must never import TensorFlow."""

import subprocess
import sys
from pathlib import Path


def run_without_tensorflow(script: Path, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs ``script args...`` as ``__main__`` in a new interpreter; the process fails if
    ``tensorflow`` is in ``sys.modules`` when the script ends."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{Path(script).name!r}, *{[str(a) for a in args]!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        "sys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout)


def import_runner(name: str):
    """The module ``export/<name>.py``, imported the way a device imports it (its folder on the path)."""
    import importlib

    folder = str(Path(__file__).resolve().parent.parent / "export")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)
