"""The authors' code side by side: their own PyTorch models trained like section 1.

For each variant of `VARIANTS` and every section-1 zoo run it mirrors (same model,
norm, width and epochs, one per seed) this section trains the authors' model from a
local checkout (gushan/ABN, VITA-Group/BNN_NoBN) in a separate PyTorch process
(`benchmarks.authors.driver`), on the very pixels the zoo run saw and with the zoo
run's recipe read from its `config.json`, and puts both accuracies side by side with a
Welch 95 % interval of zoo - authors (`benchmarks.statistics.welch_interval`). The
zoo column comes twice: section 1's runs (`pad_values=1.0`, LCE's fast form) and the
same runs in the reference mode (`pad_values=0.0`: the authors' zero padding), which
this section trains (`reference_runs`; section 1b's runs where they agree).

How the authors' models are adapted (at run time, never a copy of their code; see
`benchmarks.authors.torch_models.build`): every channel count divided by
`divider = 1 / width_multiplier`, the RGB input replaced by 1 channel (constructor
patch; gushan/ABN's VGG gets it as channel 0 of 3, `torch_models.model_channels`,
its first layer drawn as torch draws a 1-channel layer, `init_channels`),
Fashion-MNIST bilinearly resized to the zoo run's `image_size` (32;
`export_data`, the arrays of `larq_nobn.data.load(..., image_size=32,
training=False)`), gushan/ABN's VGG with `infl_ratio` 1 and the flatten size of the
narrowed map.

Every finished run is cached as `<runs-root>/authors/<key>.json` (`run_key`: every
setting), so the section resumes; a killed run restarts that run only. Nothing here
imports torch: the driver runs in `--torch-python`.

One seed says little for the BN-free ReActNet-18 at width 0.125 and 3 short epochs:
from the same weights and batches the zoo and the driver stay equal only for a few
steps. Both take the same step to float32 rounding, also along a trained trajectory
(forward, gradients and AGC compared on the driver's weights after 50 steps, 1 grey
channel, zero padding: AGC equal to 3e-7 with most parameters clipped, gradients to
2 %), but rounding decides some binary activations (on Fashion-MNIST's flat
background the zero-mean ScaledWS stem outputs rounding noise, so at the start a
quarter of the first block's sign inputs are below 1e-5), and the BNN amplifies
every flipped sign: two driver runs whose inputs differ by 1e-4 part as far as the
zoo and the driver do, and so do two driver runs of the same seed with 1 and 2
torch threads (another order of the float32 sums). Test accuracy then moves by
several points from epoch to epoch and from one seed, batch order or thread count
to the next, on both sides.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from benchmarks import accuracy
from benchmarks.accuracy import spread
from benchmarks.authors import TORCH_ENV, checks
from benchmarks.authors.checks import CHECKOUTS, AuthorsError, check_torch, divider
from benchmarks.statistics import welch_interval
from larq_nobn import data, files
from larq_nobn.training import TrainConfig

import numpy as np

logger = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parents[2]
#: The image side of a zoo run without `image_size` (Fashion-MNIST's own 28 does not
#: fit gushan/ABN's VGG, whose three 2x2 poolings need a multiple of 8).
IMAGE_SIZE = 32
THREADS = 2
#: Seconds one authors' run may take before it is stopped.
TIMEOUT = 4 * 3600
CONFIDENCE = 0.95

#: `{name: spec}`: the checkout (`repo`: "abn" or "nobn"), module file and factory of
#: the authors' model, the zoo variant it mirrors, what its forward returns and, for
#: gushan/ABN's VGG (built for 3 channels, `torch_models.model_channels`), the input
#: channels its first layer is initialised for (`init_channels`: the grey image's 1,
#: as the zoo's first layer; `torch_models.init_as_channels`).
VARIANTS = {
    "binarynet_bn": dict(
        repo="abn", file="vgg_cifar10_binary", factory="vgg_cifar10_binary", kwargs={},
        model="binarynet", norm="bn", output="log_softmax", init_channels=1,
    ),
    "binarynet_abn": dict(
        repo="abn", file="vgg_abn_cifar10_binary", factory="vgg_abn_cifar10_binary",
        kwargs={}, model="binarynet", norm="abn", output="log_softmax", init_channels=1,
    ),
    "reactnet18_bf": dict(
        repo="nobn", file="Qaw_reactnet_18_bf", factory="birealnet18",
        kwargs={"imagenet": False}, model="reactnet18", norm="bf", output="logits",
    ),
}


def check_checkout(path, repo: str) -> Path:
    """`checks.check_checkout` for every model file of `VARIANTS` from `repo`."""
    return checks.check_checkout(
        path, repo, [v["file"] for v in VARIANTS.values() if v["repo"] == repo])


def recipe(config: dict) -> dict:
    """The settings of the authors' run mirroring the zoo run whose `config.json` is
    `config`: what the driver needs, nothing else.

    # Raises
        AuthorsError: A setting the driver does not reproduce (the name and value).
    """
    config = TrainConfig.from_dict(config)
    unsupported = {
        "optimizer": (config.optimizer, "adam"),
        "adam_epsilon_placement": (config.adam_epsilon_placement, "torch"),
        "augment": (config.augment, False),
        "two_step": (config.two_step, False),
        "weights": (config.weights, "binary"),
        "validation_split": (config.validation_split, 0.0),
        "teacher": (config.teacher, None),
        "dataset": (config.dataset, "fashion_mnist"),
    }
    for name, (value, accepted) in unsupported.items():
        if value != accepted:
            raise AuthorsError(f"the authors' driver needs {name}={accepted!r}, the zoo "
                               f"run has {value!r}.")
    if config.schedule not in ("constant", "linear_epoch"):
        raise AuthorsError(f"schedule {config.schedule!r} is not reproduced; accepted: "
                           "constant, linear_epoch.")
    size = getattr(config, "image_size", None)
    if size is not None and size % 8:
        raise AuthorsError(f"the zoo run's image_size {size} does not fit the authors' "
                           "VGG (three 2x2 poolings): use a multiple of 8, e.g. 32.")
    return dict(
        image_size=size or IMAGE_SIZE, zoo_image_size=size,
        zoo_pad_values=getattr(config, "pad_values", None),
        width_multiplier=config.resolved_width_multiplier or 1.0,
        epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
        learning_rate=config.learning_rate, schedule=config.schedule,
        adam_reset_each_epoch=config.adam_reset_each_epoch,
        weight_decay=config.weight_decay,
        agc_clip_factor=float(config.resolved_agc_clip_factor),
        max_train_samples=config.max_train_samples,
        max_test_samples=config.max_test_samples,
    )


def run_key(variant: str, settings: dict) -> str:
    """The cache name of one authors' run: readable settings and a hash of all of them
    (`settings` holds every setting, the checkout commit and the data file included)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    parts = [variant, f"x{settings['width_multiplier']}", f"e{settings['epochs']}",
             f"b{settings['batch_size']}"]
    for name in ("max_train_samples", "max_test_samples"):
        if settings.get(name):
            parts.append(f"{name.split('_')[1]}{settings[name]}")
    return "-".join(str(p) for p in parts + [f"s{settings['seed']}", digest[:12]])


