"""The training loop: `train` runs one model, one per seed, or the two steps of
ReActNet, each through `train_single`."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import NamedTuple

from larq_nobn import files
from larq_nobn.training.callbacks import EpochTimer, GracefulInterrupt, RunProgbar
from larq_nobn.training.checkpoint import (
    AtomicCheckpoint,
    disk_full_error,
    save_checkpoint,
)
from larq_nobn.training.cluster import (
    LOST_WORKER_ERRORS,
    barrier,
    in_cluster,
    worker_lost,
)
from larq_nobn.training.config import TrainConfig
from larq_nobn.training.inputs import Data, epoch_dataset, load_data, shard_by_data
from larq_nobn.training.lock import RunLock
from larq_nobn.training.memory import check_memory
from larq_nobn.training.models import compile_model, parameter_counts
from larq_nobn.training.optim import is_chief, make_strategy
from larq_nobn.training.resume import (
    Position,
    checkpoint_path,
    prepare_run_dir,
    read_metrics,
    read_position,
    restore,
    stored_config,
)
from larq_nobn.training.rundir import (
    best_epoch,
    discard_unstarted_run,
    plot_curves,
    prepare_output,
    read_log,
    trim_log,
)

import numpy as np
import tensorflow as tf

__all__ = ["summarize_seeds", "train", "train_single", "verbosity"]

logger = logging.getLogger(__name__)

#: The prefix of a non-chief worker's temporary directory (removed when it stops).
WORKER_DIR_PREFIX = "larq-nobn-worker-"


def verbosity(verbose: int | None) -> int:
    """Keras verbosity: `verbose`, or by default a progress bar on a terminal and one
    line per epoch otherwise."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    model_fn: Callable[[], tf.keras.Model] | None = None,
    data: Data | None = None,
    verbose: int | None = None,
    resume_hint: str | None = None,
    strategy: tf.distribute.Strategy | None = None,
    run_eagerly: bool = False,
) -> dict:
    """Trains, evaluates and saves one run (or one per seed, or both steps).

    # Arguments
        config: What to train.
        resume: Continue the run in `config.output` from its last checkpoint (a run
            that had not finished its first epoch starts again; a finished run returns
            its metrics). See `larq_nobn.training.resume`.
        overwrite: Delete a previous run in `config.output` first.
        model_fn: Builds the (binary) model instead of the zoo (called inside the
            strategy's scope, and again on resume).
        data: The datasets instead of `load_data(config)`.
        verbose: Keras verbosity; `None`: a progress bar on a terminal, one line per
            epoch otherwise.
        resume_hint: The command printed to resume after an interruption.
        strategy: A `tf.distribute.Strategy` to use instead of `config.strategy`'s.
        run_eagerly: Run the training step eagerly instead of as a `tf.function`
            (debugging; much slower per step, but skips tracing, which dominates runs
            of a few steps).

    # Returns
        The metrics dict (also written to `metrics.json`; `summary.json` for seeds).

    # Raises
        ValueError: Invalid config, an output directory with a run in it, settings
            that need more memory than there is (`memory.check_memory`; skipped with
            `model_fn`), ...
        FileNotFoundError: Missing data, checkpoint or teacher.
        PermissionError: The output directory is not writable.
        OutputLockedError: Another live run holds `config.output` (`lock.RunLock`;
            only the chief of a multi-worker run takes the lock).
        DiskFullError: The disk filled up; the message names the last checkpoint.
        TrainingInterrupted: SIGINT / SIGTERM; a checkpoint was written.

    A run that fails before it trained anything worth keeping (no checkpoint, no
    results) in an output directory it created removes that directory again.
    """
    config.validate()
    if model_fn is None:
        check_memory(config)
    options = RunOptions(model_fn, data, verbose, resume_hint, strategy, run_eagerly)
    chief = is_chief(strategy or make_strategy(config.strategy))
    lock = RunLock(config.output, enabled=chief)
    try:
        with lock:
            if config.seeds is not None:
                return _train_seeds(config, resume, overwrite, options)
            if config.two_step:
                return _train_two_step(config, resume, overwrite, options)
            return train_single(config, options, resume=resume, overwrite=overwrite)
    except BaseException:
        if lock.created:
            discard_unstarted_run(config.output)
        raise


