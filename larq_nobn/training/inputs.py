"""The input data of a run, loaded through `larq_nobn.data`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from larq_nobn import data
from larq_nobn.training.config import TrainConfig

import numpy as np
import tensorflow as tf

__all__ = [
    "Data",
    "epoch_dataset",
    "epoch_seed",
    "first_samples",
    "load_data",
    "shard_by_data",
]


class Data(NamedTuple):
    """The datasets of a run: batched `tf.data.Dataset`s of `(image, label)`.

    # Arguments
        train: The training batches (a new order on each iteration, where the
            pipeline shuffles).
        validation: The validation batches, or `None`.
        test: The test batches.
        input_shape: Shape of one image.
        num_classes: Number of classes.
        steps_per_epoch: Batches per epoch of `train`.
        train_epoch: `train_epoch(epoch)`, the training batches of one epoch, in an
            order that depends on the epoch (and the run's seed) only, so that a
            resumed run can skip the batches trained before an interruption. `None`:
            every epoch iterates `train` (whose order must then not depend on how
            often it was iterated before, for an exact resume).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    input_shape: tuple
    num_classes: int
    steps_per_epoch: int
    train_epoch: Callable[[int], tf.data.Dataset] | None = None


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of the training data of `epoch` in a run with `seed`: distinct per
    epoch, the same in every process."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def epoch_dataset(data: Data, epoch: int, skip: int = 0) -> tf.data.Dataset:
    """The training batches of `epoch` without its first `skip` batches (the ones a
    resumed run trained before its interruption).

    # Raises
        ValueError: `skip` is not less than `data.steps_per_epoch`.
    """
    if not 0 <= skip < data.steps_per_epoch:
        raise ValueError(
            f"Cannot skip {skip!r} of the {data.steps_per_epoch} batches of an epoch."
        )
    dataset = data.train if data.train_epoch is None else data.train_epoch(epoch)
    return dataset.skip(skip) if skip else dataset


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` split by element over the workers of a multi-worker run
    (`AutoShardPolicy.DATA`; no effect without one): every worker runs the whole
    pipeline, with the run's seed, and keeps its replicas' share of each global batch.
    The workers thus train on exactly the batches of a single-worker run, whatever
    files the data comes from (`FILE` sharding would give each worker other files and
    another order)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def limit_batches(dataset, count, batch_size):
    """The first `ceil(count / batch_size)` batches. Taking whole batches keeps the
    dataset's cardinality known: with an unknown one, tf-keras counts one optimizer
    iteration too many per epoch (the call that finds the end of the data)."""
    if count is None:
        return dataset
    return dataset.take(math.ceil(count / batch_size))


def first_samples(dataset, count, batch_size):
    """Exactly the first `count` samples (evaluation data, whose cardinality does not
    matter)."""
    if count is None:
        return dataset
    return dataset.unbatch().take(count).batch(batch_size)


def load_data(config: TrainConfig) -> Data:
    """Loads the datasets of a config through `larq_nobn.data`: the training split
    (shuffled with `config.seed` and augmented; `train_epoch(e)` shuffles and augments
    epoch `e` with `epoch_seed(config.seed, e)`), the validation split (the last
    `validation_split` of the training set, or `None`) and the test split.

    `image_size` resizes every split's images (`None`: the dataset's own size).
    `max_train_samples` limits every epoch to that many (shuffled) training samples,
    rounded up to whole batches; `max_test_samples` the test (and validation) split to
    its first samples.

    # Raises
        ValueError: Unknown dataset.
        FileNotFoundError: The data is not available (the message says how to get it).
    """
    info = data.info(config.dataset, config.image_size)
    common = dict(
        batch_size=config.batch_size,
        data_dir=config.data_dir,
        validation_split=config.validation_split,
        image_size=config.image_size,
    )

    def train_split(seed):
        dataset = data.load(
            config.dataset,
            "train",
            training=True,
            seed=seed,
            augment=config.augment,
            **common,
        )
        return limit_batches(dataset, config.max_train_samples, config.batch_size)

    train_data = train_split(config.seed)
    test_data = data.load(config.dataset, "test", training=False, **common)
    validation = None
    if config.validation_split > 0:
        validation = data.load(config.dataset, "validation", training=False, **common)
    num_train = info.num_examples("train", config.validation_split)
    steps = math.ceil(num_train / config.batch_size)
    cardinality = int(train_data.cardinality())
    if cardinality > 0:
        steps = cardinality
    if config.max_test_samples is not None:
        test_data = first_samples(
            test_data, config.max_test_samples, config.batch_size
        )
        if validation is not None:
            validation = first_samples(
                validation, config.max_test_samples, config.batch_size
            )
    return Data(
        train=train_data,
        validation=validation,
        test=test_data,
        input_shape=tuple(info.image_shape),
        num_classes=int(info.num_classes),
        steps_per_epoch=max(1, steps),
        train_epoch=lambda epoch: train_split(epoch_seed(config.seed, epoch)),
    )


