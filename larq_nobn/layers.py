"""Scaled-weight-standardized (ScaledWS) quantized layers, larq's `QuantConv2D` with
fast 1x1 gradients, and RPReLU."""

import contextlib
import logging
import math

from larq_nobn._utils import broadcast_channel
from larq_nobn.optimizers import set_unit_axes

import larq as lq
import tensorflow as tf

__all__ = [
    "HardTanh",
    "QuantConv2D",
    "RPReLU",
    "ScaledWSQuantConv2D",
    "ScaledWSQuantDense",
    "ScaledWSQuantDepthwiseConv2D",
]


class StandardizedKernel:
    r"""The kernel transform of a ScaledWS layer: standardize, quantize, scale by gain.

    \\[
    \hat{W} = \frac{W - \mathrm{mean}(W)}{\mathrm{std}(W) + \epsilon}
              \cdot \frac{1}{\sqrt{\text{fan\_in}}}, \qquad
    W_{\text{used}} = q(\hat{W}) \cdot \text{gain}
    \\]

    Mean and biased standard deviation are taken per output channel (over every axis
    but `channel_axes`), in float32. `q` is the layer's kernel quantizer, or the identity
    when there is none. The object is what larq's `QuantizedVariable` calls when the
    kernel is read, so `layer.kernel` inside the layer returns the kernel actually used,
    and its `precision` is that of `q` (1 for a binary quantizer), which is what
    `larq.models.summary`, `Bop` and `CaseOptimizer` look at.
    """

    def __init__(self, layer, quantizer, channel_axes):
        self.layer = layer
        self.quantizer = quantizer
        self.channel_axes = channel_axes
        self.precision = getattr(quantizer, "precision", None) or 32

    def __call__(self, kernel):
        rank = kernel.shape.rank
        keep = {a % rank for a in self.channel_axes}
        axes = [i for i in range(rank) if i not in keep]
        fan_in = math.prod(kernel.shape[i] for i in axes)
        w = tf.cast(kernel, tf.float32)
        mean, variance = tf.nn.moments(w, axes, keepdims=True)
        # 1e-12 keeps the gradient of the square root finite for a constant channel.
        std = tf.sqrt(variance + 1e-12)
        w_hat = (w - mean) / ((std + self.layer.ws_epsilon) * math.sqrt(fan_in))
        if self.quantizer is not None:
            w_hat = tf.cast(self.quantizer(w_hat), tf.float32)
        gain = tf.reshape(self.layer.gain, [kernel.shape[i] for i in sorted(keep)])
        return tf.cast(w_hat * tf.cast(gain, tf.float32), kernel.dtype)


@contextlib.contextmanager
def no_weight_clip_warning():
    """larq warns about binary kernels without `kernel_constraint`; with standardized
    kernels the latent weights' scale is irrelevant, so the warning does not apply."""
    logger = logging.getLogger("larq.layers_base")
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


class _ScaledWSMixin:
    """Adds the trainable per-output `gain` and the standardized kernel to a larq layer.

    Subclasses set `_kernel_name` (the larq weight it transforms), `_quantizer_attr` (the
    attribute holding the user's quantizer), `_channel_axes` and `_gain_size`.
    """

    _kernel_name = "kernel"
    _quantizer_attr = "kernel_quantizer"
    _channel_axes = (-1,)

    def __init__(
        self,
        *args,
        ws_epsilon=1e-5,
        gain_initializer="ones",
        gain_regularizer=None,
        gain_constraint=None,
        **kwargs,
    ):
        if not ws_epsilon > 0:
            raise ValueError(f"`ws_epsilon` must be > 0, got {ws_epsilon!r}.")
        self.ws_epsilon = float(ws_epsilon)
        self.gain_initializer = tf.keras.initializers.get(gain_initializer)
        self.gain_regularizer = tf.keras.regularizers.get(gain_regularizer)
        self.gain_constraint = tf.keras.constraints.get(gain_constraint)
        with no_weight_clip_warning():
            super().__init__(*args, **kwargs)

    def _get_quantizer(self, name):
        if name != self._kernel_name:
            return super()._get_quantizer(name)
        return StandardizedKernel(
            self, getattr(self, self._quantizer_attr), self._channel_axes
        )

    def build(self, input_shape):
        super().build(input_shape)
        kernel = getattr(self, self._kernel_name)
        rank = kernel.shape.rank
        keep = sorted(a % rank for a in self._channel_axes)
        self.gain = self.add_weight(
            name="gain",
            shape=(math.prod(kernel.shape[i] for i in keep),),
            initializer=self.gain_initializer,
            regularizer=self.gain_regularizer,
            constraint=self.gain_constraint,
            trainable=True,
        )
        # Each output channel's gain is its own AGC unit, as with the reference's gain
        # of shape (out, 1, 1, 1) (BNN_NoBN layers.py): AGC clips it element-wise.
        set_unit_axes(self.gain, ())

    def get_config(self):
        return {
            **super().get_config(),
            "ws_epsilon": self.ws_epsilon,
            "gain_initializer": tf.keras.initializers.serialize(self.gain_initializer),
            "gain_regularizer": tf.keras.regularizers.serialize(self.gain_regularizer),
            "gain_constraint": tf.keras.constraints.serialize(self.gain_constraint),
        }


