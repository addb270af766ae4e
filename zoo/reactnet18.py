"""ReActNet-18, the Bi-Real Net / ReActNet-18 of "BNN - BN = ?" (VITA-Group/BNN_NoBN),
in the norm variants `bn`, `abn`, `bf` and `none`."""

import math

from larq_nobn.blocks import (
    ALPHA,
    bireal_block,
    check_norm,
    check_stride2_padding,
    full_precision_conv,
    max_pool,
    normalize,
)
from larq_nobn.checks import check_choice, check_num_classes, check_pad_values, scaled_width
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

__all__ = [
    "AGC_CLIP_FACTOR",
    "AGC_EXCLUDE",
    "BETA_SCHEDULES",
    "DEFAULT_INPUT_SHAPE",
    "STEMS",
    "ReActNet18",
    "reactnet18_betas",
]

#: Adaptive gradient clipping factor for the `bf` variant (see
#: `larq_nobn.zoo.residual.CIFAR_AGC_CLIP_FACTOR`).
AGC_CLIP_FACTOR = CIFAR_AGC_CLIP_FACTOR

#: Variable-name regex of what AGC must not clip: the classifier's kernel and bias only
#: (the stem is clipped), as in the BN-free paper.
AGC_EXCLUDE = CLASSIFIER_REGEX

#: The `input_shape` of `ReActNet18` without `input_shape` and `input_tensor`: CIFAR's.
DEFAULT_INPUT_SHAPE = CIFAR_INPUT_SHAPE
STEMS = ("cifar", "imagenet")

#: Widths of the stages at width 1.
WIDTHS = (64, 128, 256, 512)

#: Residuals per stage (one binary conv each).
DEPTH = 4

#: Inputs up to this size (height and width) default to the CIFAR stem.
CIFAR_STEM_MAX_SIZE = 64

#: How the `bf` ReActNet-18 chooses its betas (see `reactnet18_betas`).
BETA_SCHEDULES = ("reference", "expected_variance")


def reactnet18_betas(depths=(DEPTH,) * 4, alpha=ALPHA, schedule="reference"):
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


