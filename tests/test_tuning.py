"""Tests of `larq_nobn.tuning` and `larq-nobn tune`: the search space and its errors,
a real random search on a slice of Fashion-MNIST (BinaryNet at width 1/16, 256 samples,
1 epoch per trial), resuming it (no trial runs twice, extra trials only) and a search
interrupted in the middle of a trial."""

import csv
import glob
import json
import os
import shutil
import signal

from larq_nobn import cli, training, tuning

import keras_tuner as kt
import pytest

TINY = dict(
    model="binarynet",
    norm="bf",
    width_multiplier=0.0625,
    epochs=1,
    batch_size=64,
    max_train_samples=256,
    max_test_samples=256,
)
TINY_ARGS = [
    "--norm", "bf", "--width-multiplier", "0.0625", "--epochs", "1",
    "--batch-size", "64", "--max-train-samples", "256", "--max-test-samples", "256",
    "--verbose", "0",
]  # fmt: skip


def read_trials(output):
    with open(os.path.join(output, tuning.TRIALS_FILE), newline="") as stream:
        return list(csv.DictReader(stream))


def read_best(output):
    with open(os.path.join(output, tuning.BEST_FILE)) as stream:
        return json.load(stream)


def trial_dirs(output):
    return sorted(glob.glob(os.path.join(output, tuning.PROJECT_NAME, "trial_*")))


