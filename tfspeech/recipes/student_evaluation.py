"""``--evaluate`` of the student recipe: the preset as ``tts_evaluation`` writes it, plus the teacher
measured on the same held-out sentences and the student's TFLite exports, in its card.

Outputs besides ``tts_evaluation``'s: ``<run>/evaluation-teacher/`` (the teacher's figures),
``<run>/export/`` (the ``.tflite`` files), ``<run>/evaluation/student.json`` and a
"Student and teacher" section at the end of the preset's ``CARD.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tfspeech import export, tts_metrics, zoo
from tfspeech.recipes import tts_evaluation
from tfspeech.recipes.tts_recipe import Recipe

EXPORT_MODES = (None, "dynamic")  # float32 and dynamic-range int8
STOPPED = f"stopped_within_{tts_metrics.STOP_FACTOR}x"


def evaluate_run(recipe: Recipe, run_dir, *, settings: dict, teacher: str | None = None, corpus_dir=None,
                 zoo_root=None, subset: int = tts_evaluation.DEFAULT_SUBSET, seed: int = 0,
                 finetune_steps: int = tts_evaluation.FINETUNE_STEPS, progress: bool = True) -> Path:
    """Writes the preset (``tts_evaluation.evaluate_run``), measures the teacher (``settings``'
    teacher, else ``teacher``) on the same sentences, exports the student to TFLite (float32 and
    dynamic int8, parity checked) and appends both to the card. Returns the preset folder."""
    run_dir = Path(run_dir)
    teacher = settings.get("teacher") or teacher
    if teacher is None:
        raise ValueError("name the teacher to compare with: the run was trained without one")
    corpus_dir = Path(corpus_dir) if corpus_dir is not None else tts_evaluation.run_corpus(recipe, run_dir)
    folder = tts_evaluation.evaluate_run(recipe, run_dir, corpus_dir=corpus_dir, zoo_root=zoo_root, subset=subset,
                                         seed=seed, finetune_steps=finetune_steps, progress=progress)
    student = zoo.load(recipe.preset, root=folder.parent, compile=False)
    teacher_model = zoo.load(teacher, compile=False)
    figures = {
        "settings": settings,
        "student": json.loads((run_dir / "evaluation" / "figures.json").read_text(encoding="utf-8")),
        "teacher": tts_evaluation.evaluate(teacher_model, corpus_dir, run_dir / "evaluation-teacher",
                                           voice=recipe.voice, subset=subset, seed=seed, progress=progress),
        "parameters": {"student": student.count_params(), "teacher": teacher_model.count_params()},
        "tflite": {"student": {_mode(m): tflite_figures(student, run_dir / "export" / f"student-{_mode(m)}.tflite", m)
                               for m in EXPORT_MODES},
                   "teacher": {"float32": tflite_figures(teacher_model, run_dir / "export" / "teacher-float32.tflite",
                                                         None)}},
    }
    for side in ("student", "teacher"):
        figures[side].pop("sentences")
    (run_dir / "evaluation" / "student.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    card = folder / "CARD.md"
    _replace(card, card.read_text(encoding="utf-8") + card_section(teacher, figures))
    return folder


def tflite_figures(model, path: Path, quantize: str | None) -> dict:
    """Exports ``model`` to ``path`` (builtin ops); its size and parity with Keras (a failed
    parity is reported, not raised)."""
    try:
        report = export.tflite(model, path, quantize=quantize)
    except export.ParityError as error:
        report = error.report
    return {"size_bytes": report.size_bytes, "parity_passed": report.passed,
            "max_abs_error": report.max_abs_error, "report": str(report)}


def card_section(teacher: str, figures: dict) -> str:
    """The card's "Student and teacher" section: distillation settings, the held-out figures side
    by side, parameters and TFLite sizes."""
    settings, student, taught = figures["settings"], figures["student"], figures["teacher"]

    def row(name, get, digits=3):
        return f"| {name} | {get(student):.{digits}f} | {get(taught):.{digits}f} |"

    tflite = figures["tflite"]
    exports = "\n".join(
        f"| {mode} | {entry['size_bytes'] / 1e6:.2f} MB | {'passed' if entry['parity_passed'] else 'FAILED'} |"
        for mode, entry in [*((f"student {m}", e) for m, e in tflite["student"].items()),
                            ("teacher float32", tflite["teacher"]["float32"])])
    distilled = (f"attention distillation from `{settings['teacher']}`, weight {settings['distill_weight']:g}"
                 if settings.get("teacher") else "no distillation (trained alone)")
    return f"""
## Student and teacher

Trained with {distilled}, seed {settings['seed']}, batch {settings['batch_size']}, epochs of
{settings['epoch_steps']} steps. Both models on the same {student['held_out']['sentences']} held-out
sentences (seed {student['held_out']['seed']}), measured the same way:

| figure | student | teacher `{teacher}` |
|---|---|---|
| parameters | {figures['parameters']['student']:,} | {figures['parameters']['teacher']:,} |
{row("CER, synthesized (Griffin-Lim)", lambda f: f["intelligibility"]["synthesized"]["cer"])}
{row("log-mel L1, DTW-aligned (free running)", lambda f: f["free_running"]["dtw_mel_l1"])}
{row("attention focus rate (free running)", lambda f: f["free_running"]["focus_rate"])}
{row("attention diagonality (free running)", lambda f: f["free_running"]["diagonality"])}
{row(f"stopped within {tts_metrics.STOP_FACTOR}× the reference length", lambda f: f["free_running"][STOPPED])}

TFLite exports (`tfspeech.export.tflite`, builtin ops; parity with Keras on the model's
representative inputs):

| model | size | parity |
|---|---|---|
{exports}
"""


def _mode(quantize: str | None) -> str:
    return quantize or "float32"


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
