"""Accuracy on real data: zoo models trained with `larq_nobn.training`, each run cached.

Every run trains one model variant with one seed through `larq_nobn.training.train`
into `ROOT/<key>/`. A finished run (its `metrics.json` exists) is read back instead of
trained again, and an interrupted one resumes from its last checkpoint, so a grid that
takes hours can span sessions. `summarize` gives mean +- std per variant.

`run_grid` is section 1 of the reproduction report: `python -m benchmarks accuracy
--norms bn abn none --seeds 0 1 2` runs that grid alone.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn import training

ROOT = Path(os.environ.get("LARQ_NOBN_BENCH_RUNS", "runs/bench"))

# The recipe of the ABN-paper comparison on Fashion-MNIST (the default `make run` job).
BINARYNET_RECIPE = dict(
    model="binarynet",
    width_multiplier=0.25,
    dataset="fashion_mnist",
    epochs=3,
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-3,
    augment=False,
)


def run_key(settings: dict) -> str:
    """A directory name that identifies a run's settings."""
    parts = [settings["model"], f"x{settings.get('width_multiplier')}", settings["norm"]]
    parts += [f"e{settings['epochs']}", f"b{settings['batch_size']}"]
    for name in ("max_train_samples", "max_test_samples"):
        if settings.get(name):
            parts.append(f"{name.split('_')[1]}{settings[name]}")
    parts.append(f"s{settings['seed']}")
    return "-".join(str(part) for part in parts)


def record(settings: dict, metrics: dict) -> dict:
    """One line of `results.json`'s `runs`."""
    keys = ("model", "width_multiplier", "norm", "dataset", "epochs", "batch_size", "seed")
    return {
        **{key: settings.get(key) for key in keys},
        "test_accuracy": float(metrics["test_accuracy"]),
        "test_loss": float(metrics["test_loss"]),
        "train_seconds": metrics.get("train_seconds"),
        "agc_clip_factor": metrics.get("config", {}).get("agc_clip_factor"),
    }


def train_cached(settings: dict, root: Path = ROOT, verbose: int = 2) -> dict:
    """Trains one run unless it finished before; returns its `record`, with `cached`
    (read back from an earlier run) and `run_dir` added."""
    output = root / run_key(settings)
    metrics_path = output / "metrics.json"
    cached = metrics_path.exists()
    if not cached:
        config = training.TrainConfig(output=str(output), **settings)
        resume = (output / "config.json").exists()
        training.train(config, resume=resume, overwrite=not resume, verbose=verbose)
    metrics = json.loads(metrics_path.read_text())
    return {**record(settings, metrics), "cached": cached, "run_dir": str(output)}


def curves(run_dir) -> dict:
    """The per-epoch `log.csv` of a run as `{column: [values]}` (epoch 1 first)."""
    rows = training.read_log(str(Path(run_dir) / "log.csv"))
    columns = sorted({key for row in rows for key in row})
    return {key: [row.get(key) for row in rows] for key in columns}


def binarynet_settings(plan, norm: str, seed: int) -> dict:
    """Section 1's BinaryNet run: `BINARYNET_RECIPE` at the plan's width and epochs."""
    return dict(
        BINARYNET_RECIPE,
        width_multiplier=plan.binarynet_width,
        epochs=plan.binarynet_epochs,
        norm=norm,
        seed=seed,
        **subset(plan),
    )


def resnet_settings(plan, norm: str, seed: int) -> dict:
    """Section 1's ReActNet-18 run: BinaryNet's recipe with ReActNet-18 (CIFAR stem)
    at the plan's width and epochs."""
    return dict(
        BINARYNET_RECIPE,
        model="reactnet18",
        width_multiplier=plan.resnet_width,
        epochs=plan.resnet_epochs,
        norm=norm,
        seed=seed,
        **subset(plan),
    )


def subset(plan) -> dict:
    """The plan's `max_train_samples` / `max_test_samples` that are set."""
    return {
        name: getattr(plan, name)
        for name in ("max_train_samples", "max_test_samples")
        if getattr(plan, name)
    }


def run_grid(plan, root: Path = ROOT, verbose: int = 2) -> list[dict]:
    """Section 1: every (model, norm, seed) of the plan, seed-major; each record gets
    its per-epoch `curves`."""
    records = []
    for seed in plan.seeds:
        makers = {"binarynet": binarynet_settings, "reactnet18": resnet_settings}
        for make in (makers[model] for model in plan.models):
            for norm in plan.norms:
                run = train_cached(make(plan, norm, seed), root, verbose)
                run["curves"] = curves(run["run_dir"])
                records.append(run)
    return records


def summarize(records: list[dict]) -> dict:
    """`{(model, width, norm): {"mean", "std", "n", "accuracies"}}` over seeds."""
    groups: dict = {}
    for run in records:
        key = (run["model"], run["width_multiplier"], run["norm"])
        groups.setdefault(key, []).append(run["test_accuracy"])
    return {
        key: {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values),
            "accuracies": values,
        }
        for key, values in groups.items()
    }