def pointwise_conv2d(inputs, kernel):
    """`tf.nn.conv2d(inputs, kernel, 1, "VALID")` for a 1x1 `kernel`, with its gradients
    computed as matrix products.

    The forward pass is the convolution itself, so that converters see a `Conv2D` (LCE
    turns a binary one into `LceBconv2d`). The gradients are the same values as
    TensorFlow's, but TensorFlow's CPU `Conv2DBackpropFilter` is slow for a 1x1 kernel
    over a small feature map with many channels (such as a dense layer written as a 1x1
    convolution over a 1x1 map), where the equivalent matrix product is not.

    # Arguments
        inputs: NHWC tensor.
        kernel: `(1, 1, in, out)` tensor (or variable, read in the current scope).

    # Returns
        The NHWC convolution output.
    """
    kernel = tf.convert_to_tensor(kernel)

    @tf.custom_gradient
    def conv(x, k):
        def grad(dy):
            channels_in, channels_out = k.shape[-2], k.shape[-1]
            dy_2d = tf.reshape(dy, (-1, channels_out))
            k_2d = tf.reshape(k, (channels_in, channels_out))
            dx = tf.matmul(dy_2d, k_2d, transpose_b=True)
            dk = tf.matmul(tf.reshape(x, (-1, channels_in)), dy_2d, transpose_a=True)
            return tf.reshape(dx, tf.shape(x)), tf.reshape(dk, tf.shape(k))

        return tf.nn.conv2d(x, k, 1, "VALID"), grad

    return conv(inputs, kernel)


class _PointwiseMatmulGradient:
    """Makes a Keras convolution with a 1x1 kernel, stride 1, no dilation, one group and
    channels-last data use `pointwise_conv2d`; other convolutions are unchanged."""

    def convolution_op(self, inputs, kernel):
        if (
            tuple(self.kernel_size) == (1, 1)
            and tuple(self.strides) == (1, 1)
            and tuple(self.dilation_rate) == (1, 1)
            and self.groups == 1
            and self.data_format == "channels_last"
        ):
            return pointwise_conv2d(inputs, kernel)
        return super().convolution_op(inputs, kernel)


