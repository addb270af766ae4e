"""Binary ResNet-18s in the norm variants `bn`, `abn`, `bf` and `none`: the Bi-Real /
ReActNet-18 of the BN-free paper and the CIFAR ResNet of the ABN paper."""

import math

from larq_nobn.blocks import (
    ALPHA,
    CLASSIFIER_REGEX,
    ExpectedVariance,
    HardTanh,
    binarynet_basic_block,
    bireal_block,
    check_choice,
    check_norm,
    check_num_classes,
    check_pad_values,
    classifier,
    full_precision_conv,
    normalize,
    scaled_width,
)
from larq_nobn.zoo.common import (
    check_top,
    features_output,
    finish_model,
    model_input,
    top_output,
)

import tensorflow as tf

__all__ = [
    "AGC_CLIP_FACTOR",
    "AGC_EXCLUDE",
    "BETA_SCHEDULES",
    "DEFAULT_INPUT_SHAPE",
    "HEAD_POOLS",
    "STEMS",
    "VARIANTS",
    "ResNet18",
    "reactnet18_betas",
]

#: Adaptive gradient clipping factor for the `bf` variants. The BN-free paper uses 0.02
#: in its ImageNet scripts (batch 256) and 0.04 as its `train.py` default. These
#: CIFAR-sized models train with smaller batches (128-256), and NFNets' guidance is
#: that smaller batches tolerate (and need) a larger factor, so 0.04.
AGC_CLIP_FACTOR = 0.04

#: Variable-name regex of what AGC must not clip: the classifier's kernel and bias only
#: (the stem is clipped), as in the BN-free paper.
AGC_EXCLUDE = CLASSIFIER_REGEX

VARIANTS = ("reactnet", "abn_paper")
#: The `input_shape` of `ResNet18` without `input_shape` and `input_tensor`: CIFAR's.
DEFAULT_INPUT_SHAPE = (32, 32, 3)
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

#: How the `bf` ReActNet-18 chooses its betas (see `reactnet18_betas`).
BETA_SCHEDULES = ("reference", "expected_variance")

#: Head pooling of the abn_paper variant: the reference's `AvgPool2d(8)` or global.
HEAD_POOLS = ("reference", "global")

#: Pool size of the abn_paper head in the reference (`nn.AvgPool2d(8)`).
ABN_PAPER_HEAD_POOL = 8


def reactnet18_betas(depths=(REACTNET_DEPTH,) * 4, alpha=ALPHA, schedule="reference"):
    """The input scales beta of the residuals of the BN-free ReActNet-18.

    `"reference"`: the loop of `BiRealNet._make_layer` in VITA-Group/BNN_NoBN
    models/Qaw_reactnet_18_bf.py, with expected variance `v` starting at 1: a stage's
    first block takes `1 / sqrt(v)` from the variance *before* the reset of a
    downsampling stage (stages 2-4 reset `v` to 1) and adds nothing; every other block
    takes `1 / sqrt(v)` and then adds `alpha^2`. At depth 4 and alpha 0.2: 1, 1, 0.9806,
    0.9623 in stage 1 and 0.9449, 1, 0.9806, 0.9623 in stages 2-4.

    `"expected_variance"`: the schedule of ReActNet-A's BN-free blocks applied per
    residual (every block adds `alpha^2` after taking its beta, and a downsampling block
    resets `v` to 1 after itself): 1, 0.9806, 0.9623, 0.9449, then 0.9285, 1, 0.9806,
    0.9623 per later stage.

    # Arguments
        depths: Residuals per stage; stages after the first start with a downsampling
            residual.
        alpha: The residual weight.
        schedule: One of `BETA_SCHEDULES`.

    # Returns
        A list of `sum(depths)` floats, in block order.

    # Raises
        ValueError: for an unknown `schedule`.
    """
    check_choice(schedule, BETA_SCHEDULES, "beta schedule")
    betas, variance = [], 1.0
    for stage, depth in enumerate(depths):
        for block in range(depth):
            betas.append(1.0 / math.sqrt(variance))
            downsample = stage > 0 and block == 0
            if downsample:
                variance = 1.0
            elif schedule == "expected_variance" or block > 0:
                variance += alpha**2
    return betas


