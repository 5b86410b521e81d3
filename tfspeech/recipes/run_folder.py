"""The run folder the vocoder recipes share: ``checkpoint.keras`` + ``progress.json`` (written
by ``callbacks.AtomicCheckpoint``), read back to resume or to evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras

CHECKPOINT = "checkpoint.keras"
PROGRESS = "progress.json"


def restore_run(run_dir: Path, steps_per_epoch: int) -> tuple[keras.Model, int, float] | None:
    """``(model with optimizer, finished epochs, training seconds)`` of the folder's checkpoint,
    or ``None`` when it has none. Refuses another ``steps_per_epoch`` (the schedule counts epochs)."""
    checkpoint, progress = Path(run_dir) / CHECKPOINT, Path(run_dir) / PROGRESS
    if not (checkpoint.is_file() and progress.is_file()):
        return None
    state = json.loads(progress.read_text())
    if state["steps_per_epoch"] != steps_per_epoch:
        raise SystemExit(f"{run_dir} was trained with --steps-per-epoch {state['steps_per_epoch']}; "
                         "resume with the same value or use another --run-dir")
    return keras.saving.load_model(checkpoint), int(state["epochs"]), float(state["train_seconds"])


def needs_training(run_dir: Path, done: int, epochs: int, steps_per_epoch: int, evaluate: bool) -> bool:
    """Whether to train now: not for ``--evaluate`` (which needs a checkpoint) nor a finished run;
    says so when it resumes."""
    if evaluate and not done:
        raise SystemExit(f"{run_dir} has no checkpoint to evaluate; train first (the same command "
                         "without --evaluate)")
    if evaluate or done >= epochs:
        return False
    if done:
        print(f"resuming {run_dir} at step {done * steps_per_epoch}", file=sys.stderr)
    return True


def finished(run_dir: Path) -> tuple[int, float]:
    """``(finished epochs, training seconds)`` from ``progress.json``."""
    progress = json.loads((Path(run_dir) / PROGRESS).read_text())
    return int(progress["epochs"]), float(progress["train_seconds"])
