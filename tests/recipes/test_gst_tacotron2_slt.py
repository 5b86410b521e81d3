"""The GST recipe: its nine styles, its model within the zoo's weight limit, and (slow: builds a
corpus) a run on a two-style, 6-sentence slt corpus with a tiny base preset: warm start, two
styles trained together, the mean style set in the checkpoint."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from tests.voices import require_voice
from tfspeech import zoo
from tfspeech.data.corpus import build_corpus
from tfspeech.models.gst_tacotron2 import GSTTacotron2
from tfspeech.models.tacotron2 import Tacotron2
from tfspeech.recipes import gst_tacotron2_slt, tts_training

STYLES = (gst_tacotron2_slt.NEUTRAL_VOICE, gst_tacotron2_slt.style_voice(3, 1.15))
TINY = {**gst_tacotron2_slt.tacotron2_slt.CONFIG, "embedding_dim": 8, "encoder_filters": 8, "encoder_layers": 1,
        "encoder_rnn_units": 4, "attention_units": 8, "attention_options": {"filters": 2, "kernel_size": 3},
        "prenet_units": [8, 8], "attention_rnn_units": 8, "decoder_rnn_units": 8, "postnet_filters": 8,
        "postnet_layers": 2}
TINY_STYLE = {"style_tokens": 3, "style_units": 8, "style_heads": 2, "reference_filters": [4, 4],
              "reference_rnn_units": 4}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    require_voice(STYLES[1])
    return build_corpus(list(STYLES), n=6, out_dir=tmp_path_factory.mktemp("styles"), progress=False)


@pytest.fixture(scope="module")
def base_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    keras.utils.set_random_seed(5)
    base = Tacotron2(**TINY)
    base.build()
    zoo.save_preset(base, "tiny-base", root=root, data={"fingerprint": "none"}, training={"command": "none"},
                    metrics={})
    return root


def test_style_voices_are_the_nine_pitch_and_speed_settings():
    voices = gst_tacotron2_slt.STYLE_VOICES
    assert len(set(voices)) == 9 and gst_tacotron2_slt.NEUTRAL_VOICE in voices
    assert gst_tacotron2_slt.style_voice(-3, 0.85) == "festival:cmu_us_slt_arctic_hts:pitch=-3:speed=0.85"
    assert gst_tacotron2_slt.RECIPE.training_voices == voices


@pytest.mark.slow
def test_recipe_warm_starts_trains_every_style_and_saves_the_mean_style(corpus, base_zoo, tmp_path):
    recipe = dataclasses.replace(gst_tacotron2_slt.RECIPE, config={**TINY, **TINY_STYLE}, voices=STYLES,
                                 base_preset="tiny-base", base_zoo=str(base_zoo))
    base = zoo.load("tiny-base", root=base_zoo, compile=False)
    start = recipe.build_model()
    np.testing.assert_array_equal(start.get_layer("embedding").get_weights()[0],
                                  base.get_layer("embedding").get_weights()[0])

    model = tts_training.train(recipe, corpus, tmp_path, steps=2, batch_size=4, checkpoint_every=2, verbose=0)
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["steps"] == 2 and record["data"]["voices"] == list(STYLES)
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(saved, GSTTacotron2)
    mean = saved.mean_style_weights.numpy()
    assert mean.shape == (2, 3) and np.allclose(mean.sum(axis=-1), 1.0, atol=1e-5)
    assert not np.allclose(mean, 1 / 3), "the mean style was never set from the training references"
    np.testing.assert_allclose(mean, model.mean_style_weights.numpy())

    batches = tts_training._dataset(recipe, corpus, "train", 4, 0, shuffle=False)
    expected = np.concatenate([saved.reference_weights(x["mels"], x["mel_lengths"]).numpy() for x, _ in batches])
    np.testing.assert_allclose(gst_tacotron2_slt.set_mean_style(saved, batches), expected.mean(axis=0), atol=1e-6)


def test_the_recipes_model_fits_the_zoos_weight_limit(tmp_path):
    model = GSTTacotron2(**gst_tacotron2_slt.CONFIG)
    model.build()
    model.save_weights(tmp_path / "model.weights.h5")
    assert (tmp_path / "model.weights.h5").stat().st_size <= zoo.MAX_WEIGHTS_BYTES


def test_mean_style_of_no_reference_is_an_error():
    model = GSTTacotron2(**{**TINY, **TINY_STYLE})
    model.build()
    with pytest.raises(ValueError, match="no reference"):
        gst_tacotron2_slt.set_mean_style(model, [])


def test_training_help_names_only_the_gst_evaluation_and_abbreviations_are_refused(capsys):
    with pytest.raises(SystemExit):
        gst_tacotron2_slt.main(["--help"])
    shown = capsys.readouterr().out
    assert "--evaluate --help" in shown and "--finetune-steps" not in shown and "--evaluate-subset" not in shown
    with pytest.raises(SystemExit):
        gst_tacotron2_slt.main(["--eval"])
    assert "write --evaluate in full" in capsys.readouterr().err
