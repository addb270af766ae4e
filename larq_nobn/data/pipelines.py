"""The `tf.data` pipelines: in-memory arrays, Tiny ImageNet's files, ImageNet's tfds
records.

Every pipeline yields batches `(float32 images, int64 labels)`. With a `seed`, every
random draw (shuffling, crops, flips, lighting) is stateless and tied to the position
in the stream: the same arguments give the same batches, epoch after epoch, however
parallel the mapping is.
"""

from __future__ import annotations

import functools
import os

from larq_nobn.data.augment import (
    lighting,
    random_crop_and_flip,
    random_resized_crop,
    resize_and_center_crop,
)
from larq_nobn.data.checks import check_image_size, check_positive_int
from larq_nobn.data.normalize import check_normalize, normalize_images
from larq_nobn.data.splits import num_validation, select_split
from larq_nobn.data.tfds_source import (
    IMAGENET_HELP,
    import_tfds,
    tfds_builder,
    tfds_num_train,
)
from larq_nobn.data.tiny_imagenet import tiny_imagenet_files

import numpy as np
import tensorflow as tf

__all__ = ["from_arrays", "tiny_imagenet_pipeline", "imagenet_pipeline"]

_DEFAULT_SHUFFLE_BUFFER = 10_000


def _no_autograph(function):
    """Map functions here need no AutoGraph (their `if`s test Python values); skipping
    its source transformation makes building a pipeline seconds faster."""
    return tf.autograph.experimental.do_not_convert(function)


