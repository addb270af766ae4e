"""Checks of the integer arguments of `load`, `info` and `from_arrays`."""

from __future__ import annotations

import numpy as np

__all__ = ["check_image_size", "check_positive_int"]


def check_image_size(image_size):
    """Returns `image_size` as an `int`, or `None` for `None`.

    # Raises
        ValueError: Not a positive integer (booleans are not integers here).
    """
    if image_size is None:
        return None
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < 1
    ):
        raise ValueError(f"`image_size` must be a positive integer or None, got {image_size!r}.")
    return int(image_size)


def check_positive_int(value, what: str, allow_none: bool = False):
    """Returns `value` as an `int` (or `None` where allowed).

    # Arguments
        value: The value to check.
        what: The argument's name, for the error message.
        allow_none: Accept `None`.

    # Raises
        ValueError: Not a positive integer (booleans are not integers here).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"`{what}` must be a positive integer{' or None' if allow_none else ''}, got {value!r}."
        )
    return int(value)
