"""The wavenet-slt recipe, end to end on a tiny corpus and a tiny model (slow)."""

import hashlib
import json

import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.audio import MelConfig, save
from tfspeech.data import layout
from tfspeech.recipes import wavenet_slt

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(tmp_path):
    """Noisy tones at 22,050 Hz: three for training, one held out."""
    root = tmp_path / "corpus"
    rng = np.random.default_rng(0)
    utterances = []
    for i, split in enumerate(["train", "train", "train", "test"]):
        t = np.arange(6000) / MelConfig().sample_rate
        waveform = 0.4 * np.sin(2 * np.pi * (220 + 110 * i) * t) + rng.normal(0, 0.02, t.size)
        save(root / layout.WAVS / f"tone-{i}.wav", waveform, MelConfig().sample_rate)
        utterances.append(layout.Utterance(f"tone-{i}", "a tone", "", "tones", split))
    layout.write_metadata(root / layout.METADATA, utterances)
    entries = [
        {"id": u.id, "speaker": u.speaker, "split": u.split,
         "sha256": hashlib.sha256(u.wav_path(root).read_bytes()).hexdigest()}
        for u in utterances
    ]
    (root / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return root


def run(corpus, run_dir, steps, zoo_dir=None, evaluate=False, eval_frames=6):
    argv = ["--evaluate"] * evaluate + [
        "--corpus", str(corpus), "--run-dir", str(run_dir), "--size", "tiny", "--steps", str(steps),
        "--steps-per-epoch", "2", "--batch-size", "2", "--segment-frames", "2", "--eval-utterances", "1",
    ] + (["--eval-frames", str(eval_frames)] if eval_frames else [])
    return wavenet_slt.main(argv + (["--zoo", str(zoo_dir)] if zoo_dir else []))


def test_tiny_run_resumes_measures_writes_samples_and_saves_a_preset(corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run(corpus, run_dir, steps=2)  # one epoch, then "killed"
    first = json.loads((run_dir / wavenet_slt.PROGRESS).read_text())
    assert first["epochs"] == 1 and (run_dir / wavenet_slt.CHECKPOINT).is_file()
    assert not list(run_dir.glob(".partial-*"))

    # --evaluate measures the checkpoint as it is: a preview of the 6-step run, nothing trained.
    run(corpus, run_dir, steps=6, zoo_dir=tmp_path / "preview", evaluate=True)
    assert json.loads((run_dir / wavenet_slt.PROGRESS).read_text()) == first
    preview = zoo.info(wavenet_slt.PRESET_NAME, root=tmp_path / "preview")
    assert preview["training"]["steps"] == 2 and not preview["training"]["finished"]
    assert "--evaluate" not in preview["training"]["command"]
    assert "Preview of a run in progress** (checkpoint at step 2 of 6)" in preview["card"]
    capsys.readouterr()

    metrics = run(corpus, run_dir, steps=6, zoo_dir=tmp_path / "zoo")
    assert "resuming" in capsys.readouterr().err
    progress = json.loads((run_dir / wavenet_slt.PROGRESS).read_text())
    assert progress["epochs"] == 3 and progress["train_seconds"] > first["train_seconds"]
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    for name in ("mulaw_reference", "wavenet", "griffin_lim"):
        assert (run_dir / "evaluation" / "samples" / f"tone-3-{name}.wav").is_file()
    assert metrics["held_out_utterances"] == 1
    for system in ("wavenet", "griffin_lim", "mulaw_reference"):
        assert 0 < metrics["log_mel_distance_top_db"][system] <= metrics["log_mel_distance"][system] + 1e-6

    preset = zoo.info(wavenet_slt.PRESET_NAME, root=tmp_path / "zoo")
    assert preset["training"]["command"].startswith("python -m tfspeech.recipes.wavenet_slt")
    assert preset["training"]["wall_time_s"] == progress["train_seconds"]  # both runs counted
    assert preset["training"]["steps"] == 6 and preset["training"]["finished"]
    assert "Preview" not in preset["card"]
    assert preset["metrics"]["log_mel_distance_top60db_wavenet"]["value"] == pytest.approx(
        metrics["log_mel_distance_top_db"]["wavenet"], abs=1e-4)
    folder = tmp_path / "zoo" / wavenet_slt.PRESET_NAME
    assert (folder / "spectrograms.png").is_file() and "Griffin-Lim" in (folder / "CARD.md").read_text()
    model = zoo.load(wavenet_slt.PRESET_NAME, root=tmp_path / "zoo")
    assert model.generate(np.zeros((2, 80), np.float32)).shape == (1, 2 * 256)


def test_evaluate_without_a_checkpoint_says_to_train_first(corpus, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint to evaluate; train first"):
        run(corpus, tmp_path / "empty-run", steps=2, evaluate=True)


def test_whole_utterance_evaluation_measures_the_cer(corpus, tmp_path):
    run_dir = tmp_path / "run"
    run(corpus, run_dir, steps=2)
    metrics = run(corpus, run_dir, steps=2, zoo_dir=tmp_path / "zoo", evaluate=True, eval_frames=None)
    assert set(metrics["cer"]) == {"wavenet", "griffin_lim", "mulaw_reference"}
    assert metrics["max_frames"] is None
    preset = zoo.info(wavenet_slt.PRESET_NAME, root=tmp_path / "zoo")
    assert preset["metrics"]["cer_wavenet"]["value"] == pytest.approx(metrics["cer"]["wavenet"], abs=1e-4)
    assert "| CER (`ctc-multivoice`) |" in preset["card"]
