"""SpeakerClassifier: shapes, serialization, learning to tell voices apart, export parity, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export
from tfspeech.models.speaker_classifier import SpeakerClassifier

SPEAKERS = ["low", "mid", "high"]


@pytest.fixture(scope="module")
def model():
    model = SpeakerClassifier(SPEAKERS, channels=8, hidden=8, conv_layers=2)
    model.build()
    return model


def voices(per_speaker=8, frames=40, seed=0):
    """Log-mel-like frames whose energy sits in a speaker-specific band, plus noise; labels."""
    rng = np.random.default_rng(seed)
    mels, labels = [], []
    for label in range(len(SPEAKERS)):
        for _ in range(per_speaker):
            mel = rng.standard_normal((frames, 80)).astype(np.float32) - 5.0
            mel[:, 10 + 20 * label: 25 + 20 * label] += 4.0
            mels.append(mel)
            labels.append(label)
    return np.stack(mels), np.array(labels, np.int32)


def test_logits_shape_and_names(model):
    mels, _ = voices(per_speaker=1, frames=33)
    assert model(mels).shape == (3, 3)
    assert set(model.predict_speakers(mels)) <= set(SPEAKERS)


def test_config_round_trip_gives_equal_outputs(model):
    clone = SpeakerClassifier.from_config(model.get_config())
    clone.build()
    clone.set_weights(model.get_weights())
    mels, _ = voices(per_speaker=1)
    np.testing.assert_allclose(clone(mels).numpy(), model(mels).numpy(), atol=1e-6)


def test_keras_file_round_trip_gives_equal_outputs(model, tmp_path):
    model.save(tmp_path / "speakers.keras")
    loaded = keras.saving.load_model(tmp_path / "speakers.keras")
    mels, _ = voices(per_speaker=1)
    np.testing.assert_allclose(loaded(mels).numpy(), model(mels).numpy(), atol=1e-6)
    assert loaded.get_config() == model.get_config()


def test_training_learns_to_tell_the_voices_apart():
    keras.utils.set_random_seed(0)  # reached 1.0 for each of seeds 0-7
    model = SpeakerClassifier(SPEAKERS, channels=16, hidden=16, conv_layers=2, dropout=0.0)
    model.build()
    model.compile(**model.default_compile_args())
    mels, labels = voices()
    before = model.evaluate(mels, labels, verbose=0, return_dict=True)
    model.fit(mels, labels, epochs=25, batch_size=8, verbose=0)
    held_out, held_out_labels = voices(per_speaker=4, seed=1)
    after = model.evaluate(held_out, held_out_labels, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    assert after["accuracy"] == 1.0


def test_savedmodel_and_tflite_builtins_match_keras(model, tmp_path):
    assert export.saved_model(model, tmp_path / "served").passed
    report = export.tflite(model, tmp_path / "speakers.tflite")
    print(report)
    assert report.passed and not report.flex_ops
    assert {o.signature for o in report.outputs} == {"classify", "classify_log_mel"}
    from tfspeech.runtime.litert_runner import LiteRTRunner

    mels, _ = voices(per_speaker=1)
    out = LiteRTRunner(report.path).run_signature("classify_log_mel", log_mel=mels)
    np.testing.assert_array_equal(out["speaker"], np.argmax(model(mels).numpy(), axis=-1))


def test_bad_input_is_refused_clearly(model):
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        model(tf.zeros((1, 20, 40)))
    with pytest.raises(ValueError, match="at least two distinct"):
        SpeakerClassifier(["only"])
