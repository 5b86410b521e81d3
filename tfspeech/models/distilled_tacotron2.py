"""A Tacotron 2 student that learns its attention from a frozen teacher's (attention distillation).

``fit`` runs the teacher teacher-forced (``training=False``) on each batch and adds
``distillation_weight ×`` the cross-entropy of the student's alignments to the teacher's
(``tfspeech.losses.attention_distillation``) to the student's own losses, and, with
``output_distillation_weight`` > 0, that weight × the squared error of the student's mels (before
and after its postnet, like its own mel losses) to the teacher's teacher-forced mels: smoother
targets than the recordings, which a small model can follow more closely. Teacher and student
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
from tfspeech.models.attention_tts import PAD_ID, AttentionTTS, sequence_mask
from tfspeech.models.tacotron2 import Tacotron2

DISTILLATION_LOSS = "attention_distillation_loss"
OUTPUT_DISTILLATION_LOSS = "output_distillation_loss"


@keras.saving.register_keras_serializable(package="tfspeech")
class DistilledTacotron2(Tacotron2):
    """Tacotron 2 with the distillation losses in ``compute_loss``.

    Args:
        teacher: a built ``AttentionTTS`` (e.g. ``tfspeech.zoo.load("tacotron2-slt")``); never
            trained here and not saved with the student. None: no distillation.
        distillation_weight: weight of the attention-distillation loss (0: off).
        output_distillation_weight: weight of the squared error to the teacher's mels (0: off).
        **kwargs: ``Tacotron2``'s.
    """

    def __init__(self, teacher: AttentionTTS | None = None, distillation_weight: float = 1.0,
                 output_distillation_weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.distillation_weight = float(distillation_weight)
        self.output_distillation_weight = float(output_distillation_weight)
        self._teacher_outputs = None
        if teacher is not None and (self.distillation_weight > 0 or self.output_distillation_weight > 0):
            check_teacher(teacher, self)
            self._teacher_outputs = _frozen_outputs(teacher, self.reduction_factor // teacher.reduction_factor)
            for name in self._distillation_losses():
                self.loss_trackers[name] = keras.metrics.Mean(name=name)

    @property
    def distilling(self) -> bool:
        """Whether ``fit`` adds a distillation loss (a teacher and a positive weight)."""
        return self._teacher_outputs is not None

    def _distillation_losses(self) -> tuple[str, ...]:
        if getattr(self, "_teacher_outputs", None) is None:  # None also while Tacotron2 initializes
            return ()
        return tuple(name for name, weight in ((DISTILLATION_LOSS, self.distillation_weight),
                                               (OUTPUT_DISTILLATION_LOSS, self.output_distillation_weight))
                     if weight > 0)

    def loss_names(self):
        return super().loss_names() + self._distillation_losses()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Tacotron 2's losses + each distillation loss × its weight."""
        total = super().compute_loss(x, y, y_pred, sample_weight, training)
        if not self.distilling:
            return total
        taught = self._teacher_outputs(x)
        mel_lengths = tf.cast(x["mel_lengths"], tf.int32)
        losses = {}
        if self.distillation_weight > 0:
            r = self.reduction_factor
            text_lengths = tf.reduce_sum(tf.cast(tf.not_equal(x["text"], PAD_ID), tf.int32), axis=1)
            losses[DISTILLATION_LOSS] = attention_distillation_loss(
                y_pred["alignments"], taught["alignments"], text_lengths, (mel_lengths + r - 1) // r)
        if self.output_distillation_weight > 0:
            frame_mask = sequence_mask(mel_lengths, tf.shape(y_pred["mels"])[1], tf.float32)
            losses[OUTPUT_DISTILLATION_LOSS] = tf.add_n(list(
                self.spectrogram_losses({"mels": taught["mels"]}, y_pred, frame_mask).values()))
        weights = {DISTILLATION_LOSS: self.distillation_weight, OUTPUT_DISTILLATION_LOSS: self.output_distillation_weight}
        for name, loss in losses.items():
            self.loss_trackers[name].update_state(loss)
            total += replica_share(weights[name] * loss)
        return total

    def get_config(self):
        return {**super().get_config(), "distillation_weight": self.distillation_weight,
                "output_distillation_weight": self.output_distillation_weight}


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


def _frozen_outputs(teacher: AttentionTTS, steps_per_step: int):
    """inputs → the teacher's teacher-forced ``{"alignments": (batch, steps, text) on the student's
    decoder steps (the mean of each ``steps_per_step`` consecutive teacher steps), "mels": (batch,
    frames, n_mels) after its postnet}``; no gradient."""
    def outputs(inputs):
        teacher_inputs = {key: inputs[key] for key in ("text", "mels", "mel_lengths")}
        taught = teacher(teacher_inputs, training=False)
        alignments = tf.stop_gradient(taught["alignments"])
        shape = tf.shape(alignments)
        return {"alignments": tf.reduce_mean(tf.reshape(alignments, [shape[0], -1, steps_per_step, shape[2]]), axis=2),
                "mels": tf.stop_gradient(taught["mels"])}
    return outputs
