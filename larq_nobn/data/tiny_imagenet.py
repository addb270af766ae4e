"""Tiny ImageNet's standard `tiny-imagenet-200` folder: image files and labels.

The folder (`tiny-imagenet-200.zip` of the Stanford CS231n course, unzipped) is found at
`data_dir` or `$LARQ_NOBN_TINY_IMAGENET_DIR`, or in their `tiny-imagenet-200` subfolder.
"""

from __future__ import annotations

import os
from pathlib import Path

from larq_nobn.data.errors import CorruptDatasetError, DatasetHelp, DatasetNotFoundError

import numpy as np

__all__ = ["TINY_IMAGENET_ENV", "tiny_imagenet_files"]

TINY_IMAGENET_ENV = "LARQ_NOBN_TINY_IMAGENET_DIR"
"""Environment variable naming the `tiny-imagenet-200` folder (or its parent)."""

_IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
_DOWNLOAD = "Download tiny-imagenet-200.zip (from the Stanford CS231n site) and unzip it."


def _tiny_imagenet_root(data_dir):
    given = data_dir if data_dir is not None else os.environ.get(TINY_IMAGENET_ENV)
    if not given:
        raise DatasetNotFoundError(
            "tiny_imagenet needs the `tiny-imagenet-200` folder.",
            DatasetHelp(
                f"Pass data_dir (or set ${TINY_IMAGENET_ENV}) to it or to its parent. "
                f"{_DOWNLOAD}",
                f"Pass --data-dir (or set ${TINY_IMAGENET_ENV}) to it or to its "
                f"parent. {_DOWNLOAD}",
            ),
        )
    given = Path(given)
    for candidate in (given, given / "tiny-imagenet-200"):
        if (candidate / "wnids.txt").is_file():
            return candidate
    raise DatasetNotFoundError(
        f"No Tiny ImageNet at {given}: neither it nor {given / 'tiny-imagenet-200'} "
        "holds wnids.txt.",
        DatasetHelp(
            f"{_DOWNLOAD[:-1]}, and pass the `tiny-imagenet-200` folder as data_dir.",
            f"{_DOWNLOAD[:-1]}, and pass the `tiny-imagenet-200` folder as --data-dir.",
        ),
    )


def _is_image(name):
    return name.lower().endswith(_IMAGE_EXTENSIONS)


def _read_wnids(root):
    """The class ids of `root/wnids.txt`, line `i` is label `i`."""
    wnids = tuple(
        line.strip()
        for line in (root / "wnids.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    if not wnids or len(set(wnids)) != len(wnids):
        raise CorruptDatasetError(
            f"{root / 'wnids.txt'}: expected distinct class ids, "
            f"found {len(wnids)} lines with "
            f"{len(set(wnids))} distinct ids."
        )
    return wnids


def _train_files(root, wnids):
    """`root/train/<wnid>/images/*`, in a fixed pseudo-random order."""
    paths, labels = [], []
    for label, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        if not folder.is_dir():
            raise CorruptDatasetError(
                f"Tiny ImageNet: {folder} is missing (class {wnid} of wnids.txt)."
            )
        names = sorted(n for n in os.listdir(folder) if _is_image(n))
        paths.extend(str(folder / n) for n in names)
        labels.extend([label] * len(names))
    order = np.random.default_rng(0).permutation(len(paths))
    return [paths[i] for i in order], [labels[i] for i in order]


def _validation_files(root, wnids):
    """`root/val/images/*` labelled by `root/val/val_annotations.txt`, in its order."""
    index = {wnid: i for i, wnid in enumerate(wnids)}
    annotations = root / "val" / "val_annotations.txt"
    images = root / "val" / "images"
    if not annotations.is_file() or not images.is_dir():
        raise CorruptDatasetError(f"Tiny ImageNet: {annotations} or {images} is missing.")
    present = set(os.listdir(images))
    paths, labels = [], []
    for number, line in enumerate(annotations.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or fields[1] not in index:
            raise CorruptDatasetError(
                f"{annotations}:{number}: expected 'file wnid ...' with a wnid of "
                f"wnids.txt, found {line.strip()!r}."
            )
        if fields[0] not in present:
            raise CorruptDatasetError(f"{annotations}:{number}: {images / fields[0]} is missing.")
        paths.append(str(images / fields[0]))
        labels.append(index[fields[1]])
    return paths, labels


def tiny_imagenet_files(split: str, data_dir=None):
    """The image files and labels of Tiny ImageNet's standard folder layout.

    `root/wnids.txt` lists the class ids, one per line: line `i` is label `i`.
    Training images are `root/train/<wnid>/images/*.JPEG` (returned in a fixed
    pseudo-random order, the same on every call); the `"test"` split is the official
    validation set, `root/val/images/*.JPEG` labelled by `root/val/val_annotations.txt`
    (tab-separated `file wnid x0 y0 x1 y1` lines). `root` is `data_dir` (or
    `$LARQ_NOBN_TINY_IMAGENET_DIR`) or its `tiny-imagenet-200` subfolder.

    # Arguments
        split: `"train"` or `"test"`.
        data_dir: The `tiny-imagenet-200` folder or its parent.

    # Returns
        `(paths, labels, wnids)`: a list of file paths, an `int64` array of labels and
        the tuple of class ids.

    # Raises
        DatasetNotFoundError: No `wnids.txt` at the given place.
        CorruptDatasetError: Missing class folders or images, unknown classes in the
            annotations, an empty split.
        ValueError: `split` is not "train" or "test".
    """
    if split not in ("train", "test"):
        raise ValueError(f"Unknown Tiny ImageNet file split {split!r}; accepted: train, test.")
    root = _tiny_imagenet_root(data_dir)
    wnids = _read_wnids(root)
    if split == "train":
        paths, labels = _train_files(root, wnids)
    else:
        paths, labels = _validation_files(root, wnids)
    if not paths:
        raise CorruptDatasetError(f"Tiny ImageNet at {root}: the {split} split has no images.")
    return paths, np.asarray(labels, dtype=np.int64), wnids
