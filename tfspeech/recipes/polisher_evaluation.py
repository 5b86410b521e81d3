"""Held-out figures of spectrogram polishers on a TTS model's free-running log-mels.

The TTS model (``tacotron2-slt``) speaks the test sentences free running (``infer``, as users
synthesize); each system is those mels as they are (``unpolished``) or through a polisher, and
is compared with the recordings of the same sentences:

- over-smoothing: the global variance (GV) of each mel band, per utterance over its speech
  frames (edges quieter than ``TRIM_DB`` under the peak dropped), averaged over utterances,
  as a ratio to the recordings' (1 = as sharp as real speech); and the modulation-spectrum
  distance: RMS difference (dB) of the bands' temporal modulation spectra (Welch, ``SEGMENT``
  frames) to the recordings';
- faithfulness: DTW log-mel L1 (nats, ``tfspeech.tts_metrics.dtw_mel_l1``) to the recording;
- intelligibility: CER through ``ctc-multivoice`` of the audio the vocoder makes of the mels;
- cost: the polisher's real-time factor as a TFLite model on one thread (seconds of
  polishing per second of speech).

Writes WAVs (``samples/<id>-<system>.wav`` with the recording), ``spectrograms.png`` (one
sentence: recording and each system) and ``gv_ratios.png`` (the ratio per band).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.signal import welch
from tqdm import tqdm

from tfspeech import tts_metrics
from tfspeech.audio import load, save
from tfspeech.metrics import intelligibility
from tfspeech.plots import matrix_png
from tfspeech.recipes.tts_evaluation import encode, pad_ids
from tfspeech.text import TextEncoder

TRIM_DB = 40.0
NATS_PER_DB = np.log(10.0) / 20.0  # log-mels are natural logs of magnitudes
SEGMENT = 64  # frames per modulation-spectrum segment (0.74 s at hop 256, 22,050 Hz)
UNPOLISHED = "unpolished"
SPECTROGRAMS = "spectrograms.png"
GV_PLOT = "gv_ratios.png"


def speech_frames(mel: np.ndarray, top_db: float = TRIM_DB) -> np.ndarray:
    """``mel`` ``(frames, n_mels)`` without its leading and trailing frames whose loudest band is
    more than ``top_db`` dB under the utterance's peak (silence pruning)."""
    loud = np.flatnonzero(mel.max(axis=1) > mel.max() - top_db * NATS_PER_DB)
    return mel[loud[0]: loud[-1] + 1]


def global_variance(mels) -> np.ndarray:
    """``(n_mels,)``: each band's variance over an utterance's speech frames, averaged over utterances."""
    return np.mean([speech_frames(m).var(axis=0) for m in mels], axis=0)


def gv_ratios(mels, references) -> np.ndarray:
    """``(n_mels,)`` global variance of ``mels`` over that of ``references`` (1: as sharp)."""
    return global_variance(mels) / global_variance(references)


def modulation_spectrum(mels, segment: int = SEGMENT) -> np.ndarray:
    """``(segment // 2 + 1, n_mels)`` mean power (dB) of each band's trajectory over time,
    Welch-averaged in ``segment``-frame Hann windows, then over utterances."""
    powers = []
    for mel in mels:
        mel = speech_frames(mel)
        if len(mel) < segment:
            mel = np.pad(mel, [(0, segment - len(mel)), (0, 0)], mode="edge")
        powers.append(welch(mel, nperseg=segment, axis=0, detrend="constant")[1])
    return 10.0 * np.log10(np.mean(powers, axis=0) + 1e-12)


def modulation_distance(mels, references) -> float:
    """RMS (dB) of the difference of the two modulation spectra, over bands and modulation frequencies."""
    return float(np.sqrt(np.mean((modulation_spectrum(mels) - modulation_spectrum(references)) ** 2)))


def free_running_mels(tts_model, sentences, batch_size: int = 8) -> list[np.ndarray]:
    """``tts_model.infer`` log-mels ``(frames, n_mels)`` of ``sentences`` (``layout.Utterance``)."""
    encoder = TextEncoder(tts_model.symbols)
    mels = []
    for start in tqdm(range(0, len(sentences), batch_size), desc="TTS free running", unit="batch"):
        outputs = tts_model.infer(pad_ids([encode(encoder, u) for u in sentences[start: start + batch_size]]))
        mels += [outputs["mels"][i, :int(n)].numpy() for i, n in enumerate(outputs["mel_lengths"])]
    return mels


