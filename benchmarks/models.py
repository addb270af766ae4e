"""The models and data of the report's sections: section 1's architectures, built
through `larq_nobn.training.build_model`, and batches of real Fashion-MNIST."""

from __future__ import annotations

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn import data, training

import numpy as np

SHAPE, CLASSES = (28, 28, 1), 10
#: Display names of the architectures of section 1.
LABELS = {"binarynet": "BinaryNet", "binary_resnet18": "ResNet-18 (ABN paper)",
          "reactnet18": "ReActNet-18"}


def build(model: str, width: float, norm: str, seed: int = 0, input_shape=SHAPE):
    """The zoo model of section 1 (`binarynet` or `reactnet18`),
    freshly initialized with `seed`."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    config = training.TrainConfig(model=model, norm=norm, width_multiplier=width)
    return training.build_model(config, input_shape, CLASSES)


def plain_larq_binarynet(width: float, input_shape, num_classes: int = CLASSES):
    """BinaryNet (bn) at the zoo's channel counts written with larq's own layers
    (`lq.layers.QuantConv2D` / `QuantDense`, Keras BN): the reference that the zoo's
    speed is measured against (section 4).

    The same function as `zoo.BinaryNet(norm="bn")`, layer for layer (weights in the
    same order; `tests/test_benchmarks_authors.py` copies them over and compares
    outputs): a float stem, binary 3x3 convs padded with 1.0 and max-pools after conv
    1, 3 and 5, the zoo's `SteSign(clip_value=None)` weights without a constraint and
    `ste_sign` inputs, BN with momentum 0.9 and epsilon 1e-5, a Hardtanh before the float
    classifier, whose BN has no affine parameters. Only the zoo's own choices differ:
    its binary dense layers are 1x1 convolutions over the flattened map (for LCE)
    with `larq_nobn.layers.QuantConv2D`'s matmul gradients, here plain `QuantDense`
    after a `Flatten`, and its Hardtanh is `larq_nobn.layers.HardTanh`, here a
    `Lambda`; initializers are Keras' defaults."""
    from larq_nobn.layers import no_weight_clip_warning
    from larq_nobn.zoo.binarynet import binarynet_channels

    import larq as lq
    import tensorflow as tf

    convs, dense = binarynet_channels(width)
    binary = dict(input_quantizer="ste_sign", use_bias=False,
                  kernel_quantizer=lq.quantizers.SteSign(clip_value=None))
    bn = dict(momentum=0.9, epsilon=1e-5)
    inputs = tf.keras.Input(input_shape)
    x = lq.layers.QuantConv2D(convs[0], 3, padding="same", use_bias=False)(inputs)
    x = tf.keras.layers.BatchNormalization(**bn)(x)
    with no_weight_clip_warning():  # larq's "starved weights" log, as the zoo
        for i, filters in enumerate(convs[1:], start=1):
            x = lq.layers.QuantConv2D(filters, 3, padding="same", pad_values=1.0,
                                      **binary)(x)
            if i % 2 == 1:
                x = tf.keras.layers.MaxPool2D(2)(x)
            x = tf.keras.layers.BatchNormalization(**bn)(x)
        x = tf.keras.layers.Flatten()(x)
        for units in dense:
            x = lq.layers.QuantDense(units, **binary)(x)
            x = tf.keras.layers.BatchNormalization(**bn)(x)
    x = tf.keras.layers.Lambda(lambda t: tf.clip_by_value(t, -1.0, 1.0))(x)
    x = lq.layers.QuantDense(num_classes, use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization(center=False, scale=False, **bn)(x)
    return tf.keras.Model(inputs, x, name="plain_larq_binarynet")


def widths(plan) -> dict:
    """`{model: width}` of section 1 for the plan's models."""
    return {model: plan.width(model) for model in plan.models}


def fashion_mnist(split: str, count: int, seed: int | None = None,
                  image_size: int | None = None):
    """`count` normalized Fashion-MNIST images and labels as NumPy arrays (the first
    ones of `split`, or a shuffled draw when `seed` is given), resized to `image_size`
    (`None`: 28)."""
    dataset = data.load(
        "fashion_mnist",
        split,
        batch_size=count,
        training=seed is not None,
        augment=False,
        seed=seed,
        image_size=image_size,
    )
    x, y = next(iter(dataset))
    return np.asarray(x), np.asarray(y)
