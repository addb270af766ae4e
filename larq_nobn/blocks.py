"""Building blocks of the zoo's networks: norm selection, the variance bookkeeping of
BN-free residual networks, the binary convolution of each variant and the residual
blocks of ReActNet-A (`reactnet_block`), Bi-Real Net / ReActNet-18 (`bireal_block`) and
BinaryNet.pytorch's CIFAR ResNet (`binarynet_basic_block`).

Every zoo model takes `norm` in `NORMS`:

- `"bn"`: the published architecture with `BatchNormalization`;
- `"abn"`: every `BatchNormalization` of the binary body replaced by `larq_nobn.ABN`;
- `"bf"`: BN-free as in "BNN - BN = ?": no normalization layer, ScaledWS convolutions,
  fixed residual scalars (see `ExpectedVariance`) and learned sign thresholds; trained
  with `larq_nobn.AGC`;
- `"none"`: the `"bn"` model with every normalization layer deleted (an ablation;
  Sari et al. 2019 find that BNNs fail to train without BN, and how much accuracy it
  loses depends on the architecture: see the reproduction report's section 1).
"""

import math
import re

from larq_nobn.checks import check_choice, check_pad_values
from larq_nobn.layers import (
    HardTanh,
    QuantConv2D,
    RPReLU,
    ScaledWSQuantConv2D,
    no_weight_clip_warning,
)
from larq_nobn.normalization import ABN
from larq_nobn.quantizers import ChannelScaledSign, RSign

import larq as lq
import tensorflow as tf

__all__ = [
    "ABN_MOMENTUM",
    "ALPHA",
    "BINARIZATIONS",
    "CLASSIFIER_NAME",
    "NORMS",
    "NORM_EPSILON",
    "NORM_MOMENTUM",
    "STRIDE2_PADDINGS",
    "WEIGHT_DECAY_REGEX",
    "ExpectedVariance",
    "binary_conv",
    "binarynet_basic_block",
    "bireal_block",
    "check_norm",
    "check_stride2_padding",
    "full_precision_conv",
    "max_pool",
    "normalize",
    "reactnet_block",
    "weight_decay_variables",
]

NORMS = ("bn", "abn", "bf", "none")

#: Momentum (Keras convention: the weight of the old value) and epsilon of every
#: `BatchNormalization` in the zoo: PyTorch's `BatchNorm` defaults (`momentum=0.1` on
#: the batch there), which the reference implementations use.
NORM_MOMENTUM = 0.9
NORM_EPSILON = 1e-5
#: Momentum of every `ABN` in the zoo: the reference's `moving = 0.1 * moving + 0.9 *
#: batch` (gushan/ABN models/ABN.py, `momentum = 0.1` on the old value).
ABN_MOMENTUM = 0.1


def check_norm(norm):
    """Return `norm` if it is one of `NORMS`, else raise a ValueError listing them."""
    if norm not in NORMS:
        raise ValueError(
            f"Unknown norm {norm!r}: accepted values are {', '.join(map(repr, NORMS))}."
        )
    return norm


#: How the zoo's stride-2 convolutions and pools align their padding:
#: `"symmetric"` as PyTorch (`padding=1` for 3x3, `padding=3` for the 7x7 stem,
#: `MaxPool2d(3, 2, 1)`: the first window starts one row / column before the input), the
#: references' alignment; `"tf_same"` TensorFlow's `"same"` (the extra row and column
#: at the bottom / right only, so on even inputs the windows start at row 0).
STRIDE2_PADDINGS = ("symmetric", "tf_same")


def check_stride2_padding(stride2_padding):
    """Return `stride2_padding` if it is one of `STRIDE2_PADDINGS`, else raise a
    ValueError listing them."""
    return check_choice(stride2_padding, STRIDE2_PADDINGS, "stride2_padding")


def _symmetric(strides, stride2_padding):
    return check_stride2_padding(stride2_padding) == "symmetric" and strides != 1


