"""The option groups that `larq-nobn train` and `larq-nobn tune` share: the model, the
data and the length of a training run. Each adds an argument group to a parser whose
`argument_default` is `argparse.SUPPRESS`, so an option that is not given leaves no
attribute and the `TrainConfig` default (or the recipe's, or the resumed run's) wins.
"""

from __future__ import annotations

import argparse

from larq_nobn import training, zoo
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import dataset_names

__all__ = [
    "add_data_options",
    "add_length_options",
    "add_model_options",
    "config_fields",
]


def config_fields() -> set:
    """The names of the `TrainConfig` fields (the options that set them)."""
    return set(training.TrainConfig.__dataclass_fields__)


def add_model_options(parser: argparse.ArgumentParser):
    """`--model`, `--norm`, `--width-multiplier`, `--pad-values`, `--stride2-padding`,
    `--init`, `--variant`; returns the group."""
    group = parser.add_argument_group("model")
    deprecated = "; ".join(
        f"{spec.name} is deprecated (use {' or '.join(spec.replaced_by)})"
        for spec in zoo.REGISTRY.values()
        if spec.replaced_by
    )
    group.add_argument(
        "--model",
        choices=zoo.MODELS,
        help=f"default: {training.DEFAULT_MODEL}; {deprecated}",
    )
    group.add_argument(
        "--norm",
        choices=zoo.NORMS,
        help=(
            "bn: BatchNorm, abn: attention-based BN, bf: BN-free (ScaledWS + AGC), "
            f"none: BN deleted; default: {training.DEFAULT_NORM}"
        ),
    )
    group.add_argument(
        "--width-multiplier",
        type=argtypes.number,
        metavar="W",
        help=f"BinaryNet width (default {training.DEFAULT_BINARYNET_WIDTH}; 3 is the "
        "ABN paper's) or ResNet-18 width (default 1)",
    )
    group.add_argument(
        "--pad-values",
        type=float,
        choices=(0.0, 1.0),
        metavar="{0,1}",
        help="padding value of the binary convolutions: 1 (LCE's fast path, the "
        "zoo's default) or 0 (zero padding, as the papers' PyTorch code)",
    )
    group.add_argument(
        "--stride2-padding",
        choices=training.STRIDE2_PADDINGS,
        help="alignment of the stride-2 layers: symmetric (PyTorch's, the zoo's "
        "default) or tf_same (TensorFlow's 'same'); not for binarynet (no stride-2 "
        "layers)",
    )
    group.add_argument(
        "--init",
        choices=training.INITS,
        help="weight initialization: reference (the papers' code, the zoo's default) "
        "or keras (the layers' Keras initializers)",
    )
    group.add_argument(
        "--variant",
        choices=training.RESNET18_VARIANTS,
        help="deprecated, with the deprecated --model resnet18 only (default: "
        "reactnet): use --model reactnet18 or binary_resnet18",
    )
    return group


def add_data_options(parser: argparse.ArgumentParser):
    """`--dataset`, `--data-dir`, `--validation-split`, `--augment`, `--image-size`
    and the smoke-test limits `--max-train-samples`, `--max-test-samples`; returns the
    group."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        metavar="NAME",
        help=f"dataset ({dataset_names()}); default: {training.DEFAULT_DATASET}",
    )
    group.add_argument(
        "--data-dir", metavar="PATH", help="where the dataset files are"
    )
    group.add_argument(
        "--validation-split",
        type=argtypes.number,
        metavar="F",
        help="fraction of the training split held out for validation (default 0: "
        "validate on the test split, as the papers do)",
    )
    group.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="augment the training images with the data pipeline's augmentation for "
        "the dataset (random crop with padding + flip for small images); default: off, "
        "on in every --recipe",
    )
    group.add_argument(
        "--image-size",
        type=argtypes.positive_int,
        metavar="N",
        help="resize the images to N x N (default: the dataset's own size, 28 for "
        "Fashion-MNIST, 32 for CIFAR)",
    )
    group.add_argument(
        "--max-train-samples",
        type=argtypes.positive_int,
        metavar="N",
        help="train on N (shuffled) samples per epoch, rounded up to whole batches "
        "(smoke tests)",
    )
    group.add_argument(
        "--max-test-samples",
        type=argtypes.positive_int,
        metavar="N",
        help="evaluate on the first N test (and validation) samples only (smoke tests)",
    )
    return group


def add_length_options(group):
    """`--epochs`, `--batch-size` and `--seed`, added to `group` (a parser or an
    argument group)."""
    group.add_argument(
        "--epochs",
        type=argtypes.positive_int,
        help=f"default: {training.DEFAULT_EPOCHS}",
    )
    group.add_argument(
        "--batch-size",
        type=argtypes.positive_int,
        help=f"global batch size; default: {training.DEFAULT_BATCH_SIZE}",
    )
    group.add_argument(
        "--seed", type=argtypes.non_negative_int, help="random seed (default 0)"
    )
