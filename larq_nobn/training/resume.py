"""Resuming a run: what a resumed run may change, how the output directory is found
to hold a run to restore, a finished one, or none, and how the model, its optimizer and
the position in the training (epoch and batch) come back from `checkpoints/last.keras`.

The checkpoint stores the number of complete epochs (`epoch`) and the batches of the
next epoch already trained (`batch`, 0 at an epoch's end). A resumed run restores the
weights and the optimizer state (its step counter included) and continues with batch
`batch` of epoch `epoch`: the loop (`loop._fit`) trains one `fit` per epoch on
`inputs.epoch_dataset(data, epoch, skip)`, whose order depends on the run's seed and
the epoch only, and skips the batches already trained in the first one. A run
interrupted and resumed with a fixed seed thus ends with the weights and the step
count of an uninterrupted run.
"""

from __future__ import annotations

import os
import zipfile
from typing import NamedTuple

from larq_nobn import files
from larq_nobn.training.checkpoint import read_checkpoint_state
from larq_nobn.training.config import TrainConfig
from larq_nobn.training.optim import build_optimizer_state
from larq_nobn.training.rundir import check_fresh_start, clear_run, prepare_output

__all__ = [
    "RESUMABLE_CHANGES",
    "Position",
    "check_resumable",
    "prepare_run_dir",
    "read_metrics",
    "restore",
    "resume_config",
    "stored_config",
]

#: Fields that may differ between a run and its resumption.
RESUMABLE_CHANGES = (
    "epochs",
    "output",
    "strategy",
    "jit_compile",
    "data_dir",
    "seeds",
    "init_weights",
)


def checkpoint_path(output: str) -> str:
    """The checkpoint a run in `output` resumes from."""
    return os.path.join(output, "checkpoints", "last.keras")


def stored_config(output: str) -> TrainConfig | None:
    """The `TrainConfig` of the run in `output` (its `config.json`), or `None`."""
    path = os.path.join(output, "config.json")
    if not os.path.exists(path):
        return None
    values = files.read_json(path)
    try:
        return TrainConfig.from_dict(values)
    except ValueError as error:
        raise ValueError(f"{path!r}: {error}") from None


def read_metrics(output: str) -> dict:
    """The `metrics.json` of a finished run."""
    return files.read_json(os.path.join(output, "metrics.json"))


def resume_config(output: str, **changes) -> TrainConfig:
    """The config of the run in `output` (its `config.json`), with `changes`.

    Only `RESUMABLE_CHANGES` (more epochs, another strategy or data directory, ...)
    may differ from the stored values.

    # Raises
        FileNotFoundError: `output` holds no run.
        ValueError: A change to a field that a resumed run cannot change.
    """
    stored = stored_config(output)
    if stored is None:
        raise FileNotFoundError(
            f"Nothing to resume in {output!r}: it has no config.json of a larq-nobn "
            "run."
        )
    values = stored.to_dict()
    conflicts = [
        f"{key} (run: {values[key]!r}, given: {value!r})"
        for key, value in changes.items()
        if key not in RESUMABLE_CHANGES and key in values and values[key] != value
    ]
    if conflicts:
        raise ValueError(
            f"Cannot change {', '.join(conflicts)} when resuming the run in "
            f"{output!r}; "
            f"only {', '.join(RESUMABLE_CHANGES)} may change."
        )
    values.update(changes)
    values["output"] = output
    return TrainConfig.from_dict(values)


def check_resumable(stored: TrainConfig, config: TrainConfig):
    """Checks that `config` differs from a checkpoint's `stored` config only in
    `RESUMABLE_CHANGES`.

    # Raises
        ValueError: Names every other field that differs.
    """
    a, b = stored.to_dict(), config.to_dict()
    conflicts = [
        f"{key} (checkpoint: {a[key]!r}, given: {b[key]!r})"
        for key in a
        if key not in RESUMABLE_CHANGES and a[key] != b[key]
    ]
    if conflicts:
        raise ValueError(
            f"The checkpoint in {config.output!r} was trained with other settings: "
            f"{', '.join(conflicts)}."
        )


