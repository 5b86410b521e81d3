"""The student recipe: its size against tacotron2-slt, its command line and run settings (fast); on a
10-sentence slt corpus with a tiny teacher preset, a distilled epoch, its resume, and the
student's card section after evaluation (slow)."""

import json

import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.models.distilled_tacotron2 import DISTILLATION_LOSS, OUTPUT_DISTILLATION_LOSS, check_teacher
from tfspeech.recipes import student_evaluation, student_slt


def test_the_student_has_at_most_a_quarter_of_the_teachers_parameters_and_reads_its_symbols():
    teacher = zoo.load(student_slt.TEACHER, compile=False)
    student = student_slt.RECIPE.build_model()
    assert student.count_params() <= teacher.count_params() / 4
    check_teacher(teacher, student)


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--distill-weight", "-1"], ["--epochs", "2", "--steps", "9"],
                                   ["--checkpoint-every", "0"], ["--output-distill-weight", "-1"],
                                   ["--dropout", "1"], ["--learning-rate", "0"]])
def test_command_line_refuses_bad_settings(flags, capsys):
    with pytest.raises(SystemExit):
        student_slt.main(flags)
    assert flags[-2] in capsys.readouterr().err


def test_a_run_resumes_only_with_its_own_settings(tmp_path):
    settings = {"teacher": "tacotron2-slt", "distill_weight": 1.0, "seed": 0, "batch_size": 16, "epoch_steps": 476}
    student_slt._keep_settings(tmp_path, settings)
    student_slt._keep_settings(tmp_path, dict(settings))
    assert student_slt.read_settings(tmp_path) == settings
    with pytest.raises(ValueError, match="distill_weight: 1.0 there, 0.0 now"):
        student_slt._keep_settings(tmp_path, {**settings, "distill_weight": 0.0, "teacher": None})


def test_a_run_from_before_the_second_stage_options_resumes_with_their_defaults(tmp_path):
    settings = {"teacher": "tacotron2-slt", "distill_weight": 1.0, "seed": 0, "batch_size": 16, "epoch_steps": 476}
    student_slt._keep_settings(tmp_path, settings)
    student_slt._keep_settings(tmp_path, {**settings, **student_slt.SETTING_DEFAULTS})
    with pytest.raises(ValueError, match="dropout: None there, 0.1 now"):
        student_slt._keep_settings(tmp_path, {**settings, "dropout": 0.1})


def test_second_stage_settings_change_the_config_and_the_recorded_command():
    settings = {"dropout": 0.1, "learning_rate": 5e-4, "warm_start": "/runs/stage1"}
    recipe = student_slt.training_recipe(None, 1.0, 2.0, settings)
    assert recipe.config["encoder_dropout"] == recipe.config["postnet_dropout"] == 0.1
    assert recipe.config["prenet_dropout"] == student_slt.CONFIG["prenet_dropout"]  # it also runs at inference
    assert recipe.config["learning_rate"] == 5e-4 and recipe.warm_start == "/runs/stage1"
    assert recipe.command_options == ("--output-distill-weight 2 --warm-start <stage1> --dropout 0.1 "
                                      "--learning-rate 0.0005")
    assert student_slt.evaluation_recipe(settings).config == {
        k: v for k, v in recipe.config.items() if k not in ("teacher", "distillation_weight",
                                                             "output_distillation_weight")}
    assert student_slt.training_recipe(None, 1.0).command_options == ""


def test_the_card_names_every_stage_of_a_chain_of_warm_starts_first_to_last():
    first = {"teacher": "t", "distill_weight": 1.0, "seed": 0, "batch_size": 16, "epoch_steps": 476}
    second = {**first, "output_distill_weight": 1.0, "dropout": 0.1,
              "warm_start_training": {"command": "cmd1", "steps": 10, "settings": first}}
    third = {**first, "distill_weight": 0.5, "dropout": 0.0, "warm_start_training": {
        "command": "cmd2", "steps": 20, "settings": second}}
    assert student_evaluation.training_summary(third) == (
        "Stage 1 (`cmd1`, 10 steps): attention distillation (weight 1) from `t`, seed 0, batch 16, epochs of 476 "
        "steps. Stage 2 (`cmd2`, 20 steps), from stage 1's weights: attention distillation (weight 1) and output "
        "distillation (weight 1) from `t`, encoder and postnet dropout 0.1, seed 0, batch 16, epochs of 476 steps. "
        "Stage 3 (this run), from stage 2's weights: attention distillation (weight 0.5) from `t`, encoder and "
        "postnet dropout 0, seed 0, batch 16, epochs of 476 steps.")
    assert student_evaluation.training_summary(first).startswith("Trained with attention distillation (weight 1)")


