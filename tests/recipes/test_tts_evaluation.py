"""The TTS evaluation on a tiny Tacotron 2 and a 9-sentence, two-voice flite corpus: figures and a
loadable preset of an untrained model (fast); a 2-step run measured with its fine-tuning check, and
its checkpoint read while "in progress" (slow: Keras traces the training step)."""

import json
import math

import keras
import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.data.corpus import build_corpus
from tfspeech.data.sentences import split_of, wordnet_sentences
from tfspeech.data.voices import check_voice, parse_voice
from tfspeech.models.tacotron import Tacotron
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import tts_evaluation, tts_training
from tfspeech.recipes.tts_training import RunRecord

VOICE, OTHER_VOICE = "flite:slt", "flite:rms"
TINY = dict(
    symbols="phonemes", mel_config={"n_mels": 16, "hop_length": 512}, reduction_factor=2,
    embedding_dim=16, encoder_filters=16, encoder_kernel_size=3, encoder_layers=1, encoder_dropout=0.0,
    encoder_rnn_units=8, attention_units=8, attention_options={"filters": 4, "kernel_size": 5},
    prenet_units=(16, 16), prenet_dropout=0.5, attention_rnn_units=16, decoder_rnn_units=16, decoder_dropout=0.0,
    postnet_filters=8, postnet_kernel_size=3, postnet_layers=2, postnet_dropout=0.0, max_frames=300,
    guided_attention_weight=1.0, learning_rate=1e-2)
