"""The memory a training run needs at least, estimated before anything is built, so
that absurd settings (a width multiplier of a million, a batch of a billion) are
refused with a number instead of failing later with an out-of-memory error.

The estimate follows the zoo's own channel arithmetic (`binarynet_channels`,
`scaled_width` and the stage widths of the ResNet-18s and ReActNet-A) over the main
convolutions and dense layers of the model, skipping everything small (norms, shortcuts,
biases), so it is a lower bound:

- the model: its weights, their gradients and two optimizer slots (Adam), 4 bytes each;
- a batch: the float32 input images, and every main layer's output kept twice for the
  backward pass (the layer's output and its normalized / quantized form).

A batch holds `min(batch_size, training examples)` images (a batch larger than the
training set is refused on its own).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from larq_nobn.checks import scaled_width
from larq_nobn.training.config import TrainConfig

__all__ = ["MemoryEstimate", "available_memory", "check_memory", "estimate_memory"]

_BYTES = 4  # float32
_MODEL_COPIES = 4  # weights, gradients, two optimizer slots
_KEPT_ACTIVATIONS = 2  # per main layer output, for the backward pass


class MemoryEstimate(NamedTuple):
    """The memory of a training run (bytes), at least.

    # Arguments
        parameters: Weights of the main layers.
        activations: Outputs of the main layers per image.
        batch: Images per batch.
        model_bytes: The weights, their gradients and the optimizer's slots.
        batch_bytes: The input batch and the layer outputs kept for the backward pass.
    """

    parameters: int
    activations: int
    batch: int
    model_bytes: int
    batch_bytes: int

    @property
    def total(self) -> int:
        return self.model_bytes + self.batch_bytes


class _Plan:
    """Counts weights and outputs of the layers of a model, in order."""

    def __init__(self, height, width):
        self.size = (height, width)
        self.parameters = 0
        self.activations = 0

    def conv(self, kernel, inputs, outputs, stride=1):
        if stride > 1:
            self.size = tuple(math.ceil(d / stride) for d in self.size)
        self.parameters += kernel * kernel * inputs * outputs
        self.activations += self.size[0] * self.size[1] * outputs
        return outputs

    def pool(self, stride=2, ceil=False):
        rounding = math.ceil if ceil else math.floor
        self.size = tuple(max(1, rounding(d / stride)) for d in self.size)

    def dense(self, inputs, outputs):
        self.parameters += inputs * outputs
        self.activations += outputs
        return outputs


def _binarynet(plan, channels, num_classes, width):
    from larq_nobn.zoo.binarynet import binarynet_channels

    convs, dense = binarynet_channels(width)
    previous = plan.conv(3, channels, convs[0])
    for i, outputs in enumerate(convs[1:], start=1):
        previous = plan.conv(3, previous, outputs)
        if i in (1, 3, 5):
            plan.pool()
    previous *= plan.size[0] * plan.size[1]
    for units in (*dense, num_classes):
        previous = plan.dense(previous, units)


def _reactnet18(plan, channels, num_classes, width):
    from larq_nobn.zoo import reactnet18

    base = scaled_width(reactnet18.WIDTHS[0], width)
    if max(plan.size) > reactnet18.CIFAR_STEM_MAX_SIZE:
        previous = plan.conv(7, channels, base, stride=2)
        plan.pool(ceil=True)
    else:
        previous = plan.conv(3, channels, base)
    for s, stage_width in enumerate(reactnet18.WIDTHS):
        outputs = base * stage_width // reactnet18.WIDTHS[0]
        for r in range(reactnet18.DEPTH):
            previous = plan.conv(3, previous, outputs, 2 if s > 0 and r == 0 else 1)
    plan.dense(previous, num_classes)


def _binary_resnet18(plan, channels, num_classes, width):
    from larq_nobn.zoo import binary_resnet18

    widths = binary_resnet18.WIDTHS
    base = scaled_width(widths[0], width)
    previous = plan.conv(3, channels, base)
    for s, stage_width in enumerate(widths):
        outputs = base * stage_width // widths[0]
        for b in range(binary_resnet18.DEPTH):
            previous = plan.conv(3, previous, outputs, 2 if s > 0 and b == 0 else 1)
            previous = plan.conv(3, previous, outputs)
    plan.dense(previous, num_classes)


def _reactnet_a(plan, channels, num_classes, width):
    from larq_nobn.zoo import reactnet

    base = scaled_width(reactnet.STEM_FILTERS, width)
    previous = plan.conv(3, channels, base, stride=2)
    for filters, stride in reactnet.BLOCKS:
        plan.conv(3, previous, previous, stride)
        previous = plan.conv(1, previous, base * filters // reactnet.STEM_FILTERS)
    plan.dense(previous, num_classes)


def estimate_memory(config: TrainConfig) -> MemoryEstimate:
    """The memory that training `config` needs at least (see the module documentation).

    # Raises
        ValueError: Unknown dataset or model.
    """
    from larq_nobn import data

    info = data.info(config.dataset, config.image_size)
    height, width, channels = info.image_shape
    plan = _Plan(height, width)
    multiplier = config.resolved_width_multiplier
    model = config.model
    if model == "resnet18":  # deprecated: one of the two ResNet-18s
        model = "binary_resnet18" if config.variant == "abn_paper" else "reactnet18"
    plans = {
        "binarynet": _binarynet,
        "reactnet18": _reactnet18,
        "binary_resnet18": _binary_resnet18,
        "reactnet_a": _reactnet_a,
    }
    if model not in plans:
        raise ValueError(f"No memory estimate for model {config.model!r}.")
    default = None if model == "binarynet" else 1.0
    plans[model](plan, channels, info.num_classes, multiplier or default)
    batch = min(config.batch_size, info.num_examples("train", config.validation_split))
    images = batch * height * width * channels
    return MemoryEstimate(
        parameters=plan.parameters,
        activations=plan.activations,
        batch=batch,
        model_bytes=_BYTES * _MODEL_COPIES * plan.parameters,
        batch_bytes=_BYTES * (images + _KEPT_ACTIVATIONS * batch * plan.activations),
    )


def available_memory() -> int:
    """The memory available to a new allocation now (bytes)."""
    import psutil

    return int(psutil.virtual_memory().available)


def _size(count) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_memory(config: TrainConfig, available: int | None = None) -> MemoryEstimate:
    """Refuses a run whose batch is larger than the training set, or which needs more
    memory than is available (see the module documentation for the estimate).

    # Arguments
        config: The run (a validated config).
        available: Bytes available; default: `available_memory()`.

    # Returns
        The `MemoryEstimate`.

    # Raises
        ValueError: The batch size or the memory, with the numbers.
    """
    from larq_nobn import data

    examples = data.info(config.dataset).num_examples("train", config.validation_split)
    if config.batch_size > examples:
        raise ValueError(
            f"batch_size {config.batch_size} is larger than the {examples} training "
            f"examples of {config.dataset}; use a batch size of at most {examples}."
        )
    estimate = estimate_memory(config)
    available = available_memory() if available is None else int(available)
    if estimate.total > available:
        raise ValueError(
            f"Training {config.model} (width_multiplier "
            f"{config.resolved_width_multiplier or 1:g}) with batch_size "
            f"{config.batch_size} needs at least {_size(estimate.total)} of memory "
            f"(model {_size(estimate.model_bytes)}: {estimate.parameters:.3g} weights "
            f"with gradients and optimizer slots; batch {_size(estimate.batch_bytes)}), "
            f"but {_size(available)} is available: lower width_multiplier or "
            "batch_size."
        )
    return estimate
