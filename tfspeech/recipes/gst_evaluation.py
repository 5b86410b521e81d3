"""Held-out evaluation of the GST recipe's run (issue 23) and the ``gst-tacotron2-slt`` preset written from it.

    python -m tfspeech.recipes.gst_tacotron2_slt --evaluate                      # measure, write the preset
    python -m tfspeech.recipes.gst_tacotron2_slt --evaluate --style-sentences 2  # a quick look while it trains

The run's ``model.keras`` when training has finished, else its latest checkpoint (a preview,
written to ``<run>/preview-zoo`` unless ``--zoo`` says otherwise; ``tts_evaluation.load_run``).
Every figure is measured on sentences of the corpus's test split (splits go by sentence text:
neither this model nor tacotron2-slt trained on them), spoken through ``istft-vocoder-slt``:

- style transfer: for each style voice (a pitch and speed setting of slt), ``style_sentences``
  sentences synthesized with the token weights of that voice's recording of *another* test
  sentence (sentence ``i`` takes sentence ``i + 1``'s recording, cyclically). Per setting: the
  output's median F0 (``librosa.pyin``, voiced frames only, ``F0_RANGE_HZ``) and speaking rate
  (phonemes per second: ARPAbet phonemes the text encoder gives the sentence, over the frames
  synthesized up to the stop token), next to the same two figures of that voice's recordings of
  the same sentences (the target). Across the settings: Spearman ρ between output and recordings
  and the mean absolute error (semitones; % of the recordings' rate); the mean style (no
  reference) as the baseline row;
- token control: the mean style with one token's weight set to each of ``token_values`` in every
  head (``token_weights`` states the rule); F0 and rate against the weight, one line per token,
  and each token's least-squares slope;
- intelligibility: CER through ``ctc-multivoice`` of the neutral voice's sentences with a neutral
  reference, with the ``neutral`` named style (below) and with the mean style, beside
  ``tacotron2-slt`` on the same sentences (paired
  bootstrap interval of the difference); the share of the style-transfer sentences that stop
  within 1.2× their recording's length;
- named styles: each setting's style under a name (``Style.named_style``: ``low``/``high`` pitch,
  ``slow``/``fast`` speed, ``neutral``), its token weights the mean of ``reference_weights`` over
  ``NAMED_STYLE_REFERENCES`` of that voice's recordings from the *train* split (never the test
  sentences measured here); the style-transfer sentences spoken in each named style, their median
  F0 and rate measured as above, re. the ``neutral`` named style. The preset's model carries them
  (``GSTTacotron2.named_styles``: ``tfspeech synthesize --style NAME``).

Outputs: ``<run>/evaluation/metrics.json`` (every figure and every sentence's measurements),
``token-control.png``, ``alignments/<style>.png``, ``samples/<style>-{reference,output,recording}.wav``;
the preset folder (``preset.json`` with the named styles in its config, weights, ``CARD.md``, the PNGs).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import librosa
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from tfspeech import tts_metrics, zoo
from tfspeech.audio import load, save
from tfspeech.data.corpus import default_cache_dir
from tfspeech.data.features import cache_log_mels
from tfspeech.data.layout import MANIFEST, Utterance, read_corpus
from tfspeech.data.voices import parse_voice
from tfspeech.decoding import transcribe, transcript
from tfspeech.metrics import character_error_rate, paired_cer_difference
from tfspeech.plots import save_alignment_plot
from tfspeech.recipes import tts_evaluation
from tfspeech.recipes.tts_recipe import corpus_fingerprint
from tfspeech.text import TextEncoder
from tfspeech.text.symbols import ARPABET

STYLE_SENTENCES = 8
TOKEN_SENTENCES = 3
TOKEN_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)
INTELLIGIBILITY_SENTENCES = 48  # of the 55 test sentences of the GST corpus
BATCH_SIZE = 8
F0_RANGE_HZ = (100.0, 400.0)  # slt (median about 177 Hz) at -3..+3 semitones
VOCODER = "istft-vocoder-slt"
GOALS = {"spearman": 0.9, "f0_error_semitones": 1.0, "rate_error_percent": 10.0, "cer_margin": 0.03}
ALIGNMENT_SENTENCES = 2
TOKEN_PLOT = "token-control.png"
ALIGNMENTS = "alignments"
SAMPLES = "samples"  # WAVs under <run>/evaluation, not copied into the preset
METRICS = "metrics.json"
NAMED_STYLE_REFERENCES = 32  # training recordings of a setting whose mean token weights are its named style
NAMED_STYLE_SPLIT = "train"  # never the test split: its sentences are what this evaluation measures
NEUTRAL_NAME = "neutral"  # the named style of the setting with pitch 0 and speed 1
STYLED_AUDIO = ("neutral_reference", "neutral_named_style", "mean_style")  # the CER comparison's GST audio


@dataclass(frozen=True)
class Style:
    """A style voice of the corpus: its spec, pitch (semitones) and speed (rate factor)."""

    voice: str
    pitch: float
    speed: float

    @classmethod
    def of(cls, voice: str) -> "Style":
        parsed = parse_voice(voice)
        return cls(voice, parsed.pitch, parsed.speed)

    @property
    def name(self) -> str:
        """File-name label: ``pitch-3-speed0.85``."""
        return f"pitch{self.pitch:+g}-speed{self.speed:g}".replace("+0", "0")

    @property
    def named_style(self) -> str:
        """The preset's name of this setting's style (``--style``): ``low``/``high`` for a lowered/raised
        pitch, ``slow``/``fast`` for a lowered/raised speed, joined by '-' (``low-slow``); ``neutral``
        for the voice as it is."""
        words = [word for word, applies in (("low", self.pitch < 0), ("high", self.pitch > 0),
                                            ("slow", self.speed < 1), ("fast", self.speed > 1)) if applies]
        return "-".join(words) or NEUTRAL_NAME


@dataclass
class Spoken:
    """One synthesized sentence: its log-mels ``(frames, n_mels)``, alignment ``(steps, text)``,
    whether it stopped on its stop token, and its waveform at the model's rate."""

    mels: np.ndarray
    alignment: np.ndarray
    stopped: bool
    waveform: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.mels)


# --- measuring ---------------------------------------------------------------------------

def median_f0(waveform: np.ndarray, sample_rate: int) -> float:
    """Median F0 (Hz) over the voiced frames ``librosa.pyin`` finds in ``F0_RANGE_HZ``; NaN when
    no frame is voiced."""
    frame_length = 2048 if sample_rate > 16000 else 1024
    waveform = np.pad(np.asarray(waveform, np.float32), (0, max(0, frame_length - len(waveform))))
    f0, voiced, _ = librosa.pyin(waveform, fmin=F0_RANGE_HZ[0], fmax=F0_RANGE_HZ[1], sr=sample_rate,
                                 frame_length=frame_length)
    voiced_f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(voiced_f0)) if voiced_f0.size else math.nan


