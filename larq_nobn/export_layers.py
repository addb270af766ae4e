"""The Keras layers of an LCE export model (`larq_nobn.deploy.export`): per-channel
constants that replace a normalization layer in front of binarizing signs.

Registered with Keras as `larq_nobn>SignAffine` and `larq_nobn>SignInterval` when
`larq_nobn` is imported, so saved export models load without `custom_objects`. This
module lives outside `larq_nobn.deploy` so that `import larq_nobn` registers the two
layers without loading the deploy package.
"""

from larq_nobn._utils import broadcast_channel

import numpy as np
import tensorflow as tf

__all__ = ["ChannelConstants", "SignAffine", "SignInterval"]


class ChannelConstants(tf.keras.layers.Layer):
    """Base of the export layers: per-channel float32 constants kept in the config."""

    _constants = ()

    def __init__(self, axis=-1, **kwargs):
        values = {name: kwargs.pop(name) for name in self._constants}
        super().__init__(**kwargs)
        self.axis = axis
        for name, value in values.items():
            setattr(self, name, [float(v) for v in np.asarray(value).ravel()])

    def channel(self, name, rank):
        vector = tf.constant(np.asarray(getattr(self, name), np.float32))
        return broadcast_channel(vector, rank, self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {**super().get_config(), "axis": self.axis}
        config.update({name: list(getattr(self, name)) for name in self._constants})
        return config


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class SignAffine(ChannelConstants):
    """`x * scale + offset` per channel: the export form of a normalization whose sign
    is a threshold or a constant in every channel. LCE folds it into the output
    multiplier and bias of a preceding binary convolution (bitpacked output where a
    sign follows).

    # Arguments
        scale, offset: Per-channel sequences of floats.
        axis: The channel axis.
    """

    _constants = ("scale", "offset")

    def call(self, inputs):
        rank = inputs.shape.rank
        return inputs * self.channel("scale", rank) + self.channel("offset", rank)


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class SignInterval(ChannelConstants):
    """`flip * max(lo - x, x - hi)` per channel: negative exactly inside `(lo, hi)`
    (outside `[lo, hi]` where `flip = -1`), with exact signs for float32 inputs.
    Where every `hi` is 0 the subtraction `x - hi` is left out (the export moves it
    into the bias of the convolution before).

    # Arguments
        lo, hi: Per-channel sequences of floats (may be infinite).
        flip: Per-channel +1.0 / -1.0.
        axis: The channel axis.
    """

    _constants = ("lo", "hi", "flip")

    def call(self, inputs):
        rank = inputs.shape.rank
        upper = inputs if not any(self.hi) else inputs - self.channel("hi", rank)
        y = tf.maximum(self.channel("lo", rank) - inputs, upper)
        if any(f < 0 for f in self.flip):
            y = y * self.channel("flip", rank)
        return y
