"""Hyperparameter tuning with keras-tuner: the Python API behind `larq-nobn tune`.

A search trains one zoo model per trial, each with the training settings of a base
`training.TrainConfig` and the trial's values of the searched hyperparameters
(`PARAMS`): the learning rate, the AGC clip factor (BN-free `bf` models only),
BinaryNet's width and the normalization.

```python
import larq_nobn
from larq_nobn.training import TrainConfig
from larq_nobn.tuning import tune

config = TrainConfig(model="binarynet", norm="bf", epochs=2, output="runs/tune")
result = tune(config, max_trials=8, params=("learning_rate", "agc_clip_factor"))
print(result.best_values, result.best_score)
```

A search writes into its output directory:

- `search.json`: the base `TrainConfig`, the search space, the tuner, the objective and
  `max_trials` (written first; resuming reads it),
- `keras_tuner/`: keras-tuner's project (one `trial_*` folder per trial, the oracle's
  state). `resume=True` (`--resume`) reloads it: finished trials are not run again, a
  trial that was interrupted runs again from its start, and a larger `max_trials`
  runs only the extra trials,
- `trials.csv`: one row per trial (id, status, epochs, values, objective),
- `best_hyperparameters.json`: the best values, their objective value, the
  `larq-nobn train` options that set them and the best `TrainConfig` as a dict
  (`TrainConfig.from_dict(...)` gives it back).

A trial is a `training.train` run of its config (the base config with the trial's
values; Hyperband's trials with its number of epochs) in its keras-tuner folder
(`keras_tuner/trial_*`: `config.json`, `log.csv`, `model.keras`, `metrics.json`, ...;
its checkpoints are removed once it is complete), with the same seed, data, batches and
learning-rate schedule as `larq-nobn train --recipe OUTPUT/best_hyperparameters.json`,
so that retraining the best configuration gives the best trial's score again. A
trial's objective value is its last epoch's (the final model's, which is what a
retrain reports), not the best over its epochs. Trials validate on the validation
split when `config.validation_split > 0`, else on the test split (what
`training.train` reports); set a validation split to keep the test split out of the
choice of hyperparameters. Hyperband's trials do not continue from the weights of an
earlier trial: each trains from scratch for its epochs.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from typing import NamedTuple

from larq_nobn import files, training
from larq_nobn.training.lock import RunLock
from larq_nobn.training.loop import RunOptions, train_single
from larq_nobn.training.rundir import read_log
from larq_nobn.tuners import SearchInterrupted, make_tuner

import keras_tuner as kt
import tensorflow as tf

__all__ = [
    "DEFAULT_SPACE",
    "OBJECTIVES",
    "PARAMS",
    "TUNERS",
    "Choice",
    "LogUniform",
    "SearchInterrupted",
    "TrainHyperModel",
    "TuneResult",
    "check_project_files",
    "read_best_config",
    "read_search",
    "search_space",
    "tune",
]


class LogUniform(NamedTuple):
    """A float sampled log-uniformly from `[low, high]`."""

    low: float
    high: float


class Choice(NamedTuple):
    """One of `values`."""

    values: tuple


#: The searchable hyperparameters (`TrainConfig` fields) and their default ranges, in
#: the order they are declared (`norm` first: `agc_clip_factor` depends on it).
DEFAULT_SPACE = {
    "norm": Choice(training.NORMS),
    "width_multiplier": Choice((0.25, 0.5, 1.0)),
    "learning_rate": LogUniform(1e-4, 1e-2),
    "agc_clip_factor": LogUniform(0.005, 0.08),
}
PARAMS = tuple(DEFAULT_SPACE)
TUNERS = ("random", "bayesian", "hyperband")
#: Objectives and their directions (keras-tuner scores a trial by its best epoch).
OBJECTIVES = {
    "val_accuracy": "max",
    "val_loss": "min",
    "accuracy": "max",
    "loss": "min",
}
DEFAULT_OUTPUT = os.path.join("runs", "tune")
DEFAULT_MAX_TRIALS = 10

SEARCH_FILE = "search.json"
BEST_FILE = "best_hyperparameters.json"
TRIALS_FILE = "trials.csv"
PROJECT_NAME = "keras_tuner"
#: `TrainConfig` fields that may differ between a search and its resumption.
RESUMABLE_CHANGES = ("output", "data_dir", "strategy", "jit_compile")

logger = logging.getLogger(__name__)


# ======================================================================================
# Search space
# ======================================================================================
def _choice_value(name, value):
    if name == "norm":
        if value not in training.NORMS:
            raise ValueError(
                f"Unknown norm {value!r} in the search space; expected some of "
                f"{', '.join(training.NORMS)}."
            )
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number > 0 or not math.isfinite(number):
        raise ValueError(f"`{name}` values must be numbers > 0, got {value!r}.")
    return number


def _spec(name, override):
    """The `LogUniform` / `Choice` of `name`: its default, or `override` (a spec, a
    `(low, high)` / values sequence, or the command line's `LOW:HIGH` / `A,B,...`)."""
    default = DEFAULT_SPACE[name]
    if override is None:
        return default
    if isinstance(default, LogUniform):
        if isinstance(override, str):
            override = override.split(":")
        try:
            low, high = (float(v) for v in override)
        except (TypeError, ValueError):
            raise ValueError(
                f"The range of `{name}` must be two numbers LOW:HIGH, got {override!r}."
            ) from None
        if not (0 < low < high and math.isfinite(high)):
            raise ValueError(
                f"The range of `{name}` must satisfy 0 < LOW < HIGH (log-uniform), got "
                f"{low!r}:{high!r}."
            )
        return LogUniform(low, high)
    if isinstance(override, Choice):
        override = override.values
    if isinstance(override, str):
        override = override.split(",")
    values = tuple(_choice_value(name, v) for v in override)
    if not values or len(set(values)) != len(values):
        raise ValueError(
            f"The choices of `{name}` must be distinct and not empty, got {override!r}."
        )
    return Choice(values)


def search_space(config: training.TrainConfig, params=None) -> dict:
    """The search space of a tuning run over the training of `config`.

    # Arguments
        config: The base configuration (every field that is not searched).
        params: The hyperparameters to search: names of `PARAMS` (default ranges), or
            a dict from names to ranges (`(low, high)` for `learning_rate` and
            `agc_clip_factor`, a sequence of choices for `width_multiplier` and
            `norm`; `None`: the default). Default: `learning_rate`, and
            `agc_clip_factor` when `config.norm` is `bf`.

    # Returns
        A dict from names (in `PARAMS` order) to `LogUniform` / `Choice`.

    # Raises
        ValueError: An unknown name (the message lists the accepted ones), a bad range,
            `width_multiplier` for a model other than BinaryNet, or `agc_clip_factor`
            where no trial trains a `bf` model (AGC only applies to `bf`).
    """
    if params is None:
        params = ["learning_rate"]
        if config.norm == "bf":
            params.append("agc_clip_factor")
    if isinstance(params, str):
        params = (params,)
    overrides = dict(params) if isinstance(params, dict) else dict.fromkeys(params)
    unknown = [name for name in overrides if name not in DEFAULT_SPACE]
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {', '.join(map(repr, unknown))} to search; "
            f"expected some of {', '.join(PARAMS)}."
        )
    if not overrides:
        raise ValueError(f"Nothing to search: give some of {', '.join(PARAMS)}.")
    space = {name: _spec(name, overrides[name]) for name in PARAMS if name in overrides}
    if "width_multiplier" in space and config.model != "binarynet":
        raise ValueError(
            f"`width_multiplier` can be searched for model 'binarynet' only, not for "
            f"{config.model!r}."
        )
    norms = space["norm"].values if "norm" in space else (config.norm,)
    if "agc_clip_factor" in space and "bf" not in norms:
        raise ValueError(
            "`agc_clip_factor` only applies to norm 'bf' (AGC of the BN-free models), "
            f"but the search trains norm {', '.join(map(repr, norms))}: use norm 'bf' "
            "or search 'norm' with 'bf' among its choices."
        )
    return space