def ResNet18(
    norm="bn",
    input_shape=None,
    num_classes=10,
    variant="reactnet",
    stem=None,
    pad_values=1.0,
    width_multiplier=1.0,
    name=None,
    *,
    float_shortcut=False,
    beta_schedule="reference",
    head_pool="reference",
    clip_latent_weights=False,
    input_tensor=None,
    include_top=True,
    pooling=None,
    classifier_activation=None,
    weights=None,
):
    """Binary ResNet-18: ReActNet-18 (`variant="reactnet"`) or the ABN paper's ResNet.

    **`variant="reactnet"`**: the Bi-Real Net / ReActNet-18 layout used by "BNN - BN = ?"
    on CIFAR: stem, 4 stages of 4 residuals (`larq_nobn.blocks.bireal_block`: one binary
    3x3 convolution per shortcut, RSign inputs, ReActNet's scaled weight sign, RPReLU),
    widths 64-128-256-512, stride 2 at the first residual of stages 2-4 with the
    shortcut `AvgPool2D(2)` -> 1x1 conv with binary weights on the real-valued pooled
    input (+ normalization), as `binaryconv1x1` in VITA-Group/BNN_NoBN
    models/Qaw_reactnet_18_*.py (`float_shortcut=True`: Bi-Real Net's full-precision
    1x1 conv); global average pooling and a full-precision dense `classifier`.
    11,157,504 binary weights at width 1, 32x32 and 10 classes (10,985,472 with
    `float_shortcut=True`), about 11.2 M parameters. Stems: `"cifar"` 3x3 stride-1
    conv, no max-pool (the BN-free paper's public code uses the ImageNet stem on CIFAR by mistake);
    `"imagenet"` 7x7 stride-2 conv + 3x3 stride-2 max-pool; both followed by the
    normalization and no activation, as in Bi-Real Net.

    - `"bn"`: as published, BatchNormalization after the stem, every binary conv and
      every shortcut conv. `"abn"`: each of those is `larq_nobn.ABN`. `"none"`: deleted.
    - `"bf"`: no normalization; ScaledWS stem, ScaledWS binary convs (the shortcut's
      on its real-valued input), residuals `shortcut + 0.2 * conv(beta * x)` with the
      betas of `reactnet18_betas` (`beta_schedule`), a plain `Dense` classifier; train
      with AGC (`AGC_CLIP_FACTOR`, `AGC_EXCLUDE`).

    **`variant="abn_paper"`**: the CIFAR ResNet of BinaryNet.pytorch (`resnet_binary`,
    depth 18) that the ABN paper trains: stem 3x3 conv 3->80 (full precision) + norm +
    HardTanh; 3 stages of 2 `larq_nobn.blocks.binarynet_basic_block`s, widths
    80/160/320, stride 2 at stages 2 and 3, binary 1x1 shortcut conv + norm where the
    shape changes; head global average pool + norm + HardTanh + dense (full precision)
    + norm, returning logits (the reference adds a log-softmax). As in the reference
    the last block skips its output norm + HardTanh (the head's take their place). The
    head pools as the reference's `nn.AvgPool2d(8)` (gushan/ABN
    models/resnet_abn_binary.py, `resnet_binary.py`) and flattens: 320 features at
    32x32, 2x2x320 = 1280 at 64x64; maps smaller than 8x8 (inputs under 32 pixels) are
    pooled whole; `head_pool="global"` always pools globally (320). Binary convs
    binarize inputs with larq `ste_sign` (the activations being HardTanh outputs) and
    weights with sign and an identity straight-through gradient, latent weights never
    clipped (gushan/ABN models/binarized_modules.py `Binarize`);
    `clip_latent_weights=True` uses larq's `ste_sign` + `weight_clip` instead.
    4,326,400 binary weights at width 1. `"abn"` replaces every BN before the pooling
    with `ABN` (momentum 0.1, the reference's) and keeps the head's two plain BNs
    (BatchNorm1d in the ABN reference code); `"none"` deletes every normalization,
    head included.

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
    is the pooling above + the plain dense `classifier`.

    # Arguments
        norm: One of `"bn"`, `"abn"`, `"bf"`, `"none"`. The default, `"bn"`, is the
            published architecture, which any Keras optimizer trains; it is the default
            of every zoo model and of `larq-nobn train` (`"bf"` needs `larq_nobn.AGC`).
        input_shape: `(height, width, channels)`; 28x28 and up work. Default: the
            shape of `input_tensor`, else `(32, 32, 3)`.
        num_classes: Number of classes.
        variant: `"reactnet"` or `"abn_paper"`.
        stem: `"cifar"`, `"imagenet"` or None: `"cifar"` for inputs of at most 64x64
            pixels, else `"imagenet"`. The `abn_paper` variant only has the CIFAR stem.
        pad_values: Padding value of the binary 3x3 convolutions: 1.0 (LCE's fast path)
            or 0.0 (zero padding as the PyTorch references; LCE runs it on ARM only).
        width_multiplier: Scales every width (rounded); < 1 gives small models for tests
            and CPU experiments.
        name: Model name, default `resnet18_{variant}_{norm}`.
        float_shortcut: reactnet only: full-precision shortcut convs (Bi-Real Net)
            instead of the reference's binary-weight ones.
        beta_schedule: reactnet `"bf"` only: one of `BETA_SCHEDULES` (see
            `reactnet18_betas`).
        head_pool: abn_paper only: one of `HEAD_POOLS`.
        clip_latent_weights: abn_paper only: larq's clipped `ste_sign` + `weight_clip`
            for the binary weights instead of the reference's identity STE.
        input_tensor: A tensor to build the model on, instead of a new `Input`; the
            model's inputs are then its source inputs.
        include_top: `False`: the feature extractor, up to the output of the last
            block (before the head's pooling and classifier), for transfer learning.
        pooling: With `include_top=False`: `None` (the last block's feature map),
            `"avg"` or `"max"` (global pooling to `(channels,)`).
        classifier_activation: `None` (logits) or `"softmax"` (probabilities, layer
            `predictions`).
        weights: `None` or the path of a weights file saved from the same
            architecture, loaded by layer name (see `larq_nobn.zoo.common`); with
            `include_top=False` the file may be the whole model's.

    # Returns
        A functional `tf.keras.Model` from images to logits (or the features, with
        `include_top=False`).

    # Raises
        ValueError: for an unknown `norm`, `variant`, `stem`, `pad_values`,
            `beta_schedule`, `head_pool`, `pooling` or `classifier_activation`, an
            invalid `input_shape`, `num_classes` or `width_multiplier`, or `weights`
            that do not fit.
        FileNotFoundError: No file at `weights`.

    # References
        - [Bi-Real Net](https://arxiv.org/abs/1808.00278)
        - [ReActNet](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?](https://arxiv.org/abs/2104.08215)
        - [Attention-based BN](https://doi.org/10.3390/e27060645)
    """
    check_norm(norm)
    check_choice(variant, VARIANTS, "variant")
    check_top(include_top, pooling, classifier_activation)
    inputs, x = model_input(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, name="input")
    check_num_classes(num_classes)
    check_pad_values(pad_values)
    if stem is None:
        small = all(d is not None and d <= CIFAR_STEM_MAX_SIZE for d in x.shape[1:3])
        stem = "cifar" if small or variant == "abn_paper" else "imagenet"
    check_choice(stem, STEMS if variant == "reactnet" else ("cifar",), "stem")
    check_choice(beta_schedule, BETA_SCHEDULES, "beta_schedule")
    check_choice(head_pool, HEAD_POOLS, "head_pool")
    common = dict(norm=norm, pad_values=pad_values, width_multiplier=width_multiplier)
    if variant == "reactnet":
        x = _reactnet18(
            x, stem=stem, float_shortcut=float_shortcut, beta_schedule=beta_schedule,
            **common,
        )
    else:
        x = _abn_paper_resnet(x, clip_latent_weights=clip_latent_weights, **common)
    name = name or f"resnet18_{variant}_{norm}"
    if not include_top:
        x = features_output(x, pooling)
        return finish_model(inputs, x, name, weights=weights, include_top=False)
    if variant == "reactnet":
        x = classifier(x, num_classes)
    else:
        x = _abn_paper_head(x, norm, num_classes, head_pool)
    x = top_output(x, classifier_activation)
    return finish_model(inputs, x, name, weights=weights)