def export_data(path, image_size: int = IMAGE_SIZE, take: int | None = None) -> Path:
    """Writes Fashion-MNIST as the zoo's section 1 sees it, resized to `image_size`,
    standardized, in order (`x_train`, `y_train`, `x_test`, `y_test`; NHWC float32)
    to the `.npz` `path` unless it exists; `take`: the first `take` images of each
    split only (tests). The arrays are exactly `larq_nobn.data.load`'s batches."""
    path = Path(path)
    if path.exists():
        return path
    arrays = {}
    for split in ("train", "test"):
        dataset = data.load("fashion_mnist", split, batch_size=1000, training=False,
                            image_size=image_size)
        if take is not None:
            dataset = dataset.unbatch().take(take).batch(1000)
        images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
        arrays[f"x_{split}"] = np.concatenate(images)
        arrays[f"y_{split}"] = np.concatenate(labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)
    return path


def checkout_commit(path) -> str:
    """The checkout's `HEAD` commit, or `"unknown"` outside git."""
    done = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def train_cached(variant: str, settings: dict, root: Path, python, timeout=TIMEOUT):
    """One authors' run, read back from `root/<run_key>.json` when it finished before;
    returns its record with `cached`. The driver writes the file only when done; its
    output goes to `root/<run_key>.log`.

    # Raises
        AuthorsError: The driver failed or ran past `timeout` (its last error line).
    """
    path = Path(root) / f"{run_key(variant, settings)}.json"
    if path.exists():
        return {**files.read_json(path), "cached": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {**settings, "variant": variant, **VARIANTS[variant], "output_path": str(path)}
    command = [str(python), "-m", "benchmarks.authors.driver", json.dumps(spec)]
    log = path.with_suffix(".log")
    logger.info("authors' run %s (output in %s)", path.name, log)
    try:
        with open(log, "w") as output:
            done = subprocess.run(command, cwd=REPOSITORY, stdout=output,
                                  stderr=subprocess.STDOUT, timeout=timeout,
                                  env={**os.environ, **TORCH_ENV})
    except subprocess.TimeoutExpired:
        raise AuthorsError(f"authors' run {path.name} ran past {timeout} s.") from None
    if done.returncode or not path.exists():
        lines = log.read_text().strip().splitlines() or ["no output"]
        raise AuthorsError(f"authors' run {path.name} failed: {lines[-1]} (see {log})")
    return {**files.read_json(path), "cached": False}


def compare(zoo: list[float], authors: list[float], confidence=CONFIDENCE) -> dict:
    """Zoo against authors' accuracies: both summaries, the Welch interval of
    zoo - authors and the verdict "within seed noise" when it contains 0."""
    result = {"zoo": spread(zoo), "authors": spread(authors)}
    if len(zoo) < 2 or len(authors) < 2:
        result["verdict"] = "inconclusive (needs 2 seeds a side)"
        return result
    interval = welch_interval(zoo, authors, confidence=confidence)
    inside = interval["low"] <= 0 <= interval["high"]
    result["interval"] = interval
    result["verdict"] = "within seed noise" if inside else "outside seed noise"
    return result


def mirrored(zoo_runs: list[dict], spec: dict) -> list[dict]:
    """The section-1 zoo runs of `spec`'s model and norm (one per seed)."""
    return [r for r in zoo_runs if r.get("section") != "batch_size"
            and r["model"] == spec["model"] and r["norm"] == spec["norm"]]


def run_settings(spec: dict, run_dir, paths: dict) -> dict:
    """Every setting of the authors' run mirroring the zoo run in `run_dir`: its
    `recipe`, the divider and threads, the data file (`paths["data"](image_size)`)
    and the checkouts (`paths`: `"abn"`, `"nobn"`, `"data"` and `"commits"`)."""
    settings = recipe(files.read_json(Path(run_dir) / "config.json"))
    settings.update(
        divider=divider(settings["width_multiplier"]), threads=THREADS,
        data=str(paths["data"](settings["image_size"])), checkout=str(paths[spec["repo"]]),
        nobn_checkout=str(paths["nobn"]), commit=paths["commits"][spec["repo"]])
    if spec.get("init_channels"):
        settings["init_channels"] = spec["init_channels"]
    return settings


def run_variant(name, zoo_runs, paths: dict, root: Path, python, timeout,
                reference=None) -> dict:
    """Every seed of one variant: the zoo's and the authors' records side by side.

    `reference(zoo_run)`, when given, returns the record of the zoo run's reference
    mode (`pad_values=0.0`, zero padding as the authors' code), a second zoo column
    compared with the authors' under `entry["reference"]`."""
    spec = VARIANTS[name]
    runs = mirrored(zoo_runs, spec)
    entry = {"model": spec["model"], "norm": spec["norm"], "repository":
             CHECKOUTS[spec["repo"]], "module": f"models/{spec['file']}.py",
             "factory": spec["factory"], "kwargs": spec["kwargs"], "seeds": []}
    for zoo in runs:
        try:
            settings = run_settings(spec, zoo["run_dir"], paths)
            authors = train_cached(name, settings, root, python, timeout)
        except AuthorsError as error:
            logger.warning("%s", error)
            entry["error"] = str(error)
            break
        seed = {"seed": zoo["seed"], "settings": settings, "zoo": epochs(zoo),
                "authors": authors}
        if reference is not None:
            seed["zoo_reference"] = epochs(reference(zoo))
        entry["seeds"].append(seed)
    if entry["seeds"]:
        first = entry["seeds"][0]["settings"]
        entry.update({key: first[key] for key in ("width_multiplier", "epochs", "image_size",
                                                  "zoo_image_size", "zoo_pad_values")})
    for epoch in ("last", "best"):
        entry[epoch] = compare([s["zoo"][epoch] for s in entry["seeds"]],
                               [s["authors"][epoch] for s in entry["seeds"]])
    if reference is not None and entry["seeds"]:
        entry["reference"] = {
            epoch: compare([s["zoo_reference"][epoch] for s in entry["seeds"]],
                           [s["authors"][epoch] for s in entry["seeds"]])
            for epoch in ("last", "best")}
    return entry


def epochs(zoo: dict) -> dict:
    """`{"last", "best"}` test accuracy of a zoo run's record."""
    best = zoo.get("best_test_accuracy") or max(
        zoo.get("curves", {}).get("val_accuracy") or [zoo["test_accuracy"]])
    return {"last": zoo["test_accuracy"], "best": best}


def reference_runs(plan, runs_root, verbose: int = 2):
    """`reference(zoo_run)` for `run_variant`: the zoo run trained again (or read back
    from the run cache) with `pad_values=0.0`, as section 1b trains it."""

    def reference(zoo: dict) -> dict:
        settings = accuracy.settings(plan, zoo["model"], zoo["norm"], zoo["seed"],
                                     pad_values=0.0)
        return accuracy.train_cached(settings, Path(runs_root), verbose)

    return reference


def run(plan, runs_root, zoo_runs: list[dict], abn_checkout=None, nobn_checkout=None,
        torch_python=None, timeout=TIMEOUT, verbose: int = 2) -> dict:
    """The section: `{"skipped": note}` without both checkouts, else `{"setup",
    "variants": {name: run_variant(...)}}`: the authors' runs beside section 1's zoo
    runs (`zoo_runs`, the default `pad_values=1.0`) and beside the same zoo runs in
    the reference mode (`pad_values=0.0`, trained with `plan` into `runs_root` by
    `reference_runs`).

    # Raises
        AuthorsError: A checkout or the torch interpreter is unusable.
    """
    if abn_checkout is None or nobn_checkout is None:
        return {"skipped": "not run: pass --abn-checkout and --nobn-checkout (and "
                "--torch-python, an interpreter with torch) to train the authors' "
                "models beside the zoo's."}
    python = torch_python or sys.executable
    paths = {"abn": check_checkout(abn_checkout, "abn"),
             "nobn": check_checkout(nobn_checkout, "nobn")}
    version = check_torch(python)
    root = Path(runs_root) / "authors"
    paths["data"] = lambda size: export_data(root / f"fashion_mnist-{size}.npz", size)
    paths["commits"] = {repo: checkout_commit(paths[repo]) for repo in CHECKOUTS}
    reference = reference_runs(plan, runs_root, verbose)
    variants = {name: run_variant(name, zoo_runs, paths, root, python, timeout, reference)
                for name in VARIANTS}
    setup = {"torch": version, "threads": THREADS,
             "confidence": CONFIDENCE, "commits": paths["commits"]}
    return {"setup": setup, "variants": variants}