def phoneme_count(encoder: TextEncoder, ids) -> int:
    """ARPAbet phonemes among ``ids`` (no space, punctuation or end-of-sequence)."""
    return sum(encoder.symbols[i] in ARPABET for i in ids)


def setting_figures(f0_hz, phonemes, seconds) -> dict:
    """One setting's figures from its sentences' median F0s (Hz, NaN allowed), phoneme counts and
    durations (s): ``f0_hz`` (median over the sentences) and ``rate`` (phonemes per second, all
    sentences' phonemes over all their seconds)."""
    f0_hz = np.asarray(f0_hz, np.float64)
    f0 = float(np.nanmedian(f0_hz)) if np.isfinite(f0_hz).any() else math.nan
    return {"f0_hz": f0, "rate": float(np.sum(phonemes) / np.sum(seconds))}


def semitones(f0_hz, reference_hz):
    """``12 log2(f0 / reference)``."""
    return 12.0 * np.log2(np.asarray(f0_hz, np.float64) / reference_hz)


def transfer_summary(outputs: list[dict], recordings: list[dict], baseline: dict, pitches, speeds) -> dict:
    """Across settings: Spearman ρ of the outputs' F0 and rate against the nominal ``pitches`` and
    ``speeds`` (ties averaged; the goal: the issue asks that F0 and rate follow the *settings*) and
    against the recordings' figures, the mean absolute errors against the recordings (semitones, %
    of the recordings' rate) and the goals; the same errors of the ``baseline`` figures (the mean
    style, one output for every setting).

    With 3 pitches × 3 speeds, an output that gets every pitch level right but orders the speeds
    of one pitch at random scores ρ 0.9 against the recordings on average (their F0 differs by
    noise within a pitch level); against the nominal pitches such an output scores 0.95 (and for
    rates, whose recordings tie across the pitches of a speed, 0.95 against both)."""
    out_f0, rec_f0 = [o["f0_hz"] for o in outputs], [r["f0_hz"] for r in recordings]
    out_rate, rec_rate = np.array([o["rate"] for o in outputs]), np.array([r["rate"] for r in recordings])
    summary = {
        "f0_spearman": _spearman(out_f0, rec_f0),
        "f0_spearman_nominal": _spearman(out_f0, pitches),
        "rate_spearman_nominal": _spearman(out_rate, speeds),
        "f0_error_semitones": float(np.mean(np.abs(semitones(out_f0, np.array(rec_f0))))),
        "rate_spearman": _spearman(out_rate, rec_rate),
        "rate_error_percent": float(np.mean(np.abs(out_rate / rec_rate - 1.0)) * 100.0),
        "baseline_f0_error_semitones": float(np.mean(np.abs(semitones(baseline["f0_hz"], np.array(rec_f0))))),
        "baseline_rate_error_percent": float(np.mean(np.abs(baseline["rate"] / rec_rate - 1.0)) * 100.0),
    }
    summary["f0_goal_met"] = bool(summary["f0_spearman_nominal"] >= GOALS["spearman"]
                                  and summary["f0_error_semitones"] <= GOALS["f0_error_semitones"])
    summary["rate_goal_met"] = bool(summary["rate_spearman_nominal"] >= GOALS["spearman"]
                                    and summary["rate_error_percent"] <= GOALS["rate_error_percent"])
    return summary


def _spearman(a, b) -> float:
    """Spearman ρ; NaN when a side is constant or holds NaN."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def token_weights(mean_style: np.ndarray, token: int, value: float) -> np.ndarray:
    """Token weights ``(heads, tokens)`` of the sweep: in every head, ``token`` gets ``value`` and
    the other tokens share ``1 - value`` in the proportions of the mean style (equally where the
    mean style gives them nothing), so each head's weights sum to 1."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a token weight of the sweep lies in [0, 1], got {value}")
    others = np.array(mean_style, np.float64)
    others[:, token] = 0.0
    total = others.sum(axis=1, keepdims=True)
    share = np.where(total > 0, others / np.where(total > 0, total, 1.0), 1.0 / (others.shape[1] - 1))
    share[:, token] = 0.0
    weights = share * (1.0 - value)
    weights[:, token] = value
    return weights.astype(np.float32)


