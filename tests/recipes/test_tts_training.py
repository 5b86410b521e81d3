"""The TTS recipes end to end on a 10-sentence slt corpus: a few steps, a kill, a resume (slow)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.voices import require_voice
from tfspeech.data.corpus import build_corpus
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import tacotron_slt, tts_training

pytestmark = pytest.mark.slow
VOICE = "festival:cmu_us_slt_arctic_hts"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    require_voice(VOICE)
    return build_corpus([VOICE], n=10, out_dir=tmp_path_factory.mktemp("slt10"), progress=False)


def _tags(log_dir: Path) -> set[str]:
    tags = set()
    for path in log_dir.rglob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_killed_run_resumes_from_its_last_checkpoint(corpus, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tfspeech.recipes.tacotron2_slt", "--corpus", str(corpus), "--out", str(out),
               "--steps", "6", "--checkpoint-every", "2", "--batch-size", "4"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = out / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 900
    while not metadata.is_file() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert metadata.is_file(), "no checkpoint was written before the deadline"
    done_epochs = json.loads(metadata.read_text())["epoch"]
    assert 1 <= done_epochs < 3

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"Epoch {done_epochs + 1}/3" in second.stdout and "Epoch 1/3" not in second.stdout
    record = json.loads((out / "training.json").read_text())
    assert record["steps"] == 6 and record["data"]["fingerprint"] == tts_training.corpus_fingerprint(corpus)
    tags = _tags(out / "logs")
    assert {"alignment", "mels"} <= tags and any("mel_loss" in tag for tag in tags), tags

    model = keras.saving.load_model(out / "model.keras")
    assert isinstance(model, Tacotron2)
    result = model.infer(np.array([[20, 21, 22, 1]], np.int32), max_frames=12)
    assert result["mels"].shape[1] <= 12 and np.isfinite(result["mels"].numpy()).all()


def test_tacotron_recipe_trains_on_linear_targets(corpus, tmp_path):
    model = tts_training.train(tacotron_slt.RECIPE, corpus, tmp_path, steps=2, batch_size=4, checkpoint_every=2,
                               verbose=0)
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["steps"] == 2 and np.isfinite(record["logs"]["linear_loss"])
    assert model.get_config() == keras.saving.load_model(tmp_path / "model.keras").get_config()
