"""What a model's own loss or state update must do under ``tf.distribute``: each replica sees
its part of the global batch, the strategy sums the replicas' gradients, and a variable a
replica assigns must get the same value on every replica."""

import tensorflow as tf


def replica_share(loss):
    """``loss`` (the mean over this replica's part of the batch) divided by the replicas in sync.

    The sum of the shares' gradients is the gradient of the global batch's mean, whatever the
    number of replicas: what Keras' compiled losses do, and what a model's own
    ``compute_loss`` or ``train_step`` must do too. One replica: ``loss``.
    """
    return loss / tf.distribute.get_strategy().num_replicas_in_sync


def replica_sum(value):
    """``value`` summed over the replicas in sync (itself with one replica)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def from_first_replica(value):
    """The first replica's ``value`` on every replica (for random draws that update shared state)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), value.dtype)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value * first)
