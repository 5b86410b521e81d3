"""Held-out figures of a mel-conditioned WaveNet vocoder, next to Griffin-Lim from the same mels.

For each held-out utterance the log-mels (the vocoder's input) become audio three ways:
``wavenet`` (the model, sampled), ``griffin_lim`` (NNLS mel inversion + Griffin-Lim) and
``mulaw_reference`` (the recording itself, mu-law quantized as the model hears it: what a
perfect vocoder with the model's quantization would produce). Each is scored by the log-mel
distance to the input log-mels, over the full range and over the top ``TOP_DB`` dB of each
utterance, by the teacher-forced likelihood of the recording under the model and, given the
utterances' texts, by intelligibility: the character error rate of the ``ctc-multivoice``
recognizer on each system's audio. The log-mel distance favours Griffin-Lim, which fits the
magnitudes it is scored against; the CER asks what a listener needs, the words. WAVs of all
three are written for listening, and a PNG shows the spectrograms side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from tfspeech.audio import MelConfig, griffin_lim, log_mel_spectrogram, mel_to_magnitude, mulaw_decode, save
from tfspeech.metrics import intelligibility
from tfspeech.plots import matrix_png

SYSTEMS = ("wavenet", "griffin_lim", "mulaw_reference")
TOP_DB = 60.0
PLOT = "spectrograms.png"
NATS_PER_DB = np.log(10.0) / 20.0  # log-mels are natural logs of magnitudes


def log_mel_distance(log_mel, reference, top_db: float | None = None) -> float:
    """RMS difference (nats) of two natural-log mel spectrograms ``(frames, n_mels)`` over
    their common frames.

    With ``top_db``, both are first floored at ``top_db`` dB below the reference's loudest
    bin, so bins far under the speech (digital silence, quantization noise) do not dominate.
    """
    frames = min(len(log_mel), len(reference))
    log_mel, reference = np.asarray(log_mel[:frames]), np.asarray(reference[:frames])
    if top_db is not None:
        floor = reference.max() - top_db * NATS_PER_DB
        log_mel, reference = np.maximum(log_mel, floor), np.maximum(reference, floor)
    return float(np.sqrt(np.mean((log_mel - reference) ** 2)))


def vocode_held_out(model, utterances, mel_config: MelConfig, max_frames: int | None = None,
                    seed: int = 0) -> list[dict]:
    """``[{system: waveform}]`` per utterance (its first ``max_frames`` frames; None: all), all of its length.

    WaveNet generates every utterance in one batch (shorter mels padded with silence, the
    padding's samples cut off afterwards)."""
    mels = [u.mel[:max_frames] for u in utterances]
    lengths = [min(u.num_samples, len(mel) * mel_config.hop_length) for u, mel in zip(utterances, mels)]
    frames = max(len(mel) for mel in mels)
    silence = np.log(mel_config.log_floor)
    batch = np.full((len(mels), frames, mel_config.n_mels), silence, np.float32)
    for row, mel in zip(batch, mels):
        row[: len(mel)] = mel
    generated = model.generate(batch, seed=seed)
    audio = []
    for i, (utterance, mel, length) in enumerate(tqdm(list(zip(utterances, mels, lengths)), unit="utt",
                                                      desc="Griffin-Lim on held-out utterances")):
        magnitude = mel_to_magnitude(np.exp(mel), mel_config)
        audio.append({
            "wavenet": generated[i, :length],
            # The inverse STFT of centred frames ends (frames - 1) * hop samples in: pad to length.
            "griffin_lim": _fit(griffin_lim(magnitude, mel_config)[0].numpy(), length),
            "mulaw_reference": mulaw_decode(utterance.classes[:length].astype(np.int32),
                                            model.quantization_channels).numpy(),
        })
    return audio


def held_out_nll(model, utterance, max_frames: int | None = None) -> float:
    """Mean negative log-likelihood (nats per sample) of the utterance's first ``max_frames``
    (None: all) frames of mu-law audio under the model, teacher forced (its training loss, held out)."""
    mel = utterance.mel[:max_frames]
    samples = min(utterance.num_samples, len(mel) * model.hop_length)
    log_likelihood = model.log_likelihood({"audio": utterance.classes[None, : len(mel) * model.hop_length],
                                           "mel": mel[None]})
    return float(-np.mean(log_likelihood[0, :samples]))


def _fit(waveform: np.ndarray, length: int) -> np.ndarray:
    """``waveform`` cut or zero-padded to ``length`` samples."""
    return np.pad(waveform[:length], (0, max(0, length - len(waveform))))


def evaluate(model, utterances, mel_config: MelConfig, *, max_frames: int | None = None, out_dir: Path,
             texts: list[str] | None = None) -> dict:
    """Vocodes the held-out ``utterances`` (``VocoderUtterance``s; their first ``max_frames``
    frames, None: whole) and scores them.

    Writes ``out_dir/samples/<id>-<system>.wav`` and ``out_dir/spectrograms.png`` (the first
    utterance). Returns ``{"held_out_utterances", "seconds", "log_mel_distance":
    {system: mean nats}, "log_mel_distance_top_db": {...}, "top_db", "nll_nats_per_sample"}``
    and, with ``texts`` (one per utterance, which must then be whole), ``"cer": {system: CER}``.
    """
    if texts is not None:
        if len(texts) != len(utterances):
            raise ValueError(f"got {len(texts)} texts for {len(utterances)} utterances; give one text each")
        longest = max(len(u.mel) for u in utterances)
        if max_frames is not None and longest > max_frames:
            raise ValueError(f"the CER needs whole utterances, but max_frames={max_frames} cuts one of "
                             f"{longest} frames; pass max_frames=None (or at least {longest}) or no texts")
    audio = vocode_held_out(model, utterances, mel_config, max_frames)
    nll = [held_out_nll(model, u, max_frames) for u in utterances]
    full = {system: [] for system in SYSTEMS}
    top = {system: [] for system in SYSTEMS}
    samples_dir = Path(out_dir) / "samples"
    pictures = [utterances[0].mel[:max_frames].T]
    for index, (utterance, waveforms) in enumerate(zip(utterances, audio)):
        reference = utterance.mel[:max_frames]
        for system, waveform in waveforms.items():
            save(samples_dir / f"{utterance.id}-{system}.wav", np.clip(waveform, -1, 1), mel_config.sample_rate)
            log_mel = log_mel_spectrogram(np.asarray(waveform, np.float32), mel_config).numpy()
            full[system].append(log_mel_distance(log_mel, reference))
            top[system].append(log_mel_distance(log_mel, reference, TOP_DB))
            if index == 0 and system in ("wavenet", "griffin_lim"):
                pictures.append(log_mel.T)
    (Path(out_dir) / PLOT).write_bytes(matrix_png(
        pictures, [f"{utterances[0].id}: input log-mel", "WaveNet", "Griffin-Lim"], "frame", "mel band"))
    figures = {
        "held_out_utterances": len(utterances),
        "seconds": round(sum(len(a["wavenet"]) for a in audio) / mel_config.sample_rate, 2),
        "top_db": TOP_DB,
        "max_frames": max_frames,
        "nll_nats_per_sample": float(np.average(nll, weights=[len(a["wavenet"]) for a in audio])),
        "log_mel_distance": {s: float(np.mean(v)) for s, v in full.items()},
        "log_mel_distance_top_db": {s: float(np.mean(v)) for s, v in top.items()},
    }
    if texts is not None:
        figures["cer"] = {s: intelligibility([a[s] for a in audio], texts, mel_config.sample_rate) for s in SYSTEMS}
    return figures


def flat_metrics(figures: dict) -> dict[str, float]:
    """``{name: value}`` for ``preset.json``: ``held_out_nll_nats_per_sample``,
    ``log_mel_distance_<system>``, ``..._top60db_<system>`` and, if measured, ``cer_<system>``."""
    suffix = f"top{figures['top_db']:g}db"
    metrics = {"held_out_nll_nats_per_sample": figures["nll_nats_per_sample"]}
    metrics.update({f"log_mel_distance_{s}": v for s, v in figures["log_mel_distance"].items()})
    metrics.update({f"log_mel_distance_{suffix}_{s}": v for s, v in figures["log_mel_distance_top_db"].items()})
    metrics.update({f"cer_{s}": v for s, v in figures.get("cer", {}).items()})
    return metrics


def card(name: str, model, figures: dict, data: dict, training: dict, command: str) -> str:
    """CARD.md of a vocoder preset: what it is, its held-out figures next to Griffin-Lim, data, training."""
    full, top = figures["log_mel_distance"], figures["log_mel_distance_top_db"]
    labels = {"wavenet": f"`{name}` (sampled, temperature {model.sampling_temperature:g})",
              "griffin_lim": "Griffin-Lim from the same mels",
              "mulaw_reference": f"the recording, {model.quantization_channels}-level mu-law (a perfect vocoder)"}
    cer = figures.get("cer")
    header = f"| audio from the held-out log-mels | full range | top {figures['top_db']:g} dB |"
    rule = "|---|---:|---:|"
    if cer is not None:
        header, rule = header + " CER (`ctc-multivoice`) |", rule + "---:|"
    rows = "\n".join(f"| {labels[s]} | {full[s]:.3f} | {top[s]:.3f} |" + (f" {cer[s]:.3f} |" if cer else "")
                     for s in SYSTEMS)
    cer_meaning = ("; CER: character error rate of the `ctc-multivoice` recognizer (greedy) on the audio"
                   if cer else "")
    extent = ("whole utterances" if figures["max_frames"] is None
              else f"their first {figures['max_frames']} frames only")
    sample_rate = model.mel_config["sample_rate"]
    receptive_ms = 1000 * model.receptive_field / sample_rate
    preview = "" if training["finished"] else (
        f"\n> **Preview of a run in progress** (checkpoint at step {training['steps']:,} of "
        f"{training['target_steps']:,}), not the finished preset.\n")
    return f"""# {name}
{preview}
A mel-conditioned WaveNet vocoder: log-mels (`MelConfig()`, the features `tacotron2-slt`
predicts) in, {sample_rate} Hz audio out, {model.quantization_channels}-level mu-law
categorical output. {model.stacks} stacks of {model.layers_per_stack} dilated causal layers
(receptive field {model.receptive_field} samples, {receptive_ms:.0f} ms), {model.count_params():,} parameters.

    tfspeech synthesize "Any sentence." --vocoder {name} -o out.wav

## Held-out figures

{figures['held_out_utterances']} utterances of the corpus `test` split (never trained on),
{extent} ({figures['seconds']:.1f} s of audio in all). Log-mel distance: RMS difference
(nats) between the log-mel of the audio and the input log-mel{cer_meaning}; lower is better.

{header}
{rule}
{rows}

{_reading(full, top, figures['top_db'], cer)}

Teacher forced on the same audio (each sample predicted from the recorded samples before it),
the negative log-likelihood is {figures['nll_nats_per_sample']:.3f} nats per sample: the training loss, held out.

![input log-mel, WaveNet and Griffin-Lim spectrograms of a held-out utterance]({PLOT})

Listening samples (WAV per utterance: the mu-law recording, WaveNet, Griffin-Lim)
are written by the measuring command below into `<run-dir>/evaluation/samples/`; they are not committed.

Measured by: `{command}`

## Data

{data['corpus']}, {data['sentences']} synthesized sentences (corpus fingerprint `{data['fingerprint']}`).

## Training

`{training['command']}`: {training['steps']:,} steps of batch {training['batch_size']}
({training['segment_samples']} samples per crop), {training['wall_time_s'] / 3600:.2f} h on {training['hardware']}.
"""


def _reading(full: dict, top: dict, top_db: float, cer: dict | None = None) -> str:
    """What the table says: which vocoder is closer, in each range, why the ranges differ, and
    which is more intelligible."""
    def verdict(distances):
        return "beats" if distances["wavenet"] < distances["griffin_lim"] else "does not beat"

    text = (f"WaveNet {verdict(top)} Griffin-Lim within {top_db:g} dB of each utterance's loudest bin "
            f"(the range that carries the speech), and {verdict(full)} it over the full range.")
    if full["mulaw_reference"] > full["griffin_lim"]:
        text += (" Over the full range (down to `MelConfig.log_floor` = 1e-5) even the perfect mu-law "
                 "vocoder scores worse than Griffin-Lim: quantization noise fills the digital silence and "
                 "the quiet bins, which Griffin-Lim reproduces from the magnitudes it is given, so that "
                 "column measures the output's quantization more than the vocoder.")
    if cer is not None:
        clearer = "more" if cer["wavenet"] < cer["griffin_lim"] else "less"
        text += (f" To a recognizer, WaveNet's audio is {clearer} intelligible than Griffin-Lim's "
                 f"(CER {cer['wavenet']:.3f} against {cer['griffin_lim']:.3f}; the mu-law recording "
                 f"{cer['mulaw_reference']:.3f}).")
    return text
