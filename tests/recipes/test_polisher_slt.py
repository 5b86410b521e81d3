"""The spectrogram-polisher-slt recipe: crops, batches, arguments; end to end on a tiny corpus (slow)."""

import hashlib
import json

import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.audio import MelConfig, save
from tfspeech.data import layout
from tfspeech.recipes import polisher_slt
from tfspeech.recipes.polisher_slt import Pair, crop, pair_dataset


def pair(frames, seed=0, id_="u"):
    rng = np.random.default_rng(seed)
    return Pair(id_, rng.normal(-4, 1, (frames, 8)).astype(np.float32),
                rng.normal(-4, 2, (frames, 8)).astype(np.float32))


def test_a_crop_takes_both_mels_at_the_same_frames_and_pads_with_silence():
    p = pair(10)
    tts, recording = crop(p, 6, 8, -11.5)
    np.testing.assert_array_equal(tts[:4], p.tts[6:])
    np.testing.assert_array_equal(recording[:4], p.recording[6:])
    assert np.all(tts[4:] == -11.5) and np.all(recording[4:] == -11.5)


def test_batches_are_seeded_and_aligned():
    pairs = [pair(30, s, f"u{s}") for s in range(3)]
    first = [tuple(t.numpy() for t in b) for b in pair_dataset(pairs, 8, 4, -11.5, seed=1).take(2)]
    again = [tuple(t.numpy() for t in b) for b in pair_dataset(pairs, 8, 4, -11.5, seed=1).take(2)]
    other = next(iter(pair_dataset(pairs, 8, 4, -11.5, seed=2)))[0].numpy()
    assert first[0][0].shape == first[0][1].shape == (4, 8, 8)
    for (a, b), (c, d) in zip(first, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert not np.array_equal(first[0][0], other)
    tts, recording = first[0]
    for row_tts, row_recording in zip(tts, recording):  # each crop's rows come from the same frames
        found = [(p, s) for p in pairs for s in range(23) if np.array_equal(p.tts[s:s + 8], row_tts)]
        assert found and np.array_equal(found[0][0].recording[found[0][1]:found[0][1] + 8], row_recording)


@pytest.mark.parametrize(("argv", "message"), [
    (["--crop-frames", "60"], "multiple of the U-Net's 16"),
    (["--adversarial-weight", "-1"], ">= 0"),
    (["--steps", "0"], "at least 1"),
    (["--compare-with", "/no/such/run"], "has no checkpoint.keras"),
])
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        polisher_slt.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_the_ablation_trains_in_its_own_folder():
    assert polisher_slt.default_run_dir(0.0).name == "spectrogram-polisher-slt-l1"
    assert polisher_slt.default_run_dir(polisher_slt.ADVERSARIAL_WEIGHT).name == "spectrogram-polisher-slt"
    assert polisher_slt.default_run_dir(0.01).name == "spectrogram-polisher-slt-lambda0.01"


def test_training_command_drops_the_evaluation_options_and_every_compared_run():
    argv = ["--adversarial-weight", "0.01", "--evaluate", "--compare-with", "a", "b", "--zoo", "zoo", "--steps", "9"]
    assert polisher_slt._training_argv(argv) == ["--adversarial-weight", "0.01", "--steps", "9"]
    assert polisher_slt._training_argv(["--zoo=z", "--compare-with=a", "--seed", "1"]) == ["--seed", "1"]


@pytest.fixture
def corpus(tmp_path):
    """Harmonic tones at 22,050 Hz that say "a tone": train, validation and test."""
    root = tmp_path / "corpus"
    rate = MelConfig().sample_rate
    utterances = []
    for i, split in enumerate(["train", "train", "train", "validation", "test"]):
        t = np.arange(rate * 2) / rate
        phase = 2 * np.pi * np.cumsum(120 + 20 * i + 10 * np.sin(2 * np.pi * 3 * t)) / rate
        waveform = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)) ** 2
        save(root / layout.WAVS / f"tone-{i}.wav", waveform, rate)
        utterances.append(layout.Utterance(f"tone-{i}", "a tone", "{AH0} {T OW1 N} .", "tones", split))
    layout.write_metadata(root / layout.METADATA, utterances)
    entries = [{"id": u.id, "speaker": u.speaker, "split": u.split,
                "sha256": hashlib.sha256(u.wav_path(root).read_bytes()).hexdigest()} for u in utterances]
    (root / layout.MANIFEST).write_text(json.dumps({"utterances": entries}))
    return root


