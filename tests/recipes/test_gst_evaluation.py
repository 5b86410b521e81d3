"""The GST evaluation on a hand-made corpus of harmonic tones (three "styles" whose pitch and
length are known exactly) and tiny untrained models: the measures, the token-sweep rule, the
reference pairing, the summary across settings, the named styles (from training recordings only),
and an end-to-end run that writes a loadable preset with its named styles and card."""

import hashlib
import json
import math

import keras
import numpy as np
import pytest

from tfspeech import zoo
from tfspeech.audio import save
from tfspeech.data.layout import read_corpus
from tfspeech.models.gst_tacotron2 import GSTTacotron2
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import gst_evaluation, gst_tacotron2_slt, tts_training
from tfspeech.recipes.gst_evaluation import Recordings, Style
from tfspeech.recipes.tts_training import RunRecord
from tfspeech.text import TextEncoder

RATE = 22050
NEUTRAL = gst_tacotron2_slt.NEUTRAL_VOICE
VOICES = (gst_tacotron2_slt.style_voice(-3, 1.15), NEUTRAL, gst_tacotron2_slt.style_voice(3, 0.85))
SENTENCES = [("A bad cold.", "{AH0} {B AE1 D} {K OW1 L D} ."),
             ("He ran home.", "{HH IY1} {R AE1 N} {HH OW1 M} ."),
             ("The old dog slept.", "{DH AH0} {OW1 L D} {D AO1 G} {S L EH1 P T} ."),
             ("She sang a song.", "{SH IY1} {S AE1 NG} {AH0} {S AO1 NG} .")]
TRAINING_SENTENCES = [("A red hat.", "{AH0} {R EH1 D} {HH AE1 T} ."),
                      ("We sat down.", "{W IY1} {S AE1 T} {D AW1 N} ."),
                      ("The cat ran.", "{DH AH0} {K AE1 T} {R AE1 N} .")]
TINY = {**gst_tacotron2_slt.tacotron2_slt.CONFIG, "embedding_dim": 8, "encoder_filters": 8, "encoder_layers": 1,
        "encoder_rnn_units": 4, "attention_units": 8, "attention_options": {"filters": 2, "kernel_size": 3},
        "prenet_units": [8, 8], "attention_rnn_units": 8, "decoder_rnn_units": 8, "postnet_filters": 8,
        "postnet_layers": 2, "max_frames": 90}
TINY_STYLE = {"style_tokens": 3, "style_units": 8, "style_heads": 2, "reference_filters": [4, 4],
              "reference_rnn_units": 4}