def max_pool(x, *, stride2_padding="symmetric", name):
    """The 3x3 stride-2 max-pool of the ImageNet stems, aligned by `stride2_padding`.

    `"symmetric"` is PyTorch's `MaxPool2d(3, 2, 1)` (padding ignored by the maximum),
    built as a stride-1 `"same"` 3x3 max-pool (layer `{name}_windows`, centred
    windows) read at rows and columns 0, 2, 4, ... (a 1x1 stride-2 pool, layer
    `name`); `"tf_same"` is `MaxPool2D(3, 2, "same")` (layer `name`).
    """
    if not _symmetric(2, stride2_padding):
        return tf.keras.layers.MaxPool2D(3, 2, padding="same", name=name)(x)
    x = tf.keras.layers.MaxPool2D(3, 1, padding="same", name=f"{name}_windows")(x)
    return tf.keras.layers.MaxPool2D(1, 2, name=name)(x)


def normalize(x, norm, name=None, *, head=False):
    """Apply the normalization layer of variant `norm` to `x`.

    # Arguments
        x: Input tensor (functional API).
        norm: One of `NORMS`.
        name: Name of the normalization layer.
        head: True for the normalizations of a classifier (dense layers, the pooled
            features and the logits): `"abn"` keeps a plain `BatchNormalization`
            there, as the ABN reference code does (gushan/ABN: its `BatchNorm`
            attends only to 4-D inputs and its classifiers use `nn.BatchNorm1d`).

    # Returns
        `x` normalized with `BatchNormalization` (`"bn"`, and `"abn"` in the head),
        `ABN` (`"abn"`), or `x` itself (`"bf"`, `"none"`).
    """
    check_norm(norm)
    if norm == "bn" or (norm == "abn" and head):
        layer = tf.keras.layers.BatchNormalization(
            momentum=NORM_MOMENTUM, epsilon=NORM_EPSILON, name=name
        )
    elif norm == "abn":
        layer = ABN(momentum=ABN_MOMENTUM, epsilon=NORM_EPSILON, name=name)
    else:
        return x
    return layer(x)


class ExpectedVariance:
    r"""Tracks the expected variance of the residual stream of a BN-free network.

    In "BNN - BN = ?" (following NFNets) each residual branch is added with a fixed
    weight \\(\alpha\\), so the variance of the stream grows by \\(\alpha^2\\) per
    addition; a branch's input is multiplied by \\(\beta = 1/\sqrt{\text{expected
    variance}}\\) so the branch sees unit variance. A transition (stride-2) block resets
    the expected variance to 1.

    ```python
    variance = ExpectedVariance(alpha=0.2)
    beta1 = variance.beta      # 1.0
    variance.add_branch()      # variance 1.04
    beta2 = variance.beta      # 0.9806
    ```

    # Arguments
        alpha: The residual branch weight (0.2 in the paper).
    """

    def __init__(self, alpha=0.2):
        if not alpha > 0:
            raise ValueError(f"`alpha` must be > 0, got {alpha!r}.")
        self.alpha = float(alpha)
        self.variance = 1.0

    @property
    def beta(self):
        """\\(1/\\sqrt{\\text{expected variance}}\\) of the stream now."""
        return 1.0 / math.sqrt(self.variance)

    def add_branch(self):
        """Account for one residual addition of a branch weighted by `alpha`."""
        self.variance += self.alpha**2

    def reset(self):
        """Back to unit variance (after a transition block)."""
        self.variance = 1.0


# ---------------------------------------------------------------------------------------
# Layers and residual blocks shared by the zoo's residual networks (ReActNet-A,
# ReActNet-18 and the ABN paper's CIFAR ResNet).
# ---------------------------------------------------------------------------------------

#: Name of every zoo model's final full-precision dense layer, which neither adaptive
#: gradient clipping (each zoo module's `AGC_EXCLUDE`) nor the coupled weight decay of
#: `WEIGHT_DECAY_REGEX` reaches.
CLASSIFIER_NAME = "classifier"

#: Regex (searched in variable names) of what coupled L2 weight decay reaches in the
#: BN-free paper's training (VITA-Group/BNN_NoBN train.py: parameters with 4 dimensions
#: or "conv" in their name): every conv kernel (stem, binary, shortcut), the ScaledWS
#: gains `(out, 1, 1, 1)` and the learnable shifts `(1, C, 1, 1)` (RSign thresholds,
#: RPReLU input and output shifts); not the PReLU slopes, normalization parameters nor
#: the classifier (`fc.weight` is 2-D, `fc.bias` 1-D).
WEIGHT_DECAY_REGEX = (
    r"^(?!(?:.*/)?" + CLASSIFIER_NAME + r"(?:_\d+)?/)"
    r".*(?:kernel|gain|threshold|input_shift|output_shift)"
)


