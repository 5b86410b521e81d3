"""The istft-vocoder-slt recipe, end to end on a tiny corpus and a tiny model (slow)."""

import hashlib
import json

import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.audio import MelConfig, save
from tfspeech.data import layout
from tfspeech.recipes import istft_vocoder_slt

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(tmp_path):
    """Vowel-like harmonic tones with noise at 22,050 Hz: train, validation and test."""
    root = tmp_path / "corpus"
    rng = np.random.default_rng(0)
    utterances = []
    rate = MelConfig().sample_rate
    for i, split in enumerate(["train", "train", "train", "validation", "test"]):
        t = np.arange(rate * 2) / rate
        f0 = 120 + 20 * i + 10 * np.sin(2 * np.pi * 3 * t)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)) ** 2
        waveform = 0.2 * voiced + rng.normal(0, 0.01, t.size)
        save(root / layout.WAVS / f"tone-{i}.wav", waveform, rate)
        utterances.append(layout.Utterance(f"tone-{i}", "a tone", "", "tones", split))
    layout.write_metadata(root / layout.METADATA, utterances)
    entries = [
        {"id": u.id, "speaker": u.speaker, "split": u.split,
         "sha256": hashlib.sha256(u.wav_path(root).read_bytes()).hexdigest()}
        for u in utterances
    ]
    (root / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return root


def run(corpus, run_dir, steps, zoo_dir=None, evaluate=False):
    argv = ["--evaluate"] * evaluate + [
        "--corpus", str(corpus), "--run-dir", str(run_dir), "--size", "tiny", "--steps", str(steps),
        "--steps-per-epoch", "2", "--batch-size", "2", "--segment-frames", "8", "--eval-utterances", "1",
        "--tts", "none",
    ]
    return istft_vocoder_slt.main(argv + (["--zoo", str(zoo_dir)] if zoo_dir else []))


def test_tiny_run_resumes_measures_and_saves_a_preset(corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run(corpus, run_dir, steps=2) is not None  # one epoch: finished, evaluated
    first = json.loads((run_dir / istft_vocoder_slt.PROGRESS).read_text())
    assert first["epochs"] == 1 and "val_loss" in first["logs"]
    assert not list(run_dir.glob(".partial-*"))

    run(corpus, run_dir, steps=6, zoo_dir=tmp_path / "preview", evaluate=True)
    assert json.loads((run_dir / istft_vocoder_slt.PROGRESS).read_text()) == first
    preview = zoo.info(istft_vocoder_slt.PRESET_NAME, root=tmp_path / "preview")
    assert preview["training"]["steps"] == 2 and not preview["training"]["finished"]
    assert "--evaluate" not in preview["training"]["command"] and "--zoo" not in preview["training"]["command"]
    assert "Preview of a run in progress** (checkpoint at step 2 of 6)" in preview["card"]
    capsys.readouterr()

    figures = run(corpus, run_dir, steps=6, zoo_dir=tmp_path / "zoo")
    assert "resuming" in capsys.readouterr().err
    progress = json.loads((run_dir / istft_vocoder_slt.PROGRESS).read_text())
    assert progress["epochs"] == 3 and progress["train_seconds"] > first["train_seconds"]
    for system in ("vocoder", "griffin_lim", "recording"):
        assert (run_dir / "evaluation" / "samples" / f"tone-4-{system}.wav").is_file()
    assert figures["held_out_utterances"] == 1
    for system in ("vocoder", "griffin_lim"):
        assert 1.0 <= figures["pesq"][system] <= 4.65
        assert -1.0 <= figures["stoi"][system] <= 1.0
        assert 0 < figures["log_mel_l1_top_db"][system] <= figures["log_mel_l1"][system] + 1e-6

    preset = zoo.info(istft_vocoder_slt.PRESET_NAME, root=tmp_path / "zoo")
    assert preset["training"]["steps"] == 6 and preset["training"]["finished"]
    assert preset["metrics"]["pesq_vocoder"]["value"] == pytest.approx(figures["pesq"]["vocoder"], abs=1e-4)
    loaded = zoo.load(istft_vocoder_slt.PRESET_NAME, root=tmp_path / "zoo")
    mel = np.full((1, 10, 80), -5.0, np.float32)
    assert loaded.generate(mel).shape == (1, 10 * 256)


def test_adversarial_stage_warm_starts_from_reconstruction_and_compares_the_stages(corpus, tmp_path):
    first = tmp_path / "run"
    run(corpus, first, steps=2)
    gan_run = tmp_path / "gan"
    argv = ["--stage", "adversarial", "--init-from", str(first / istft_vocoder_slt.CHECKPOINT),
            "--corpus", str(corpus), "--run-dir", str(gan_run), "--size", "tiny", "--steps", "4",
            "--steps-per-epoch", "2", "--batch-size", "2", "--segment-frames", "8", "--eval-utterances", "1",
            "--tts", "none"]
    istft_vocoder_slt.main(argv + ["--steps", "2"])  # one epoch, then "killed"
    state = json.loads((gan_run / istft_vocoder_slt.PROGRESS).read_text())
    assert state["epochs"] == 1 and {"discriminator_loss", "feature_loss", "val_loss"} <= set(state["logs"])
    figures = istft_vocoder_slt.main(argv + ["--zoo", str(tmp_path / "zoo")])
    assert json.loads((gan_run / istft_vocoder_slt.PROGRESS).read_text())["epochs"] == 2
    assert figures["reconstruction_stage"]["pesq"]["vocoder"] > 0
    preset = zoo.info(istft_vocoder_slt.PRESET_NAME, root=tmp_path / "zoo")
    assert preset["training"]["stage"] == "adversarial" and preset["class"] == "tfspeech>ISTFTVocoder"
    assert "| reconstruction + adversarial |" in preset["card"]


def test_a_later_stage_starts_from_a_zoo_preset_when_there_is_no_run_folder(corpus, tmp_path, monkeypatch):
    run(corpus, tmp_path / "run", steps=2, zoo_dir=tmp_path / "zoo")
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "zoo"))
    figures = istft_vocoder_slt.main([
        "--stage", "adversarial", "--init-from", istft_vocoder_slt.PRESET_NAME, "--corpus", str(corpus),
        "--run-dir", str(tmp_path / "gan"), "--size", "tiny", "--steps", "2", "--steps-per-epoch", "2",
        "--batch-size", "2", "--segment-frames", "8", "--eval-utterances", "1", "--tts", "none"])
    assert json.loads((tmp_path / "gan" / istft_vocoder_slt.PROGRESS).read_text())["epochs"] == 1
    assert "reconstruction_stage" not in figures  # a preset carries no run folder to compare with