def slope(x, y) -> float:
    """Least-squares slope of ``y`` on ``x`` (NaN points left out; NaN with fewer than 2)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(y)
    return float(np.polyfit(x[keep], y[keep], 1)[0]) if keep.sum() >= 2 else math.nan


@dataclass(frozen=True)
class Recordings:
    """A corpus's recordings and their cached log-mels (``cache_log_mels`` of the model's ``MelConfig``)."""

    corpus_dir: Path
    features: Path
    sample_rate: int

    def log_mel(self, utterance: Utterance) -> np.ndarray:
        """``(frames, n_mels)``."""
        return np.load(self.features / f"{utterance.id}.npy")

    def frames(self, utterance: Utterance) -> int:
        return np.load(self.features / f"{utterance.id}.npy", mmap_mode="r").shape[0]

    def waveform(self, utterance: Utterance) -> np.ndarray:
        """``(samples,)`` float32 at ``sample_rate``."""
        return load(utterance.wav_path(self.corpus_dir), sample_rate=self.sample_rate)[0]


# --- synthesizing --------------------------------------------------------------------------

def synthesize(model, vocoder, ids: list[list[int]], style_weights=None, *, batch_size: int = BATCH_SIZE,
               bar=None) -> list[Spoken]:
    """``model.infer`` of the id sequences in batches (``style_weights`` ``(len(ids), heads, tokens)``;
    None: the model's default style, the mean style of a GST model), each sentence's log-mels
    through ``vocoder`` (an ``ISTFTVocoder``), cut at its stop."""
    spoken = []
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        styled = {} if style_weights is None else {"style_weights": np.asarray(style_weights[start:start + batch_size])}
        outputs = {k: v.numpy() for k, v in model.infer(tts_evaluation.pad_ids(batch), **styled).items()}
        for i, sentence in enumerate(batch):
            frames = int(outputs["mel_lengths"][i])
            mels = outputs["mels"][i, :frames]
            spoken.append(Spoken(
                mels=mels, alignment=outputs["alignments"][i, :math.ceil(frames / model.reduction_factor),
                                                              :len(sentence)],
                stopped=bool((outputs["stop_probabilities"][i] > model.stop_threshold).any()),
                waveform=vocode(vocoder, mels, model.mel_config)))
            if bar is not None:
                bar.update()
    return spoken


def vocode(vocoder, mels: np.ndarray, mel_config) -> np.ndarray:
    """``(frames, n_mels)`` log-mels → float32 waveform of ``frames`` hops, padded with silence to
    the fewest samples the STFT (and so the recognizer) can analyse."""
    padded = np.pad(mels, [(0, max(0, mel_config.min_frames - len(mels))), (0, 0)],
                    constant_values=math.log(mel_config.log_floor))
    waveform = vocoder.generate(padded.astype(np.float32))[0]
    return np.clip(waveform[:max(mel_config.num_samples(len(mels)), mel_config.min_samples)], -1.0, 1.0)


def reference_weights(model, recordings: Recordings, utterances: list[Utterance]) -> np.ndarray:
    """``(len(utterances), heads, tokens)``: each recording's token weights, from its cached
    log-mels as in training."""
    return np.concatenate([model.reference_weights(recordings.log_mel(u)[None], training=False).numpy()
                           for u in utterances])


def reference_index(i: int, count: int) -> int:
    """The sentence whose recording gives sentence ``i`` of ``count`` its style: the next one, cyclically."""
    if count < 2:
        raise ValueError("style transfer needs at least 2 sentences: a reference is never the sentence itself")
    return (i + 1) % count


# --- selecting -----------------------------------------------------------------------------

def held_out_sentences(recordings: Recordings, voices, count: int, *, seed: int, min_frames: int,
                       max_frames: int, split: str = "test") -> list[dict[str, Utterance]]:
    """``count`` sentences of ``split`` drawn with ``seed`` (in corpus order), each as
    ``{voice: its utterance}`` for every voice of ``voices``: those every voice recorded in
    ``min_frames`` to ``max_frames`` log-mel frames (the reference encoder's least, the model's
    decoding guard)."""
    by_text: dict[str, dict[str, Utterance]] = {}
    for utterance in read_corpus(recordings.corpus_dir, split):
        if utterance.speaker in voices:
            by_text.setdefault(utterance.text, {})[utterance.speaker] = utterance

    candidates = [spoken for spoken in by_text.values() if len(spoken) == len(voices)
                  and all(min_frames <= recordings.frames(u) <= max_frames for u in spoken.values())]
    if len(candidates) < count:
        raise ValueError(f"{recordings.corpus_dir} has {len(candidates)} {split} sentences recorded by all of "
                         f"{len(voices)} voices within {min_frames}-{max_frames} frames; {count} were asked for")
    keep = np.random.default_rng(seed).choice(len(candidates), count, replace=False)
    return [candidates[i] for i in sorted(keep)]


def training_references(recordings: Recordings, voice: str, count: int, *, seed: int, min_frames: int,
                        max_frames: int) -> list[Utterance]:
    """``count`` recordings of ``voice`` from the corpus's ``NAMED_STYLE_SPLIT`` drawn with ``seed``
    (in corpus order), each ``min_frames`` to ``max_frames`` log-mel frames long (what training read)."""
    candidates = [u for u in read_corpus(recordings.corpus_dir, NAMED_STYLE_SPLIT)
                  if u.speaker == voice and min_frames <= recordings.frames(u) <= max_frames]
    if len(candidates) < count:
        raise ValueError(f"{recordings.corpus_dir} has {len(candidates)} {NAMED_STYLE_SPLIT} recordings of {voice} "
                         f"within {min_frames}-{max_frames} frames; its named style needs {count}")
    keep = np.random.default_rng(seed).choice(len(candidates), count, replace=False)
    return [candidates[i] for i in sorted(keep)]


# --- the evaluation -----------------------------------------------------------------------

def evaluate(model, corpus_dir, out_dir, *, baseline, baseline_name: str, vocoder, voices, neutral_voice: str,
             style_sentences: int = STYLE_SENTENCES, token_sentences: int = TOKEN_SENTENCES,
             token_values=TOKEN_VALUES, intelligibility_sentences: int = INTELLIGIBILITY_SENTENCES,
             named_style_references: int = NAMED_STYLE_REFERENCES, seed: int = 0, batch_size: int = BATCH_SIZE,
             progress: bool = True) -> dict:
    """The figures of the module doc for the GST ``model`` on ``corpus_dir``'s style ``voices``
    (``neutral_voice`` among them), ``baseline`` (a Tacotron 2 of the same symbols, the preset
    ``baseline_name``) beside it;
    writes ``out_dir/metrics.json``, the PNGs and listening samples. Returns the figures."""
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    styles = [Style.of(voice) for voice in voices]
    recordings = Recordings(corpus_dir, cache_log_mels(corpus_dir, model.mel_config, progress=progress),
                            model.mel_config.sample_rate)
    count = max(style_sentences, token_sentences, intelligibility_sentences)
    sentences = held_out_sentences(recordings, voices, count, seed=seed,
                                   min_frames=model.min_reference_frames, max_frames=model.max_frames)
    encoder = TextEncoder(model.symbols)
    ids = [tts_evaluation.encode(encoder, s[neutral_voice]) for s in sentences]
    work = 2 * len(styles) * style_sentences + count + len(token_values) * token_sentences * model.style_tokens \
        + 3 * intelligibility_sentences
    with tqdm(total=work, desc="synthesis", unit="sentence", disable=not progress) as bar:
        def speak(chosen_model, chosen_ids, weights=None):
            return synthesize(chosen_model, vocoder, chosen_ids, weights, batch_size=batch_size, bar=bar)

        mean_style = speak(model, ids)
        transfer = style_transfer(model, speak, styles, sentences[:style_sentences], ids, mean_style, recordings,
                                  encoder, out_dir, neutral_voice)
        tokens = token_control(model, speak, ids[:token_sentences], mean_style, encoder, token_values, out_dir)
        named = named_styles(model, speak, styles, ids[:style_sentences], recordings, encoder, neutral_voice,
                             references=named_style_references, seed=seed)
        heard = intelligibility(model, baseline, speak, sentences[:intelligibility_sentences], ids, mean_style,
                                recordings, encoder, neutral_voice, neutral_named_style(named))
    heard["baseline_preset"] = baseline_name
    manifest = json.loads((corpus_dir / MANIFEST).read_text(encoding="utf-8"))
    figures = {
        "held_out": {"corpus": corpus_dir.name, "corpus_command": manifest["command"],
                     "fingerprint": corpus_fingerprint(corpus_dir), "split": "test", "seed": seed,
                     "style_sentences": style_sentences, "token_sentences": token_sentences,
                     "intelligibility_sentences": intelligibility_sentences, "vocoder": VOCODER,
                     "f0_range_hz": list(F0_RANGE_HZ)},
        "goals": GOALS,
        "style_transfer": transfer,
        "token_control": tokens,
        "intelligibility": heard,
        "named_styles": named,
    }
    (out_dir / METRICS).write_text(json.dumps(_json_ready(figures), indent=1) + "\n", encoding="utf-8")
    return figures


def style_transfer(model, speak, styles: list[Style], sentences, ids, mean_style: list[Spoken],
                   recordings: Recordings, encoder: TextEncoder, out_dir: Path, neutral_voice: str) -> dict:
    """Section 1 of the module doc; also writes each style's alignment PNG and listening samples."""
    count, rate = len(sentences), model.mel_config.sample_rate
    phonemes = [phoneme_count(encoder, sentence_ids) for sentence_ids in ids[:count]]
    settings, stops = [], []
    for style in styles:
        targets = [s[style.voice] for s in sentences]
        references = [targets[reference_index(i, count)] for i in range(count)]
        weights = reference_weights(model, recordings, references)
        spoken = speak(model, ids[:count], weights)
        recorded = [recordings.waveform(u) for u in targets]
        recorded_frames = [recordings.frames(u) for u in targets]
        output = _measure(spoken, phonemes, model.mel_config)
        target = setting_figures([median_f0(w, rate) for w in recorded], phonemes,
                                 [model.mel_config.hop_length * f / rate for f in recorded_frames])
        stopped = tts_metrics.stopped_within([s.frames for s in spoken], recorded_frames, [s.stopped for s in spoken])
        stops.append(stopped)
        settings.append({"voice": style.voice, "name": style.name, "pitch": style.pitch, "speed": style.speed,
                         "output": output, "recordings": target, f"stopped_within_{tts_metrics.STOP_FACTOR}x": stopped,
                         "references": [u.id for u in references], "sentences": [u.id for u in targets],
                         "mean_reference_weights": weights.mean(axis=0).tolist()})
        save_alignment_plot([s.alignment for s in spoken[:ALIGNMENT_SENTENCES]], _alignment_path(out_dir, style),
                            [f"{style.name}: {u.text[:50]}" for u in targets[:ALIGNMENT_SENTENCES]])
        samples = out_dir / SAMPLES
        save(samples / f"{style.name}-reference.wav", recordings.waveform(references[0]), rate)
        save(samples / f"{style.name}-output.wav", spoken[0].waveform, rate)
        save(samples / f"{style.name}-recording.wav", recorded[0], rate)
    save(out_dir / SAMPLES / "mean-style-output.wav", mean_style[0].waveform, rate)
    baseline = _measure(mean_style[:count], phonemes, model.mel_config)
    neutral_f0 = next(s["recordings"]["f0_hz"] for s in settings if s["voice"] == neutral_voice)
    for setting in settings:
        for side in ("output", "recordings"):
            setting[side]["semitones"] = float(semitones(setting[side]["f0_hz"], neutral_f0))
        setting["f0_error_semitones"] = float(semitones(setting["output"]["f0_hz"], setting["recordings"]["f0_hz"]))
        setting["rate_error_percent"] = 100.0 * (setting["output"]["rate"] / setting["recordings"]["rate"] - 1.0)
    baseline["semitones"] = float(semitones(baseline["f0_hz"], neutral_f0))
    summary = transfer_summary([s["output"] for s in settings], [s["recordings"] for s in settings], baseline,
                               [s.pitch for s in styles], [s.speed for s in styles])
    return {"settings": settings, "mean_style": baseline, "neutral_recordings_f0_hz": neutral_f0, **summary,
            f"stopped_within_{tts_metrics.STOP_FACTOR}x": float(np.mean(stops))}


def token_control(model, speak, ids, mean_style: list[Spoken], encoder: TextEncoder, values, out_dir: Path) -> dict:
    """Section 2 of the module doc; writes ``TOKEN_PLOT``."""
    count, mean = len(ids), model.mean_style_weights.numpy()
    phonemes = [phoneme_count(encoder, sentence_ids) for sentence_ids in ids]
    reference = _measure(mean_style[:count], phonemes, model.mel_config)
    tokens = []
    for token in range(model.style_tokens):
        weights = np.stack([token_weights(mean, token, value) for value in values for _ in range(count)])
        spoken = speak(model, [sentence_ids for _ in values for sentence_ids in ids], weights)
        measured = [_measure(spoken[k * count:(k + 1) * count], phonemes, model.mel_config) for k in range(len(values))]
        pitch = [float(semitones(m["f0_hz"], reference["f0_hz"])) for m in measured]
        rate = [100.0 * (m["rate"] / reference["rate"] - 1.0) for m in measured]
        tokens.append({"token": token, "mean_style_weight": mean[:, token].tolist(),
                       "f0_hz": [m["f0_hz"] for m in measured], "rate": [m["rate"] for m in measured],
                       "semitones": pitch, "rate_change_percent": rate,
                       "pitch_slope_semitones": slope(values, pitch), "rate_slope_percent": slope(values, rate)})
    _token_plot(tokens, values, out_dir / TOKEN_PLOT)
    by_pitch = sorted(tokens, key=lambda t: -np.nan_to_num(abs(t["pitch_slope_semitones"]), nan=-1))
    by_rate = sorted(tokens, key=lambda t: -np.nan_to_num(abs(t["rate_slope_percent"]), nan=-1))
    return {"values": list(values), "sentences": count, "mean_style": reference,
            "rule": "in every head, the token's weight is set to the value and the other tokens share 1 - value "
                    "in their mean-style proportions",
            "tokens": tokens, "pitch_tokens": [t["token"] for t in by_pitch],
            "rate_tokens": [t["token"] for t in by_rate]}


def intelligibility(model, baseline, speak, sentences, ids, mean_style: list[Spoken], recordings: Recordings,
                    encoder: TextEncoder, neutral_voice: str, neutral_weights: np.ndarray) -> dict:
    """Section 3 of the module doc (CER part), with the median F0 and rate of each kind of audio and
    of the recordings (the neutral operating point)."""
    count = len(sentences)
    targets = [s[neutral_voice] for s in sentences]
    references = [targets[reference_index(i, count)] for i in range(count)]
    audio = {"neutral_reference": speak(model, ids[:count], reference_weights(model, recordings, references)),
             "neutral_named_style": speak(model, ids[:count], np.repeat(neutral_weights[None], count, axis=0)),
             "mean_style": mean_style[:count],
             "baseline": speak(baseline, ids[:count])}
    rate = model.mel_config.sample_rate
    texts = [transcript(u.text) for u in targets]
    heard = {name: transcribe([s.waveform for s in spoken], rate) for name, spoken in audio.items()}
    phonemes = [phoneme_count(encoder, sentence_ids) for sentence_ids in ids[:count]]
    result = {name: {"cer": character_error_rate(texts, hypotheses),
                     **_measure(audio[name], phonemes, model.mel_config)} for name, hypotheses in heard.items()}
    result["recordings"] = setting_figures([median_f0(recordings.waveform(u), rate) for u in targets], phonemes,
                                           [model.mel_config.hop_length * recordings.frames(u) / rate for u in targets])
    for name in STYLED_AUDIO:
        result[name]["minus_baseline"] = paired_cer_difference(texts, heard[name], heard["baseline"])
        result[name]["goal_met"] = bool(result[name]["cer"] <= result["baseline"]["cer"] + GOALS["cer_margin"])
        result[name][f"stopped_within_{tts_metrics.STOP_FACTOR}x"] = tts_metrics.stopped_within(
            [s.frames for s in audio[name]],
            [recordings.frames(u) for u in targets],
            [s.stopped for s in audio[name]])
    return {**result, "sentences": count,
            "samples": [{"reference": texts[i], **{name: heard[name][i] for name in heard}}
                        for i in range(min(3, count))]}


def named_styles(model, speak, styles: list[Style], ids, recordings: Recordings, encoder: TextEncoder,
                 neutral_voice: str, *, references: int, seed: int) -> dict:
    """Section 4 of the module doc: each setting's named style (``named_style``), its F0 in
    semitones and its rate in % re. the named style of ``neutral_voice``."""
    names = [style.named_style for style in styles]
    if len(set(names)) < len(names):
        raise ValueError(f"the settings' named styles collide ({', '.join(names)}): each setting needs its own name")
    phonemes = [phoneme_count(encoder, sentence_ids) for sentence_ids in ids]
    entries = [named_style(model, speak, style, ids, phonemes, recordings, references=references, seed=seed)
               for style in styles]
    neutral = next(entry["output"] for entry in entries if entry["voice"] == neutral_voice)
    for entry in entries:
        entry["semitones"] = float(semitones(entry["output"]["f0_hz"], neutral["f0_hz"]))
        entry["rate_change_percent"] = 100.0 * (entry["output"]["rate"] / neutral["rate"] - 1.0)
    return {"split": NAMED_STYLE_SPLIT, "references": references, "seed": seed, "sentences": len(ids),
            "neutral": Style.of(neutral_voice).named_style, "styles": entries}


def named_style(model, speak, style: Style, ids, phonemes, recordings: Recordings, *, references: int,
                seed: int) -> dict:
    """One setting's named style: its token weights ``(heads, tokens)``, the mean of
    ``reference_weights`` over ``references`` of its training recordings (``training_references``),
    and ``ids`` spoken in it, measured (median F0, Hz; rate, phonemes/s)."""
    chosen = training_references(recordings, style.voice, references, seed=seed,
                                 min_frames=model.min_reference_frames, max_frames=model.max_frames)
    weights = reference_weights(model, recordings, chosen).mean(axis=0)
    spoken = speak(model, ids, np.repeat(weights[None], len(ids), axis=0))
    return {"name": style.named_style, "voice": style.voice, "pitch": style.pitch, "speed": style.speed,
            "references": [u.id for u in chosen], "weights": weights.tolist(),
            "output": _measure(spoken, phonemes, model.mel_config)}


def neutral_named_style(named: dict) -> np.ndarray:
    """``(heads, tokens)`` token weights of ``named_styles``' neutral named style."""
    return np.asarray(next(e["weights"] for e in named["styles"] if e["name"] == named["neutral"]), np.float32)


def named_style_weights(figures: dict) -> dict[str, list]:
    """``{name: token weights (heads, tokens)}`` of the evaluation's named styles, for the model's config."""
    return {entry["name"]: entry["weights"] for entry in figures["named_styles"]["styles"]}


def _measure(spoken: list[Spoken], phonemes, mel_config) -> dict:
    """``setting_figures`` of synthesized sentences: F0 of their audio, seconds of their frames."""
    rate = mel_config.sample_rate
    return setting_figures([median_f0(s.waveform, rate) for s in spoken], phonemes[:len(spoken)],
                           [mel_config.hop_length * s.frames / rate for s in spoken])


def _alignment_path(out_dir: Path, style: Style) -> Path:
    folder = out_dir / ALIGNMENTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{style.name}.png"


def _token_plot(tokens: list[dict], values, path: Path) -> None:
    """Two panels, one line per token: F0 (semitones re. the mean style) and rate (% change)
    against the token's weight."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    pitch_axes, rate_axes = figure.subplots(1, 2)
    for token in tokens:
        pitch_axes.plot(values, token["semitones"], marker="o", label=f"token {token['token']}")
        rate_axes.plot(values, token["rate_change_percent"], marker="o", label=f"token {token['token']}")
    pitch_axes.set(xlabel="token weight (every head)", ylabel="median F0, semitones re. mean style",
                   title="pitch")
    rate_axes.set(xlabel="token weight (every head)", ylabel="phonemes per second, % re. mean style",
                  title="speaking rate")
    rate_axes.legend(fontsize="small", ncol=2)
    figure.savefig(path, format="png", dpi=80)


def _json_ready(value):
    """``value`` with NaN/inf floats as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- the run and its preset ---------------------------------------------------------------

def evaluate_run(recipe, run_dir, *, corpus_dir=None, zoo_root=None, style_sentences: int = STYLE_SENTENCES,
                 token_sentences: int = TOKEN_SENTENCES, intelligibility_sentences: int = INTELLIGIBILITY_SENTENCES,
                 seed: int = 0, progress: bool = True) -> Path:
    """``--evaluate``: measures the run (``tts_evaluation.load_run``) against ``recipe.base_preset``
    on its corpus (default: the one it trained on), writes ``<run>/evaluation`` and the preset
    (to ``zoo_root``; default: the repository's ``zoo/`` for a finished run, ``<run>/preview-zoo``
    for one in progress). Returns the preset folder."""
    run_dir = Path(run_dir)
    record = tts_evaluation._training_record(recipe, run_dir)
    model, checkpoint = tts_evaluation.load_run(recipe, run_dir)
    corpus_dir = Path(corpus_dir) if corpus_dir is not None else tts_evaluation.run_corpus(recipe, run_dir)
    if zoo_root is None:
        zoo_root = tts_evaluation.ZOO if checkpoint["finished"] else run_dir / tts_evaluation.PREVIEW_ZOO
    out_dir = run_dir / "evaluation"
    figures = evaluate(model, corpus_dir, out_dir, baseline=zoo.load(recipe.base_preset, root=recipe.base_zoo,
                                                                     compile=False),
                       baseline_name=recipe.base_preset, vocoder=zoo.load(VOCODER, compile=False),
                       voices=recipe.training_voices,
                       neutral_voice=recipe.voice, style_sentences=style_sentences, token_sentences=token_sentences,
                       intelligibility_sentences=intelligibility_sentences, seed=seed, progress=progress)
    figures["checkpoint"] = checkpoint
    (out_dir / METRICS).write_text(json.dumps(_json_ready(figures), indent=1) + "\n", encoding="utf-8")
    command = evaluate_command(recipe, style_sentences, token_sentences, intelligibility_sentences, seed)
    return write_preset(recipe, model, figures, record, zoo_root, command=command, evaluation_dir=out_dir)


def evaluate_command(recipe, style_sentences: int, token_sentences: int, intelligibility_sentences: int,
                     seed: int) -> str:
    return (f"python -m {recipe.module} --evaluate --style-sentences {style_sentences} --token-sentences "
            f"{token_sentences} --intelligibility-sentences {intelligibility_sentences} --seed {seed}")


def write_preset(recipe, model, figures: dict, record: dict, zoo_root, *, command: str, evaluation_dir) -> Path:
    """Saves ``zoo_root/<preset>/`` (``tfspeech.zoo.save_preset``): ``model`` with the evaluation's
    named styles set, the headline figures as its metrics, the card (also written to
    ``evaluation_dir/CARD.md`` first), and the PNGs of ``evaluation_dir``; returns the folder."""
    model.set_named_styles(named_style_weights(figures))
    metrics = {name: {"value": round(value, 4), "command": command}
               for name, value in flat_metrics(figures).items() if math.isfinite(value)}
    data = {**record["data"], "splits": "trained on train, validation monitored, test never seen"}
    if figures["held_out"]["fingerprint"] == record["data"]["fingerprint"]:
        data["corpus_command"] = figures["held_out"]["corpus_command"]
    training = {"command": record["command"], "steps": figures["checkpoint"]["steps"],
                "finished": figures["checkpoint"]["finished"], "wall_time_s": record["wall_time_s"],
                "batch_size": record["batch_size"], "hardware": record["hardware"],
                "warm_start": recipe.base_preset}
    headline = [m for m in ("style_f0_error_semitones", "style_rate_error_percent", "cer_neutral_reference")
                if m in metrics]
    evaluation_dir = Path(evaluation_dir)
    text = card(recipe, model, figures, data, training, command)
    (evaluation_dir / "CARD.md").write_text(text, encoding="utf-8")  # kept should the zoo refuse the preset
    folder = zoo.save_preset(model, recipe.preset, root=zoo_root, data=data, training=training, metrics=metrics,
                             card=text, overwrite=True, headline=headline or None)
    shutil.copyfile(evaluation_dir / TOKEN_PLOT, folder / TOKEN_PLOT)
    shutil.copytree(evaluation_dir / ALIGNMENTS, folder / ALIGNMENTS, dirs_exist_ok=True)
    return folder


def flat_metrics(figures: dict) -> dict[str, float]:
    """The card's headline numbers as ``{name: value}`` for ``preset.json``."""
    transfer, heard = figures["style_transfer"], figures["intelligibility"]
    stop = f"stopped_within_{tts_metrics.STOP_FACTOR}x"
    metrics = {f"style_{k}": float(transfer[k]) for k in (
        "f0_spearman", "f0_error_semitones", "rate_spearman", "rate_error_percent",
        "baseline_f0_error_semitones", "baseline_rate_error_percent", stop)}
    metrics.update({f"cer_{name}": heard[name]["cer"] for name in (*STYLED_AUDIO, "baseline")})
    metrics.update({f"cer_{name}_minus_baseline": heard[name]["minus_baseline"]["difference"]
                    for name in STYLED_AUDIO})
    return metrics


def card(recipe, model, figures: dict, data: dict, training: dict, command: str) -> str:
    """CARD.md: what the model is, how to give it a style, its named styles, its style-transfer, token
    and intelligibility figures with pictures, data, training, and the command behind them."""
    held, transfer, tokens = figures["held_out"], figures["style_transfer"], figures["token_control"]
    named = figures["named_styles"]
    example = _example_style(named)
    preview = "" if training["finished"] else (
        f"\n> **Preview of a run in progress** (checkpoint at step {training['steps']}), not the finished preset.\n")
    settings = transfer["settings"]
    pitches = "/".join(_signed(p) for p in sorted({s["pitch"] for s in settings}))
    speeds = "/".join(f"{v:g}" for v in sorted({s["speed"] for s in settings}))
    voices = ", ".join(f"`{v}`" for v in data.get("voices", [data["voice"]]))
    hardware = training["hardware"]
    return f"""# {recipe.preset}
{preview}
{type(model).__name__} (`{keras.saving.get_registered_name(type(model))}`, {model.count_params():,} parameters):
Tacotron 2 with Global Style Tokens (Wang et al. 2018). A reference encoder ({len(model.reference_filters)} stride-2
convolutions + GRU {model.reference_rnn_units}) summarizes a recording's log-mel; {model.style_heads}-head attention
over {model.style_tokens} learned tokens turns the summary into a {model.style_units}-d style embedding, projected
and added to the encoder outputs the attention reads. Every other weight is warm-started from
`{training['warm_start']}` (the style projection starts at zero, so step 0 is exactly that model).

Trained without labels (the reference is the target utterance itself) on {len(settings)} styles of one voice:
Festival HTS slt at pitch {pitches} semitones × speed {speeds}. Training never reads the settings; this
evaluation does. Without a style the model speaks in its mean style (the mean token weights of training
references). {model.symbols.capitalize()} in, {model.n_mels}-band log-mel at {model.mel_config.sample_rate:,} Hz
out; `{held['vocoder']}` makes the waveform.

## Use

```sh
tfspeech synthesize "Any sentence." -o out.wav --preset {recipe.preset} --style {example}  # a named style (below)
tfspeech synthesize "Any sentence." -o out.wav --preset {recipe.preset} --style-wav reference.wav  # its style
tfspeech synthesize "Any sentence." -o out.wav --preset {recipe.preset} --style-weights {_example_weights(model)}
tfspeech synthesize "Any sentence." -o out.wav --preset {recipe.preset}  # the mean style
```

`--style-weights` takes one weight per token ({model.style_tokens}), used in every head. In Python:

```python
from tfspeech.synthesis import synthesize
waveform, sample_rate, alignments = synthesize("Any sentence.", preset="{recipe.preset}", style="reference.wav")
# style="{example}": a named style (names are looked up before paths);
# style=(waveform, sample_rate): a recording in memory; style=[...]: {model.style_tokens} token weights,
# or ({model.style_heads}, {model.style_tokens}) per head; no style: the mean style
```

## Named styles

One named style per setting: its token weights are the mean token weights of {named['references']} of that
setting's recordings, drawn (seed {named['seed']}) from the corpus's {named['split']} split (never from the held-out
sentences below). `--style NAME` speaks in it (`style="NAME"` in Python). Measured on the {named['sentences']}
style-transfer sentences (next section) spoken in each named style, as there: median F0 and rate, re. the
`{named['neutral']}` named style.

{_named_style_table(named, recipe.preset)}

## Style transfer

{held['style_sentences']} sentences drawn (seed {held['seed']}) from the {held['split']} split of `{held['corpus']}`
(splits go by sentence text: neither this model nor `{training['warm_start']}` trained on them), each
synthesized in every style with the token weights of that style's recording of *another* of these sentences.
F0: median over voiced frames (`librosa.pyin`, {held['f0_range_hz'][0]:g}–{held['f0_range_hz'][1]:g} Hz) per
sentence, median over the sentences; semitones re. the neutral setting's recordings
({transfer['neutral_recordings_f0_hz']:.1f} Hz). Rate: ARPAbet phonemes per second (the output's seconds end at
its stop token). The target of each setting is what its recordings of the same sentences measure.

{_transfer_table(transfer)}

Across the settings:

{_transfer_summary_table(transfer)}

The goals take ρ against the nominal settings, as the issue words them ("follows the references' pitch
settings"), and the errors against the recordings. Within a pitch level the recordings' F0 differs by noise
only, so an output that gets the three levels right but orders the speeds within a level at random scores ρ 0.9
against the recordings on average (0.95 against the nominal pitches); the recordings' rates are equal across the pitches of a speed, so for the rates such an
output scores 0.95 against both. Stopped within {tts_metrics.STOP_FACTOR}× the recording's length:
{transfer[f'stopped_within_{tts_metrics.STOP_FACTOR}x']:.1%} of the {len(settings) * held['style_sentences']} sentences.

## Token control

The mean style with one token's weight set to {', '.join(f'{v:g}' for v in tokens['values'])}: {tokens['rule']}.
{tokens['sentences']} sentence(s) per weight; F0 in semitones and rate in % re. the mean style's output; slope: least
squares over the weights (the change from weight 0 to 1).

{_token_table(tokens)}

Tokens that move pitch most: {', '.join(map(str, tokens['pitch_tokens'][:3]))}; rate most:
{', '.join(map(str, tokens['rate_tokens'][:3]))}.

![F0 and rate against each token's weight]({TOKEN_PLOT})

The token weights the references of each setting get (mean over its references and the heads), what the
tokens learned seen from the other side:

{_setting_weights_table(transfer)}

## Intelligibility

{_intelligibility_table(figures['intelligibility'])}

## Alignments

The first {ALIGNMENT_SENTENCES} sentences of each style (text position up, decoder step right):
{' · '.join(f'[{s["name"]}]({ALIGNMENTS}/{s["name"]}.png)' for s in transfer['settings'])}.

![neutral style]({ALIGNMENTS}/{Style.of(recipe.voice).name}.png)

Listening samples (reference, output, the style's own recording of the sentence) are written to the run's
`evaluation/{SAMPLES}/`.

## Data

- corpus `{data['corpus']}` (voices {voices}), {data['splits']}
- fingerprint (sha256 of its manifest): `{data['fingerprint']}`
- built with `{data.get('corpus_command', 'tfspeech corpus build')}`

## Training

- command: `{training['command']}` (resumable: run it again after an interruption)
- warm start: every weight of `{training['warm_start']}`
- steps: {training['steps']}, batch {training['batch_size']}, wall time
  {tts_evaluation._duration(training['wall_time_s'])} on {hardware['machine']} ({hardware['cpu_count']} CPU cores,
  {hardware['gpus']} GPUs)

## Reproduce the figures

`{command}` measures every figure above (and writes the run's `evaluation/{METRICS}`, with every setting's and
token's measurements, the alignment PNGs and the listening samples).
"""


def _transfer_table(transfer: dict) -> str:
    stop = f"stopped_within_{tts_metrics.STOP_FACTOR}x"
    rows = [[f"{_signed(s['pitch'])} st, × {s['speed']:g}",
             f"{_number(s['output']['f0_hz'], 1)} ({_number(s['output']['semitones'], 2, sign=True)})",
             f"{_number(s['recordings']['f0_hz'], 1)} ({_number(s['recordings']['semitones'], 2, sign=True)})",
             _number(s['output']['rate'], 2), _number(s['recordings']['rate'], 2),
             _number(s['f0_error_semitones'], 2, sign=True), _number(s['rate_error_percent'], 1, sign=True),
             f"{s[stop]:.0%}"] for s in transfer["settings"]]
    mean = transfer["mean_style"]
    rows.append(["mean style (no reference)",
                 f"{_number(mean['f0_hz'], 1)} ({_number(mean['semitones'], 2, sign=True)})", "",
                 _number(mean["rate"], 2), "", "", "", ""])
    return tts_evaluation._table(["setting (pitch, speed)", "output F0, Hz (st)", "recordings F0, Hz (st)",
                                  "output rate, phon/s", "recordings rate", "F0 error, st", "rate error, %",
                                  f"stopped ≤ {tts_metrics.STOP_FACTOR}×"], rows)


def _named_style_table(named: dict, preset: str) -> str:
    rows = [[f"`{s['name']}`", f"{_signed(s['pitch'])} st, × {s['speed']:g}",
             f"{_number(s['output']['f0_hz'], 1)} ({_number(s['semitones'], 2, sign=True)})",
             f"{_number(s['output']['rate'], 2)} ({_number(s['rate_change_percent'], 1, sign=True)})",
             f"`tfspeech synthesize \"Any sentence.\" -o out.wav --preset {preset} --style {s['name']}`"]
            for s in named["styles"]]
    neutral = named["neutral"]
    return tts_evaluation._table(["style", "setting (pitch, speed)", f"median F0, Hz (st re. {neutral})",
                                  f"rate, phon/s (% re. {neutral})", "command"], rows)


def _example_style(named: dict) -> str:
    """The named style the card's examples use: the first that is not neutral."""
    return next((s["name"] for s in named["styles"] if s["name"] != named["neutral"]), named["neutral"])


def _setting_weights_table(transfer: dict) -> str:
    settings = transfer["settings"]
    tokens = len(settings[0]["mean_reference_weights"][0])
    rows = [[f"{_signed(s['pitch'])} st, × {s['speed']:g}",
             *(f"{w:.2f}" for w in np.mean(s["mean_reference_weights"], axis=0))] for s in settings]
    return tts_evaluation._table(["setting", *(f"token {t}" for t in range(tokens))], rows)


def _transfer_summary_table(transfer: dict) -> str:
    rows = [["median F0", _number(transfer["f0_spearman"]), _number(transfer["f0_spearman_nominal"]),
             f"{_number(transfer['f0_error_semitones'], 2)} st",
             f"{_number(transfer['baseline_f0_error_semitones'], 2)} st",
             f"ρ ≥ {GOALS['spearman']}, ≤ {GOALS['f0_error_semitones']:g} st: {_met(transfer['f0_goal_met'])}"],
            ["rate", _number(transfer["rate_spearman"]), _number(transfer["rate_spearman_nominal"]),
             f"{_number(transfer['rate_error_percent'], 1)} %",
             f"{_number(transfer['baseline_rate_error_percent'], 1)} %",
             f"ρ ≥ {GOALS['spearman']}, ≤ {GOALS['rate_error_percent']:g} %: {_met(transfer['rate_goal_met'])}"]]
    return tts_evaluation._table(["figure", "Spearman ρ vs the recordings", "ρ vs the nominal settings",
                                  "mean absolute error", "the mean style's error", "goal"], rows)


def _token_table(tokens: dict) -> str:
    values = tokens["values"]
    rows = [[str(t["token"]), f"{np.mean(t['mean_style_weight']):.3f}",
             _number(t["pitch_slope_semitones"], 2, sign=True), _number(t["rate_slope_percent"], 1, sign=True),
             " / ".join(_number(v, 1, sign=True) for v in t["semitones"]),
             " / ".join(_number(v, 0, sign=True) for v in t["rate_change_percent"])] for t in tokens["tokens"]]
    weights = "/".join(f"{v:g}" for v in values)
    return tts_evaluation._table(["token", "mean-style weight (mean of heads)", "pitch slope, st",
                                  "rate slope, %", f"F0 at {weights}, st", f"rate at {weights}, %"], rows)


def _intelligibility_table(heard: dict) -> str:
    stop = f"stopped_within_{tts_metrics.STOP_FACTOR}x"
    rows = []
    for name, label in zip(STYLED_AUDIO, ("this model, a neutral reference (another sentence)",
                                          f"this model, the `{NEUTRAL_NAME}` named style",
                                          "this model, the mean style (no style given)")):
        entry, diff = heard[name], heard[name]["minus_baseline"]
        interval = f"{diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]"
        rows.append([label, f"{entry['cer']:.3f}", interval, _met(entry["goal_met"]), f"{entry[stop]:.0%}",
                     _number(entry["f0_hz"], 1), _number(entry["rate"], 2)])
    base, recorded = heard["baseline"], heard["recordings"]
    rows.append([f"`{heard['baseline_preset']}`", f"{base['cer']:.3f}", "", "", "", _number(base["f0_hz"], 1),
                 _number(base["rate"], 2)])
    rows.append(["the recordings", "", "", "", "", _number(recorded["f0_hz"], 1), _number(recorded["rate"], 2)])
    table = tts_evaluation._table(["audio", "CER", f"minus {heard['baseline_preset']} (95 % paired bootstrap)",
                                   f"goal ≤ {heard['baseline_preset']} + {GOALS['cer_margin']}",
                                   f"stopped ≤ {tts_metrics.STOP_FACTOR}×", "median F0, Hz", "rate, phon/s"], rows)
    return (f"CER of the `ctc-multivoice` recognizer (greedy) on {heard['sentences']} test sentences of the neutral "
            f"voice, synthesized through the same vocoder; F0 and rate measured as for the style transfer (where "
            f"the neutral style sits, beside `{heard['baseline_preset']}` and the recordings).\n\n{table}")


def _signed(semitones_value: float) -> str:
    """``+3``, ``0``, ``-3``."""
    return f"{semitones_value:+g}" if semitones_value else "0"


def _example_weights(model) -> str:
    return ",".join(["1"] + ["0"] * (model.style_tokens - 1))


def _number(value, digits: int = 3, sign: bool = False) -> str:
    """``value`` formatted, or "–" for NaN (a measure with no voiced frame, or a constant side)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:{'+' if sign else ''}.{digits}f}"


def _met(flag: bool) -> str:
    return "met" if flag else "**not met**"


def main(recipe, argv: list[str] | None = None) -> int:
    """``python -m <recipe module> --evaluate [...]``: the command line of ``evaluate_run``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {recipe.module}",
        description=f"Measure the {recipe.preset} run (model.keras when finished, else its latest checkpoint): "
                    "style transfer, token control, intelligibility; write the zoo preset and its card.")
    parser.add_argument("--evaluate", action="store_true", required=True, help="evaluate, do not train")
    parser.add_argument("--corpus", type=Path, help="a built corpus folder (default: the run's own)")
    parser.add_argument("--out", type=Path, help=f"run folder (default: <cache>/runs/{recipe.preset})")
    parser.add_argument("--zoo", type=Path,
                        help="zoo folder for the preset (default: the repository's zoo/ for a finished run, "
                             f"<out>/{tts_evaluation.PREVIEW_ZOO} for one in progress)")
    parser.add_argument("--style-sentences", type=int, default=STYLE_SENTENCES, metavar="K",
                        help="test sentences synthesized in every style (default: %(default)s)")
    parser.add_argument("--token-sentences", type=int, default=TOKEN_SENTENCES, metavar="N",
                        help="test sentences of the token sweep (default: %(default)s)")
    parser.add_argument("--intelligibility-sentences", type=int, default=INTELLIGIBILITY_SENTENCES, metavar="N",
                        help="test sentences of the CER comparison (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the held-out draw (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("style_sentences", "intelligibility_sentences"):
        if getattr(args, name) < 2:
            parser.error(f"--{name.replace('_', '-')} must be at least 2 (a reference is another sentence)")
    if args.token_sentences < 1:
        parser.error("--token-sentences must be at least 1")
    out = args.out if args.out is not None else default_cache_dir() / "runs" / recipe.preset
    folder = evaluate_run(recipe, out, corpus_dir=args.corpus, zoo_root=args.zoo,
                          style_sentences=args.style_sentences, token_sentences=args.token_sentences,
                          intelligibility_sentences=args.intelligibility_sentences, seed=args.seed)
    print(f"preset written: {folder}")
    return 0
