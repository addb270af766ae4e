r"""BinaryNet (Courbariaux et al. 2016), the VGG-like binary network of the ABN paper.

The architecture is the one of the ABN reference code (BinaryNet.pytorch,
`vgg_cifar10_binary`), `w` the width multiplier:

| layer | `bn` (published) | output channels |
|---|---|---|
| `stem_conv` | 3x3 conv, full precision, norm | `c(128 w)` |
| `conv1` | binary 3x3 conv, max-pool 2, norm | `c(128 w)` |
| `conv2` | binary 3x3 conv, norm | `c(256 w)` |
| `conv3` | binary 3x3 conv, max-pool 2, norm | `c(256 w)` |
| `conv4` | binary 3x3 conv, norm | `c(512 w)` |
| `conv5` | binary 3x3 conv, max-pool 2, norm | `c(512 min(w, 1))` |
| `flatten` | reshape to `(1, 1, features)` | `H/8 * W/8 * c(512 min(w, 1))` |
| `dense1` | binary dense, norm | `c(1024 min(w, 1))` |
| `dense2` | binary dense, norm, HardTanh | `c(1024 min(w, 1))` |
| `classifier` | dense, full-precision weights and input, BN without affine | `num_classes` |

# Width rule

`c(x) = max(8, 8 * round(x / 8))` (rounding half up): channel counts are multiples of 8,
the output-channel granularity of LCE's fast binary kernels. As in the reference
(`infl_ratio`), a multiplier above 1 widens only the stem and `conv1`-`conv4`; `conv5`
stays at 512 channels and the dense layers at 1024. A multiplier below 1 scales `conv5`
and the dense layers down too (`min(w, 1)`), so small models stay small. At 32x32x3 and
10 classes the binary weights are therefore

- `w = 3`: 384-384-768-768-1536-512, dense 1024-1024: 36,421,632 (the ABN paper's);
- `w = 1`: 128-128-256-256-512-512, dense 1024-1024: 14,008,320 (Courbariaux's);
- `w = 0.5`: 64-64-128-128-256-256, dense 512-512: 3,502,080;
- `w = 0.25`: 32-32-64-64-128-128, dense 256-256: 875,520;
- `w = 0.125`: 16-16-32-32-64-64, dense 128-128: 218,880

(below 1 every layer scales with `w`, so the count is 14,008,320 w^2 as long as the
channel counts stay multiples of 8 and the spatial size is unchanged). At 28x28 the
flattened map is 3x3 instead of 4x4 (max-pooling floors: 28, 14, 7, 3).

# Choices common to all variants

- Binary layers are larq `QuantConv2D` with `input_quantizer="ste_sign"`,
  `kernel_quantizer=SteSign(clip_value=None)` (sign with an identity straight-through
  gradient) and no weight constraint, `use_bias=False`: the reference
  (gushan/ABN models/binarized_modules.py) binarizes the weights with `Binarize`, whose
  backward passes the gradient unchanged, and never clips the latent weights.
  `clip_latent_weights=True` gives larq's convention instead (`kernel_quantizer=
  "ste_sign"`, zero gradient beyond |w| = 1, and `kernel_constraint="weight_clip"`);
  the 3x3 ones use `padding="same"` with `pad_values` (1.0 by default: LCE's fast path,
  where a binary conv can pass bitpacked activations to the next; 0.0 pads with zeros
  like the PyTorch reference, which LCE runs slower and without bitpacked outputs into
  a 3x3 conv). The stem pads with zeros.
- No Hardtanh layer before a binary layer. In the reference it clips the input of the
  sign so that the plain straight-through estimator of PyTorch's `Binarize` gets the
  gradient window `|x| <= 1`. larq's `ste_sign` on the inputs has that window built
  in: `sign(hardtanh(x)) = sign(x)` and the gradients are the same, so a Hardtanh layer
  would change nothing but add an op that keeps LCE from fusing the normalization and
  the sign into the binary convolution. The Hardtanh after `dense2` is kept (layer
  `dense2_tanh`): its real-valued output is the classifier's input.
- The binary dense layers are 1x1 binary convolutions over the flattened features
  reshaped to a 1x1 map (`flatten` is a `Reshape` to `(1, 1, features)`). The weights
  and their count are those of a dense layer (`kernel` of shape `(1, 1, in, out)`), but
  LCE turns them into `LceBconv2d` (a `QuantDense` would stay a float
  `FULLY_CONNECTED`), and the normalization and sign after them fuse too.
- The classifier is a dense layer with full-precision weights on the real-valued
  Hardtanh output of `dense2`, as the reference's last layer (`nn.Linear` after
  `nn.Hardtanh`, models/vgg_cifar10_binary.py and vgg_abn_cifar10_binary.py). Its
  weights are not binary (the published weight counts exclude them), nor are the
  stem's. It is applied to the `(1, 1, features)` map and a final `Flatten` (layer
  `logits`) gives `(batch, num_classes)`. `binary_classifier_input=True` drops the
  Hardtanh and binarizes the classifier's input with `ste_sign` instead, so that
  nothing separates `dense2`'s normalization from the sign and `dense2` writes
  bitpacked output in LCE.
- No layer has a bias (but the classifier of `"bf"`): a normalization follows each.
  The classifier's BN has no affine parameters, as in the reference, so the logits are
  standardized.

# Variants (`norm`)

- `"bn"`: `BatchNormalization` (momentum 0.9, epsilon 1e-5: PyTorch's defaults, which
  the reference uses) after the stem, after each binary layer (after the max-pool where
  there is one) and, without `center`/`scale`, after the classifier.
- `"abn"`: `larq_nobn.ABN` (momentum 0.1 in Keras' convention, the reference's
  `moving = 0.1 * moving + 0.9 * batch`) in place of the 6 `BatchNormalization`s of the
  conv layers (stem and `conv1`-`conv5`); the dense layers keep plain BN and the
  classifier the BN without affine parameters, as in the ABN reference code
  (gushan/ABN models/vgg_abn_cifar10_binary.py: `nn.BatchNorm1d` in the classifier;
  its `BatchNorm` attends only to 4-D inputs).
- `"none"`: the `"bn"` model with every normalization layer deleted, nothing else
  changed: an ablation. Its weight gradients at initialization grow toward the input
  (Sari et al. 2019: "BNNs fail to train in the absence of" BN, which avoids
  exploding gradients), and on Fashion-MNIST it stays at chance accuracy (the
  reproduction report, `BENCHMARKS.md` sections 1 and 2).
- `"bf"`: BN-free, designed from the principles of "BNN - BN = ?" for a network
  without residual connections:
    1. Every convolution and dense layer is scaled-weight-standardized
       (`larq_nobn.ScaledWSQuantConv2D` / `ScaledWSQuantDense`, trainable gain init 1):
       the stem and the classifier with full-precision weights, the binary layers with
       `larq_nobn.ChannelScaledSign` weights (`a_o sign(W_hat)`, `a_o = mean|W_hat_o|`).
       The standardization makes each output unit's kernel unit-norm, and the
       per-channel scale `a_o ~ sqrt(2/pi) / sqrt(fan_in)` makes a binary layer's
       output variance about `2/pi` whatever its fan-in, so the next sign's gradient
       window `|x| <= 1` stays populated at every depth. Plain sign weights would give
       an output standard deviation of `sqrt(fan_in)` (34 for 3x3x128), the
       exploding-signal regime of the `"none"` model; with `a_o` folded into LCE's
       output multiplier the scale costs nothing at inference.
    2. Learned thresholds instead of BN's shift: every binary input is
       `larq_nobn.RSign` (`sign(x + b)`, per-channel `b`). A 2x2 max-pool moves the
       median of its input up (for 4 independent values of one sign, 15/16 of the
       maxima are positive), so the thresholds of the signs after a max-pool start at
       `-MAXPOOL_THRESHOLD * sqrt(2/pi)`, with `MAXPOOL_THRESHOLD = 0.9981` the median
       of the maximum of 4 independent standard normal values, which starts those
       activations balanced (half +1) instead of almost all +1. The other thresholds
       start at 0.
    3. No normalization layer anywhere. The classifier's input is binary (+-1) and its
       ScaledWS kernel has unit-norm rows, so the logits start with unit variance
       without a head BN; it keeps a bias (the BN it replaces has none, but the BN
       removed the mean, which a zero-initialized bias can learn) and its gain learns
       the logit scale.
    4. Train with `larq_nobn.AGC` (`AGC_CLIP_FACTOR`, the classifier excluded via
       `AGC_EXCLUDE`), as the paper does for every variant.
  The batch plays no role in the forward pass: in training mode each sample's output
  is what it would be alone.

# Deployment with LCE

Every variant converts with `larq_compute_engine.convert_keras_model`; the 5 binary
convolutions and the 2 binary dense layers become `LceBconv2d`, the stem a float
`CONV_2D` and the classifier a `FULLY_CONNECTED`. A binary layer writes bitpacked
output when its inference BN or threshold and the next sign fold into its output
transform: in `"bn"` `conv2`, `conv4` and `dense1` (and `dense2` with
`binary_classifier_input=True`; in `"bf"` `conv2`, `conv4`, `dense1`, `dense2`);
`conv1`, `conv3` and `conv5` write float because the max-pool sits between them and the
normalization / threshold (only `"none"`, with nothing after the pool, gets LCE's
binary max-pool), and `dense2` writes float into the Hardtanh before the classifier.
ABN's sigmoid is never fused, so in `"abn"` only `dense1` (followed by a plain BN)
writes bitpacked output. With `pad_values=0.0` only the dense layers can. An untrained
`"bf"` model has its non-pool thresholds at exactly 0, where a binary layer output
with integer part 0 is a float +-1e-8 in Keras and an exact 0 (sign +1) in LCE, so the
two can differ until training moves the thresholds.

# References
    - [Courbariaux et al. Binarized Neural Networks: Training Deep Neural Networks with
      Weights and Activations Constrained to +1 or -1](https://arxiv.org/abs/1602.02830)
    - [Gu, Zhang, Jia, Wu. Attention-Based Batch Normalization for Binary Neural
      Networks. Entropy 2025, 27(6), 645](https://doi.org/10.3390/e27060645)
    - [Chen et al. "BNN - BN = ?": Training Binary Neural Networks without Batch
      Normalization](https://arxiv.org/abs/2104.08215)
    - [Sari et al. How Does Batch Normalization Help Binary
      Training?](https://arxiv.org/abs/1909.09139)
"""

