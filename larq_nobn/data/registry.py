"""The datasets `load` knows: their names, descriptions (`DatasetInfo`) and pipeline
parameters (`DatasetSpec`)."""

from __future__ import annotations

import dataclasses

from larq_nobn.data.checks import check_image_size
from larq_nobn.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_ENV,
)
from larq_nobn.data.splits import SPLITS, check_split, num_validation
from larq_nobn.data.tiny_imagenet import TINY_IMAGENET_ENV

__all__ = ["DATASETS", "DatasetInfo", "DatasetSpec", "dataset_spec", "info"]

DATASETS = ("fashion_mnist", "cifar10", "cifar100", "imagenet2012", "tiny_imagenet")
"""The dataset names `load` and `info` accept."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset of `DATASETS` is.

    # Arguments
        name: The name `load` takes.
        num_classes: Number of classes; labels are in `[0, num_classes)`.
        image_shape: `(height, width, channels)` of the images `load` yields with the
            `image_size` given to `info` (default: the papers' size).
        num_train: Number of training examples (the whole official training set).
        num_test: Number of examples of the `"test"` split.
        splits: The split names `load` accepts.
        mean: Per-channel mean of the pixels scaled to `[0, 1]` (`normalize=True`).
        std: Per-channel standard deviation of the pixels scaled to `[0, 1]`.
        source: Where the data comes from.
        class_names: Names of the classes where they are fixed, else `None`.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    num_train: int
    num_test: int
    splits: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    class_names: tuple[str, ...] | None = None

    def num_examples(self, split: str, validation_split: float = 0.0) -> int:
        """The number of examples `load(name, split, validation_split=...)` yields for
        the standard dataset (a custom `tiny_imagenet` folder may hold fewer).

        # Arguments
            split: One of `splits`.
            validation_split: The fraction of the training set held out, as in `load`.

        # Returns
            The number of examples of that split.

        # Raises
            ValueError: Unknown split, or a bad `validation_split`.
        """
        split = check_split(split)
        held_out = num_validation(self.num_train, validation_split, split)
        if split == "test":
            return self.num_test
        if split == "validation":
            return held_out
        return self.num_train - held_out


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How `load` builds a dataset's pipeline.

    # Arguments
        info: The dataset's `DatasetInfo` (at its own image size).
        native_size: Side of the stored images; `None`: variable sizes (ImageNet).
        channels: Channels of the images.
        crop_padding: Zero padding of the random crop; 0: the ImageNet augmentation.
    """

    info: DatasetInfo
    native_size: int | None
    channels: int
    crop_padding: int


def _make_specs():
    def spec(info, crop_padding, variable_size=False):
        return DatasetSpec(
            info=info,
            native_size=None if variable_size else info.image_shape[0],
            channels=info.image_shape[2],
            crop_padding=crop_padding,
        )

    common = dict(splits=SPLITS)
    cifar = "tensorflow-datasets '{}' (data_dir, or download)"
    fashion = DatasetInfo(
        name="fashion_mnist", num_classes=10, image_shape=(28, 28, 1),
        num_train=60_000, num_test=10_000, mean=(0.2860,), std=(0.3530,),
        source=f"IDX files in {FASHION_MNIST_DIR} (Debian package "
        f"dataset-fashion-mnist), ${FASHION_MNIST_ENV} or data_dir; else "
        "tensorflow-datasets 'fashion_mnist'",
        class_names=FASHION_MNIST_CLASSES, **common,
    )  # fmt: skip
    cifar10 = DatasetInfo(
        name="cifar10", num_classes=10, image_shape=(32, 32, 3), num_train=50_000,
        num_test=10_000, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        source=cifar.format("cifar10"), **common,
    )  # fmt: skip
    cifar100 = DatasetInfo(
        name="cifar100", num_classes=100, image_shape=(32, 32, 3), num_train=50_000,
        num_test=10_000, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        source=cifar.format("cifar100"), **common,
    )  # fmt: skip
    imagenet = DatasetInfo(
        name="imagenet2012", num_classes=1000, image_shape=(224, 224, 3),
        num_train=1_281_167, num_test=50_000, mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        source="tensorflow-datasets 'imagenet2012' (data_dir, or prepared from the "
        "ILSVRC2012 archives in manual_dir); 'test' is the official validation set",
        **common,
    )  # fmt: skip
    tiny = DatasetInfo(
        name="tiny_imagenet", num_classes=200, image_shape=(64, 64, 3),
        num_train=100_000, num_test=10_000, mean=(0.4802, 0.4481, 0.3975),
        std=(0.2770, 0.2691, 0.2821),
        source=f"tiny-imagenet-200 folder at data_dir or ${TINY_IMAGENET_ENV}; 'test' "
        "is the official validation set",
        **common,
    )  # fmt: skip
    return {
        "fashion_mnist": spec(fashion, 4),
        "cifar10": spec(cifar10, 4),
        "cifar100": spec(cifar100, 4),
        "imagenet2012": spec(imagenet, 0, variable_size=True),
        "tiny_imagenet": spec(tiny, 4),
    }


_SPECS = _make_specs()


def dataset_spec(name: str) -> DatasetSpec:
    """The `DatasetSpec` of a dataset of `DATASETS`.

    # Raises
        ValueError: Unknown name.
    """
    if not isinstance(name, str) or name not in _SPECS:
        raise ValueError(f"Unknown dataset {name!r}; accepted: {', '.join(DATASETS)}.")
    return _SPECS[name]


def info(name: str, image_size: int | None = None) -> DatasetInfo:
    """Describes a dataset: classes, image shape, split sizes, normalization constants.

    # Arguments
        name: One of `DATASETS`.
        image_size: The `image_size` that will be given to `load`; `None`: the
            dataset's own (28, 32, 64, or 224 for ImageNet).

    # Returns
        A `DatasetInfo`.

    # Raises
        ValueError: Unknown name or bad `image_size`.
    """
    spec = dataset_spec(name)
    size = check_image_size(image_size)
    if size is None:
        return spec.info
    return dataclasses.replace(spec.info, image_shape=(size, size, spec.channels))
