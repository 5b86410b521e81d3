"""Keras callbacks the recipes share."""

import json
import os
import time
from pathlib import Path

import keras
from tqdm import tqdm

from tfspeech import atomic


class LateExponentialDecay:
    """Learning rate per epoch: ``initial`` until ``start`` (a fraction of ``total_steps``),
    then exponential decay to ``final_ratio * initial`` at ``total_steps``.

    A function of the epoch index alone (epochs of ``steps_per_epoch`` steps, the rate held
    for each epoch), so a run resumed from any checkpoint follows the same schedule as an
    unbroken one. Use it through :func:`late_decay`.
    """

    def __init__(self, initial: float, *, total_steps: int, steps_per_epoch: int, start: float = 0.6,
                 final_ratio: float = 0.1):
        if not 0.0 <= start < 1.0:
            raise ValueError(f"the decay starts at a fraction of the run in [0, 1), got {start}")
        if not 0.0 < final_ratio <= 1.0:
            raise ValueError(f"final_ratio must be in (0, 1], got {final_ratio}")
        self.initial, self.final_ratio = float(initial), float(final_ratio)
        self.steps_per_epoch = int(steps_per_epoch)
        self.start_step, self.total_steps = start * total_steps, int(total_steps)

    def __call__(self, epoch: int, learning_rate=None) -> float:
        step = epoch * self.steps_per_epoch
        progress = max(0.0, step - self.start_step) / max(1.0, self.total_steps - self.start_step)
        return self.initial * self.final_ratio ** min(progress, 1.0)


def late_decay(initial: float, *, total_steps: int, steps_per_epoch: int, start: float = 0.6,
               final_ratio: float = 0.1) -> keras.callbacks.LearningRateScheduler:
    """The callback that sets the optimizer's rate from :class:`LateExponentialDecay` at the
    start of every epoch (and logs it as ``learning_rate``)."""
    return keras.callbacks.LearningRateScheduler(LateExponentialDecay(
        initial, total_steps=total_steps, steps_per_epoch=steps_per_epoch, start=start, final_ratio=final_ratio))


class TrainingClock(keras.callbacks.Callback):
    """Adds each epoch's wall time to ``timing.json`` (over resumed runs too) and stops
    training after ``max_minutes`` of this run; the message names ``resume_command``."""

    def __init__(self, path: Path, max_minutes: float | None, resume_command: str):
        super().__init__()
        self.path, self.max_minutes, self.resume_command = Path(path), max_minutes, resume_command

    def on_train_begin(self, logs=None):
        self.start = self.epoch_start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        timing = json.loads(self.path.read_text()) if self.path.is_file() else {"train_s": 0.0}
        timing["train_s"] += time.monotonic() - self.epoch_start
        self.path.write_text(json.dumps(timing) + "\n")
        if self.max_minutes is not None and time.monotonic() - self.start > 60 * self.max_minutes:
            print(f"\ntime limit of {self.max_minutes:g} minutes reached after epoch {epoch + 1}; "
                  f"run `{self.resume_command}` again to resume", flush=True)
            self.model.stop_training = True


class AtomicCheckpoint(keras.callbacks.Callback):
    """After every epoch: ``checkpoint`` (model and optimizer, ``.keras``) then ``progress``
    (JSON: finished epochs, training seconds over all runs so far, the epoch's logs), each
    written to a temporary file and renamed, so a kill at any moment leaves a consistent pair."""

    def __init__(self, run_dir: Path, steps_per_epoch: int, previous_seconds: float,
                 checkpoint: str = "checkpoint.keras", progress: str = "progress.json"):
        super().__init__()
        self.run_dir, self.steps_per_epoch = Path(run_dir), steps_per_epoch
        self.checkpoint, self.progress = checkpoint, progress
        self.started = time.perf_counter() - previous_seconds

    def on_epoch_end(self, epoch, logs=None):
        partial = self.run_dir / f".partial-{self.checkpoint}"
        self.model.save(partial)
        os.replace(partial, self.run_dir / self.checkpoint)
        state = {
            "epochs": epoch + 1,
            "steps_per_epoch": self.steps_per_epoch,
            "loss": float(logs["loss"]),
            "logs": {name: float(value) for name, value in (logs or {}).items()},
            "train_seconds": round(time.perf_counter() - self.started, 1),
        }
        partial = self.run_dir / f".partial-{self.progress}"
        partial.write_text(json.dumps(state) + "\n")
        os.replace(partial, self.run_dir / self.progress)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` whose backup folder (weights with the optimizer's
    state, and the epoch) is written whole and swapped in (``tfspeech.atomic``): a kill while it
    saves leaves the previous backup, never new weights beside an older epoch."""

    def on_train_begin(self, logs=None):
        atomic.recover(self.backup_dir)
        super().on_train_begin(logs)

    def _save_model(self):
        with atomic.folder(self.backup_dir) as partial:
            self.model.save_weights(partial / Path(self._weights_path).name)
            (partial / Path(self._training_metadata_path).name).write_text(
                json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))


class TqdmProgress(keras.callbacks.Callback):
    """A tqdm bar over all training steps, showing the latest loss."""

    def __init__(self, total: int, initial: int):
        super().__init__()
        self.bar = tqdm(total=total, initial=initial, desc="training", unit="step")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{logs['loss']:.3f}")

    def on_train_end(self, logs=None):
        self.bar.close()