@keyword_only()
def ReActNet18(
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
    stem=None,
    float_shortcut=False,
    beta_schedule="reference",
    stride2_padding="symmetric",
    init="reference",
):
    """ReActNet-18: the Bi-Real Net / ReActNet-18 layout used by "BNN - BN = ?" on CIFAR.

    Stem, 4 stages of 4 residuals (`larq_nobn.blocks.bireal_block`: one binary 3x3
    convolution per shortcut, RSign inputs, ReActNet's scaled weight sign, RPReLU),
    widths 64-128-256-512, stride 2 at the first residual of stages 2-4 with the
    shortcut `AvgPool2D(2)` -> 1x1 conv with binary weights on the real-valued pooled
    input (+ normalization), as `binaryconv1x1` in VITA-Group/BNN_NoBN
    models/Qaw_reactnet_18_*.py (`float_shortcut=True`: Bi-Real Net's full-precision
    1x1 conv); global average pooling and a full-precision dense classifier.
    11,157,504 binary weights at width 1, 32x32 and 10 classes (10,985,472 with
    `float_shortcut=True`), about 11.2 M parameters. Stems: `"cifar"` 3x3 stride-1
    conv, no max-pool (the BN-free paper's public code uses the ImageNet stem on CIFAR
    by mistake); `"imagenet"` 7x7 stride-2 conv + 3x3 stride-2 max-pool; both followed
    by the normalization and no activation, as in Bi-Real Net.

    - `"bn"`: as published, BatchNormalization after the stem, every binary conv and
      every shortcut conv. `"abn"`: each of those is `larq_nobn.ABN`. `"none"`: deleted.
    - `"bf"`: no normalization; ScaledWS stem, ScaledWS binary convs (the shortcut's
      on its real-valued input), residuals `shortcut + 0.2 * conv(beta * x)` with the
      betas of `reactnet18_betas` (`beta_schedule`), a plain `Dense` classifier; train
      with AGC (`AGC_CLIP_FACTOR`, `AGC_EXCLUDE`).

    ```python
    model = larq_nobn.zoo.ReActNet18(norm="bf", input_shape=(32, 32, 3), num_classes=10)
    ```

    # Arguments
        norm: One of `"bn"`, `"abn"`, `"bf"`, `"none"`. The default, `"bn"`, is the
            published architecture, which any Keras optimizer trains (`"bf"` needs
            `larq_nobn.AGC`).
        input_shape: `(height, width, channels)`; 28x28 and up work (odd maps are
            rounded up by every stride-2 stage, shortcut pools included; the
            reference cannot run there: its `AvgPool2d(2)` shortcut rounds down and
            its stride-2 convolution up, so it needs an even map at every stride-2
            block: with the CIFAR stem, sides that are multiples of 8). Default: the
            shape of `input_tensor`, else `(32, 32, 3)`.
        input_tensor: A tensor to build the model on, instead of a new `Input`; the
            model's inputs are then its source inputs.
        include_top: `False`: the feature extractor, up to the output of the last
            block (before the pooling and the classifier), for transfer learning.
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
        name: Model name, default `reactnet18_{norm}`.
        stem: `"cifar"`, `"imagenet"` or None: `"cifar"` for inputs of at most 64x64
            pixels, else `"imagenet"`.
        float_shortcut: Full-precision shortcut convs (Bi-Real Net) instead of the
            reference's binary-weight ones.
        beta_schedule: `"bf"` only: one of `BETA_SCHEDULES` (see `reactnet18_betas`).
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
        ValueError: for an unknown `init`, `stride2_padding`, `norm`, `stem`, `pad_values`,
            `beta_schedule`, `pooling` or `classifier_activation`, an invalid
            `input_shape`, `num_classes` or `width_multiplier`, or `weights` that do
            not fit.
        TypeError: Positional arguments.
        FileNotFoundError: No file at `weights`.

    # References
        - [Bi-Real Net](https://arxiv.org/abs/1808.00278)
        - [ReActNet](https://arxiv.org/abs/2003.03488)
        - [BNN - BN = ?](https://arxiv.org/abs/2104.08215)
    """
    check_norm(norm)
    initialize = initializer(init, "bnn_nobn")
    check_top(include_top, pooling, classifier_activation)
    inputs, x = model_input(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, name="input")
    check_num_classes(num_classes)
    check_pad_values(pad_values)
    if stem is None:
        small = all(d is not None and d <= CIFAR_STEM_MAX_SIZE for d in x.shape[1:3])
        stem = "cifar" if small else "imagenet"
    check_choice(stem, STEMS, "stem")
    check_choice(beta_schedule, BETA_SCHEDULES, "beta_schedule")
    check_stride2_padding(stride2_padding)
    base = scaled_width(WIDTHS[0], width_multiplier)
    x = _stem(x, base, norm, stem, stride2_padding)
    betas = iter(reactnet18_betas(schedule=beta_schedule))
    for s, width in enumerate(WIDTHS):
        for r in range(DEPTH):
            x = bireal_block(
                x,
                base * width // WIDTHS[0],
                norm=norm,
                strides=2 if s > 0 and r == 0 else 1,
                beta=next(betas),
                pad_values=pad_values,
                float_shortcut=float_shortcut,
                stride2_padding=stride2_padding,
                name=f"stage{s + 1}_block{r + 1}",
            )
    name = name or f"reactnet18_{norm}"
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


def _stem(x, filters, norm, stem, stride2_padding):
    """The CIFAR stem (3x3 conv) or the ImageNet stem (7x7 stride-2 conv + max-pool),
    with the normalization after the conv."""
    if stem == "cifar":
        x = full_precision_conv(filters, 3, norm=norm, name="stem_conv")(x)
        return normalize(x, norm, "stem_norm")
    x = full_precision_conv(
        filters, 7, norm=norm, strides=2, stride2_padding=stride2_padding,
        name="stem_conv",
    )(x)
    x = normalize(x, norm, "stem_norm")
    return max_pool(x, stride2_padding=stride2_padding, name="stem_pool")
