"""Writing deployment outputs (flatbuffers, JSON reports) atomically, with the errors
of bad output paths as `DeployError`s."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from larq_nobn.deploy.errors import DeployError, one_line
from larq_nobn.files import write_atomic

__all__ = ["save_bytes", "save_json"]

logger = logging.getLogger(__name__)


def save_bytes(path, data: bytes) -> Path:
    """Writes `data` to `path` atomically (`larq_nobn.files.write_atomic`: the file gets
    the permissions of an ordinary new file) and returns the path.

    # Raises
        DeployError: The directory does not exist, `path` is a directory, or the file
            cannot be written.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DeployError(f"output directory does not exist: '{directory}'.")
    if path.is_dir():
        raise DeployError(f"output path is a directory: '{path}'.")
    try:
        write_atomic(path, bytes(data))
    except OSError as error:
        raise DeployError(f"cannot write '{path}': {one_line(error)}") from error
    logger.info("wrote %s (%d bytes)", path, len(data))
    return path


def save_json(path, payload) -> Path:
    """Writes `payload` as indented JSON (see `save_bytes`)."""
    return save_bytes(path, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))