def polishing_rtf(polisher, mels, out_dir: Path) -> dict:
    """The polisher exported to TFLite (float32, builtin ops, parity checked on two and more
    lengths), run on one thread over ``mels``: ``{"rtf", "size_mb", "max_abs_error", "bound"}``."""
    from tfspeech import export
    from tfspeech.runtime.litert_runner import LiteRTRunner

    report = export.tflite(polisher, Path(out_dir) / "polisher.tflite")
    runner = LiteRTRunner(report.path, num_threads=1)
    runner.run_signature("polish", mel=mels[0][None])  # allocate once
    seconds = 0.0
    for mel in mels:
        start = time.perf_counter()
        runner.run_signature("polish", mel=mel[None])
        seconds += time.perf_counter() - start
    config = polisher.mel_config
    audio_seconds = sum(len(m) for m in mels) * config["hop_length"] / config["sample_rate"]
    worst = max(report.outputs, key=lambda o: o.max_abs_error)
    return {"rtf": seconds / audio_seconds, "size_mb": round(report.size_bytes / 1e6, 2),
            "max_abs_error": worst.max_abs_error, "bound": worst.bound}


def evaluate(polishers: dict, tts_model, vocoder, sentences, corpus_dir, *, out_dir: Path) -> dict:
    """Figures of ``unpolished`` and each ``{name: SpectrogramPolisher}`` on ``sentences`` (test
    split ``layout.Utterance``s of ``corpus_dir``), with ``vocoder`` (an ``ISTFTVocoder``) making audio.

    Returns ``{"sentences", "seconds", "recording_cer", "systems": {name: {"gv_ratio_mean",
    "gv_ratios", "modulation_distance_db", "dtw_mel_l1", "cer"}}, "rtf": {name: ...}}``.
    """
    from tfspeech.data.features import cache_log_mels

    out_dir = Path(out_dir)
    config = tts_model.mel_config
    features = cache_log_mels(corpus_dir, config, progress=False)
    references = [np.load(features / f"{u.id}.npy") for u in sentences]
    recordings = [load(u.wav_path(corpus_dir), sample_rate=config.sample_rate)[0] for u in sentences]
    texts = [u.text for u in sentences]
    unpolished = free_running_mels(tts_model, sentences)
    systems = {UNPOLISHED: unpolished}
    for name, polisher in polishers.items():
        systems[name] = [polisher.polish(m)[0] for m in tqdm(unpolished, desc=f"polishing ({name})", unit="utt")]
    figures = {"sentences": len(sentences), "seconds": round(sum(len(r) for r in recordings) / config.sample_rate, 2),
               "recording_cer": intelligibility(recordings, texts, config.sample_rate), "systems": {}}
    for name, mels in systems.items():
        audio = [vocoder.generate(m)[0] for m in tqdm(mels, desc=f"vocoding ({name})", unit="utt")]
        for utterance, waveform in zip(sentences, audio):
            save(out_dir / "samples" / f"{utterance.id}-{name}.wav", np.clip(waveform, -1, 1), config.sample_rate)
        ratios = gv_ratios(mels, references)
        figures["systems"][name] = {
            "gv_ratio_mean": float(ratios.mean()),
            "gv_ratios": [round(float(r), 4) for r in ratios],
            "modulation_distance_db": modulation_distance(mels, references),
            "dtw_mel_l1": float(np.mean([tts_metrics.dtw_mel_l1(m, r) for m, r in zip(mels, references)])),
            "cer": intelligibility(audio, texts, config.sample_rate),
        }
    for utterance, recording in zip(sentences, recordings):
        save(out_dir / "samples" / f"{utterance.id}-recording.wav", recording, config.sample_rate)
    figures["rtf"] = {name: polishing_rtf(polisher, unpolished, out_dir / name) for name, polisher in polishers.items()}
    (out_dir / SPECTROGRAMS).write_bytes(matrix_png(
        [references[0].T] + [mels[0].T for mels in systems.values()],
        [f"{sentences[0].id}: recording"] + [f"tacotron2-slt free running, {name}" for name in systems],
        "frame", "mel band"))
    (out_dir / GV_PLOT).write_bytes(gv_plot({n: s["gv_ratios"] for n, s in figures["systems"].items()}))
    return figures


def gv_plot(ratios: dict) -> bytes:
    """PNG: the global-variance ratio per mel band, one line per system, with the ideal 1."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, values in ratios.items():
        axes.plot(values, label=name)
    axes.axhline(1.0, color="black", linestyle="--", linewidth=1, label="recordings")
    axes.set(xlabel="mel band", ylabel="GV ratio to the recordings", yscale="log")
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def gap_closed(before: float, after: float) -> float:
    """Share of the distance from ``before`` to the ideal ratio 1 that ``after`` covers."""
    return (after - before) / (1.0 - before)