def _seeds(seed):
    """An endless dataset of stateless seeds `(2,)`, redrawn on each iteration."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def _with_options(dataset, shard_by_data):
    options = tf.data.Options()
    options.deterministic = True
    if shard_by_data:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
    return dataset.with_options(options)


def _finish_batches(dataset, *, augment, padding, seed, size, mode, mean, std, resize):
    """Batches of `(uint8 images, labels)` -> augmented, normalized, prefetched."""

    def process(images, labels, seed_pair=None):
        if resize:
            images = tf.image.resize(images, [size, size], method="bilinear", antialias=True)
        if seed_pair is not None:  # on float32 pixels: the same values, and no oneDNN
            # notice about uint8 transposes ("supports DT_UINT8 only on ... AVX-512")
            images = random_crop_and_flip(tf.cast(images, tf.float32), seed_pair,
                                          padding=padding)
        images = normalize_images(images, mode, mean, std)
        images = tf.ensure_shape(images, [None, size, size, None])
        return images, labels

    if augment:
        dataset = tf.data.Dataset.zip((dataset, _seeds(seed)))
        dataset = dataset.map(
            _no_autograph(lambda batch, s: process(*batch, s)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        dataset = dataset.map(_no_autograph(process), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def from_arrays(
    images,
    labels,
    *,
    batch_size: int,
    training: bool,
    augment: bool | None = None,
    crop_padding: int = 4,
    image_size: int | None = None,
    normalize="standardize",
    mean=None,
    std=None,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """The pipeline of the in-memory datasets, for any arrays of small images.

    Shuffles indices (not images: a full shuffle costs nothing), gathers a batch,
    augments the whole batch at once (`random_crop_and_flip`), normalizes, prefetches.

    # Arguments
        images: `uint8` array `(n, height, width, channels)`, pixels in `[0, 255]`.
        labels: Integer array `(n,)`.
        batch_size: Examples per batch.
        training: Shuffle (and augment, unless `augment=False`).
        augment: Random crop + flip; `None`: same as `training`.
        crop_padding: Zero padding of the random crop (0: flip only).
        image_size: Resize the images to this side first; `None`: keep.
        normalize: See `normalize_images` (`True` = "standardize", `False` = "none").
        mean: Per-channel mean for "standardize".
        std: Per-channel standard deviation for "standardize".
        shuffle_buffer: Shuffle buffer of indices; `None`: all `n` (a full shuffle).
        seed: Seed of the shuffle and augmentation; `None`: not reproducible.
        drop_remainder: Drop the last, smaller batch.
        repeat: Repeat forever (reshuffled each pass).

    # Returns
        A `tf.data.Dataset` of `(float32 images, int64 labels)` batches.

    # Raises
        ValueError: Bad shapes or arguments.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"Expected images (n, height, width, channels) and labels (n,), "
            f"got shapes {images.shape} and {labels.shape}."
        )
    if images.shape[0] == 0:
        raise ValueError("No examples: the arrays are empty.")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"Expected square images, got {images.shape[1:3]}.")
    batch_size = check_positive_int(batch_size, "batch_size")
    shuffle_buffer = check_positive_int(shuffle_buffer, "shuffle_buffer", True)
    size = check_image_size(image_size) or images.shape[1]
    mode = check_normalize(normalize)
    augment = training if augment is None else bool(augment)
    count = images.shape[0]
    image_tensor = tf.constant(images)
    label_tensor = tf.constant(labels.astype(np.int64))

    indices = tf.data.Dataset.range(count)
    if training:
        indices = indices.shuffle(
            min(shuffle_buffer or count, count),
            seed=seed,
            reshuffle_each_iteration=True,
        )
    if repeat:
        indices = indices.repeat()
    indices = indices.batch(batch_size, drop_remainder=drop_remainder)
    dataset = indices.map(
        _no_autograph(lambda i: (tf.gather(image_tensor, i), tf.gather(label_tensor, i))),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = _finish_batches(
        dataset,
        augment=augment,
        padding=crop_padding,
        seed=seed,
        size=size,
        mode=mode,
        mean=mean,
        std=std,
        resize=size != images.shape[1],
    )
    return _with_options(dataset, shard_by_data=True)


def _decode_files(path, label, channels, native_size):
    """Decodes one image file of a known size (JPEG, PNG, ...)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    return tf.ensure_shape(image, [native_size, native_size, channels]), label


def _shuffle(dataset, buffer_size, seed):
    """Shuffles with `seed`, reshuffling on each iteration (each epoch)."""
    return dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)


def tiny_imagenet_pipeline(
    spec,
    split,
    *,
    data_dir,
    validation_split,
    batch_size,
    training,
    augment,
    cache,
    shuffle_buffer,
    seed,
    drop_remainder,
    repeat,
    size,
    mode,
):
    """Tiny ImageNet's pipeline: its image files decoded, cached, augmented per batch.

    # Arguments
        spec: The dataset's `DatasetSpec`.
        split: A checked split name.
        data_dir: The `tiny-imagenet-200` folder or its parent.
        validation_split, batch_size, training, augment, cache, shuffle_buffer, seed,
            drop_remainder, repeat: `load`'s arguments, checked.
        size: The side of the images yielded.
        mode: The normalization mode (see `normalize_images`).

    # Returns
        The `tf.data.Dataset` of `(float32 images, int64 labels)` batches.
    """
    paths, labels, _ = tiny_imagenet_files("test" if split == "test" else "train", data_dir)
    if split != "test":
        paths, labels = select_split(paths, labels, split, validation_split)
    count = len(paths)
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    decode = _no_autograph(
        functools.partial(_decode_files, channels=spec.channels, native_size=spec.native_size)
    )
    if cache:
        dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.cache(cache if isinstance(cache, (str, os.PathLike)) else "")
        if training:
            buffer = min(shuffle_buffer or _DEFAULT_SHUFFLE_BUFFER, count)
            dataset = _shuffle(dataset, buffer, seed)
    else:
        if training:  # Shuffling file names is cheap: shuffle them all.
            dataset = _shuffle(dataset, min(shuffle_buffer or count, count), seed)
        dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = _finish_batches(
        dataset,
        augment=augment,
        padding=spec.crop_padding,
        seed=seed,
        size=size,
        mode=mode,
        mean=spec.info.mean,
        std=spec.info.std,
        resize=size != spec.native_size,
    )
    return _with_options(dataset, shard_by_data=True)


def _imagenet_split(builder, num_train, split, validation_split):
    """The tfds split string of a split of `load`."""
    if split == "test":
        return "validation"  # The official validation set is the papers' test set.
    total = tfds_num_train(builder, num_train)
    cut = total - num_validation(total, validation_split, split)
    if split == "validation":
        return f"train[{cut}:]"
    return f"train[:{cut}]" if cut < total else "train"


def _imagenet_train_transform(encoded, label, seed_pair, size):
    """Random resized crop decoded from the JPEG, flip and lighting noise at the scale
    of VITA-Group/BNN_NoBN (dataset.py `Lighting`: the `[0, 1]` offset added to uint8
    pixels and truncated; see `lighting`)."""
    crop_seed, flip_seed, light_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed_pair, num=3)
    )
    image = random_resized_crop(encoded, crop_seed, size)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    image = lighting(image, light_seed, 0.1, pixel_range=1.0, truncate=True)
    return image, label


def _imagenet_eval_transform(encoded, label, size):
    """Decode, resize the shorter side, crop the center."""
    image = tf.io.decode_jpeg(encoded, channels=3)
    return resize_and_center_crop(image, size), label


def imagenet_pipeline(
    spec,
    split,
    *,
    data_dir,
    manual_dir,
    download,
    validation_split,
    batch_size,
    training,
    augment,
    cache,
    shuffle_buffer,
    seed,
    drop_remainder,
    repeat,
    size,
    mode,
):
    """ImageNet's pipeline: tfds records, JPEGs decoded and augmented per image.

    # Arguments
        spec: The dataset's `DatasetSpec`.
        split: A checked split name.
        data_dir: The tensorflow-datasets data_dir.
        manual_dir: The folder of the ILSVRC2012 archives.
        download: Let tensorflow-datasets prepare the data from `manual_dir`.
        validation_split, batch_size, training, augment, cache, shuffle_buffer, seed,
            drop_remainder, repeat: `load`'s arguments, checked.
        size: The side of the images yielded.
        mode: The normalization mode (see `normalize_images`).

    # Returns
        The `tf.data.Dataset` of `(float32 images, int64 labels)` batches.

    # Raises
        DatasetNotFoundError: ImageNet is not prepared and cannot be.
    """
    builder = tfds_builder("imagenet2012", data_dir, download, manual_dir, IMAGENET_HELP)
    tfds = import_tfds()
    dataset = builder.as_dataset(
        split=_imagenet_split(builder, spec.info.num_train, split, validation_split),
        as_supervised=True,
        shuffle_files=training,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )
    if isinstance(cache, (str, os.PathLike)):  # In memory it would not fit.
        dataset = dataset.cache(os.fspath(cache))
    if training:
        dataset = _shuffle(dataset, shuffle_buffer or _DEFAULT_SHUFFLE_BUFFER, seed)
    if repeat:
        dataset = dataset.repeat()
    if augment:
        transform = functools.partial(_imagenet_train_transform, size=size)
        dataset = tf.data.Dataset.zip((dataset, _seeds(seed)))
        dataset = dataset.map(
            _no_autograph(lambda example, s: transform(*example, s)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        transform = functools.partial(_imagenet_eval_transform, size=size)
        dataset = dataset.map(_no_autograph(transform), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def finish(images, labels):
        images = normalize_images(images, mode, spec.info.mean, spec.info.std)
        return tf.ensure_shape(images, [None, size, size, 3]), labels

    dataset = dataset.map(_no_autograph(finish), num_parallel_calls=tf.data.AUTOTUNE)
    return _with_options(dataset.prefetch(tf.data.AUTOTUNE), shard_by_data=False)
