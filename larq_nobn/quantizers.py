"""Quantizers of the BN-free binary networks: the per-channel scaled weight sign and
RSign, the sign activation with a learned per-channel threshold."""

from larq_nobn._utils import broadcast_channel

import larq as lq
import tensorflow as tf

__all__ = ["ChannelScaledSign", "RSign"]


def _sign(x):
    """Sign with sign(0) = +1, the convention of larq and LCE."""
    return tf.where(x >= 0, tf.ones_like(x), -tf.ones_like(x))


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class ChannelScaledSign(lq.quantizers.Quantizer):
    r"""Sign of the weights times their mean magnitude per output channel (ReActNet).

    \\[
    q(w)_{\ldots o} = a_o \cdot \mathrm{sign}(w_{\ldots o}), \qquad
    a_o = \mathrm{mean}\,|w_{\ldots o}| \text{ (gradient stopped)}
    \\]

    The backward pass is the clipped straight-through estimator
    \\(\partial q / \partial w = 1_{|w| \le \text{clip\_value}}\\), **not** multiplied by
    \\(a_o\\). This is the difference to larq's `MagnitudeAwareSign`, whose gradient is
    scaled by the magnitude: after weight standardization \\(a_o\\) is about
    \\(\sqrt{2/\pi}/\sqrt{\text{fan\_in}}\\), and adaptive gradient clipping, which
    compares gradient and weight norms, would see gradients shrunk by that factor.

    With a constant kernel this is a \\(\pm a_o\\) kernel per output channel, which LCE
    converts into a binary convolution with the scale folded into its output multiplier.

    # Arguments
        channel_axes: The axes that index a channel, i.e. that are *not* averaged over.
            `(-1,)` for conv (HWIO) and dense (in, out) kernels; `(-2, -1)` for a depthwise
            kernel (kh, kw, in, multiplier).
        clip_value: Threshold of the straight-through estimator; `None` for no clipping.

    # Returns
        The scaled sign of the input, of the same shape.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?: Training Binary Neural Networks without Batch
          Normalization](https://arxiv.org/abs/2104.08215)
    """

    precision = 1

    def __init__(self, channel_axes=(-1,), clip_value=1.0, **kwargs):
        if isinstance(channel_axes, int):
            channel_axes = (channel_axes,)
        if not channel_axes or not all(isinstance(a, int) for a in channel_axes):
            raise ValueError(
                f"`channel_axes` must be a non-empty tuple of ints, got {channel_axes!r}."
            )
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"`clip_value` must be > 0 or None, got {clip_value!r}.")
        self.channel_axes = tuple(channel_axes)
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def call(self, inputs):
        rank = inputs.shape.rank
        keep = {a % rank for a in self.channel_axes}
        axes = [i for i in range(rank) if i not in keep]
        scale = tf.stop_gradient(tf.reduce_mean(tf.abs(inputs), axis=axes, keepdims=True))
        clip_value = self.clip_value

        @tf.custom_gradient
        def scaled_sign(x):
            def grad(dy):
                if clip_value is None:
                    return dy
                return tf.where(tf.abs(x) <= clip_value, dy, tf.zeros_like(dy))

            return scale * _sign(x), grad

        return scaled_sign(inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "channel_axes": list(self.channel_axes),
            "clip_value": self.clip_value,
        }


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class RSign(lq.quantizers.Quantizer):
    r"""ReActNet's sign activation with a learned per-channel threshold.

    \\[
    \mathrm{RSign}(x)_c = \mathrm{sign}(x_c + b_c)
    \\]

    with \\(b\\) learned per channel (initialized to 0) and Bi-Real Net's piecewise
    polynomial backward pass \\(2 - 2|x + b|\\) on \\(|x + b| \le 1\\) (larq's
    `approx_sign`). Use it as a larq `input_quantizer`, so that `larq.models.summary`
    shows a 1-bit input and LCE sees a sign feeding the binary convolution:

    ```python
    x = larq_nobn.ScaledWSQuantConv2D(
        256, 3, input_quantizer=larq_nobn.RSign(),
        kernel_quantizer=larq_nobn.ChannelScaledSign(), use_bias=False)(x)
    ```

    The threshold is a weight of this quantizer and therefore of the layer that owns
    it; it is saved and restored with that layer.

    # Arguments
        threshold_initializer: Initializer of the per-channel shift \\(b\\).
        threshold_regularizer: Optional regularizer of the shift (the BN-free paper
            applies its L2 weight decay to it in the first training step).
        axis: The channel axis.

    # Returns
        A tensor of +1 and -1 of the input's shape and dtype.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
        - [Bi-Real Net](https://arxiv.org/abs/1808.00278) for the backward pass.
    """

    precision = 1

    def __init__(
        self, threshold_initializer="zeros", threshold_regularizer=None, axis=-1, **kwargs
    ):
        super().__init__(**kwargs)
        self.threshold_initializer = tf.keras.initializers.get(threshold_initializer)
        self.threshold_regularizer = tf.keras.regularizers.get(threshold_regularizer)
        self.axis = axis

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"RSign needs a known channel axis, got {input_shape}.")
        self.threshold = self.add_weight(
            name="threshold",
            shape=(channels,),
            initializer=self.threshold_initializer,
            regularizer=self.threshold_regularizer,
        )
        super().build(input_shape)

    def call(self, inputs):
        threshold = broadcast_channel(
            self.threshold, inputs.shape.rank, self.axis, inputs.dtype
        )
        return lq.quantizers.approx_sign(inputs + threshold)

    def get_config(self):
        return {
            **super().get_config(),
            "threshold_initializer": tf.keras.initializers.serialize(
                self.threshold_initializer
            ),
            "threshold_regularizer": tf.keras.regularizers.serialize(
                self.threshold_regularizer
            ),
            "axis": self.axis,
        }