RECIPE = tts_training.Recipe(preset="tiny-tacotron2", module="tests.recipes.test_tts_evaluation",
                             model_class=Tacotron2, config=TINY, voice=VOICE, steps=2, batch_size=2,
                             checkpoint_every=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Short WordNet sentences, 4 of the train split, 3 of the test split and 2 of validation,
    spoken by both flite voices."""
    try:
        for voice in (VOICE, OTHER_VOICE):
            check_voice(parse_voice(voice))
    except Exception as error:  # flite is missing
        pytest.skip(f"flite voices are not available: {error}")
    short = [s for s in wordnet_sentences() if len(s.split()) <= 5]
    chosen = [s for split, count in (("train", 4), ("test", 3), ("validation", 2))
              for s in [s for s in short if split_of(s) == split][:count]]
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "sentences.txt").write_text("\n".join(chosen) + "\n", encoding="utf-8")
    return build_corpus([VOICE, OTHER_VOICE], n=None, sentences_file=folder / "sentences.txt",
                        out_dir=folder / "flite", progress=False)


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    tts_training.train(RECIPE, corpus, out, steps=2, batch_size=2, checkpoint_every=1, verbose=0)
    return out


def test_figures_and_a_loadable_preset_of_an_untrained_model(corpus, tmp_path):
    model = RECIPE.build_model()
    figures = tts_evaluation.evaluate(model, corpus, tmp_path / "evaluation", voice=VOICE, subset=2, progress=False)
    assert figures == json.loads((tmp_path / "evaluation" / "figures.json").read_text())
    assert figures["held_out"]["sentences"] == 2 == len(figures["sentences"])
    test_ids = {u["id"] for u in json.loads((corpus / "manifest.json").read_text())["utterances"]
                if u["split"] == "test" and u["speaker"] == VOICE}
    assert {row["id"] for row in figures["sentences"]} <= test_ids
    for row in figures["sentences"]:
        assert 0 < row["focus_rate"] <= 1 and 0 <= row["diagonality"] <= 1
        assert row["dtw_mel_l1"] > 0 and row["teacher_forced_mel_l1"] > 0
        assert row["generated_frames"] <= TINY["max_frames"]
    for audio in ("synthesized", "reference_audio", "reference_griffin_lim"):
        assert figures["intelligibility"][audio]["cer"] >= 0
    assert 0 <= figures["teacher_forced"]["stop_accuracy"] <= 1
    assert (tmp_path / "evaluation" / "alignments.png").read_bytes().startswith(b"\x89PNG")
    samples = sorted(p.name for p in (tmp_path / "evaluation" / "samples").iterdir())
    assert samples == [f"{i:02d}-{kind}.wav" for i in (1, 2)
                       for kind in ("reference_audio", "reference_griffin_lim", "synthesized")]

    figures["checkpoint"] = {"finished": True, "source": "model.keras", "steps": 0}
    record = {**RunRecord(tmp_path / "training.json", RECIPE, corpus, 2, 1, "default",
                          tts_training.make_strategy("default"), target_steps=2).record,
              "steps": 0, "wall_time_s": 1.5}
    folder = tts_evaluation.write_preset(RECIPE, model, figures, record, tmp_path / "zoo", command="measure it",
                                         plots_dir=tmp_path / "evaluation")
    preset = json.loads((folder / "preset.json").read_text())
    assert preset["data"]["fingerprint"] == tts_training.corpus_fingerprint(corpus)
    assert all(math.isfinite(entry["value"]) and entry["command"] == "measure it"
               for entry in preset["metrics"].values())
    assert preset["metrics"]["synthesized_cer"]["value"] == round(figures["intelligibility"]["synthesized"]["cer"], 4)
    assert preset["headline"] == ["synthesized_cer", "free_running_dtw_mel_l1"]
    card = (folder / "CARD.md").read_text()
    assert "Preview" not in card and "![free-running alignments](alignments.png)" in card
    assert f"{figures['free_running']['dtw_mel_l1']:.3f}" in card
    assert (folder / "alignments.png").is_file() and (folder / "alignments-teacher-forced.png").is_file()
    loaded = zoo.load(RECIPE.preset, root=tmp_path / "zoo")
    for mine, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_the_evaluate_command_names_a_run_outside_the_default_folder(tmp_path):
    default = f"python -m {RECIPE.module} --evaluate --evaluate-subset 64"
    assert tts_evaluation.evaluate_command(RECIPE, 64, tts_evaluation.FINETUNE_STEPS, tmp_path / RECIPE.preset) == default
    assert tts_evaluation.evaluate_command(RECIPE, 64, 0, tmp_path / "stage-3") == (
        f"{default} --out <stage-3> --finetune-steps 0")


@pytest.mark.slow
def test_a_finished_run_becomes_a_preset_that_fine_tunes(corpus, run, tmp_path):
    folder = tts_evaluation.evaluate_run(RECIPE, run, corpus_dir=corpus, zoo_root=tmp_path, subset=2,
                                         finetune_steps=3, finetune_corpus=corpus, progress=False)
    assert folder == tmp_path / RECIPE.preset
    figures = json.loads((run / "evaluation" / "figures.json").read_text())
    assert figures["checkpoint"] == {"finished": True, "source": str(run / "model.keras"), "steps": 2}
    finetune = figures["finetune"]
    assert finetune["voice"] == OTHER_VOICE and finetune["held_out_utterances"] == 3
    assert finetune["remapped_symbols"]["symbols"] == "characters"
    for variant in ("same_symbols", "remapped_symbols"):
        assert finetune[variant]["after"]["loss"] < finetune[variant]["before"]["loss"], variant
    preset = json.loads((folder / "preset.json").read_text())
    assert preset["training"]["steps"] == 2 and preset["training"]["finished"] is True
    assert preset["metrics"]["synthesized_cer"]["command"] == (
        f"python -m {RECIPE.module} --evaluate --evaluate-subset 2 --out <{run.name}> --finetune-steps 3")
    assert "## Fine-tuning" in (folder / "CARD.md").read_text()
    loaded = zoo.load(RECIPE.preset, root=tmp_path)
    trained = keras.saving.load_model(run / "model.keras")
    for mine, theirs in zip(loaded.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
def test_a_run_in_progress_is_read_from_its_checkpoint(corpus, run, tmp_path):
    finished, _ = tts_evaluation.load_run(RECIPE, run)
    (run / "model.keras").rename(tmp_path / "model.keras")  # as if training were still going
    try:
        model, source = tts_evaluation.load_run(RECIPE, run)
        assert tts_training.main(RECIPE, ["--evaluate", "--out", str(run), "--corpus", str(corpus),
                                          "--evaluate-subset", "1", "--finetune-steps", "0"]) == 0
    finally:
        (tmp_path / "model.keras").rename(run / "model.keras")
    assert source == {"finished": False, "source": str(run / "backup" / "latest.weights.h5"), "steps": 2}
    assert not model.compiled  # a preset stores the weights only
    for mine, theirs in zip(model.get_weights(), finished.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    preview = run / tts_evaluation.PREVIEW_ZOO / RECIPE.preset
    assert "Preview of a run in progress" in (preview / "CARD.md").read_text()
    assert json.loads((preview / "preset.json").read_text())["training"]["finished"] is False


def test_a_folder_that_is_no_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="training.json is missing"):
        tts_evaluation.evaluate_run(RECIPE, tmp_path, finetune_steps=0)
    (tmp_path / "training.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="neither model.keras nor a checkpoint"):
        tts_evaluation.load_run(RECIPE, tmp_path)


@pytest.mark.parametrize("flags", [["--evaluate-subset", "0"], ["--finetune-steps", "-1"]])
def test_command_line_refuses_bad_evaluation_sizes(flags, capsys):
    with pytest.raises(SystemExit):
        tts_training.main(RECIPE, ["--evaluate", *flags])
    assert flags[0] in capsys.readouterr().err


@pytest.mark.slow
def test_a_linear_output_model_is_heard_through_its_linear_spectrogram(corpus, tmp_path):
    model = Tacotron(
        symbols="characters", mel_config=TINY["mel_config"], reduction_factor=2, embedding_dim=12,
        encoder_prenet_units=(12, 8), encoder_prenet_dropout=0.0, encoder_bank_size=3, encoder_bank_filters=4,
        encoder_highway_layers=1, encoder_highway_units=8, encoder_rnn_units=6, attention="content",
        attention_units=8, prenet_units=(16, 8), attention_rnn_units=16, decoder_units=16, postnet_bank_size=3,
        postnet_bank_filters=4, postnet_projection_units=8, postnet_highway_layers=1, postnet_highway_units=8,
        postnet_rnn_units=5, max_frames=300)
    model.build()
    figures = tts_evaluation.evaluate(model, corpus, tmp_path, voice=VOICE, subset=2, progress=False)
    assert figures["held_out"]["sentences"] == 2
    assert 0 <= figures["intelligibility"]["reference_griffin_lim"]["cer"] <= 1.0
    finetune = tts_evaluation.finetune_check(model, corpus, steps=1, batch_size=2, progress=False)
    assert finetune["remapped_symbols"]["symbols"] == "phonemes"
    assert {"linear_loss", "mel_loss"} <= set(finetune["same_symbols"]["after"])
