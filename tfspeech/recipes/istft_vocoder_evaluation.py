"""Held-out figures of a frame-rate vocoder (``ISTFTVocoder``) next to Griffin-Lim.

Copy synthesis: each held-out utterance's log-mels (those of the recording) become audio two
ways, ``vocoder`` (the model) and ``griffin_lim`` (NNLS mel inversion, then 60 iterations of
fast Griffin-Lim), and both are compared with the ``recording``:

- PESQ (ITU-T P.862.2 wide band, the ``pesq`` package, at 16 kHz after resampling) and STOI
  (``pystoi``) against the recording: listening proxies, higher is better;
- log-mel L1 (nats, mean absolute difference) to the recording's log-mels, over the full range
  and within ``TOP_DB`` dB of each utterance's loudest bin;
- CER through the ``ctc-multivoice`` recognizer (the recording's own CER beside it).

Text to speech: ``tacotron2-slt``'s free-running log-mels of the same sentences (the way users
synthesize) through the vocoder and through Griffin-Lim, scored by CER (no recording matches
their timing, so no PESQ). WAVs of each system and spectrogram plots are written for listening
and looking.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import librosa
import numpy as np
from tqdm import tqdm

from tfspeech.audio import MelConfig, griffin_lim, log_mel_spectrogram, mel_to_magnitude, save
from tfspeech.metrics import character_error_rate, paired_cer_difference
from tfspeech.plots import matrix_png

SYSTEMS = ("vocoder", "griffin_lim", "recording")
COMPARED = ("vocoder", "griffin_lim")  # PESQ/STOI/L1 compare these with the recording
TOP_DB = 60.0
PESQ_RATE = 16000
PLOT = "spectrograms.png"
TTS_PLOT = "tts_spectrograms.png"
GRIFFIN_LIM_ITERS = 60
NATS_PER_DB = np.log(10.0) / 20.0  # log-mels are natural logs of magnitudes


def log_mel_l1(log_mel, reference, top_db: float | None = None) -> float:
    """Mean absolute difference (nats) of two natural-log mels ``(frames, n_mels)`` over their
    common frames; with ``top_db`` both are floored ``top_db`` dB under the reference's peak."""
    frames = min(len(log_mel), len(reference))
    log_mel, reference = np.asarray(log_mel[:frames]), np.asarray(reference[:frames])
    if top_db is not None:
        floor = reference.max() - top_db * NATS_PER_DB
        log_mel, reference = np.maximum(log_mel, floor), np.maximum(reference, floor)
    return float(np.mean(np.abs(log_mel - reference)))


