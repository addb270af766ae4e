"""BinaryResNet18, the CIFAR ResNet-18 of BinaryNet.pytorch (`resnet_binary`) that the
ABN paper trains, in the norm variants `bn`, `abn`, `bf` and `none`."""

from larq_nobn.blocks import (
    ALPHA,
    ExpectedVariance,
    binarynet_basic_block,
    check_norm,
    check_stride2_padding,
    full_precision_conv,
    normalize,
)
from larq_nobn.checks import check_choice, check_num_classes, check_pad_values, scaled_width
from larq_nobn.layers import HardTanh
from larq_nobn.zoo.common import (
    check_top,
    finish_builder,
    model_input,
)
from larq_nobn.zoo.deprecation import keyword_only
from larq_nobn.zoo.initialization import initializer
from larq_nobn.zoo.residual import (
    CIFAR_AGC_CLIP_FACTOR,
    CIFAR_INPUT_SHAPE,
    CLASSIFIER_REGEX,
    classifier,
)

import tensorflow as tf

__all__ = [
    "AGC_CLIP_FACTOR",
    "AGC_EXCLUDE",
    "DEFAULT_INPUT_SHAPE",
    "HEAD_POOLS",
    "BinaryResNet18",
]

#: Adaptive gradient clipping factor for the `bf` variant (see
#: `larq_nobn.zoo.residual.CIFAR_AGC_CLIP_FACTOR`).
AGC_CLIP_FACTOR = CIFAR_AGC_CLIP_FACTOR

#: Variable-name regex of what AGC must not clip: the classifier's kernel and bias only
#: (the stem is clipped), as in the BN-free paper.
AGC_EXCLUDE = CLASSIFIER_REGEX

#: The `input_shape` of `BinaryResNet18` without `input_shape` and `input_tensor`.
DEFAULT_INPUT_SHAPE = CIFAR_INPUT_SHAPE

#: Widths of the stages at width 1.
WIDTHS = (80, 160, 320)

#: BasicBlocks per stage (two binary convs each).
DEPTH = 2

#: Head pooling: the reference's `AvgPool2d(8)` or global.
HEAD_POOLS = ("reference", "global")

#: Pool size of the head in the reference (`nn.AvgPool2d(8)`).
HEAD_POOL_SIZE = 8