def weight_decay_variables(model, pattern=WEIGHT_DECAY_REGEX):
    """The trainable variables of `model` whose name `pattern` matches (`re.search`).

    # Arguments
        model: A Keras model.
        pattern: Regex; by default `WEIGHT_DECAY_REGEX`, the reference's choice.

    # Returns
        A list of variables, in `model.trainable_variables` order.
    """
    regex = re.compile(pattern)
    return [v for v in model.trainable_variables if regex.search(v.name)]


#: The kinds of binary convolution `binary_conv` builds.
BINARIZATIONS = ("reactnet", "binarynet")

#: Residual branch weight of the BN-free networks ("BNN - BN = ?").
ALPHA = 0.2


def binary_conv(
    filters,
    kernel_size,
    *,
    norm,
    strides=1,
    binarization="reactnet",
    pad_values=1.0,
    binary_input=True,
    clip_latent_weights=False,
    stride2_padding="symmetric",
    name=None,
):
    """A binary convolution layer (binary weights, binary inputs) for variant `norm`.

    `kernel_size > 1` uses `padding="same"` filled with `pad_values` (1.0: LCE's fast,
    bitpacked path; 0.0: zero padding as PyTorch, which LCE only runs on ARM); 1x1
    convolutions use `"valid"`. At stride 2 the padding aligns as `stride2_padding` (one
    of `STRIDE2_PADDINGS`; `"symmetric"`: `QuantConv2D(symmetric_padding=True)`, the
    PyTorch grid, padded with `pad_values` after the sign). No bias (a following
    normalization or residual sum makes it redundant, and every reference leaves it
    out).

    | `binarization` | `norm`        | layer, weight / input quantizer             |
    |----------------|---------------|---------------------------------------------|
    | `"reactnet"`   | bn, abn, none | `QuantConv2D`, `ChannelScaledSign` / `RSign` |
    | `"binarynet"`  | bn, abn, none | `QuantConv2D`, identity-STE sign / `ste_sign` |
    | either         | bf            | `ScaledWSQuantConv2D`, `ChannelScaledSign` / `RSign` |

    - `"reactnet"`: ReActNet's `HardBinaryConv`: sign of the latent weights times their
      mean magnitude per output channel, with the unscaled clamp straight-through
      gradient and no weight clipping, on `sign(x + b)` with a learned per-channel
      shift `b` (ReActNet's `LearnableBias` + sign, Bi-Real backward).
    - `"binarynet"`: BinaryNet.pytorch's `BinarizeConv2d` as the ABN reference code uses
      it (gushan/ABN models/binarized_modules.py): sign of the weights with an identity
      straight-through gradient (`SteSign(clip_value=None)`) and latent weights never
      clipped; sign of the inputs (larq `ste_sign`: the gradient window |x| <= 1 that
      the reference gets from the HardTanh before each binary layer).
      `clip_latent_weights=True` gives larq's convention instead: `ste_sign` weights
      (zero gradient beyond |w| = 1) clipped to [-1, 1] after each update.
    - `"bf"`: the "BNN - BN = ?" binary conv: scaled weight standardization, then the
      per-channel scaled sign, times a learned gain, on RSign inputs. The learned
      threshold replaces what a normalization layer's shift did for the sign.

    # Arguments
        filters: Number of output channels.
        kernel_size: Integer, the square kernel size.
        norm: One of `NORMS`.
        strides: Integer stride.
        binarization: One of `BINARIZATIONS`.
        pad_values: 1.0 or 0.0.
        binary_input: False leaves the input real-valued (the binary-weight 1x1
            downsample conv after an average pool of the BN-free paper's ReActNet-18).
        clip_latent_weights: `"binarynet"` only: larq's `ste_sign` + `weight_clip` for
            the weights instead of the reference's unclipped identity STE.
        stride2_padding: One of `STRIDE2_PADDINGS`.
        name: Layer name.

    # Returns
        An unbuilt layer, whose kernel reports `precision == 1`.

    # Raises
        ValueError: for an unknown `norm`, `binarization`, `pad_values` or
            `stride2_padding`.
    """
    check_norm(norm)
    check_choice(binarization, BINARIZATIONS, "binarization")
    symmetric = kernel_size > 1 and _symmetric(strides, stride2_padding)
    common = dict(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same" if kernel_size > 1 else "valid",
        pad_values=check_pad_values(pad_values),
        use_bias=False,
        name=name,
    )
    if symmetric:
        common["symmetric_padding"] = True
    sign = binarization == "binarynet" and norm != "bf"
    if not binary_input:
        common["input_quantizer"] = None
    elif sign:
        common["input_quantizer"] = "ste_sign"
    else:
        common["input_quantizer"] = RSign()
    if norm == "bf":
        return ScaledWSQuantConv2D(kernel_quantizer=ChannelScaledSign(), **common)
    if sign and clip_latent_weights:
        return QuantConv2D(
            kernel_quantizer="ste_sign", kernel_constraint="weight_clip", **common
        )
    kernel = lq.quantizers.SteSign(clip_value=None) if sign else ChannelScaledSign()
    with no_weight_clip_warning():
        return QuantConv2D(kernel_quantizer=kernel, **common)


