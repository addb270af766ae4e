"""Checkpoints: one atomic `.keras` file with the model, its optimizer and the training
state (epoch, position in the epoch, config, seed), the callback that writes them, and
the error of a disk that fills up (`DiskFullError`: the atomic writes keep the last
checkpoint intact, and the message names it).
"""

from __future__ import annotations

import errno
import json
import os
import time
import zipfile

from larq_nobn import files

import tensorflow as tf

__all__ = [
    "CHECKPOINT_STATE_NAME",
    "AtomicCheckpoint",
    "DiskFullError",
    "disk_full_error",
    "read_checkpoint_state",
    "save_checkpoint",
]

CHECKPOINT_STATE_NAME = "training_state.json"
CHECKPOINT_FORMAT = 1


def save_checkpoint(model: tf.keras.Model, path: str, state: dict | None = None):
    """Saves `model` (with its optimizer) and `state` into one `.keras` file atomically.

    The model is written to a temporary file in the destination directory, `state`
    is added to the same zip archive as `training_state.json`, the file is flushed to
    disk and moved over `path` with `os.replace`. A crash at any point leaves either the
    previous checkpoint or the new one, never a partial file.

    # Arguments
        model: The model to save.
        path: Destination, ending in `.keras`.
        state: JSON-serializable training state (epoch, config, seed, ...).
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"Checkpoint path must end in .keras, got {path!r}.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with files.atomic_path(path, ".tmp.keras") as temporary:
            model.save(temporary)
            if state is not None:
                with zipfile.ZipFile(temporary, "a") as archive:
                    archive.writestr(CHECKPOINT_STATE_NAME, json.dumps(state, indent=2))
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        # Name the checkpoint, not its temporary file (removed already).
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from error


class DiskFullError(OSError):
    """The disk filled up during a run (`errno.ENOSPC`); the message names the file
    and the last checkpoint, which the atomic writes keep intact."""

    def __init__(self, message):
        super().__init__(message)
        self.errno = errno.ENOSPC

    def __str__(self):
        return self.args[0]


def disk_full_error(error: OSError, checkpoint: str, resume_hint: str) -> DiskFullError:
    """The `DiskFullError` of an `ENOSPC` `error` in a run whose last checkpoint is
    `checkpoint` (the message says whether there is one, its epoch, and how to
    continue)."""
    where = f" writing {error.filename}" if error.filename else ""
    try:
        state = read_checkpoint_state(checkpoint)
    except (OSError, ValueError):  # missing or unreadable: not a checkpoint to name
        state = None
    if state is None:
        last = "no checkpoint was written yet; free some space and start the run again"
    else:
        epochs = int(state.get("epoch", 0))
        batch = int(state.get("batch", 0))
        position = f"{epochs} complete epoch(s)" + (f" and {batch} batch(es)" if batch else "")
        last = (
            f"the last checkpoint {checkpoint} ({position}) is intact; free some space "
            f"and continue with: {resume_hint}"
        )
    return DiskFullError(f"Disk full (no space left on device){where}: {last}.")


def read_checkpoint_state(path: str) -> dict:
    """The training state stored in a checkpoint by `save_checkpoint`.

    # Raises
        FileNotFoundError: No such file.
        ValueError: Not a checkpoint written by `save_checkpoint`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint {path!r} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read(CHECKPOINT_STATE_NAME)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(
            f"{path!r} is not a larq-nobn training checkpoint ({error})."
        ) from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"The {CHECKPOINT_STATE_NAME} in checkpoint {path!r} is damaged ({error}): "
            "start again with --overwrite, or copy checkpoints/best.keras over it."
        ) from None


class AtomicCheckpoint(tf.keras.callbacks.Callback):
    """Writes `last.keras` after every epoch and `best.keras` when the monitored value
    improves, each atomically through `save_checkpoint`.

    The stored state has `epoch` (complete epochs), `batch` (batches of the next epoch
    trained: 0 after an epoch, more when `GracefulInterrupt` saves mid-epoch),
    `optimizer_iterations`, `interrupted`, `config`, `seed`, `monitor` and `best`.
    A resumed run sets `batch_offset` to the batches it skips in its first epoch, so
    that `batch` counts from the epoch's beginning.

    # Arguments
        directory: Where the checkpoints go.
        state: Extra JSON-serializable state stored with every checkpoint (the config
            and the seed).
        monitor: Log key for `best.keras`; `None` disables it.
        mode: `"max"` or `"min"`.
        best: The best value so far (when resuming).

    In a multi-worker run every worker saves (saving reads distributed variables), the
    non-chief workers into a temporary `directory` of their own (see
    `larq_nobn.training.cluster`).
    """

    def __init__(
        self, directory, state=None, monitor="val_accuracy", mode="max", best=None
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min', got {mode!r}.")
        self.directory = os.fspath(directory)
        self.state = dict(state or {})
        self.monitor = monitor
        self.mode = mode
        self.best = best
        self.epoch = 0
        self.batch_offset = 0
        self.batch = 0

    @property
    def last_path(self):
        return os.path.join(self.directory, "last.keras")

    @property
    def best_path(self):
        return os.path.join(self.directory, "best.keras")

    def _improved(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def save(self, epochs_completed, interrupted=False):
        """Writes `last.keras` now (also used by `GracefulInterrupt` mid-epoch)."""
        state = dict(
            self.state,
            format=CHECKPOINT_FORMAT,
            epoch=int(epochs_completed),
            batch=int(self.batch) if interrupted else 0,
            interrupted=bool(interrupted),
            optimizer_iterations=int(self.model.optimizer.iterations.numpy()),
            monitor=self.monitor,
            best=self.best,
            saved_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        save_checkpoint(self.model, self.last_path, state)
        return state

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.batch = self.batch_offset

    def on_train_batch_end(self, batch, logs=None):
        self.batch = self.batch_offset + batch + 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor) if self.monitor else None
        improved = value is not None and self._improved(value)
        if improved:
            self.best = float(value)
        self.save(epoch + 1)
        if improved:
            files.copy_atomic(self.last_path, self.best_path)