#: What `QuantConv2D(symmetric_padding=True, pad_values=1.0)` pads its input with
#: before the input quantizer: far above any learned sign threshold.
_POSITIVE_PAD = 1e30


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class QuantConv2D(_PointwiseMatmulGradient, lq.layers.QuantConv2D):
    """`larq.layers.QuantConv2D` whose 1x1 convolutions take matmul gradients.

    Same arguments, weights, outputs, gradients and LCE conversion as larq's layer; only
    the backward pass of a 1x1, stride-1 convolution is computed as matrix products
    (`pointwise_conv2d`), because TensorFlow's CPU kernel for it is slow. The zoo uses it
    for every binary convolution, including the binary dense layers that it writes as
    1x1 convolutions over a 1x1 map so that LCE runs them as binary convolutions (the
    case `pointwise_conv2d` speeds up most). The zoo's measured step times are in
    BENCHMARKS.md.

    `symmetric_padding=True` (with `padding="same"`) aligns as PyTorch's
    `padding=(k - 1) // 2`: `(k - 1) // 2` rows and columns of `pad_values` before the
    input, the rest of "same"'s after it. At stride 1 this is "same"; at stride 2 on
    an even input TensorFlow's "same" pads only after (bottom / right), so the
    sampling grid shifts by one. `pad_values=0.0` pads the quantized input (after the
    sign); `pad_values=1.0` pads the input before its sign quantizer with a large
    positive value, which the sign maps to +1 (so LCE still converts the layer to a
    binary convolution, with "valid" padding).

    Registered as `larq_nobn>QuantConv2D` (a `.keras` file loads it back as this class;
    a legacy `.h5` config, which names classes without their package, loads larq's
    `QuantConv2D`, which computes the same function).

    larq warns about a binary kernel without `kernel_constraint` ("starved weights":
    the clipped straight-through gradient is zero beyond |w| = 1). With an identity
    straight-through gradient (`SteSign(clip_value=None)`, the weights of the ABN
    reference code) the gradient is never zero, so the warning is left out.
    """

    def __init__(
        self, *args, kernel_quantizer=None, symmetric_padding=False, **kwargs
    ):
        kernel_quantizer = lq.quantizers.get(kernel_quantizer)
        identity_gradient = (
            getattr(kernel_quantizer, "precision", None) == 1
            and hasattr(kernel_quantizer, "clip_value")
            and kernel_quantizer.clip_value is None
        )
        quiet = no_weight_clip_warning() if identity_gradient else contextlib.nullcontext()
        with quiet:
            super().__init__(*args, kernel_quantizer=kernel_quantizer, **kwargs)
        if not isinstance(symmetric_padding, bool):
            raise ValueError(
                f"`symmetric_padding` must be True or False, got {symmetric_padding!r}."
            )
        self.symmetric_padding = symmetric_padding
        if symmetric_padding and self.padding == "same":
            self._is_native_padding = False  # explicit `tf.pad`, even with 0.0

    def _get_spatial_padding_same(self, shape):
        pads = super()._get_spatial_padding_same(shape)
        if not self.symmetric_padding:
            return pads
        # PyTorch's `padding=d * (k - 1) // 2`: that many rows / columns before; after,
        # what the output size of "same" needs (at stride 2 one fewer for even inputs).
        return [
            (d * (k - 1) // 2, before + after - d * (k - 1) // 2)
            for (before, after), k, d in zip(pads, self.kernel_size, self.dilation_rate)
        ]

    def call(self, inputs):
        if not (
            self.symmetric_padding
            and self.padding == "same"
            and self.input_quantizer is not None
            and not tf.is_tensor(self.pad_values)
            and self.pad_values == 1.0
        ):
            return super().call(inputs)
        # +1 after the sign, padded before it with a value every sign maps to +1 (and
        # whose straight-through gradient is zero): LCE then sees a sign feeding a
        # "valid" convolution and converts it to a binary one, which a padding after
        # the sign would keep in float.
        inputs = tf.pad(
            inputs, self._get_padding_same(inputs), constant_values=_POSITIVE_PAD
        )
        with lq.utils.patch_object(self, "padding", "valid"), lq.utils.patch_object(
            self, "_is_native_padding", True
        ):
            return super().call(inputs)

    def get_config(self):
        return {**super().get_config(), "symmetric_padding": self.symmetric_padding}


_WS_DOC = r"""

    The latent kernel is standardized per output channel before the kernel quantizer
    (scaled weight standardization, NFNets / "BNN - BN = ?"):

    \\[
    W_{\text{used}} = q\left(\frac{W - \mathrm{mean}_o(W)}
        {(\mathrm{std}_o(W) + \epsilon_{ws})\sqrt{\text{fan\_in}}}\right)
        \cdot \text{gain}_o
    \\]

    with the mean and the biased standard deviation over every kernel axis but the
    output one (AXES), `fan_in` the number of weights averaged over, and a trainable
    per-output `gain` (weight `gain`, shape `(out,)`, initialized to ones; each element
    is its own `larq_nobn.AGC` unit, like the `(out, 1, 1, 1)` gain of the reference's
    `ScaledStdConv2d`, VITA-Group/BNN_NoBN layers.py). With
    `kernel_quantizer=None` and `input_quantizer=None` this is a full-precision ScaledWS
    layer as in NFNets; with `kernel_quantizer=larq_nobn.ChannelScaledSign()` and a sign
    `input_quantizer` it is the BN-free paper's binary layer. The standardization and the
    gain are computed from the latent weights on every read, so the saved weights are
    the latent `kernel` and `gain`; `layer.kernel` inside the layer is the kernel used.
    LCE folds the standardization of a constant kernel into a constant, and a binary
    kernel becomes a binary convolution with the per-channel factors in its output
    multiplier.

    # Arguments
        ws_epsilon: Added to the standard deviation, 1e-5 as in "BNN - BN = ?".
        gain_initializer: Initializer of `gain`.
        gain_regularizer: Optional regularizer of `gain`.
        gain_constraint: Optional constraint of `gain`.
        **kwargs: Every argument of the larq layer BASE.

    # Raises
        ValueError: for `ws_epsilon <= 0`.

    # References
        - [Brock et al. Characterizing signal propagation to close the performance gap
          in unnormalized ResNets](https://arxiv.org/abs/2101.08692)
        - [BNN - BN = ?: Training Binary Neural Networks without Batch
          Normalization](https://arxiv.org/abs/2104.08215)
"""


def _ws_doc(axes, base):
    return _WS_DOC.replace("AXES", axes).replace("BASE", base)


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class ScaledWSQuantConv2D(_ScaledWSMixin, QuantConv2D):
    __doc__ = "2D convolution with a scaled-weight-standardized, quantized kernel." + (
        _ws_doc("kh, kw, in", "`larq.layers.QuantConv2D`")
        + "    Its 1x1 convolutions take matmul gradients, like `larq_nobn.QuantConv2D`.\n"
    )

    def __init__(self, *args, use_bias=False, **kwargs):
        super().__init__(*args, use_bias=use_bias, **kwargs)


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class ScaledWSQuantDense(_ScaledWSMixin, lq.layers.QuantDense):
    __doc__ = "Dense layer with a scaled-weight-standardized, quantized kernel." + (
        _ws_doc("in", "`larq.layers.QuantDense`")
    )


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class ScaledWSQuantDepthwiseConv2D(_ScaledWSMixin, lq.layers.QuantDepthwiseConv2D):
    __doc__ = (
        "Depthwise 2D convolution with a scaled-weight-standardized, quantized kernel."
        + _ws_doc(
            "kh, kw; one unit per input channel and multiplier, so `gain` has "
            "`in * depth_multiplier` entries and a `ChannelScaledSign` quantizer needs "
            "`channel_axes=(-2, -1)`",
            "`larq.layers.QuantDepthwiseConv2D`",
        )
    )
    _kernel_name = "depthwise_kernel"
    _quantizer_attr = "depthwise_quantizer"
    _channel_axes = (-2, -1)

    def __init__(self, *args, use_bias=False, **kwargs):
        super().__init__(*args, use_bias=use_bias, **kwargs)


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class RPReLU(tf.keras.layers.Layer):
    r"""ReActNet's RPReLU: a PReLU with learned input and output shifts per channel.

    \\[
    y_c = \begin{cases} x_c - \gamma_c + \zeta_c & x_c > \gamma_c \\
          \beta_c (x_c - \gamma_c) + \zeta_c & \text{otherwise} \end{cases}
    \\]

    # Arguments
        slope_initializer: Initializer of the negative slope \\(\beta\\) (0.25).
        shift_initializer: Initializer of both shifts \\(\gamma\\), \\(\zeta\\) (zeros).
        shift_regularizer: Optional regularizer of both shifts.
        axis: The channel axis.

    # Returns
        A tensor of the input's shape.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
    """

    def __init__(
        self,
        slope_initializer=None,
        shift_initializer="zeros",
        shift_regularizer=None,
        axis=-1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if slope_initializer is None:  # ReActNet's PReLU slope
            slope_initializer = tf.keras.initializers.Constant(0.25)
        self.slope_initializer = tf.keras.initializers.get(slope_initializer)
        self.shift_initializer = tf.keras.initializers.get(shift_initializer)
        self.shift_regularizer = tf.keras.regularizers.get(shift_regularizer)
        self.axis = axis

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[self.axis]
        if channels is None:
            raise ValueError(f"RPReLU needs a known channel axis, got {input_shape}.")
        weight = dict(shape=(channels,), regularizer=self.shift_regularizer)
        self.input_shift = self.add_weight(
            name="input_shift", initializer=self.shift_initializer, **weight
        )
        self.slope = self.add_weight(
            name="slope", shape=(channels,), initializer=self.slope_initializer
        )
        self.output_shift = self.add_weight(
            name="output_shift", initializer=self.shift_initializer, **weight
        )
        super().build(input_shape)

    def call(self, inputs):
        def channel(v):
            return broadcast_channel(v, inputs.shape.rank, self.axis, inputs.dtype)

        x = inputs - channel(self.input_shift)
        x = tf.where(x > 0, x, x * channel(self.slope))
        return x + channel(self.output_shift)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "slope_initializer": tf.keras.initializers.serialize(self.slope_initializer),
            "shift_initializer": tf.keras.initializers.serialize(self.shift_initializer),
            "shift_regularizer": tf.keras.regularizers.serialize(self.shift_regularizer),
            "axis": self.axis,
        }


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class HardTanh(tf.keras.layers.Layer):
    r"""PyTorch's `Hardtanh`: clips its input to `[min_value, max_value]`.

    The activation of BinaryNet.pytorch (and so of the ABN paper's models): followed by a
    sign with an identity straight-through gradient it gives the clipped STE. Its
    gradient is 1 inside the interval and 0 outside.

    # Arguments
        min_value: Lower bound (-1).
        max_value: Upper bound (1).

    # Raises
        ValueError: if `min_value >= max_value`.
    """

    def __init__(self, min_value=-1.0, max_value=1.0, **kwargs):
        super().__init__(**kwargs)
        if not float(min_value) < float(max_value):
            raise ValueError(
                f"`min_value` must be < `max_value`, got {min_value!r} and {max_value!r}."
            )
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def call(self, inputs):
        return tf.clip_by_value(inputs, self.min_value, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "min_value": self.min_value,
            "max_value": self.max_value,
        }