def full_precision_conv(
    filters, kernel_size, *, norm, strides=1, stride2_padding="symmetric", name=None
):
    """A full-precision convolution (stem, Bi-Real shortcut) for variant `norm`.

    `"bf"`: `ScaledWSQuantConv2D` without quantizers (the NFNet ScaledWS conv, as the
    BN-free paper uses for its stem and shortcut convs); otherwise a plain `Conv2D`, or
    at stride 2 with `stride2_padding="symmetric"` a `QuantConv2D` without quantizers
    and with `symmetric_padding=True` (PyTorch's alignment). All without bias and with
    zero `"same"` padding.

    # Raises
        ValueError: for an unknown `norm` or `stride2_padding`.
    """
    check_norm(norm)
    symmetric = kernel_size > 1 and _symmetric(strides, stride2_padding)
    common = dict(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        name=name,
    )
    if symmetric:
        common["symmetric_padding"] = True
    if norm == "bf":
        return ScaledWSQuantConv2D(**common)
    if symmetric:
        return QuantConv2D(**common)
    return tf.keras.layers.Conv2D(**common)


def _scale(x, value, name):
    """Multiply by a fixed scalar (alpha or beta of a BN-free block)."""
    return tf.keras.layers.Rescaling(value, name=name)(x)


def _binary_branch(
    x, filters, kernel_size, *, norm, variance, strides=1, pad_values=1.0,
    stride2_padding="symmetric", name, suffix=""
):
    """The residual branch of ReActNet / Bi-Real blocks: a binary convolution and its
    normalization; for `"bf"` (`variance` given) `x_in = beta * x` before it and
    `alpha` after it, with the expected variance advanced by the branch.

    Layer names: `{name}_conv{k}x{k}`, `{name}_norm{suffix}` and for `"bf"`
    `{name}_beta{suffix}`, `{name}_alpha{suffix}`.

    # Returns
        `(x_in, y)`: the branch's (scaled) input and its output.
    """
    bf = variance is not None
    x_in = _scale(x, variance.beta, f"{name}_beta{suffix}") if bf else x
    y = binary_conv(
        filters,
        kernel_size,
        norm=norm,
        strides=strides,
        pad_values=pad_values,
        stride2_padding=stride2_padding,
        name=f"{name}_conv{kernel_size}x{kernel_size}",
    )(x_in)
    y = normalize(y, norm, f"{name}_norm{suffix}")
    if bf:
        y = _scale(y, variance.alpha, f"{name}_alpha{suffix}")
        variance.add_branch()
    return x_in, y


def _variance_for(norm, variance):
    if norm != "bf":
        return None
    return ExpectedVariance(ALPHA) if variance is None else variance