def _reactnet18(
    x, *, norm, stem, pad_values, width_multiplier, float_shortcut, beta_schedule
):
    """The stem and the 16 residuals of ReActNet-18, to the last block's output."""
    base = scaled_width(REACTNET_WIDTHS[0], width_multiplier)
    if stem == "cifar":
        x = full_precision_conv(base, 3, norm=norm, name="stem_conv")(x)
        x = normalize(x, norm, "stem_norm")
    else:
        x = full_precision_conv(base, 7, norm=norm, strides=2, name="stem_conv")(x)
        x = normalize(x, norm, "stem_norm")
        x = tf.keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
    betas = iter(reactnet18_betas(schedule=beta_schedule))
    for s, width in enumerate(REACTNET_WIDTHS):
        for r in range(REACTNET_DEPTH):
            x = bireal_block(
                x,
                base * width // REACTNET_WIDTHS[0],
                norm=norm,
                strides=2 if s > 0 and r == 0 else 1,
                beta=next(betas),
                pad_values=pad_values,
                float_shortcut=float_shortcut,
                name=f"stage{s + 1}_block{r + 1}",
            )
    return x


def _abn_paper_resnet(x, *, norm, pad_values, width_multiplier, clip_latent_weights):
    """The stem and the 6 BasicBlocks of the ABN paper's ResNet, to the last block's
    output (without its norm + HardTanh: the head's take their place)."""
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
                clip_latent_weights=clip_latent_weights,
                name=f"stage{s + 1}_block{b + 1}",
            )
    return x


def _abn_paper_head(x, norm, num_classes, head_pool):
    """The head of the ABN paper's ResNet: pool, norm + HardTanh, classifier, norm."""
    x = _abn_paper_pool(x, head_pool)
    if norm == "bf":
        return classifier(x, num_classes, pool=False)
    x = normalize(x, norm, "head_norm", head=True)
    x = HardTanh(name="head_tanh")(x)
    x = classifier(x, num_classes, pool=False)
    return normalize(x, norm, "logits_norm", head=True)


def _abn_paper_pool(x, head_pool):
    """The reference's `AvgPool2d(8)` + flatten, or global average pooling."""
    small = any(d is None or d < ABN_PAPER_HEAD_POOL for d in x.shape[1:3])
    if head_pool == "global" or small:
        return tf.keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = tf.keras.layers.AveragePooling2D(ABN_PAPER_HEAD_POOL, name="avg_pool")(x)
    return tf.keras.layers.Flatten(name="flatten")(x)