def test_adversarial_stage_needs_a_reconstruction_checkpoint(corpus, tmp_path):
    with pytest.raises(SystemExit, match="train the reconstruction stage first"):
        istft_vocoder_slt.main(["--stage", "adversarial", "--init-from", str(tmp_path / "none.keras"),
                                "--corpus", str(corpus), "--run-dir", str(tmp_path / "gan"), "--size", "tiny"])


def test_tts_stage_fine_tunes_on_teacher_forced_mels_into_its_own_preset(corpus, tmp_path, monkeypatch):
    from tests.models import tts_checks
    from tests.models.test_tacotron2 import make

    tts = make(mel_config=MelConfig().to_dict(), max_frames=60)
    tts_checks.set_stop_bias(tts, -30.0)  # free running speaks 60 frames: enough for the recognizer
    zoo.save_preset(tts, "tiny-tts", root=tmp_path / "tts-zoo", data={"fingerprint": "test"},
                    training={"command": "pytest"}, metrics={"x": {"value": 1.0, "command": "-"}})
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tmp_path / "tts-zoo"))
    first = tmp_path / "run"
    run(corpus, first, steps=2)
    figures = istft_vocoder_slt.main([
        "--stage", "tts", "--tts", "tiny-tts", "--init-from", str(first / istft_vocoder_slt.CHECKPOINT),
        "--corpus", str(corpus), "--run-dir", str(tmp_path / "tts-run"), "--size", "tiny", "--steps", "2",
        "--steps-per-epoch", "2", "--batch-size", "2", "--segment-frames", "8", "--eval-utterances", "1",
        "--zoo", str(tmp_path / "zoo")])
    assert (tmp_path / "tts-run" / "evaluation-tts-inputs" / "metrics.json").is_file()
    cached = list((corpus / "features").glob("teacher-forced-tiny-tts-*/*.npy"))
    assert sorted(p.stem for p in cached) == ["tone-0", "tone-1", "tone-2", "tone-3", "tone-4"]
    assert figures["inputs"] == "tiny-tts's teacher-forced log-mels" and "tts" in figures
    preset = zoo.info("istft-vocoder-slt-tts", root=tmp_path / "zoo")
    assert preset["training"]["stage"] == "tts" and "teacher-forced" in preset["card"]
