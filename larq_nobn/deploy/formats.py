"""File kinds by their content: TFLite flatbuffers, `.keras` archives, HDF5 files.

Deployment reads untrusted files, so their kind comes from their first bytes, never
from their name.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "HDF5_MAGIC",
    "KERAS_MODEL_KINDS",
    "TFLITE_MAGIC",
    "ZIP_MAGIC",
    "is_flatbuffer_bytes",
    "looks_like_keras_model",
    "read_head",
]

TFLITE_MAGIC = b"TFL3"  # a TFLite flatbuffer's file identifier, at bytes 4-8
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"  # a .keras archive is a zip archive
KERAS_MODEL_KINDS = "a .keras archive, an HDF5 (.h5) file or a SavedModel directory"


def is_flatbuffer_bytes(head: bytes) -> bool:
    """Whether `head` (a file's first bytes or more) carries the TFLite identifier."""
    return len(head) >= 8 and head[4:8] == TFLITE_MAGIC


def looks_like_keras_model(head: bytes) -> bool:
    """Whether `head` starts like a `.keras` (zip) archive or an HDF5 file."""
    return head.startswith((ZIP_MAGIC, HDF5_MAGIC))


def read_head(path: Path, size: int = 16) -> bytes:
    """The first `size` bytes of a file."""
    with open(path, "rb") as file:
        return file.read(size)