def reactnet_block(
    x, filters, *, norm, strides=1, variance=None, pad_values=1.0,
    stride2_padding="symmetric", name="block"
):
    """ReActNet-A's basic block: RSign, binary 3x3 conv, RSign, binary 1x1 conv.

    `filters` is the number of output channels: the input's (a normal block) or twice it
    (a channel-doubling block). Residuals (`x_in`, `out1` as in REFERENCE and the
    papers), with `bconv` the layer of `binary_conv`:

    - `"bn"` (ReActNet): `out1 = RPReLU(shortcut + BN(bconv3x3(x)))`, then
      `out = RPReLU(out1 + BN(bconv1x1(out1)))`; `"abn"` uses `ABN` for each `BN`,
      `"none"` deletes them.
    - `"bf"` ("BNN - BN = ?", alpha = `variance.alpha`, beta = `variance.beta`):
      `x_in = beta1 * x`, `out1 = RPReLU(shortcut + alpha * bconv3x3(x_in))`,
      `out1_in = beta2 * out1`, `out = RPReLU(out1 + alpha * bconv1x1(out1_in))`; the
      expected variance grows by alpha^2 per residual and is reset to 1 after a
      stride-2 block.

    The shortcut of the first residual is `x` (stride 1) or `AvgPool2D(2)` of `x`
    (`x_in` for `"bf"`) for stride 2; the pool uses `"same"` padding, so odd feature
    maps (e.g. 7x7 from a 28x28 input) round up like the strided convolution (on even
    sizes this is PyTorch's `AvgPool2d(2, 2)`).

    Channel doubling: the references apply two 1x1 binary convolutions (in -> in) to the
    same sign input and concatenate `out1 + conv_1` and `out1 + conv_2`. Every operation
    of these branches (weight sign and scale, ScaledWS, gain, BN/ABN) is per output
    channel, so this is exactly one 1x1 binary convolution in -> 2 in on that sign
    input plus `concat(out1, out1)`, which is what is built: it keeps ReActNet's single
    shared learnable shift before the sign (`move21`), has the same binary weights
    (in x 2 in) and becomes one `LceBconv2d`.

    Layer names: `{name}_conv3x3`, `{name}_conv1x1`, `{name}_norm1/2`, `{name}_rprelu1/2`,
    `{name}_pool`, and for `"bf"` `{name}_beta1/2` and `{name}_alpha1/2` (`Rescaling`
    layers whose `scale` is the scalar).

    # Arguments
        x: Input tensor (NHWC).
        filters: Output channels: `x`'s channels or twice that.
        norm: One of `NORMS`.
        strides: 1 or 2.
        variance: The network's `ExpectedVariance` (`"bf"` only; updated in place).
            `None` starts a fresh one with alpha = 0.2.
        pad_values: Padding value of the 3x3 binary convolution (1.0 or 0.0).
        stride2_padding: One of `STRIDE2_PADDINGS` (see `binary_conv`).
        name: Prefix of the layer names.

    # Returns
        The output tensor, `filters` channels, spatial size divided by `strides`.

    # Raises
        ValueError: for an unknown `norm` or `pad_values`, `strides` not 1 or 2, or
            `filters` neither the input's channels nor twice them.

    # References
        - [ReActNet](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?](https://arxiv.org/abs/2104.08215)
    """
    check_norm(norm)
    check_choice(strides, (1, 2), "strides")
    in_channels = x.shape[-1]
    if filters not in (in_channels, 2 * in_channels):
        raise ValueError(
            f"A ReActNet block maps {in_channels} channels to {in_channels} or "
            f"{2 * in_channels}, got filters={filters!r}."
        )
    variance = _variance_for(norm, variance)
    bf = variance is not None

    x_in, y = _binary_branch(
        x, in_channels, 3, norm=norm, variance=variance, strides=strides,
        pad_values=pad_values, stride2_padding=stride2_padding, name=name, suffix="1",
    )
    shortcut = x
    if strides == 2:
        shortcut = tf.keras.layers.AveragePooling2D(
            2, padding="same", name=f"{name}_pool"
        )(x_in)
    out1 = tf.keras.layers.Add(name=f"{name}_add1")([shortcut, y])
    out1 = RPReLU(name=f"{name}_rprelu1")(out1)

    _, y = _binary_branch(
        out1, filters, 1, norm=norm, variance=variance, name=name, suffix="2"
    )
    shortcut = out1
    if filters != in_channels:
        shortcut = tf.keras.layers.Concatenate(name=f"{name}_concat")([out1, out1])
    out = tf.keras.layers.Add(name=f"{name}_add2")([shortcut, y])
    out = RPReLU(name=f"{name}_rprelu2")(out)
    if bf and strides == 2:
        variance.reset()
    return out


