"""TrainingClock: wall time adds up over runs; a time limit stops training and names the resume command."""

import json

import keras
import numpy as np

from tfspeech.recipes.callbacks import TrainingClock


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
