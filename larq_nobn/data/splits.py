"""The splits `load` accepts, and the validation split held out of the training set.

No dataset has an official validation split apart from its test set: `"validation"` is
the *last* `validation_split` fraction of the training examples and `"train"` then
excludes them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPLITS", "check_split", "num_validation", "select_split"]

SPLITS = ("train", "validation", "test")
"""The split names `load` accepts."""


def check_split(split: str) -> str:
    """Returns `split` if it is one of `SPLITS`.

    # Raises
        ValueError: Unknown split.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; accepted: {', '.join(SPLITS)}.")
    return split


def num_validation(num_train: int, validation_split: float, split: str) -> int:
    """The number of training examples held out as `"validation"`.

    # Arguments
        num_train: Number of examples of the whole training set.
        validation_split: The fraction held out, in `[0, 1)`.
        split: The split being loaded (`"validation"` needs `validation_split > 0`).

    # Returns
        `round(validation_split * num_train)`, 0 for `validation_split=0`.

    # Raises
        ValueError: `validation_split` is not a fraction in `[0, 1)`, is 0 for the
            `"validation"` split, or holds out none or all of the examples.
    """
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float, np.integer, np.floating))
        or not 0 <= validation_split < 1
    ):
        raise ValueError(
            f"`validation_split` must be a fraction in [0, 1), got {validation_split!r}."
        )
    if validation_split == 0:
        if split == "validation":
            raise ValueError(
                "The 'validation' split is held out of the training set: pass "
                "`validation_split` > 0 (e.g. 0.1), and the same value when loading "
                "'train'."
            )
        return 0
    count = int(round(validation_split * num_train))
    if not 1 <= count < num_train:
        raise ValueError(
            f"validation_split={validation_split!r} of {num_train} training "
            f"examples holds out {count}; it must hold out at least one "
            "and leave at least one."
        )
    return count


def select_split(examples, labels, split: str, validation_split: float):
    """The part of a training set's `(examples, labels)` that `split` covers.

    # Arguments
        examples: The whole training set's examples (a sequence or an array).
        labels: The matching labels.
        split: `"train"` (all but the last `validation_split`) or `"validation"` (the
            last `validation_split`).
        validation_split: The fraction held out, see `num_validation`.

    # Returns
        `(examples, labels)` of the split.
    """
    cut = len(examples) - num_validation(len(examples), validation_split, split)
    if split == "validation":
        return examples[cut:], labels[cut:]
    return examples[:cut], labels[:cut]
