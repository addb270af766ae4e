"""Binary ResNet-18s in the norm variants `bn`, `abn`, `bf` and `none`: the Bi-Real /
ReActNet-18 of the BN-free paper and the CIFAR ResNet of the ABN paper."""

import tensorflow as tf

from larq_nobn.blocks import (
    ALPHA,
    CLASSIFIER_REGEX,
    ExpectedVariance,
    HardTanh,
    binarynet_basic_block,
    bireal_block,
    check_choice,
    check_input_shape,
    check_norm,
    check_num_classes,
    check_pad_values,
    classifier,
    full_precision_conv,
    normalize,
    scaled_width,
)

__all__ = ["AGC_CLIP_FACTOR", "AGC_EXCLUDE", "STEMS", "VARIANTS", "ResNet18"]

#: Adaptive gradient clipping factor for the `bf` variants. The BN-free paper uses 0.02
#: in its ImageNet scripts (batch 256) and 0.04 as its `train.py` default. These
#: CIFAR-sized models train with smaller batches (128-256), and NFNets' guidance is
#: that smaller batches tolerate (and need) a larger factor, so 0.04.
AGC_CLIP_FACTOR = 0.04

#: Variable-name regex of what AGC must not clip: the classifier's kernel and bias only
#: (the stem is clipped), as in the BN-free paper.
AGC_EXCLUDE = CLASSIFIER_REGEX

VARIANTS = ("reactnet", "abn_paper")
STEMS = ("cifar", "imagenet")

#: Widths of the stages at width 1.
REACTNET_WIDTHS = (64, 128, 256, 512)
ABN_PAPER_WIDTHS = (80, 160, 320)

#: Residuals per stage of the reactnet variant (one binary conv each) and BasicBlocks
#: per stage of the abn_paper variant (two binary convs each).
REACTNET_DEPTH = 4
ABN_PAPER_DEPTH = 2

#: Inputs up to this size (height and width) default to the CIFAR stem.
CIFAR_STEM_MAX_SIZE = 64


def ResNet18(
    norm="bf",
    input_shape=(32, 32, 3),
    num_classes=10,
    variant="reactnet",
    stem=None,
    pad_values=1.0,
    width_multiplier=1.0,
    name=None,
):
    """Binary ResNet-18: ReActNet-18 (`variant="reactnet"`) or the ABN paper's ResNet.

    **`variant="reactnet"`**: the Bi-Real Net / ReActNet-18 layout used by "BNN - BN = ?"
    on CIFAR: stem, 4 stages of 4 residuals (`larq_nobn.blocks.bireal_block`: one binary
    3x3 convolution per shortcut, RSign inputs, ReActNet's scaled weight sign, RPReLU),
    widths 64-128-256-512, stride 2 at the first residual of stages 2-4 with the
    shortcut `AvgPool2D(2)` -> full-precision 1x1 conv (+ normalization); global average
    pooling and a full-precision dense `classifier`. 10,985,472 binary weights at width
    1, about 11.2 M parameters. Stems: `"cifar"` 3x3 stride-1 conv, no max-pool (the
    BN-free paper's public code uses the ImageNet stem on CIFAR by mistake);
    `"imagenet"` 7x7 stride-2 conv + 3x3 stride-2 max-pool; both followed by the
    normalization and no activation, as in Bi-Real Net.

    - `"bn"`: as published, BatchNormalization after the stem, every binary conv and
      every shortcut conv. `"abn"`: each of those is `larq_nobn.ABN`. `"none"`: deleted.
    - `"bf"`: no normalization; ScaledWS stem and shortcut convs, ScaledWS binary
      convs, residuals `shortcut + 0.2 * conv(beta * x)` with beta from
      `larq_nobn.blocks.ExpectedVariance` (reset after each downsampling residual), a
      plain `Dense` classifier; train with AGC (`AGC_CLIP_FACTOR`, `AGC_EXCLUDE`).

    **`variant="abn_paper"`**: the CIFAR ResNet of BinaryNet.pytorch (`resnet_binary`,
    depth 18) that the ABN paper trains: stem 3x3 conv 3->80 (full precision) + norm +
    HardTanh; 3 stages of 2 `larq_nobn.blocks.binarynet_basic_block`s, widths
    80/160/320, stride 2 at stages 2 and 3, binary 1x1 shortcut conv + norm where the
    shape changes; head global average pool + norm + HardTanh + dense (full precision)
    + norm, returning logits (the reference adds a log-softmax). As in the reference
    the last block skips its output norm + HardTanh (the head's take their place).
    Binary convs binarize weights and inputs with plain sign (larq `ste_sign`, weights
    clipped by `weight_clip`), the activations being HardTanh outputs. 4,326,400 binary
    weights at width 1. `"abn"` replaces every BN before the pooling with `ABN` and keeps
    the head's two plain BNs (BatchNorm1d in the ABN reference code); `"none"` deletes
    every normalization, head included.

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
    is global average pooling + the plain dense `classifier`.

    # Arguments
        norm: One of `"bn"`, `"abn"`, `"bf"`, `"none"`.
        input_shape: `(height, width, channels)`; 28x28 and up work.
        num_classes: Number of classes.
        variant: `"reactnet"` or `"abn_paper"`.
        stem: `"cifar"`, `"imagenet"` or None: `"cifar"` for inputs of at most 64x64
            pixels, else `"imagenet"`. The `abn_paper` variant only has the CIFAR stem.
        pad_values: Padding value of the binary 3x3 convolutions: 1.0 (LCE's fast path)
            or 0.0 (zero padding as the PyTorch references; LCE runs it on ARM only).
        width_multiplier: Scales every width (rounded); < 1 gives small models for tests
            and CPU experiments.
        name: Model name, default `resnet18_{variant}_{norm}`.

    # Returns
        A functional `tf.keras.Model` from images to logits.

    # Raises
        ValueError: for an unknown `norm`, `variant`, `stem` or `pad_values`, or an
            invalid `input_shape`, `num_classes` or `width_multiplier`.

    # References
        - [Bi-Real Net](https://arxiv.org/abs/1808.00278)
        - [ReActNet](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?](https://arxiv.org/abs/2104.08215)
        - [Attention-based BN](https://doi.org/10.3390/e27060645)
    """
    check_norm(norm)
    check_choice(variant, VARIANTS, "variant")
    input_shape = check_input_shape(input_shape)
    check_num_classes(num_classes)
    check_pad_values(pad_values)
    if stem is None:
        small = all(d is not None and d <= CIFAR_STEM_MAX_SIZE for d in input_shape[:2])
        stem = "cifar" if small or variant == "abn_paper" else "imagenet"
    check_choice(stem, STEMS if variant == "reactnet" else ("cifar",), "stem")
    build = _reactnet18 if variant == "reactnet" else _abn_paper_resnet
    inputs = tf.keras.Input(shape=input_shape, name="input")
    outputs = build(
        inputs,
        norm=norm,
        num_classes=num_classes,
        stem=stem,
        pad_values=pad_values,
        width_multiplier=width_multiplier,
    )
    return tf.keras.Model(inputs, outputs, name=name or f"resnet18_{variant}_{norm}")