class RunOptions(NamedTuple):
    """The arguments of `train` besides the config (see there)."""

    model_fn: Callable[[], tf.keras.Model] | None = None
    data: Data | None = None
    verbose: int | None = None
    resume_hint: str | None = None
    strategy: tf.distribute.Strategy | None = None
    run_eagerly: bool = False


class _Run(NamedTuple):
    """A single run being trained."""

    config: TrainConfig
    data: Data
    model: tf.keras.Model
    student: tf.keras.Model
    optimizer: tf.keras.optimizers.Optimizer
    position: Position
    state: dict | None
    chief: bool
    write_dir: str


# --------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------
def train_single(
    config: TrainConfig,
    options: RunOptions,
    *,
    resume: bool = False,
    overwrite: bool = False,
    auto_resume: bool = False,
) -> dict:
    """Trains one model (no seeds, no two steps); see `train`.

    # Arguments
        config: What to train (`seeds` and `two_step` unset).
        options: The other arguments of `train`.
        resume: Continue the run in `config.output`.
        overwrite: Delete a previous run there first.
        auto_resume: Continue the run there if there is one, else start it.

    # Returns
        The metrics dict, as written to `metrics.json`.
    """
    strategy = options.strategy or make_strategy(config.strategy)
    chief = is_chief(strategy)
    mode = prepare_run_dir(config, resume, overwrite, auto=auto_resume, write=chief)
    if mode == "done":
        logger.info("Run in %s is complete; nothing to resume.", config.output)
        return read_metrics(config.output)
    # A non-chief worker writes what every worker must write (checkpoints: saving
    # reads distributed variables) into a temporary directory of its own.
    write_dir = config.output if chief else tempfile.mkdtemp(prefix=WORKER_DIR_PREFIX)
    try:
        run = _start(config, options, strategy, chief, write_dir, mode == "restore")
        return _train_run(run, strategy, options, restored=mode == "restore")
    except LOST_WORKER_ERRORS as error:
        if not in_cluster(strategy):
            raise
        raise worker_lost(error, config.output, options.resume_hint) from None
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        hint = options.resume_hint or f"larq-nobn train --output {config.output} --resume"
        raise disk_full_error(error, checkpoint_path(config.output), hint) from error
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)


def _train_run(run: _Run, strategy, options: RunOptions, restored: bool) -> dict:
    """Trains, evaluates and saves a started run; every worker returns once the
    chief has written the outputs."""
    log_path = os.path.join(run.write_dir, "log.csv")
    if restored:
        trim_log(log_path, run.position.epoch)
        logger.info(
            "Resuming %s from epoch %d/%d, batch %d (optimizer step %d).",
            run.config.output,
            run.position.epoch + 1,
            run.config.epochs,
            run.position.batch + 1,
            run.position.optimizer_iterations,
        )
    history = _fit(run, log_path, options)
    metrics = _metrics(run, _test_results(run, history), log_path)
    _finish(run, metrics, log_path)
    barrier(strategy)
    return metrics


def _start(config, options, strategy, chief, write_dir, restoring) -> _Run:
    """Loads the data, writes config.json (chief only), builds and compiles the model
    and restores the checkpoint when resuming."""
    position, state = Position(), None
    if restoring:
        position, state = read_position(config)
    tf.keras.utils.set_random_seed(config.seed)
    # The data first: a run that cannot load it leaves no config.json behind.
    data = options.data if options.data is not None else load_data(config)
    if chief:
        files.write_json(os.path.join(config.output, "config.json"), config.to_dict())
    with strategy.scope():
        compiled = compile_model(
            config, data, model_fn=options.model_fn, run_eagerly=options.run_eagerly
        )
        if restoring:
            restore(
                compiled.model,
                compiled.optimizer,
                compiled.student.trainable_variables,
                checkpoint_path(config.output),
                position,
            )
    if chief and (options.verbose is None or options.verbose):
        import larq as lq

        lq.models.summary(compiled.student, print_fn=logger.info)
    return _Run(config, data, *compiled, position, state, chief, write_dir)


