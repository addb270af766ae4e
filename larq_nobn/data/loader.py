"""`load`: one call from a dataset name and split to its `tf.data` pipeline."""

from __future__ import annotations

import os

from larq_nobn.data.checks import check_image_size, check_positive_int
from larq_nobn.data.errors import CorruptDatasetError, DatasetHelp
from larq_nobn.data.fashion_mnist import (
    FASHION_MNIST_HELP,
    fashion_mnist_arrays,
    fashion_mnist_dirs,
    fashion_mnist_folder,
)
from larq_nobn.data.normalize import check_normalize
from larq_nobn.data.pipelines import from_arrays, imagenet_pipeline, tiny_imagenet_pipeline
from larq_nobn.data.registry import dataset_spec
from larq_nobn.data.splits import check_split, num_validation, select_split
from larq_nobn.data.tfds_source import CIFAR_HELP, tfds_arrays, tfds_builder

import tensorflow as tf

__all__ = ["load"]


def _small_arrays(name, file_split, data_dir, download):
    """`(images, labels)` of a whole file split of fashion_mnist or CIFAR: Fashion-MNIST
    from its IDX files where there are any, else from tensorflow-datasets."""
    if name == "fashion_mnist":
        if fashion_mnist_folder(data_dir, file_split) is not None:
            return fashion_mnist_arrays(file_split, data_dir)
        searched = ", ".join(str(d) for d in fashion_mnist_dirs(data_dir))
        either = f"No Fashion-MNIST IDX files either (searched {searched})."
        help_text = DatasetHelp(*(f"{either} {text}" for text in FASHION_MNIST_HELP))
    else:
        help_text = CIFAR_HELP.format(name=name)
    builder = tfds_builder(name, data_dir, download, help_text=help_text)
    return tfds_arrays(builder, file_split)


def _in_memory_pipeline(
    spec, split, *, data_dir, download, validation_split, cache, size, mode, **batching
):
    """The pipeline of fashion_mnist and CIFAR: whole arrays through `from_arrays`
    (`cache` is moot: the arrays are in memory already)."""
    del cache
    name = spec.info.name
    images, labels = _small_arrays(name, "test" if split == "test" else "train", data_dir, download)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != spec.info.image_shape:
        raise CorruptDatasetError(
            f"{name}: expected images of shape {spec.info.image_shape}, found {images.shape[1:]}."
        )
    if split != "test":
        images, labels = select_split(images, labels, split, validation_split)
    return from_arrays(
        images,
        labels,
        crop_padding=spec.crop_padding,
        image_size=size,
        normalize=mode,
        mean=spec.info.mean,
        std=spec.info.std,
        **batching,
    )


def _check_sources(name, cache, manual_dir):
    """Checks `load`'s `cache` and `manual_dir`."""
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise ValueError(f"`cache` must be a bool or a file path, got {cache!r}.")
    if manual_dir is not None and name != "imagenet2012":
        raise ValueError(f"`manual_dir` is for imagenet2012 only, not {name!r}.")


def load(
    name: str,
    split: str,
    *,
    batch_size: int,
    training: bool,
    data_dir=None,
    image_size: int | None = None,
    validation_split: float = 0.0,
    augment: bool | None = None,
    cache: bool | str = True,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    drop_remainder: bool = False,
    normalize: bool | str = True,
    repeat: bool = False,
    download: bool = True,
    manual_dir=None,
) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of `(float32 images, int64 labels)`.

    See the module documentation for the datasets, splits, augmentations and
    normalizations.

    # Arguments
        name: One of `DATASETS`.
        split: `"train"`, `"validation"` (the last `validation_split` of the training
            set) or `"test"`.
        batch_size: Examples per batch.
        training: Shuffle and augment (evaluation: neither, deterministic order).
        data_dir: `fashion_mnist`: a folder with the IDX files (default
            `$LARQ_NOBN_FASHION_MNIST_DIR`, then `/usr/share/datasets/fashion-mnist`);
            without them it is also the tensorflow-datasets data_dir of the fallback.
            `cifar10`, `cifar100`, `imagenet2012`: the tensorflow-datasets data_dir
            (default `$TFDS_DATA_DIR` or `~/tensorflow_datasets`). `tiny_imagenet`: the
            `tiny-imagenet-200` folder or its parent (default
            `$LARQ_NOBN_TINY_IMAGENET_DIR`).
        image_size: Side of the square images yielded; `None`: the dataset's own (224
            for ImageNet). Small datasets are resized (bilinear) before augmentation.
        validation_split: Fraction of the training set held out as `"validation"` (and
            removed from `"train"`); 0: none.
        augment: Augment; `None`: same as `training`.
        cache: `True`: keep the decoded, not yet augmented examples in memory where
            they fit: `fashion_mnist` and CIFAR are loaded as arrays anyway,
            `tiny_imagenet` is decoded once and cached (about 1.2 GB for the training
            set), `imagenet2012` is not cached. A path: cache to that file prefix
            (`tiny_imagenet`, `imagenet2012`). `False`: no cache (`tiny_imagenet`
            decodes every epoch).
        shuffle_buffer: Shuffle buffer; `None`: a full shuffle for `fashion_mnist`,
            CIFAR and uncached `tiny_imagenet`, 10,000 examples otherwise.
        seed: Seed of shuffling and augmentation; same seed, same batches. `None`: not
            reproducible.
        drop_remainder: Drop the last, smaller batch (static batch dimension).
        normalize: `True`/`"standardize"` (per-dataset mean and std), `"symmetric"`
            (`[-1, 1]`), `"unit"` (`[0, 1]`) or `False`/`"none"` (`[0, 255]`).
        repeat: Repeat forever (each pass reshuffled and re-augmented).
        download: Let tensorflow-datasets download (or prepare from `manual_dir`) a
            dataset missing from its data_dir.
        manual_dir: `imagenet2012` only: the folder with the ILSVRC2012 archives.

    # Returns
        A `tf.data.Dataset` of `(images, labels)` batches: `float32` images
        `(batch, image_size, image_size, channels)`, `int64` labels `(batch,)`.

    # Raises
        ValueError: Unknown dataset, split or normalization, or a bad argument.
        DatasetNotFoundError: The data is missing (the message says how to get it).
        CorruptDatasetError: The data is malformed.
    """
    spec = dataset_spec(name)
    split = check_split(split)
    batch_size = check_positive_int(batch_size, "batch_size")
    shuffle_buffer = check_positive_int(shuffle_buffer, "shuffle_buffer", True)
    size = check_image_size(image_size) or spec.info.image_shape[0]
    mode = check_normalize(normalize)
    num_validation(spec.info.num_train, validation_split, split)  # Checks the value.
    _check_sources(name, cache, manual_dir)
    common = dict(
        validation_split=validation_split,
        batch_size=batch_size,
        training=training,
        augment=training if augment is None else bool(augment),
        cache=cache,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        drop_remainder=drop_remainder,
        repeat=repeat,
        size=size,
        mode=mode,
    )
    if name == "tiny_imagenet":
        return tiny_imagenet_pipeline(spec, split, data_dir=data_dir, **common)
    if name == "imagenet2012":
        return imagenet_pipeline(
            spec, split, data_dir=data_dir, manual_dir=manual_dir, download=download, **common
        )
    return _in_memory_pipeline(spec, split, data_dir=data_dir, download=download, **common)
