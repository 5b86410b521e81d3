"""``--evaluate`` of the student recipe: the preset as ``tts_evaluation`` writes it, plus the teacher
measured on the same held-out sentences and the student's TFLite exports, in its card.

The exports are also heard: each ``.tflite`` file speaks the held-out sentences through LiteRT
(one thread, the ``synthesize`` signature, as a phone runs it) and the zoo's default vocoder
(``istft-vocoder-slt`` when it takes the model's log-mels, else Griffin-Lim), and
``ctc-multivoice`` scores the audio: the CER that says whether dynamic-range int8 weights cost
intelligibility.

Outputs besides ``tts_evaluation``'s: ``<run>/evaluation-teacher/`` (the teacher's figures),
``<run>/export/`` (the ``.tflite`` files), ``<run>/evaluation/student.json`` and a
"Student and teacher" section at the end of the preset's ``CARD.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tfspeech import export, tts_metrics, zoo
from tfspeech.audio import mel_to_magnitude
from tfspeech.data.features import cache_log_mels
from tfspeech.recipes import tts_evaluation
from tfspeech.recipes.tts_recipe import Recipe
from tfspeech.text import TextEncoder

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
    sentences = tts_evaluation.held_out_utterances(
        corpus_dir, cache_log_mels(corpus_dir, student.mel_config, progress=False), voice=recipe.voice,
        subset=subset, seed=seed, split="test", max_frames=student.max_frames)
    for side, model in (("student", student), ("teacher", teacher_model)):
        for entry in figures["tflite"][side].values():
            entry["heard"] = on_device_intelligibility(Path(entry.pop("path")), model, sentences)
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
            "max_abs_error": report.max_abs_error, "report": str(report), "path": str(path)}


def on_device_intelligibility(path: Path, model, sentences) -> dict:
    """The ``.tflite`` file at ``path`` (an export of ``model``) speaks ``sentences`` through LiteRT
    on one thread and the default vocoder: ``{"cer", "wer", "vocoder"}`` of ``ctc-multivoice``."""
    from tfspeech.decoding import transcribe, transcript
    from tfspeech.metrics import character_error_rate, word_error_rate
    from tfspeech.runtime.litert_runner import LiteRTRunner
    from tfspeech.synthesis import DEFAULT_VOCODER, default_vocoder

    runner = LiteRTRunner(path, num_threads=1)
    encoder, vocoder, config = TextEncoder(model.symbols), default_vocoder(model), model.mel_config
    waveforms = []
    for start in range(0, len(sentences), tts_evaluation.BATCH_SIZE):
        ids = [tts_evaluation.encode(encoder, u) for u in sentences[start:start + tts_evaluation.BATCH_SIZE]]
        outputs = runner.run_signature("synthesize", text=tts_evaluation.pad_ids(ids))
        for mel, frames in zip(outputs["mels"], outputs["mel_lengths"]):
            waveforms.append(_vocode(np.asarray(mel[:int(frames)], np.float32), config, vocoder))
    texts = [transcript(u.text) for u in sentences]
    heard = transcribe(waveforms, config.sample_rate)
    return {"cer": character_error_rate(texts, heard), "wer": word_error_rate(texts, heard),
            "vocoder": "griffin-lim" if vocoder is None else DEFAULT_VOCODER}


def _vocode(mel, config, vocoder) -> np.ndarray:
    """``(frames, n_mels)`` log-mels → waveform; a sentence that stopped (nearly) at once is padded
    with silent frames up to the fewest the recognizer can hear."""
    if vocoder is None:
        return tts_evaluation.vocode(mel_to_magnitude(np.exp(mel), config), config, len(mel),
                                     tts_evaluation.GRIFFIN_LIM_ITERS)
    mel = np.pad(mel, [(0, max(0, config.min_frames - len(mel))), (0, 0)], constant_values=np.log(config.log_floor))
    return vocoder.generate(mel)[0]


def card_section(teacher: str, figures: dict) -> str:
    """The card's "Student and teacher" section: distillation settings, the held-out figures side
    by side, parameters and TFLite sizes."""
    settings, student, taught = figures["settings"], figures["student"], figures["teacher"]

    def row(name, get, digits=3):
        return f"| {name} | {get(student):.{digits}f} | {get(taught):.{digits}f} |"

    tflite = figures["tflite"]
    exports = "\n".join(
        f"| {mode} | {entry['size_bytes'] / 1e6:.2f} MB | {'passed' if entry['parity_passed'] else 'FAILED'} | "
        f"{entry['heard']['cer']:.3f} |"
        for mode, entry in [*((f"student {m}", e) for m, e in tflite["student"].items()),
                            ("teacher float32", tflite["teacher"]["float32"])])
    vocoder = tflite["student"]["float32"]["heard"]["vocoder"]
    return f"""
## Student and teacher

{training_summary(settings)} Both models on the same {student['held_out']['sentences']} held-out
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
representative inputs), each speaking the same sentences through LiteRT on one thread and
`{vocoder}` (CER through `ctc-multivoice`):

| model | size | parity | CER on device |
|---|---|---|---|
{exports}

Speed on one thread: `python -m benchmarks.bench_student` (benchmarks/README.md).
"""


def training_summary(settings: dict) -> str:
    """A sentence per training stage, first to last (a warm start's own stages first):
    distillation weights, dropout and learning rate when changed, seed, batch, epoch length."""
    stages, earlier = [(settings, None)], settings.get("warm_start_training")
    while earlier is not None:
        stages.insert(0, (earlier["settings"], earlier))
        earlier = earlier["settings"].get("warm_start_training")
    if len(stages) == 1:
        return f"Trained with {_stage(settings)}."
    sentences = []
    for number, (stage, record) in enumerate(stages, start=1):
        run = "this run" if record is None else f"`{record['command']}`, {record['steps']:,} steps"
        start = "" if number == 1 else f", from stage {number - 1}'s weights"
        sentences.append(f"Stage {number} ({run}){start}: {_stage(stage)}.")
    return " ".join(sentences)


def _stage(settings: dict) -> str:
    teacher = settings.get("teacher")
    losses = [f"{what} (weight {settings[key]:g})" for what, key in (
        ("attention distillation", "distill_weight"), ("output distillation", "output_distill_weight"))
        if teacher and settings.get(key)]
    distilled = f"{' and '.join(losses)} from `{teacher}`" if losses else "no distillation (trained alone)"
    changed = "".join(f", {what} {settings[key]:g}" for what, key in (
        ("encoder and postnet dropout", "dropout"), ("peak learning rate", "learning_rate"))
        if settings.get(key) is not None)
    return f"{distilled}{changed}, seed {settings['seed']}, batch {settings['batch_size']}, " \
           f"epochs of {settings['epoch_steps']} steps"


def _mode(quantize: str | None) -> str:
    return quantize or "float32"


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
