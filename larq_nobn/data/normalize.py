"""Pixel scaling: from `[0, 255]` to the network's input scale.

`"standardize"` maps a pixel `p` to `(p / 255 - mean) / std` with per-channel
constants, `"symmetric"` to `[-1, 1]` (`p / 127.5 - 1`), `"unit"` to `[0, 1]`, and
`"none"` keeps `[0, 255]`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["NORMALIZATIONS", "check_normalize", "normalize_images"]

NORMALIZATIONS = ("standardize", "symmetric", "unit", "none")
"""The values of `load`'s `normalize` besides `True` (= "standardize") and `False`
(= "none")."""


def check_normalize(normalize) -> str:
    """The mode of a `normalize` argument: one of `NORMALIZATIONS`.

    # Arguments
        normalize: `True` (= "standardize"), `False` or `None` (= "none"), or one of
            `NORMALIZATIONS`.

    # Raises
        ValueError: Any other value.
    """
    if normalize is True:
        return "standardize"
    if normalize is False or normalize is None:
        return "none"
    if isinstance(normalize, str) and normalize in NORMALIZATIONS:
        return normalize
    raise ValueError(
        f"Unknown normalize={normalize!r}; accepted: True, False, "
        f"{', '.join(repr(n) for n in NORMALIZATIONS)}."
    )


def normalize_images(images, mode="standardize", mean=None, std=None):
    """Maps pixel values in `[0, 255]` to the network's input scale, as `float32`.

    # Arguments
        images: Images of any real dtype with pixels in `[0, 255]`, channels last.
        mode: `"standardize"` (`(p / 255 - mean) / std`), `"symmetric"`
            (`p / 127.5 - 1`), `"unit"` (`p / 255`) or `"none"`.
        mean: Per-channel mean of the pixels in `[0, 1]` (for `"standardize"`).
        std: Per-channel standard deviation of the pixels in `[0, 1]`.

    # Returns
        `float32` images.

    # Raises
        ValueError: Unknown mode, or `"standardize"` without `mean` and `std`.
    """
    mode = check_normalize(mode)
    images = tf.cast(images, tf.float32)
    if mode == "standardize":
        if mean is None or std is None:
            raise ValueError("normalize='standardize' needs the per-channel `mean` and `std`.")
        scale = 1.0 / (255.0 * np.asarray(std, np.float64))
        shift = np.asarray(mean, np.float64) / np.asarray(std, np.float64)
        if images.shape.rank and images.shape.rank >= 3 and images.shape[-3:].is_fully_defined():
            # Broadcasting a 1-3 element vector over the channels is slow on CPU;
            # constants of the whole image shape are not.
            shape = images.shape[-3:].as_list()
            scale = np.broadcast_to(scale, shape)
            shift = np.broadcast_to(shift, shape)
        return images * tf.constant(scale, tf.float32) - tf.constant(shift, tf.float32)
    if mode == "symmetric":
        return images / 127.5 - 1.0
    if mode == "unit":
        return images / 255.0
    return images
