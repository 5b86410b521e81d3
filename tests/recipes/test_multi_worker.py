"""Multi-worker training on one machine: two worker processes on 127.0.0.1, each with its own
TF_CONFIG (gRPC on ports found free at run time), through ``tfspeech.recipes.strategy``.

The fast test trains a tiny Keras model for two steps; the slow ones run the wavenet_slt recipe
(tiny WaveNet, a corpus of tones): the same global batch and seed give one process's losses and
weights, and a worker killed with SIGKILL mid-epoch resumes, with its peer, from its last
checkpoint to the weights of a run that was never killed.
"""

import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tfspeech.audio import MelConfig, save
from tfspeech.data import layout

SMOKE = textwrap.dedent("""
    import json, sys
    import keras, numpy as np, tensorflow as tf
    from tfspeech.recipes.strategy import check_same_progress, is_chief, make_strategy, worker_path

    strategy = make_strategy("multi-worker")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x.sum(1, keepdims=True))).batch(8)  # global batch 8
    history = model.fit(data, epochs=1, verbose=0).history
    check_same_progress(strategy, 3)
    try:
        check_same_progress(strategy, 3 + is_chief(strategy))  # workers restored one checkpoint apart
        apart = None
    except RuntimeError as error:
        apart = str(error)
    print(json.dumps({"apart": apart, "replicas": strategy.num_replicas_in_sync, "chief": is_chief(strategy),
                      "path": worker_path(sys.argv[1], strategy).name, "loss": history["loss"],
                      "weights": float(sum(np.abs(w).sum() for w in model.get_weights()))}))
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker_env(ports, index):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}


def start(command, ports, index, log):
    return subprocess.Popen(command, env=worker_env(ports, index), stdout=open(log.with_suffix(".out"), "w"),
                            stderr=open(log.with_suffix(".err"), "w"))


def finish(processes, timeout):
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
    return [process.returncode for process in processes]


def test_two_workers_on_loopback_train_one_model_the_chief_being_worker_0(tmp_path):
    ports = free_ports(2)
    workers = [start([sys.executable, "-c", SMOKE, str(tmp_path / "run")], ports, i, tmp_path / f"worker{i}")
               for i in range(2)]
    codes = finish(workers, timeout=600)  # about 30 s of CPU in all; minutes under heavy load
    assert codes == [0, 0], (tmp_path / "worker0.err").read_text()[-3000:] + (tmp_path / "worker1.err").read_text()[-3000:]
    results = [json.loads((tmp_path / f"worker{i}.out").read_text().splitlines()[-1]) for i in range(2)]
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["chief"] for r in results] == [True, False]
    assert [r["path"] for r in results] == ["run", "run.worker-1"]
    assert results[0]["loss"] == results[1]["loss"] and np.isfinite(results[0]["loss"]).all()
    assert results[0]["weights"] == results[1]["weights"]  # the replicas stay in sync
    assert all("different numbers of finished epochs ([3, 4])" in r["apart"] for r in results)


# -- the wavenet_slt recipe on two workers (slow) ----------------------------------------------

RECIPE = [sys.executable, "-m", "tfspeech.recipes.wavenet_slt", "--size", "tiny", "--batch-size", "4",
          "--segment-frames", "2", "--eval-utterances", "1", "--eval-frames", "4"]


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """Noisy tones at 22,050 Hz: three for training, one held out."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    utterances = []
    for i, split in enumerate(["train", "train", "train", "test"]):
        t = np.arange(6000) / MelConfig().sample_rate
        save(root / layout.WAVS / f"tone-{i}.wav", 0.4 * np.sin(2 * np.pi * (220 + 110 * i) * t)
             + rng.normal(0, 0.02, t.size), MelConfig().sample_rate)
        utterances.append(layout.Utterance(f"tone-{i}", "a tone", "", "tones", split))
    layout.write_metadata(root / layout.METADATA, utterances)
    entries = [{"id": u.id, "speaker": u.speaker, "split": u.split,
                "sha256": hashlib.sha256(u.wav_path(root).read_bytes()).hexdigest()} for u in utterances]
    (root / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return root


def recipe(tones, run_dir, steps, steps_per_epoch, *extra):
    return [*RECIPE, "--corpus", str(tones), "--run-dir", str(run_dir), "--steps", str(steps),
            "--steps-per-epoch", str(steps_per_epoch), *extra]


def run_workers(command, tmp_path, name, timeout=900):
    ports = free_ports(2)
    workers = [start(command, ports, i, tmp_path / f"{name}{i}") for i in range(2)]
    codes = finish(workers, timeout)
    assert codes == [0, 0], "\n".join((tmp_path / f"{name}{i}.err").read_text()[-3000:] for i in range(2))


def checkpoint_weights(run_dir):
    import keras

    import tfspeech.models.wavenet  # noqa: F401  (registers the class the checkpoint names)

    return keras.saving.load_model(run_dir / "checkpoint.keras").get_weights()


def epoch_losses(run_dir):
    """Keras' per-epoch training loss, from the run's history.csv."""
    with open(run_dir / "history.csv") as rows:
        return [float(row["loss"]) for row in csv.DictReader(rows)]


def max_relative_difference(a, b):
    return max(float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-12)) for x, y in zip(a, b))


