"""VQVAE: shapes, serialization, which loss term trains which part, a training step, speaker
conditioning, export parity (SavedModel and TFLite builtins, identical code ids), bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export
from tfspeech.models.vqvae import VQVAE

SPEAKERS = ["alice", "bob", "carol"]
SMALL = dict(channels=16, code_dim=8, num_codes=16, encoder_dilations=[1], decoder_dilations=[1, 2], speaker_dim=4)


def small_model(**options):
    model = VQVAE(SPEAKERS, **{**SMALL, **options})
    model.build()
    return model


@pytest.fixture(scope="module")
def model():
    return small_model()


def inputs(batch=2, frames=37, seed=0):
    rng = np.random.default_rng(seed)
    return {"log_mel": rng.standard_normal((batch, frames, 80)).astype(np.float32) - 4.0,
            "speaker": np.arange(batch, dtype=np.int32) % len(SPEAKERS)}


def test_shapes_of_reconstruction_codes_and_decoding(model):
    x = inputs(frames=37)
    assert model(x).shape == (2, 37, 80)
    codes = model.encode(x["log_mel"])
    assert codes.shape == (2, 10) and codes.dtype == tf.int32 and model.num_code_frames(37) == 10
    assert model.decode(codes, [0, 1]).shape == (2, 40, 80)
    assert model.convert(x["log_mel"], [2, 2]).shape == (2, 37, 80)
    assert model.time_stride == 4


def test_forward_uses_the_nearest_codes(model):
    x = inputs()
    out = model._forward(x, training=False)
    np.testing.assert_array_equal(out["codes"].numpy(), model.encode(x["log_mel"]).numpy())
    np.testing.assert_allclose(model(x).numpy(), model.decode(out["codes"], x["speaker"])[:, :37].numpy(),
                               atol=1e-5)


def test_the_speaker_changes_the_decoding_but_not_the_codes(model):
    x = inputs(batch=1)
    codes = model.encode(x["log_mel"])
    as_alice, as_bob = model.decode(codes, [0]).numpy(), model.decode(codes, [1]).numpy()
    assert np.abs(as_alice - as_bob).max() > 1e-4
    np.testing.assert_array_equal(model.encode(model.convert(x["log_mel"], [1])).shape, codes.shape)


def test_config_round_trip_gives_equal_outputs(model):
    clone = VQVAE.from_config(model.get_config())
    clone.build()
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(inputs()).numpy(), model(inputs()).numpy(), atol=1e-6)
    assert clone.get_config() == model.get_config()


def test_keras_file_round_trip_gives_equal_outputs(model, tmp_path):
    path = tmp_path / "vqvae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(inputs()).numpy(), model(inputs()).numpy(), atol=1e-6)
    np.testing.assert_array_equal(loaded.encode(inputs()["log_mel"]), model.encode(inputs()["log_mel"]))
    assert loaded.get_config() == model.get_config()


def test_gradient_codebook_learns_only_from_its_term_and_the_encoder_only_from_the_others():
    model = small_model(ema_decay=None)
    codebook = model.quantizer.codebook
    encoder = [v for v in model.trainable_variables if "/encoder" in v.path]
    decoder = [v for v in model.trainable_variables if "/decoder" in v.path or "/speaker" in v.path]
    assert any(v is codebook for v in model.trainable_variables) and encoder and decoder
    with tf.GradientTape(persistent=True) as tape:
        out = model._forward(inputs(), training=False)
        reconstruction = tf.reduce_mean(tf.square(out["log_mel"] - out["reconstruction"]))
    assert tape.gradient(reconstruction, codebook) is None
    assert tape.gradient(out["commitment_loss"], codebook) is None
    assert all(g is None for g in tape.gradient(out["codebook_loss"], encoder + decoder))
    assert all(g is not None for g in tape.gradient(reconstruction, encoder + decoder))
    assert all(g is not None for g in tape.gradient(out["commitment_loss"], encoder))
    assert tape.gradient(out["codebook_loss"], codebook) is not None


def test_training_steps_lower_the_loss_and_move_the_ema_codebook():
    keras.utils.set_random_seed(0)
    model = small_model()
    assert not any(v is model.quantizer.codebook for v in model.trainable_variables)
    model.compile(**model.default_compile_args())
    x = inputs(batch=4, frames=32)
    before = float(model.loss_terms(x)["reconstruction"])
    codebook = model.quantizer.codebook.numpy()
    for _ in range(10):
        logs = model.train_step(x)  # what fit runs, eagerly (tracing it would cost more than the steps)
    after = {k: float(v) for k, v in model.loss_terms(x).items()}
    assert set(logs) == {"loss", "reconstruction", "codebook", "commitment", "perplexity"}
    assert after["reconstruction"] < before
    assert after["codebook"] == 0.0 and 1.0 <= after["perplexity"] <= 16.0
    assert not np.allclose(model.quantizer.codebook.numpy(), codebook)


def test_savedmodel_and_tflite_builtins_match_keras_with_identical_codes(model, tmp_path):
    saved = export.saved_model(model, tmp_path / "served")
    assert saved.passed and {o.signature for o in saved.outputs} == {"encode", "encode_log_mel", "decode"}

    report = export.tflite(model, tmp_path / "vqvae.tflite")
    print(report)
    assert report.passed and not report.flex_ops
    assert max(report.max_abs_error.values()) <= 1e-4
    from tfspeech.runtime.litert_runner import LiteRTRunner

    runner = LiteRTRunner(report.path)
    data = model.representative_data()
    for waveform in data["encode"]:
        codes = runner.run_signature("encode", waveform=waveform)["codes"]
        np.testing.assert_array_equal(codes, model.export_signatures()["encode"](waveform)["codes"].numpy())
    codes, speaker = data["decode"][0]
    log_mel = runner.run_signature("decode", codes=codes, speaker=speaker)["log_mel"]
    np.testing.assert_allclose(log_mel, model.decode(codes, speaker).numpy(), atol=1e-4)


def test_bad_input_is_refused_clearly(model):
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        model({"log_mel": np.zeros((1, 20, 64), np.float32), "speaker": np.zeros(1, np.int32)})
    with pytest.raises(ValueError, match="'log_mel'.*'speaker'"):
        model(np.zeros((1, 20, 80), np.float32))
    with pytest.raises(KeyError, match="unknown speaker 'dave'; this model knows 3: alice, bob, carol"):
        model.speaker_id("dave")
    with pytest.raises(ValueError, match="distinct"):
        VQVAE(["a", "a"])