import math
import numbers

from larq_nobn.blocks import CLASSIFIER_NAME, NORM_EPSILON, NORM_MOMENTUM, check_norm, normalize
from larq_nobn.checks import check_num_classes
from larq_nobn.layers import (
    HardTanh,
    QuantConv2D,
    ScaledWSQuantConv2D,
    ScaledWSQuantDense,
    no_weight_clip_warning,
)
from larq_nobn.quantizers import ChannelScaledSign, RSign
from larq_nobn.zoo.common import (
    check_top,
    finish_builder,
    model_input,
)
from larq_nobn.zoo.deprecation import keyword_only
from larq_nobn.zoo.initialization import initializer

import larq as lq
import tensorflow as tf

__all__ = [
    "AGC_CLIP_FACTOR",
    "AGC_EXCLUDE",
    "DEFAULT_INPUT_SHAPE",
    "BinaryNet",
    "MAXPOOL_THRESHOLD",
    "binarynet_channels",
]

#: Recommended `larq_nobn.AGC` clip factor for the `"bf"` variant: the BN-free paper's
#: ImageNet setting.
AGC_CLIP_FACTOR = 0.02
#: Regular expression matching the variables AGC must not clip in the `"bf"` variant:
#: every variable of the classifier layer, as in the BN-free paper: its kernel and bias
#: and, unlike the plain `Dense` classifier of the residual models
#: (`larq_nobn.zoo.residual.CLASSIFIER_REGEX`), its ScaledWS gain and RSign threshold.
AGC_EXCLUDE = r"(?:^|/)" + CLASSIFIER_NAME + "/"
#: Median of the maximum of 4 independent standard normal values (the solution of
#: `Phi(t)**4 = 1/2`): in `"bf"`, the initial shift, in units of the
#: expected standard deviation `sqrt(2/pi)` of a binary layer's output, of the sign
#: thresholds after a 2x2 max-pool.
MAXPOOL_THRESHOLD = 0.9981

