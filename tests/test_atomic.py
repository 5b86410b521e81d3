"""tfspeech.atomic and zoo.save_preset under SIGKILL: a child process is killed at each point of a
write, and the folder it was replacing is then the old one or the new one, never a mix."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfspeech import atomic, zoo

# Each child writes folder "out" (old: a.txt = "old", b.txt = "old") anew with "new" in both,
# and SIGKILLs itself when it reaches the named point.
KILL_POINTS = ("first_file", "second_file", "before_swap", "after_swap", "between_fallback_renames")
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from tfspeech import atomic

    point, final = sys.argv[1], Path(sys.argv[2])
    def die(here):
        if here == point:
            os.kill(os.getpid(), signal.SIGKILL)
    if point == "between_fallback_renames":
        atomic._exchange = lambda a, b: False
        rename = os.rename
        def rename_then_die(source, target):
            rename(source, target)
            if Path(source) == final:
                die(point)
        atomic.os.rename = rename_then_die
    replace = atomic.replace
    def replace_and_die(partial, target):
        die("before_swap")
        replace(partial, target)
        die("after_swap")
    atomic.replace = replace_and_die
    with atomic.folder(final) as partial:
        (partial / "a.txt").write_text("new")
        die("first_file")
        (partial / "b.txt").write_text("new")
        die("second_file")
    print("done")
""")


def _contents(folder):
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def _old_folder(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    for name in ("a.txt", "b.txt"):
        (final / name).write_text("old")
    return final


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_at_any_point_leaves_the_old_folder_or_the_new_one(point, tmp_path):
    final = _old_folder(tmp_path)
    child = subprocess.run([sys.executable, "-c", CHILD, point, str(final)], capture_output=True, text=True,
                           timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    atomic.recover(final)  # what the next writer does first
    expected = {"after_swap": "new"}.get(point, "old")
    assert _contents(final) == {"a.txt": expected, "b.txt": expected}

    with atomic.folder(final) as partial:  # the next write succeeds and clears the killed writer's leftovers
        (partial / "a.txt").write_text("next")
    assert _contents(final) == {"a.txt": "next"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_an_exception_leaves_the_folder_as_it_was(tmp_path):
    final = _old_folder(tmp_path)
    with pytest.raises(RuntimeError, match="half-way"):
        with atomic.folder(final) as partial:
            (partial / "a.txt").write_text("new")
            raise RuntimeError("half-way")
    assert _contents(final) == {"a.txt": "old", "b.txt": "old"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    atomic.write_file(path, b"old")
    atomic.write_file(path, "new")
    assert path.read_bytes() == b"new"
    monkeypatch.setattr(atomic.os, "fsync", lambda descriptor: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        atomic.write_file(path, b"half")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_a_new_folder_is_created_whole(tmp_path):
    with atomic.folder(tmp_path / "deep" / "out") as partial:
        (partial / "a.txt").write_text("new")
    assert _contents(tmp_path / "deep" / "out") == {"a.txt": "new"}


# save_preset in a child that SIGKILLs itself at a point of the save: after writing the weights,
# after preset.json, or in the swap.
PRESET_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from tfspeech import atomic, zoo
    from tfspeech.probabilistic.gmm import GaussianMixtureDensity

    point, root, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def die(here):
        if here == point:
            os.kill(os.getpid(), signal.SIGKILL)
    write_text = zoo.Path.write_text
    def write_and_die(path, *args, **kwargs):
        result = write_text(path, *args, **kwargs)
        die(path.name)
        return result
    zoo.Path.write_text = write_and_die
    save_weights = zoo._without_optimizer
    def weights_then_die(model):
        inner = save_weights(model)
        class Saver:
            def save_weights(self, path):
                inner.save_weights(path)
                die("weights")
        return Saver()
    zoo._without_optimizer = weights_then_die
    replace = atomic.replace
    def replace_and_die(partial, target):
        die("before_swap")
        replace(partial, target)
        die("after_swap")
    atomic.replace = replace_and_die
    model = GaussianMixtureDensity(2, 3)
    model(np.zeros((1, 3), "float32"))
    model.means.assign(np.full((2, 3), seed, "float32"))
    record = {"data": {"fingerprint": str(seed)}, "training": {"command": "test", "steps": seed},
              "metrics": {"nll": {"value": float(seed), "command": "test"}}}
    zoo.save_preset(model, "kill-me", root=root, overwrite=True, **record)
""")


@pytest.mark.slow  # a TensorFlow child process per point: about 15 s each on 2 busy cores
@pytest.mark.parametrize("point", ["weights", "preset.json", "before_swap", "after_swap"])
def test_a_preset_save_killed_at_any_point_leaves_the_old_preset_or_the_new_one(point, tmp_path, monkeypatch):
    monkeypatch.delenv(zoo.ZOO_PATH_ENV, raising=False)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    root = tmp_path / "zoo"
    for seed, kill in ((1, "nowhere"), (2, point)):
        child = subprocess.run([sys.executable, "-c", PRESET_CHILD, kill, str(root), str(seed)], env=env,
                               capture_output=True, text=True, timeout=300)
        assert child.returncode == (0 if kill == "nowhere" else -signal.SIGKILL), child.stderr[-2000:]
    expected = 2 if point == "after_swap" else 1
    preset = json.loads((root / "kill-me" / zoo.PRESET_FILE).read_text())
    assert preset["training"]["steps"] == expected
    model = zoo.load("kill-me", root=root)  # its weights match its sha256, or load would raise
    np.testing.assert_array_equal(model.means.numpy(), np.full((2, 3), expected, "float32"))
    assert [path.name for path in root.iterdir() if not path.name.startswith(".")] == ["kill-me"]