@keyword_only()
def BinaryResNet18(
    *,
    norm="bn",
    input_shape=None,
    input_tensor=None,
    include_top=True,
    weights=None,
    pooling=None,
    num_classes=10,
    classifier_activation=None,
    width_multiplier=1.0,
    pad_values=1.0,
    name=None,
    head_pool="reference",
    clip_latent_weights=False,
    stride2_padding="symmetric",
    init="reference",
):
    """The ABN paper's CIFAR ResNet-18 (BinaryNet.pytorch `resnet_binary`, depth 18).

    Stem 3x3 conv 3->80 (full precision) + norm + HardTanh; 3 stages of 2
    `larq_nobn.blocks.binarynet_basic_block`s, widths 80/160/320, stride 2 at stages 2
    and 3, binary 1x1 shortcut conv + norm where the shape changes; head average pool +
    norm + HardTanh + dense (full precision) + norm, returning logits (the reference
    adds a log-softmax). As in the reference the last block skips its output norm +
    HardTanh (the head's take their place). The head pools as the reference's
    `nn.AvgPool2d(8)` (gushan/ABN models/resnet_abn_binary.py, `resnet_binary.py`) and
    flattens: 320 features at 32x32, 2x2x320 = 1280 at 64x64; maps smaller than 8x8
    (inputs under 29 pixels) are pooled whole; `head_pool="global"` always pools
    globally (320). The reference itself runs only where its final map is 8 to 15 wide
    (inputs of 29 to 60 pixels; there the zoo computes what it computes, the fixtures of
    tests/reference check 32x32 and 34x34): at 64x64 its `BatchNorm1d(320)` fails on
    1280 features, under 29 pixels its `AvgPool2d(8)` has no window; the zoo's head
    there is its own. Binary convs binarize inputs with larq `ste_sign` (the activations
    being HardTanh outputs) and weights with sign and an identity straight-through
    gradient, latent weights never clipped (gushan/ABN models/binarized_modules.py
    `Binarize`); `clip_latent_weights=True` uses larq's `ste_sign` + `weight_clip`
    instead. 4,326,400 binary weights at width 1. `"abn"` replaces every BN before the
    pooling with `ABN` (momentum 0.1, the reference's) and keeps the head's two plain
    BNs (BatchNorm1d in the ABN reference code); `"none"` deletes every normalization,
    head included. The head's norms work on a 1x1 map (layers `head_map`, `logits`), so
    their moving variance is the unbiased one, as BatchNorm1d's.

    Its `"bf"` counterpart is designed here from the "BNN - BN = ?" principles: no
    normalization layer; the stem is a ScaledWS full-precision conv + HardTanh; in every
    block the residual stream stays linear (no HardTanh on it, like the identity path of
    NFNets), the branch computes `0.2 * bconv(bconv(beta * x))` and the downsampling
    shortcut is a binary ScaledWS 1x1 conv of `beta * x` (kept binary, so the binary
    weight count is unchanged); every binary conv is the BN-free binary conv (ScaledWS
    + `ChannelScaledSign` weights, `RSign` inputs: the learned threshold does the job of
    the normalization's shift before each sign, and its Bi-Real backward that of the
    HardTanh's gradient clipping, so the in-branch HardTanh is dropped); beta tracks
    the expected variance (+0.04 per block, reset after a downsampling block); the head
    is the pooling above + the plain dense classifier.

    ```python
    model = larq_nobn.zoo.BinaryResNet18(norm="abn", input_shape=(32, 32, 3),
                                         num_classes=100)
    ```

    # Arguments
        norm: One of `"bn"`, `"abn"`, `"bf"`, `"none"`. The default, `"bn"`, is the
            published architecture, which any Keras optimizer trains (`"bf"` needs
            `larq_nobn.AGC`).
        input_shape: `(height, width, channels)`; 28x28 and up work. Default: the
            shape of `input_tensor`, else `(32, 32, 3)`.
        input_tensor: A tensor to build the model on, instead of a new `Input`; the
            model's inputs are then its source inputs.
        include_top: `False`: the feature extractor, up to the output of the last
            block (before the head's pooling and classifier), for transfer learning.
        weights: `None` or the path of a weights file saved from the same
            architecture, loaded by layer name (see `larq_nobn.zoo.common`); with
            `include_top=False` the file may be the whole model's.
        pooling: With `include_top=False`: `None` (the last block's feature map),
            `"avg"` or `"max"` (global pooling to `(channels,)`).
        num_classes: Number of classes.
        classifier_activation: `None` (logits) or `"softmax"` (probabilities, layer
            `predictions`).
        width_multiplier: Scales every width (rounded); < 1 gives small models for tests
            and CPU experiments.
        pad_values: Padding value of the binary 3x3 convolutions: 1.0 (LCE's fast path)
            or 0.0 (zero padding as the PyTorch reference; LCE runs it on ARM only).
        name: Model name, default `binary_resnet18_{norm}`.
        head_pool: One of `HEAD_POOLS`.
        clip_latent_weights: larq's clipped `ste_sign` + `weight_clip` for the binary
            weights instead of the reference's identity STE.
        stride2_padding: Alignment of the stride-2 convolutions and pools, one of
            `larq_nobn.blocks.STRIDE2_PADDINGS`: `"symmetric"` (default) pads as the
            PyTorch reference (first window one row / column before the input);
            `"tf_same"` is TensorFlow's `"same"` (extra padding at the bottom / right
            only), the zoo's alignment before issue 16.
        init: `"reference"` (default): the initialization of the reference code,
            gushan/ABN's `init_model`: binary convs N(0, 2/fan_out), stem and
            classifier torch's defaults; `"keras"`: Keras' defaults (Glorot). See
            `larq_nobn.zoo.initialization` (scheme `"binarynet_resnet"`).

    # Returns
        A functional `tf.keras.Model` from images to logits (or the features, with
        `include_top=False`).

    # Raises
        ValueError: for an unknown `init`, `stride2_padding`, `norm`, `pad_values`,
            `head_pool`, `pooling` or `classifier_activation`, an invalid
            `input_shape`, `num_classes` or `width_multiplier`, or `weights` that do not
            fit.
        TypeError: Positional arguments.
        FileNotFoundError: No file at `weights`.

    # References
        - [BinaryNet](https://arxiv.org/abs/1602.02830) and its PyTorch code
          (itayhubara/BinaryNet.pytorch, `resnet_binary`)
        - [Attention-based BN](https://doi.org/10.3390/e27060645)
    """
    check_norm(norm)
    initialize = initializer(init, "binarynet_resnet")
    check_top(include_top, pooling, classifier_activation)
    inputs, x = model_input(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, name="input")
    check_num_classes(num_classes)
    check_pad_values(pad_values)
    check_choice(head_pool, HEAD_POOLS, "head_pool")
    check_stride2_padding(stride2_padding)
    base = scaled_width(WIDTHS[0], width_multiplier)
    x = full_precision_conv(base, 3, norm=norm, name="stem_conv")(x)
    x = normalize(x, norm, "stem_norm")
    x = HardTanh(name="stem_tanh")(x)
    variance = ExpectedVariance(ALPHA) if norm == "bf" else None
    for s, width in enumerate(WIDTHS):
        for b in range(DEPTH):
            x = binarynet_basic_block(
                x,
                base * width // WIDTHS[0],
                norm=norm,
                strides=2 if s > 0 and b == 0 else 1,
                variance=variance,
                pad_values=pad_values,
                output_activation=(s, b) != (len(WIDTHS) - 1, DEPTH - 1),
                clip_latent_weights=clip_latent_weights,
                stride2_padding=stride2_padding,
                name=f"stage{s + 1}_block{b + 1}",
            )
    name = name or f"binary_resnet18_{norm}"
    return finish_builder(
        inputs,
        x,
        lambda x: _head(x, norm, num_classes, head_pool),
        name,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        weights=weights,
        initialize=initialize,
    )


