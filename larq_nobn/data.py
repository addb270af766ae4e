"""Datasets of the papers as fast, deterministic `tf.data` pipelines.

```python
import larq_nobn
from larq_nobn import data

train = data.load("fashion_mnist", "train", batch_size=128, training=True, seed=0)
test = data.load("fashion_mnist", "test", batch_size=256, training=False)
data.info("fashion_mnist").num_classes  # 10
```

Every pipeline yields batches `(images, labels)`: `float32` images of shape
`(batch, height, width, channels)` and `int64` labels of shape `(batch,)`.

# Datasets
| name | source | classes | image | train | test |
| --- | --- | --- | --- | --- | --- |
| `fashion_mnist` | IDX files (Debian `dataset-fashion-mnist`), else tfds | 10 | 28x28x1 | 60,000 | 10,000 |
| `cifar10` | tensorflow-datasets | 10 | 32x32x3 | 50,000 | 10,000 |
| `cifar100` | tensorflow-datasets | 100 | 32x32x3 | 50,000 | 10,000 |
| `imagenet2012` | tensorflow-datasets (manual download) | 1000 | 224x224x3 | 1,281,167 | 50,000 |
| `tiny_imagenet` | `tiny-imagenet-200` folder | 200 | 64x64x3 | 100,000 | 10,000 |

For `imagenet2012` and `tiny_imagenet` the `"test"` split is the official validation
set (their test labels are not public), as in the papers.

# Splits
`"train"`, `"test"` and `"validation"`. No dataset has an official validation split
apart from its test set, so `"validation"` is the *last* `validation_split` fraction of
the training examples and `"train"` then excludes them: pass the same
`validation_split` to both calls. With `validation_split=0` (the default, the papers'
protocol) `"train"` is the whole training set and `"validation"` is an error.
The held-out examples are always the same ones (the training order of
`tiny_imagenet`'s files is a fixed permutation, the other datasets are stored
shuffled already), whatever `seed` is.

# Augmentation (training only; evaluation is deterministic)
- 28x28, 32x32 and 64x64 images (`fashion_mnist`, `cifar10`, `cifar100`,
  `tiny_imagenet`): zero-pad 4 pixels on every side, random crop back to the original
  size, random horizontal flip (Fashion-MNIST is flipped too: its classes, clothes,
  are mirror-symmetric). Done on whole batches at once, which is much faster than
  per image.
- `imagenet2012`: random resized crop (area 8 %-100 % of the image, aspect ratio
  3/4-4/3, `tf.image.stateless_sample_distorted_bounding_box` with 10 attempts, else
  the whole image) decoded straight from the JPEG and resized to `image_size` (224),
  horizontal flip, and AlexNet's PCA lighting noise (`alphastd=0.1`, the standard
  ImageNet eigenvalues and eigenvectors). Evaluation resizes the shorter side to
  `round(image_size / 0.875)` (256) and crops the center `image_size` square.

# Normalization
`normalize=True` (or `"standardize"`) maps a pixel `p` in `[0, 255]` to
`(p / 255 - mean) / std` with the per-channel constants of `DatasetInfo.mean` and
`DatasetInfo.std` (training-set statistics: Fashion-MNIST's were measured on its 60,000
training images; CIFAR's, Tiny ImageNet's and ImageNet's are the commonly published
ones). `"symmetric"` maps to `[-1, 1]` (`p / 127.5 - 1`), `"unit"` to `[0, 1]`, and
`False` (or `"none"`) keeps `[0, 255]`.

# Randomness
With a `seed`, everything random (shuffling, crops, flips, lighting) is a function of
that seed: two pipelines built with the same arguments yield the same batches, epoch
after epoch (each new iteration over the dataset, i.e. each Keras epoch, reshuffles and
redraws the augmentations, deterministically). The random draws are stateless and tied
to the position in the stream, so parallel mapping does not change them.

# Errors
Missing data raises `DatasetNotFoundError` (a `FileNotFoundError`) whose message says
how to get it; malformed files raise `CorruptDatasetError` (a `ValueError`); both are
`DatasetError`s. Bad arguments raise `ValueError` naming the accepted values.

# Downloads
tensorflow-datasets is asked to download only when the data is not prepared in its
`data_dir` yet and `download=True`, and only after a quick check (a few seconds at
most) that the dataset's download server can be reached: offline, tfds would otherwise
retry for minutes before failing. Behind a proxy (`HTTPS_PROXY`, ...) the check is
skipped. ImageNet cannot be downloaded: tfds prepares it from the archives in
`manual_dir`.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
import socket
import struct
import threading
import zlib
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import tensorflow as tf

__all__ = [
    "DATASETS",
    "SPLITS",
    "NORMALIZATIONS",
    "DatasetError",
    "DatasetNotFoundError",
    "CorruptDatasetError",
    "DatasetInfo",
    "info",
    "load",
    "from_arrays",
    "read_idx",
    "read_idx_header",
    "fashion_mnist_arrays",
    "tiny_imagenet_files",
    "random_crop_and_flip",
    "random_resized_crop",
    "sample_crop_window",
    "lighting",
    "resize_and_center_crop",
    "normalize_images",
]

DATASETS = ("fashion_mnist", "cifar10", "cifar100", "imagenet2012", "tiny_imagenet")
"""The dataset names `load` and `info` accept."""

SPLITS = ("train", "validation", "test")
"""The split names `load` accepts."""

NORMALIZATIONS = ("standardize", "symmetric", "unit", "none")
"""The values of `load`'s `normalize` besides `True` (= "standardize") and `False`
(= "none")."""

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's package `dataset-fashion-mnist` puts the four IDX files."""

FASHION_MNIST_ENV = "LARQ_NOBN_FASHION_MNIST_DIR"
"""Environment variable naming another folder with Fashion-MNIST's IDX files."""

TINY_IMAGENET_ENV = "LARQ_NOBN_TINY_IMAGENET_DIR"
"""Environment variable naming the `tiny-imagenet-200` folder (or its parent)."""

FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The IDX files of each Fashion-MNIST split (found with or without `.gz`)."""

IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
"""Eigenvalues of the covariance of ImageNet's RGB pixels in `[0, 1]` (AlexNet's PCA
lighting noise)."""

IMAGENET_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
"""The matching eigenvectors, one per column (rows: R, G, B)."""

CENTER_CROP_FRACTION = 0.875
"""Evaluation crop of ImageNet: the shorter side is resized to `size / 0.875`."""

_FASHION_MNIST_CLASSES = (
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

# Hosts tensorflow-datasets downloads these datasets from (probed before a download).
_DOWNLOAD_HOSTS = {
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
    "cifar100": ("www.cs.toronto.edu", 443),
}
# Archives tensorflow-datasets prepares these datasets from (no download possible).
_MANUAL_FILES = {
    "imagenet2012": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
}
_PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
_PROBE_TIMEOUT_S = 3.0
_IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
_DEFAULT_SHUFFLE_BUFFER = 10_000
_TFDS_READ_BATCH = 8192


# ======================================================================================
# Errors
# ======================================================================================
class DatasetError(Exception):
    """Base class of the data errors: the data is missing or malformed."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's files are not there and could not be fetched; the message says how
    to get them."""


class CorruptDatasetError(DatasetError, ValueError):
    """A dataset file or folder exists but is malformed (bad magic number, truncated,
    inconsistent labels, ...)."""


# ======================================================================================
# Dataset descriptions
# ======================================================================================
@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset of `DATASETS` is.

    # Arguments
        name: The name `load` takes.
        num_classes: Number of classes; labels are in `[0, num_classes)`.
        image_shape: `(height, width, channels)` of the images `load` yields with the
            `image_size` given to `info` (default: the papers' size).
        num_train: Number of training examples (the whole official training set).
        num_test: Number of examples of the `"test"` split.
        splits: The split names `load` accepts.
        mean: Per-channel mean of the pixels scaled to `[0, 1]` (`normalize=True`).
        std: Per-channel standard deviation of the pixels scaled to `[0, 1]`.
        source: Where the data comes from.
        class_names: Names of the classes where they are fixed, else `None`.
    """

    name: str
    num_classes: int
    image_shape: Tuple[int, int, int]
    num_train: int
    num_test: int
    splits: Tuple[str, ...]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    source: str
    class_names: Optional[Tuple[str, ...]] = None

    def num_examples(self, split: str, validation_split: float = 0.0) -> int:
        """The number of examples `load(name, split, validation_split=...)` yields for
        the standard dataset (a custom `tiny_imagenet` folder may hold fewer).

        # Arguments
            split: One of `splits`.
            validation_split: The fraction of the training set held out, as in `load`.

        # Returns
            The number of examples of that split.

        # Raises
            ValueError: Unknown split, or a bad `validation_split`.
        """
        split = _check_split(split)
        num_validation = _num_validation(self.num_train, validation_split, split)
        if split == "test":
            return self.num_test
        if split == "validation":
            return num_validation
        return self.num_train - num_validation


@dataclasses.dataclass(frozen=True)
class _Spec:
    info: DatasetInfo
    native_size: Optional[int]  # None: variable-size images (ImageNet)
    channels: int
    crop_padding: int  # 0: the ImageNet augmentation


def _make_specs():
    def spec(info, crop_padding, variable_size=False):
        return _Spec(
            info=info,
            native_size=None if variable_size else info.image_shape[0],
            channels=info.image_shape[2],
            crop_padding=crop_padding,
        )

    common = dict(splits=SPLITS)
    cifar = "tensorflow-datasets '{}' (data_dir, or download)"
    fashion = DatasetInfo(
        name="fashion_mnist", num_classes=10, image_shape=(28, 28, 1),
        num_train=60_000, num_test=10_000, mean=(0.2860,), std=(0.3530,),
        source=f"IDX files in {FASHION_MNIST_DIR} (Debian package "
        f"dataset-fashion-mnist), ${FASHION_MNIST_ENV} or data_dir; else "
        "tensorflow-datasets 'fashion_mnist'",
        class_names=_FASHION_MNIST_CLASSES, **common,
    )  # fmt: skip
    cifar10 = DatasetInfo(
        name="cifar10", num_classes=10, image_shape=(32, 32, 3), num_train=50_000,
        num_test=10_000, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        source=cifar.format("cifar10"), **common,
    )  # fmt: skip
    cifar100 = DatasetInfo(
        name="cifar100", num_classes=100, image_shape=(32, 32, 3), num_train=50_000,
        num_test=10_000, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        source=cifar.format("cifar100"), **common,
    )  # fmt: skip
    imagenet = DatasetInfo(
        name="imagenet2012", num_classes=1000, image_shape=(224, 224, 3),
        num_train=1_281_167, num_test=50_000, mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        source="tensorflow-datasets 'imagenet2012' (data_dir, or prepared from the "
        "ILSVRC2012 archives in manual_dir); 'test' is the official validation set",
        **common,
    )  # fmt: skip
    tiny = DatasetInfo(
        name="tiny_imagenet", num_classes=200, image_shape=(64, 64, 3),
        num_train=100_000, num_test=10_000, mean=(0.4802, 0.4481, 0.3975),
        std=(0.2770, 0.2691, 0.2821),
        source=f"tiny-imagenet-200 folder at data_dir or ${TINY_IMAGENET_ENV}; 'test' "
        "is the official validation set",
        **common,
    )  # fmt: skip
    return {
        "fashion_mnist": spec(fashion, 4),
        "cifar10": spec(cifar10, 4),
        "cifar100": spec(cifar100, 4),
        "imagenet2012": spec(imagenet, 0, variable_size=True),
        "tiny_imagenet": spec(tiny, 4),
    }


_SPECS = _make_specs()


def _spec(name) -> _Spec:
    if not isinstance(name, str) or name not in _SPECS:
        raise ValueError(f"Unknown dataset {name!r}; accepted: {', '.join(DATASETS)}.")
    return _SPECS[name]


