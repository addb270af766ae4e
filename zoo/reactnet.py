"""ReActNet-A in the norm variants `bn`, `abn`, `bf` and `none`."""


from larq_nobn.blocks import (
    ALPHA,
    ExpectedVariance,
    check_norm,
    check_stride2_padding,
    full_precision_conv,
    normalize,
    reactnet_block,
)
from larq_nobn.checks import check_num_classes, check_pad_values, scaled_width
from larq_nobn.zoo.common import (
    check_top,
    finish_builder,
    model_input,
)
from larq_nobn.zoo.deprecation import keyword_only
from larq_nobn.zoo.initialization import initializer
from larq_nobn.zoo.residual import CLASSIFIER_REGEX, classifier

__all__ = ["AGC_CLIP_FACTOR", "AGC_EXCLUDE", "BLOCKS", "DEFAULT_INPUT_SHAPE", "ReActNetA"]

#: The `input_shape` of `ReActNetA` without `input_shape` and `input_tensor`: ImageNet's.
DEFAULT_INPUT_SHAPE = (224, 224, 3)

#: Adaptive gradient clipping factor for the `bf` variant: lambda = 0.02, the value of
#: the BN-free paper's ImageNet scripts (used for all three of its variants there).
AGC_CLIP_FACTOR = 0.02

#: Variable-name regex of what AGC must not clip: the classifier's kernel and bias only
#: (the stem is clipped), as in the BN-free paper.
AGC_EXCLUDE = CLASSIFIER_REGEX

#: Channels of the stem at width 1.
STEM_FILTERS = 32

#: (output channels, stride) of the 13 blocks at width 1: the MobileNet-V1 plan.
BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


