"""Tests of the `larq-nobn` command line: help texts, error paths (exit code 2, one
line, no traceback), train + evaluate + --seeds on a slice of the real Fashion-MNIST,
and an interrupted (SIGINT) subprocess run resumed with --resume.

Tiny sizes: BinaryNet at width 1/16, a few hundred samples.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

from larq_nobn import cli, data, training
from larq_nobn.cli import argtypes
from larq_nobn.cli.options import config_fields

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = "/usr/share/datasets/fashion-mnist"
TINY = [
    "--width-multiplier",
    "0.0625",
    "--batch-size",
    "32",
    "--max-train-samples",
    "128",
    "--max-test-samples",
    "64",
    "--verbose",
    "0",
]


def _write_idx(path, array):
    """An IDX file (Fashion-MNIST's format): magic 0x0000080N, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    """The real Fashion-MNIST IDX folder when installed, else a small learnable stand-in
    in the same format (so the command line is exercised end to end everywhere)."""
    if os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")):
        return FMNIST
    folder = tmp_path_factory.mktemp("fashion-mnist")
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 2000), ("t10k", 200)):
        labels = rng.integers(0, 10, count)
        images = rng.integers(0, 60, (count, 28, 28))
        for i, label in enumerate(labels):  # a bright bar whose row encodes the class
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return str(folder)


def run_main(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------
# Help and errors
# --------------------------------------------------------------------------------------
def test_help_texts(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0 and "train" in out and "evaluate" in out and "recipes" in out
    code, out, _ = run_main(["train", "--help"], capsys)
    assert code == 0
    for option in (
        "--model",
        "--norm",
        "--dataset",
        "--epochs",
        "--batch-size",
        "--seed",
        "--seeds",
        "--output",
        "--width-multiplier",
        "--variant",
        "--optimizer",
        "--learning-rate",
        "--schedule",
        "--agc-clip-factor",
        "--recipe",
        "--resume",
        "--strategy",
        "--data-dir",
        "--teacher",
    ):
        assert option in out, option
    # Each ResNet-18 has its own --model; the old name is marked deprecated.
    assert "reactnet18" in out and "binary_resnet18" in out
    assert "resnet18 is deprecated (use reactnet18 or binary_resnet18)" in " ".join(out.split())
    code, out, _ = run_main(["evaluate", "--help"], capsys)
    assert code == 0 and "--dataset" in out
    code, out, _ = run_main(["recipes"], capsys)
    assert code == 0
    for name in training.RECIPES:
        assert name in out


def test_every_subcommand_is_registered():
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert commands == {
        "train", "evaluate", "recipes", "convert", "benchmark", "tune", "import-weights"
    }


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--model", "vgg16"], "invalid choice: 'vgg16'"),
        (["train", "--norm", "gn"], "invalid choice: 'gn'"),
        (["train", "--dataset", "mnist_typo"], "Unknown dataset 'mnist_typo'"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--image-size", "0"], "--image-size: expected an integer >= 1, got '0'"),
        (["train", "--agc-clip-factor", "lots"], "agc_clip_factor"),
        (["train", "--model", "reactnet_a", "--width-multiplier", "2"], "not to 'reactnet_a'"),
        (["train", "--recipe", "abn_paper", "--model", "reactnet_a"], "abn_paper"),
        (
            ["train", "--model", "reactnet18", "--variant", "abn_paper"],
            "deprecated model 'resnet18' only",
        ),
        (
            ["evaluate", "/nonexistent/model.keras", "--dataset", "fashion_mnist"],
            "exist",
        ),
        (["evaluate", "/nonexistent/model.keras"], "model file not found"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, fragment, capsys, tmp_path):
    if argv[0] == "train":
        argv = argv + ["--output", str(tmp_path / "out")]
    code, _, err = run_main(argv, capsys)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err


def test_evaluate_without_dataset_or_config_json(capsys, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"not read: the dataset is checked first")
    code, _, err = run_main(["evaluate", str(model)], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"--dataset is required: there is no config.json next to {str(model)!r}" in err


def test_unwritable_or_bad_output_directory(capsys, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    for output in (str(a_file), str(a_file / "below")):
        code, _, err = run_main(["train", "--output", output], capsys)
        assert code == 2 and "error:" in err and "Traceback" not in err, err
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        # root ignores permission bits; /sys refuses new directories even to root.
        target = str(read_only / "run") if os.geteuid() != 0 else "/sys/larq-nobn-test"
        code, _, err = run_main(["train", "--output", target], capsys)
        assert code == 2 and "not writable" in err, err
    finally:
        read_only.chmod(0o700)


def test_resume_without_run_and_rerun_without_resume(capsys, tmp_path):
    code, _, err = run_main(["train", "--resume", "--output", str(tmp_path)], capsys)
    assert code == 2 and "Nothing to resume" in err
    (tmp_path / "metrics.json").write_text("{}")
    code, _, err = run_main(["train", "--output", str(tmp_path)], capsys)
    assert code == 2 and "--resume" in err and "--overwrite" in err


def test_missing_data_path_subprocess_no_traceback(tmp_path):
    """The whole process, as a user runs it: one line on stderr, exit code 2."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "larq_nobn.cli", "train", "--dataset", "tiny_imagenet"]
        + ["--data-dir", str(tmp_path / "missing"), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [
        line for line in result.stderr.splitlines() if "larq-nobn: error:" in line
    ]
    assert len(errors) == 1 and "tiny" in errors[0].lower()


# --------------------------------------------------------------------------------------
# Train, evaluate, seeds (real Fashion-MNIST slice)
# --------------------------------------------------------------------------------------
def test_evaluate_resizes_for_a_model_trained_at_another_image_size(
    capsys, tmp_path, fashion_dir
):
    """A run trained with --image-size 32 evaluates on 28x28 Fashion-MNIST resized as
    in training: the same accuracy as the run's own final evaluation."""
    output = tmp_path / "at32"
    argv = ["train", "--output", str(output), "--epochs", "1", "--image-size", "32",
            "--data-dir", fashion_dir]
    code, _, err = run_main(argv + TINY, capsys)
    assert code == 0, err
    metrics = json.loads((output / "metrics.json").read_text())
    code, out, err = run_main(["evaluate", str(output / "model.keras"), "--data-dir",
                               fashion_dir, "--max-test-samples", "64"], capsys)
    assert code == 0, err
    shown = float(out.split("test accuracy: ")[1].split()[0])
    assert shown == pytest.approx(metrics["test_accuracy"], abs=5e-5)


def test_train_seeds_then_evaluate(capsys, tmp_path, fashion_dir):
    output = tmp_path / "seeds"
    argv = ["train", "--output", str(output), "--epochs", "1", "--seeds", "0", "1"]
    argv += ["--data-dir", fashion_dir]
    code, out, err = run_main(argv + TINY + ["--run-eagerly"], capsys)
    assert code == 0, err
    assert "Test accuracy over 2 seed(s)" in out
    accuracies, losses = [], []
    for seed in (0, 1):
        with open(output / f"seed_{seed}" / "metrics.json") as stream:
            metrics = json.load(stream)
        assert (metrics["seed"], metrics["epochs"], metrics["dataset"]) == (
            seed,
            1,
            "fashion_mnist",
        )
        assert metrics["model"] == "binarynet" and metrics["width_multiplier"] == 0.0625
        accuracies.append(metrics["test_accuracy"])
        losses.append(metrics["test_loss"])
        # One epoch, validated on the test split: the best epoch is the last.
        assert (metrics["best_test_accuracy"], metrics["best_epoch"]) == (
            metrics["test_accuracy"], 1)
        assert (
            f"Test accuracy {accuracies[-1]:.4f} (last epoch), best "
            f"{accuracies[-1]:.4f} (epoch 1)" in out
        )
    with open(output / "summary.json") as stream:
        summary = json.load(stream)
    assert summary["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert summary["test_accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert summary["test_loss"]["mean"] == pytest.approx(np.mean(losses))
    assert summary["best_test_accuracy"]["values"] == pytest.approx(accuracies)

    # evaluate prints the same test accuracy as the run wrote (same 64 test samples);
    # without --dataset it reads the dataset from the run's config.json.
    model = str(output / "seed_1" / "model.keras")
    argv = ["evaluate", model, "--max-test-samples", "64", "--data-dir", fashion_dir]
    code, out, err = run_main(argv, capsys)
    assert code == 0, err
    line = next(l for l in out.splitlines() if l.startswith("test accuracy:"))
    assert float(line.split()[2]) == pytest.approx(accuracies[1], abs=1e-4)
    assert "fashion_mnist" in line and "test loss:" in out


# --------------------------------------------------------------------------------------
# Interrupt with SIGINT, resume
# --------------------------------------------------------------------------------------
def test_sigint_mid_run_then_resume(tmp_path, capsys, fashion_dir):
    output = tmp_path / "run"
    epochs, samples, batch = 3, 640, 32
    steps = samples // batch
    argv = ["train", "--output", str(output), "--epochs", str(epochs)]
    argv += ["--width-multiplier", "0.0625", "--batch-size", str(batch)]
    argv += ["--max-train-samples", str(samples), "--max-test-samples", "64"]
    argv += ["--data-dir", fashion_dir]
    process = subprocess.Popen(
        [sys.executable, "-m", "larq_nobn.cli"] + argv + ["--verbose", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    checkpoint = output / "checkpoints" / "last.keras"
    deadline = time.time() + 240
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert checkpoint.exists(), process.communicate(timeout=60)
    process.send_signal(signal.SIGINT)  # epoch 1 is saved: we are in epoch 2 (or 3)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err

    state = training.read_checkpoint_state(str(checkpoint))
    assert 1 <= state["epoch"] < epochs
    iterations = state["optimizer_iterations"]
    assert iterations >= state["epoch"] * steps
    if state["interrupted"]:  # the usual case: stopped after a batch of an epoch
        assert iterations < (state["epoch"] + 1) * steps
    rows = training.read_log(str(output / "log.csv"))
    assert [row["epoch"] for row in rows] == list(range(state["epoch"]))
    assert not (output / "metrics.json").exists()

    argv = [
        "train",
        "--output",
        str(output),
        "--resume",
        "--run-eagerly",
        "--verbose",
        "0",
    ]
    code, _, err = run_main(argv, capsys)
    assert code == 0, err
    rows = training.read_log(str(output / "log.csv"))
    assert [row["epoch"] for row in rows] == list(range(epochs))
    with open(output / "metrics.json") as stream:
        metrics = json.load(stream)
    assert metrics["epochs"] == epochs
    # The optimizer continued from the checkpoint's exact step: neither from 0 nor
    # from the beginning of the interrupted epoch.
    assert metrics["optimizer_iterations"] == epochs * steps


@pytest.mark.parametrize(
    "parse, text, expected",
    [
        ("positive_int", "3", 3),
        ("non_negative_int", "0", 0),
        ("number", "-2.5", -2.5),
        ("fraction", "1", 1.0),
    ],
)
def test_argument_types_accept(parse, text, expected):
    assert getattr(argtypes, parse)(text) == expected


@pytest.mark.parametrize(
    "parse, text, accepted",
    [
        ("positive_int", "0", "integer >= 1"),
        ("positive_int", "2.5", "integer >= 1"),
        ("non_negative_int", "-1", "integer >= 0"),
        ("number", "lots", "a number"),
        ("fraction", "0", "(0, 1]"),
        ("fraction", "1.5", "(0, 1]"),
    ],
)
def test_argument_types_name_the_bad_text(parse, text, accepted):
    with pytest.raises(argparse.ArgumentTypeError) as error:
        getattr(argtypes, parse)(text)
    assert repr(text) in str(error.value) and accepted in str(error.value)


# --------------------------------------------------------------------------------------
# Help examples, train --recipe from a tune search, evaluate --per-class
# --------------------------------------------------------------------------------------
def help_examples(command, capsys):
    """The example lines that end `larq-nobn COMMAND --help`, as argv lists."""
    code, out, _ = run_main([command, "--help"], capsys)
    assert code == 0
    _, heading, tail = out.rpartition("\nexamples:\n")
    assert heading, out
    lines = tail.rstrip().splitlines()
    assert all(line.startswith("  larq-nobn ") for line in lines), lines
    return [shlex.split(line)[1:] for line in lines]


@pytest.mark.parametrize(
    "command", [c.__name__.rsplit(".", 1)[-1].replace("_", "-") for c in cli.COMMANDS]
)
def test_every_help_ends_with_examples_that_parse(command, capsys):
    examples = help_examples(command, capsys)
    assert 2 <= len(examples) <= 3
    parser = cli.build_parser()
    for argv in examples:
        args = parser.parse_args(argv)  # argparse exits (SystemExit) on a bad example
        assert callable(args._handler), argv
    assert any(argv[0] == command for argv in examples)


def test_image_size_and_pad_values_options_set_the_config_fields():
    args = cli.build_parser().parse_args(
        ["train", "--image-size", "32", "--pad-values", "0", "--output", "o"]
    )
    explicit = {k: v for k, v in vars(args).items() if k in config_fields()}
    config = training.TrainConfig(**explicit)
    assert (config.image_size, config.pad_values) == (32, 0.0)


def test_help_examples_would_catch_a_bad_one():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["evaluate", "model.keras", "--per-classes"])


def write_best_hyperparameters(search, **fields):
    """A `best_hyperparameters.json` in the layout `tuning.tune` writes."""
    config = training.TrainConfig(output=str(search / "best"), **fields)
    search.mkdir()
    best = {
        "objective": "val_accuracy",
        "direction": "max",
        "score": 0.5,
        "trial_id": "00",
        "values": {"learning_rate": fields["learning_rate"]},
        "train_flags": ["--learning-rate", str(fields["learning_rate"])],
        "tuner": "random",
        "trials": 1,
        "config": config.to_dict(),
    }
    (search / "best_hyperparameters.json").write_text(json.dumps(best))
    return search / "best_hyperparameters.json"


def test_train_recipe_from_a_tune_search_then_evaluate_per_class(
    capsys, tmp_path, fashion_dir
):
    path = write_best_hyperparameters(
        tmp_path / "tune",
        norm="abn",
        learning_rate=0.0123,
        width_multiplier=0.0625,
        batch_size=32,
        max_train_samples=64,
        max_test_samples=64,
        epochs=3,
        data_dir=fashion_dir,
    )
    # The search's settings, --epochs overriding its 3; by default into tune/best.
    argv = ["train", "--recipe", str(path), "--epochs", "1", "--verbose", "0"]
    code, _, err = run_main(argv + ["--run-eagerly"], capsys)
    assert code == 0, err
    with open(tmp_path / "tune" / "best" / "config.json") as stream:
        config = json.load(stream)
    assert (config["norm"], config["learning_rate"], config["epochs"]) == ("abn", 0.0123, 1)
    assert config["width_multiplier"] == 0.0625 and config["max_train_samples"] == 64
    # The search's directory works too; --output wins.
    argv = ["train", "--recipe", str(tmp_path / "tune"), "--output", str(tmp_path / "o")]
    code, _, err = run_main(argv + ["--epochs", "1", "--verbose", "0", "--run-eagerly"], capsys)
    assert code == 0, err
    with open(tmp_path / "o" / "metrics.json") as stream:
        metrics = json.load(stream)
    assert metrics["norm"] == "abn"

    model = str(tmp_path / "o" / "model.keras")
    argv = ["evaluate", model, "--per-class", "--max-test-samples", "64", "--verbose", "0"]
    code, out, err = run_main(argv + ["--data-dir", fashion_dir], capsys)
    assert code == 0, err
    lines = out.splitlines()
    accuracy = float(next(l for l in lines if l.startswith("test accuracy:")).split()[2])
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    table = lines[lines.index(next(l for l in lines if l.startswith("class"))) + 1 :][:10]
    names = [row.rsplit(None, 2)[0] for row in table]
    assert names == list(data.info("fashion_mnist").class_names)
    samples = np.array([int(row.split()[-2]) for row in table])
    accuracies = [row.split()[-1] for row in table]
    assert samples.sum() == 64
    # The per-class accuracies weighted by their samples give the accuracy back.
    correct = sum(n * float(a) for n, a in zip(samples, accuracies) if a != "-")
    assert correct / 64 == pytest.approx(accuracy, abs=1e-4)
    seen = [float(a) for a in accuracies if a != "-"]
    mean = float(next(l for l in lines if l.startswith("mean class accuracy:")).split()[-1])
    assert mean == pytest.approx(np.mean(seen), abs=1e-4)


@pytest.mark.parametrize(
    "recipe, fragment",
    [
        ("papers_best", "Unknown recipe 'papers_best'"),
        ("missing/best_hyperparameters.json", "No best_hyperparameters.json"),
    ],
)
def test_train_recipe_errors(recipe, fragment, capsys, tmp_path):
    argv = ["train", "--recipe", recipe, "--output", str(tmp_path / "out")]
    code, _, err = run_main(argv, capsys)
    assert code == 2 and fragment in err and "Traceback" not in err, err
