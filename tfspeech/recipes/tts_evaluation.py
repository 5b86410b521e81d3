"""Held-out evaluation of a TTS recipe's run, and the zoo preset written from it.

    python -m tfspeech.recipes.tacotron2_slt --evaluate                      # measure, write zoo/tacotron2-slt
    python -m tfspeech.recipes.tacotron2_slt --evaluate --evaluate-subset 8  # a quick look while it trains

``--evaluate`` takes the run's ``model.keras`` when training has finished, else the weights
of its latest ``BackupAndRestore`` checkpoint (a preview: its preset goes to
``<run>/preview-zoo`` unless ``--zoo`` says otherwise). Figures, on a seeded subset of the
corpus's test split (splits go by sentence text, so no corpus trains on these sentences):

- free running (``model.infer``, what users hear): DTW-aligned log-mel L1 against the
  reference recording's log-mels, attention focus rate and diagonality, the share of
  sentences that stop on their stop token within 1.2× the reference's length;
- teacher forced (the reference frames as decoder input, as in training): log-mel L1,
  stop-token accuracy, focus rate and diagonality;
- intelligibility: CER/WER of the ``ctc-multivoice`` recognizer on the synthesized audio
  (Griffin-Lim), beside its rates on the reference recordings and on the reference
  spectrograms through the same Griffin-Lim path (what the vocoder alone costs);
- fine-tuning (``finetune_check``): the preset loaded with ``tfspeech.zoo.load`` and fit on
  another voice lowers that voice's held-out loss, also after ``with_symbols`` remaps it
  to the other symbol set.

Outputs: ``<run>/evaluation/figures.json``, alignment PNGs and listening samples
(``samples/*.wav``: synthesized, recorded, recorded through Griffin-Lim); the preset folder
(``preset.json``, weights, ``CARD.md`` with the figures, the PNGs).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy.special import expit
from tqdm.auto import tqdm

from tfspeech import tts_metrics, zoo
from tfspeech.audio import griffin_lim, load, magnitude, mel_to_magnitude, save
from tfspeech.data.corpus import build_corpus, default_cache_dir
from tfspeech.data.features import cache_log_mels
from tfspeech.data.layout import MANIFEST, Utterance, read_corpus
from tfspeech.data.tts_pipeline import tts_dataset
from tfspeech.plots import save_alignment_plot
from tfspeech.recipes.tts_recipe import Recipe, corpus_fingerprint
from tfspeech.synthesis import DEFAULT_VOCODER
from tfspeech.text import TextEncoder

ZOO = Path(__file__).resolve().parents[2] / "zoo"
DEFAULT_SUBSET = 64
BATCH_SIZE = 8
GRIFFIN_LIM_ITERS = 60
ALIGNMENT_PLOTS = 3
SAMPLES_SHOWN = 3
FINETUNE_VOICE = "flite:rms"
FINETUNE_SENTENCES = 200
FINETUNE_STEPS = 50
FINETUNE_BATCH_SIZE = 8
HEADLINE = ("synthesized_cer", "free_running_dtw_mel_l1")  # the figures ``tfspeech zoo list`` shows
PREVIEW_ZOO = "preview-zoo"
FREE_RUNNING_PLOT = "alignments.png"
TEACHER_FORCED_PLOT = "alignments-teacher-forced.png"
LISTENING_SAMPLES = "samples"  # WAVs under <run>/evaluation, not committed
_CHECKPOINT_READS = 3


def evaluate(model, corpus_dir, out_dir, *, voice: str, subset: int = DEFAULT_SUBSET, seed: int = 0,
             split: str = "test", batch_size: int = BATCH_SIZE, griffin_lim_iters: int = GRIFFIN_LIM_ITERS,
             progress: bool = True) -> dict:
    """Held-out figures of ``model`` (see the module doc) on ``subset`` sentences of ``voice``
    drawn with ``seed`` from ``split`` of ``corpus_dir``; writes ``out_dir/figures.json`` and
    the alignment PNGs of the first ``ALIGNMENT_PLOTS`` sentences. Returns the figures."""
    from tfspeech.decoding import transcribe, transcript
    from tfspeech.metrics import character_error_rate, word_error_rate

    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    features = cache_log_mels(corpus_dir, model.mel_config, progress=progress)
    chosen = held_out_utterances(corpus_dir, features, voice=voice, subset=subset, seed=seed, split=split,
                                 max_frames=model.max_frames)
    encoder = TextEncoder(model.symbols)
    teacher_forced = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    rows, stops, plots = [], [], []
    audio = {"synthesized": [], "reference_audio": [], "reference_griffin_lim": []}
    bar = tqdm(total=len(chosen), desc="held-out synthesis", unit="sentence", disable=not progress)
    for start in range(0, len(chosen), batch_size):
        batch = chosen[start:start + batch_size]
        ids = [encode(encoder, u) for u in batch]
        references = [np.load(features / f"{u.id}.npy") for u in batch]
        free = {k: v.numpy() for k, v in model.infer(pad_ids(ids)).items()}
        forced = {k: v.numpy() for k, v in teacher_forced(teacher_forced_inputs(model, ids, references)).items()}
        for i, (utterance, sentence_ids, reference) in enumerate(zip(batch, ids, references)):
            row, stop_probabilities, pictures = utterance_figures(model, utterance, sentence_ids, reference,
                                                                  free, forced, i)
            rows.append(row)
            stops.append(stop_probabilities)
            if len(plots) < ALIGNMENT_PLOTS:
                plots.append(pictures)
            sounds = waveforms(model, free, i, reference, utterance.wav_path(corpus_dir), griffin_lim_iters)
            for name, waveform in sounds.items():
                audio[name].append(waveform)
            bar.update()
    bar.close()

    references = [transcript(u.text) for u in chosen]
    heard = {name: transcribe(waveforms, model.mel_config.sample_rate) for name, waveforms in audio.items()}
    intelligibility = {name: {"cer": character_error_rate(references, hypotheses),
                              "wer": word_error_rate(references, hypotheses)} for name, hypotheses in heard.items()}
    intelligibility["samples"] = [{"reference": references[i], **{name: heard[name][i] for name in heard}}
                                  for i in range(min(SAMPLES_SHOWN, len(chosen)))]
    write_listening_samples(audio, out_dir / LISTENING_SAMPLES, model.mel_config.sample_rate)
    save_alignment_plot([p["free_running"] for p in plots], out_dir / FREE_RUNNING_PLOT,
                        [p["title"] for p in plots])
    save_alignment_plot([p["teacher_forced"] for p in plots], out_dir / TEACHER_FORCED_PLOT,
                        [p["title"] for p in plots])
    manifest = json.loads((corpus_dir / MANIFEST).read_text(encoding="utf-8"))

    def mean(key):
        return float(np.mean([row[key] for row in rows]))

    figures = {
        "held_out": {"corpus": corpus_dir.name, "corpus_command": manifest["command"],
                     "fingerprint": corpus_fingerprint(corpus_dir), "voice": voice, "split": split,
                     "sentences": len(chosen), "seed": seed, "max_reference_frames": model.max_frames},
        "free_running": {
            "dtw_mel_l1": mean("dtw_mel_l1"),
            "focus_rate": mean("focus_rate"),
            "diagonality": mean("diagonality"),
            "stopped": mean("stopped"),
            f"stopped_within_{tts_metrics.STOP_FACTOR}x": tts_metrics.stopped_within(
                [r["generated_frames"] for r in rows], [r["reference_frames"] for r in rows],
                [r["stopped"] for r in rows]),
            "median_length_ratio": float(np.median([r["generated_frames"] / r["reference_frames"] for r in rows])),
        },
        "teacher_forced": {
            "mel_l1": mean("teacher_forced_mel_l1"),
            "focus_rate": mean("teacher_forced_focus_rate"),
            "diagonality": mean("teacher_forced_diagonality"),
            **{f"stop_{k}": v for k, v in tts_metrics.stop_token_accuracy(stops, model.stop_threshold).items()},
        },
        "intelligibility": intelligibility,
        "griffin_lim_iters": griffin_lim_iters,
        "diagonal_band": tts_metrics.DIAGONAL_BAND,
        "sentences": rows,
    }
    (out_dir / "figures.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return figures


def held_out_utterances(corpus_dir, features: Path, *, voice: str, subset: int, seed: int, split: str,
                        max_frames: int) -> list[Utterance]:
    """``subset`` utterances of ``voice`` in ``split`` (those of at most ``max_frames`` reference
    frames, the model's guard), drawn with ``seed``, in corpus order."""
    if subset < 1:
        raise ValueError(f"subset must be at least 1 sentence, got {subset}")
    candidates = [u for u in read_corpus(corpus_dir, split) if u.speaker == voice]
    if not candidates:
        raise ValueError(f"{corpus_dir} has no {split} utterance of {voice}; build a corpus with that voice "
                         "and more sentences (tfspeech corpus build --voices ... --n ...)")
    candidates = [u for u in candidates if np.load(features / f"{u.id}.npy", mmap_mode="r").shape[0] <= max_frames]
    if not candidates:
        raise ValueError(f"every {split} utterance of {voice} in {corpus_dir} is longer than max_frames={max_frames}")
    keep = np.random.default_rng(seed).choice(len(candidates), min(subset, len(candidates)), replace=False)
    return [candidates[i] for i in sorted(keep)]


def encode(encoder: TextEncoder, utterance: Utterance) -> list[int]:
    """The ids training used: the corpus's phonemes, or its normalized text."""
    if encoder.symbol_set == "phonemes":
        return encoder.encode_phonemes(utterance.phonemes)
    return encoder.encode(utterance.text)


def pad_ids(ids: list[list[int]]) -> np.ndarray:
    """(batch, longest) int32, 0-padded."""
    batch = np.full((len(ids), max(map(len, ids))), TextEncoder.pad_id, np.int32)
    for row, sentence in zip(batch, ids):
        row[:len(sentence)] = sentence
    return batch


def teacher_forced_inputs(model, ids, references) -> dict:
    """The training inputs for these sentences: reference log-mels padded with silence to a
    common length that is a multiple of r."""
    r = model.reduction_factor
    frames = r * math.ceil(max(len(m) for m in references) / r)
    mels = np.full((len(references), frames, model.n_mels), math.log(model.mel_config.log_floor), np.float32)
    for row, reference in zip(mels, references):
        row[:len(reference)] = reference
    return {"text": pad_ids(ids), "mels": mels, "mel_lengths": np.array([len(m) for m in references], np.int32)}


def utterance_figures(model, utterance, ids, reference, free, forced, i) -> tuple[dict, np.ndarray, dict]:
    """Sentence ``i`` of the batch: its figures (a JSON row), its teacher-forced stop
    probabilities (real steps) and its alignments for the pictures."""
    r, text = model.reduction_factor, len(ids)
    frames = int(free["mel_lengths"][i])
    alignment = free["alignments"][i, :math.ceil(frames / r), :text]
    forced_steps = math.ceil(len(reference) / r)
    forced_alignment = forced["alignments"][i, :forced_steps, :text]
    row = {
        "id": utterance.id, "text": utterance.text,
        "reference_frames": len(reference), "generated_frames": frames,
        "stopped": bool((free["stop_probabilities"][i] > model.stop_threshold).any()),
        "dtw_mel_l1": tts_metrics.dtw_mel_l1(free["mels"][i, :frames], reference),
        "focus_rate": tts_metrics.focus_rate(alignment),
        "diagonality": tts_metrics.diagonality(alignment),
        "teacher_forced_mel_l1": float(np.abs(forced["mels"][i, :len(reference)] - reference).mean()),
        "teacher_forced_focus_rate": tts_metrics.focus_rate(forced_alignment),
        "teacher_forced_diagonality": tts_metrics.diagonality(forced_alignment),
    }
    title = f"{utterance.text[:60]}{'…' if len(utterance.text) > 60 else ''}"
    pictures = {"free_running": alignment, "teacher_forced": forced_alignment, "title": title}
    return row, expit(forced["stop_logits"][i, :forced_steps]), pictures


def write_listening_samples(audio: dict[str, list[np.ndarray]], samples_dir: Path, sample_rate: int) -> None:
    """WAVs of the first ``SAMPLES_SHOWN`` sentences, ``<index>-<kind>.wav`` for each kind of ``audio``
    (synthesized, the recording, the recording's spectrogram through Griffin-Lim)."""
    samples_dir.mkdir(parents=True, exist_ok=True)
    for kind, waveforms_of_kind in audio.items():
        for index, waveform in enumerate(waveforms_of_kind[:SAMPLES_SHOWN]):
            save(samples_dir / f"{index + 1:02d}-{kind}.wav", waveform, sample_rate)


def waveforms(model, free, i, reference, wav_path, griffin_lim_iters: int) -> dict[str, np.ndarray]:
    """Sentence ``i`` of the batch ``free`` (``model.infer``'s outputs) as audio to recognize:
    ``synthesized`` (its spectrogram through Griffin-Lim, as ``tfspeech.synthesis`` does it),
    ``reference_audio`` (the recording) and ``reference_griffin_lim`` (the recording's own
    spectrogram through the same path: the linear magnitude for a model with a linear output,
    else its log-mel ``reference``)."""
    config, frames = model.mel_config, int(free["mel_lengths"][i])
    recording, _ = load(wav_path, sample_rate=config.sample_rate)
    if "linear" in free:
        synthesized = np.exp(free["linear"][i, :frames])
        resynthesized = magnitude(recording, config)[:len(reference)]
    else:
        synthesized = mel_to_magnitude(np.exp(free["mels"][i, :frames]), config)
        resynthesized = mel_to_magnitude(np.exp(reference), config)
    return {"synthesized": vocode(synthesized, config, frames, griffin_lim_iters),
            "reference_audio": recording,
            "reference_griffin_lim": vocode(resynthesized, config, len(reference), griffin_lim_iters)}


def vocode(spectrum, mel_config, frames: int, iters: int) -> np.ndarray:
    """Griffin-Lim waveform of a ``(frames, n_freq)`` magnitude, as ``tfspeech.synthesis`` makes
    it: a sentence that stopped at once is padded with silent frames up to the fewest the STFT
    can analyse, and the waveform is cut back to ``frames`` (but not below those fewest samples,
    which the recognizer needs too)."""
    spectrum = np.asarray(spectrum, np.float32)
    spectrum = np.pad(spectrum, [(0, max(0, mel_config.min_frames - len(spectrum))), (0, 0)])
    waveform, _ = griffin_lim(spectrum, mel_config, n_iter=iters)
    samples = max(mel_config.num_samples(frames), mel_config.min_samples)
    return np.clip(waveform.numpy()[:samples], -1.0, 1.0)


def finetune_check(model, corpus_dir, *, voice: str = FINETUNE_VOICE, steps: int = FINETUNE_STEPS,
                   batch_size: int = FINETUNE_BATCH_SIZE, seed: int = 0, progress: bool = True) -> dict:
    """Held-out loss on ``voice`` (``corpus_dir``'s test split) before and after ``steps`` steps of
    ``model.fit`` on its train split: for ``model`` as given (e.g. from ``tfspeech.zoo.load``,
    compiled) and for ``model.with_symbols(<the other symbol set>)``, remapped from the same
    weights before any fitting."""
    other = {"characters": "phonemes", "phonemes": "characters"}[model.symbols]
    variants = {"same_symbols": model, "remapped_symbols": model.with_symbols(other, seed=seed)}
    if not model.compiled:
        model.compile(**model.default_compile_args())
    variants["remapped_symbols"].compile(**variants["remapped_symbols"].default_compile_args())
    results = {"voice": voice, "corpus": Path(corpus_dir).name,
               "train_utterances": len([u for u in read_corpus(corpus_dir, "train") if u.speaker == voice]),
               "held_out_utterances": len([u for u in read_corpus(corpus_dir, "test") if u.speaker == voice]),
               "steps": steps, "batch_size": batch_size}
    for name, candidate in variants.items():
        held_out = voice_dataset(candidate, corpus_dir, "test", voice, batch_size, seed, progress)
        before = candidate.evaluate(held_out, return_dict=True, verbose=0)
        keras.utils.set_random_seed(seed)
        started = time.monotonic()
        train = voice_dataset(candidate, corpus_dir, "train", voice, batch_size, seed, progress)
        candidate.fit(train.repeat(), steps_per_epoch=steps, epochs=1, shuffle=False, verbose=1 if progress else 0)
        fit_s = time.monotonic() - started
        after = candidate.evaluate(held_out, return_dict=True, verbose=0)
        results[name] = {"symbols": candidate.symbols, "fit_s": round(fit_s, 1),
                         "before": {k: float(v) for k, v in before.items()},
                         "after": {k: float(v) for k, v in after.items()}}
    return results


def voice_dataset(model, corpus_dir, split: str, voice: str, batch_size: int, seed: int, progress: bool):
    """``tts_dataset`` batches of ``voice`` in ``split`` for ``model``'s symbols, mels and targets
    (shuffled for "train")."""
    return tts_dataset(corpus_dir, split, symbols=model.symbols, mel_config=model.mel_config,
                       reduction_factor=model.reduction_factor, batch_size=batch_size, shuffle=split == "train",
                       seed=seed, linear="linear_loss" in model.loss_names(), speakers=[voice],
                       max_frames=model.max_frames, progress=progress)


def load_run(recipe: Recipe, run_dir) -> tuple[keras.Model, dict]:
    """The run's model and where it came from: ``model.keras`` when training has finished, else
    the latest ``keras.callbacks.BackupAndRestore`` checkpoint (``backup/latest.weights.h5``,
    Keras 3's ``model.save_weights`` of the compiled model: weights and optimizer state) loaded
    into ``recipe.build_model()``. The checkpoint is copied first so the running training can
    overwrite it meanwhile (a copy torn by a concurrent write is read again). Returns
    ``(model, {"finished", "source", "steps" (the optimizer's iterations)})``, the model
    uncompiled, without the optimizer's state (a preset stores the weights only).
    """
    run_dir = Path(run_dir)
    finished = run_dir / "model.keras"
    if finished.is_file():
        trained = keras.saving.load_model(finished)
        source = {"finished": True, "source": str(finished)}
    else:
        trained = _checkpoint_model(recipe, run_dir)
        source = {"finished": False, "source": str(run_dir / "backup" / "latest.weights.h5")}
    model = recipe.build_model()
    model.set_weights(trained.get_weights())
    return model, {**source, "steps": int(trained.optimizer.iterations.numpy())}


def _checkpoint_model(recipe: Recipe, run_dir: Path) -> keras.Model:
    """The compiled model of the latest checkpoint (see ``load_run``)."""
    checkpoint = run_dir / "backup" / "latest.weights.h5"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{run_dir} holds neither model.keras nor a checkpoint ({checkpoint}); train first "
                                f"with `python -m {recipe.module}` (a checkpoint is written every "
                                f"{recipe.checkpoint_every} steps)")
    model = recipe.build_model()
    model.compile(**model.default_compile_args())
    model.optimizer.build(model.trainable_variables)  # the checkpoint holds the optimizer's state too
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / checkpoint.name
        for attempt in range(_CHECKPOINT_READS):
            before = checkpoint.stat()
            shutil.copyfile(checkpoint, copy)
            after = checkpoint.stat()
            try:
                if (before.st_mtime_ns, before.st_size) != (after.st_mtime_ns, after.st_size):
                    raise OSError(f"{checkpoint} changed while it was copied")
                model.load_weights(copy)
                break
            except (OSError, ValueError):
                if attempt == _CHECKPOINT_READS - 1:
                    raise
                time.sleep(10)
    return model


