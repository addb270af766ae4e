"""Accuracy on real data: zoo models trained with `larq_nobn.training`, each run cached.

Every run trains one model variant with one seed through `larq_nobn.training.train`
into `ROOT/<key>/`. A finished run (its `metrics.json` exists) is read back instead of
trained again, and an interrupted one resumes from its last checkpoint, so a grid that
takes hours can span sessions. `summarize` gives mean +- std per variant.

`run_grid` is section 1 of the reproduction report: `python -m benchmarks accuracy
--norms bn abn none --seeds 0 1 2` runs that grid alone. Every run trains on
Fashion-MNIST resized to `plan.image_size` (32: the papers' CIFAR size, which the
authors' VGG needs too), with `RECIPE`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn import training

ROOT = Path(os.environ.get("LARQ_NOBN_BENCH_RUNS", "runs/bench"))

# The recipe of every training run of the report (sections 1, 1b and 5): the default
# `make run` job's, on Fashion-MNIST resized to the plan's image size.
RECIPE = dict(
    dataset="fashion_mnist",
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-3,
    augment=False,
)
#: The settings that name a run in `run_key` (the rest go into its hash only).
KEY_PARTS = (
    ("width_multiplier", "x"), ("norm", ""), ("epochs", "e"), ("batch_size", "b"),
    ("learning_rate", "lr"), ("image_size", "i"), ("pad_values", "p"),
    ("max_train_samples", "train"), ("max_test_samples", "test"), ("seed", "s"),
)


def run_key(settings: dict) -> str:
    """The directory name of a run: its model and the settings of `KEY_PARTS` that are
    set, readable, then the first 12 hex digits of the SHA-256 of all its settings
    (sorted JSON), so that two runs share a directory only if every setting agrees."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    parts = [settings["model"]]
    parts += [f"{prefix}{settings[name]:g}" if isinstance(settings[name], float)
              else f"{prefix}{settings[name]}"
              for name, prefix in KEY_PARTS if settings.get(name) is not None]
    return "-".join(parts + [digest[:12]])


def record(settings: dict, metrics: dict) -> dict:
    """One line of `results.json`'s `runs`: the settings, the last epoch's test accuracy
    (`test_accuracy`) and the best epoch's (`best_test_accuracy`, `best_epoch`,
    1-based: what the references report)."""
    keys = ("model", "width_multiplier", "norm", "dataset", "epochs", "batch_size",
            "learning_rate", "image_size", "pad_values", "max_train_samples",
            "max_test_samples", "seed")
    best = metrics.get("best_test_accuracy")
    return {
        **{key: settings.get(key) for key in keys},
        "test_accuracy": float(metrics["test_accuracy"]),
        "best_test_accuracy": None if best is None else float(best),
        "best_epoch": metrics.get("best_epoch"),
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


def settings(plan, model: str, norm: str, seed: int, **changes) -> dict:
    """Section 1's run of `model` (`binarynet`, `binary_resnet18`, `reactnet18`):
    `RECIPE` at the plan's width, epochs, image size and subsets; `changes` override
    (section 1b's `pad_values`, section 5's batch size and learning rate)."""
    return {
        **RECIPE,
        "model": model,
        "width_multiplier": plan.width(model),
        "epochs": plan.epochs(model),
        "norm": norm,
        "seed": seed,
        "image_size": plan.image_size,
        "pad_values": 1.0,
        **subset(plan),
        **changes,
    }


def subset(plan) -> dict:
    """The plan's `max_train_samples` / `max_test_samples` that are set."""
    return {
        name: getattr(plan, name)
        for name in ("max_train_samples", "max_test_samples")
        if getattr(plan, name)
    }


def run_grid(plan, root: Path = ROOT, verbose: int = 2) -> list[dict]:
    """Section 1: every (model, norm, seed) of `plan.grid` (norms also in
    `plan.norms`, seeds `plan.model_seeds(model)`), seed-major, so that an interrupted
    grid has whole seeds of every variant; each record gets its per-epoch `curves`."""
    records = []
    for seed in sorted({s for model, _ in plan.grid for s in plan.model_seeds(model)}):
        for model, norms in plan.grid:
            if seed not in plan.model_seeds(model):
                continue
            for norm in (n for n in norms if n in plan.norms):
                run = train_cached(settings(plan, model, norm, seed), root, verbose)
                run["curves"] = curves(run["run_dir"])
                records.append(run)
    return records


def summarize(records: list[dict]) -> dict:
    """`{(model, width, norm): {"mean", "std", "n", "accuracies"}}` over seeds (the last
    epoch's test accuracy), with the same of the best epoch's under `best_mean`,
    `best_std`, `best_accuracies`, and the best epochs under `best_epochs`."""
    groups: dict = {}
    for run in records:
        groups.setdefault((run["model"], run["width_multiplier"], run["norm"]), []).append(run)
    summary = {}
    for key, runs in groups.items():
        last = [run["test_accuracy"] for run in runs]
        best = [run.get("best_test_accuracy") for run in runs]
        best = last if None in best else best
        summary[key] = {
            **spread(last),
            **{f"best_{name}": value for name, value in spread(best).items()
               if name != "n"},
            "best_epochs": [run.get("best_epoch") for run in runs],
        }
    return summary


def spread(values: list[float]) -> dict:
    """`{"mean", "std" (sample; 0 for one value), "n", "accuracies"}` (mean NaN for no
    values)."""
    return {
        "mean": statistics.fmean(values) if values else math.nan,
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "accuracies": list(values),
    }