def tone(f0: float, seconds: float) -> np.ndarray:
    """A voiced-speech stand-in: five harmonics of ``f0`` Hz, fading in and out."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.3 * wave * np.hanning(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every sentence of ``SENTENCES`` in the test split and of ``TRAINING_SENTENCES`` in the train
    split, "spoken" by each voice of ``VOICES`` as a tone at 180 Hz shifted by the voice's pitch,
    (0.5 + 0.1 i) s long divided by its speed."""
    folder = tmp_path_factory.mktemp("tones")
    rows, entries = [], []
    for voice in VOICES:
        style = Style.of(voice)
        for split, sentences in (("test", SENTENCES), ("train", TRAINING_SENTENCES)):
            for i, (text, phonemes) in enumerate(sentences):
                utterance_id = f"{style.name}-{split}{i}"
                path = save(folder / "wavs" / f"{utterance_id}.wav",
                            tone(180.0 * 2 ** (style.pitch / 12), (0.5 + 0.1 * i) / style.speed), RATE)
                rows.append(f"{utterance_id}|{text}|{phonemes}")
                entries.append({"id": utterance_id, "speaker": voice, "split": split, "wav": f"wavs/{path.name}",
                                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    manifest = {"format": "tfspeech-corpus/1", "command": "hand-made tones", "utterances": entries}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(7)
    base = Tacotron2(**TINY)
    base.build()
    model = GSTTacotron2.from_tacotron2(base, **TINY_STYLE)
    return model, base


@pytest.fixture(scope="module")
def vocoder():
    return zoo.load(gst_evaluation.VOCODER, compile=False)


def test_median_f0_finds_the_pitch_of_each_setting_and_nan_in_silence():
    for shift in (-3, 0, 3):
        f0 = 180.0 * 2 ** (shift / 12)
        assert gst_evaluation.median_f0(tone(f0, 1.0), RATE) == pytest.approx(f0, rel=0.01)
    assert math.isnan(gst_evaluation.median_f0(np.zeros(RATE, np.float32), RATE))
    assert math.isnan(gst_evaluation.median_f0(np.zeros(10, np.float32), RATE))  # shorter than a frame


def test_phoneme_count_counts_arpabet_only():
    encoder = TextEncoder("phonemes")
    ids = encoder.encode_phonemes(SENTENCES[2][1])  # 13 phonemes, 3 spaces, a full stop, end of sequence
    assert len(ids) == 18 and gst_evaluation.phoneme_count(encoder, ids) == 13


def test_setting_figures_and_semitones():
    figures = gst_evaluation.setting_figures([200.0, math.nan, 220.0], [10, 20, 30], [1.0, 2.0, 3.0])
    assert figures == {"f0_hz": 210.0, "rate": 10.0}
    assert math.isnan(gst_evaluation.setting_figures([math.nan], [3], [1.0])["f0_hz"])
    assert gst_evaluation.semitones(2 * 177.0, 177.0) == pytest.approx(12.0)


def test_token_weights_rule():
    mean = np.array([[0.5, 0.3, 0.2], [0.0, 0.0, 1.0]], np.float32)
    for value in (0.0, 0.25, 1.0):
        weights = gst_evaluation.token_weights(mean, 0, value)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(weights[:, 0], value)
    np.testing.assert_allclose(gst_evaluation.token_weights(mean, 0, 0.5)[0], [0.5, 0.3, 0.2])  # its own share
    np.testing.assert_allclose(gst_evaluation.token_weights(mean, 2, 0.0)[1], [0.5, 0.5, 0.0])  # nothing to keep
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gst_evaluation.token_weights(mean, 0, 1.5)


def test_a_reference_is_never_the_sentence_itself():
    for count in (2, 3, 8):
        assert all(gst_evaluation.reference_index(i, count) != i for i in range(count))
        assert sorted(gst_evaluation.reference_index(i, count) for i in range(count)) == list(range(count))
    with pytest.raises(ValueError, match="at least 2"):
        gst_evaluation.reference_index(0, 1)


def test_transfer_summary_of_a_perfect_and_a_constant_output():
    recordings = [{"f0_hz": 150.0 * 2 ** (k / 12), "rate": 10.0 + k} for k in range(3)]
    perfect = gst_evaluation.transfer_summary(recordings, recordings, {"f0_hz": 150.0, "rate": 10.0}, [0, 1, 2],
                                              [1.0, 1.1, 1.2])
    assert perfect["f0_spearman"] == pytest.approx(1.0) and perfect["rate_spearman"] == pytest.approx(1.0)
    assert perfect["f0_error_semitones"] == 0 and perfect["rate_error_percent"] == 0
    assert perfect["f0_goal_met"] and perfect["rate_goal_met"] and perfect["f0_spearman_nominal"] == pytest.approx(1)
    one_speed = gst_evaluation.transfer_summary(recordings, recordings, recordings[0], [0, 1, 2], [1, 1, 1])
    assert math.isnan(one_speed["rate_spearman_nominal"]) and not one_speed["rate_goal_met"]  # no order to follow
    reversed_pitch = gst_evaluation.transfer_summary(recordings, recordings, recordings[0], [2, 1, 0], [1.0, 1.1, 1.2])
    assert not reversed_pitch["f0_goal_met"], "the goal is to follow the nominal pitch settings"
    assert perfect["baseline_f0_error_semitones"] == pytest.approx(1.0)  # 0, 1 and 2 semitones off
    constant = gst_evaluation.transfer_summary([recordings[0]] * 3, recordings, recordings[0], [0, 1, 2], [1, 2, 3])
    assert math.isnan(constant["f0_spearman"]) and not constant["f0_goal_met"]


def test_held_out_sentences_are_recorded_by_every_voice(corpus, models):
    model, _ = models
    recordings = Recordings(corpus, gst_evaluation.cache_log_mels(corpus, model.mel_config, progress=False), RATE)
    chosen = gst_evaluation.held_out_sentences(recordings, VOICES, 3, seed=0, min_frames=1, max_frames=1000)
    assert len(chosen) == 3 and all(set(s) == set(VOICES) for s in chosen)
    assert all(len({u.text for u in s.values()}) == 1 for s in chosen)
    with pytest.raises(ValueError, match="5 were asked for"):
        gst_evaluation.held_out_sentences(recordings, VOICES, 5, seed=0, min_frames=1, max_frames=1000)


def test_each_of_the_nine_settings_has_its_own_named_style():
    names = {Style.of(voice).named_style for voice in gst_tacotron2_slt.STYLE_VOICES}
    assert names == {"low-slow", "low", "low-fast", "slow", "neutral", "fast", "high-slow", "high", "high-fast"}
    assert Style.of(gst_tacotron2_slt.style_voice(-3, 0.85)).named_style == "low-slow"
    assert Style.of(NEUTRAL).named_style == "neutral"


def test_named_style_references_are_training_recordings_of_that_voice(corpus, models):
    model, _ = models
    recordings = Recordings(corpus, gst_evaluation.cache_log_mels(corpus, model.mel_config, progress=False), RATE)
    chosen = gst_evaluation.training_references(recordings, VOICES[0], 2, seed=0, min_frames=1, max_frames=1000)
    assert len(chosen) == 2 and all(u.split == "train" and u.speaker == VOICES[0] for u in chosen)
    with pytest.raises(ValueError, match="has 3 train recordings of .* within 1-1000 frames; its named style needs 4"):
        gst_evaluation.training_references(recordings, VOICES[0], 4, seed=0, min_frames=1, max_frames=1000)


def test_settings_whose_named_styles_collide_are_refused():
    styles = [Style.of(gst_tacotron2_slt.style_voice(pitch, 1.0)) for pitch in (-3, -6)]
    with pytest.raises(ValueError, match=r"named styles collide \(low, low\)"):
        gst_evaluation.named_styles(None, None, styles, [], None, None, NEUTRAL, references=1, seed=0)


def test_evaluation_end_to_end_writes_figures_pictures_samples_and_a_loadable_preset(corpus, models, vocoder,
                                                                                     tmp_path):
    model, base = models
    out = tmp_path / "evaluation"
    figures = gst_evaluation.evaluate(model, corpus, out, baseline=base, baseline_name="tiny-base", vocoder=vocoder,
                                      voices=VOICES, neutral_voice=NEUTRAL, style_sentences=2, token_sentences=1,
                                      token_values=(0.0, 1.0), intelligibility_sentences=2,
                                      named_style_references=2, progress=False)
    transfer = figures["style_transfer"]
    assert [s["voice"] for s in transfer["settings"]] == list(VOICES)
    for setting in transfer["settings"]:
        assert all(r != s for r, s in zip(setting["references"], setting["sentences"], strict=True))
        assert all(Style.of(setting["voice"]).name in u for u in setting["references"])
        assert setting["output"]["rate"] > 0 and np.shape(setting["mean_reference_weights"]) == (2, 3)
    by_pitch = {s["pitch"]: s["recordings"] for s in transfer["settings"]}
    assert by_pitch[0.0]["semitones"] == 0.0
    assert by_pitch[3.0]["semitones"] == pytest.approx(3.0, abs=0.2)
    assert by_pitch[-3.0]["semitones"] == pytest.approx(-3.0, abs=0.2)
    assert by_pitch[3.0]["rate"] / by_pitch[0.0]["rate"] == pytest.approx(0.85, rel=0.03)  # speed 0.85
    tokens = figures["token_control"]
    assert len(tokens["tokens"]) == 3 and sorted(tokens["pitch_tokens"]) == [0, 1, 2]
    assert all(len(t["rate"]) == 2 for t in tokens["tokens"])
    heard = figures["intelligibility"]
    assert heard["sentences"] == 2 and heard["baseline"]["cer"] >= 0
    assert heard["baseline_preset"] == "tiny-base" and heard["recordings"]["f0_hz"] == pytest.approx(180.0, rel=0.02)
    assert heard["mean_style"]["minus_baseline"]["low"] <= heard["mean_style"]["minus_baseline"]["high"]
    assert all(heard[name]["cer"] >= 0 for name in gst_evaluation.STYLED_AUDIO)
    assert json.loads((out / "metrics.json").read_text())["held_out"]["style_sentences"] == 2
    assert (out / gst_evaluation.TOKEN_PLOT).read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (out / "alignments").iterdir()) == sorted(f"{Style.of(v).name}.png" for v in VOICES)
    assert len(list((out / "samples").glob("*.wav"))) == 3 * len(VOICES) + 1
    named = figures["named_styles"]
    assert [s["name"] for s in named["styles"]] == ["low-fast", "neutral", "high-slow"] and named["neutral"] == "neutral"
    training_ids = {u.id: u.speaker for u in read_corpus(corpus, "train")}
    recordings = Recordings(corpus, gst_evaluation.cache_log_mels(corpus, model.mel_config, progress=False), RATE)
    for style in named["styles"]:
        assert len(style["references"]) == 2
        assert all(training_ids.get(u) == style["voice"] for u in style["references"])  # train split, its voice
        used = [u for u in read_corpus(corpus, "train") if u.id in style["references"]]
        np.testing.assert_allclose(style["weights"], gst_evaluation.reference_weights(model, recordings, used).mean(0),
                                   atol=1e-6)
        assert style["output"]["rate"] > 0
    neutral = named["styles"][1]
    assert neutral["rate_change_percent"] == 0.0
    assert neutral["semitones"] == 0.0 or math.isnan(neutral["output"]["f0_hz"])  # an untrained model may not voice

    recipe = gst_tacotron2_slt.StyleRecipe(preset="tiny-gst", module="tests.recipes.test_gst_evaluation",
                                           model_class=GSTTacotron2, config={**TINY, **TINY_STYLE}, voice=NEUTRAL,
                                           voices=VOICES, steps=1, batch_size=2, checkpoint_every=1)
    figures["checkpoint"] = {"finished": False, "source": "backup/latest.weights.h5", "steps": 250}
    record = {**RunRecord(tmp_path / "training.json", recipe, corpus, 2, 1, "default",
                          tts_training.make_strategy("default"), target_steps=1).record, "wall_time_s": 60.0}
    folder = gst_evaluation.write_preset(recipe, model, figures, record, tmp_path / "zoo", command="the command",
                                         evaluation_dir=out)
    card = (folder / "CARD.md").read_text()
    assert (out / "CARD.md").read_text() == card
    assert "Preview of a run in progress" in card and "--style-wav" in card and "the command" in card
    assert "token-control.png" in card and "| setting | token 0 |" in card
    assert "## Named styles" in card and "| style | setting (pitch, speed) | median F0, Hz (st re. neutral) |" in card
    assert "--preset tiny-gst --style low-fast" in card and "--preset tiny-gst --style high-slow` |" in card
    assert (folder / "alignments" / f"{Style.of(NEUTRAL).name}.png").is_file()
    loaded = zoo.load("tiny-gst", root=tmp_path / "zoo", compile=False)
    np.testing.assert_array_equal(loaded.mean_style_weights.numpy(), model.mean_style_weights.numpy())
    config = json.loads((folder / "preset.json").read_text())["config"]
    assert sorted(config["named_styles"]) == ["high-slow", "low-fast", "neutral"]
    for style in named["styles"]:
        np.testing.assert_array_equal(loaded.named_style_weights(style["name"])[0],
                                      np.asarray(style["weights"], np.float32))
    metrics = json.loads((folder / "preset.json").read_text())["metrics"]
    assert "cer_neutral_reference" in metrics and metrics["cer_baseline"]["command"] == "the command"
    assert "cer_neutral_named_style_minus_baseline" in metrics and "| this model, the `neutral` named style |" in card


def test_evaluate_is_what_the_recipe_runs(monkeypatch):
    called = {}
    monkeypatch.setattr(gst_evaluation, "evaluate_run", lambda recipe, out, **options: called.update(options) or out)
    assert gst_tacotron2_slt.main(["--evaluate", "--style-sentences", "2", "--zoo", "z"]) == 0
    assert called["style_sentences"] == 2 and str(called["zoo_root"]) == "z"
    with pytest.raises(SystemExit):
        gst_tacotron2_slt.main(["--evaluate", "--style-sentences", "1"])