def _callbacks(run: _Run, log_path: str, options: RunOptions):
    """The callbacks of `fit`: the progress bar, the loggers, then the checkpoint and
    the interrupt handler last."""
    checkpoint = AtomicCheckpoint(
        os.path.join(run.write_dir, "checkpoints"),
        state={"config": run.config.to_dict(), "seed": run.config.seed},
        monitor="val_accuracy",
        best=run.state.get("best") if run.state else None,
    )
    interrupt = GracefulInterrupt(checkpoint, run.config.output, options.resume_hint)
    callbacks = [
        EpochTimer(),
        tf.keras.callbacks.CSVLogger(log_path, append=True),
        tf.keras.callbacks.TensorBoard(
            os.path.join(run.write_dir, "tensorboard"),
            write_graph=False,
            profile_batch=0,
        ),
        checkpoint,
        interrupt,
    ]
    if verbosity(options.verbose):
        callbacks.insert(0, RunProgbar(run.config.epochs))
    return callbacks


def _validation_data(data: Data) -> tf.data.Dataset:
    return data.validation if data.validation is not None else data.test


def _fit(run: _Run, log_path: str, options: RunOptions) -> dict:
    """Trains the remaining epochs, one `fit` per epoch on that epoch's batches (see
    `epoch_dataset`); the first epoch of a resumed run skips the batches trained
    before the interruption. Returns the Keras history of all epochs."""
    callbacks = _callbacks(run, log_path, options)
    checkpoint, interrupt = callbacks[-2:]
    history = {}
    with interrupt.installed():
        for epoch in range(run.position.epoch, run.config.epochs):
            skip = run.position.batch if epoch == run.position.epoch else 0
            checkpoint.batch_offset = skip
            logs = run.model.fit(
                shard_by_data(epoch_dataset(run.data, epoch, skip)),
                validation_data=shard_by_data(_validation_data(run.data)),
                epochs=epoch + 1,
                initial_epoch=epoch,
                callbacks=callbacks,
                verbose=verbosity(options.verbose),
            ).history
            for key, values in logs.items():
                history.setdefault(key, []).extend(values)
    return history


def _test_results(run: _Run, history: dict) -> dict:
    if _validation_data(run.data) is run.data.test and history.get("val_accuracy"):
        # The last epoch's validation pass was a test pass with the final weights.
        return {
            "accuracy": history["val_accuracy"][-1],
            "loss": history["val_loss"][-1],
        }
    return run.model.evaluate(shard_by_data(run.data.test), verbose=0, return_dict=True)


def _metrics(run: _Run, test: dict, log_path: str) -> dict:
    config = run.config
    rows = read_log(log_path)
    train_seconds = float(sum(row.get("epoch_seconds", 0.0) or 0.0 for row in rows))
    last = rows[-1] if rows else {}
    # The validation passes were test passes: the best of them, as the references
    # report it (None with a held-out validation split).
    tested = _validation_data(run.data) is run.data.test
    best, epoch = best_epoch(rows) if tested else (None, None)
    return {
        "test_accuracy": float(test["accuracy"]),
        "best_test_accuracy": best,
        "best_epoch": epoch,
        "test_loss": float(test["loss"]),
        "epochs": config.epochs,
        "seed": config.seed,
        "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / len(rows) if rows else None,
        "train_accuracy": last.get("accuracy"),
        "train_loss": last.get("loss"),
        "optimizer_iterations": int(run.optimizer.iterations.numpy()),
        "dataset": config.dataset,
        "model": config.model,
        "norm": config.norm,
        "agc_clip_factor": config.resolved_agc_clip_factor,
        "width_multiplier": config.resolved_width_multiplier,
        "params": parameter_counts(run.student),
        "config": config.to_dict(),
    }


def _finish(run: _Run, metrics: dict, log_path: str):
    """Writes model.keras, curves.png and metrics.json (chief only)."""
    if not run.chief:
        return
    output = run.config.output
    final = os.path.join(output, "model.keras")
    if run.model is run.student:  # the last checkpoint holds exactly the final model
        files.copy_atomic(checkpoint_path(run.write_dir), final)
    else:
        save_checkpoint(run.student, final)
    plot_curves(log_path, os.path.join(output, "curves.png"))
    files.write_json(os.path.join(output, "metrics.json"), metrics)
    best = metrics["best_test_accuracy"]
    logger.info(
        "Test accuracy %.4f (last epoch)%s, test loss %.4f after %d epoch(s) (%.0f s); "
        "outputs in %s",
        metrics["test_accuracy"],
        "" if best is None else f", best {best:.4f} (epoch {metrics['best_epoch']})",
        metrics["test_loss"],
        metrics["epochs"],
        metrics["train_seconds"],
        output,
    )


