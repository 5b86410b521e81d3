"""Input checks shared by the probabilistic modules."""

import tensorflow as tf


def require(condition, message: str) -> None:
    """``ValueError(message)`` unless all of ``condition``; an assert op when tracing a ``tf.function``."""
    condition = tf.reduce_all(condition)
    if tf.executing_eagerly():
        if not bool(condition):
            raise ValueError(message)
    else:
        tf.debugging.Assert(condition, [message])
