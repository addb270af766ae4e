"""The output directory of a run: preparing it, `log.csv` and `curves.png`."""

from __future__ import annotations

import contextlib
import csv
import glob
import logging
import os
import shutil
import tempfile

from larq_nobn import files

__all__ = [
    "best_epoch",
    "check_fresh_start",
    "discard_unstarted_run",
    "plot_curves",
    "prepare_output",
    "read_log",
]


_RUN_FILES = (
    "config.json",
    "log.csv",
    "metrics.json",
    "model.keras",
    "curves.png",
    "summary.json",
)
_RUN_DIRS = ("checkpoints", "tensorboard")
_RUN_GLOBS = ("seed_*", "step1", "step2")


logger = logging.getLogger(__name__)

_RESULT_FILES = (
    "metrics.json",
    "model.keras",
    "summary.json",
    "checkpoints/last.keras",
)


def existing_run(output):
    """What in `output` shows a run worth keeping: a checkpoint or results, here or in
    a seed / step sub-run. A run that stopped before its first checkpoint leaves
    nothing worth keeping (its files are replaced by a new run)."""
    found = [
        name for name in _RESULT_FILES if os.path.exists(os.path.join(output, name))
    ]
    for pattern in _RUN_GLOBS:
        for path in sorted(glob.glob(os.path.join(glob.escape(output), pattern))):
            if os.path.isdir(path) and existing_run(path):
                found.append(os.path.basename(path))
    return found


def clear_run(output):
    for name in _RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(output, name))
    for name in _RUN_DIRS:
        shutil.rmtree(os.path.join(output, name), ignore_errors=True)
    for pattern in _RUN_GLOBS:
        for path in glob.glob(os.path.join(glob.escape(output), pattern)):
            shutil.rmtree(path, ignore_errors=True)


def prepare_output(output: str, resume=False, overwrite=False, write=True):
    """Creates the output directory, checks that it is writable and (unless resuming)
    removes the files of an earlier run from it.

    # Arguments
        output: The directory.
        resume: Keep what is there.
        overwrite: Delete an earlier run's checkpoints and results; without it, such a
            run raises ValueError.
        write: `False` for a process that never writes there (a non-chief worker of a
            multi-worker run): only the check for an earlier run is made, read-only.

    # Raises
        PermissionError: Not writable.
        NotADirectoryError / FileExistsError: The path is a file.
        ValueError: It holds a run already (without `resume` / `overwrite`).
    """
    if os.path.exists(output) and not os.path.isdir(output):
        raise NotADirectoryError(
            f"Output path {output!r} exists and is not a directory."
        )
    if not write:
        if not (resume or overwrite):
            _check_no_run(output)
        return
    try:
        os.makedirs(output, exist_ok=True)
        with tempfile.TemporaryFile(dir=output):
            pass
    except PermissionError:
        raise PermissionError(f"Output directory {output!r} is not writable.") from None
    except OSError as error:
        raise PermissionError(
            f"Cannot write to output directory {output!r}: {error.strerror or error}."
        ) from None
    if resume:
        return
    if not overwrite:
        _check_no_run(output)
    clear_run(output)


def _check_no_run(output):
    existing = existing_run(output)
    if existing:
        raise ValueError(
            f"Output directory {output!r} already holds a run ({', '.join(existing)}); "
            "pass --resume to continue it, --overwrite to start it again, or choose "
            "another --output."
        )


def check_fresh_start(output, checkpoint, announce=True):
    """Checks that a resumed run without its `checkpoint` may start again from its
    first epoch: nothing it trained is lost (no epoch in `log.csv`, no
    `checkpoints/best.keras`). Logs a warning that it starts again when `announce`.

    # Raises
        FileNotFoundError: The run trained epochs but the checkpoint is missing; the
            message names it and says how to start again.
    """
    epochs = len(read_log(os.path.join(output, "log.csv")))
    best = os.path.join(output, "checkpoints", "best.keras")
    if epochs or os.path.exists(best):
        trained = f"{epochs} epoch(s) in log.csv" if epochs else f"{best} exists"
        raise FileNotFoundError(
            f"Cannot resume the run in {output!r}: its checkpoint {checkpoint} is "
            f"missing ({trained}); to train it again from the start, pass --overwrite "
            "instead of --resume."
        )
    if announce:
        logger.warning(
            "Nothing to resume in %s (no %s, no epoch trained): starting the run from "
            "its first epoch.",
            output,
            checkpoint,
        )


def discard_unstarted_run(output):
    """Removes `output` (a directory a failed run created) if it holds nothing worth
    keeping (see `existing_run`): the failure leaves no trace. Returns whether it did."""
    if not os.path.isdir(output) or existing_run(output):
        return False
    shutil.rmtree(output, ignore_errors=True)
    return True


def read_log(path: str) -> list[dict]:
    """The rows of a `log.csv` with numbers as floats (and `epoch` as int)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    parsed = []
    for row in rows:
        values = {}
        for key, value in row.items():
            if key is None:
                continue
            try:
                values[key] = int(value) if key == "epoch" else float(value)
            except (TypeError, ValueError):
                values[key] = value
        parsed.append(values)
    return parsed


def best_epoch(rows: list[dict], key: str = "val_accuracy"):
    """The best `key` over the epochs of a log and the epoch (1-based) that first
    reached it, as the references report their best test accuracy (the maximum over
    the epochs' test passes: `best_prec1` in gushan/ABN main_binary.py,
    `best_top1_acc` in VITA-Group/BNN_NoBN train.py).

    # Arguments
        rows: Rows of `read_log`.
        key: The log column, larger is better.

    # Returns
        `(value, epoch)`, or `(None, None)` when no row has a number under `key`.
    """
    scored = [
        (row[key], row.get("epoch", index) + 1)
        for index, row in enumerate(rows)
        if isinstance(row.get(key), float)
    ]
    if not scored:
        return None, None
    value = max(v for v, _ in scored)
    return value, next(epoch for v, epoch in scored if v == value)


def trim_log(path, epochs):
    """Keeps the rows of the first `epochs` epochs (rows written after the checkpoint
    that a resume starts from would otherwise appear twice)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as stream:
        reader = csv.reader(stream)
        rows = list(reader)
    if not rows:
        return
    header, body = rows[0], rows[1:]
    index = header.index("epoch") if "epoch" in header else 0
    kept = [row for row in body if row and int(float(row[index])) < epochs]
    if len(kept) == len(body):
        return

    def write(stream):
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(kept)

    files.write_atomic(path, write, ".csv")


def plot_curves(log_path: str, output_path: str):
    """Draws loss and accuracy per epoch (train and validation) from a `log.csv` into a
    PNG (matplotlib's Agg canvas, no display needed). Returns `False` without rows."""
    rows = read_log(log_path)
    if not rows:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    epochs = [row["epoch"] + 1 for row in rows]
    for position, metric in enumerate(("loss", "accuracy"), start=1):
        axes = figure.add_subplot(1, 2, position)
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            values = [row.get(key) for row in rows]
            if all(isinstance(v, float) for v in values):
                axes.plot(epochs, values, marker="o", label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.set_title(metric)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    figure.savefig(output_path)
    return True


