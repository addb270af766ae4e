"""The keras-tuner tuners of `larq_nobn.tuning`, whose trials are training runs.

keras-tuner's own tuners build a model and `fit` it; these run each trial with the
hypermodel's `train_trial` (a `training.train` run in the trial's folder), so that a
trial and the retrain of its configuration are the same run, and they stop the search
on SIGINT / SIGTERM instead of counting the interrupted trial as a failed one.
"""

from __future__ import annotations

import math
import signal

from larq_nobn import training

import keras_tuner as kt

__all__ = ["TUNER_CLASSES", "SearchInterrupted", "make_tuner"]


class SearchInterrupted(kt.errors.FatalError, training.TrainingInterrupted):
    """SIGINT / SIGTERM stopped a trial (keras-tuner would count a plain
    `TrainingInterrupted` as a failed trial and go on); the search resumes with the
    trial from its start."""

    def __init__(self, interrupted: training.TrainingInterrupted, trial_id, hint):
        Exception.__init__(
            self,
            f"Interrupted by {signal.Signals(interrupted.signum).name} during trial "
            f"{trial_id}. Resume the search (the trial runs again) with: {hint}",
        )
        self.signum = interrupted.signum
        self.checkpoint = interrupted.checkpoint
        self.epochs_completed = interrupted.epochs_completed
        self.output = interrupted.output
        self.resume_hint = hint


class _TrainingTrials:
    """A keras-tuner tuner whose trials are training runs (`train_trial`)."""

    resume_hint = None

    def run_trial(self, trial, *args, **kwargs):
        try:
            return self.hypermodel.train_trial(
                trial.hyperparameters,
                self.get_trial_dir(trial.trial_id),
                verbose=kwargs.get("verbose"),
                resume_hint=self.resume_hint,
            )
        except training.TrainingInterrupted as interrupted:
            raise SearchInterrupted(
                interrupted, trial.trial_id, self.resume_hint
            ) from None


class _RandomSearch(_TrainingTrials, kt.RandomSearch):
    pass


class _BayesianOptimization(_TrainingTrials, kt.BayesianOptimization):
    pass


class _Hyperband(_TrainingTrials, kt.Hyperband):
    pass


#: The tuners by name.
TUNER_CLASSES = {
    "random": _RandomSearch,
    "bayesian": _BayesianOptimization,
    "hyperband": _Hyperband,
}


def make_tuner(
    name, hypermodel, objective, *, max_trials, seed, epochs, directory, project_name
):
    """The tuner `name` (`TUNER_CLASSES`) over `hypermodel` (a `TrainHyperModel`),
    reloading the project in `directory/project_name` when there is one (resume).
    Hyperband gives trials up to `epochs` epochs and sweeps brackets until
    `max_trials` trials ran."""
    common = dict(
        hypermodel=hypermodel,
        objective=objective,
        seed=seed,
        directory=directory,
        project_name=project_name,
        overwrite=False,
    )
    if name == "hyperband":
        tuner = _Hyperband(max_epochs=epochs, hyperband_iterations=math.inf, **common)
        tuner.oracle.max_trials = max_trials
    else:
        tuner = TUNER_CLASSES[name](max_trials=max_trials, **common)
    tuner.resume_hint = f"larq-nobn tune --output {directory} --resume"
    return tuner
