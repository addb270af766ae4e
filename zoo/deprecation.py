"""Keyword-only zoo builders, and the deprecations of the zoo's previous calls.

Every zoo builder takes keyword arguments only, as those of larq_zoo and Keras
Applications, the common ones with the same names and in the same order
(`COMMON_ARGUMENTS`). Builders that took positional arguments in the previous release
still accept them for one release, with a `FutureWarning` (shown to users by default,
unlike a `DeprecationWarning`) that spells out the keyword call.
"""

from __future__ import annotations

import functools
import warnings

__all__ = ["COMMON_ARGUMENTS", "keyword_only", "warn_deprecated"]

#: The arguments every zoo builder takes, in this order, before its own options.
COMMON_ARGUMENTS = (
    "norm",
    "input_shape",
    "input_tensor",
    "include_top",
    "weights",
    "pooling",
    "num_classes",
    "classifier_activation",
    "width_multiplier",
    "pad_values",
    "name",
)


def warn_deprecated(message: str, stacklevel: int = 2):
    """Warns of a deprecated zoo call (a `FutureWarning`, removed in the next release).

    # Arguments
        message: What is deprecated and what to call instead.
        stacklevel: As `warnings.warn`'s in the function calling this one: 2 (the
            default) points the warning at that function's caller.
    """
    warnings.warn(
        f"{message} The deprecated form will be removed in the next release.",
        FutureWarning,
        stacklevel=stacklevel + 1,
    )


def keyword_only(*legacy_positional: str):
    """Decorates a keyword-only builder so that a positional call fails clearly, or,
    for the arguments it took by position in the previous release, still works with a
    `FutureWarning` naming the keywords.

    ```python
    @keyword_only("norm", "input_shape")
    def Model(*, norm="bn", input_shape=None): ...

    Model(norm="bf")   # the call
    Model("bf")        # FutureWarning: call zoo.Model(norm='bf') instead
    ```

    # Arguments
        legacy_positional: Names of the arguments the builder took by position in the
            previous release, in that order; none for a new builder.

    # Returns
        The decorator.
    """

    def decorate(builder):
        @functools.wraps(builder)
        def call(*args, **kwargs):
            if args:
                kwargs = _positional_to_keywords(
                    builder.__name__, legacy_positional, args, kwargs
                )
            return builder(**kwargs)

        return call

    return decorate


def _positional_to_keywords(name, legacy, args, kwargs):
    """The keyword arguments of a positional call of builder `name`, with a warning;
    a TypeError for more positional arguments than `legacy` names."""
    if len(args) > len(legacy):
        example = ", ".join(f"{arg}=..." for arg in COMMON_ARGUMENTS[:3])
        raise TypeError(
            f"zoo.{name}() takes keyword arguments only, e.g. zoo.{name}({example}); "
            f"got {len(args)} positional argument(s): {args!r}."
        )
    names = legacy[: len(args)]
    twice = [arg for arg in names if arg in kwargs]
    if twice:
        raise TypeError(f"zoo.{name}() got multiple values for argument {twice[0]!r}.")
    keywords = ", ".join(f"{arg}={value!r}" for arg, value in zip(names, args))
    warn_deprecated(
        f"Positional arguments to zoo.{name} are deprecated: call "
        f"zoo.{name}({keywords}, ...) with keywords.",
        stacklevel=3,
    )
    return {**dict(zip(names, args)), **kwargs}