def run_corpus(recipe: Recipe, run_dir) -> Path:
    """The corpus the run trained on (named in its ``training.json``, in the cache), else the
    recipe's default corpus, built when missing."""
    record = _training_record(recipe, run_dir)
    cached = default_cache_dir() / "corpora" / record["data"]["corpus"]
    if (cached / MANIFEST).is_file() and corpus_fingerprint(cached) == record["data"]["fingerprint"]:
        return cached
    return build_corpus(list(recipe.training_voices), n=recipe.corpus_sentences)


def evaluate_run(recipe: Recipe, run_dir, *, corpus_dir=None, zoo_root=None, subset: int = DEFAULT_SUBSET,
                 seed: int = 0, finetune_steps: int = FINETUNE_STEPS, finetune_corpus=None,
                 progress: bool = True) -> Path:
    """``--evaluate``: measures the run (``load_run``), checks fine-tuning of the preset as
    ``tfspeech.zoo.load`` gives it (``finetune_steps`` 0: skipped), writes ``figures.json`` and
    the preset (to ``zoo_root``; default: the repository's ``zoo/`` for a finished run,
    ``<run>/preview-zoo`` for one in progress). Returns the preset folder."""
    run_dir = Path(run_dir)
    record = _training_record(recipe, run_dir)
    model, checkpoint = load_run(recipe, run_dir)
    corpus_dir = Path(corpus_dir) if corpus_dir is not None else run_corpus(recipe, run_dir)
    if zoo_root is None:
        zoo_root = ZOO if checkpoint["finished"] else run_dir / PREVIEW_ZOO
    out_dir = run_dir / "evaluation"
    figures = evaluate(model, corpus_dir, out_dir, voice=recipe.voice, subset=subset, seed=seed, progress=progress)
    figures["checkpoint"] = checkpoint
    command = evaluate_command(recipe, subset, finetune_steps, run_dir)
    if finetune_steps > 0:
        if finetune_corpus is None:
            finetune_corpus = build_corpus([FINETUNE_VOICE], n=FINETUNE_SENTENCES, progress=progress)
        with tempfile.TemporaryDirectory() as staging:
            write_preset(recipe, model, figures, record, staging, command=command, plots_dir=out_dir)
            loaded = zoo.load(recipe.preset, root=staging)
            figures["finetune"] = finetune_check(loaded, finetune_corpus, steps=finetune_steps, seed=seed,
                                                 progress=progress)
        (out_dir / "figures.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return write_preset(recipe, model, figures, record, zoo_root, command=command, plots_dir=out_dir)


def evaluate_command(recipe: Recipe, subset: int, finetune_steps: int, run_dir: Path) -> str:
    """The ``--evaluate`` command that measured ``run_dir``; a run outside the default folder
    (a later stage of a chain, say) is named by its folder, as ``<name>``."""
    command = f"python -m {recipe.module} --evaluate --evaluate-subset {subset}"
    if run_dir.name != recipe.preset:
        command += f" --out <{run_dir.name}>"
    return command + ("" if finetune_steps == FINETUNE_STEPS else f" --finetune-steps {finetune_steps}")


def write_preset(recipe: Recipe, model, figures: dict, record: dict, zoo_root, *, command: str,
                 plots_dir) -> Path:
    """Saves ``zoo_root/<preset>/`` (``tfspeech.zoo.save_preset``) with ``figures`` as its
    metrics and card, and the alignment PNGs of ``plots_dir``; returns the folder."""
    metrics = {name: {"value": round(value, 4), "command": command} for name, value in flat_metrics(figures).items()}
    data = {**record["data"], "splits": "trained on train, validation monitored, test never seen"}
    if figures["held_out"]["fingerprint"] == record["data"]["fingerprint"]:
        data["corpus_command"] = figures["held_out"]["corpus_command"]
    training = {"command": record["command"], "steps": figures["checkpoint"]["steps"],
                "finished": figures["checkpoint"]["finished"], "wall_time_s": record["wall_time_s"],
                "batch_size": record["batch_size"], "hardware": record["hardware"]}
    folder = zoo.save_preset(model, recipe.preset, root=zoo_root, data=data, training=training, metrics=metrics,
                             card=card(recipe, model, figures, data, training, command), overwrite=True,
                             headline=list(HEADLINE))
    for name in (FREE_RUNNING_PLOT, TEACHER_FORCED_PLOT):
        shutil.copyfile(Path(plots_dir) / name, folder / name)
    return folder


def flat_metrics(figures: dict) -> dict[str, float]:
    """The card's headline numbers as ``{name: value}`` for ``preset.json``."""
    metrics = {f"free_running_{k}": v for k, v in figures["free_running"].items()}
    metrics.update({f"teacher_forced_{k}": v for k, v in figures["teacher_forced"].items()})
    for audio in ("synthesized", "reference_audio", "reference_griffin_lim"):
        metrics.update({f"{audio}_{rate}": figures["intelligibility"][audio][rate] for rate in ("cer", "wer")})
    if "finetune" in figures:
        for variant in ("same_symbols", "remapped_symbols"):
            for when in ("before", "after"):
                metrics[f"finetune_{variant}_held_out_loss_{when}"] = figures["finetune"][variant][when]["loss"]
    return metrics


def card(recipe: Recipe, model, figures: dict, data: dict, training: dict, command: str) -> str:
    """CARD.md: what the model is, its held-out figures and pictures, fine-tuning, data, training."""
    held, free, forced = figures["held_out"], figures["free_running"], figures["teacher_forced"]
    heard = figures["intelligibility"]
    preview = "" if training["finished"] else (
        f"\n> **Preview of a run in progress** (checkpoint at step {training['steps']}), not the finished preset.\n")
    free_rows = _table(["free running (`model.infer`)", "value"], [
        ["log-mel L1 against the recording, DTW-aligned", f"{free['dtw_mel_l1']:.3f}"],
        ["attention focus rate (mean over steps of the largest weight)", f"{free['focus_rate']:.3f}"],
        [f"attention diagonality (mass within ±{figures['diagonal_band']:.0%} of the text from the diagonal)",
         f"{free['diagonality']:.3f}"],
        ["stopped on the stop token", f"{free['stopped']:.1%}"],
        [f"stopped within {tts_metrics.STOP_FACTOR}× the reference length",
         f"{free[f'stopped_within_{tts_metrics.STOP_FACTOR}x']:.1%}"],
        ["median length / reference length", f"{free['median_length_ratio']:.2f}"],
    ])
    forced_rows = _table(["teacher forced (reference frames in, as in training)", "value"], [
        ["log-mel L1, frame by frame", f"{forced['mel_l1']:.3f}"],
        ["stop-token accuracy (all steps)", f"{forced['stop_accuracy']:.3f}"],
        ["last step stops (recall)", f"{forced['stop_final_step_recall']:.3f}"],
        ["earlier steps that would stop", f"{forced['stop_early_stop_rate']:.4f}"],
        ["attention focus rate / diagonality", f"{forced['focus_rate']:.3f} / {forced['diagonality']:.3f}"],
    ])
    heard_rows = _table(["audio", "CER", "WER"], [
        [name, f"{heard[key]['cer']:.3f}", f"{heard[key]['wer']:.3f}"] for key, name in (
            ("synthesized", f"synthesized (Griffin-Lim, {figures['griffin_lim_iters']} iterations)"),
            ("reference_audio", "reference recordings"),
            ("reference_griffin_lim", "reference spectrograms through the same Griffin-Lim path"))])
    samples = "\n".join(
        f"- reference: `{s['reference']}`\n  - recording: `{s['reference_audio']}`\n"
        f"  - synthesized: `{s['synthesized']}`" for s in heard["samples"])
    hardware = training["hardware"]
    return f"""# {recipe.preset}
{preview}
{type(model).__name__} (`{keras.saving.get_registered_name(type(model))}`, {model.count_params():,} parameters):
{model.symbols} → {model.n_mels}-band log-mel at {model.mel_config.sample_rate:,} Hz; {model.attention_name}
attention, reduction factor {model.reduction_factor}, decoding guard {model.max_frames} frames; `synthesize`
makes the waveform with `{DEFAULT_VOCODER}` where their mels match, else Griffin-Lim (the figures below
use Griffin-Lim). Trained on the `{recipe.voice}` voice.

```python
from tfspeech.synthesis import synthesize
waveform, sample_rate, alignments = synthesize("The quick brown fox.", preset="{recipe.preset}")
```

## Held-out figures

{held['sentences']} sentences drawn (seed {held['seed']}) from the {held['split']} split of `{held['corpus']}`
(of those with at most {held['max_reference_frames']} reference frames). Splits go by sentence text, so no
corpus trains on these sentences. Log-mel L1: mean absolute difference of natural-log mel magnitudes per bin.

{free_rows}

{forced_rows}

Intelligibility: the `ctc-multivoice` recognizer (greedy) on the same sentences.

{heard_rows}

{samples}

Alignments (text position up, decoder step right) of the first {ALIGNMENT_PLOTS} sentences, free running:

![free-running alignments]({FREE_RUNNING_PLOT})

and teacher forced:

![teacher-forced alignments]({TEACHER_FORCED_PLOT})

{_finetune_section(figures.get('finetune'))}
## Data

- corpus `{data['corpus']}` (`{data['voice']}`), {data['splits']}
- fingerprint (sha256 of its manifest): `{data['fingerprint']}`
- built with `{data.get('corpus_command', 'tfspeech corpus build --voices ' + data['voice'] + ' --n 0')}`

## Training

- command: `{training['command']}` (resumable: run it again after an interruption)
- steps: {training['steps']}, batch {training['batch_size']}, wall time {_duration(training['wall_time_s'])}
  on {hardware['machine']} ({hardware['cpu_count']} CPU cores, {hardware['gpus']} GPUs)

## Reproduce the figures

`{command}` (also writes the run's `evaluation/figures.json`, with every sentence's figures).
"""


def _finetune_section(finetune: dict | None) -> str:
    if finetune is None:
        return ""
    rows = _table(["model", "held-out loss before", "after", "fit time"], [
        [f"{name.replace('_', ' ')} ({entry['symbols']})", f"{entry['before']['loss']:.3f}",
         f"{entry['after']['loss']:.3f}", f"{entry['fit_s']:.0f} s"]
        for name, entry in ((n, finetune[n]) for n in ("same_symbols", "remapped_symbols"))])
    return f"""## Fine-tuning

`tfspeech.zoo.load` then `fit` for {finetune['steps']} steps (batch {finetune['batch_size']}) on
`{finetune['voice']}` ({finetune['train_utterances']} training sentences of `{finetune['corpus']}`), held-out
loss on its {finetune['held_out_utterances']} test sentences before and after. "remapped symbols" fine-tunes
`model.with_symbols(...)`, the other symbol set, its embedding rows remapped by symbol.

{rows}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join(f"| {' | '.join(line)} |" for line in lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _training_record(recipe: Recipe, run_dir) -> dict:
    path = Path(run_dir) / "training.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {run_dir} is not a run of `python -m {recipe.module}` "
                                "(or it has not reached its first checkpoint yet)")
    return json.loads(path.read_text(encoding="utf-8"))
