"""Small private helpers."""

import tensorflow as tf


def broadcast_channel(vector, rank, axis, dtype=None):
    """A per-channel vector shaped to broadcast against a rank-`rank` tensor along
    `axis`, cast to `dtype`.

    For the last axis the vector stays 1-D: LCE fuses 1-D constants into a preceding
    binary convolution's output multiplier and bias, but rejects higher-rank ones.
    """
    if dtype is not None:
        vector = tf.cast(vector, dtype)
    if axis % rank == rank - 1:
        return vector
    shape = [1] * rank
    shape[axis] = -1
    return tf.reshape(vector, shape)


def leaf_layers(model):
    """The layers of `model`, the layers of nested models in place of the models."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer
