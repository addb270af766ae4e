"""Fashion-MNIST from its IDX files, without tensorflow-datasets.

Debian's package `dataset-fashion-mnist` puts the four files in `FASHION_MNIST_DIR`;
`$LARQ_NOBN_FASHION_MNIST_DIR` or a `data_dir` can name another folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from larq_nobn.data.errors import CorruptDatasetError, DatasetHelp, DatasetNotFoundError
from larq_nobn.data.idx import read_idx_cached

import numpy as np

__all__ = [
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_ENV",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_HELP",
    "fashion_mnist_dirs",
    "fashion_mnist_folder",
    "fashion_mnist_arrays",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's package `dataset-fashion-mnist` puts the four IDX files."""

FASHION_MNIST_ENV = "LARQ_NOBN_FASHION_MNIST_DIR"
"""Environment variable naming another folder with Fashion-MNIST's IDX files."""

FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The IDX files of each Fashion-MNIST split (found with or without `.gz`)."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""The class names, label `i` is `FASHION_MNIST_CLASSES[i]`."""

FASHION_MNIST_HELP = DatasetHelp(
    api="Get Fashion-MNIST with Debian's package: `apt-get update && apt-get install "
    f"dataset-fashion-mnist` (files in {FASHION_MNIST_DIR}), or put the four IDX files "
    f"in a folder named by data_dir or ${FASHION_MNIST_ENV}, or let "
    "tensorflow-datasets download it (needs internet).",
    cli="Get Fashion-MNIST with Debian's package: `apt-get update && apt-get install "
    f"dataset-fashion-mnist` (files in {FASHION_MNIST_DIR}), or put the four IDX files "
    f"in a folder and pass --data-dir FOLDER (or set ${FASHION_MNIST_ENV}), or run "
    "with internet access (tensorflow-datasets downloads it then).",
)
"""How to get Fashion-MNIST (the end of a `DatasetNotFoundError` message)."""


def _find_file(folder, stem):
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def fashion_mnist_dirs(data_dir=None) -> list[Path]:
    """The folders searched for the IDX files, in order: `data_dir` if given, else
    `$LARQ_NOBN_FASHION_MNIST_DIR` (if set) and `FASHION_MNIST_DIR`."""
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = []
    if os.environ.get(FASHION_MNIST_ENV):
        dirs.append(Path(os.environ[FASHION_MNIST_ENV]))
    dirs.append(Path(FASHION_MNIST_DIR))
    return dirs


def fashion_mnist_folder(data_dir, split: str) -> Path | None:
    """The first folder of `fashion_mnist_dirs` holding the split's two IDX files.

    # Arguments
        data_dir: As in `fashion_mnist_dirs`.
        split: `"train"` or `"test"`.

    # Returns
        The folder, or `None` if no folder holds any Fashion-MNIST file.

    # Raises
        DatasetNotFoundError: The first folder holding some files lacks the split's.
    """
    for folder in fashion_mnist_dirs(data_dir):
        found = {
            stem: _find_file(folder, stem)
            for files in FASHION_MNIST_FILES.values()
            for stem in files
        }
        if not any(found.values()):
            continue
        missing = [stem for stem in FASHION_MNIST_FILES[split] if found[stem] is None]
        if missing:
            raise DatasetNotFoundError(
                f"Fashion-MNIST in {folder} is incomplete: {', '.join(missing)}(.gz) "
                f"missing. Reinstall it (`apt-get install --reinstall "
                "dataset-fashion-mnist`) or copy the four IDX files there."
            )
        return folder
    return None


def fashion_mnist_arrays(split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's images and labels from its IDX files (no tensorflow-datasets).

    Folders searched: `data_dir` if given, else `$LARQ_NOBN_FASHION_MNIST_DIR` and then
    `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`). Files are
    read once per process and cached (read-only arrays).

    # Arguments
        split: `"train"` (60,000) or `"test"` (10,000).
        data_dir: A folder with the IDX files (`train-images-idx3-ubyte.gz`, ...).

    # Returns
        `(images, labels)`: `uint8` of shape `(n, 28, 28, 1)` and `int64` of shape
        `(n,)` in `[0, 10)`.

    # Raises
        DatasetNotFoundError: No folder searched holds the files.
        CorruptDatasetError: A malformed file, or images and labels that do not match.
        ValueError: `split` is not "train" or "test".
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(
            f"Unknown Fashion-MNIST file split {split!r}; accepted: "
            f"{', '.join(FASHION_MNIST_FILES)}."
        )
    folder = fashion_mnist_folder(data_dir, split)
    if folder is None:
        searched = ", ".join(str(d) for d in fashion_mnist_dirs(data_dir))
        raise DatasetNotFoundError(
            f"No Fashion-MNIST IDX files in {searched}.", FASHION_MNIST_HELP
        )
    image_path, label_path = (_find_file(folder, stem) for stem in FASHION_MNIST_FILES[split])
    images = read_idx_cached(image_path)
    labels = read_idx_cached(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptDatasetError(
            f"{image_path}: expected uint8 images of shape "
            f"(n, 28, 28), found {images.dtype} {images.shape}."
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise CorruptDatasetError(
            f"{label_path}: expected {images.shape[0]} labels (one "
            f"per image), found shape {labels.shape}."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptDatasetError(
            f"{label_path}: labels must be in [0, 9], found [{labels.min()}, {labels.max()}]."
        )
    return images[..., None], labels.astype(np.int64)
