"""Deprecated: `ResNet18`, which built two networks. Use `larq_nobn.zoo.ReActNet18`
(`variant="reactnet"`, module `larq_nobn.zoo.reactnet18`) or
`larq_nobn.zoo.BinaryResNet18` (`variant="abn_paper"`, module
`larq_nobn.zoo.binary_resnet18`). This module and the names it re-exports from those
two are kept for one release."""

from larq_nobn.checks import check_choice
from larq_nobn.zoo.binary_resnet18 import HEAD_POOLS, BinaryResNet18
from larq_nobn.zoo.deprecation import warn_deprecated
from larq_nobn.zoo.reactnet18 import (
    AGC_CLIP_FACTOR,
    AGC_EXCLUDE,
    BETA_SCHEDULES,
    DEFAULT_INPUT_SHAPE,
    STEMS,
    ReActNet18,
    reactnet18_betas,
)

__all__ = [
    "AGC_CLIP_FACTOR",
    "AGC_EXCLUDE",
    "BETA_SCHEDULES",
    "DEFAULT_INPUT_SHAPE",
    "HEAD_POOLS",
    "REPLACEMENTS",
    "STEMS",
    "VARIANTS",
    "ResNet18",
    "reactnet18_betas",
]

VARIANTS = ("reactnet", "abn_paper")
#: The builder and the registry name that replace each `variant` of `ResNet18`.
REPLACEMENTS = {
    "reactnet": ("ReActNet18", "reactnet18"),
    "abn_paper": ("BinaryResNet18", "binary_resnet18"),
}


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
    """Deprecated: `ReActNet18(...)` for `variant="reactnet"`, `BinaryResNet18(...)`
    for `variant="abn_paper"` (both keyword-only). Warns (`FutureWarning`) and builds
    the same model as the new builder, named `resnet18_{variant}_{norm}` by default as
    before; the options of the other variant are checked and ignored, as before.

    # Raises
        ValueError: for an unknown `variant`, and as the new builders.
    """
    check_choice(variant, VARIANTS, "variant")
    builder, model = REPLACEMENTS[variant]
    warn_deprecated(
        f"zoo.ResNet18 is deprecated: for variant={variant!r} use "
        f"zoo.{builder}(...) (keyword arguments only; model {model!r} in the registry "
        "and `larq-nobn train --model`)."
    )
    check_choice(beta_schedule, BETA_SCHEDULES, "beta_schedule")
    check_choice(head_pool, HEAD_POOLS, "head_pool")
    common = dict(
        norm=norm,
        input_shape=input_shape,
        input_tensor=input_tensor,
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        width_multiplier=width_multiplier,
        pad_values=pad_values,
        name=name or f"resnet18_{variant}_{norm}",
    )
    if variant == "reactnet":
        return ReActNet18(
            stem=stem, float_shortcut=float_shortcut, beta_schedule=beta_schedule,
            **common,
        )
    if stem is not None:  # the ABN paper's ResNet has the CIFAR stem only
        check_choice(stem, ("cifar",), "stem")
    return BinaryResNet18(
        head_pool=head_pool, clip_latent_weights=clip_latent_weights, **common
    )
