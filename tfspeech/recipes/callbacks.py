"""Keras callbacks the recipes share."""

import json
import time
from pathlib import Path

import keras


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
