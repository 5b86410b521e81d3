"""The ``tfspeech`` command line.

Sub-commands import their modules (and TensorFlow) only when they run, so
``tfspeech --help`` and ``tfspeech corpus build`` start quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_VOICE = "festival:cmu_us_slt_arctic_hts"


def _zoo_list(args) -> int:
    from tfspeech import zoo

    names = zoo.list()
    if not names:
        print("The zoo has no presets yet.")
        return 0
    for name in names:
        preset = zoo.info(name)
        print(f"{name:24s} {preset['class']:40s} {_headline_metric(preset)}")
    return 0


def _headline_metric(preset: dict) -> str:
    metrics = preset.get("metrics") or {}
    for key, value in metrics.items():
        shown = value.get("value") if isinstance(value, dict) else value
        return f"{key}={shown}"
    return ""


def _zoo_info(args) -> int:
    from tfspeech import zoo

    preset = zoo.info(args.name)
    card = preset.pop("card", None)
    preset.pop("config", None)
    print(json.dumps(preset, indent=2))
    if card:
        print()
        print(card)
    return 0


def _export(args) -> int:
    from tfspeech import export, zoo

    model = zoo.load(args.name)
    if args.format == "saved_model":
        if args.quantize:
            raise SystemExit("--quantize applies to --format tflite only")
        report = export.saved_model(model, args.output)
    else:
        report = export.tflite(model, args.output, quantize=args.quantize, allow_flex=args.allow_flex)
    print(report)
    return 0


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
    from tfspeech.audio import save
    from tfspeech.synthesis import synthesize

    waveform, sample_rate, alignments = synthesize(args.text, preset=args.preset, vocoder=args.vocoder)
    print(save(args.output, waveform, sample_rate))
    if args.plot:
        from tfspeech.plots import save_alignment_plot

        print(save_alignment_plot(alignments, args.plot))
    return 0


def _transcribe(args) -> int:
    from tfspeech.decoding import transcribe_file

    for path in args.files:
        text = transcribe_file(path, preset=args.preset, beam_width=args.beam_width)
        print(f"{path}\t{text}" if len(args.files) > 1 else text)
    return 0


def _convert(args) -> int:
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

    return sorted(m.name for m in pkgutil.iter_modules(tfspeech.recipes.__path__) if m.name != "tts_training")


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
    synth.add_argument("text", help="the text to speak (long text is split at sentence boundaries)")
    synth.add_argument("-o", "--output", required=True, help="the WAV file to write")
    synth.add_argument("--preset", default="tacotron2-slt", help="TTS preset (default: %(default)s)")
    synth.add_argument("--vocoder", default="griffin-lim",
                       help="griffin-lim, or a WaveNet vocoder preset trained on the same mels, e.g. wavenet-slt "
                            "(default: %(default)s)")
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
    try:
        return args.run(args)
    except Exception as error:  # noqa: BLE001 - re-raised unless it is a user error
        if os.environ.get("TFSPEECH_DEBUG") or not _is_user_error(error):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"tfspeech {args.command}: error: {message}\n"
              "(set TFSPEECH_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