@keyword_only(
    "norm", "input_shape", "num_classes", "pad_values", "width_multiplier", "name"
)
def ReActNetA(
    *,
    norm="bn",
    input_shape=None,
    input_tensor=None,
    include_top=True,
    weights=None,
    pooling=None,
    num_classes=1000,
    classifier_activation=None,
    width_multiplier=1.0,
    pad_values=1.0,
    name=None,
    stride2_padding="symmetric",
    init="reference",
):
    """ReActNet-A: a binary MobileNet-V1 with RSign and RPReLU.

    Stem: full-precision 3x3 stride-2 convolution to 32 channels (no activation, as in
    ReActNet), then 13 `larq_nobn.blocks.reactnet_block`s with output channels
    64 (stride 1, channel doubling), 128 (s2), 128, 256 (s2), 256, 512 (s2), 512 x 5,
    1024 (s2), 1024, global average pooling and a full-precision dense classifier named
    `classifier` (returns logits). At 224x224x3 and 1000 classes the model has
    28,253,184 binary weights and about 29.3 M parameters.

    Variants (`norm`):

    - `"bn"`: ReActNet-A as published: BatchNormalization after the stem and after
      every binary convolution. Binary convolutions are larq `QuantConv2D`s with
      ReActNet's per-output-channel scaled weight sign (`ChannelScaledSign`, clamp STE,
      no weight clipping) on `RSign` inputs (learnable shift + sign).
    - `"abn"`: every BatchNormalization (stem included) replaced by `larq_nobn.ABN`;
      the classifier has no normalization in ReActNet, so there is none to keep.
    - `"bf"` ("BNN - BN = ?"): no normalization layer; the stem is a full-precision
      ScaledWS convolution, binary convolutions are ScaledWS binary convolutions
      (`ScaledWSQuantConv2D` + `ChannelScaledSign` + `RSign`), and every residual is
      `shortcut + alpha * conv(beta * x)` with alpha = 0.2 and the beta scalars of the
      paper's table (layers `block{i}_beta1/2`). The classifier is an ordinary `Dense`
      (like NFNets and the paper's code); train with `larq_nobn.AGC` using
      `AGC_CLIP_FACTOR` and `AGC_EXCLUDE`.
    - `"none"`: `"bn"` with every normalization layer deleted.

    Difference to the PyTorch reference: by default the binary 3x3 convolutions pad
    with +1 (`pad_values=1.0`, LCE's fast path) rather than 0; `pad_values=0.0` gives
    the reference's zero padding (LCE then runs only on ARM). Stride-2 layers align
    as the reference (`stride2_padding="symmetric"`).

    # Arguments
        norm: One of `"bn"`, `"abn"`, `"bf"`, `"none"`. The default, `"bn"`, is the
            published architecture, which any Keras optimizer trains; it is the default
            of every zoo model and of `larq-nobn train` (`"bf"` needs `larq_nobn.AGC`).
        input_shape: `(height, width, channels)` of the input; 28x28 and up work (odd
            feature maps are rounded up by every stride-2 stage, shortcut pools
            included; the reference cannot run there: its `AvgPool2d(2)` shortcut
            rounds down and its stride-2 convolution up, so it needs an even map at
            every stride-2 block, e.g. sides that are multiples of 32). Default: the
            shape of `input_tensor`, else `(224, 224, 3)`.
        input_tensor: A tensor to build the model on, instead of a new `Input`; the
            model's inputs are then its source inputs.
        include_top: `False`: the feature extractor, up to the output of `block13`
            (before the pooling and the classifier), for transfer learning.
        weights: `None` or the path of a weights file saved from the same
            architecture, loaded by layer name (see `larq_nobn.zoo.common`); with
            `include_top=False` the file may be the whole model's.
        pooling: With `include_top=False`: `None` (the `block13` feature map), `"avg"`
            or `"max"` (global pooling to `(channels,)`).
        num_classes: Number of classes.
        classifier_activation: `None` (logits) or `"softmax"` (probabilities, layer
            `predictions`).
        width_multiplier: Scales every width (32 x multiplier stem channels, rounded,
            and the doublings from there); < 1 gives small models for tests and CPU
            experiments.
        pad_values: Padding value of the binary 3x3 convolutions, 1.0 or 0.0.
        name: Model name, default `reactnet_a_{norm}`.
        stride2_padding: Alignment of the stride-2 convolutions and pools, one of
            `larq_nobn.blocks.STRIDE2_PADDINGS`: `"symmetric"` (default) pads as the
            PyTorch reference (first window one row / column before the input);
            `"tf_same"` is TensorFlow's `"same"` (extra padding at the bottom / right
            only), the zoo's alignment before issue 16.
        init: `"reference"` (default): the initialization of the reference code,
            VITA-Group/BNN_NoBN's: binary convs U(0, 1e-3), stem and
            classifier torch's defaults; `"keras"`: Keras' defaults (Glorot). See
            `larq_nobn.zoo.initialization` (scheme `"bnn_nobn"`).

    # Returns
        A functional `tf.keras.Model` from images to logits (or the features, with
        `include_top=False`).

    # Raises
        ValueError: for an unknown `init`, `stride2_padding`, `norm`, `pad_values`,
            `pooling` or `classifier_activation`, an invalid `input_shape`, `num_classes` or
            `width_multiplier`, or `weights` that do not fit.
        TypeError: More positional arguments than the deprecated positional form
            (`norm, input_shape, num_classes, pad_values, width_multiplier, name`, which
            warns) takes.
        FileNotFoundError: No file at `weights`.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?: Training Binary Neural Networks without Batch
          Normalization](https://arxiv.org/abs/2104.08215)
    """
    check_norm(norm)
    initialize = initializer(init, "bnn_nobn")
    check_top(include_top, pooling, classifier_activation)
    inputs, x = model_input(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, name="input")
    check_num_classes(num_classes)
    check_pad_values(pad_values)
    check_stride2_padding(stride2_padding)
    base = scaled_width(STEM_FILTERS, width_multiplier)
    variance = ExpectedVariance(ALPHA) if norm == "bf" else None

    x = full_precision_conv(
        base, 3, norm=norm, strides=2, stride2_padding=stride2_padding,
        name="stem_conv",
    )(x)
    x = normalize(x, norm, "stem_norm")
    for i, (filters, strides) in enumerate(BLOCKS, start=1):
        x = reactnet_block(
            x,
            base * filters // STEM_FILTERS,
            norm=norm,
            strides=strides,
            variance=variance,
            pad_values=pad_values,
            stride2_padding=stride2_padding,
            name=f"block{i}",
        )
    name = name or f"reactnet_a_{norm}"
    return finish_builder(
        inputs,
        x,
        lambda x: classifier(x, num_classes),
        name,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        weights=weights,
        initialize=initialize,
    )
