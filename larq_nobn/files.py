"""Atomic file output: every file larq-nobn writes goes through here (and `read_json`,
which reads the JSON files it wrote, naming a corrupt one).

A file is written to a temporary file in its destination directory, flushed to disk
and moved over the destination with `os.replace`, so a crash at any point leaves either
the previous file or the new one, never a partial file. The new file gets the
permissions of an ordinary new file (`0o666` less the umask), not the `0o600` of
`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator

import numpy as np

__all__ = [
    "atomic_path",
    "copy_atomic",
    "fsync_directory",
    "read_json",
    "write_atomic",
    "write_json",
]


def fsync_directory(directory) -> None:
    """Flushes a directory entry to disk (where the platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_file(directory, prefix, suffix) -> str:
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    return path


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary path next to `path` that replaces `path` when the block succeeds.

    ```python
    with atomic_path("model.keras", ".tmp.keras") as temporary:
        model.save(temporary)
    ```

    # Arguments
        path: The destination file.
        suffix: Suffix of the temporary file (some writers choose a format by it).

    # Returns
        A context manager yielding the temporary path; on any exception the temporary
        file is removed and `path` is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = _new_file(directory, f".{os.path.basename(path)}.", suffix)
    try:
        yield temporary
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def write_atomic(path, content: bytes | str | Callable, suffix: str = ".tmp") -> str:
    """Writes `content` to `path` atomically and returns `path`.

    # Arguments
        path: The destination file.
        content: `bytes`, `str` (written as UTF-8 text) or a function `write(stream)`
            that fills a text stream (opened with `newline=""`, as `csv` wants).
        suffix: Suffix of the temporary file.
    """
    with atomic_path(path, suffix) as temporary:
        if isinstance(content, bytes):
            with open(temporary, "wb") as stream:
                stream.write(content)
        else:
            with open(temporary, "w", newline="", encoding="utf-8") as stream:
                if isinstance(content, str):
                    stream.write(content)
                else:
                    content(stream)
    return os.fspath(path)


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


def write_json(path, values) -> str:
    """Writes `values` as indented JSON (numpy scalars and arrays allowed) atomically."""
    return write_atomic(
        path, json.dumps(values, indent=2, default=_json_default) + "\n", ".json"
    )


def copy_atomic(source, destination) -> str:
    """Copies the file `source` to `destination` atomically."""
    with atomic_path(destination) as temporary:
        shutil.copyfile(source, temporary)
    return os.fspath(destination)


def read_json(path):
    """The JSON value in the file `path`.

    # Raises
        FileNotFoundError: No such file.
        ValueError: Not JSON (a damaged or hand-edited file); the message names the
            file and the position.
    """
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{os.fspath(path)!r} is not valid JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno}): it is damaged; restore it or start again."
        ) from None