#: The `input_shape` of `BinaryNet` without `input_shape` and `input_tensor`: CIFAR's.
DEFAULT_INPUT_SHAPE = (32, 32, 3)

_BODY = (128, 128, 256, 256, 512)  # stem, conv1-conv4: scaled by the multiplier
_TOP_CONV = 512  # conv5: scaled by min(multiplier, 1)
_DENSE = 1024  # dense1, dense2: scaled by min(multiplier, 1)
_POOL_AFTER = (1, 3, 5)  # binary convs followed by a 2x2 max-pool
# Initial RSign threshold after a max-pool: a bf binary layer's output has standard
# deviation about sqrt(2/pi), the median of the max of 4 such values is that times
# MAXPOOL_THRESHOLD.
_POOLED_THRESHOLD = -MAXPOOL_THRESHOLD * math.sqrt(2.0 / math.pi)
_PAD_VALUES = (0.0, 1.0)


def _round_channels(x):
    return max(8, 8 * int(math.floor(x / 8 + 0.5)))


def binarynet_channels(width_multiplier=3):
    """The channel counts of BinaryNet at a width multiplier.

    # Arguments
        width_multiplier: Positive float (see the module docstring for the rule).

    # Returns
        A tuple `(convs, dense)`: the 6 output channel counts of the stem and
        `conv1`-`conv5`, and the 2 output unit counts of `dense1`, `dense2`.

    # Raises
        ValueError: for a non-positive `width_multiplier`.
    """
    if (
        isinstance(width_multiplier, bool)
        or not isinstance(width_multiplier, numbers.Real)
        or not width_multiplier > 0
        or not math.isfinite(width_multiplier)
    ):
        raise ValueError(
            f"`width_multiplier` must be a positive number, got {width_multiplier!r}."
        )
    w = float(width_multiplier)
    top = min(w, 1.0)
    convs = tuple(_round_channels(c * w) for c in _BODY)
    convs += (_round_channels(_TOP_CONV * top),)
    dense = (_round_channels(_DENSE * top),) * 2
    return convs, dense