# --------------------------------------------------------------------------------------
# Runs made of runs: two steps, seeds
# --------------------------------------------------------------------------------------
def _prepare_parent_run(config, resume, overwrite, options: RunOptions):
    """Prepares the output directory of a run made of sub-runs (two steps, seeds) and
    writes its config.json (the chief only); returns the options of the sub-runs
    (the command that resumes the run, the strategy) and whether this process is the
    chief."""
    output = config.output
    strategy = options.strategy or make_strategy(config.strategy)
    chief = is_chief(strategy)
    if resume:
        if stored_config(output) is None:
            raise FileNotFoundError(f"Nothing to resume in {output!r}: no config.json.")
        prepare_output(output, resume=True, write=chief)
    else:
        prepare_output(output, overwrite=overwrite, write=chief)
    if chief:
        files.write_json(os.path.join(output, "config.json"), config.to_dict())
    hint = options.resume_hint or f"larq-nobn train --output {output} --resume"
    return options._replace(resume_hint=hint, strategy=strategy), chief


def _train_two_step(config, resume, overwrite, options: RunOptions) -> dict:
    output = config.output
    options, chief = _prepare_parent_run(config, resume, overwrite, options)
    step1 = config.replace(
        two_step=False, weights="real", output=os.path.join(output, "step1")
    )
    step2 = config.replace(
        two_step=False,
        weights="binary",
        weight_decay=0.0,
        init_weights=os.path.join(output, "step1", "model.keras"),
        output=os.path.join(output, "step2"),
    )
    results = [
        train_single(step, options, auto_resume=resume) for step in (step1, step2)
    ]
    metrics = dict(results[1])
    metrics["epochs"] = results[0]["epochs"] + results[1]["epochs"]
    metrics["train_seconds"] = results[0]["train_seconds"] + results[1]["train_seconds"]
    for name, result in zip(("step1", "step2"), results):
        metrics[name] = {
            k: result[k]
            for k in ("test_accuracy", "best_test_accuracy", "best_epoch", "test_loss",
                      "epochs")
        }
    metrics["config"] = config.to_dict()
    if chief:
        files.copy_atomic(
            os.path.join(output, "step2", "model.keras"),
            os.path.join(output, "model.keras"),
        )
        files.write_json(os.path.join(output, "metrics.json"), metrics)
    return metrics


def summarize_seeds(metrics_by_seed: dict) -> dict:
    """Mean and standard deviation over seeds of every scalar test metric (the best
    epoch's test accuracy too, where every seed has one).

    `std` is the sample standard deviation (`ddof=1`; 0 for a single seed).
    """
    seeds = sorted(metrics_by_seed)
    summary = {"seeds": seeds, "std_ddof": 1, "runs": {}}
    for seed in seeds:
        summary["runs"][str(seed)] = {
            k: metrics_by_seed[seed][k]
            for k in ("test_accuracy", "best_test_accuracy", "best_epoch", "test_loss",
                      "epochs", "train_seconds")
            if k in metrics_by_seed[seed]
        }
    keys = ["test_accuracy", "test_loss", "train_seconds"]
    if all(metrics_by_seed[s].get("best_test_accuracy") is not None for s in seeds):
        keys.insert(1, "best_test_accuracy")
    for key in keys:
        values = np.array([metrics_by_seed[s][key] for s in seeds], dtype=np.float64)
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "values": values.tolist(),
        }
    return summary


def _train_seeds(config, resume, overwrite, options: RunOptions) -> dict:
    output = config.output
    options, chief = _prepare_parent_run(config, resume, overwrite, options)
    results = {}
    for seed in config.seeds:
        run = config.replace(
            seeds=None, seed=seed, output=os.path.join(output, f"seed_{seed}")
        )
        logger.info(
            "=== seed %d (%d/%d) ===", seed, len(results) + 1, len(config.seeds)
        )
        if run.two_step:
            started = stored_config(run.output) is not None
            results[seed] = _train_two_step(run, resume and started, False, options)
        else:
            results[seed] = train_single(run, options, auto_resume=resume)
    summary = summarize_seeds(results)
    summary["config"] = config.to_dict()
    if chief:
        files.write_json(os.path.join(output, "summary.json"), summary)
    accuracy = summary["test_accuracy"]
    logger.info(
        "Test accuracy over %d seed(s): %.2f +- %.2f %%",
        len(config.seeds),
        100 * accuracy["mean"],
        100 * accuracy["std"],
    )
    return summary
