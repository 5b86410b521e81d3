"""A Tacotron 2 student that learns its attention from a frozen teacher's (attention distillation).

``fit`` runs the teacher teacher-forced (``training=False``) on each batch and adds
``distillation_weight ×`` the cross-entropy of the student's alignments to the teacher's
(``tfspeech.losses.attention_distillation``) to the student's own losses. Teacher and student
must read the same symbols (so text positions match) and the same mels. The student's reduction
factor must be a multiple ``k`` of the teacher's: student step ``s`` covers teacher steps
``k·s .. k·s + k - 1``, whose alignments are averaged into its target; other ratios are refused.

The teacher is held as a function, not a tracked layer: the student's weights, checkpoints
and ``.keras`` file are exactly a ``Tacotron2``'s of the same config, and a student loaded
from a file (no teacher) trains as a plain Tacotron 2.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfspeech.losses.attention_distillation import attention_distillation_loss
from tfspeech.losses.replicas import replica_share
from tfspeech.models.attention_tts import PAD_ID, AttentionTTS
from tfspeech.models.tacotron2 import Tacotron2

DISTILLATION_LOSS = "attention_distillation_loss"


@keras.saving.register_keras_serializable(package="tfspeech")
class DistilledTacotron2(Tacotron2):
    """Tacotron 2 with the attention-distillation loss in ``compute_loss``.

    Args:
        teacher: a built ``AttentionTTS`` (e.g. ``tfspeech.zoo.load("tacotron2-slt")``); never
            trained here and not saved with the student. None: no distillation.
        distillation_weight: weight of the distillation loss (0: off).
        **kwargs: ``Tacotron2``'s.
    """

    def __init__(self, teacher: AttentionTTS | None = None, distillation_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.distillation_weight = float(distillation_weight)
        self._teacher_alignments = None
        if teacher is not None and self.distillation_weight > 0:
            check_teacher(teacher, self)
            self._teacher_alignments = _frozen_alignments(teacher, self.reduction_factor // teacher.reduction_factor)
            self.loss_trackers[DISTILLATION_LOSS] = keras.metrics.Mean(name=DISTILLATION_LOSS)

    @property
    def distilling(self) -> bool:
        """Whether ``fit`` adds the distillation loss (a teacher and a positive weight)."""
        return self._teacher_alignments is not None

    def loss_names(self):
        distilling = getattr(self, "_teacher_alignments", None) is not None  # None while Tacotron2 initializes
        return super().loss_names() + ((DISTILLATION_LOSS,) if distilling else ())

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Tacotron 2's losses + ``distillation_weight`` × the cross-entropy to the teacher's alignments."""
        total = super().compute_loss(x, y, y_pred, sample_weight, training)
        if not self.distilling:
            return total
        r = self.reduction_factor
        step_lengths = (tf.cast(x["mel_lengths"], tf.int32) + r - 1) // r
        text_lengths = tf.reduce_sum(tf.cast(tf.not_equal(x["text"], PAD_ID), tf.int32), axis=1)
        loss = attention_distillation_loss(y_pred["alignments"], self._teacher_alignments(x), text_lengths,
                                           step_lengths)
        self.loss_trackers[DISTILLATION_LOSS].update_state(loss)
        return total + replica_share(self.distillation_weight * loss)

    def get_config(self):
        return {**super().get_config(), "distillation_weight": self.distillation_weight}


def check_teacher(teacher: AttentionTTS, student: AttentionTTS) -> None:
    """Raises ``ValueError`` unless ``teacher``'s alignments can be ``student``'s targets: same
    symbol set and ids, same mel config, the student's reduction factor a multiple of the teacher's."""
    mismatches = [
        f"{what}: teacher {mine!r}, student {theirs!r}" for what, mine, theirs in (
            ("symbols", teacher.symbols, student.symbols),
            ("vocab_size", teacher.vocab_size, student.vocab_size),
            ("mel_config", teacher.mel_config.to_dict(), student.mel_config.to_dict()))
        if mine != theirs]
    if student.reduction_factor % teacher.reduction_factor:
        mismatches.append(f"reduction_factor: teacher {teacher.reduction_factor!r}, student "
                          f"{student.reduction_factor!r} (the student's must be a multiple of the teacher's)")
    if mismatches:
        raise ValueError("the teacher's alignments cannot be the student's targets (text positions must be "
                         "the same, a student step whole teacher steps): " + "; ".join(mismatches))


def _frozen_alignments(teacher: AttentionTTS, steps_per_step: int):
    """inputs → the teacher's teacher-forced alignments on the student's decoder steps (batch,
    steps, text): the mean of each ``steps_per_step`` consecutive teacher steps; no gradient."""
    def alignments(inputs):
        teacher_inputs = {key: inputs[key] for key in ("text", "mels", "mel_lengths")}
        taught = tf.stop_gradient(teacher(teacher_inputs, training=False)["alignments"])
        shape = tf.shape(taught)
        return tf.reduce_mean(tf.reshape(taught, [shape[0], -1, steps_per_step, shape[2]]), axis=2)
    return alignments