def _binary_kwargs(norm, pad_values, threshold=0.0, clip_latent_weights=False):
    """Arguments of a binary layer of variant `norm`."""
    if norm == "bf":
        return dict(
            input_quantizer=RSign(
                threshold_initializer=tf.keras.initializers.Constant(threshold)
            ),
            kernel_quantizer=ChannelScaledSign(),
            pad_values=pad_values,
            use_bias=False,
        )
    if clip_latent_weights:
        weights = dict(kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    else:
        weights = dict(kernel_quantizer=lq.quantizers.SteSign(clip_value=None))
    return dict(
        input_quantizer="ste_sign", pad_values=pad_values, use_bias=False, **weights
    )


@keyword_only(
    "norm", "input_shape", "num_classes", "width_multiplier", "pad_values", "name"
)
def BinaryNet(
    *,
    norm="bn",
    input_shape=None,
    input_tensor=None,
    include_top=True,
    weights=None,
    pooling=None,
    num_classes=10,
    classifier_activation=None,
    width_multiplier=3,
    pad_values=1.0,
    name=None,
    binary_classifier_input=False,
    clip_latent_weights=False,
    init="reference",
):
    """BinaryNet, the VGG-like binary network of the ABN paper's reference code.

    The architecture, the width rule and the four variants are described in the
    module docstring (`larq_nobn.zoo.binarynet`).

    ```python
    model = larq_nobn.zoo.BinaryNet(norm="bf", input_shape=(28, 28, 1),
                                    width_multiplier=0.5)
    optimizer = larq_nobn.optimizers.AGC(
        tf.keras.optimizers.Adam(1e-3),
        clip_factor=larq_nobn.zoo.binarynet.AGC_CLIP_FACTOR,
        exclude=larq_nobn.zoo.binarynet.AGC_EXCLUDE)
    ```

    # Arguments
        norm: `"bn"`, `"abn"`, `"bf"` or `"none"`. The default, `"bn"`, is the
            published architecture, which any Keras optimizer trains; it is the default
            of every zoo model and of `larq-nobn train`, so that `BinaryNet()` and a
            default training run build the same model (`"bf"` needs `larq_nobn.AGC`).
        input_shape: `(height, width, channels)`, height and width at least 8; default
            the shape of `input_tensor`, else `(32, 32, 3)`.
        input_tensor: A tensor to build the model on, instead of a new `Input`; the
            model's inputs are then its source inputs (see
            `larq_nobn.zoo.common.model_input`).
        include_top: `False`: the feature extractor, up to the normalization after
            `conv5` (the map before `flatten`), for transfer learning.
        weights: `None` or the path of a weights file saved from the same
            architecture, loaded by layer name (see `larq_nobn.zoo.common`); with
            `include_top=False` the file may be the whole model's.
        pooling: With `include_top=False`: `None` (the `(H/8, W/8, channels)` map),
            `"avg"` or `"max"` (global pooling to `(channels,)`).
        num_classes: Number of classes (outputs are logits, no softmax, unless
            `classifier_activation="softmax"`).
        classifier_activation: `None` (logits) or `"softmax"` (probabilities, layer
            `predictions`).
        width_multiplier: Positive; 3 is the ABN paper's model, 1 Courbariaux's.
        pad_values: Value of the "same" padding of the binary convolutions, 1.0 (LCE's
            fast path) or 0.0 (the PyTorch reference).
        name: Model name, `binarynet_<norm>` by default.
        binary_classifier_input: Not `"bf"`: binarize the classifier's input
            (`ste_sign`, no Hardtanh) instead of the reference's real-valued Hardtanh
            output; lets `dense2` write bitpacked output in LCE.
        clip_latent_weights: Not `"bf"`: larq's `ste_sign` weights (zero gradient
            beyond |w| = 1) with `weight_clip` instead of the reference's identity
            straight-through sign without clipping.
        init: `"reference"` (default): the initialization of the reference code,
            gushan/ABN's: torch's defaults, U(+-1/sqrt(fan_in)) kernels and
            biases; `"keras"`: Keras' defaults (Glorot). See
            `larq_nobn.zoo.initialization` (scheme `"binarynet_vgg"`).

    # Returns
        A functional `tf.keras.Model` mapping images to `num_classes` logits (or the
        features, with `include_top=False`).

    # Raises
        ValueError: for an unknown `init` or `norm`, a non-positive `width_multiplier`,
            a `pad_values` other than 0.0 and 1.0, a bad `input_shape`, `num_classes`,
            `pooling` or `classifier_activation`, or `weights` that do not fit.
        TypeError: More positional arguments than the deprecated positional form
            (`norm, input_shape, num_classes, width_multiplier, pad_values, name`, which
            warns) takes.
        FileNotFoundError: No file at `weights`.
    """
    check_norm(norm)
    initialize = initializer(init, "binarynet_vgg")
    check_top(include_top, pooling, classifier_activation)
    convs, dense = binarynet_channels(width_multiplier)
    num_classes = check_num_classes(num_classes)
    if pad_values not in _PAD_VALUES:
        raise ValueError(
            f"`pad_values` must be one of {_PAD_VALUES} (LCE supports no other), "
            f"got {pad_values!r}."
        )
    pad_values = float(pad_values)
    bf = norm == "bf"
    Conv = ScaledWSQuantConv2D if bf else QuantConv2D

    # min_size 8: three 2x2 max-pools.
    inputs, x = model_input(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, min_size=8)
    x = Conv(convs[0], 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = normalize(x, norm, name="stem_norm")

    def binary(filters, kernel_size, name, threshold, **kwargs):
        kwargs.update(_binary_kwargs(norm, pad_values, threshold, clip_latent_weights))
        with no_weight_clip_warning():
            return Conv(filters, kernel_size, name=name, **kwargs)

    for i, channels in enumerate(convs[1:], start=1):
        threshold = _POOLED_THRESHOLD if i - 1 in _POOL_AFTER else 0.0
        x = binary(channels, 3, f"conv{i}", threshold, padding="same")(x)
        if i in _POOL_AFTER:
            x = tf.keras.layers.MaxPool2D(2, name=f"pool{i}")(x)
        x = normalize(x, norm, name=f"norm{i}")
    name = name or f"binarynet_{norm}"
    return finish_builder(
        inputs,
        x,
        lambda x: _head(x, norm, dense, num_classes, binary, binary_classifier_input),
        name,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        weights=weights,
        initialize=initialize,
    )


def _head(x, norm, dense, num_classes, binary, binary_classifier_input):
    """`flatten`, `dense1`, `dense2` and the classifier, to the logits."""
    x = tf.keras.layers.Reshape((1, 1, -1), name="flatten")(x)
    for i, units in enumerate(dense, start=1):
        threshold = _POOLED_THRESHOLD if i == 1 else 0.0
        x = binary(units, 1, f"dense{i}", threshold)(x)
        x = normalize(x, norm, name=f"dense{i}_norm", head=True)

    if norm == "bf":
        x = ScaledWSQuantDense(
            num_classes, input_quantizer=RSign(), kernel_quantizer=None,
            use_bias=True, name=CLASSIFIER_NAME,
        )(x)
    else:
        if not binary_classifier_input:
            x = HardTanh(name="dense2_tanh")(x)
        x = lq.layers.QuantDense(
            num_classes,
            input_quantizer="ste_sign" if binary_classifier_input else None,
            kernel_quantizer=None, use_bias=False, name=CLASSIFIER_NAME,
        )(x)
        if norm != "none":
            x = tf.keras.layers.BatchNormalization(
                momentum=NORM_MOMENTUM, epsilon=NORM_EPSILON, center=False,
                scale=False, name="classifier_norm",
            )(x)
    return tf.keras.layers.Flatten(name="logits")(x)