@pytest.mark.slow
def test_two_workers_give_one_process_losses_and_weights_and_the_chief_alone_saves(tones, tmp_path):
    one = tmp_path / "one"
    subprocess.run(recipe(tones, one, 6, 2, "--zoo", str(tmp_path / "zoo-one")), check=True, timeout=900,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    two = tmp_path / "two"
    run_workers(recipe(tones, two, 6, 2, "--zoo", str(tmp_path / "zoo-two"), "--strategy", "multi-worker"),
                tmp_path, "worker")

    # the same global batches and seed: one process's loss trajectory and weights
    single, distributed = epoch_losses(one), epoch_losses(two)
    assert len(single) == len(distributed) == 3
    np.testing.assert_allclose(distributed, single, rtol=1e-5)
    chief, worker = checkpoint_weights(two), checkpoint_weights(tmp_path / "two.worker-1")
    assert max_relative_difference(chief, worker) == 0.0  # each worker's checkpoint holds the same model
    # Adam divides by the root of tiny second moments: float32 sums in another order move a
    # weight by up to about 1e-4 of its tensor's largest value (9.3e-5 measured)
    assert max_relative_difference(chief, checkpoint_weights(one)) < 1e-3
    progress = [json.loads((run / "progress.json").read_text()) for run in (two, tmp_path / "two.worker-1")]
    assert [p["epochs"] for p in progress] == [3, 3] and progress[0]["loss"] == progress[1]["loss"]

    # the chief alone measures and writes the preset; the other worker only its own checkpoint
    assert (tmp_path / "zoo-two" / "wavenet-slt" / "preset.json").is_file()
    assert sorted(p.name for p in (tmp_path / "two.worker-1").iterdir()) == ["checkpoint.keras", "progress.json"]
    assert not (tmp_path / "zoo-two" / "wavenet-slt.worker-1").exists()
    assert (two / "evaluation" / "metrics.json").is_file()


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_resumes_with_its_peer_to_the_weights_of_an_unbroken_run(tones, tmp_path):
    steps, per_epoch = 100, 20  # 5 checkpoints; killed half an epoch after the second
    command = recipe(tones, tmp_path / "run", steps, per_epoch, "--strategy", "multi-worker")
    ports = free_ports(2)
    workers = [start(command, ports, i, tmp_path / f"first{i}") for i in range(2)]
    progress = tmp_path / "run.worker-1" / "progress.json"
    deadline, seen = time.monotonic() + 600, []  # (epochs, when) as each checkpoint appears
    while len(seen) < 2 and workers[1].poll() is None and time.monotonic() < deadline:
        epochs = json.loads(progress.read_text())["epochs"] if progress.is_file() else 0
        if epochs and (not seen or epochs > seen[-1][0]):
            seen.append((epochs, time.monotonic()))
        time.sleep(0.01)
    time.sleep((seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]) / 2)  # half an epoch after a checkpoint
    workers[1].send_signal(signal.SIGKILL)
    workers[1].wait()
    killed_after = json.loads(progress.read_text())["epochs"]
    assert 1 <= killed_after < steps // per_epoch, "the run ended before it could be killed mid-run"
    try:  # the peer cannot go on alone: it fails (or is stopped) and is restarted too
        workers[0].wait(120)
    except subprocess.TimeoutExpired:
        workers[0].kill()
        workers[0].wait()
    assert workers[0].returncode != 0

    workers = [start(command, ports, i, tmp_path / f"second{i}") for i in range(2)]
    assert finish(workers, 900) == [0, 0], (tmp_path / "second0.err").read_text()[-3000:]
    resumed = [int(line.split()[-1]) for i in range(2) for line in (tmp_path / f"second{i}.err").read_text().splitlines()
               if line.startswith("resuming ")]
    assert len(resumed) == 2 and resumed[0] == resumed[1] >= killed_after * per_epoch  # at most one interval lost

    # the same two workers, never killed (against one process, 100 Adam steps drift to about
    # 3e-3 by float32 sums in another order; the 6-step test above compares with one process)
    run_workers(recipe(tones, tmp_path / "unbroken", steps, per_epoch, "--strategy", "multi-worker"), tmp_path,
                "unbroken")
    final = checkpoint_weights(tmp_path / "run")
    assert max_relative_difference(final, checkpoint_weights(tmp_path / "run.worker-1")) == 0.0
    assert max_relative_difference(final, checkpoint_weights(tmp_path / "unbroken")) < 1e-5