def test_warm_start_must_be_a_finished_run(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="finished run"):
        student_slt.StudentRecipe(**{**vars(student_slt.RECIPE), "warm_start": str(tmp_path)}).build_model()
    with pytest.raises(SystemExit):
        student_slt.main(["--warm-start", str(tmp_path), "--out", str(tmp_path)])
    assert "another --out" in capsys.readouterr().err


@pytest.mark.slow
def test_a_second_stage_starts_from_the_first_and_adds_output_distillation(slt10_corpus, tiny_teacher_zoo, tmp_path):
    options = dict(teacher="tiny-teacher", zoo_root=tiny_teacher_zoo, batch_size=2, epoch_utterances=2, verbose=0)
    first = student_slt.train(slt10_corpus, tmp_path / "first", epochs=1, **options)
    stage = dict(output_distill_weight=1.0, warm_start=tmp_path / "first", dropout=0.1, **options)
    settings = student_slt.read_settings(tmp_path / "first")
    recipe = student_slt.training_recipe(None, 1.0, 1.0, {"warm_start": str(tmp_path / "first")})
    for a, b in zip(recipe.build_model().get_weights(), first.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    second = student_slt.train(slt10_corpus, tmp_path / "second", epochs=1, **stage)
    assert second.encoder_dropout == 0.1 and second.output_distillation_weight == 1.0
    record = json.loads((tmp_path / "second" / "training.json").read_text())
    assert record["command"].endswith("--output-distill-weight 1 --warm-start <first> --dropout 0.1")
    assert np.isfinite(record["logs"][OUTPUT_DISTILLATION_LOSS]) and np.isfinite(record["logs"][DISTILLATION_LOSS])
    kept = student_slt.read_settings(tmp_path / "second")
    assert kept["warm_start_training"]["settings"] == settings and kept["warm_start_training"]["steps"] == 1
    summary = student_evaluation.training_summary(kept)
    assert summary.startswith("Stage 1 (`python -m tfspeech.recipes.student_slt") and "output distillation" in summary
    assert "Stage 2 (this run), from stage 1's weights" in summary


@pytest.mark.slow
def test_a_distilled_epoch_resumes_and_refuses_other_settings(slt10_corpus, tiny_teacher_zoo, tmp_path):
    options = dict(distill_weight=1.0, teacher="tiny-teacher", zoo_root=tiny_teacher_zoo, batch_size=2,
                   epoch_utterances=4, verbose=0)
    student_slt.train(slt10_corpus, tmp_path, epochs=1, **options)
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["steps"] == 2 and np.isfinite(record["logs"][DISTILLATION_LOSS])
    model = student_slt.train(slt10_corpus, tmp_path, epochs=2, **options)
    assert json.loads((tmp_path / "training.json").read_text())["steps"] == 4 and model.distilling
    with pytest.raises(ValueError, match="other settings"):
        student_slt.train(slt10_corpus, tmp_path, epochs=3, **{**options, "distill_weight": 0.5})


@pytest.mark.slow
def test_evaluation_puts_the_teacher_and_the_exports_in_the_card(slt10_corpus, tiny_teacher_zoo, tmp_path,
                                                                  monkeypatch):
    student_slt.train(slt10_corpus, tmp_path / "run", epochs=1, teacher="tiny-teacher",
                      zoo_root=tiny_teacher_zoo, batch_size=2, epoch_utterances=2, verbose=0)
    monkeypatch.setenv("TFSPEECH_ZOO_PATH", str(tiny_teacher_zoo))
    folder = student_evaluation.evaluate_run(student_slt.RECIPE, tmp_path / "run",
                                             settings=student_slt.read_settings(tmp_path / "run"),
                                             corpus_dir=slt10_corpus, zoo_root=tmp_path / "zoo", subset=1,
                                             finetune_steps=0, progress=False)
    figures = json.loads((tmp_path / "run" / "evaluation" / "student.json").read_text())
    assert figures["tflite"]["student"]["float32"]["parity_passed"]
    heard = {mode: entry["heard"] for mode, entry in figures["tflite"]["student"].items()}
    assert set(heard) == {"float32", "dynamic"} and all(np.isfinite(h["cer"]) and h["cer"] >= 0 for h in heard.values())
    assert heard["float32"]["vocoder"] == "istft-vocoder-slt"
    card = (folder / "CARD.md").read_text()
    assert f"| {heard['dynamic']['cer']:.3f} |" in card and "CER on device" in card
    assert "## Student and teacher" in card and "teacher `tiny-teacher`" in card
    cer = figures["teacher"]["intelligibility"]["synthesized"]["cer"]
    assert f"| {figures['student']['intelligibility']['synthesized']['cer']:.3f} | {cer:.3f} |" in card
