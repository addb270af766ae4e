"""The IDX file format of MNIST and Fashion-MNIST, gzip-compressed or not.

Two zero bytes, a type code (`0x08` unsigned byte, `0x09` signed byte, `0x0B` int16,
`0x0C` int32, `0x0D` float32, `0x0E` float64), the number of dimensions, each dimension
as a big-endian uint32, then the data in C order.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import zlib

from larq_nobn.data.errors import CorruptDatasetError

import numpy as np

__all__ = ["read_idx", "read_idx_header", "read_idx_cached"]

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
        raise CorruptDatasetError(f"{path}: not an IDX file (only {len(header)} bytes).")
    if header[0:2] != b"\x00\x00" or header[2] not in _IDX_TYPES or header[3] == 0:
        raise CorruptDatasetError(
            f"{path}: bad IDX magic number 0x{header[:4].hex()} (expected 0x0000TTNN "
            f"with a type code TT in {', '.join(f'{t:02x}' for t in _IDX_TYPES)} and "
            "NN >= 1 dimensions)."
        )
    ndim = header[3]
    size = 4 + 4 * ndim
    if len(header) < size:
        raise CorruptDatasetError(f"{path}: truncated IDX header ({len(header)} of {size} bytes).")
    shape = struct.unpack(f">{ndim}I", header[4:size])
    return _IDX_TYPES[header[2]], tuple(int(d) for d in shape), size


def read_idx_header(path) -> tuple[np.dtype, tuple[int, ...]]:
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
def _read_idx_by_stat(path, mtime_ns, size):
    del mtime_ns, size  # Only part of the cache key: a changed file is read again.
    array = read_idx(path)
    array.setflags(write=False)
    return array


def read_idx_cached(path) -> np.ndarray:
    """`read_idx`, once per process: the last few files read are kept, read-only, and
    read again only when their modification time or size changes.

    # Arguments
        path: The file.

    # Returns
        The read-only array.

    # Raises
        CorruptDatasetError: As `read_idx`.
        FileNotFoundError: No such file.
    """
    stat = os.stat(path)
    return _read_idx_by_stat(str(path), stat.st_mtime_ns, stat.st_size)
