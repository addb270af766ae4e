"""What the zoo's residual networks (ReActNet-A and the two ResNet-18s) share beyond
the blocks of `larq_nobn.blocks`: their dense classifier head, the regex of its
variables that adaptive gradient clipping leaves alone, and the CIFAR settings of the
two ResNet-18s. Only the zoo uses them, so they live here."""

from larq_nobn.blocks import CLASSIFIER_NAME
from larq_nobn.checks import check_num_classes

import tensorflow as tf

__all__ = [
    "CIFAR_AGC_CLIP_FACTOR",
    "CIFAR_INPUT_SHAPE",
    "CLASSIFIER_REGEX",
    "classifier",
]

#: Regex matching the variable names of the dense `classifier` (`classifier/kernel:0`,
#: `classifier/bias:0`, also under an outer name scope or with Keras' `_1` suffix) and
#: nothing else: the `AGC_EXCLUDE` of ReActNet-A and of the two ResNet-18s, whose
#: classifier is a plain `Dense`. (BinaryNet's `AGC_EXCLUDE` is its own: its `"bf"`
#: classifier is a ScaledWS dense layer on an RSign input, and AGC leaves its gain and
#: threshold alone too.)
CLASSIFIER_REGEX = r"(^|/)" + CLASSIFIER_NAME + r"(_\d+)?/(kernel|bias)(:\d+)?$"

#: The `input_shape` of the ResNet-18s without `input_shape` and `input_tensor`.
CIFAR_INPUT_SHAPE = (32, 32, 3)

#: Adaptive gradient clipping factor of the ResNet-18s' `bf` variants. The BN-free
#: paper uses 0.02 in its ImageNet scripts (batch 256) and 0.04 as its `train.py`
#: default. These CIFAR-sized models train with smaller batches (128-256), and NFNets'
#: guidance is that smaller batches tolerate (and need) a larger factor, so 0.04.
CIFAR_AGC_CLIP_FACTOR = 0.04


def classifier(x, num_classes, *, pool=True):
    """Global average pool and the full-precision dense classifier (layer
    `larq_nobn.blocks.CLASSIFIER_NAME`).

    A plain `Dense` with bias in every variant: the BN-free paper (like NFNets) keeps an
    ordinary linear classifier, which adaptive gradient clipping excludes.

    # Arguments
        x: Input tensor: NHWC feature maps, or features when `pool=False`.
        num_classes: Number of logits.
        pool: Apply `GlobalAveragePooling2D` (layer `avg_pool`) first.

    # Returns
        The logits.

    # Raises
        ValueError: for a `num_classes` that is not a positive integer.
    """
    check_num_classes(num_classes)
    if pool:
        x = tf.keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return tf.keras.layers.Dense(num_classes, name=CLASSIFIER_NAME)(x)