def _space_to_json(space):
    return {
        name: list(spec.values) if isinstance(spec, Choice) else [spec.low, spec.high]
        for name, spec in space.items()
    }


# ======================================================================================
# Hypermodel
# ======================================================================================
class TrainHyperModel(kt.HyperModel):
    """Builds and compiles the model of a base `TrainConfig` with a trial's values.

    The model, its optimizer (schedule, AGC), loss and metric come from
    `training.compile_model`, as in `training.train`. Every build starts from
    `config.seed`, so trials differ only by their hyperparameters.

    # Arguments
        config: The base configuration.
        space: The search space, from `search_space`.
        data: The run's `training.Data` (input shape, classes, steps per epoch).
    """

    def __init__(self, config: training.TrainConfig, space: dict, data: training.Data):
        super().__init__(name=f"{config.model}_{config.norm}")
        self.config = config
        self.space = space
        self.data = data

    def values(self, hp: kt.HyperParameters) -> dict:
        """Declares the search space in `hp`; returns the trial's active values."""
        values = {}
        for name, spec in self.space.items():
            scope = contextlib.nullcontext()
            if name == "agc_clip_factor" and "norm" in self.space:
                scope = hp.conditional_scope("norm", ["bf"])
            with scope:
                if isinstance(spec, LogUniform):
                    value = hp.Float(name, spec.low, spec.high, sampling="log")
                else:
                    value = hp.Choice(name, list(spec.values))
            if value is not None:
                values[name] = value
        return values

    def trial_config(self, hp: kt.HyperParameters) -> training.TrainConfig:
        """The base config with the trial's values."""
        return self.config.replace(**self.values(hp))

    def build(self, hp):
        config = self.trial_config(hp)
        tf.keras.utils.set_random_seed(config.seed)
        return training.compile_model(config, self.data).model

    def train_trial(self, hp, output, verbose=None, resume_hint=None) -> dict:
        """Trains a trial as `training.train` trains its config, in `output`.

        # Arguments
            hp: The trial's hyperparameters (Hyperband's `tuner/epochs` sets the
                epochs).
            output: The trial's run directory.
            verbose: Keras verbosity.
            resume_hint: The command that resumes the search, for an interruption.

        # Returns
            The last epoch's `loss`, `accuracy`, `val_loss` and `val_accuracy` (as in
            `log.csv`): what a retrain of the trial's config ends with.
        """
        config = self.trial_config(hp).replace(output=output)
        if "tuner/epochs" in hp.values:
            config = config.replace(epochs=int(hp.values["tuner/epochs"]))
        options = RunOptions(data=self.data, verbose=verbose, resume_hint=resume_hint)
        train_single(config, options, overwrite=True)
        shutil.rmtree(os.path.join(output, "checkpoints"), ignore_errors=True)
        last = read_log(os.path.join(output, "log.csv"))[-1]
        return {name: float(last[name]) for name in OBJECTIVES if name in last}


