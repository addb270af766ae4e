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
