"""The real-valued teacher of BNN_NoBN's distillation: torchvision's ResNet-34, in
torchvision's exact layout, so that a state dict trained with the authors' code (or
torchvision's ImageNet weights) loads into it (`larq_nobn.zoo.reference_weights`,
architecture `"resnet34"`).

```python
teacher = larq_nobn.zoo.reference_model("resnet34_cifar10.pth.tar",
                                        architecture="resnet34")
teacher.save("teacher.keras")  # then: larq-nobn train ... --teacher teacher.keras
```

VITA-Group/BNN_NoBN's `train.py` distils from `torchvision.models.resnet34(
pretrained=True)` with its `fc` replaced by `nn.Linear(512, classes)` and a
`--teacher_weight` state dict loaded where the classes are not ImageNet's, in eval
mode. It feeds the teacher the student's normalized batch as it is (a CIFAR image
goes into the ImageNet-layout network at 32x32), so the saved teacher takes the
student's input without preprocessing of its own.

# References
    - VITA-Group/BNN_NoBN, train.py (`--teacher resnet34`, `--teacher_weight`)
    - [Deep Residual Learning](https://arxiv.org/abs/1512.03385) and torchvision's
      `models.resnet34` (BasicBlock, layers `[3, 4, 6, 3]`)
"""

from __future__ import annotations

from larq_nobn.blocks import check_stride2_padding, full_precision_conv, max_pool, normalize
from larq_nobn.checks import check_num_classes, scaled_width
from larq_nobn.zoo.common import check_top, finish_builder, model_input
from larq_nobn.zoo.deprecation import keyword_only
from larq_nobn.zoo.residual import classifier

import tensorflow as tf

__all__ = [
    "DEFAULT_INPUT_SHAPE",
    "DEPTHS",
    "WIDTHS",
    "TorchvisionResNet34",
    "torchvision_modules",
]

#: BasicBlocks per stage (torchvision's `layers=[3, 4, 6, 3]`).
DEPTHS = (3, 4, 6, 3)

#: Widths of the stages at width 1.
WIDTHS = (64, 128, 256, 512)

#: The `input_shape` without `input_shape` and `input_tensor`: RGB images of any size,
#: as torchvision's network takes them (its average pool is adaptive), so one teacher
#: serves a 32x32 CIFAR student and a 224x224 ImageNet one.
DEFAULT_INPUT_SHAPE = (None, None, 3)


