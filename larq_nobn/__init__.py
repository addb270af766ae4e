"""larq-nobn: binary neural networks without batch normalization, or with a better one.

`import larq_nobn` makes sure TensorFlow runs with Keras 2 (`tf-keras`), which larq and
Larq Compute Engine need, and registers every layer, quantizer and optimizer of the
library with Keras, so `tf.keras.models.load_model` needs no `custom_objects`.
"""

from larq_nobn._keras2 import ensure_keras2

ensure_keras2()

from larq_nobn.export_layers import SignAffine, SignInterval  # noqa: E402
from larq_nobn.layers import (  # noqa: E402
    HardTanh,
    QuantConv2D,
    RPReLU,
    ScaledWSQuantConv2D,
    ScaledWSQuantDense,
    ScaledWSQuantDepthwiseConv2D,
)
from larq_nobn.normalization import ABN, replace_batch_norm  # noqa: E402
from larq_nobn.optimizers import AGC  # noqa: E402
from larq_nobn.quantizers import ChannelScaledSign, RSign  # noqa: E402

__version__ = "0.1.0"


def _register_plain_names():
    """Registered as `larq_nobn>Name` by their decorators; also as plain `Name`, as larq
    does, because larq deserializes quantizers nested in legacy (.h5) configs by their
    bare class name."""
    import tensorflow as tf

    objects = tf.keras.utils.get_custom_objects()
    for cls in (ABN, AGC, ChannelScaledSign, HardTanh, RPReLU, RSign, ScaledWSQuantConv2D,
                ScaledWSQuantDense, ScaledWSQuantDepthwiseConv2D, SignAffine, SignInterval):
        objects.setdefault(cls.__name__, cls)


_register_plain_names()

__all__ = [
    "ABN",
    "AGC",
    "ChannelScaledSign",
    "HardTanh",
    "QuantConv2D",
    "RPReLU",
    "RSign",
    "ScaledWSQuantConv2D",
    "ScaledWSQuantDense",
    "ScaledWSQuantDepthwiseConv2D",
    "replace_batch_norm",
]
