"""The models and data of the report's sections: section 1's architectures, built
through `larq_nobn.training.build_model`, and batches of real Fashion-MNIST."""

from __future__ import annotations

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn import data, training

import numpy as np

SHAPE, CLASSES = (28, 28, 1), 10
#: Display names of the two architectures of section 1.
LABELS = {"binarynet": "BinaryNet", "resnet18": "ReActNet-18"}


def build(model: str, width: float, norm: str, seed: int = 0, input_shape=SHAPE):
    """The zoo model of section 1 (`binarynet` or `resnet18` variant reactnet),
    freshly initialized with `seed`."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    extra = {"variant": "reactnet"} if model == "resnet18" else {}
    config = training.TrainConfig(model=model, norm=norm, width_multiplier=width, **extra)
    return training.build_model(config, input_shape, CLASSES)


def widths(plan) -> dict:
    """`{model: width}` of section 1 for the plan's models."""
    every = {"binarynet": plan.binarynet_width, "resnet18": plan.resnet_width}
    return {model: every[model] for model in plan.models}


def fashion_mnist(split: str, count: int, seed: int | None = None):
    """`count` normalized Fashion-MNIST images and labels as NumPy arrays (the first
    ones of `split`, or a shuffled draw when `seed` is given)."""
    dataset = data.load(
        "fashion_mnist",
        split,
        batch_size=count,
        training=seed is not None,
        augment=False,
        seed=seed,
    )
    x, y = next(iter(dataset))
    return np.asarray(x), np.asarray(y)