@keyword_only()
def TorchvisionResNet34(
    *,
    input_shape=None,
    input_tensor=None,
    include_top=True,
    weights=None,
    pooling=None,
    num_classes=1000,
    classifier_activation=None,
    width_multiplier=1.0,
    name=None,
    stride2_padding="symmetric",
):
    """torchvision's real-valued ResNet-34, layer for layer.

    Stem 7x7/2 conv (64, padding 3) + BN + ReLU + 3x3/2 max-pool (padding 1); 4 stages
    of BasicBlocks (3x3 conv + BN + ReLU + 3x3 conv + BN, plus the shortcut, then
    ReLU), 3/4/6/3 blocks of widths 64/128/256/512, stride 2 in the first conv of the
    first block of stages 2-4, whose shortcut is a 1x1/2 conv + BN; global average
    pool and a dense `classifier` with bias (torchvision's `fc`), returning logits.
    Convolutions have no bias; every BN is torch's (epsilon 1e-5, momentum 0.1 of
    the batch: Keras' 0.9). With `stride2_padding="symmetric"` (default) the stride-2
    convolutions and the max-pool pad both sides as torch does, so the model computes
    torchvision's outputs at any input size; the parameters are initialized by
    Keras' defaults (the model is meant to be loaded with trained weights).

    It is the zoo's common builder without `norm` (always BN) and `pad_values`
    (nothing is binary).

    # Arguments
        input_shape: `(height, width, channels)`; height and width may be `None`.
            Default: the shape of `input_tensor`, else `(None, None, 3)` (any size).
        input_tensor: A tensor to build the model on, instead of a new `Input`.
        include_top: `False`: up to the last block's feature map.
        weights: `None` or the path of a weights file saved from the same
            architecture (see `larq_nobn.zoo.common`); for a torchvision state dict
            use `larq_nobn.zoo.load_reference_weights(..., architecture="resnet34")`.
        pooling: With `include_top=False`: `None`, `"avg"` or `"max"`.
        num_classes: Number of classes (torchvision: 1000; BNN_NoBN's CIFAR teacher:
            the dataset's).
        classifier_activation: `None` (logits) or `"softmax"`.
        width_multiplier: Scales every width (rounded); < 1 for tests.
        name: Model name, default `torchvision_resnet34`.
        stride2_padding: One of `larq_nobn.blocks.STRIDE2_PADDINGS`.

    # Returns
        A functional `tf.keras.Model` from images to logits.

    # Raises
        ValueError: an invalid `input_shape`, `num_classes`, `width_multiplier`,
            `stride2_padding`, `pooling` or `classifier_activation`, or `weights` that
            do not fit.
        TypeError: Positional arguments.

    # References
        - [Deep Residual Learning](https://arxiv.org/abs/1512.03385)
        - VITA-Group/BNN_NoBN, train.py (the distillation teacher)
    """
    check_top(include_top, pooling, classifier_activation)
    check_num_classes(num_classes)
    check_stride2_padding(stride2_padding)
    inputs, x = model_input(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, name="input")
    base = scaled_width(WIDTHS[0], width_multiplier)
    x = full_precision_conv(
        base, 7, norm="bn", strides=2, stride2_padding=stride2_padding, name="stem_conv"
    )(x)
    x = normalize(x, "bn", "stem_norm")
    x = tf.keras.layers.ReLU(name="stem_relu")(x)
    x = max_pool(x, stride2_padding=stride2_padding, name="stem_pool")
    for s, depth in enumerate(DEPTHS):
        for b in range(depth):
            x = _basic_block(
                x, base * WIDTHS[s] // WIDTHS[0], 2 if s > 0 and b == 0 else 1,
                stride2_padding, f"stage{s + 1}_block{b + 1}",
            )
    return finish_builder(
        inputs, x, lambda x: classifier(x, num_classes), name or "torchvision_resnet34",
        include_top=include_top, pooling=pooling,
        classifier_activation=classifier_activation, weights=weights,
    )


def _basic_block(x, filters, strides, stride2_padding, name):
    """torchvision's `BasicBlock` (expansion 1)."""
    y = x
    for i in (1, 2):
        y = full_precision_conv(
            filters, 3, norm="bn", strides=strides if i == 1 else 1,
            stride2_padding=stride2_padding, name=f"{name}_conv{i}",
        )(y)
        y = normalize(y, "bn", f"{name}_norm{i}")
        if i == 1:
            y = tf.keras.layers.ReLU(name=f"{name}_relu1")(y)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = full_precision_conv(
            filters, 1, norm="bn", strides=strides, name=f"{name}_shortcut_conv"
        )(x)
        shortcut = normalize(shortcut, "bn", f"{name}_shortcut_norm")
    y = tf.keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return tf.keras.layers.ReLU(name=f"{name}_out")(y)


def torchvision_modules():
    """torchvision's ResNet-34 convolutions and their BNs, and the zoo layers they are.

    # Returns
        A list of `(conv, zoo conv, bn, zoo norm)`: the torchvision module names
        (`"layer2.0.downsample.0"`, `"layer2.0.downsample.1"`, ...) and the layers of
        `TorchvisionResNet34` (`"stage2_block1_shortcut_conv"`, ...). The `fc` is the
        layer `"classifier"`.
    """
    modules = [("conv1", "stem_conv", "bn1", "stem_norm")]
    for s, depth in enumerate(DEPTHS):
        for b in range(depth):
            ref, zoo = f"layer{s + 1}.{b}", f"stage{s + 1}_block{b + 1}"
            modules += [
                (f"{ref}.conv{i}", f"{zoo}_conv{i}", f"{ref}.bn{i}", f"{zoo}_norm{i}")
                for i in (1, 2)
            ]
            if s > 0 and b == 0:
                modules.append((
                    f"{ref}.downsample.0", f"{zoo}_shortcut_conv",
                    f"{ref}.downsample.1", f"{zoo}_shortcut_norm",
                ))
    return modules