def info(name: str, image_size: Optional[int] = None) -> DatasetInfo:
    """Describes a dataset: classes, image shape, split sizes, normalization constants.

    # Arguments
        name: One of `DATASETS`.
        image_size: The `image_size` that will be given to `load`; `None`: the
            dataset's own (28, 32, 64, or 224 for ImageNet).

    # Returns
        A `DatasetInfo`.

    # Raises
        ValueError: Unknown name or bad `image_size`.
    """
    spec = _spec(name)
    size = _check_image_size(image_size)
    if size is None:
        return spec.info
    return dataclasses.replace(spec.info, image_shape=(size, size, spec.channels))


# ======================================================================================
# Argument checks
# ======================================================================================
def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; accepted: {', '.join(SPLITS)}.")
    return split


def _check_image_size(image_size):
    if image_size is None:
        return None
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < 1
    ):
        raise ValueError(
            f"`image_size` must be a positive integer or None, got {image_size!r}."
        )
    return int(image_size)


def _check_positive_int(value, what, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"`{what}` must be a positive integer"
            f"{' or None' if allow_none else ''}, got {value!r}."
        )
    return int(value)


def _check_normalize(normalize):
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


def _num_validation(num_train, validation_split, split):
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float, np.integer, np.floating))
        or not 0 <= validation_split < 1
    ):
        raise ValueError(
            f"`validation_split` must be a fraction in [0, 1), got "
            f"{validation_split!r}."
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


# ======================================================================================
# IDX files (Fashion-MNIST)
# ======================================================================================
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open_maybe_gzip(path):
    with open(path, "rb") as stream:
        gzipped = stream.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _parse_idx_header(header, path):
    if len(header) < 4:
        raise CorruptDatasetError(
            f"{path}: not an IDX file (only {len(header)} bytes)."
        )
    if header[0:2] != b"\x00\x00" or header[2] not in _IDX_TYPES or header[3] == 0:
        raise CorruptDatasetError(
            f"{path}: bad IDX magic number 0x{header[:4].hex()} (expected 0x0000TTNN "
            f"with a type code TT in {', '.join(f'{t:02x}' for t in _IDX_TYPES)} and "
            "NN >= 1 dimensions)."
        )
    ndim = header[3]
    size = 4 + 4 * ndim
    if len(header) < size:
        raise CorruptDatasetError(
            f"{path}: truncated IDX header ({len(header)} of {size} bytes)."
        )
    shape = struct.unpack(f">{ndim}I", header[4:size])
    return _IDX_TYPES[header[2]], tuple(int(d) for d in shape), size


def read_idx_header(path) -> Tuple[np.dtype, Tuple[int, ...]]:
    """Reads only the header of an IDX file (gzip-compressed or not): cheap.

    # Arguments
        path: The file.

    # Returns
        `(dtype, shape)` of the array the file stores.

    # Raises
        CorruptDatasetError: Not an IDX file, or a broken gzip stream.
        FileNotFoundError: No such file.
    """
    try:
        with _open_maybe_gzip(path) as stream:
            start = stream.read(4)
            rest = stream.read(4 * start[3]) if len(start) == 4 else b""
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise CorruptDatasetError(f"{path}: unreadable ({error}).") from error
    dtype, shape, _ = _parse_idx_header(start + rest, path)
    return dtype, shape


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (MNIST's and Fashion-MNIST's format), gzip-compressed or not.

    The format: two zero bytes, a type code (`0x08` unsigned byte, `0x09` signed byte,
    `0x0B` int16, `0x0C` int32, `0x0D` float32, `0x0E` float64), the number of
    dimensions, each dimension as a big-endian uint32, then the data in C order.

    # Arguments
        path: The file.

    # Returns
        The array, with the file's shape and (native-endian) dtype.

    # Raises
        CorruptDatasetError: Bad magic number, truncated header or data, trailing bytes
            or a broken gzip stream.
        FileNotFoundError: No such file.
    """
    try:
        with _open_maybe_gzip(path) as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise CorruptDatasetError(
            f"{path}: unreadable, truncated or not gzip ({error})."
        ) from error
    dtype, shape, offset = _parse_idx_header(raw, path)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - offset
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise CorruptDatasetError(
            f"{path}: {problem}: its header announces shape {shape} of {dtype.name}, "
            f"i.e. {expected} bytes of data, but {found} follow."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


@functools.lru_cache(maxsize=4)
def _read_idx_cached(path, mtime_ns, size):
    del mtime_ns, size  # Only part of the cache key: a changed file is read again.
    array = read_idx(path)
    array.setflags(write=False)
    return array


def _read_idx_once(path):
    stat = os.stat(path)
    return _read_idx_cached(str(path), stat.st_mtime_ns, stat.st_size)


def _find_file(folder, stem):
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist_dirs(data_dir):
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = []
    if os.environ.get(FASHION_MNIST_ENV):
        dirs.append(Path(os.environ[FASHION_MNIST_ENV]))
    dirs.append(Path(FASHION_MNIST_DIR))
    return dirs


def _fashion_mnist_folder(data_dir, split):
    """The first folder searched holding the split's two IDX files, `None` if no folder
    holds any Fashion-MNIST file; a folder holding only some is an error."""
    for folder in _fashion_mnist_dirs(data_dir):
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


def fashion_mnist_arrays(split: str, data_dir=None) -> Tuple[np.ndarray, np.ndarray]:
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
    folder = _fashion_mnist_folder(data_dir, split)
    if folder is None:
        searched = ", ".join(str(d) for d in _fashion_mnist_dirs(data_dir))
        raise DatasetNotFoundError(
            f"No Fashion-MNIST IDX files in {searched}. " + _FASHION_MNIST_HELP
        )
    image_path, label_path = (
        _find_file(folder, stem) for stem in FASHION_MNIST_FILES[split]
    )
    images = _read_idx_once(image_path)
    labels = _read_idx_once(label_path)
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
            f"{label_path}: labels must be in [0, 9], found "
            f"[{labels.min()}, {labels.max()}]."
        )
    return images[..., None], labels.astype(np.int64)


_FASHION_MNIST_HELP = (
    "Get Fashion-MNIST with Debian's package: `apt-get update && apt-get install "
    f"dataset-fashion-mnist` (files in {FASHION_MNIST_DIR}), or put the four IDX files "
    f"in a folder named by data_dir or ${FASHION_MNIST_ENV}, or let "
    "tensorflow-datasets download it (needs internet)."
)


# ======================================================================================
# tensorflow-datasets
# ======================================================================================
def _import_tfds():
    import tensorflow_datasets as tfds

    return tfds


def _host_reachable(host, port, timeout=_PROBE_TIMEOUT_S):
    """Whether a TCP connection to `host:port` opens within `timeout` seconds (name
    resolution included, which a socket timeout does not bound)."""
    result = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(result and result[0])


def _download_plausible(name):
    if any(os.environ.get(variable) for variable in _PROXY_VARIABLES):
        return True
    host = _DOWNLOAD_HOSTS.get(name)
    return host is None or _host_reachable(*host)


def _tfds_builder(name, data_dir, download, manual_dir=None, help_text=""):
    """A prepared tfds builder of `name`; downloads/prepares it when allowed and
    plausible.

    # Raises
        DatasetNotFoundError: tfds is missing, or the data is not prepared and cannot
            be prepared.
    """
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    try:
        tfds = _import_tfds()
    except ImportError as error:
        raise DatasetNotFoundError(
            f"{name} needs tensorflow-datasets, which cannot be imported ({error}). "
            + help_text
        ) from error
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises many types for a broken data_dir.
        raise DatasetNotFoundError(
            f"tensorflow-datasets cannot open {name!r} in "
            f"{where}: {error}. {help_text}"
        ) from error
    if builder.is_prepared():
        return builder
    if not download:
        raise DatasetNotFoundError(
            f"{name} is not prepared in the tensorflow-datasets "
            f"data_dir {where} and download=False. {help_text}"
        )
    kwargs = {}
    if name in _MANUAL_FILES:
        if manual_dir is None:
            raise DatasetNotFoundError(
                f"{name} is not prepared in the tensorflow-datasets "
                f"data_dir {where}. {help_text}"
            )
        missing = [
            f for f in _MANUAL_FILES[name] if not (Path(manual_dir) / f).is_file()
        ]
        if missing:
            raise DatasetNotFoundError(
                f"{name} is not prepared in the tensorflow-datasets data_dir {where}, "
                f"and manual_dir {manual_dir} lacks {', '.join(missing)}. {help_text}"
            )
        kwargs["download_config"] = tfds.download.DownloadConfig(
            manual_dir=os.fspath(manual_dir)
        )
    elif not _download_plausible(name):
        host = _DOWNLOAD_HOSTS[name][0]
        raise DatasetNotFoundError(
            f"{name} is not prepared in the tensorflow-datasets data_dir {where} and "
            f"cannot be downloaded: {host} is unreachable (no internet?). {help_text}"
        )
    try:
        builder.download_and_prepare(**kwargs)
    except Exception as error:  # Network, manual files, missing modules, ...
        hint = ""
        if isinstance(error, ModuleNotFoundError) and error.name:
            hint = (
                f" (tensorflow-datasets needs it to prepare data: pip install "
                f"{error.name})"
            )
        raise DatasetNotFoundError(
            f"tensorflow-datasets could not prepare {name} in {where}: "
            f"{type(error).__name__}: {error}{hint}. {help_text}"
        ) from error
    return builder


def _tfds_arrays(builder, split):
    """A whole small tfds split as numpy arrays `(uint8 images, int64 labels)`."""
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(_TFDS_READ_BATCH).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        raise CorruptDatasetError(
            f"tensorflow-datasets' {builder.name} split {split!r} is empty."
        )
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def _tfds_num_train(builder, default):
    try:
        return int(builder.info.splits["train"].num_examples) or default
    except (KeyError, TypeError, AttributeError):
        return default


_CIFAR_HELP = (
    "Prepare it with tensorflow-datasets on a machine with internet "
    "(`tfds.builder('{name}', data_dir=DIR).download_and_prepare()`) and pass "
    "data_dir=DIR, or run with internet access and download=True."
)
_IMAGENET_HELP = (
    "ImageNet cannot be downloaded automatically: put ILSVRC2012_img_train.tar and "
    "ILSVRC2012_img_val.tar in a folder and pass it as manual_dir (tensorflow-datasets "
    "then prepares it in data_dir), or pass a data_dir where it is prepared already."
)


# ======================================================================================
# Tiny ImageNet
# ======================================================================================
def _tiny_imagenet_root(data_dir):
    given = data_dir if data_dir is not None else os.environ.get(TINY_IMAGENET_ENV)
    if not given:
        raise DatasetNotFoundError(
            "tiny_imagenet needs the `tiny-imagenet-200` folder: pass data_dir (or set "
            f"${TINY_IMAGENET_ENV}) to it or to its parent. Download "
            "tiny-imagenet-200.zip (from the Stanford CS231n site) and unzip it."
        )
    given = Path(given)
    for candidate in (given, given / "tiny-imagenet-200"):
        if (candidate / "wnids.txt").is_file():
            return candidate
    raise DatasetNotFoundError(
        f"No Tiny ImageNet at {given}: neither it nor {given / 'tiny-imagenet-200'} "
        "holds wnids.txt. Download tiny-imagenet-200.zip (from the Stanford CS231n "
        "site), unzip it, and pass the `tiny-imagenet-200` folder as data_dir."
    )


def _is_image(name):
    return name.lower().endswith(_IMAGE_EXTENSIONS)


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
        raise ValueError(
            f"Unknown Tiny ImageNet file split {split!r}; accepted: train, test."
        )
    root = _tiny_imagenet_root(data_dir)
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
    index = {wnid: i for i, wnid in enumerate(wnids)}
    paths, labels = [], []
    if split == "train":
        for wnid in wnids:
            folder = root / "train" / wnid / "images"
            if not folder.is_dir():
                raise CorruptDatasetError(
                    f"Tiny ImageNet: {folder} is missing (class "
                    f"{wnid} of wnids.txt)."
                )
            names = sorted(n for n in os.listdir(folder) if _is_image(n))
            paths.extend(str(folder / n) for n in names)
            labels.extend([index[wnid]] * len(names))
        order = np.random.default_rng(0).permutation(len(paths))
        paths = [paths[i] for i in order]
        labels = [labels[i] for i in order]
    else:
        annotations = root / "val" / "val_annotations.txt"
        images = root / "val" / "images"
        if not annotations.is_file() or not images.is_dir():
            raise CorruptDatasetError(
                f"Tiny ImageNet: {annotations} or {images} is missing."
            )
        present = set(os.listdir(images))
        for number, line in enumerate(
            annotations.read_text(encoding="utf-8").splitlines(), start=1
        ):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2 or fields[1] not in index:
                raise CorruptDatasetError(
                    f"{annotations}:{number}: expected 'file wnid ...' with a wnid of "
                    f"wnids.txt, found {line.strip()!r}."
                )
            if fields[0] not in present:
                raise CorruptDatasetError(
                    f"{annotations}:{number}: {images / fields[0]} is missing."
                )
            paths.append(str(images / fields[0]))
            labels.append(index[fields[1]])
    if not paths:
        raise CorruptDatasetError(
            f"Tiny ImageNet at {root}: the {split} split has no images."
        )
    return paths, np.asarray(labels, dtype=np.int64), wnids


# ======================================================================================
# Augmentation and normalization (composable, also usable outside `load`)
# ======================================================================================
def random_crop_and_flip(images, seed, padding: int = 4, flip: bool = True):
    """Random crop with zero padding and random horizontal flip of a batch of images.

    Each image is zero-padded by `padding` pixels on every side and a window of its
    original size is cut at a random offset (uniform over the `(2 * padding + 1)^2`
    offsets); then, with probability 1/2, it is mirrored left-right. Every image of the
    batch draws its own offset and flip; all are vectorized over the batch.

    # Arguments
        images: Tensor `(batch, height, width, channels)` of any dtype.
        seed: Shape `(2,)` integer tensor: the stateless seed of the draws.
        padding: Pixels of zero padding (0: no crop).
        flip: Whether to flip at random.

    # Returns
        The augmented batch, same shape and dtype.
    """
    images = tf.convert_to_tensor(images)
    crop_seed, x_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if not padding and not flip:
        return images
    rows = tf.range(height)[None, :]
    cols = tf.range(width)[None, :]
    if flip:  # Folded into the column indices: no separate reverse-and-select pass.
        mirror = tf.random.stateless_uniform([batch], flip_seed) < 0.5
        cols = tf.where(mirror[:, None], width - 1 - cols, cols)
    if padding:
        images = tf.pad(
            images, [[0, 0], [padding, padding], [padding, padding], [0, 0]]
        )
        span = 2 * padding + 1
        rows = rows + tf.random.stateless_uniform(
            [batch, 1], crop_seed, 0, span, dtype=tf.int32
        )
        cols = cols + tf.random.stateless_uniform(
            [batch, 1], x_seed, 0, span, dtype=tf.int32
        )
        images = tf.gather(
            images, tf.broadcast_to(rows, [batch, height]), axis=1, batch_dims=1
        )
    # Gathering whole rows is much faster than single pixels: gather the columns as
    # rows of the transposed batch.
    images = tf.transpose(images, [0, 2, 1, 3])
    images = tf.gather(
        images, tf.broadcast_to(cols, [batch, width]), axis=1, batch_dims=1
    )
    return tf.transpose(images, [0, 2, 1, 3])


def sample_crop_window(
    image_shape, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), max_attempts: int = 10
):
    """Samples the window of a random resized crop ("Inception" crop).

    The window covers a uniform fraction `scale` of the image area with an aspect ratio
    (width / height) in `ratio`; after `max_attempts` draws that do not fit, the whole
    image.

    # Arguments
        image_shape: `(height, width[, channels])` integer tensor.
        seed: Shape `(2,)` integer tensor.
        scale: Range of the area fraction.
        ratio: Range of the aspect ratio.
        max_attempts: Draws before falling back to the whole image.

    # Returns
        `(top, left, height, width)` int32 scalars.
    """
    image_shape = tf.cast(tf.convert_to_tensor(image_shape)[:2], tf.int32)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([image_shape, [1]], axis=0),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True,
    )
    return begin[0], begin[1], size[0], size[1]


def random_resized_crop(
    image, seed, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
):
    """Random resized crop of one image: a `sample_crop_window` resized (bilinear) to
    `size x size`.

    # Arguments
        image: Either a decoded image `(height, width, channels)`, or a scalar string
            tensor of JPEG bytes (then only the window is decoded, which is faster).
        seed: Shape `(2,)` integer tensor.
        size: Output side.
        scale: Range of the area fraction.
        ratio: Range of the aspect ratio (width / height).

    # Returns
        A `float32` image `(size, size, channels)` with values in `[0, 255]` for
        `uint8` input (3 channels for JPEG bytes).
    """
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.string:
        shape = tf.image.extract_jpeg_shape(image)
        top, left, height, width = sample_crop_window(shape, seed, scale, ratio)
        crop = tf.image.decode_and_crop_jpeg(
            image, tf.stack([top, left, height, width]), channels=3
        )
    else:
        top, left, height, width = sample_crop_window(
            tf.shape(image), seed, scale, ratio
        )
        crop = image[top : top + height, left : left + width]
    resized = tf.image.resize(crop, [size, size], method="bilinear")
    return tf.ensure_shape(resized, [size, size, crop.shape[-1]])


def lighting(
    image,
    seed,
    alphastd: float = 0.1,
    eigval=IMAGENET_EIGVAL,
    eigvec=IMAGENET_EIGVEC,
    pixel_range: float = 255.0,
):
    """AlexNet's PCA lighting noise: adds `pixel_range * eigvec @ (alpha * eigval)` to
    every pixel, with `alpha ~ Normal(0, alphastd)` per image and principal component.

    # Arguments
        image: Float RGB image `(height, width, 3)` or batch `(batch, h, w, 3)` (one
            draw for the whole tensor).
        seed: Shape `(2,)` integer tensor.
        alphastd: Standard deviation of `alpha`; 0 disables the noise.
        eigval: Eigenvalues of the pixel covariance for pixels in `[0, 1]`.
        eigvec: Matching eigenvectors, one per column.
        pixel_range: 255 for pixels in `[0, 255]`, 1 for `[0, 1]`.

    # Returns
        The image plus the per-channel offset (not clipped).
    """
    image = tf.convert_to_tensor(image)
    alpha = tf.random.stateless_normal([3], seed, stddev=alphastd, dtype=image.dtype)
    offset = tf.linalg.matvec(
        tf.constant(eigvec, image.dtype), alpha * tf.constant(eigval, image.dtype)
    )
    return image + pixel_range * offset


def resize_and_center_crop(
    image, size: int, crop_fraction: float = CENTER_CROP_FRACTION
):
    """The standard evaluation transform: resize (bilinear, antialiased) so that the
    shorter side is `round(size / crop_fraction)`, keeping the aspect ratio, then cut
    the center `size x size` square.

    # Arguments
        image: Image `(height, width, channels)` of any real dtype.
        size: Output side.
        crop_fraction: Fraction of the resized shorter side kept (0.875: 224 of 256).

    # Returns
        A `float32` image `(size, size, channels)`.
    """
    image = tf.convert_to_tensor(image)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    shorter = int(round(size / crop_fraction))
    scale = shorter / tf.reduce_min(shape)
    new_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    resized = tf.image.resize(image, new_shape, method="bilinear", antialias=True)
    top = (new_shape[0] - size) // 2
    left = (new_shape[1] - size) // 2
    crop = resized[top : top + size, left : left + size]
    return tf.ensure_shape(crop, [size, size, image.shape[-1]])


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
    mode = _check_normalize(mode)
    images = tf.cast(images, tf.float32)
    if mode == "standardize":
        if mean is None or std is None:
            raise ValueError(
                "normalize='standardize' needs the per-channel `mean` and `std`."
            )
        scale = 1.0 / (255.0 * np.asarray(std, np.float64))
        shift = np.asarray(mean, np.float64) / np.asarray(std, np.float64)
        if (
            images.shape.rank
            and images.shape.rank >= 3
            and images.shape[-3:].is_fully_defined()
        ):
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


# ======================================================================================
# Pipelines
# ======================================================================================
def _no_autograph(function):
    """Map functions here need no AutoGraph (their `if`s test Python values); skipping
    its source transformation makes building a pipeline seconds faster."""
    return tf.autograph.experimental.do_not_convert(function)


def _seeds(seed):
    """An endless dataset of stateless seeds `(2,)`, redrawn on each iteration."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def _with_options(dataset, shard_by_data):
    options = tf.data.Options()
    options.deterministic = True
    if shard_by_data:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
    return dataset.with_options(options)


def _finish_batches(dataset, *, augment, padding, seed, size, mode, mean, std, resize):
    """Batches of `(uint8 images, labels)` -> augmented, normalized, prefetched."""

    def process(images, labels, seed_pair=None):
        if resize:
            images = tf.image.resize(
                images, [size, size], method="bilinear", antialias=True
            )
        if seed_pair is not None:
            images = random_crop_and_flip(images, seed_pair, padding=padding)
        images = normalize_images(images, mode, mean, std)
        images = tf.ensure_shape(images, [None, size, size, None])
        return images, labels

    if augment:
        dataset = tf.data.Dataset.zip((dataset, _seeds(seed)))
        dataset = dataset.map(
            _no_autograph(lambda batch, s: process(*batch, s)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        dataset = dataset.map(
            _no_autograph(process), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def from_arrays(
    images,
    labels,
    *,
    batch_size: int,
    training: bool,
    augment: Optional[bool] = None,
    crop_padding: int = 4,
    image_size: Optional[int] = None,
    normalize="standardize",
    mean=None,
    std=None,
    shuffle_buffer: Optional[int] = None,
    seed: Optional[int] = None,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """The pipeline of the in-memory datasets, for any arrays of small images.

    Shuffles indices (not images: a full shuffle costs nothing), gathers a batch,
    augments the whole batch at once (`random_crop_and_flip`), normalizes, prefetches.

    # Arguments
        images: `uint8` array `(n, height, width, channels)`, pixels in `[0, 255]`.
        labels: Integer array `(n,)`.
        batch_size: Examples per batch.
        training: Shuffle (and augment, unless `augment=False`).
        augment: Random crop + flip; `None`: same as `training`.
        crop_padding: Zero padding of the random crop (0: flip only).
        image_size: Resize the images to this side first; `None`: keep.
        normalize: See `normalize_images` (`True` = "standardize", `False` = "none").
        mean: Per-channel mean for "standardize".
        std: Per-channel standard deviation for "standardize".
        shuffle_buffer: Shuffle buffer of indices; `None`: all `n` (a full shuffle).
        seed: Seed of the shuffle and augmentation; `None`: not reproducible.
        drop_remainder: Drop the last, smaller batch.
        repeat: Repeat forever (reshuffled each pass).

    # Returns
        A `tf.data.Dataset` of `(float32 images, int64 labels)` batches.

    # Raises
        ValueError: Bad shapes or arguments.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"Expected images (n, height, width, channels) and labels (n,), "
            f"got shapes {images.shape} and {labels.shape}."
        )
    if images.shape[0] == 0:
        raise ValueError("No examples: the arrays are empty.")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"Expected square images, got {images.shape[1:3]}.")
    batch_size = _check_positive_int(batch_size, "batch_size")
    shuffle_buffer = _check_positive_int(shuffle_buffer, "shuffle_buffer", True)
    size = _check_image_size(image_size) or images.shape[1]
    mode = _check_normalize(normalize)
    augment = training if augment is None else bool(augment)
    count = images.shape[0]
    image_tensor = tf.constant(images)
    label_tensor = tf.constant(labels.astype(np.int64))

    indices = tf.data.Dataset.range(count)
    if training:
        indices = indices.shuffle(
            min(shuffle_buffer or count, count),
            seed=seed,
            reshuffle_each_iteration=True,
        )
    if repeat:
        indices = indices.repeat()
    indices = indices.batch(batch_size, drop_remainder=drop_remainder)
    dataset = indices.map(
        _no_autograph(
            lambda i: (tf.gather(image_tensor, i), tf.gather(label_tensor, i))
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = _finish_batches(
        dataset,
        augment=augment,
        padding=crop_padding,
        seed=seed,
        size=size,
        mode=mode,
        mean=mean,
        std=std,
        resize=size != images.shape[1],
    )
    return _with_options(dataset, shard_by_data=True)


def _decode_small(path, channels, native_size):
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=channels, expand_animations=False
    )
    return tf.ensure_shape(image, [native_size, native_size, channels])


def _tiny_imagenet_pipeline(
    spec,
    split,
    *,
    data_dir,
    validation_split,
    batch_size,
    training,
    augment,
    cache,
    shuffle_buffer,
    seed,
    drop_remainder,
    repeat,
    size,
    mode,
):
    file_split = "test" if split == "test" else "train"
    paths, labels, _ = tiny_imagenet_files(file_split, data_dir)
    if split != "test":
        held_out = _num_validation(len(paths), validation_split, split)
        cut = len(paths) - held_out
        paths, labels = (
            (paths[cut:], labels[cut:])
            if split == "validation"
            else (paths[:cut], labels[:cut])
        )
    count = len(paths)
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    decode = functools.partial(
        _decode_small, channels=spec.channels, native_size=spec.native_size
    )
    if cache:
        dataset = dataset.map(
            _no_autograph(lambda p, y: (decode(p), y)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        dataset = dataset.cache(cache if isinstance(cache, (str, os.PathLike)) else "")
        if training:
            dataset = dataset.shuffle(
                min(shuffle_buffer or _DEFAULT_SHUFFLE_BUFFER, count),
                seed=seed,
                reshuffle_each_iteration=True,
            )
    else:
        if training:  # Shuffling file names is cheap: shuffle them all.
            dataset = dataset.shuffle(
                min(shuffle_buffer or count, count),
                seed=seed,
                reshuffle_each_iteration=True,
            )
        dataset = dataset.map(
            _no_autograph(lambda p, y: (decode(p), y)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = _finish_batches(
        dataset,
        augment=augment,
        padding=spec.crop_padding,
        seed=seed,
        size=size,
        mode=mode,
        mean=spec.info.mean,
        std=spec.info.std,
        resize=size != spec.native_size,
    )
    return _with_options(dataset, shard_by_data=True)


def _imagenet_pipeline(
    spec,
    split,
    *,
    data_dir,
    manual_dir,
    download,
    validation_split,
    batch_size,
    training,
    augment,
    cache,
    shuffle_buffer,
    seed,
    drop_remainder,
    repeat,
    size,
    mode,
):
    builder = _tfds_builder(
        "imagenet2012", data_dir, download, manual_dir, _IMAGENET_HELP
    )
    tfds = _import_tfds()
    if split == "test":
        tfds_split = (
            "validation"  # The official validation set is the papers' test set.
        )
    else:
        total = _tfds_num_train(builder, spec.info.num_train)
        cut = total - _num_validation(total, validation_split, split)
        tfds_split = (
            f"train[{cut}:]"
            if split == "validation"
            else (f"train[:{cut}]" if cut < total else "train")
        )
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    dataset = builder.as_dataset(
        split=tfds_split,
        as_supervised=True,
        shuffle_files=training,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=read_config,
    )
    if isinstance(cache, (str, os.PathLike)):  # In memory it would not fit.
        dataset = dataset.cache(os.fspath(cache))
    if training:
        dataset = dataset.shuffle(
            shuffle_buffer or _DEFAULT_SHUFFLE_BUFFER,
            seed=seed,
            reshuffle_each_iteration=True,
        )
    if repeat:
        dataset = dataset.repeat()

    def train_transform(encoded, label, seed_pair):
        crop_seed, flip_seed, light_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed_pair, num=3)
        )
        image = random_resized_crop(encoded, crop_seed, size)
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        image = lighting(image, light_seed, 0.1)
        return image, label

    def eval_transform(encoded, label):
        image = tf.io.decode_jpeg(encoded, channels=3)
        return resize_and_center_crop(image, size), label

    if augment:
        dataset = tf.data.Dataset.zip((dataset, _seeds(seed)))
        dataset = dataset.map(
            _no_autograph(lambda example, s: train_transform(*example, s)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        dataset = dataset.map(
            _no_autograph(eval_transform), num_parallel_calls=tf.data.AUTOTUNE
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def finish(images, labels):
        images = normalize_images(images, mode, spec.info.mean, spec.info.std)
        return tf.ensure_shape(images, [None, size, size, 3]), labels

    dataset = dataset.map(_no_autograph(finish), num_parallel_calls=tf.data.AUTOTUNE)
    return _with_options(dataset.prefetch(tf.data.AUTOTUNE), shard_by_data=False)


def _small_arrays(name, split, data_dir, download):
    """`(images, labels)` of a whole file split of fashion_mnist or CIFAR."""
    file_split = "test" if split == "test" else "train"
    if name == "fashion_mnist":
        if _fashion_mnist_folder(data_dir, file_split) is not None:
            return fashion_mnist_arrays(file_split, data_dir)
        searched = ", ".join(str(d) for d in _fashion_mnist_dirs(data_dir))
        builder = _tfds_builder(
            name,
            data_dir,
            download,
            help_text=f"No Fashion-MNIST IDX files either (searched {searched}). "
            + _FASHION_MNIST_HELP,
        )
        images, labels = _tfds_arrays(builder, file_split)
    else:
        builder = _tfds_builder(
            name, data_dir, download, help_text=_CIFAR_HELP.format(name=name)
        )
        images, labels = _tfds_arrays(builder, file_split)
    return images, labels


def load(
    name: str,
    split: str,
    *,
    batch_size: int,
    training: bool,
    data_dir=None,
    image_size: Optional[int] = None,
    validation_split: float = 0.0,
    augment: Optional[bool] = None,
    cache: Union[bool, str] = True,
    shuffle_buffer: Optional[int] = None,
    seed: Optional[int] = None,
    drop_remainder: bool = False,
    normalize: Union[bool, str] = True,
    repeat: bool = False,
    download: bool = True,
    manual_dir=None,
) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of `(float32 images, int64 labels)`.

    See the module documentation for the datasets, splits, augmentations and
    normalizations.

    # Arguments
        name: One of `DATASETS`.
        split: `"train"`, `"validation"` (the last `validation_split` of the training
            set) or `"test"`.
        batch_size: Examples per batch.
        training: Shuffle and augment (evaluation: neither, deterministic order).
        data_dir: `fashion_mnist`: a folder with the IDX files (default
            `$LARQ_NOBN_FASHION_MNIST_DIR`, then `/usr/share/datasets/fashion-mnist`);
            without them it is also the tensorflow-datasets data_dir of the fallback.
            `cifar10`, `cifar100`, `imagenet2012`: the tensorflow-datasets data_dir
            (default `$TFDS_DATA_DIR` or `~/tensorflow_datasets`). `tiny_imagenet`: the
            `tiny-imagenet-200` folder or its parent (default
            `$LARQ_NOBN_TINY_IMAGENET_DIR`).
        image_size: Side of the square images yielded; `None`: the dataset's own (224
            for ImageNet). Small datasets are resized (bilinear) before augmentation.
        validation_split: Fraction of the training set held out as `"validation"` (and
            removed from `"train"`); 0: none.
        augment: Augment; `None`: same as `training`.
        cache: `True`: keep the decoded, not yet augmented examples in memory where
            they fit: `fashion_mnist` and CIFAR are loaded as arrays anyway,
            `tiny_imagenet` is decoded once and cached (about 1.2 GB for the training
            set), `imagenet2012` is not cached. A path: cache to that file prefix
            (`tiny_imagenet`, `imagenet2012`). `False`: no cache (`tiny_imagenet`
            decodes every epoch).
        shuffle_buffer: Shuffle buffer; `None`: a full shuffle for `fashion_mnist`,
            CIFAR and uncached `tiny_imagenet`, 10,000 examples otherwise.
        seed: Seed of shuffling and augmentation; same seed, same batches. `None`: not
            reproducible.
        drop_remainder: Drop the last, smaller batch (static batch dimension).
        normalize: `True`/`"standardize"` (per-dataset mean and std), `"symmetric"`
            (`[-1, 1]`), `"unit"` (`[0, 1]`) or `False`/`"none"` (`[0, 255]`).
        repeat: Repeat forever (each pass reshuffled and re-augmented).
        download: Let tensorflow-datasets download (or prepare from `manual_dir`) a
            dataset missing from its data_dir.
        manual_dir: `imagenet2012` only: the folder with the ILSVRC2012 archives.

    # Returns
        A `tf.data.Dataset` of `(images, labels)` batches: `float32` images
        `(batch, image_size, image_size, channels)`, `int64` labels `(batch,)`.

    # Raises
        ValueError: Unknown dataset, split or normalization, or a bad argument.
        DatasetNotFoundError: The data is missing (the message says how to get it).
        CorruptDatasetError: The data is malformed.
    """
    spec = _spec(name)
    split = _check_split(split)
    batch_size = _check_positive_int(batch_size, "batch_size")
    shuffle_buffer = _check_positive_int(shuffle_buffer, "shuffle_buffer", True)
    size = _check_image_size(image_size) or spec.info.image_shape[0]
    mode = _check_normalize(normalize)
    _num_validation(spec.info.num_train, validation_split, split)  # Checks the value.
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise ValueError(f"`cache` must be a bool or a file path, got {cache!r}.")
    if manual_dir is not None and name != "imagenet2012":
        raise ValueError(f"`manual_dir` is for imagenet2012 only, not {name!r}.")
    augment = training if augment is None else bool(augment)
    common = dict(
        validation_split=validation_split,
        batch_size=batch_size,
        training=training,
        augment=augment,
        cache=cache,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        drop_remainder=drop_remainder,
        repeat=repeat,
        size=size,
        mode=mode,
    )
    if name == "tiny_imagenet":
        return _tiny_imagenet_pipeline(spec, split, data_dir=data_dir, **common)
    if name == "imagenet2012":
        return _imagenet_pipeline(
            spec,
            split,
            data_dir=data_dir,
            manual_dir=manual_dir,
            download=download,
            **common,
        )
    images, labels = _small_arrays(name, split, data_dir, download)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != spec.info.image_shape:
        raise CorruptDatasetError(
            f"{name}: expected images of shape "
            f"{spec.info.image_shape}, found {images.shape[1:]}."
        )
    if split != "test":
        cut = len(images) - _num_validation(len(images), validation_split, split)
        images, labels = (
            (images[cut:], labels[cut:])
            if split == "validation"
            else (images[:cut], labels[:cut])
        )
    return from_arrays(
        images,
        labels,
        batch_size=batch_size,
        training=training,
        augment=augment,
        crop_padding=spec.crop_padding,
        image_size=size,
        normalize=mode,
        mean=spec.info.mean,
        std=spec.info.std,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        drop_remainder=drop_remainder,
        repeat=repeat,
    )
