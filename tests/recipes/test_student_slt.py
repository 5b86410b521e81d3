"""The student recipe: its size against tacotron2-slt, its command line and run settings (fast); on a
10-sentence slt corpus with a tiny teacher preset, a distilled epoch, its resume, and the
student's card section after evaluation (slow)."""

import json

import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.models.distilled_tacotron2 import DISTILLATION_LOSS, check_teacher
from tfspeech.recipes import student_evaluation, student_slt


def test_the_student_has_at_most_a_quarter_of_the_teachers_parameters_and_reads_its_symbols():
    teacher = zoo.load(student_slt.TEACHER, compile=False)
    student = student_slt.RECIPE.build_model()
    assert student.count_params() <= teacher.count_params() / 4
    check_teacher(teacher, student)


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--distill-weight", "-1"], ["--epochs", "2", "--steps", "9"],
                                   ["--checkpoint-every", "0"]])
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
