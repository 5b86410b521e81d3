"""DistilledTacotron2 on tiny models: the loss it adds (also for a student of twice the teacher's r),
gradients into the student only, teachers it refuses, files that are a plain Tacotron 2's; (slow) a
frozen teacher through fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import tts_checks
from tfspeech.losses.attention_distillation import attention_distillation_loss
from tfspeech.models.distilled_tacotron2 import DISTILLATION_LOSS, OUTPUT_DISTILLATION_LOSS, DistilledTacotron2
from tfspeech.models.tacotron2 import Tacotron2

SIZES = dict(
    embedding_dim=12, encoder_filters=12, encoder_kernel_size=3, encoder_layers=2, encoder_dropout=0.0,
    encoder_rnn_units=6, attention_units=8, attention_options={"filters": 4, "kernel_size": 5},
    prenet_units=(16, 8), prenet_dropout=0.5, attention_rnn_units=16, decoder_rnn_units=16, decoder_dropout=0.0,
    postnet_filters=8, postnet_kernel_size=3, postnet_layers=2, postnet_dropout=0.0, mel_config={"n_mels": 6},
    reduction_factor=2, max_frames=8)
STUDENT = {**SIZES, "embedding_dim": 8, "attention_rnn_units": 8, "decoder_rnn_units": 8}


def _build(model_class, seed=0, **config):
    keras.utils.set_random_seed(seed)
    model = model_class(**config)
    model.build()
    return model


@pytest.fixture(scope="module")
def teacher():
    return _build(Tacotron2, seed=1, **SIZES)


def test_the_loss_is_tacotron2s_plus_the_weighted_cross_entropy_to_the_teacher(teacher):
    student = _build(DistilledTacotron2, teacher=teacher, distillation_weight=3.0, **STUDENT)
    plain = _build(Tacotron2, **STUDENT)
    plain.set_weights(student.get_weights())
    x, y = tts_checks.batch(student)
    y_pred = student(x, training=False)
    lengths = ([5, 7], [4, 4])  # real symbols of tts_checks.TEXT; steps of 7 and 8 frames at r = 2
    expected = float(plain.compute_loss(x, y, plain(x, training=False))) + 3.0 * float(
        attention_distillation_loss(y_pred["alignments"], teacher(x, training=False)["alignments"], *lengths))
    np.testing.assert_allclose(float(student.compute_loss(x, y, y_pred)), expected, rtol=1e-5)
    assert student.distilling and DISTILLATION_LOSS in student.loss_names()


def test_gradients_reach_the_student_only(teacher):
    student = _build(DistilledTacotron2, teacher=teacher, distillation_weight=100.0, **STUDENT)
    undistilled = _build(DistilledTacotron2, **STUDENT)
    undistilled.set_weights(student.get_weights())
    x, y = tts_checks.batch(student)
    gradients = {}
    for name, model in (("distilled", student), ("undistilled", undistilled)):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x, y, model(x, training=True))
        gradients[name] = tape.gradient(loss, model.trainable_variables + teacher.weights)
    teacher_gradients = gradients["distilled"][len(student.trainable_variables):]
    assert all(g is None for g in teacher_gradients)
    attention = [i for i, v in enumerate(student.trainable_variables) if "attention" in v.path]
    assert attention and all(
        np.abs(gradients["distilled"][i].numpy() - gradients["undistilled"][i].numpy()).max() > 1e-6
        for i in attention)


def test_output_distillation_adds_the_squared_error_to_the_teachers_mels_over_real_frames(teacher):
    student = _build(DistilledTacotron2, teacher=teacher, distillation_weight=0.0, output_distillation_weight=2.0,
                     **STUDENT)
    plain = _build(Tacotron2, **STUDENT)
    plain.set_weights(student.get_weights())
    x, y = tts_checks.batch(student)
    y_pred = student(x, training=False)
    taught = teacher(x, training=False)["mels"].numpy()
    squared = 0.0
    for key in ("decoder_mels", "mels"):
        errors = [np.square(y_pred[key].numpy()[i, :n] - taught[i, :n]) for i, n in enumerate(x["mel_lengths"])]
        squared += np.concatenate(errors).mean()
    expected = float(plain.compute_loss(x, y, plain(x, training=False))) + 2.0 * squared
    np.testing.assert_allclose(float(student.compute_loss(x, y, y_pred)), expected, rtol=1e-5)
    assert student.loss_names()[-1] == OUTPUT_DISTILLATION_LOSS and DISTILLATION_LOSS not in student.loss_names()


def test_output_distillation_gradients_reach_the_student_only(teacher):
    student = _build(DistilledTacotron2, teacher=teacher, distillation_weight=0.0, output_distillation_weight=1.0,
                     **STUDENT)
    x, y = tts_checks.batch(student)
    with tf.GradientTape() as tape:
        loss = student.compute_loss(x, y, student(x, training=True))
    gradients = tape.gradient(loss, student.trainable_variables + teacher.weights)
    assert all(g is None for g in gradients[len(student.trainable_variables):])
    assert all(g is not None for g in gradients[:len(student.trainable_variables)])


@pytest.mark.slow  # Keras traces the training step
def test_fit_trains_the_student_and_leaves_the_teacher_as_it_was(teacher):
    student = _build(DistilledTacotron2, teacher=teacher, **STUDENT)
    student.compile(**student.default_compile_args())
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    x, y = tts_checks.batch(student)
    history = student.fit(tf.data.Dataset.from_tensors((x, y)).repeat(2), epochs=1, verbose=0)
    assert np.isfinite(history.history[DISTILLATION_LOSS][0])
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(np.abs(b - a).max() > 0 for b, a in zip(student_before, student.get_weights()))


def test_the_teacher_does_not_change_the_initialization(teacher):
    with_teacher = _build(DistilledTacotron2, seed=5, teacher=teacher, **STUDENT)
    without = _build(DistilledTacotron2, seed=5, distillation_weight=0.0, **STUDENT)
    assert not without.distilling and DISTILLATION_LOSS not in without.loss_names()
    for a, b in zip(with_teacher.get_weights(), without.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_student_of_twice_the_teachers_reduction_factor_learns_the_mean_of_two_teacher_steps(teacher):
    student = _build(DistilledTacotron2, teacher=teacher, **{**STUDENT, "reduction_factor": 4})
    plain = _build(Tacotron2, **{**STUDENT, "reduction_factor": 4})
    plain.set_weights(student.get_weights())
    x, y = tts_checks.batch(student)
    y_pred = student(x, training=False)
    taught = teacher(x, training=False)["alignments"].numpy()  # 4 steps of r = 2
    target = (taught[:, 0::2] + taught[:, 1::2]) / 2  # 2 steps of r = 4
    expected = float(plain.compute_loss(x, y, plain(x, training=False))) + float(
        attention_distillation_loss(y_pred["alignments"], target, [5, 7], [2, 2]))
    np.testing.assert_allclose(float(student.compute_loss(x, y, y_pred)), expected, rtol=1e-5)


@pytest.mark.parametrize("change, named", [
    ({"reduction_factor": 1}, "reduction_factor"),
    ({"reduction_factor": 3}, "multiple of the teacher's"),
    ({"symbols": "phonemes"}, "symbols"),
    ({"mel_config": {"n_mels": 8}}, "mel_config"),
])
def test_a_teacher_on_other_steps_or_symbols_is_refused(teacher, change, named):
    with pytest.raises(ValueError, match=named):
        DistilledTacotron2(teacher=teacher, **{**STUDENT, **change})


def test_its_files_are_a_plain_tacotron2s(teacher, tmp_path):
    student = _build(DistilledTacotron2, teacher=teacher, **STUDENT)
    student.save_weights(tmp_path / "student.weights.h5")
    plain = _build(Tacotron2, seed=9, **STUDENT)
    plain.load_weights(tmp_path / "student.weights.h5")
    for a, b in zip(student.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    student.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert isinstance(loaded, DistilledTacotron2) and not loaded.distilling
    assert loaded.get_config() == student.get_config()
