"""The ``--strategy`` option every gradient-trained recipe shares, and what a worker may write.

- ``default``: the current device; ``mirrored``: all local GPUs (else the CPU);
  ``multi-worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the machines that
  ``TF_CONFIG`` lists (the same command on every machine, each with its own ``task.index``).
- ``--batch-size`` stays the global batch: each of the N workers computes 1/N of it.
- Only the chief (worker 0) writes what is shared (the preset, ``model.keras``, progress files);
  every worker keeps its own backup (:func:`worker_path`), which its restart restores.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi-worker")


def add_strategy_option(parser: argparse.ArgumentParser) -> None:
    """Adds ``--strategy {default,mirrored,multi-worker}`` (default: ``default``)."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="tf.distribute strategy: default (one device), mirrored (local GPUs), multi-worker "
                             "(the machines in TF_CONFIG, the same command on each; --batch-size stays global)")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default`` (the current device), ``mirrored`` (all local GPUs, else the CPU) or ``multi-worker``."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi-worker needs TF_CONFIG (the cluster's workers and this one's "
                             "index) in the environment of every worker; see tf.distribute.MultiWorkerMirroredStrategy")
        _patch_keras_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes what the workers share (always, outside multi-worker)."""
    return bool(strategy.extended.should_checkpoint)


def worker_path(path, strategy: tf.distribute.Strategy) -> Path:
    """``path`` for the chief; ``<path>.worker-<index>`` for the other workers, so workers on one
    machine or a shared disk never write the same file."""
    path = Path(path)
    if is_chief(strategy):
        return path
    return path.with_name(f"{path.name}.worker-{strategy.cluster_resolver.task_id}")


def check_same_progress(strategy: tf.distribute.Strategy, done: int) -> None:
    """Raises unless every worker restored the same number of finished epochs: a kill that falls
    between two workers' saves of one checkpoint leaves them one checkpoint apart, and workers
    that resumed apart would wait for each other forever."""
    if strategy.num_replicas_in_sync == 1:
        return
    mine = strategy.experimental_distribute_values_from_function(lambda context: tf.constant([done]))
    everyone = sorted(set(strategy.gather(mine, axis=0).numpy().tolist()))
    if len(everyone) > 1:
        raise RuntimeError(f"the workers' checkpoints hold different numbers of finished epochs ({everyone}): a "
                           "worker died while the checkpoints were being written; copy the chief's checkpoint "
                           "to every worker (or the oldest one to all) and start them again")


def _patch_keras_for_multi_worker() -> None:
    """Two fixes to Keras 3.15's TensorFlow trainer, without which ``fit`` fails under
    MultiWorkerMirroredStrategy (keras-team/keras#20585), installed once:

    - it builds the model from ``strategy.reduce`` of the first (nested) batch, which the
      strategy refuses; this worker's own first batch has the same shapes and builds it;
    - it averages each step's logs over the workers with ``reduce(..., axis=0)``, which fails
      on scalars; a scalar log is averaged over the workers alone (``axis=None``).
    """
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "tfspeech_patch", False):
        return
    build, reduce_per_replica = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica

    def local_value(strategy, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def build_from_local_batch(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(lambda v: local_value(self._distribute_strategy, v), next(batches))
                break
        return build(self, data_batch=data_batch)

    def reduce_scalars_over_workers(values, strategy, reduction):
        def reduce(value):
            if (reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy)
                    and local_value(strategy, value).shape.rank == 0):
                return strategy.reduce("MEAN", value, axis=None)
            return reduce_per_replica(value, strategy, reduction)
        return tf.nest.map_structure(reduce, values)

    reduce_scalars_over_workers.tfspeech_patch = True
    trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    trainer.reduce_per_replica = reduce_scalars_over_workers