def _head(x, norm, num_classes, head_pool):
    """The head: pool, norm + HardTanh, classifier, norm (`"bf"`: pool, classifier)."""
    x = _pool(x, head_pool)
    if norm == "bf":
        return classifier(x, num_classes, pool=False)
    # On a 1x1 map (layers `head_map`, `logits`): Keras' rank-4 (fused) normalization
    # keeps the unbiased moving variance, as the reference's `nn.BatchNorm1d` does (a
    # rank-2 one keeps the biased variance).
    x = tf.keras.layers.Reshape((1, 1, x.shape[-1]), name="head_map")(x)
    x = normalize(x, norm, "head_norm", head=True)
    x = HardTanh(name="head_tanh")(x)
    x = classifier(x, num_classes, pool=False)
    x = normalize(x, norm, "logits_norm", head=True)
    return tf.keras.layers.Reshape((num_classes,), name="logits")(x)


def _pool(x, head_pool):
    """The reference's `AvgPool2d(8)` + flatten, or global average pooling."""
    small = any(d is None or d < HEAD_POOL_SIZE for d in x.shape[1:3])
    if head_pool == "global" or small:
        return tf.keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = tf.keras.layers.AveragePooling2D(HEAD_POOL_SIZE, name="avg_pool")(x)
    return tf.keras.layers.Flatten(name="flatten")(x)