def bireal_block(
    x,
    filters,
    *,
    norm,
    strides=1,
    beta=1.0,
    pad_values=1.0,
    float_shortcut=False,
    stride2_padding="symmetric",
    name="block",
):
    """Bi-Real Net / ReActNet-18 residual: one binary 3x3 convolution per shortcut.

    As VITA-Group/BNN_NoBN models/Qaw_reactnet_18_{bn,bf,none}.py `BasicBlock`:

    - `"bn"`: `out = RPReLU(shortcut + BN(bconv3x3(x)))`; `"abn"` uses `ABN`,
      `"none"` deletes every normalization.
    - `"bf"`: `x_in = beta * x`, `out = RPReLU(shortcut + alpha * bconv3x3(x_in))`
      with `alpha = ALPHA`; the network chooses `beta` (see
      `larq_nobn.zoo.reactnet18.reactnet18_betas`).

    The shortcut is `x`, or for a downsampling block (stride 2 or new width)
    `AvgPool2D(2)` (stride 2 only, `"same"` padding) -> 1x1 conv -> normalization
    (`"bf"`: of `x_in`, no normalization). The 1x1 conv has binary weights and a
    real-valued input, as the reference's `binaryconv1x1` (`HardBinaryConv` /
    `HardBinaryScaledStdConv2d`); `float_shortcut=True` makes it full precision
    (Bi-Real Net's shortcut; ScaledWS for `"bf"`).

    Layer names: `{name}_conv3x3`, `{name}_norm`, `{name}_rprelu`, `{name}_pool`,
    `{name}_shortcut_conv`, `{name}_shortcut_norm`, and for `"bf"` `{name}_beta`,
    `{name}_alpha`.

    # Arguments
        x: Input tensor (NHWC).
        filters: Output channels.
        norm: One of `NORMS`.
        strides: 1 or 2.
        beta: The input scale of `"bf"` (ignored otherwise).
        pad_values: Padding value of the binary convolution (1.0 or 0.0).
        float_shortcut: Full-precision instead of binary weights in the shortcut conv.
        stride2_padding: One of `STRIDE2_PADDINGS` (see `binary_conv`).
        name: Prefix of the layer names.

    # Returns
        The output tensor.

    # Raises
        ValueError: for an unknown `norm` or `pad_values`, or `strides` not 1 or 2.

    # References
        - [Bi-Real Net](https://arxiv.org/abs/1808.00278)
        - [ReActNet](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?](https://arxiv.org/abs/2104.08215)
    """
    check_norm(norm)
    check_choice(strides, (1, 2), "strides")
    bf = norm == "bf"
    x_in = _scale(x, beta, f"{name}_beta") if bf else x
    y = binary_conv(
        filters, 3, norm=norm, strides=strides, pad_values=pad_values,
        stride2_padding=stride2_padding, name=f"{name}_conv3x3",
    )(x_in)
    y = normalize(y, norm, f"{name}_norm")
    if bf:
        y = _scale(y, ALPHA, f"{name}_alpha")
    shortcut = x
    if strides != 1 or filters != x.shape[-1]:
        shortcut = x_in
        if strides != 1:
            shortcut = tf.keras.layers.AveragePooling2D(
                strides, padding="same", name=f"{name}_pool"
            )(shortcut)
        conv_name = f"{name}_shortcut_conv"
        if float_shortcut:
            conv = full_precision_conv(filters, 1, norm=norm, name=conv_name)
        else:
            conv = binary_conv(filters, 1, norm=norm, binary_input=False, name=conv_name)
        shortcut = normalize(conv(shortcut), norm, f"{name}_shortcut_norm")
    out = tf.keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return RPReLU(name=f"{name}_rprelu")(out)


