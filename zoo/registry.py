"""The registry of the zoo: one entry per model name, with its builder, the norms and
variants it accepts and its recommended AGC settings.

Training, tuning and the command line read model, norm and variant names from here
only:

```python
from larq_nobn import zoo

spec = zoo.get_model("reactnet18")
model = spec.builder(norm="bf", input_shape=(32, 32, 3), num_classes=10)
print(zoo.MODELS, spec.agc_clip_factor, spec.agc_exclude)
```

Each network has its own name and builder. `"resnet18"` is the deprecated name of the
former `zoo.ResNet18`, which built two networks by its `variant`; it stays for one
release (its builder warns), and its `replaced_by` names the entries to use instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from larq_nobn import blocks
from larq_nobn.zoo import binary_resnet18, binarynet, reactnet, reactnet18, resnet

__all__ = ["BUILDER_OPTIONS", "MODELS", "NORMS", "REGISTRY", "ModelSpec", "get_model"]

#: The builder keywords of the reference mode that a training run may set
#: (`TrainConfig` fields of the same names); `ModelSpec.options` says which a model
#: takes.
BUILDER_OPTIONS = ("pad_values", "stride2_padding", "init")


@dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about one model.

    # Arguments
        name: The model name (`--model`).
        builder: The zoo function that builds it (keyword arguments: `norm`,
            `input_shape`, `num_classes`, ... and the model's own options).
        norms: The normalizations it accepts.
        variants: The values of its `variant` argument; empty if it has none (only
            the deprecated `"resnet18"` has one).
        agc_clip_factor: Recommended AGC clip factor for its BN-free (`bf`) version.
        agc_exclude: Regex of the variables AGC leaves alone (the classifier head).
        replaced_by: For a deprecated name, the names to use instead; else empty.
        options: The `BUILDER_OPTIONS` its builder takes (BinaryNet has no stride-2
            layers, so no `stride2_padding`; the deprecated `"resnet18"` takes
            `pad_values` only).
    """

    name: str
    builder: Callable
    norms: tuple
    variants: tuple
    agc_clip_factor: float
    agc_exclude: str | None
    replaced_by: tuple = ()
    options: tuple = ()


def _spec(name, builder, module, variants=(), replaced_by=()):
    return ModelSpec(
        name=name,
        builder=builder,
        norms=tuple(blocks.NORMS),
        variants=tuple(variants),
        agc_clip_factor=float(module.AGC_CLIP_FACTOR),
        agc_exclude=module.AGC_EXCLUDE,
        replaced_by=tuple(replaced_by),
        options=tuple(
            o for o in BUILDER_OPTIONS if o in inspect.signature(builder).parameters
        ),
    )


REGISTRY: dict[str, ModelSpec] = {
    "binarynet": _spec("binarynet", binarynet.BinaryNet, binarynet),
    "reactnet18": _spec("reactnet18", reactnet18.ReActNet18, reactnet18),
    "binary_resnet18": _spec(
        "binary_resnet18", binary_resnet18.BinaryResNet18, binary_resnet18
    ),
    "reactnet_a": _spec("reactnet_a", reactnet.ReActNetA, reactnet),
    # Deprecated for one release: zoo.ResNet18(variant=...) warns and builds one of
    # the two above.
    "resnet18": _spec(
        "resnet18",
        resnet.ResNet18,
        resnet,
        resnet.VARIANTS,
        replaced_by=tuple(model for _, model in resnet.REPLACEMENTS.values()),
    ),
}
#: The model names, in the order `--help` lists them (the deprecated one last).
MODELS = tuple(REGISTRY)
#: The normalizations every zoo model accepts.
NORMS = tuple(blocks.NORMS)


def get_model(name: str) -> ModelSpec:
    """The `ModelSpec` of a model name.

    # Raises
        ValueError: An unknown name; the message lists the known ones.
    """
    if name not in REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}; expected one of {', '.join(MODELS)}."
        )
    return REGISTRY[name]