@pytest.mark.slow
def test_tiny_runs_resume_compare_and_save_a_preset(corpus, tmp_path):
    def run(run_dir, weight, steps, *extra):
        return polisher_slt.main(["--corpus", str(corpus), "--run-dir", str(run_dir), "--size", "tiny",
                                  "--adversarial-weight", str(weight), "--steps", str(steps), "--steps-per-epoch", "2",
                                  "--batch-size", "2", "--crop-frames", "16", "--eval-utterances", "1", *extra])

    l1, gan = tmp_path / "l1", tmp_path / "gan"
    assert set(run(l1, 0, 2, "--compare-with", "none")["systems"]) == {"unpolished", "l1"}
    assert run(gan, 0.1, 2, "--compare-with", str(l1)) is not None
    progress = json.loads((gan / polisher_slt.PROGRESS).read_text())
    assert progress["epochs"] == 1 and {"discriminator_loss", "val_loss"} <= set(progress["logs"])
    figures = run(gan, 0.1, 4, "--compare-with", str(l1))  # resumes for one more epoch
    assert json.loads((gan / polisher_slt.PROGRESS).read_text())["epochs"] == 2
    assert set(figures["systems"]) == {"unpolished", "gan-0.1", "l1"}
    run(gan, 0.1, 4, "--compare-with", str(l1), "--evaluate", "--zoo", str(tmp_path / "zoo"))
    info = zoo.info(polisher_slt.PRESET_NAME, root=tmp_path / "zoo")
    assert "gv_ratio_mean_l1" in info["metrics"] and "--evaluate" not in info["training"]["command"]
    assert (tmp_path / "zoo" / polisher_slt.PRESET_NAME / "gv_ratios.png").is_file()


def test_goals_and_card_report_each_polisher_against_the_unpolished_mels():
    from tfspeech.models.spectrogram_polisher import SpectrogramPolisher

    def system(gv, l1, cer):
        return {"gv_ratio_mean": gv, "gv_ratios": [gv] * 80, "modulation_distance_db": 3.0, "dtw_mel_l1": l1,
                "cer": cer}

    before = system(0.8, 0.50, 0.160)
    assert [ok for _, ok, _ in polisher_slt.goals(before, system(0.95, 0.505, 0.165))] == [True, True, True]
    assert [ok for _, ok, _ in polisher_slt.goals(before, system(0.85, 0.52, 0.175))] == [False, False, False]
    figures = {"systems": {"unpolished": before, "gan-0.01": system(0.95, 0.6, 0.16),
                           "gan-0.003": system(0.9, 0.55, 0.16), "l1": system(0.85, 0.49, 0.16)},
               "recording_cer": 0.14, "sentences": 32, "seconds": 90.0, "shipped": "gan-0.01", "tts": "tacotron2-slt",
               "vocoder": "istft-vocoder-slt",
               "rtf": {"gan-0.01": {"rtf": 0.02, "size_mb": 3.1, "max_abs_error": 1e-6, "bound": 1e-3}}}
    training = {"finished": True, "steps": 10, "target_steps": 10, "command": "c", "batch_size": 2, "crop_frames": 16,
                "learning_rate": "2e-4", "adversarial_weight": 0.01, "wall_time_s": 60.0, "hardware": "x"}
    polisher = SpectrogramPolisher(channels=(4, 8))
    polisher.build_from_preset()
    text = polisher_slt.card(polisher, figures, {"corpus": "c", "inputs": "i",
                                                                             "fingerprint": "f"}, training, "m")
    assert "| U-Net + PatchGAN λ = 0.01 | 0.950 | +75% |" in text and "| U-Net + PatchGAN λ = 0.003 | 0.900 |" in text
    assert "| U-Net, L1 only (λ = 0) | 0.850 | +25% |" in text
    assert "DTW log-mel L1 within +2 % missed (+20.0%)" in text and "GV ratio halfway to 1 missed (+25% of the gap)" in text
    metrics = polisher_slt.flat_metrics(figures)
    assert metrics["gv_ratio_mean_polished"] == 0.95 and metrics["gv_ratio_mean_l1"] == 0.85
    assert metrics["gv_ratio_mean_gan_0_003"] == 0.9
