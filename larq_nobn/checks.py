"""Argument checks shared by the zoo's model functions and building blocks."""

import numbers

__all__ = [
    "check_choice",
    "check_input_shape",
    "check_num_classes",
    "check_pad_values",
    "scaled_width",
]


def check_choice(value, accepted, what):
    """Return `value` if it is in `accepted`, else raise a ValueError listing them.

    # Arguments
        value: The value to check.
        accepted: The accepted values.
        what: The argument's name, for the message.

    # Raises
        ValueError: if `value` is not one of `accepted`.
    """
    if value not in accepted:
        raise ValueError(
            f"Unknown {what} {value!r}: accepted values are "
            f"{', '.join(map(repr, accepted))}."
        )
    return value


def scaled_width(channels, width_multiplier):
    """`channels * width_multiplier` rounded, at least 1.

    # Raises
        ValueError: for a `width_multiplier` that is not a positive number.
    """
    if (
        isinstance(width_multiplier, bool)
        or not isinstance(width_multiplier, (int, float))
        or not width_multiplier > 0
    ):
        raise ValueError(
            f"`width_multiplier` must be a positive number, got {width_multiplier!r}."
        )
    return max(1, int(round(channels * width_multiplier)))


def check_pad_values(pad_values):
    """Return `pad_values` as a float if it is 1.0 or 0.0, else raise a ValueError."""
    if isinstance(pad_values, bool) or pad_values not in (0.0, 1.0):
        raise ValueError(
            f"Unknown pad_values {pad_values!r}: accepted values are 1.0 (the value of a "
            "binary +1, LCE's fast path) and 0.0 (zero padding, as PyTorch)."
        )
    return float(pad_values)


def check_num_classes(num_classes):
    """Return `num_classes` if it is a positive integer, else raise a ValueError."""
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 1
    ):
        raise ValueError(
            f"`num_classes` must be a positive integer, got {num_classes!r}."
        )
    return int(num_classes)


def check_input_shape(input_shape, min_size=None):
    """Return `input_shape` as a tuple `(height, width, channels)` or raise ValueError.

    # Arguments
        input_shape: `(height, width, channels)`; height and width may be `None`.
        min_size: If given, height and width must be known and at least `min_size`
            (a model that flattens its feature map, or pools it `k` times).
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    valid = (
        shape is not None
        and len(shape) == 3
        and all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
            for d in shape
        )
        and shape[-1] is not None
    )
    if valid and min_size is not None:
        valid = all(d is not None and d >= min_size for d in shape[:2])
    if not valid:
        size = (
            f"known height and width >= {min_size}"
            if min_size is not None
            else "a known number of channels"
        )
        raise ValueError(
            f"`input_shape` must be (height, width, channels) with {size}, got "
            f"{input_shape!r}."
        )
    return shape