def run_main(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fits(monkeypatch):
    """Records the hyperparameter values of every trial that trains."""
    calls = []
    train_trial = tuning.TrainHyperModel.train_trial

    def counting_train_trial(self, hp, *args, **kwargs):
        calls.append(dict(hp.values))
        return train_trial(self, hp, *args, **kwargs)

    monkeypatch.setattr(tuning.TrainHyperModel, "train_trial", counting_train_trial)
    return calls


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A finished 2-trial random search over learning rate and AGC clip factor."""
    output = str(tmp_path_factory.mktemp("tune") / "search")
    argv = ["tune", *TINY_ARGS, "--search", "learning_rate", "agc_clip_factor",
            "--max-trials", "2", "--output", output]  # fmt: skip
    assert cli.main(argv) == 0
    return output


def copy_of(searched, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(searched, copy)
    return copy


# --------------------------------------------------------------------------------------
# Search space
# --------------------------------------------------------------------------------------
def test_tune_default_space_depends_on_norm():
    bn = training.TrainConfig(norm="bn")
    bf = training.TrainConfig(norm="bf")
    assert list(tuning.search_space(bn)) == ["learning_rate"]
    assert tuning.search_space(bf) == {
        "learning_rate": tuning.DEFAULT_SPACE["learning_rate"],
        "agc_clip_factor": tuning.DEFAULT_SPACE["agc_clip_factor"],
    }


def test_tune_space_ranges_from_python_and_command_line():
    config = training.TrainConfig(norm="bf")
    space = tuning.search_space(
        config,
        {"learning_rate": "1e-4:1e-3", "agc_clip_factor": (0.01, 0.04),
         "norm": "abn,bf", "width_multiplier": [0.5, 1]},
    )  # fmt: skip
    assert list(space) == list(tuning.PARAMS)  # declared in PARAMS order
    assert space["learning_rate"] == tuning.LogUniform(1e-4, 1e-3)
    assert space["agc_clip_factor"] == tuning.LogUniform(0.01, 0.04)
    assert space["norm"] == tuning.Choice(("abn", "bf"))
    assert space["width_multiplier"] == tuning.Choice((0.5, 1.0))


@pytest.mark.parametrize(
    "config, params, fragment",
    [
        ({}, ["momentum"], "expected some of norm, width_multiplier, learning_rate"),
        ({}, [], "Nothing to search"),
        ({"norm": "bn"}, ["agc_clip_factor"], "only applies to norm 'bf'"),
        ({}, {"norm": "bn,abn", "agc_clip_factor": None}, "only applies to norm 'bf'"),
        ({"model": "resnet18"}, ["width_multiplier"], "'binarynet' only"),
        ({}, {"learning_rate": "1e-2:1e-4"}, "0 < LOW < HIGH"),
        ({}, {"learning_rate": "fast"}, "LOW:HIGH"),
        ({}, {"norm": "bn,gn"}, "Unknown norm 'gn'"),
        ({}, {"width_multiplier": "0.5,-1"}, "numbers > 0"),
        ({}, {"norm": "bn,bn"}, "distinct"),
    ],
)
def test_tune_rejects_bad_spaces(config, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        tuning.search_space(training.TrainConfig(**config), params)


def test_tune_agc_clip_factor_only_for_bf_trials():
    config = training.TrainConfig(norm="bf")
    cases = [
        (("bn", "bf"), {"norm", "learning_rate"}),
        (("bf", "bn"), {"norm", "learning_rate", "agc_clip_factor"}),
    ]
    for norms, expected in cases:
        space = tuning.search_space(
            config, {"norm": norms, "learning_rate": None, "agc_clip_factor": None}
        )
        hypermodel = tuning.TrainHyperModel(config, space, data=None)
        hp = kt.HyperParameters()  # the first choice is the default value
        values = hypermodel.values(hp)
        assert set(values) == expected
        assert hypermodel.trial_config(hp).norm == norms[0]
        low, high = tuning.DEFAULT_SPACE["learning_rate"]
        assert low <= values["learning_rate"] <= high


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(tuner="grid"), "Unknown tuner 'grid'; expected one of random, bayesian"),
        (dict(max_trials=0), "max_trials"),
        (dict(objective="val_top5"), "Unknown objective 'val_top5'"),
        (dict(params=["lr"]), "Unknown hyperparameter"),
        (dict(resume=True, overwrite=True), "exclude each other"),
    ],
)
def test_tune_rejects_bad_arguments(tmp_path, kwargs, fragment):
    config = training.TrainConfig(**TINY, output=str(tmp_path / "t"))
    with pytest.raises(ValueError, match=fragment):
        tuning.tune(config, **kwargs)
    assert not os.path.exists(tmp_path / "t" / tuning.SEARCH_FILE)


def test_tune_rejects_runs_it_cannot_tune(tmp_path):
    config = training.TrainConfig(**TINY, seeds=[0, 1], output=str(tmp_path))
    with pytest.raises(ValueError, match="seeds cannot be tuned"):
        tuning.tune(config)


def test_tune_bayesian_without_its_dependencies(tmp_path, monkeypatch, capsys):
    from keras_tuner.tuners import bayesian

    monkeypatch.setattr(bayesian, "sklearn", None)
    code, _, err = run_main(
        ["tune", *TINY_ARGS, "--tuner", "bayesian", "-o", str(tmp_path)], capsys
    )
    assert code == 2
    assert "scikit-learn" in err and "keras-tuner[bayesian]" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--tuner", "grid"], "invalid choice: 'grid'"),
        (["--max-trials", "0"], "--max-trials: expected an integer >= 1, got '0'"),
        (["--search", "momentum"], "expected some of norm, width_multiplier"),
        (["--norm", "bn", "--search", "agc_clip_factor"], "only applies to norm 'bf'"),
        (["--model", "resnet18", "--search", "width_multiplier"], "'binarynet' only"),
        (["--search", "learning_rate=1e-2:1e-4"], "0 < LOW < HIGH"),
        (["--search", "learning_rate", "learning_rate"], "twice"),
        (["--resume"], "Nothing to resume"),
        (["--resume", "--overwrite"], "exclude each other"),
    ],
)
def test_tune_command_line_errors(tmp_path, capsys, argv, fragment):
    code, _, err = run_main(["tune", *argv, "-o", str(tmp_path / "t")], capsys)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert not os.path.exists(tmp_path / "t" / tuning.SEARCH_FILE)


def test_tune_keeps_an_existing_search(searched, capsys):
    before = read_trials(searched)
    code, _, err = run_main(["tune", *TINY_ARGS, "-o", searched], capsys)
    assert code == 2 and "already holds a search" in err
    code, _, err = run_main(
        ["tune", "--resume", "--search", "learning_rate", "-o", searched], capsys
    )
    assert code == 2 and "other settings" in err and "params" in err
    assert read_trials(searched) == before


# --------------------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------------------
def test_tune_best_hyperparameters_are_the_best_trial(searched):
    rows = read_trials(searched)
    assert [row["trial_id"] for row in rows] == ["0", "1"]
    assert all(row["status"] == "COMPLETED" for row in rows)
    assert len(trial_dirs(searched)) == 2
    best = read_best(searched)
    scores = [float(row["val_accuracy"]) for row in rows]
    assert best["objective"] == "val_accuracy"
    assert best["score"] == max(scores)
    best_row = rows[scores.index(max(scores))]
    assert best["trial_id"] == best_row["trial_id"]
    assert set(best["values"]) == {"learning_rate", "agc_clip_factor"}
    for name, value in best["values"].items():
        low, high = tuning.DEFAULT_SPACE[name]
        assert low <= value <= high
        assert float(best_row[name]) == value
    # The full config: `larq-nobn train` with these settings.
    config = training.TrainConfig.from_dict(best["config"])
    assert config.learning_rate == best["values"]["learning_rate"]
    assert config.agc_clip_factor == best["values"]["agc_clip_factor"]
    assert (config.norm, config.width_multiplier) == ("bf", 0.0625)
    flags = best["train_flags"]
    assert float(flags[flags.index("--learning-rate") + 1]) == config.learning_rate
    # Different trials sampled different values.
    assert rows[0]["learning_rate"] != rows[1]["learning_rate"]


def test_tune_resume_with_the_same_max_trials_runs_no_trial(searched, tmp_path, fits):
    output = copy_of(searched, tmp_path)
    assert cli.main(["tune", "--resume", "-o", output]) == 0
    assert fits == []
    assert read_trials(output) == read_trials(searched)
    assert read_best(output)["score"] == read_best(searched)["score"]
    assert len(trial_dirs(output)) == 2


def test_tune_resume_with_more_trials_runs_only_extra_ones(searched, tmp_path, fits):
    output = copy_of(searched, tmp_path)
    assert cli.main(["tune", "--resume", "--max-trials", "3", "-o", output]) == 0
    assert len(fits) == 1
    rows = read_trials(output)
    assert rows[:2] == read_trials(searched)
    assert len(rows) == 3 and rows[2]["status"] == "COMPLETED"
    assert float(rows[2]["learning_rate"]) == fits[0]["learning_rate"]
    assert len(trial_dirs(output)) == 3
    best = read_best(output)
    assert best["score"] == max(float(row["val_accuracy"]) for row in rows)
    assert best["trials"] == 3


def test_tune_reruns_an_interrupted_trial_on_resume(tmp_path, monkeypatch):
    train_trial = tuning.TrainHyperModel.train_trial
    calls = []

    def interrupted_train_trial(self, hp, *args, **kwargs):
        calls.append(dict(hp.values))
        if len(calls) == 2:  # Ctrl-C during the second trial
            raise KeyboardInterrupt
        return train_trial(self, hp, *args, **kwargs)

    monkeypatch.setattr(
        tuning.TrainHyperModel, "train_trial", interrupted_train_trial
    )
    config = training.TrainConfig(**TINY, output=str(tmp_path))
    params = {"learning_rate": (1e-4, 1e-2)}
    with pytest.raises(KeyboardInterrupt):
        tuning.tune(config, max_trials=2, params=params, verbose=0)
    assert not os.path.exists(tmp_path / tuning.TRIALS_FILE)

    result = tuning.tune(config, max_trials=2, params=params, resume=True, verbose=0)
    assert len(calls) == 3  # only the interrupted trial, with the same values
    assert calls[2] == calls[1]
    rows = read_trials(str(tmp_path))
    assert [(row["trial_id"], row["status"]) for row in rows] == [
        ("0", "COMPLETED"),
        ("1", "COMPLETED"),
    ]
    assert result.best_score == max(float(row["val_accuracy"]) for row in rows)
    assert result.best_values == {"learning_rate": result.config.learning_rate}


def test_tune_hyperband_stops_at_max_trials(tmp_path, fits):
    # Hyperband sweeps brackets without end here: max_trials alone stops it.
    output = str(tmp_path)
    argv = ["tune", *TINY_ARGS, "--tuner", "hyperband", "--max-trials", "1",
            "--search", "norm=bn,bf", "-o", output]  # fmt: skip
    assert cli.main(argv) == 0
    assert len(fits) == 1
    (row,) = read_trials(output)
    assert row["status"] == "COMPLETED" and row["epochs"] == "1"
    assert row["norm"] in ("bn", "bf")
    assert read_best(output)["values"] == {"norm": row["norm"]}


def test_tune_winner_retrains_to_its_trial_score(tmp_path):
    """A trial is the run that `larq-nobn train --recipe best_hyperparameters.json`
    repeats: same seed, batches, augmentation and schedule, scored by its last epoch."""
    output = str(tmp_path / "search")
    argv = ["tune", "--norm", "bf", "--width-multiplier", "0.0625", "--epochs", "2",
            "--batch-size", "64", "--max-train-samples", "128", "--augment",
            "--max-test-samples", "128", "--verbose", "0", "--max-trials", "1",
            "--search", "learning_rate", "--seed", "3", "-o", output]  # fmt: skip
    assert cli.main(argv) == 0
    best = read_best(output)
    recipe = os.path.join(output, tuning.BEST_FILE)
    assert cli.main(["train", "--recipe", recipe, "--verbose", "0"]) == 0
    retrain = os.path.join(output, "best")
    with open(os.path.join(retrain, "metrics.json")) as stream:
        metrics = json.load(stream)
    assert metrics["test_accuracy"] == pytest.approx(best["score"], abs=1e-6)
    trial = os.path.join(output, tuning.PROJECT_NAME, f"trial_{best['trial_id']}")
    trial_rows = training.read_log(os.path.join(trial, "log.csv"))
    retrain_rows = training.read_log(os.path.join(retrain, "log.csv"))
    assert len(trial_rows) == len(retrain_rows) == 2
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        expected = [row[key] for row in trial_rows]
        assert [row[key] for row in retrain_rows] == pytest.approx(expected, abs=1e-6)
    assert trial_rows[-1]["val_accuracy"] == best["score"]  # the last epoch's


def test_tune_stops_when_a_trial_is_interrupted(tmp_path, monkeypatch):
    # keras-tuner counts an exception in a trial as a failed trial and goes on; a
    # signal must stop the search instead.
    def interrupted(self, hp, output, verbose=None, resume_hint=None):
        raise training.TrainingInterrupted(signal.SIGTERM, "x", 0, output, resume_hint)

    monkeypatch.setattr(tuning.TrainHyperModel, "train_trial", interrupted)
    config = training.TrainConfig(**TINY, output=str(tmp_path))
    with pytest.raises(training.TrainingInterrupted) as caught:
        tuning.tune(config, max_trials=2, params=["learning_rate"], verbose=0)
    assert caught.value.exit_code == 143
    message = str(caught.value)
    assert "SIGTERM during trial 0" in message
    assert message.endswith(f"larq-nobn tune --output {tmp_path} --resume")


def test_tune_into_a_folder_held_by_a_run_exits_2(tmp_path, capsys):
    with training.RunLock(str(tmp_path)):
        code, _, err = run_main(["tune", *TINY_ARGS, "-o", str(tmp_path)], capsys)
    assert code == 2 and "in use by another run" in err
    assert os.listdir(tmp_path) == []