def pesq_wideband(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (MOS-LQO, 1.0 … 4.64) of ``degraded`` against ``reference``."""
    from pesq import pesq

    reference = librosa.resample(np.asarray(reference, np.float32), orig_sr=sample_rate, target_sr=PESQ_RATE)
    degraded = librosa.resample(np.asarray(degraded, np.float32), orig_sr=sample_rate, target_sr=PESQ_RATE)
    return float(pesq(PESQ_RATE, reference, degraded, "wb"))


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility (0 … 1) of ``degraded`` against ``reference``."""
    from pystoi import stoi as pystoi_stoi

    return float(pystoi_stoi(reference, degraded, sample_rate, extended=False))


def griffin_lim_audio(mel: np.ndarray, mel_config: MelConfig, length: int) -> np.ndarray:
    """Griffin-Lim (``GRIFFIN_LIM_ITERS``) from log-mels ``(frames, n_mels)``, cut or padded to
    ``length``; a spectrogram shorter than Griffin-Lim can invert gets silent frames appended."""
    magnitude = mel_to_magnitude(np.exp(mel), mel_config).numpy()
    magnitude = np.pad(magnitude, [(0, max(0, mel_config.min_frames - len(magnitude))), (0, 0)])
    waveform = griffin_lim(magnitude, mel_config, n_iter=GRIFFIN_LIM_ITERS)[0].numpy()
    return fit_length(waveform, length)


def fit_length(waveform: np.ndarray, length: int) -> np.ndarray:
    """``waveform`` cut or zero-padded to ``length`` samples."""
    waveform = np.asarray(waveform, np.float32)
    return np.pad(waveform[:length], (0, max(0, length - len(waveform))))


def vocode_utterances(model, mels: list[np.ndarray], lengths: list[int]) -> list[np.ndarray]:
    """The model's audio for each log-mel ``(frames, n_mels)``, one utterance at a time (no
    padding, so batching cannot change a result), cut to ``lengths``."""
    return [fit_length(model.generate(mel)[0], length)
            for mel, length in tqdm(list(zip(mels, lengths)), desc="vocoding held-out utterances", unit="utt")]


def evaluate(model, utterances, mel_config: MelConfig, *, out_dir: Path, vocoder_audio=None) -> dict:
    """Copy synthesis of the held-out ``utterances`` (``WaveformUtterance``s, whole) and its figures.

    ``vocoder_audio`` (one waveform per utterance) replaces the model's audio, e.g. a TFLite
    export's. Writes ``out_dir/samples/<id>-<system>.wav`` and ``out_dir/spectrograms.png``.
    Returns ``{"held_out_utterances", "seconds", "pesq", "stoi", "log_mel_l1",
    "log_mel_l1_top_db", "cer", "top_db"}``, each metric ``{system: mean}``.
    """
    out_dir = Path(out_dir)
    lengths = [u.audio.size for u in utterances]
    recordings = [u.waveform for u in utterances]
    if vocoder_audio is None:
        vocoder_audio = vocode_utterances(model, [u.mel for u in utterances], lengths)
    audio = {
        "vocoder": [fit_length(a, n) for a, n in zip(vocoder_audio, lengths)],
        "griffin_lim": [griffin_lim_audio(u.mel, mel_config, n)
                        for u, n in tqdm(list(zip(utterances, lengths)), desc="Griffin-Lim", unit="utt")],
        "recording": recordings,
    }
    scores = {name: {s: [] for s in COMPARED} for name in ("pesq", "stoi", "log_mel_l1", "log_mel_l1_top_db")}
    for i, utterance in enumerate(tqdm(utterances, desc="scoring", unit="utt")):
        for system in SYSTEMS:
            save(out_dir / "samples" / f"{utterance.id}-{system}.wav", np.clip(audio[system][i], -1, 1),
                 mel_config.sample_rate)
        for system in COMPARED:
            waveform = audio[system][i]
            log_mel = log_mel_spectrogram(waveform, mel_config).numpy()
            scores["pesq"][system].append(pesq_wideband(recordings[i], waveform, mel_config.sample_rate))
            scores["stoi"][system].append(stoi(recordings[i], waveform, mel_config.sample_rate))
            scores["log_mel_l1"][system].append(log_mel_l1(log_mel, utterance.mel))
            scores["log_mel_l1_top_db"][system].append(log_mel_l1(log_mel, utterance.mel, TOP_DB))
    _plot(utterances[0], audio, mel_config, out_dir / PLOT)
    return {
        "held_out_utterances": len(utterances),
        "seconds": round(sum(lengths) / mel_config.sample_rate, 2),
        "top_db": TOP_DB,
        **{name: {s: float(np.mean(v)) for s, v in per_system.items()} for name, per_system in scores.items()},
        **recognized(audio, [u.text for u in utterances], mel_config.sample_rate),
    }


def evaluate_tts(model, tts_model, corpus_utterances, mel_config: MelConfig, *, out_dir: Path,
                 batch_size: int = 8) -> dict:
    """Free-running ``tts_model`` mels of ``corpus_utterances`` (``tfspeech.data.layout.Utterance``)
    through the vocoder and Griffin-Lim. Writes ``out_dir/tts_samples/<id>-<system>.wav`` and
    ``out_dir/tts_spectrograms.png``; returns ``{"sentences", "seconds", "cer": {system: CER}}``."""
    from tfspeech.recipes.tts_evaluation import encode, pad_ids
    from tfspeech.text import TextEncoder

    if MelConfig.from_dict(model.mel_config) != tts_model.mel_config:
        raise ValueError("the vocoder and the TTS model use different MelConfigs")
    encoder = TextEncoder(tts_model.symbols)
    mels = []
    for start in tqdm(range(0, len(corpus_utterances), batch_size), desc="tacotron2 free running", unit="batch"):
        chunk = corpus_utterances[start: start + batch_size]
        outputs = tts_model.infer(pad_ids([encode(encoder, u) for u in chunk]))
        mels += [outputs["mels"][i, :int(n)].numpy() for i, n in enumerate(outputs["mel_lengths"])]
    audio = {"vocoder": [], "griffin_lim": []}
    for utterance, mel in zip(tqdm(corpus_utterances, desc="vocoding TTS mels", unit="utt"), mels):
        length = mel_config.num_samples(len(mel))
        audio["vocoder"].append(fit_length(model.generate(mel)[0], length))
        audio["griffin_lim"].append(griffin_lim_audio(mel, mel_config, length))
        for system in COMPARED:
            save(Path(out_dir) / "tts_samples" / f"{utterance.id}-{system}.wav", np.clip(audio[system][-1], -1, 1),
                 mel_config.sample_rate)
    pictures = [mels[0].T] + [log_mel_spectrogram(audio[s][0], mel_config).numpy().T for s in COMPARED]
    (Path(out_dir) / TTS_PLOT).write_bytes(matrix_png(
        pictures, [f"{corpus_utterances[0].id}: tacotron2-slt mels", "vocoder", "Griffin-Lim"], "frame", "mel band"))
    return {
        "sentences": len(corpus_utterances),
        "seconds": round(sum(len(a) for a in audio["vocoder"]) / mel_config.sample_rate, 2),
        **recognized(audio, [u.text for u in corpus_utterances], mel_config.sample_rate),
    }


def recognized(audio: dict[str, list[np.ndarray]], texts: list[str], sample_rate: int) -> dict:
    """``{"cer": {system: CER}, "cer_difference": vocoder minus Griffin-Lim with a 95 % paired
    bootstrap interval}`` through ``ctc-multivoice`` (one transcription per system and utterance)."""
    from tfspeech.decoding import transcribe, transcript

    references = [transcript(text) for text in texts]
    heard = {system: transcribe(waveforms, sample_rate, "ctc-multivoice") for system, waveforms in audio.items()}
    return {
        "cer": {system: character_error_rate(references, hypotheses) for system, hypotheses in heard.items()},
        "cer_difference": paired_cer_difference(references, heard["vocoder"], heard["griffin_lim"]),
    }


def evaluate_exports(model, utterances, mel_config: MelConfig, *, out_dir: Path) -> dict:
    """TFLite exports (float32 and dynamic-range int8) of the vocoder: size, parity against Keras
    (the exporter's check) and, for each, PESQ/STOI against the recordings of ``utterances`` with
    the audio LiteRT computes. Returns ``{mode: {"size_mb", "max_abs_error", "bound", "pesq", "stoi"}}``."""
    from tfspeech import export
    from tfspeech.runtime.litert_runner import LiteRTRunner

    figures = {}
    for mode in (None, "dynamic"):
        name = mode or "float32"
        path = Path(out_dir) / f"vocoder-{name}.tflite"
        try:
            report = export.tflite(model, path, quantize=mode)
        except export.ParityError as failed:  # a waveform off by more than the bound may still sound right:
            report = failed.report            # report it, and measure what a listener would hear
        runner = LiteRTRunner(path)
        pesq_scores, stoi_scores = [], []
        for utterance in tqdm(utterances, desc=f"TFLite {name}", unit="utt"):
            audio = fit_length(runner.run_signature("vocode", mel=utterance.mel[None])["audio"][0],
                               utterance.audio.size)
            pesq_scores.append(pesq_wideband(utterance.waveform, audio, mel_config.sample_rate))
            stoi_scores.append(stoi(utterance.waveform, audio, mel_config.sample_rate))
        worst = max(report.outputs, key=lambda o: o.max_abs_error)
        figures[name] = {"size_mb": round(report.size_bytes / 1e6, 2), "max_abs_error": worst.max_abs_error,
                         "bound": worst.bound, "passed": report.passed,
                         "pesq": float(np.mean(pesq_scores)), "stoi": float(np.mean(stoi_scores))}
    return figures


def _plot(utterance, audio: dict, mel_config: MelConfig, path: Path) -> None:
    pictures = [log_mel_spectrogram(audio[s][0], mel_config).numpy().T for s in ("recording", *COMPARED)]
    titles = [f"{utterance.id}: recording", "vocoder", "Griffin-Lim"]
    path.write_bytes(matrix_png(pictures, titles, "frame", "mel band"))


def copy_plots(evaluation_dir: Path, preset_dir: Path) -> None:
    """Copies the evaluation's plots next to the preset's card."""
    for name in (PLOT, TTS_PLOT):
        if (Path(evaluation_dir) / name).is_file():
            shutil.copyfile(Path(evaluation_dir) / name, Path(preset_dir) / name)


def flat_metrics(figures: dict) -> dict[str, float]:
    """``{name: value}`` for ``preset.json``: ``<metric>_<system>`` for every figure."""
    metrics = {}
    for name in ("pesq", "stoi", "log_mel_l1", "log_mel_l1_top_db", "cer"):
        metrics.update({f"{name}_{system}": value for system, value in figures[name].items()})
    if "tts" in figures:
        metrics.update({f"tts_cer_{system}": value for system, value in figures["tts"]["cer"].items()})
    for mode, export_figures in figures.get("exports", {}).items():
        metrics.update({f"tflite_{mode}_pesq": export_figures["pesq"],
                        f"tflite_{mode}_max_abs_error": export_figures["max_abs_error"]})
    return metrics


def table(figures: dict) -> str:
    """The copy-synthesis figures as a Markdown table, one row per system."""
    labels = {"vocoder": "this vocoder", "griffin_lim": f"Griffin-Lim ({GRIFFIN_LIM_ITERS} iterations)",
              "recording": "the recording"}
    inputs = figures.get("inputs", "the recordings' log-mels")
    rows = [f"| audio from {inputs} | PESQ (wb) | STOI | log-mel L1 | "
            f"L1 within {figures['top_db']:g} dB | CER |", "|---|---:|---:|---:|---:|---:|"]
    for system in SYSTEMS:
        compared = system in COMPARED

        def cell(name, digits=3):
            return f"{figures[name][system]:.{digits}f}" if compared else "—"

        rows.append(f"| {labels[system]} | {cell('pesq', 2)} | {cell('stoi')} | {cell('log_mel_l1')} | "
                    f"{cell('log_mel_l1_top_db')} | {figures['cer'][system]:.3f} |")
    return "\n".join(rows)


def _difference(figures: dict) -> str:
    """The vocoder-minus-Griffin-Lim CER difference and its paired bootstrap interval, in words."""
    d = figures.get("cer_difference")
    if d is None:
        return "no interval measured"
    return (f"vocoder minus Griffin-Lim {d['difference']:+.3f}, {d['confidence']:.0%} paired bootstrap interval over "
            f"sentences [{d['low']:+.3f}, {d['high']:+.3f}]")


def _exports_section(exports: dict | None) -> str:
    if not exports:
        return "The TFLite exports were not measured."
    rows = ["| TFLite export | size MB | max abs sample error vs Keras (bound) | parity | PESQ (wb) | STOI |",
            "|---|---:|---:|---|---:|---:|"]
    for mode, f in exports.items():
        rows.append(f"| {mode} | {f['size_mb']:.1f} | {f['max_abs_error']:.2g} ({f['bound']:.2g}) | "
                    f"{'passed' if f['passed'] else 'over the bound'} | {f['pesq']:.2f} | {f['stoi']:.3f} |")
    return ("## Exports\n\nBuiltin TFLite ops only (no Flex). PESQ and STOI of the audio LiteRT computes "
            "on the same held-out utterances:\n\n" + "\n".join(rows))


def _tts_section(tts: dict | None) -> str:
    if tts is None:
        return "Text to speech was not measured (no TTS model given)."
    cer = tts["cer"]
    return f"""## Held-out figures: text to speech

`tacotron2-slt`'s free-running log-mels of the first {tts['sentences']} test sentences ({tts['seconds']:.1f} s):
CER through `ctc-multivoice` with this vocoder {cer['vocoder']:.3f}, with Griffin-Lim
{cer['griffin_lim']:.3f} (lower is better); {_difference(tts)}.

![tacotron2-slt mels, then the vocoder's and Griffin-Lim's audio]({TTS_PLOT})"""


def card(name: str, model, figures: dict, data: dict, training: dict, command: str) -> str:
    """CARD.md of the vocoder preset."""
    preview = "" if training["finished"] else (
        f"\n> **Preview of a run in progress** (checkpoint at step {training['steps']:,} of "
        f"{training['target_steps']:,}), not the finished preset.\n")
    pesq_gain = figures["pesq"]["vocoder"] - figures["pesq"]["griffin_lim"]
    return f"""# {name}
{preview}
A frame-rate neural vocoder (Vocos-style `ISTFTVocoder`): log-mels (`MelConfig()`, the features
`tacotron2-slt` predicts) → ConvNeXt backbone ({model.blocks} blocks, {model.channels} channels,
valid convolutions) → log-magnitude and phase per frame → inverse DFT (a fixed matmul) and
overlap-add → {model.mel_config['sample_rate']} Hz audio. {model.count_params():,} parameters;
each output frame sees {model.context_frames} frames of context, so overlapping chunks stream exactly.

    tfspeech synthesize "Any sentence." --vocoder {name} -o out.wav

## Held-out figures: from {figures.get('inputs', "the recordings' log-mels")}

{figures['held_out_utterances']} whole utterances of the corpus `test` split (never trained on),
{figures['seconds']:.1f} s of audio. PESQ and STOI compare the audio with the recording (higher is
better); log-mel L1 is the mean absolute difference (nats) to the recording's log-mels; CER is the
`ctc-multivoice` recognizer's character error rate (lower is better).

{table(figures)}

PESQ gain over Griffin-Lim: {pesq_gain:+.2f}. CER {_difference(figures)}.

![recording, vocoder and Griffin-Lim spectrograms of a held-out utterance]({PLOT})

{_tts_section(figures.get("tts"))}

{_exports_section(figures.get("exports"))}

Listening samples (WAV per utterance and system, copy synthesis and TTS) are written by the
measuring command into `<run-dir>/evaluation/samples/` and `tts_samples/`; they are not committed.

Measured by: `{command}`

## Data

{data['corpus']}, {data['sentences']} synthesized sentences (corpus fingerprint `{data['fingerprint']}`).

## Training

`{training['command']}`: {training['steps']:,} steps of batch {training['batch_size']}
({training['segment_frames']} frames per crop), learning rate {training['learning_rate']},
{training['wall_time_s'] / 3600:.2f} h on {training['hardware']}. {_stage_text(training, figures)}
"""


def _stage_text(training: dict, figures: dict) -> str:
    stage = training.get("stage", "reconstruction")
    if stage == "reconstruction":
        text = "Reconstruction losses only (multi-resolution STFT, mel L1, phase derivatives)."
        gan = figures.get("adversarial_stage")
        return text if gan is None else text + "\n\n" + _stage_table(figures, gan)
    if stage == "tts":
        return ("Warm-started from the reconstruction stage's checkpoint, then fine-tuned with the same losses on "
                f"{figures.get('inputs', 'a TTS model')} of the training split against the recordings, so it "
                "learns the TTS model's blur.")
    text = ("Adversarial stage: warm-started from the reconstruction stage's checkpoint, then trained "
            "against period and resolution discriminators (LSGAN, feature matching) with the reconstruction "
            "loss (weight 45).")
    first = figures.get("reconstruction_stage")
    return text if first is None else text + "\n\n" + _stage_table(first, figures)


def _stage_table(first: dict, gan: dict) -> str:
    """The ablation: the reconstruction stage's figures next to the adversarial stage's."""
    rows = ["| stage | PESQ (wb) | STOI | log-mel L1 | CER | TTS CER (sentences) |", "|---|---:|---:|---:|---:|---:|"]
    for label, f in (("reconstruction only", first), ("reconstruction + adversarial", gan)):
        tts = f"{f['tts']['cer']['vocoder']:.3f} ({f['tts']['sentences']})" if "tts" in f else "—"
        rows.append(f"| {label} | {f['pesq']['vocoder']:.2f} | {f['stoi']['vocoder']:.3f} | "
                    f"{f['log_mel_l1']['vocoder']:.3f} | {f['cer']['vocoder']:.3f} | {tts} |")
    return ("What the adversarial stage (`--stage adversarial`) adds (same held-out utterances):\n\n"
            + "\n".join(rows))