def _reactnet18(x, *, norm, num_classes, stem, pad_values, width_multiplier):
    base = scaled_width(REACTNET_WIDTHS[0], width_multiplier)
    if stem == "cifar":
        x = full_precision_conv(base, 3, norm=norm, name="stem_conv")(x)
        x = normalize(x, norm, "stem_norm")
    else:
        x = full_precision_conv(base, 7, norm=norm, strides=2, name="stem_conv")(x)
        x = normalize(x, norm, "stem_norm")
        x = tf.keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
    variance = ExpectedVariance(ALPHA) if norm == "bf" else None
    for s, width in enumerate(REACTNET_WIDTHS):
        for r in range(REACTNET_DEPTH):
            x = bireal_block(
                x,
                base * width // REACTNET_WIDTHS[0],
                norm=norm,
                strides=2 if s > 0 and r == 0 else 1,
                variance=variance,
                pad_values=pad_values,
                name=f"stage{s + 1}_block{r + 1}",
            )
    return classifier(x, num_classes)


def _abn_paper_resnet(x, *, norm, num_classes, stem, pad_values, width_multiplier):
    del stem  # always "cifar"
    base = scaled_width(ABN_PAPER_WIDTHS[0], width_multiplier)
    x = full_precision_conv(base, 3, norm=norm, name="stem_conv")(x)
    x = normalize(x, norm, "stem_norm")
    x = HardTanh(name="stem_tanh")(x)
    variance = ExpectedVariance(ALPHA) if norm == "bf" else None
    for s, width in enumerate(ABN_PAPER_WIDTHS):
        for b in range(ABN_PAPER_DEPTH):
            last = s == len(ABN_PAPER_WIDTHS) - 1 and b == ABN_PAPER_DEPTH - 1
            x = binarynet_basic_block(
                x,
                base * width // ABN_PAPER_WIDTHS[0],
                norm=norm,
                strides=2 if s > 0 and b == 0 else 1,
                variance=variance,
                pad_values=pad_values,
                output_activation=not last,
                name=f"stage{s + 1}_block{b + 1}",
            )
    if norm == "bf":
        return classifier(x, num_classes)
    x = tf.keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = normalize(x, norm, "head_norm", head=True)
    x = HardTanh(name="head_tanh")(x)
    x = classifier(x, num_classes, pool=False)
    return normalize(x, norm, "logits_norm", head=True)
