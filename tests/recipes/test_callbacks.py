"""TrainingClock: wall time adds up over runs; a time limit stops training and names the resume command.
The late-decay schedule; AtomicBackupAndRestore resumes, and a save that fails half-way keeps the old backup."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tfspeech.recipes.callbacks import AtomicBackupAndRestore, LateExponentialDecay, TrainingClock, late_decay


def _fit(clock, epochs):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=epochs, callbacks=[clock], verbose=0)


def test_time_limit_stops_and_timing_accumulates(tmp_path, capsys):
    path = tmp_path / "timing.json"
    history = _fit(TrainingClock(path, max_minutes=0, resume_command="python -m my.recipe"), epochs=5)
    assert len(history.history["loss"]) == 1
    assert "run `python -m my.recipe` again" in capsys.readouterr().out
    first = json.loads(path.read_text())["train_s"]
    _fit(TrainingClock(path, max_minutes=None, resume_command="x"), epochs=3)
    assert json.loads(path.read_text())["train_s"] > first > 0


def test_late_decay_holds_then_reaches_the_final_ratio():
    schedule = LateExponentialDecay(1e-3, total_steps=1000, steps_per_epoch=100, start=0.6, final_ratio=0.1)
    rates = [schedule(epoch) for epoch in range(11)]
    assert rates[:7] == [1e-3] * 7  # steps 0 .. 600
    assert np.all(np.diff(rates[6:]) < 0)
    np.testing.assert_allclose(rates[8], 1e-3 * 0.1 ** 0.5)  # halfway through the decay, in log scale
    np.testing.assert_allclose(rates[10], 1e-4)
    assert schedule(50) == rates[10]  # past the end: held at the final rate


def test_late_decay_resumed_run_follows_the_unbroken_schedule(tmp_path):
    def fit(epochs, backup):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        callbacks = [late_decay(1e-2, total_steps=12, steps_per_epoch=2, start=0.5)]
        if backup:
            callbacks.append(keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False))
        history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, epochs=epochs, callbacks=callbacks,
                            verbose=0)
        return history.history["learning_rate"], float(model.optimizer.learning_rate.numpy())

    unbroken, final = fit(6, backup=False)
    first, _ = fit(3, backup=True)
    resumed, resumed_final = fit(6, backup=True)  # restores after epoch 3, runs epochs 4..6
    np.testing.assert_allclose(first + resumed, unbroken)
    np.testing.assert_allclose(resumed_final, final)
    np.testing.assert_allclose(unbroken[-1], 1e-2 * 0.1 ** (4 / 6), rtol=1e-6)


def test_late_decay_refuses_bad_fractions():
    with pytest.raises(ValueError, match="fraction"):
        LateExponentialDecay(1e-3, total_steps=10, steps_per_epoch=1, start=1.0)
    with pytest.raises(ValueError, match="final_ratio"):
        LateExponentialDecay(1e-3, total_steps=10, steps_per_epoch=1, final_ratio=0.0)


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_atomic_backup_resumes_where_the_run_stopped_like_keras_own(tmp_path):
    def fit(epochs, stop_at=None):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        callbacks = [AtomicBackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)]
        callbacks += [_StopAt(stop_at)] * (stop_at is not None)
        keras.utils.set_random_seed(0)
        try:
            history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, epochs=epochs, shuffle=False,
                                callbacks=callbacks, verbose=0)
        except KeyboardInterrupt:
            return None, model
        return history.history["loss"], model

    fit(5, stop_at=3)
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 3
    resumed, model = fit(5)
    assert len(resumed) == 2 and int(model.optimizer.iterations.numpy()) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup"]


def test_a_backup_save_that_fails_half_way_keeps_the_previous_backup(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup = AtomicBackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, callbacks=[backup], verbose=0)
    before = {p.name: p.read_bytes() for p in (tmp_path / "backup").iterdir()}

    def write_half_then_fail(self, filepath, **kwargs):
        Path(filepath).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save_weights", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=4, callbacks=[backup], verbose=0)
    assert {p.name: p.read_bytes() for p in (tmp_path / "backup").iterdir()} == before
    assert json.loads(before["training_metadata.json"])["epoch"] == 2