def binarynet_basic_block(
    x,
    filters,
    *,
    norm,
    strides=1,
    variance=None,
    pad_values=1.0,
    output_activation=True,
    clip_latent_weights=False,
    stride2_padding="symmetric",
    name="block",
):
    """The BasicBlock of BinaryNet.pytorch's CIFAR ResNet (used by the ABN paper).

    - `"bn"`: `y = bconv(HardTanh(BN(bconv(x, stride))))`, shortcut `x` or
      `BN(bconv1x1(x, stride))` (a binary 1x1 convolution), `out = y + shortcut`, then
      `HardTanh(BN(out))` unless `output_activation=False` (the reference's last block,
      whose normalization and activation the head applies after pooling).
      Binary convolutions are `binary_conv(binarization="binarynet")`: sign of weights
      (identity straight-through gradient, latent weights not clipped, as the
      reference; `clip_latent_weights=True`: larq's `ste_sign` + `weight_clip`) and of
      inputs (larq `ste_sign`, gradient window |x| <= 1). The HardTanh
      between the two convolutions is not built: its output only feeds the sign of the
      second convolution, and `sign(hardtanh(x)) = sign(x)` with the same gradient
      window, so it changes nothing but would keep LCE from fusing the normalization and
      the sign into the first binary convolution. The HardTanh after the sum is kept: the
      next block's identity shortcut carries its (clipped) output. `"abn"` uses `ABN`
      for every `BN`, `"none"` deletes them.
    - `"bf"` (designed here from the "BNN - BN = ?" principles): the residual stream
      stays linear and unnormalized; the branch sees `x_in = beta * x`:
      `y = alpha * bconv(bconv(x_in, stride))`, shortcut `x` or `bconv1x1(x_in, stride)`
      (kept binary, as in the reference), `out = shortcut + y`; every binary conv is the
      BN-free ScaledWS binary conv with an RSign input (its learned threshold replaces the
      BN shift before each sign, its Bi-Real backward the clipped STE); expected
      variance += alpha^2, reset to 1 after a downsampling block.

    Layer names: `{name}_conv1`, `{name}_conv2`, `{name}_shortcut_conv`,
    `{name}_norm1/2`, `{name}_shortcut_norm`, `{name}_tanh`, and for `"bf"`
    `{name}_beta`, `{name}_alpha`.

    # Arguments
        x: Input tensor (NHWC).
        filters: Output channels.
        norm: One of `NORMS`.
        strides: 1 or 2.
        variance: The network's `ExpectedVariance` (`"bf"` only; updated in place).
        pad_values: Padding value of the 3x3 binary convolutions (1.0 or 0.0).
        output_activation: Apply the block's final normalization and HardTanh (not
            `"bf"`, which has none).
        clip_latent_weights: See `binary_conv`.
        stride2_padding: One of `STRIDE2_PADDINGS` (see `binary_conv`).
        name: Prefix of the layer names.

    # Returns
        The output tensor.

    # Raises
        ValueError: for an unknown `norm` or `pad_values`, or `strides` not 1 or 2.

    # References
        - [BinaryNet](https://arxiv.org/abs/1602.02830) and its PyTorch code
          (itayhubara/BinaryNet.pytorch, `resnet_binary`)
        - [Attention-based BN](https://doi.org/10.3390/e27060645)
    """
    check_norm(norm)
    check_choice(strides, (1, 2), "strides")
    variance = _variance_for(norm, variance)
    bf = variance is not None
    downsample = strides != 1 or filters != x.shape[-1]

    def bconv(kernel_size, stride, conv_name):
        return binary_conv(
            filters,
            kernel_size,
            norm=norm,
            strides=stride,
            binarization="binarynet",
            pad_values=pad_values,
            clip_latent_weights=clip_latent_weights,
            stride2_padding=stride2_padding,
            name=f"{name}_{conv_name}",
        )

    x_in = _scale(x, variance.beta, f"{name}_beta") if bf else x
    y = bconv(3, strides, "conv1")(x_in)
    y = normalize(y, norm, f"{name}_norm1")
    y = bconv(3, 1, "conv2")(y)
    if bf:
        y = _scale(y, variance.alpha, f"{name}_alpha")
        variance.add_branch()
    shortcut = x
    if downsample:
        shortcut = bconv(1, strides, "shortcut_conv")(x_in)
        shortcut = normalize(shortcut, norm, f"{name}_shortcut_norm")
    out = tf.keras.layers.Add(name=f"{name}_add")([y, shortcut])
    if bf:
        if downsample:
            variance.reset()
    elif output_activation:
        out = normalize(out, norm, f"{name}_norm2")
        out = HardTanh(name=f"{name}_tanh")(out)
    return out