# ======================================================================================
# Search
# ======================================================================================
@dataclass(frozen=True)
class TuneResult:
    """What `tune` found.

    # Arguments
        best_values: The best trial's values of the searched hyperparameters.
        best_score: Its objective value.
        best_trial: Its keras-tuner trial id.
        objective: The objective's name.
        config: The base config with the best values (`output`: `OUTPUT/best`).
        trials: One dict per trial, as in `trials.csv`.
        output: The search's output directory.
    """

    best_values: dict
    best_score: float
    best_trial: str
    objective: str
    config: training.TrainConfig
    trials: tuple
    output: str


def _check_settings(config, tuner, max_trials, objective):
    if tuner not in TUNERS:
        raise ValueError(
            f"Unknown tuner {tuner!r}; expected one of {', '.join(TUNERS)}."
        )
    if not training.is_int(max_trials) or max_trials < 1:
        raise ValueError(f"`max_trials` must be an integer >= 1, got {max_trials!r}.")
    if objective not in OBJECTIVES:
        raise ValueError(
            f"Unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}."
        )
    config.validate()
    unsupported = {
        "seeds": config.seeds is not None,
        "two_step": config.two_step,
        "teacher": bool(config.teacher),
        "strategy 'multi_worker'": config.strategy == "multi_worker",
    }
    unsupported = [name for name, given in unsupported.items() if given]
    if unsupported:
        raise ValueError(
            f"A search trains one plain model per trial; {', '.join(unsupported)} "
            "cannot be tuned (train those with the best values afterwards)."
        )
    if config.init_weights and not os.path.exists(config.init_weights):
        raise FileNotFoundError(f"init_weights {config.init_weights!r} does not exist.")
    if tuner == "bayesian":
        from keras_tuner.tuners import bayesian

        if bayesian.scipy is None or bayesian.sklearn is None:
            raise ValueError(
                "Tuner 'bayesian' needs scipy and scikit-learn, which are not "
                "installed: pip install 'keras-tuner[bayesian]', or use tuner 'random' "
                "or 'hyperband'."
            )


