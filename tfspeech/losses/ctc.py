"""Connectionist temporal classification loss (Graves et al. 2006) on padded batches.

Shapes: ``labels`` ``(batch, max_labels)`` int, padded with ``pad_id`` (0, the PAD symbol);
``logits`` ``(batch, frames, classes)`` float, unnormalized, batch-major, padded frames
past each ``logit_length``. The blank is the last class by default, as
``tf.nn.ctc_beam_search_decoder`` expects.
"""

from __future__ import annotations

import tensorflow as tf


def label_lengths(labels, pad_id: int = 0) -> tf.Tensor:
    """``(batch,)`` int32: labels before the padding (``pad_id`` entries are not labels)."""
    labels = tf.convert_to_tensor(labels)
    return tf.reduce_sum(tf.cast(tf.not_equal(labels, tf.cast(pad_id, labels.dtype)), tf.int32), axis=-1)


def required_frames(labels, label_length=None, pad_id: int = 0) -> tf.Tensor:
    """``(batch,)`` int32: the fewest logit frames that can emit each label sequence.

    One frame per label, plus one blank between each pair of equal neighbours
    ("ll" needs three frames: l, blank, l).
    """
    labels = tf.convert_to_tensor(labels)
    label_length = label_lengths(labels, pad_id) if label_length is None else tf.cast(label_length, tf.int32)
    positions = tf.range(tf.shape(labels)[-1])[tf.newaxis, :]
    valid = positions < label_length[:, tf.newaxis]
    repeats = tf.logical_and(tf.equal(labels[:, 1:], labels[:, :-1]), valid[:, 1:])
    return label_length + tf.reduce_sum(tf.cast(repeats, tf.int32), axis=-1)


def ctc_loss(
    labels,
    logits,
    label_length=None,
    logit_length=None,
    *,
    logit_mask=None,
    pad_id: int = 0,
    blank_index: int = -1,
) -> tf.Tensor:
    """``(batch,)`` float32: ``-log p(labels | logits)`` per utterance (``tf.nn.ctc_loss``).

    Args:
        labels: ``(batch, max_labels)`` int ids, padded with ``pad_id``.
        logits: ``(batch, frames, classes)`` unnormalized scores.
        label_length: ``(batch,)`` labels per utterance; default: the entries that
            are not ``pad_id``.
        logit_length: ``(batch,)`` valid frames per utterance; default: from
            ``logit_mask``, else every frame.
        logit_mask: ``(batch, frames)`` bool, True on valid frames (an alternative to
            ``logit_length``; valid frames must come first).
        pad_id: the padding id of ``labels``.
        blank_index: the blank class (negative counts from the end, as in ``tf.nn.ctc_loss``).

    Raises:
        tf.errors.InvalidArgumentError (``ValueError`` for static shapes): an utterance's
        labels need more frames than its logits have (see ``required_frames``).
    """
    logits = tf.convert_to_tensor(logits)
    labels = tf.cast(labels, tf.int32)
    if logits.shape.rank != 3 or labels.shape.rank != 2:
        raise ValueError(
            f"ctc_loss expects logits (batch, frames, classes) and labels (batch, max_labels); "
            f"got logits {logits.shape} and labels {labels.shape}"
        )
    label_length = label_lengths(labels, pad_id) if label_length is None else tf.cast(label_length, tf.int32)
    if logit_length is None:
        if logit_mask is not None:
            logit_length = tf.reduce_sum(tf.cast(logit_mask, tf.int32), axis=-1)
        else:
            logit_length = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])
    logit_length = tf.cast(logit_length, tf.int32)
    _check_fits(labels, label_length, logit_length, pad_id)
    return tf.nn.ctc_loss(
        labels=labels,
        logits=tf.cast(logits, tf.float32),
        label_length=label_length,
        logit_length=logit_length,
        logits_time_major=False,
        blank_index=blank_index,
    )


def _check_fits(labels, label_length, logit_length, pad_id) -> None:
    """Refuses utterances whose labels cannot be emitted in their frames (the loss would be inf)."""
    needed = required_frames(labels, label_length, pad_id)
    short = tf.where(needed > logit_length)[:, 0]
    message = (
        "CTC labels longer than the logits allow: these utterances (batch indices; frames "
        "needed; frames available) cannot be aligned. Drop them, or use a smaller time "
        "stride / longer audio"
    )
    if tf.executing_eagerly():
        if tf.size(short) > 0:
            rows = ", ".join(
                f"#{i}: {int(needed[i])} > {int(logit_length[i])}" for i in short.numpy().tolist()
            )
            raise ValueError(f"{message}: {rows}")
        return
    tf.debugging.Assert(
        tf.equal(tf.size(short), 0), [message, short, tf.gather(needed, short), tf.gather(logit_length, short)],
        summarize=20,
    )
