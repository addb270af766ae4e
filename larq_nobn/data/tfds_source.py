"""tensorflow-datasets as a source: prepared builders, downloads, whole small splits.

tensorflow-datasets is asked to download only when the data is not prepared in its
`data_dir` yet and `download=True`, and only after a quick check (a few seconds at
most) that the dataset's download server can be reached: offline, tfds would otherwise
retry for minutes before failing. Behind a proxy (`HTTPS_PROXY`, ...) the check is
skipped. ImageNet cannot be downloaded: tfds prepares it from the archives in
`manual_dir`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from larq_nobn.data.errors import CorruptDatasetError, DatasetHelp, DatasetNotFoundError

import numpy as np

__all__ = [
    "DOWNLOAD_HOSTS",
    "MANUAL_FILES",
    "PROXY_VARIABLES",
    "PROBE_TIMEOUT_S",
    "CIFAR_HELP",
    "IMAGENET_HELP",
    "import_tfds",
    "host_reachable",
    "download_plausible",
    "tfds_builder",
    "tfds_arrays",
    "tfds_num_train",
]

logger = logging.getLogger(__name__)

DOWNLOAD_HOSTS = {
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
    "cifar100": ("www.cs.toronto.edu", 443),
}
"""`(host, port)` tensorflow-datasets downloads each dataset from (probed first)."""

MANUAL_FILES = {
    "imagenet2012": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
}
"""The archives tensorflow-datasets prepares these datasets from (no download)."""

PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
"""Environment variables of a proxy: with one set, downloads are not probed."""

PROBE_TIMEOUT_S = 3.0
"""Seconds the download probe waits for a connection."""

_READ_BATCH = 8192  # Examples per batch when reading a whole split into arrays.

CIFAR_HELP = DatasetHelp(
    api="Prepare it with tensorflow-datasets on a machine with internet "
    "(`tfds.builder('{name}', data_dir=DIR).download_and_prepare()`) and pass "
    "data_dir=DIR, or run with internet access and download=True.",
    cli="Prepare it with tensorflow-datasets on a machine with internet "
    "(`tfds build {name} --data_dir DIR`) and pass --data-dir DIR, or run again with "
    "internet access (it is downloaded then).",
)
"""How to get CIFAR (`{name}`: the dataset), for a `DatasetNotFoundError`."""

IMAGENET_HELP = DatasetHelp(
    api="ImageNet cannot be downloaded automatically: put ILSVRC2012_img_train.tar and "
    "ILSVRC2012_img_val.tar in a folder and pass it as manual_dir (tensorflow-datasets "
    "then prepares it in data_dir), or pass a data_dir where it is prepared already.",
    cli="ImageNet cannot be downloaded automatically: put ILSVRC2012_img_train.tar and "
    "ILSVRC2012_img_val.tar in a folder MANUAL, prepare it with tensorflow-datasets "
    "(`tfds build imagenet2012 --manual_dir MANUAL --data_dir DIR`) and pass "
    "--data-dir DIR.",
)
"""How to get ImageNet, for a `DatasetNotFoundError`."""


def import_tfds():
    """Imports tensorflow-datasets (late: it is optional and slow to import).

    # Raises
        ImportError: It is not installed.
    """
    import tensorflow_datasets as tfds

    return tfds


def host_reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
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


def download_plausible(name: str) -> bool:
    """Whether a download of `name` may succeed: a proxy is set, the dataset has no
    known host, or its host (`DOWNLOAD_HOSTS`) is reachable."""
    if any(os.environ.get(variable) for variable in PROXY_VARIABLES):
        return True
    host = DOWNLOAD_HOSTS.get(name)
    if host is None:
        return True
    reachable = host_reachable(*host)
    if not reachable:
        logger.debug("%s: %s:%d is unreachable.", name, *host)
    return reachable


def _prepare_kwargs(tfds, name, manual_dir, where, help_text):
    """The arguments of `download_and_prepare`, once preparing `name` is possible."""
    if name not in MANUAL_FILES:
        if not download_plausible(name):
            host = DOWNLOAD_HOSTS[name][0]
            raise DatasetNotFoundError(
                f"{name} is not prepared in the tensorflow-datasets data_dir {where} and "
                f"cannot be downloaded: {host} is unreachable (no internet?).",
                help_text,
            )
        return {}
    if manual_dir is None:
        raise DatasetNotFoundError(
            f"{name} is not prepared in the tensorflow-datasets data_dir {where}.", help_text
        )
    missing = [f for f in MANUAL_FILES[name] if not (Path(manual_dir) / f).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{name} is not prepared in the tensorflow-datasets data_dir {where}, "
            f"and manual_dir {manual_dir} lacks {', '.join(missing)}.",
            help_text,
        )
    config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
    return {"download_config": config}


def tfds_builder(name: str, data_dir, download: bool, manual_dir=None, help_text=None):
    """A prepared tfds builder of `name`; downloads/prepares it when allowed and
    plausible (see the module documentation).

    # Arguments
        name: The tensorflow-datasets name.
        data_dir: Its data_dir; `None`: `$TFDS_DATA_DIR` or `~/tensorflow_datasets`.
        download: Allow downloading (or preparing from `manual_dir`).
        manual_dir: The folder of the archives of a dataset of `MANUAL_FILES`.
        help_text: How to get the data, the end of every error message: a
            `DatasetHelp` (Python and command line wordings) or one text.

    # Returns
        The `tfds.core.DatasetBuilder`, prepared.

    # Raises
        DatasetNotFoundError: tfds is missing, or the data is not prepared and cannot
            be prepared.
    """
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    try:
        tfds = import_tfds()
    except ImportError as error:
        raise DatasetNotFoundError(
            f"{name} needs tensorflow-datasets, which cannot be imported ({error}).", help_text
        ) from error
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises many types for a broken data_dir.
        raise DatasetNotFoundError(
            f"tensorflow-datasets cannot open {name!r} in {where}: {error}.", help_text
        ) from error
    if builder.is_prepared():
        return builder
    if not download:
        raise DatasetNotFoundError(
            f"{name} is not prepared in the tensorflow-datasets "
            f"data_dir {where} and download=False.",
            help_text,
        )
    kwargs = _prepare_kwargs(tfds, name, manual_dir, where, help_text)
    logger.info("Preparing %s with tensorflow-datasets in %s.", name, where)
    try:
        builder.download_and_prepare(**kwargs)
    except Exception as error:  # Network, manual files, missing modules, ...
        hint = ""
        if isinstance(error, ModuleNotFoundError) and error.name:
            hint = f" (tensorflow-datasets needs it to prepare data: pip install {error.name})"
        raise DatasetNotFoundError(
            f"tensorflow-datasets could not prepare {name} in {where}: "
            f"{type(error).__name__}: {error}{hint}.",
            help_text,
        ) from error
    return builder


def tfds_arrays(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A whole small tfds split as numpy arrays `(uint8 images, int64 labels)`.

    # Raises
        CorruptDatasetError: The split is empty.
    """
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(_READ_BATCH).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        raise CorruptDatasetError(f"tensorflow-datasets' {builder.name} split {split!r} is empty.")
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def tfds_num_train(builder, default: int) -> int:
    """The number of training examples the builder's metadata announces, else
    `default`."""
    try:
        return int(builder.info.splits["train"].num_examples) or default
    except (KeyError, TypeError, AttributeError):
        return default