def _search_settings(config, space, tuner, objective, max_trials):
    return {
        "tuner": tuner,
        "objective": objective,
        "max_trials": max_trials,
        "params": _space_to_json(space),
        "config": config.to_dict(),
    }


def read_search(output: str) -> dict:
    """The settings of the search in `output` (its `search.json`): `config` (a
    `TrainConfig`), `params` (the space, as `tune` takes it), `tuner`, `objective` and
    `max_trials`.

    # Raises
        FileNotFoundError: `output` holds no search.
    """
    path = os.path.join(output, SEARCH_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Nothing to resume in {output!r}: it has no {SEARCH_FILE} of a larq-nobn "
            "search."
        )
    settings = files.read_json(path)
    try:
        settings["config"] = training.TrainConfig.from_dict(settings["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{path!r} is not the {SEARCH_FILE} of a larq-nobn search ({error!r})."
        ) from None
    return settings


def read_best_config(path: str) -> training.TrainConfig:
    """The best `TrainConfig` of a search (what `larq-nobn train --recipe PATH` trains).

    # Arguments
        path: A search's `best_hyperparameters.json`, or the search's directory.

    # Returns
        The `TrainConfig` of the best trial, its `output` the search's `best/` folder.

    # Raises
        FileNotFoundError: No such file.
        ValueError: A file that is not a `best_hyperparameters.json` of `tune`.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, BEST_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {BEST_FILE} at {path!r}: `larq-nobn tune` writes one into its --output."
        )
    try:
        with open(path) as stream:
            best = json.load(stream)
        return training.TrainConfig.from_dict(best["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path!r} is not a {BEST_FILE} written by `larq-nobn tune` ({error!r})."
        ) from None


def _check_resumable(output, settings):
    stored = read_search(output)
    stored = _search_settings(
        stored["config"], search_space(stored["config"], stored["params"]),
        stored["tuner"], stored["objective"], stored["max_trials"],
    )
    conflicts = [
        f"{key} (search: {stored[key]!r}, given: {settings[key]!r})"
        for key in ("tuner", "objective", "params")
        if stored[key] != settings[key]
    ]
    conflicts += [
        f"{key} (search: {value!r}, given: {settings['config'][key]!r})"
        for key, value in stored["config"].items()
        if key not in RESUMABLE_CHANGES and settings["config"][key] != value
    ]
    if conflicts:
        raise ValueError(
            f"The search in {output!r} ran with other settings: {', '.join(conflicts)}."
        )


def check_project_files(output: str):
    """Reads every JSON file of the keras-tuner project in `output` (`oracle.json`,
    each `trial_*/trial.json`), so that a damaged one is named before keras-tuner
    fails on it without saying which.

    # Raises
        ValueError: A file that is not JSON; the message names it.
    """
    for root, _, names in sorted(os.walk(os.path.join(output, PROJECT_NAME))):
        for name in sorted(names):
            if name.endswith(".json"):
                files.read_json(os.path.join(root, name))


def _prepare_output(output, settings, resume, overwrite):
    if resume and overwrite:
        raise ValueError("`resume` and `overwrite` exclude each other.")
    training.prepare_output(output, resume=True)  # creates it, checks it is writable
    project = os.path.join(output, PROJECT_NAME)
    if resume:
        _check_resumable(output, settings)
        return
    if os.path.exists(os.path.join(output, SEARCH_FILE)) or os.path.exists(project):
        if not overwrite:
            raise ValueError(
                f"Output directory {output!r} already holds a search; pass --resume "
                "to continue it, --overwrite to start it again, or choose another "
                "--output."
            )
        shutil.rmtree(project, ignore_errors=True)
        for name in (SEARCH_FILE, BEST_FILE, TRIALS_FILE):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(output, name))


def _trial_rows(oracle, space, epochs):
    rows = []
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        row = {"trial_id": trial_id, "status": trial.status}
        row["epochs"] = values.get("tuner/epochs", epochs)
        row.update({name: values.get(name) for name in space})
        score = trial.score if trial.status == "COMPLETED" else None
        row[oracle.objective.name] = None if score is None else float(score)
        rows.append(row)
    return rows


def _write_csv(path, rows, fields):
    def write(stream):
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    files.write_atomic(path, write, ".csv")


def _format(value):
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _log_table(rows, fields, objective, direction):
    def key(row):
        score = row[objective]
        if score is None:
            return (1, 0.0)
        return (0, -score if direction == "max" else score)

    table = [[str(field) for field in fields]]
    table += [[_format(row[f]) for f in fields] for row in sorted(rows, key=key)]
    widths = [max(len(line[i]) for line in table) for i in range(len(fields))]
    logger.info("Trials, best %s first:", objective)
    for line in table:
        logger.info("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def _train_flags(values):
    flags = []
    for name, value in values.items():
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags


def tune(
    config: training.TrainConfig,
    *,
    tuner: str = "random",
    max_trials: int = DEFAULT_MAX_TRIALS,
    objective: str = "val_accuracy",
    params=None,
    output: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int | None = None,
) -> TuneResult:
    """Searches hyperparameters of the training of `config` with keras-tuner.

    The data is loaded once (`training.load_data(config)`); every trial builds the
    model with `TrainHyperModel` and trains it for `config.epochs` epochs (Hyperband
    chooses fewer for some trials), validating on the validation split, or on the test
    split when `config.validation_split` is 0.

    # Arguments
        config: The base configuration (`seeds`, `two_step` and `teacher` unset).
        tuner: `random` (random search), `bayesian` (Bayesian optimization with a
            Gaussian process; needs scipy and scikit-learn) or `hyperband`.
        max_trials: Number of trials in total, the ones of a resumed search included.
        objective: One of `OBJECTIVES`; a trial's value is its best epoch's.
        params: What to search, see `search_space`.
        output: The search's directory (default: `config.output`).
        resume: Continue the search in `output`: keras-tuner reloads it, finished
            trials are kept, an interrupted one runs again. The settings must be the
            ones of the search, except `max_trials` (and `RESUMABLE_CHANGES`).
        overwrite: Delete a previous search in `output` first.
        verbose: Keras verbosity of each trial (0 also silences keras-tuner's reports
            of each trial; the table of all trials is logged at the end anyway);
            `None`: a progress bar on a terminal, one line per epoch otherwise.

    # Returns
        A `TuneResult`; `best_hyperparameters.json` and `trials.csv` in `output` hold
        the same.

    # Raises
        ValueError: An unknown tuner, objective or hyperparameter, a bad range or
            `max_trials`, an output directory with another search in it, settings
            that differ from the resumed search's, tuner `bayesian` without scipy and
            scikit-learn, settings that need more memory than there is
            (`training.check_memory`, for every searched width), ...
        FileNotFoundError: Nothing to resume, or missing data.
        OutputLockedError: A live run or search holds `output` (`training.RunLock`).
        TrainingInterrupted: SIGINT / SIGTERM stopped a trial (a `SearchInterrupted`;
            `resume=True` runs that trial again).
        RuntimeError: No trial completed (keras-tuner's errors are in its message).
    """
    _check_settings(config, tuner, max_trials, objective)
    space = search_space(config, params)
    output = config.output if output is None else os.fspath(output)
    config = config.replace(output=output)
    for width in space.get("width_multiplier", Choice((None,))).values:
        training.check_memory(config.replace(width_multiplier=width or config.width_multiplier))
    settings = _search_settings(config, space, tuner, objective, max_trials)
    lock = RunLock(output)
    try:
        with lock:
            _prepare_output(output, settings, resume, overwrite)
            check_project_files(output)
            data = training.load_data(config)  # before search.json: no trace if missing
            files.write_json(os.path.join(output, SEARCH_FILE), settings)
            return _search(config, space, data, tuner, objective, max_trials, verbose)
    except BaseException:
        # A search that failed before it started leaves no trace in a new folder.
        if lock.created and not os.path.exists(os.path.join(output, SEARCH_FILE)):
            shutil.rmtree(output, ignore_errors=True)
        raise


def _search(config, space, data, tuner, objective, max_trials, verbose) -> TuneResult:
    """Runs the search of `tune` and writes its results."""
    output = config.output
    hypermodel = TrainHyperModel(config, space, data)
    search = make_tuner(
        tuner,
        hypermodel,
        kt.Objective(objective, OBJECTIVES[objective]),
        max_trials=max_trials,
        seed=config.seed,
        epochs=config.epochs,
        directory=output,
        project_name=PROJECT_NAME,
    )
    search.search(verbose=training.verbosity(verbose))

    oracle = search.oracle
    rows = _trial_rows(oracle, space, config.epochs)
    fields = ["trial_id", "status", "epochs", *space, objective]
    _write_csv(os.path.join(output, TRIALS_FILE), rows, fields)
    completed = [row for row in rows if row[objective] is not None]
    if not completed:
        failed = [t.message for t in oracle.trials.values() if t.message]
        raise RuntimeError(
            f"No trial of the search in {output!r} completed."
            + (f" The last error:\n{failed[-1]}" if failed else "")
        )
    best = oracle.get_best_trials(1)[0]
    best_values = hypermodel.values(best.hyperparameters.copy())
    epochs = int(best.hyperparameters.values.get("tuner/epochs", config.epochs))
    best_config = config.replace(
        **best_values, epochs=epochs, output=os.path.join(output, "best")
    )
    result = TuneResult(
        best_values=best_values,
        best_score=float(best.score),
        best_trial=best.trial_id,
        objective=objective,
        config=best_config,
        trials=tuple(rows),
        output=output,
    )
    files.write_json(
        os.path.join(output, BEST_FILE),
        {
            "objective": objective,
            "direction": OBJECTIVES[objective],
            "score": result.best_score,
            "trial_id": result.best_trial,
            "values": best_values,
            "train_flags": _train_flags(best_values),
            "tuner": tuner,
            "trials": len(rows),
            "config": best_config.to_dict(),
        },
    )
    _log_table(rows, fields, objective, OBJECTIVES[objective])
    logger.info(
        "Best %s %.4f (trial %s): %s; written to %s",
        objective,
        result.best_score,
        result.best_trial,
        ", ".join(f"{name}={_format(value)}" for name, value in best_values.items()),
        os.path.join(output, BEST_FILE),
    )
    return result
