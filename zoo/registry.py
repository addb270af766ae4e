"""The registry of the zoo: one entry per model name, with its builder, the norms and
variants it accepts and its recommended AGC settings.

Training, tuning and the command line read model, norm and variant names from here
only:

```python
from larq_nobn import zoo

spec = zoo.get_model("resnet18")
model = spec.builder(norm="bf", input_shape=(32, 32, 3), num_classes=10)
print(zoo.MODELS, spec.variants, spec.agc_clip_factor)
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from larq_nobn import blocks
from larq_nobn.zoo import binarynet, reactnet, resnet

__all__ = ["MODELS", "NORMS", "REGISTRY", "ModelSpec", "get_model"]


@dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about one model.

    # Arguments
        name: The model name (`--model`).
        builder: The zoo function that builds it (`norm`, `input_shape`, `num_classes`
            and the model's own keyword arguments).
        norms: The normalizations it accepts.
        variants: The values of its `variant` argument; empty if it has none.
        agc_clip_factor: Recommended AGC clip factor for its BN-free (`bf`) version.
        agc_exclude: Regex of the variables AGC leaves alone (the classifier head).
    """

    name: str
    builder: Callable
    norms: tuple
    variants: tuple
    agc_clip_factor: float
    agc_exclude: str | None


def _spec(name, builder, module, variants=()):
    return ModelSpec(
        name=name,
        builder=builder,
        norms=tuple(blocks.NORMS),
        variants=tuple(variants),
        agc_clip_factor=float(module.AGC_CLIP_FACTOR),
        agc_exclude=module.AGC_EXCLUDE,
    )


REGISTRY: dict[str, ModelSpec] = {
    "binarynet": _spec("binarynet", binarynet.BinaryNet, binarynet),
    "resnet18": _spec("resnet18", resnet.ResNet18, resnet, resnet.VARIANTS),
    "reactnet_a": _spec("reactnet_a", reactnet.ReActNetA, reactnet),
}
#: The model names, in the order `--help` lists them.
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
