"""The zoo model of a reference architecture, built and loaded with weights trained
with the authors' PyTorch code in one call (what `larq-nobn import-weights` does).

```python
model = larq_nobn.zoo.reference_model("model_best.npz", architecture="binarynet",
                                      norm="abn", input_shape=(32, 32, 3))
model.save("binarynet_abn.keras")  # then: larq-nobn convert binarynet_abn.keras
```

The model pads its binary convolutions with 0, as the references do (`pad_values=0.0`
of the zoo builders; LCE converts it with its zero-padding correction).
`"resnet34"` is BNN_NoBN's real-valued distillation teacher, torchvision's ResNet-34
(`TorchvisionResNet34`, nothing binary): its classes are the rows of `fc.weight`.

# References
    - gushan/ABN and VITA-Group/BNN_NoBN (see `larq_nobn.zoo.reference_weights`)
"""

from __future__ import annotations

from collections.abc import Mapping

from larq_nobn.checks import check_choice
from larq_nobn.zoo.binary_resnet18 import BinaryResNet18
from larq_nobn.zoo.binarynet import BinaryNet
from larq_nobn.zoo.reactnet import ReActNetA
from larq_nobn.zoo.reactnet18 import ReActNet18
from larq_nobn.zoo.reference_weights import (
    ARCHITECTURES,
    load_reference_weights,
    read_reference_weights,
)
from larq_nobn.zoo.teachers import TorchvisionResNet34

__all__ = ["REFERENCE_BUILDERS", "reference_model"]

#: The zoo builder of each reference architecture (`ARCHITECTURES`).
REFERENCE_BUILDERS = {
    "binarynet": BinaryNet,
    "resnet18_abn_paper": BinaryResNet18,
    "reactnet18": ReActNet18,
    "reactnet_a": ReActNetA,
    "resnet34": TorchvisionResNet34,
}

#: The architectures whose zoo model is real-valued: no `norm` but BN, no padding value.
REAL_VALUED = ("resnet34",)

# The reference padding value of binary convolutions (both repositories pad with 0).
REFERENCE_PAD_VALUES = 0.0


def reference_model(
    source,
    *,
    architecture,
    norm="bn",
    input_shape=None,
    num_classes=None,
    width_multiplier=None,
    stem=None,
):
    """Builds the zoo model of `architecture` and loads reference weights into it.

    # Arguments
        source: The reference's `state_dict`: a mapping of names to arrays, a `.npz`,
            or a `.pth` / `.pth.tar` (needs PyTorch); see `load_reference_weights`.
        architecture: One of `ARCHITECTURES` (`"binarynet"`, `"resnet18_abn_paper"`,
            `"reactnet18"`, `"reactnet_a"`, `"resnet34"`).
        norm: The variant the weights were trained as (`"bn"`, `"abn"`, `"bf"`,
            `"none"`, as the architecture has them; `"resnet34"`: `"bn"` only).
        input_shape: `(height, width, channels)`; default: the builder's (ResNet-34:
            any height and width).
        num_classes: Number of classes; default: the builder's (`"resnet34"`: the
            rows of the state dict's `fc.weight`).
        width_multiplier: The reference's width; default: the builder's (BinaryNet's
            3 is the ABN paper's).
        stem: `"reactnet18"` only: `"cifar"` or `"imagenet"` (BNN_NoBN's
            `birealnet18` builds the ImageNet stem unless called with
            `imagenet=False`); default: the builder's choice by input size.

    # Returns
        The loaded `tf.keras.Model`.

    # Raises
        ValueError: an unknown `architecture`, options the builder rejects, `stem`
            for another architecture, or weights that do not fit (one message naming
            the missing, unexpected and mis-shaped parameters).
        FileNotFoundError: No file at `source`.
        ImportError: a `.pth` file without PyTorch installed.
    """
    check_choice(architecture, ARCHITECTURES, "architecture")
    options = dict(
        input_shape=input_shape, num_classes=num_classes,
        width_multiplier=width_multiplier, stem=stem,
    )
    if stem is not None and architecture != "reactnet18":
        raise ValueError(
            f"stem={stem!r} is an option of architecture 'reactnet18' only, not "
            f"{architecture!r}."
        )
    kwargs = {k: v for k, v in options.items() if v is not None}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(None if d is None else int(d) for d in input_shape)
    if architecture in REAL_VALUED:
        if norm != "bn":
            raise ValueError(
                f"norm={norm!r}: architecture {architecture!r} is real-valued with "
                "BatchNormalization; accepted: 'bn'."
            )
        if num_classes is None:
            kwargs["num_classes"] = _classes(source)
    else:
        kwargs.update(norm=norm, pad_values=REFERENCE_PAD_VALUES)
    model = REFERENCE_BUILDERS[architecture](**kwargs)
    return load_reference_weights(model, source, architecture=architecture)


def _classes(source):
    """The number of classes of a torchvision state dict: the rows of `fc.weight`."""
    weight = read_reference_weights(source).get("fc.weight")
    if weight is None or weight.ndim != 2:
        name = "the given state dict" if isinstance(source, Mapping) else source
        got = "none" if weight is None else f"shape {weight.shape}"
        raise ValueError(
            f"Reference weights {name!s} have no 2-D 'fc.weight' ({got}) to take the "
            "number of classes from."
        )
    return int(weight.shape[0])
