"""The ``tfspeech`` command line.

Fast and quiet by construction:

- commands that need no model (``--help``, ``zoo list``, ``zoo info``, argument errors)
  never import TensorFlow (``zoo`` reads JSON only); sub-commands import their modules
  when they run;
- every input is checked before a model loads (text, input files, output paths, preset
  names), so a mistake costs a second, not a model load;
- TensorFlow's C++ log lines are filtered off stderr (``tfspeech.native_logs``), and
  warnings meant for users print as one plain line, unless ``TFSPEECH_DEBUG=1``;
- errors whose message says what to fix print as one line and exit 2; a run over several
  files processes them all, lists the failures at the end and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

DEBUG_ENV = "TFSPEECH_DEBUG"
DEFAULT_VOICE = "festival:cmu_us_slt_arctic_hts"
_PACKAGE_DIR = str(Path(__file__).resolve().parent)


class InputError(ValueError):
    """A command-line input that cannot work (checked before any model loads)."""


def _zoo_list(args) -> int:
    from tfspeech import zoo

    entries = zoo.catalog()
    if not entries:
        print("The zoo has no presets yet.")
        return 0
    for entry in entries:
        if entry.preset is None:
            continue
        shadow = f"  (overrides {', '.join(str(p) for p in entry.shadows)})" if entry.shadows else ""
        print(f"{entry.name:24s} {entry.preset['class']:40s} {_headline(entry.preset)}{shadow}")
    for entry in entries:
        if entry.error is not None:
            print(f"tfspeech zoo list: broken preset {entry.name!r} in {entry.folder} left out: {entry.error}",
                  file=sys.stderr)
    return 0


def _headline(preset: dict) -> str:
    from tfspeech import zoo

    return " ".join(f"{key}={value}" for key, value in zoo.headline(preset).items())


def _zoo_info(args) -> int:
    from tfspeech import zoo

    preset = zoo.info(args.name)
    card = preset.pop("card", None)
    preset.pop("config", None)
    print(f"{args.name}: {_headline(preset)}")
    print(json.dumps(preset, indent=2))
    if card:
        print()
        print(card)
    return 0


def _export(args) -> int:
    if args.format == "saved_model" and (args.quantize or args.calibration):
        raise InputError("--quantize and --calibration apply to --format tflite only")
    if args.calibration and args.quantize != "int8":
        raise InputError("--calibration calibrates --quantize int8; add --quantize int8 or drop it")
    _check_preset(args.name)
    _check_writable(args.output, folder=args.format == "saved_model")
    calibration = _calibration_samples(args.calibration) if args.calibration else None

    from tfspeech import export, zoo

    model = zoo.load(args.name)
    if args.format == "saved_model":
        report = export.saved_model(model, args.output)
    else:
        if args.quantize == "int8" and calibration is None and not hasattr(model, "representative_data"):
            raise InputError(f"--quantize int8 needs calibration data and {type(model).__name__} has no "
                             "representative_data(); pass --calibration samples.npy (N samples of the "
                             "model's input, one per row)")
        report = export.tflite(model, args.output, quantize=args.quantize, representative_data=calibration,
                               allow_flex=args.allow_flex)
    print(report)
    return 0


def _calibration_samples(path: str) -> list:
    """``.npy`` rows → one-sample batches for ``export.tflite``'s representative_data."""
    import numpy as np

    _check_readable(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise InputError(f"--calibration {path}: not a .npy array ({error}); save one with numpy.save") from error
    if array.ndim < 2 or len(array) == 0:
        raise InputError(f"--calibration {path}: expected samples (N, ...) with N >= 1, got shape {array.shape}")
    return [array[i:i + 1] for i in range(len(array))]


def _corpus_build(args) -> int:
    from tfspeech.data.corpus import build_corpus

    path = build_corpus(
        args.voices,
        None if args.n == 0 else args.n,
        seed=args.seed,
        out_dir=args.out,
        cache_dir=args.cache_dir,
        sentences_file=args.sentences,
        jobs=args.jobs,
        progress=not args.quiet,
    )
    print(path)
    return 0


def _features(args) -> int:
    from tfspeech.audio.features import MelConfig
    from tfspeech.data.features import cache_log_mels

    config = MelConfig(n_mels=args.n_mels, n_fft=args.n_fft, hop_length=args.hop_length,
                       win_length=args.win_length or args.n_fft)
    print(cache_log_mels(args.corpus, config, progress=not args.quiet))
    return 0


def _synthesize(args) -> int:
    from tfspeech.text.normalize import normalize_speakable

    normalize_speakable(args.text)  # empty, unspeakable or unsupported text: refused here
    style = _style(args, _check_preset(args.preset))
    if args.vocoder not in (None, "griffin-lim"):
        _check_preset(args.vocoder)
    if args.polish is not None:
        _check_preset(args.polish)
    _check_writable(args.output)
    if args.plot:
        _check_writable(args.plot)

    from tfspeech.audio import save
    from tfspeech.synthesis import synthesize

    waveform, sample_rate, alignments = synthesize(args.text, preset=args.preset, vocoder=args.vocoder,
                                                   polish=args.polish, style=style)
    print(save(args.output, waveform, sample_rate))
    if args.plot:
        from tfspeech.plots import save_alignment_plot

        print(save_alignment_plot(alignments, args.plot))
    return 0


def _style(args, preset: dict):
    """``synthesize``'s ``style`` from ``--style`` (the name), ``--style-wav`` (the file's path) or
    ``--style-weights`` (``(tokens,)`` or ``(heads, tokens)`` float32), checked against the preset's
    record before any model loads; None without any (the model's mean style)."""
    if args.style is None and args.style_wav is None and args.style_weights is None:
        return None
    config = preset.get("config") or {}
    if "style_tokens" not in config:
        raise InputError(f"{args.preset} has no style tokens (it speaks in one style); --style, --style-wav and "
                         "--style-weights need a GST preset (a GSTTacotron2, such as gst-tacotron2-slt)")
    if args.style is not None:
        return _check_style_name(args.style, args.preset, config)
    if args.style_wav is not None:
        _check_audio(args.style_wav)
        return args.style_wav
    return _parse_style_weights(args.style_weights, int(config["style_tokens"]), int(config["style_heads"]))


def _check_style_name(name: str, preset_name: str, config: dict) -> str:
    """``name`` when it is one of the preset's named styles (its config's ``named_styles``)."""
    names = sorted(config.get("named_styles") or {})
    if name in names:
        return name
    if not names:
        raise InputError(f"--style {name}: {preset_name} has no named styles; give --style-wav or --style-weights "
                         "instead")
    raise InputError(f"--style {name}: {preset_name} has no style of that name; choose one of {', '.join(names)}")


def _parse_style_weights(text: str, tokens: int, heads: int):
    """``"0.3,0,..."`` → float32 ``(tokens,)``, or ``(heads, tokens)`` from ``heads * tokens`` values."""
    import numpy as np

    try:
        values = np.array([float(item) for item in text.replace(" ", "").split(",") if item], np.float32)
    except ValueError as error:
        raise InputError(f"--style-weights takes comma-separated numbers, got {text!r}") from error
    if not np.all(np.isfinite(values)):
        raise InputError(f"--style-weights must be finite numbers, got {text!r}")
    if values.size == tokens:
        return values
    if values.size == heads * tokens:
        return values.reshape(heads, tokens)
    per_head = f" or {heads * tokens} (head by head)" if heads > 1 else ""
    raise InputError(f"--style-weights got {values.size} values; the preset has {tokens} style tokens: give "
                     f"{tokens} weights (one per token){per_head}")


def _transcribe(args) -> int:
    if args.beam_width < 1:
        raise InputError(f"--beam-width must be at least 1, got {args.beam_width}")
    _check_preset(args.preset)
    failed: dict[str, str] = {}
    for path in args.files:
        try:
            _check_audio(path)
        except InputError as error:
            failed[path] = str(error)
    if len(failed) == len(args.files):
        raise InputError(failed[args.files[0]] if len(failed) == 1 else _failures(failed))

    from tfspeech.decoding import transcribe_file

    for path in (p for p in args.files if p not in failed):
        try:
            text = transcribe_file(path, preset=args.preset, beam_width=args.beam_width, progress=None)
        except (ValueError, OSError) as error:
            failed[path] = str(error)
            continue
        print(f"{path}\t{text}" if len(args.files) > 1 else text, flush=True)
    if failed:
        print(f"tfspeech transcribe: {_failures(failed)}", file=sys.stderr)
        return 1
    return 0


def _failures(failed: dict[str, str]) -> str:
    return f"{len(failed)} file(s) not transcribed:\n" + "\n".join(
        f"  {path}: {message}" for path, message in failed.items())


def _convert(args) -> int:
    _check_audio(args.input)
    preset = _check_preset(args.preset)
    speakers = (preset.get("config") or {}).get("speakers")
    if isinstance(speakers, list) and speakers and args.to not in speakers:
        raise InputError(f"--to {args.to!r} is not a speaker of {args.preset}; choose one of {', '.join(speakers)}")
    _check_writable(args.output)

    from tfspeech.conversion import convert_file

    print(convert_file(args.input, args.to, args.output, preset=args.preset,
                       griffin_lim_iters=args.griffin_lim_iters))
    return 0


# Short names for the recipes (``tfspeech train NAME``); any module of
# tfspeech.recipes also works by its own name.
RECIPES = {
    "tacotron2": "tacotron2_slt",
    "tacotron": "tacotron_slt",
    "wavenet": "wavenet_slt",
    "ctc": "ctc_multivoice",
    "vqvae": "vqvae_multivoice",
}


def _recipe_modules() -> list[str]:
    import pkgutil

    import tfspeech.recipes

    helpers = ("tts_training", "tts_recipe")
    return sorted(m.name for m in pkgutil.iter_modules(tfspeech.recipes.__path__) if m.name not in helpers)


def _train(args) -> int:
    import importlib

    module = RECIPES.get(args.recipe, args.recipe.replace("-", "_"))
    if module not in _recipe_modules():
        known = ", ".join(sorted(RECIPES) + _recipe_modules())
        raise ValueError(f"no recipe named {args.recipe!r}; choose one of {known}")
    result = importlib.import_module(f"tfspeech.recipes.{module}").main(args.recipe_args)
    return result if isinstance(result, int) else 0


def _demo(args) -> int:
    from tfspeech.demo import run_demo

    run_demo(Path(args.out) if args.out else None)
    return 0


def _check_preset(name: str) -> dict:
    """The preset's record (JSON only, no model): refuses an unknown name at once."""
    from tfspeech import zoo

    return zoo.info(name)


def _check_readable(path: str) -> None:
    target = Path(path)
    if not target.exists():
        raise InputError(f"{path}: no such file")
    if not target.is_file():
        raise InputError(f"{path} is a {'folder' if target.is_dir() else 'special file'}, not a file")
    if not os.access(target, os.R_OK):
        raise InputError(f"{path}: permission denied (cannot read it)")


def _check_audio(path: str) -> None:
    """A readable file soundfile recognizes as audio with samples (reads its header only)."""
    import soundfile

    _check_readable(path)
    try:
        frames = soundfile.info(path).frames
    except (RuntimeError, soundfile.LibsndfileError) as error:  # LibsndfileError is a RuntimeError
        raise InputError(f"{path} is not audio soundfile can read ({error}); use WAV, FLAC, OGG or MP3") from error
    if frames == 0:
        raise InputError(f"{path} holds no audio samples")


def _check_writable(path: str, folder: bool = False) -> None:
    """``path`` (a file, or a ``folder``) can be written: tried by creating a scratch file
    in its nearest existing folder, so read-only mounts count too, even for root."""
    import tempfile

    target = Path(path)
    if target.exists():
        if not folder and target.is_dir():
            raise InputError(f"{path} is a folder; give a file name to write, e.g. {target / 'out.wav'}")
        if folder and not target.is_dir():
            raise InputError(f"{path} is a file; give a folder to write into")
    parent = target if target.is_dir() else target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: {parent} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
        if target.is_file():
            with open(target, "ab"):
                pass
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error} in {parent}; "
                         "choose a writable location") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfspeech",
        description="A TensorFlow/Keras model zoo for speech and probabilistic models.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    zoo_parser = commands.add_parser("zoo", help="list the trained presets or show one")
    zoo_commands = zoo_parser.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    zoo_commands.add_parser("list", help="one line per preset").set_defaults(run=_zoo_list)
    info = zoo_commands.add_parser("info", help="a preset's metadata and card")
    info.add_argument("name")
    info.set_defaults(run=_zoo_info)

    exp = commands.add_parser("export", help="export a preset to SavedModel or TFLite, with a parity check")
    exp.add_argument("name", help="preset name (see `tfspeech zoo list`)")
    exp.add_argument("--format", choices=["saved_model", "tflite"], required=True)
    exp.add_argument("--quantize", choices=["float16", "dynamic", "int8"], default=None,
                     help="TFLite quantization (default: float32)")
    exp.add_argument("--calibration", metavar="SAMPLES.npy",
                     help="int8 calibration data: a .npy array (N, ...) of N input samples, for models "
                          "without their own representative_data()")
    exp.add_argument("--allow-flex", action="store_true",
                     help="allow TensorFlow (Flex) ops in TFLite; the app then needs the Flex delegate")
    exp.add_argument("-o", "--output", required=True, help="output folder (saved_model) or .tflite file")
    exp.set_defaults(run=_export)

    corpus = commands.add_parser("corpus", help="synthesize a speech corpus (LJSpeech layout)")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    build = corpus_commands.add_parser(
        "build", help="synthesize wavs + metadata.csv + manifest.json (deterministic, resumable)")
    build.add_argument("--voices", nargs="+", default=[DEFAULT_VOICE],
                       help="engine:voice[:pitch=P][:speed=S], e.g. festival:cmu_us_slt_arctic_hts "
                            "flite:rms espeak:en-gb+m3:pitch=2:speed=1.1; pitch in semitones, speed a rate factor (default: %(default)s)")
    build.add_argument("--n", type=int, default=50, help="number of sentences, 0 for all (default: 50)")
    build.add_argument("--seed", type=int, default=0, help="sentence order seed (default: 0)")
    build.add_argument("--sentences", help="a UTF-8 file, one sentence per line, instead of WordNet's examples")
    build.add_argument("--out", help="corpus folder (default: under the cache folder)")
    build.add_argument("--cache-dir", help="cache folder (default: $TFSPEECH_CACHE or ~/.cache/tfspeech)")
    build.add_argument("--jobs", type=int, help="parallel synthesis processes (default: all cores)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(run=_corpus_build)

    feats = commands.add_parser("features", help="cache log-mel spectrograms for a built corpus")
    feats.add_argument("--corpus", required=True, help="corpus folder (printed by `tfspeech corpus build`)")
    feats.add_argument("--n-mels", type=int, default=80)
    feats.add_argument("--n-fft", type=int, default=1024)
    feats.add_argument("--win-length", type=int, help="analysis window (default: n_fft)")
    feats.add_argument("--hop-length", type=int, default=256)
    feats.add_argument("--quiet", action="store_true", help="no progress bar")
    feats.set_defaults(run=_features)

    synth = commands.add_parser("synthesize", help="text to a WAV file with a TTS preset")
    synth.add_argument("text", help="the text to speak (long text is split at sentence and clause boundaries)")
    synth.add_argument("-o", "--output", required=True, help="the WAV file to write")
    synth.add_argument("--preset", default="tacotron2-slt", help="TTS preset (default: %(default)s)")
    synth.add_argument("--vocoder",
                       help="griffin-lim, or a vocoder preset trained on the TTS model's mels (an ISTFTVocoder "
                            "or a WaveNet) (default: istft-vocoder-slt where the zoo has it and it fits the "
                            "model, else griffin-lim)")
    synth.add_argument("--polish", nargs="?", const="spectrogram-polisher-slt", metavar="PRESET",
                       help="sharpen the predicted mels with a spectrogram polisher preset before the vocoder "
                            "(default PRESET: %(const)s; without --polish: no polishing)")
    style = synth.add_mutually_exclusive_group()
    style.add_argument("--style", metavar="NAME",
                       help="speak in one of the GST preset's named styles (e.g. high-fast; its card lists them "
                            "with their measured pitch and rate)")
    style.add_argument("--style-wav", metavar="WAV",
                       help="speak in the style of this recording (a GST preset; any format and sample rate "
                            "soundfile reads, at least about a second of speech)")
    style.add_argument("--style-weights", metavar="W1,W2,...",
                       help="speak in the style of these token weights, one per style token of the GST preset "
                            "(e.g. 0.3,0,0.7,...; a negative first value needs '=': --style-weights=-0.5,...). "
                            "Without --style, --style-wav or --style-weights: the preset's mean style")
    synth.add_argument("--plot", help="also write the attention alignments as a PNG")
    synth.set_defaults(run=_synthesize)

    transcribe = commands.add_parser("transcribe", help="speech to text with the CTC recognizer preset")
    transcribe.add_argument("files", nargs="+", help="audio files (any sample rate soundfile reads)")
    transcribe.add_argument("--preset", default="ctc-multivoice", help="recognizer preset (default: %(default)s)")
    transcribe.add_argument("--beam-width", type=int, default=1, help="1: greedy; more: beam search")
    transcribe.set_defaults(run=_transcribe)

    conv = commands.add_parser("convert", help="say what a recording says in another voice (VQ-VAE preset)")
    conv.add_argument("input", help="audio file of any voice (any sample rate soundfile reads)")
    conv.add_argument("--to", required=True, help="target speaker, one of the preset's speakers "
                                                  "(see `tfspeech zoo info vqvae-multivoice`)")
    conv.add_argument("-o", "--output", required=True, help="the WAV file to write")
    conv.add_argument("--preset", default="vqvae-multivoice", help="VQ-VAE preset (default: %(default)s)")
    conv.add_argument("--griffin-lim-iters", type=int, default=60, help="phase reconstruction iterations")
    conv.set_defaults(run=_convert)

    train = commands.add_parser(
        "train", help="run a preset's training recipe (e.g. `tfspeech train tacotron2 --help`)")
    train.add_argument("recipe", help=f"{', '.join(RECIPES)}, or a module of tfspeech.recipes "
                                      "(gmm_digits, flow_digits, spoken_digits, ...)")
    train.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own options")
    train.set_defaults(run=_train)

    demo = commands.add_parser("demo", help="the end-to-end tour that `make demo` runs")
    demo.add_argument("--out", help="where to write the demo's files (default: a folder under the cache)")
    demo.set_defaults(run=_demo)
    return parser


def _is_user_error(error: Exception) -> bool:
    """Errors whose message tells the user what to fix (ours, and bad paths or values)."""
    ours = type(error).__module__.startswith("tfspeech")
    return ours or isinstance(error, (ValueError, LookupError, OSError, RuntimeError))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get(DEBUG_ENV):
        return args.run(args)
    from tfspeech.native_logs import filtered_stderr

    with filtered_stderr(), warnings.catch_warnings():
        warnings.showwarning = _plain_warning(args.command)
        _quiet_python_loggers()
        try:
            return args.run(args)
        except Exception as error:  # noqa: BLE001 - re-raised unless it is a user error
            if not _is_user_error(error):
                raise
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            print(f"tfspeech {args.command}: error: {message}\n"
                  f"(set {DEBUG_ENV}=1 for the full traceback)", file=sys.stderr)
            return 2


def _plain_warning(command: str):
    """``warnings.showwarning`` for the command: tfspeech's warnings as one plain line,
    other libraries' warnings (not meant for command-line users) dropped."""

    def show(message, category, filename, lineno, file=None, line=None):
        if str(Path(filename).resolve()).startswith(_PACKAGE_DIR):
            print(f"tfspeech {command}: warning: {message}", file=sys.stderr, flush=True)

    return show


def _quiet_python_loggers() -> None:
    """TensorFlow's and absl's Python loggers: errors only (set before they are imported)."""
    import logging

    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