def prepare_run_dir(
    config: TrainConfig, resume: bool, overwrite: bool, auto=False, write=True
):
    """Prepares `config.output` for a single run and says how the run starts.

    # Arguments
        config: The run's configuration.
        resume: Continue the run there (it must exist).
        overwrite: Delete a previous run there.
        auto: Resume if there is something to resume, else start (sub-runs of a
            resumed two-step or multi-seed run).
        write: `False` on the non-chief workers of a multi-worker run: they only
            read `config.output` (the chief's checkpoint, on a file system that
            every worker sees) and never create, clear or write anything there.

    # Returns
        `"restore"` (from `checkpoints/last.keras`), `"done"` (a finished run) or
        `"fresh"`.

    # Raises
        FileNotFoundError: `resume` without a run to resume, or a run that trained
            epochs whose checkpoint is missing (see `rundir.check_fresh_start`).
    """
    output = config.output
    if not (resume or auto):
        prepare_output(output, overwrite=overwrite, write=write)
        return "fresh"
    checkpoint = checkpoint_path(output)
    if os.path.exists(os.path.join(output, "metrics.json")) and os.path.exists(
        os.path.join(output, "model.keras")
    ):
        done = read_metrics(output).get("epochs", 0)
        if done >= config.epochs:
            return "done"
    if os.path.exists(checkpoint):
        prepare_output(output, resume=True, write=write)
        return "restore"
    if resume and not auto and stored_config(output) is None:
        raise FileNotFoundError(
            f"Nothing to resume in {output!r}: no checkpoints/last.keras and no "
            "config.json of a larq-nobn run."
        )
    prepare_output(output, resume=True, write=write)
    check_fresh_start(output, checkpoint, announce=write and resume and not auto)
    if write:
        clear_run(output)
    return "fresh"


class Position(NamedTuple):
    """Where a run continues: `batch` batches of epoch `epoch` are trained already
    (`epoch` complete epochs before it), after `optimizer_iterations` steps."""

    epoch: int = 0
    batch: int = 0
    optimizer_iterations: int = 0


def read_position(config: TrainConfig) -> tuple[Position, dict]:
    """The position and the state stored in the checkpoint of the run in
    `config.output`.

    # Raises
        ValueError: The checkpoint was trained with other settings.
    """
    state = read_checkpoint_state(checkpoint_path(config.output))
    check_resumable(TrainConfig.from_dict(state["config"]), config)
    position = Position(
        epoch=int(state["epoch"]),
        batch=int(state.get("batch", 0)),
        optimizer_iterations=int(state["optimizer_iterations"]),
    )
    return position, state


def restore(model, optimizer, variables, path: str, position: Position):
    """Loads a checkpoint's weights and optimizer state into a compiled model.

    # Arguments
        model: The compiled model (`fit`'s).
        optimizer: Its optimizer.
        variables: The trainable variables of the student (to create the optimizer's
            slots before loading).
        path: The checkpoint.
        position: Its `Position`, to check the restored step counter against.

    # Raises
        ValueError: The checkpoint is corrupt (the message names it and what to do).
        RuntimeError: The optimizer state was not restored.
    """
    build_optimizer_state(optimizer, variables)
    try:
        model.load_weights(path)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"Cannot restore the checkpoint {path!r}, it is corrupt "
            f"({type(error).__name__}: {reason}); the run's files are kept. Start again "
            "with --overwrite, or copy checkpoints/best.keras over it to resume from "
            "the best epoch."
        ) from None
    restored = int(optimizer.iterations.numpy())
    if restored != position.optimizer_iterations:
        raise RuntimeError(
            f"The optimizer state of {path} was not restored (iterations {restored}, "
            f"checkpoint {position.optimizer_iterations})."
        )
