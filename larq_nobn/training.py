"""Training: the Python API behind `larq-nobn train` and `larq-nobn evaluate`.

The command line is a thin layer on this module; everything it does can be done from
Python:

```python
import larq_nobn
from larq_nobn.training import TrainConfig, train

metrics = train(TrainConfig(model="binarynet", norm="abn", epochs=3, output="runs/abn"))
print(metrics["test_accuracy"])
```

A run writes into its output directory:

- `config.json`: the `TrainConfig` (written first; `--resume` reads it),
- `log.csv`: one row per epoch (train and validation loss/accuracy, `lr`,
  `epoch_seconds`); resuming appends to it,
- `tensorboard/`: TensorBoard logs,
- `checkpoints/last.keras` (every epoch) and `checkpoints/best.keras` (best
  `val_accuracy`): complete Keras models with their optimizer state; the epoch, the
  `TrainConfig` and the seed are stored inside the same zip file (`training_state.json`)
  so that model, optimizer and epoch can never disagree. Each is written to a temporary
  file in the same directory and moved into place with `os.replace`, so a crash never
  leaves a half-written checkpoint behind,
- `model.keras`: the final model (the student when distilling),
- `metrics.json`: `test_accuracy`, `test_loss`, `epochs`, `seed`, `train_seconds`, the
  parameter counts, the configuration, ...,
- `curves.png`: loss and accuracy per epoch, train and validation.

`TrainConfig(seeds=[0, 1, 2])` trains one model per seed in `seed_K/` and writes
`summary.json` with the mean and standard deviation of the test accuracy (the
protocol of the ABN paper). `TrainConfig(two_step=True)` runs the two-step schedule of
ReActNet and "BNN - BN = ?" in `step1/` (binary activations, real-valued weights) and
`step2/` (binary weights initialised from step 1).

SIGINT (Ctrl-C) or SIGTERM during training lets the current batch finish, writes
`checkpoints/last.keras` and raises `TrainingInterrupted` (the command line exits with
130 or 143); `train(..., resume=True)` continues with the same weights, optimizer state
and epoch counter. An epoch interrupted in the middle is restarted from its beginning on
resume, with the weights reached when it was interrupted (its batches seen before the
interruption are seen once more; with a `linear`/`cosine` schedule the last of them run
at learning rate 0).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import glob
import importlib
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from larq_nobn._utils import leaf_layers

__all__ = [
    "MODELS",
    "NORMS",
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULES",
    "STRATEGIES",
    "AtomicCheckpoint",
    "Data",
    "Distiller",
    "EpochTimer",
    "GracefulInterrupt",
    "Recipe",
    "TrainConfig",
    "TrainingInterrupted",
    "build_model",
    "clone_with_real_weights",
    "config_from_recipe",
    "copy_weights_by_name",
    "distillation_loss",
    "evaluate_model",
    "load_data",
    "read_checkpoint_state",
    "resume_config",
    "save_checkpoint",
    "summarize_seeds",
    "train",
]

MODELS = ("binarynet", "resnet18", "reactnet_a")
NORMS = ("bn", "abn", "bf", "none")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear", "cosine")
STRATEGIES = ("default", "mirrored", "multi_worker")
RESNET18_VARIANTS = ("reactnet", "abn_paper")
WEIGHTS = ("binary", "real")

# --------------------------------------------------------------------------------------
# Defaults of `larq-nobn train` (and of `TrainConfig()`): the one place to change them.
# A small BinaryNet (x0.25: 651 k parameters, 646 k binary) on Fashion-MNIST, offline
# on a 2-core CPU: measured here (TF 2.21, 2 cores) 88.7 % test accuracy after
# 3 epochs of 160-180 s (84.1 %, 87.6 % after epochs 1 and 2). With the crop + flip
# augmentation it reached only 78.8 % after epoch 1: a short budget learns faster from
# the plain images, so augmentation is off by default and on in every paper recipe.
# --------------------------------------------------------------------------------------
DEFAULT_MODEL = "binarynet"
DEFAULT_NORM = "bn"
DEFAULT_DATASET = "fashion_mnist"
DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 128
DEFAULT_LEARNING_RATE = 1e-3
#: Training augmentation: `False` trains on the plain images; `None` is the data
#: pipeline's own choice (random crop with padding + flip, Fashion-MNIST included).
DEFAULT_AUGMENT = False
DEFAULT_OUTPUT = os.path.join("runs", "default")
#: Width of BinaryNet when `width_multiplier` is not given (the zoo's own default, 3,
#: is the ABN paper's size: `--recipe abn_paper` selects it).
DEFAULT_BINARYNET_WIDTH = 0.25
#: AGC clip factor for `bf` models when neither the config nor the zoo gives one
#: (REFERENCE.md 1.1: 0.02 in the ImageNet scripts of "BNN - BN = ?").
FALLBACK_AGC_CLIP_FACTOR = 0.02
#: Variables that the coupled L2 weight decay applies to (regex searched in variable
#: names): conv/dense kernels, ScaledWS gains and the learnable shifts (RSign
#: thresholds, RPReLU shifts), as in step 1 of "BNN - BN = ?" (REFERENCE.md 1.1).
DEFAULT_WEIGHT_DECAY_PATTERN = r"kernel|gain|threshold|shift"

CHECKPOINT_STATE_NAME = "training_state.json"
_CHECKPOINT_FORMAT = 1


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )


def _known_datasets():
    """The dataset names of `larq_nobn.data`, or `None` while that module is absent."""
    try:
        data = importlib.import_module("larq_nobn.data")
    except ModuleNotFoundError as error:
        if error.name == "larq_nobn.data":
            return None
        raise
    return tuple(data.DATASETS)


# ======================================================================================
# Configuration
# ======================================================================================
@dataclass
class TrainConfig:
    """Everything that defines a training run; serializable to JSON.

    # Arguments
        model: One of `MODELS` (`binarynet`, `resnet18`, `reactnet_a`).
        norm: One of `NORMS` (`bn`, `abn`, `bf`, `none`).
        dataset: A dataset name of `larq_nobn.data` (e.g. `fashion_mnist`, `cifar10`).
        epochs: Number of epochs in total (per step when `two_step`).
        batch_size: Global batch size (split over the replicas of a strategy).
        seed: Seed of Python, NumPy and TensorFlow and of the data order.
        seeds: If given, one run per seed in `output/seed_K/` and a `summary.json`.
        output: Output directory.
        width_multiplier: BinaryNet's width (`None`: `DEFAULT_BINARYNET_WIDTH`). Only
            for `binarynet`.
        variant: ResNet-18 variant, one of `RESNET18_VARIANTS` (`None`: the zoo's
            default). Only for `resnet18`.
        optimizer: One of `OPTIMIZERS`; `sgd` uses momentum 0.9.
        learning_rate: Initial learning rate.
        schedule: `constant`, `linear` (decays linearly to 0 over all training steps)
            or `cosine` (cosine decay to 0).
        weight_decay: Coupled L2 weight decay `wd`: `wd / 2 * ||w||^2` is added to the
            loss for every trainable variable whose name matches
            `weight_decay_pattern`, i.e. `wd * w` is added to its gradient, like
            PyTorch's `Adam(weight_decay=wd)` in the reference code. Unlike there, the
            decay term passes through AGC's clipping (it is part of the gradient AGC
            sees); at the papers' 1e-5 this makes no practical difference.
        weight_decay_pattern: Regex searched in variable names.
        agc_clip_factor: Adaptive gradient clipping. `None`: on for `norm="bf"` with
            the zoo's recommended clip factor, off otherwise; `0` or `"off"`: off; a
            positive number: on with that factor. The classifier head is excluded.
        validation_split: Fraction of the training split held out for validation;
            `0` validates on the test split every epoch (what both papers' reference
            code reports).
        augment: Augment the training images (default `False`; `True` or `None`: the
            data pipeline's augmentation for the dataset, see `larq_nobn.data.load`;
            every recipe turns it on).
        teacher: Knowledge distillation from a teacher: the path of a saved Keras model,
            or `keras.applications.NAME` (e.g. `keras.applications.ResNet50`, ImageNet
            weights, needs internet the first time). The teacher gets the same input
            tensors as the student.
        distill_temperature: Softmax temperature of the distillation loss.
        distill_alpha: Weight of the distillation loss; `1 - distill_alpha` weighs the
            cross-entropy with the labels.
        two_step: The two-step schedule of ReActNet / "BNN - BN = ?": `epochs` epochs
            with binary activations and real-valued weights (with `weight_decay`), then
            `epochs` epochs with binary weights initialised from step 1 (no decay).
        weights: `binary` (the model as built) or `real` (every kernel quantizer
            removed, see `clone_with_real_weights`).
        init_weights: A saved Keras model whose weights initialise this one, matched by
            layer name (see `copy_weights_by_name`).
        recipe: Name of the recipe this config was built from (informational).
        strategy: `default`, `mirrored` (all local GPUs, or every logical CPU device
            when there is no GPU) or `multi_worker` (`TF_CONFIG`).
        jit_compile: Compile the training step with XLA (`model.compile(jit_compile=
            True)`): it fuses the many small element-wise ops of a BNN (signs, clips,
            normalizations); on a 2-core CPU it made BinaryNet x0.25 about 10 %
            faster, at the price of a compile at the start. Training steps that run
            eagerly ignore it.
        data_dir: Directory of the datasets (tensorflow-datasets `data_dir`, the
            Fashion-MNIST IDX files or the `tiny-imagenet-200` folder).
        max_train_samples: Train on N (shuffled) samples per epoch, rounded up to whole
            batches (smoke tests).
        max_test_samples: Evaluate on the first N test (and validation) samples
            (smoke tests).

    # Raises
        ValueError: Any field out of range or an unknown name; the message names the
            bad value and the accepted ones.
    """

    model: str = DEFAULT_MODEL
    norm: str = DEFAULT_NORM
    dataset: str = DEFAULT_DATASET
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    seeds: list[int] | None = None
    output: str = DEFAULT_OUTPUT
    width_multiplier: float | None = None
    variant: str | None = None
    optimizer: str = "adam"
    learning_rate: float = DEFAULT_LEARNING_RATE
    schedule: str = "constant"
    weight_decay: float = 0.0
    weight_decay_pattern: str = DEFAULT_WEIGHT_DECAY_PATTERN
    agc_clip_factor: float | str | None = None
    validation_split: float = 0.0
    augment: bool | None = DEFAULT_AUGMENT
    teacher: str | None = None
    distill_temperature: float = 1.0
    distill_alpha: float = 1.0
    two_step: bool = False
    weights: str = "binary"
    init_weights: str | None = None
    recipe: str | None = None
    strategy: str = "default"
    jit_compile: bool = False
    data_dir: str | None = None
    max_train_samples: int | None = None
    max_test_samples: int | None = None

    def __post_init__(self):
        self.validate()

    # ---------------------------------------------------------------------------------
    def validate(self):
        """Normalizes and checks every field; see the class docstring.

        # Raises
            ValueError: A field is out of range or an unknown name.
        """

        def choice(name, accepted):
            value = getattr(self, name)
            if value not in accepted:
                raise ValueError(
                    f"Unknown {name} {value!r}; expected one of {', '.join(accepted)}."
                )

        choice("model", MODELS)
        choice("norm", NORMS)
        choice("optimizer", OPTIMIZERS)
        choice("schedule", SCHEDULES)
        choice("strategy", STRATEGIES)
        choice("weights", WEIGHTS)
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"`dataset` must be a dataset name, got {self.dataset!r}.")
        datasets = _known_datasets()
        if datasets is not None and self.dataset not in datasets:
            raise ValueError(
                f"Unknown dataset {self.dataset!r}; expected one of "
                f"{', '.join(datasets)}."
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0, got {self.seed!r}.")
        if self.seeds is not None:
            seeds = list(self.seeds)
            if not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
                raise ValueError(
                    "`seeds` must be a non-empty list of integers >= 0, got "
                    f"{self.seeds!r}."
                )
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"`seeds` contains duplicates: {self.seeds!r}.")
            self.seeds = [int(s) for s in seeds]
        if not isinstance(self.output, str) or not self.output:
            raise ValueError(f"`output` must be a directory path, got {self.output!r}.")
        if self.width_multiplier is not None:
            if self.model != "binarynet":
                raise ValueError(
                    f"`width_multiplier` applies to model 'binarynet' only, not to "
                    f"{self.model!r}."
                )
            if not _is_number(self.width_multiplier) or not self.width_multiplier > 0:
                raise ValueError(
                    f"`width_multiplier` must be > 0, got {self.width_multiplier!r}."
                )
            self.width_multiplier = float(self.width_multiplier)
        if self.variant is not None:
            if self.model != "resnet18":
                raise ValueError(
                    "`variant` applies to model 'resnet18' only, not to "
                    f"{self.model!r}."
                )
            choice("variant", RESNET18_VARIANTS)
        for name in ("learning_rate", "distill_temperature"):
            value = getattr(self, name)
            if not _is_number(value) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"`{name}` must be a number > 0, got {value!r}.")
            setattr(self, name, float(value))
        if not _is_number(self.weight_decay) or not self.weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {self.weight_decay!r}.")
        self.weight_decay = float(self.weight_decay)
        try:
            re.compile(self.weight_decay_pattern)
        except (re.error, TypeError) as error:
            raise ValueError(
                f"`weight_decay_pattern` {self.weight_decay_pattern!r} is not a valid "
                f"regular expression: {error}"
            ) from None
        self.agc_clip_factor = _normalize_clip_factor(self.agc_clip_factor)
        if not _is_number(self.validation_split) or not 0 <= self.validation_split < 1:
            raise ValueError(
                f"`validation_split` must be in [0, 1), got {self.validation_split!r}."
            )
        self.validation_split = float(self.validation_split)
        if self.augment is not None and not isinstance(self.augment, bool):
            raise ValueError(
                f"`augment` must be true, false or null, got {self.augment!r}."
            )
        if not _is_number(self.distill_alpha) or not 0 <= self.distill_alpha <= 1:
            raise ValueError(
                f"`distill_alpha` must be in [0, 1], got {self.distill_alpha!r}."
            )
        self.distill_alpha = float(self.distill_alpha)
        if not isinstance(self.jit_compile, bool):
            raise ValueError(
                f"`jit_compile` must be true or false, got {self.jit_compile!r}."
            )
        if not isinstance(self.two_step, bool):
            raise ValueError(
                f"`two_step` must be true or false, got {self.two_step!r}."
            )
        if self.two_step and (self.weights != "binary" or self.init_weights):
            raise ValueError(
                "`two_step` chooses the weights of both steps itself: leave `weights` "
                "at 'binary' and `init_weights` empty."
            )
        for name in ("max_train_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(
                f"Unknown recipe {self.recipe!r}; expected one of {', '.join(RECIPES)}."
            )

    # ---------------------------------------------------------------------------------
    @property
    def resolved_width_multiplier(self) -> float | None:
        """BinaryNet's width (`DEFAULT_BINARYNET_WIDTH` if unset); `None` otherwise."""
        if self.model != "binarynet":
            return None
        if self.width_multiplier is None:
            return DEFAULT_BINARYNET_WIDTH
        return self.width_multiplier

    @property
    def resolved_agc_clip_factor(self) -> float:
        """The AGC clip factor this run uses; `0.0` means AGC is off."""
        if self.agc_clip_factor is None:
            if self.norm != "bf":
                return 0.0
            return zoo_agc_settings(self.model)[0]
        return self.agc_clip_factor

    def to_dict(self) -> dict:
        """The fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    def to_json(self, **kwargs) -> str:
        """The fields as a JSON string (`kwargs` go to `json.dumps`)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Inverse of `to_dict`.

        # Raises
            ValueError: Unknown keys or invalid values.
        """
        if not isinstance(values, dict):
            raise ValueError(
                f"A TrainConfig needs a dict, got {type(values).__name__}."
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"Unknown TrainConfig field(s) {', '.join(unknown)}; expected some of "
                f"{', '.join(sorted(names))}."
            )
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Inverse of `to_json`.

        # Raises
            ValueError: Not JSON, unknown keys or invalid values.
        """
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"Not a JSON TrainConfig: {error}") from None
        return cls.from_dict(values)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


def _normalize_clip_factor(value):
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("off", "none", "no", "false"):
            return 0.0
        if text in ("auto", "default"):
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"`agc_clip_factor` must be a number >= 0, 'off' or 'auto', got "
                f"{value!r}."
            ) from None
    if not _is_number(value) or not value >= 0 or not math.isfinite(value):
        raise ValueError(
            f"`agc_clip_factor` must be a number >= 0, 'off' or 'auto', got {value!r}."
        )
    return float(value)


# ======================================================================================
# Recipes of the papers
# ======================================================================================
@dataclass(frozen=True)
class Recipe:
    """The training settings of a paper, applied on top of the `TrainConfig` defaults.

    # Arguments
        name: The name `--recipe` takes.
        description: What it reproduces, and what it cannot (shown by
            `larq-nobn recipes`).
        overrides: `TrainConfig` fields it sets.
        models: Models the recipe is defined for; the first is its default.
        model_overrides: Extra fields per model (e.g. BinaryNet's width).
        references: Where the settings come from.
    """

    name: str
    description: str
    overrides: dict = field(default_factory=dict)
    models: tuple = ()
    model_overrides: dict = field(default_factory=dict)
    references: tuple = ()

    def config(self, **explicit) -> TrainConfig:
        """The recipe's `TrainConfig`; `explicit` fields win over the recipe's.

        # Raises
            ValueError: A model the recipe is not defined for, or invalid fields.
        """
        values = dict(self.overrides)
        model = explicit.get("model", values.get("model", DEFAULT_MODEL))
        if self.models and model not in self.models:
            raise ValueError(
                f"Recipe {self.name!r} is defined for model(s) "
                f"{', '.join(self.models)}, "
                f"not {model!r}."
            )
        values.update(self.model_overrides.get(model, {}))
        values.update(explicit)
        values["recipe"] = self.name
        return TrainConfig(**values)


RECIPES: dict[str, Recipe] = {
    "abn_paper": Recipe(
        name="abn_paper",
        description=(
            "ABN paper (Gu et al., Entropy 2025): Adam lr 1e-3 constant, batch 256, "
            "200 epochs, random crop (pad 4) + horizontal flip (the data pipeline's "
            "augmentation for 32x32 / 64x64 inputs), ABN. BinaryNet x3 (default) or "
            "--model resnet18 (variant abn_paper), on CIFAR-10 (default), CIFAR-100 "
            "(--dataset cifar100) or TinyImageNet (--dataset tiny_imagenet --data-dir "
            "...). Report the mean +- std over seeds with --seeds 0 1 2 3 4."
        ),
        overrides=dict(
            model="binarynet",
            norm="abn",
            dataset="cifar10",
            epochs=200,
            batch_size=256,
            optimizer="adam",
            learning_rate=1e-3,
            schedule="constant",
            augment=True,
        ),
        models=("binarynet", "resnet18"),
        model_overrides={
            "binarynet": dict(width_multiplier=3.0),
            "resnet18": dict(variant="abn_paper"),
        },
        references=(
            "Gu, Zhang, Jia, Wu: Attention-based batch normalization for binary neural "
            "networks, Entropy 27(6) 645, 2025; code gushan/ABN",
        ),
    ),
    "bnn_nobn_reactnet_a": Recipe(
        name="bnn_nobn_reactnet_a",
        description=(
            "BN-free ReActNet-A on ImageNet ('BNN - BN = ?', Chen et al. 2021): two "
            "steps of 256 epochs (step 1: binary activations, real-valued weights, L2 "
            "1e-5 on kernels, gains and shifts; step 2: binary weights initialised "
            "from step 1, no decay), batch 256, Adam lr 5e-4 decaying linearly to 0, "
            "AGC clip factor 0.02 with the classifier excluded, knowledge distillation "
            "(soft cross-entropy at T=1) from a real-valued teacher: pass --teacher "
            "(e.g. keras.applications.ResNet50 or a saved model; the papers used "
            "NFNet-F0 / ResNet-34). Without --teacher the labels are used. Needs "
            "imagenet2012 prepared for tensorflow-datasets (--data-dir)."
        ),
        overrides=dict(
            model="reactnet_a",
            norm="bf",
            dataset="imagenet2012",
            epochs=256,
            batch_size=256,
            optimizer="adam",
            learning_rate=5e-4,
            schedule="linear",
            agc_clip_factor=0.02,
            weight_decay=1e-5,
            two_step=True,
            augment=True,
            distill_temperature=1.0,
            distill_alpha=1.0,
        ),
        models=("reactnet_a",),
        references=(
            "Chen et al.: 'BNN - BN = ?': Training Binary Neural Networks without "
            "Batch Normalization, CVPR Workshops 2021, arXiv 2104.08215; code "
            "VITA-Group/BNN_NoBN",
            "Liu et al.: ReActNet, ECCV 2020, arXiv 2003.03488",
        ),
    ),
    "bnn_nobn_reactnet18_cifar": Recipe(
        name="bnn_nobn_reactnet18_cifar",
        description=(
            "BN-free ReActNet-18 on CIFAR-10 (default) or CIFAR-100 ('BNN - BN = ?'; "
            "reported 92.08 % / 68.34 %): ResNet-18 variant reactnet with the CIFAR "
            "stem, the ImageNet recipe's optimisation carried over (two steps of 256 "
            "epochs, batch 256, Adam 5e-4 linear decay to 0, AGC 0.02 head excluded, "
            "L2 1e-5 in step 1), crop + flip. The paper's exact CIFAR schedule is not "
            "documented (unverified); trains on the labels unless --teacher is given."
        ),
        overrides=dict(
            model="resnet18",
            variant="reactnet",
            norm="bf",
            dataset="cifar10",
            epochs=256,
            batch_size=256,
            optimizer="adam",
            learning_rate=5e-4,
            schedule="linear",
            agc_clip_factor=0.02,
            weight_decay=1e-5,
            two_step=True,
            augment=True,
        ),
        models=("resnet18",),
        references=(
            "Chen et al.: 'BNN - BN = ?', CVPR Workshops 2021, arXiv 2104.08215",
        ),
    ),
}


def config_from_recipe(name: str, **explicit) -> TrainConfig:
    """The `TrainConfig` of recipe `name` with `explicit` fields overriding it.

    # Raises
        ValueError: Unknown recipe name, or invalid fields.
    """
    if name not in RECIPES:
        raise ValueError(
            f"Unknown recipe {name!r}; expected one of {', '.join(RECIPES)}."
        )
    return RECIPES[name].config(**explicit)


# ======================================================================================
# Models
# ======================================================================================
def _zoo_functions():
    from larq_nobn import zoo

    return {
        "binarynet": zoo.BinaryNet,
        "resnet18": zoo.ResNet18,
        "reactnet_a": zoo.ReActNetA,
    }


def zoo_agc_settings(model: str) -> tuple[float, str | None]:
    """The zoo's recommended AGC clip factor and head-exclusion regex for a `bf` model.

    Reads `AGC_CLIP_FACTOR` and `AGC_EXCLUDE` of the module that defines the zoo
    function; falls back to `FALLBACK_AGC_CLIP_FACTOR` and `None` (then
    `larq_nobn.optimizers.exclude_head` finds the head).
    """
    if model not in MODELS:
        raise ValueError(
            f"Unknown model {model!r}; expected one of {', '.join(MODELS)}."
        )
    try:
        function = _zoo_functions()[model]
    except ImportError:
        return FALLBACK_AGC_CLIP_FACTOR, None
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    clip = getattr(module, "AGC_CLIP_FACTOR", FALLBACK_AGC_CLIP_FACTOR)
    exclude = getattr(module, "AGC_EXCLUDE", None)
    return float(clip), exclude


def build_model(config: TrainConfig, input_shape, num_classes: int) -> tf.keras.Model:
    """Builds the zoo model a config describes (binary weights; see `config.weights`).

    # Arguments
        config: The run's configuration.
        input_shape: Shape of one image, e.g. `(28, 28, 1)`.
        num_classes: Number of classes.

    # Returns
        A functional `tf.keras.Model` from `larq_nobn.zoo`.
    """
    function = _zoo_functions()[config.model]
    kwargs = dict(
        norm=config.norm, input_shape=tuple(input_shape), num_classes=num_classes
    )
    if config.model == "binarynet":
        kwargs["width_multiplier"] = config.resolved_width_multiplier
    if config.model == "resnet18" and config.variant is not None:
        kwargs["variant"] = config.variant
    return function(**kwargs)


_QUANTIZER_KEYS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


def clone_with_real_weights(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of `model` with real-valued weights and unchanged (binary) activations.

    Every layer whose config has a `kernel_quantizer` (or larq's `depthwise_quantizer` /
    `pointwise_quantizer`) is recreated with that quantizer set to `None`; input
    quantizers, ScaledWS standardization, constraints and every other setting stay.
    Nested functional models are cloned recursively. Layer names are kept, so
    `copy_weights_by_name` can move weights between the two models. This is step 1 of
    the two-step schedule of ReActNet / "BNN - BN = ?" (binary activations, real
    weights); step 2 builds the binary model and copies step 1's weights into it.
    The clone has freshly initialised weights.

    # Arguments
        model: A functional or sequential Keras model.

    # Returns
        The new model.
    """

    def clone(layer):
        if isinstance(layer, tf.keras.Model) and not isinstance(
            layer, tf.keras.Sequential
        ):
            if getattr(layer, "_is_graph_network", False):
                return tf.keras.models.clone_model(layer, clone_function=clone)
        config = layer.get_config()
        for key in _QUANTIZER_KEYS:
            if config.get(key) is not None:
                config[key] = None
        return layer.__class__.from_config(config)

    return tf.keras.models.clone_model(model, clone_function=clone)


def copy_weights_by_name(source: tf.keras.Model, target: tf.keras.Model, strict=True):
    """Copies every layer's weights from `source` into the layer of the same name in
    `target` (e.g. from a `clone_with_real_weights` model back into the binary one).

    # Arguments
        source: The model to read.
        target: The model to write.
        strict: Raise if a `target` layer with weights has no counterpart in `source`.

    # Returns
        The number of layers copied.

    # Raises
        ValueError: A missing layer (with `strict`), or layers whose weights differ in
            number or shape.
    """
    layers = {layer.name: layer for layer in leaf_layers(source)}
    copied = 0
    for layer in leaf_layers(target):
        if not layer.weights:
            continue
        if layer.name not in layers:
            if strict:
                raise ValueError(
                    f"Layer {layer.name!r} of {target.name!r} has no layer of the same "
                    f"name in {source.name!r}."
                )
            continue
        values = layers[layer.name].get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            raise ValueError(
                f"Layer {layer.name!r}: source weights of shapes "
                f"{[v.shape for v in values]} do not fit target shapes {shapes}."
            )
        layer.set_weights(values)
        copied += 1
    return copied


def outputs_probabilities(model: tf.keras.Model) -> bool:
    """Whether a classifier ends with a softmax (probabilities) instead of logits."""
    layer = model.layers[-1] if model.layers else None
    while isinstance(layer, tf.keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if isinstance(layer, tf.keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", activation)
    return name == "softmax"


def _load_teacher(spec: str) -> tf.keras.Model:
    prefix = "keras.applications."
    if spec.startswith(prefix):
        name = spec[len(prefix) :]
        function = getattr(tf.keras.applications, name, None)
        if function is None or not callable(function):
            raise ValueError(
                f"Unknown teacher {spec!r}: no tf.keras.applications.{name}."
            )
        return function(weights="imagenet")
    if not os.path.exists(spec):
        raise FileNotFoundError(f"Teacher model {spec!r} does not exist.")
    return tf.keras.models.load_model(spec, compile=False)


# ======================================================================================
# Distillation
# ======================================================================================
def distillation_loss(
    teacher_logits, student_logits, temperature=1.0, reduction="mean"
):
    """Soft cross-entropy of the student against the teacher at a temperature.

    `T^2 * -sum_c softmax(t / T)_c * log_softmax(s / T)_c` per sample (Hinton et al.;
    the `T^2` keeps gradient magnitudes comparable across temperatures, it is 1 at the
    papers' `T = 1`). It differs from the KL divergence only by the teacher's entropy,
    a constant for the student, so the gradients are the same.

    # Arguments
        teacher_logits: `(batch, classes)` logits of the teacher.
        student_logits: `(batch, classes)` logits of the student.
        temperature: Softmax temperature `T > 0`.
        reduction: `"mean"` over the batch, or `"none"` for the per-sample values.

    # Returns
        A scalar, or a `(batch,)` tensor with `reduction="none"`.

    # Raises
        ValueError: `temperature <= 0` or an unknown reduction.
    """
    if not _is_number(temperature) or not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    if reduction not in ("mean", "none"):
        raise ValueError(f"`reduction` must be 'mean' or 'none', got {reduction!r}.")
    student_logits = tf.convert_to_tensor(student_logits)
    teacher_logits = tf.cast(tf.convert_to_tensor(teacher_logits), student_logits.dtype)
    teacher = tf.nn.softmax(tf.stop_gradient(teacher_logits) / temperature, axis=-1)
    log_student = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    per_sample = -tf.reduce_sum(teacher * log_student, axis=-1) * temperature**2
    return tf.reduce_mean(per_sample) if reduction == "mean" else per_sample


def _as_logits(outputs, from_logits):
    if from_logits:
        return outputs
    return tf.math.log(tf.clip_by_value(outputs, 1e-12, 1.0))


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class Distiller(tf.keras.Model):
    """Trains a student to match a frozen teacher (knowledge distillation).

    Loss: `alpha * distillation_loss(teacher, student, temperature) + (1 - alpha) *
    cross_entropy(labels, student)` plus the student's own losses (regularizers, the
    coupled weight decay). Evaluation and `predict` use the student alone; the reported
    validation/test `loss` is the student's cross-entropy with the labels. Compile it
    without a loss: `distiller.compile(optimizer, metrics=["accuracy"])`.

    # Arguments
        student: The model being trained.
        teacher: A trained classifier over the same classes; it is frozen
            (`trainable = False`) and run in inference mode.
        temperature: Softmax temperature of the distillation loss.
        alpha: Weight of the distillation loss, in `[0, 1]`.
        student_from_logits: Whether the student outputs logits (else probabilities).
        teacher_from_logits: Whether the teacher outputs logits (else probabilities,
            as `tf.keras.applications` models do by default).

    # References
        - [Distilling the Knowledge in a Neural Network](
          https://arxiv.org/abs/1503.02531)
        - [ReActNet](https://arxiv.org/abs/2003.03488) (distribution loss, T = 1)
    """

    def __init__(
        self,
        student,
        teacher,
        temperature=1.0,
        alpha=1.0,
        student_from_logits=True,
        teacher_from_logits=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(student, tf.keras.Model) or not isinstance(
            teacher, tf.keras.Model
        ):
            raise TypeError(
                f"`student` and `teacher` must be Keras models, got "
                f"{type(student).__name__} and {type(teacher).__name__}."
            )
        if not _is_number(temperature) or not temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        if not _is_number(alpha) or not 0 <= alpha <= 1:
            raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.student_from_logits = bool(student_from_logits)
        self.teacher_from_logits = bool(teacher_from_logits)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.distillation_tracker = tf.keras.metrics.Mean(name="distillation_loss")

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _hard_loss(self, y, y_pred):
        per_sample = tf.keras.losses.sparse_categorical_crossentropy(
            y, y_pred, from_logits=self.student_from_logits
        )
        return tf.nn.compute_average_loss(per_sample)

    def train_step(self, data):
        x, y = data[0], data[1]
        teacher_logits = _as_logits(
            self.teacher(x, training=False), self.teacher_from_logits
        )
        variables = self.student.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.student(x, training=True)
            student_logits = _as_logits(y_pred, self.student_from_logits)
            soft = tf.nn.compute_average_loss(
                distillation_loss(
                    teacher_logits, student_logits, self.temperature, reduction="none"
                )
            )
            loss = self.alpha * soft
            if self.alpha < 1:
                loss += (1 - self.alpha) * self._hard_loss(y, y_pred)
            if self.student.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        self.optimizer.minimize(loss, variables, tape=tape)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(loss * replicas)
        self.distillation_tracker.update_state(soft * replicas)
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data[0], data[1]
        y_pred = self.student(x, training=False)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(self._hard_loss(y, y_pred) * replicas)
        self.compiled_metrics.update_state(y, y_pred)
        return {
            m.name: m.result() for m in self.metrics if m.name != "distillation_loss"
        }

    def get_config(self):
        return {
            "name": self.name,
            "student": tf.keras.saving.serialize_keras_object(self.student),
            "teacher": tf.keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "student_from_logits": self.student_from_logits,
            "teacher_from_logits": self.teacher_from_logits,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = tf.keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


# ======================================================================================
# Checkpoints and callbacks
# ======================================================================================
def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_file(directory, prefix, suffix):
    """A new empty file in `directory` with the permissions of an ordinary new file
    (`mkstemp` creates 0600 files, which `os.replace` would carry over)."""
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    return path


def save_checkpoint(model: tf.keras.Model, path: str, state: dict | None = None):
    """Saves `model` (with its optimizer) and `state` into one `.keras` file atomically.

    The model is written to a temporary file in the destination directory, `state`
    is added to the same zip archive as `training_state.json`, the file is flushed to
    disk and moved over `path` with `os.replace`. A crash at any point leaves either the
    previous checkpoint or the new one, never a partial file.

    # Arguments
        model: The model to save.
        path: Destination, ending in `.keras`.
        state: JSON-serializable training state (epoch, config, seed, ...).
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"Checkpoint path must end in .keras, got {path!r}.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = _temporary_file(directory, f".{os.path.basename(path)}.", ".tmp.keras")
    try:
        model.save(temporary)
        if state is not None:
            with zipfile.ZipFile(temporary, "a") as archive:
                archive.writestr(CHECKPOINT_STATE_NAME, json.dumps(state, indent=2))
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        _fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _copy_atomic(source, destination):
    """Copies a file through a temporary file in the destination directory."""
    directory = os.path.dirname(os.path.abspath(destination))
    temporary = _temporary_file(directory, ".copy.", ".tmp")
    try:
        shutil.copyfile(source, temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def read_checkpoint_state(path: str) -> dict:
    """The training state stored in a checkpoint by `save_checkpoint`.

    # Raises
        FileNotFoundError: No such file.
        ValueError: Not a checkpoint written by `save_checkpoint`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint {path!r} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(CHECKPOINT_STATE_NAME))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path!r} is not a larq-nobn training checkpoint ({error})."
        ) from None


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT / SIGTERM after writing a checkpoint.

    # Arguments
        signum: The signal received.
        checkpoint: The checkpoint written.
        epochs_completed: Complete epochs in the checkpoint.
        output: The run's output directory.
    """

    def __init__(self, signum, checkpoint, epochs_completed, output, resume_hint=None):
        self.signum = int(signum)
        self.checkpoint = checkpoint
        self.epochs_completed = epochs_completed
        self.output = output
        self.resume_hint = resume_hint or f"larq-nobn train --output {output} --resume"
        name = signal.Signals(self.signum).name
        super().__init__(
            f"Interrupted by {name}: checkpoint with {epochs_completed} complete "
            f"epoch(s) saved to {checkpoint}. Resume with: {self.resume_hint}"
        )

    @property
    def exit_code(self) -> int:
        """`128 + signum`: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class EpochTimer(tf.keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch, validation included) and `lr` (the
    learning rate at the end of the epoch) to the epoch logs. Put it before the loggers.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["epoch_seconds"] = time.perf_counter() - self._start
        lr = _current_learning_rate(self.model.optimizer)
        if lr is not None:
            logs["lr"] = lr


def _current_learning_rate(optimizer):
    inner = optimizer
    for _ in range(4):
        if hasattr(inner, "learning_rate") or hasattr(inner, "lr"):
            break
        inner = getattr(inner, "inner_optimizer", getattr(inner, "optimizer", None))
        if inner is None:
            return None
    try:
        lr = getattr(inner, "learning_rate", None)
        if lr is None:
            lr = inner.lr
        if isinstance(lr, tf.keras.optimizers.schedules.LearningRateSchedule):
            lr = lr(inner.iterations)
        return float(tf.keras.backend.get_value(lr))
    except Exception:  # reporting only: never fail training over it
        return None


class AtomicCheckpoint(tf.keras.callbacks.Callback):
    """Writes `last.keras` after every epoch and `best.keras` when the monitored value
    improves, each atomically through `save_checkpoint`.

    The stored state has `epoch` (complete epochs), `optimizer_iterations`,
    `interrupted`, `config`, `seed`, `monitor` and `best`.

    # Arguments
        directory: Where the checkpoints go.
        state: Extra JSON-serializable state stored with every checkpoint (the config
            and the seed).
        monitor: Log key for `best.keras`; `None` disables it.
        mode: `"max"` or `"min"`.
        best: The best value so far (when resuming).
        write: `False` on non-chief workers of a multi-worker run (they still save, to
            a temporary directory, as Keras requires).
    """

    def __init__(
        self, directory, state=None, monitor="val_accuracy", mode="max", best=None
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min', got {mode!r}.")
        self.directory = os.fspath(directory)
        self.state = dict(state or {})
        self.monitor = monitor
        self.mode = mode
        self.best = best
        self.epoch = 0

    @property
    def last_path(self):
        return os.path.join(self.directory, "last.keras")

    @property
    def best_path(self):
        return os.path.join(self.directory, "best.keras")

    def _improved(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def save(self, epochs_completed, interrupted=False):
        """Writes `last.keras` now (also used by `GracefulInterrupt` mid-epoch)."""
        state = dict(
            self.state,
            format=_CHECKPOINT_FORMAT,
            epoch=int(epochs_completed),
            interrupted=bool(interrupted),
            optimizer_iterations=int(self.model.optimizer.iterations.numpy()),
            monitor=self.monitor,
            best=self.best,
            saved_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        save_checkpoint(self.model, self.last_path, state)
        return state

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor) if self.monitor else None
        improved = value is not None and self._improved(value)
        if improved:
            self.best = float(value)
        self.save(epoch + 1)
        if improved:
            _copy_atomic(self.last_path, self.best_path)


class GracefulInterrupt(tf.keras.callbacks.Callback):
    """Turns SIGINT / SIGTERM into a clean stop with a checkpoint.

    While installed (`with callback.installed(): model.fit(...)`), the first signal only
    sets a flag. After the current training batch the callback writes `last.keras`
    through `checkpoint` (the epoch is recorded as not complete) and raises
    `TrainingInterrupted`; a signal that arrives during validation or at the end of an
    epoch stops right after that epoch's checkpoint. A second signal aborts at once
    (`KeyboardInterrupt`). Put it last in the callback list, after the loggers and the
    checkpoint callback.

    # Arguments
        checkpoint: The run's `AtomicCheckpoint`.
        output: The run's output directory (for the resume message).
        resume_hint: The command that resumes the run.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, checkpoint: AtomicCheckpoint, output: str, resume_hint=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.output = output
        self.resume_hint = resume_hint
        self.signum = None
        self._epoch = 0

    def _handle(self, signum, frame):
        if self.signum is not None:
            for sig in self.SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name} received: stopping after this batch and "
            "saving a checkpoint (send it again to abort without saving).",
            file=sys.stderr,
            flush=True,
        )

    @contextlib.contextmanager
    def installed(self):
        """Installs the signal handlers (main thread only) for the `with` block."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in self.SIGNALS}
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, epochs_completed):
        raise TrainingInterrupted(
            self.signum,
            self.checkpoint.last_path,
            epochs_completed,
            self.output,
            self.resume_hint,
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.signum is not None:
            self.checkpoint.save(self._epoch, interrupted=True)
            self._stop(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.signum is not None:
            self._stop(epoch + 1)


# ======================================================================================
# Data
# ======================================================================================
class Data(NamedTuple):
    """The datasets of a run: batched `tf.data.Dataset`s of `(image, label)`."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    input_shape: tuple
    num_classes: int
    steps_per_epoch: int


def _limit(dataset, count, batch_size):
    """The first `ceil(count / batch_size)` batches. Taking whole batches keeps the
    dataset's cardinality known: with an unknown one, tf-keras counts one optimizer
    iteration too many per epoch (the call that finds the end of the data)."""
    if count is None:
        return dataset
    return dataset.take(math.ceil(count / batch_size))


def _first_samples(dataset, count, batch_size):
    """Exactly the first `count` samples (evaluation data, whose cardinality does not
    matter)."""
    if count is None:
        return dataset
    return dataset.unbatch().take(count).batch(batch_size)


def load_data(config: TrainConfig) -> Data:
    """Loads the datasets of a config through `larq_nobn.data`: the training split
    (shuffled with `config.seed` and augmented), the validation split (the last
    `validation_split` of the training set, or `None`) and the test split.

    `max_train_samples` limits every epoch to that many (shuffled) training samples,
    rounded up to whole batches; `max_test_samples` the test (and validation) split to
    its first samples.

    # Raises
        ValueError: Unknown dataset.
        FileNotFoundError: The data is not available (the message says how to get it).
    """
    from larq_nobn import data

    info = data.info(config.dataset)
    common = dict(
        batch_size=config.batch_size,
        data_dir=config.data_dir,
        validation_split=config.validation_split,
    )
    train_data = data.load(
        config.dataset,
        "train",
        training=True,
        seed=config.seed,
        augment=config.augment,
        **common,
    )
    test_data = data.load(config.dataset, "test", training=False, **common)
    validation = None
    if config.validation_split > 0:
        validation = data.load(config.dataset, "validation", training=False, **common)
    num_train = info.num_examples("train", config.validation_split)
    steps = math.ceil(num_train / config.batch_size)
    if config.max_train_samples is not None:
        train_data = _limit(train_data, config.max_train_samples, config.batch_size)
    cardinality = int(train_data.cardinality())
    if cardinality > 0:
        steps = cardinality
    if config.max_test_samples is not None:
        test_data = _first_samples(
            test_data, config.max_test_samples, config.batch_size
        )
        if validation is not None:
            validation = _first_samples(
                validation, config.max_test_samples, config.batch_size
            )
    return Data(
        train=train_data,
        validation=validation,
        test=test_data,
        input_shape=tuple(info.image_shape),
        num_classes=int(info.num_classes),
        steps_per_epoch=max(1, steps),
    )


# ======================================================================================
# Optimizer, strategy
# ======================================================================================
def make_learning_rate(config: TrainConfig, total_steps: int):
    """The learning rate (schedule) of a config over `total_steps` optimizer steps."""
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "linear":
        return tf.keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, max(1, total_steps), end_learning_rate=0.0, power=1.0
        )
    return tf.keras.optimizers.schedules.CosineDecay(
        config.learning_rate, max(1, total_steps), alpha=0.0
    )


def make_optimizer(
    config: TrainConfig, total_steps: int, model: tf.keras.Model, exclude=None
):
    """Adam or SGD with the config's schedule, wrapped in AGC when it is on.

    # Arguments
        config: The run's configuration.
        total_steps: Optimizer steps of the whole run (for the decaying schedules).
        model: The model trained (its classifier head is excluded from AGC).
        exclude: AGC's exclusion regex; `None`: `larq_nobn.optimizers.exclude_head`.
    """
    learning_rate = make_learning_rate(config, total_steps)
    if config.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(learning_rate)
    else:
        optimizer = tf.keras.optimizers.SGD(learning_rate, momentum=0.9)
    clip_factor = config.resolved_agc_clip_factor
    if clip_factor > 0:
        from larq_nobn.optimizers import AGC, exclude_head

        if exclude is None:
            exclude = exclude_head(model)
        optimizer = AGC(optimizer, clip_factor=clip_factor, exclude=exclude)
    return optimizer


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`default`: the current (default) strategy; `mirrored`: `MirroredStrategy` over
    all local GPUs, or over every logical CPU device when there is no GPU;
    `multi_worker`: `MultiWorkerMirroredStrategy` configured by `TF_CONFIG` (create it
    before TensorFlow runs anything else in the process). Created once per process and
    reused (seeds, two steps)."""
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}."
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name in _STRATEGIES:
        return _STRATEGIES[name]
    if name == "mirrored":
        devices = tf.config.list_logical_devices(
            "GPU"
        ) or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    else:
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable "
                "(cluster spec and this task's type and index)."
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _STRATEGIES[name] = strategy
    return strategy


# One strategy object per kind and process: two MirroredStrategy objects in one process
# reuse collective instance keys and break each other's all-reduces.
_STRATEGIES: dict = {}


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "worker" and task_id == 0 and not has_chief


def _add_weight_decay(model, weight_decay, pattern):
    if weight_decay <= 0:
        return []
    regex = re.compile(pattern)
    variables = [v for v in model.trainable_variables if regex.search(v.name)]
    if not variables:
        return []

    def l2():
        return (
            0.5
            * weight_decay
            * tf.add_n(
                [tf.reduce_sum(tf.square(tf.convert_to_tensor(v))) for v in variables]
            )
        )

    model.add_loss(l2)
    return variables


def _build_optimizer_state(optimizer, variables):
    """Creates the optimizer's slot variables, so a checkpoint can be loaded into it."""
    if hasattr(optimizer, "build"):
        optimizer.build(variables)
    elif hasattr(optimizer, "_create_all_weights"):  # legacy optimizers
        optimizer._create_all_weights(variables)


def parameter_counts(model: tf.keras.Model) -> dict:
    """Total, trainable and binary (`precision == 1`) weight counts."""
    import larq as lq

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    try:
        binary = int(lq.models.ModelProfile(model).weight_count(bitwidth=1))
    except Exception:  # profiling is informational
        binary = None
    return {
        "total": int(model.count_params()),
        "trainable": trainable,
        "binary": binary,
    }


# ======================================================================================
# Output directory helpers
# ======================================================================================
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


_RESULT_FILES = (
    "metrics.json",
    "model.keras",
    "summary.json",
    "checkpoints/last.keras",
)


def _existing_run(output):
    """What in `output` shows a run worth keeping: a checkpoint or results, here or in
    a seed / step sub-run. A run that stopped before its first checkpoint leaves
    nothing worth keeping (its files are replaced by a new run)."""
    found = [
        name for name in _RESULT_FILES if os.path.exists(os.path.join(output, name))
    ]
    for pattern in _RUN_GLOBS:
        for path in sorted(glob.glob(os.path.join(glob.escape(output), pattern))):
            if os.path.isdir(path) and _existing_run(path):
                found.append(os.path.basename(path))
    return found


def _clear_run(output):
    for name in _RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(output, name))
    for name in _RUN_DIRS:
        shutil.rmtree(os.path.join(output, name), ignore_errors=True)
    for pattern in _RUN_GLOBS:
        for path in glob.glob(os.path.join(glob.escape(output), pattern)):
            shutil.rmtree(path, ignore_errors=True)


def prepare_output(output: str, resume=False, overwrite=False):
    """Creates the output directory, checks that it is writable and (unless resuming)
    removes the files of an earlier run from it.

    # Arguments
        output: The directory.
        resume: Keep what is there.
        overwrite: Delete an earlier run's checkpoints and results; without it, such a
            run raises ValueError.

    # Raises
        PermissionError: Not writable.
        NotADirectoryError / FileExistsError: The path is a file.
        ValueError: It holds a run already (without `resume` / `overwrite`).
    """
    if os.path.exists(output) and not os.path.isdir(output):
        raise NotADirectoryError(
            f"Output path {output!r} exists and is not a directory."
        )
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
    existing = _existing_run(output)
    if existing and not overwrite:
        raise ValueError(
            f"Output directory {output!r} already holds a run ({', '.join(existing)}); "
            "pass --resume to continue it, --overwrite to start it again, or choose "
            "another --output."
        )
    _clear_run(output)


def write_atomic(path, write, suffix=".tmp"):
    """Writes a text file atomically: `write(stream)` fills a temporary file in the same
    directory, which then replaces `path`; on any error the temporary file is removed
    and `path` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = _temporary_file(directory, ".tmp-", suffix)
    try:
        with open(temporary, "w", newline="") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _write_json_atomic(path, values):
    def write(stream):
        json.dump(values, stream, indent=2, default=_json_default)
        stream.write("\n")

    write_atomic(path, write, ".json")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


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


def _trim_log(path, epochs):
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
    temporary = path + ".tmp"
    with open(temporary, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(kept)
    os.replace(temporary, path)


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


# ======================================================================================
# Training
# ======================================================================================
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


def _stored_config(output):
    path = os.path.join(output, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as stream:
        return TrainConfig.from_json(stream.read())


def resume_config(output: str, **changes) -> TrainConfig:
    """The config of the run in `output` (its `config.json`), with `changes`.

    Only `RESUMABLE_CHANGES` (more epochs, another strategy or data directory, ...)
    may differ from the stored values.

    # Raises
        FileNotFoundError: `output` holds no run.
        ValueError: A change to a field that a resumed run cannot change.
    """
    stored = _stored_config(output)
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


def _verbosity(verbose):
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
            its metrics).
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
        ValueError: Invalid config, an output directory with a run in it, ...
        FileNotFoundError: Missing data, checkpoint or teacher.
        PermissionError: The output directory is not writable.
        TrainingInterrupted: SIGINT / SIGTERM; a checkpoint was written.
    """
    config.validate()
    kwargs = dict(
        model_fn=model_fn,
        data=data,
        verbose=verbose,
        resume_hint=resume_hint,
        strategy=strategy,
        run_eagerly=run_eagerly,
    )
    if config.seeds is not None:
        return _train_seeds(config, resume=resume, overwrite=overwrite, **kwargs)
    if config.two_step:
        return _train_two_step(config, resume=resume, overwrite=overwrite, **kwargs)
    return _train_single(config, resume=resume, overwrite=overwrite, **kwargs)


def _prepare_run_dir(config, resume, overwrite, auto=False):
    """Returns whether to restore from a checkpoint (or 'done' for a finished run)."""
    output = config.output
    if resume or auto:
        checkpoint = os.path.join(output, "checkpoints", "last.keras")
        if os.path.exists(os.path.join(output, "metrics.json")) and os.path.exists(
            os.path.join(output, "model.keras")
        ):
            done = _read_metrics(output).get("epochs", 0)
            if done >= config.epochs or not os.path.exists(checkpoint):
                return "done"
        if os.path.exists(checkpoint):
            prepare_output(output, resume=True)
            return "restore"
        if resume and not auto and _stored_config(output) is None:
            raise FileNotFoundError(
                f"Nothing to resume in {output!r}: no checkpoints/last.keras and no "
                "config.json of a larq-nobn run."
            )
        prepare_output(output, resume=True)
        _clear_run(output)
        return "fresh"
    prepare_output(output, overwrite=overwrite)
    return "fresh"


def _read_metrics(output):
    with open(os.path.join(output, "metrics.json")) as stream:
        return json.load(stream)


def _train_single(
    config,
    *,
    resume,
    overwrite,
    model_fn,
    data,
    verbose,
    resume_hint,
    strategy=None,
    run_eagerly=False,
    auto_resume=False,
):
    output = config.output
    mode = _prepare_run_dir(config, resume, overwrite, auto=auto_resume)
    if mode == "done":
        print(f"Run in {output} is complete; nothing to resume.", flush=True)
        return _read_metrics(output)
    checkpoint_path = os.path.join(output, "checkpoints", "last.keras")
    state = None
    if mode == "restore":
        state = read_checkpoint_state(checkpoint_path)
        stored = TrainConfig.from_dict(state["config"])
        _check_resumable(stored, config)
    if strategy is None:
        strategy = make_strategy(config.strategy)
    chief = _is_chief(strategy)
    write_dir = output if chief else tempfile.mkdtemp(prefix="larq-nobn-worker-")
    if chief:
        _write_json_atomic(os.path.join(output, "config.json"), config.to_dict())

    tf.keras.utils.set_random_seed(config.seed)
    if data is None:
        data = load_data(config)
    total_steps = data.steps_per_epoch * config.epochs

    with strategy.scope():
        if model_fn is not None:
            student = model_fn()
        else:
            student = build_model(config, data.input_shape, data.num_classes)
        if config.weights == "real":
            student = clone_with_real_weights(student)
        if config.init_weights:
            if not os.path.exists(config.init_weights):
                raise FileNotFoundError(
                    f"init_weights {config.init_weights!r} does not exist."
                )
            source = tf.keras.models.load_model(config.init_weights, compile=False)
            copy_weights_by_name(source, student)
            del source
        _add_weight_decay(student, config.weight_decay, config.weight_decay_pattern)
        from_logits = not outputs_probabilities(student)
        if config.teacher:
            teacher = _load_teacher(config.teacher)
            model = Distiller(
                student,
                teacher,
                temperature=config.distill_temperature,
                alpha=config.distill_alpha,
                student_from_logits=from_logits,
                teacher_from_logits=not outputs_probabilities(teacher),
            )
            loss = None
        else:
            model = student
            loss = tf.keras.losses.SparseCategoricalCrossentropy(
                from_logits=from_logits
            )
        # The zoo's head regex for zoo models, the last Dense layer of any other model.
        exclude = zoo_agc_settings(config.model)[1] if model_fn is None else None
        optimizer = make_optimizer(config, total_steps, student, exclude=exclude)
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=["accuracy"],
            run_eagerly=run_eagerly,
            jit_compile=config.jit_compile and not run_eagerly,
        )
        if model is not student:
            model(tf.zeros((1, *data.input_shape)))  # build the distiller
        initial_epoch = 0
        if mode == "restore":
            _build_optimizer_state(optimizer, student.trainable_variables)
            model.load_weights(checkpoint_path)
            restored = int(optimizer.iterations.numpy())
            if restored != state["optimizer_iterations"]:
                raise RuntimeError(
                    f"The optimizer state of {checkpoint_path} was not restored "
                    f"(iterations {restored}, checkpoint "
                    f"{state['optimizer_iterations']})."
                )
            initial_epoch = int(state["epoch"])

    import larq as lq

    if chief and (verbose is None or verbose):
        lq.models.summary(student)
    log_path = os.path.join(write_dir, "log.csv")
    if mode == "restore":
        _trim_log(log_path, initial_epoch)
        print(
            f"Resuming {output} from epoch {initial_epoch + 1}/{config.epochs} "
            f"(optimizer step {state['optimizer_iterations']}).",
            flush=True,
        )
    checkpoint = AtomicCheckpoint(
        os.path.join(write_dir, "checkpoints"),
        state={"config": config.to_dict(), "seed": config.seed},
        monitor="val_accuracy",
        best=state.get("best") if state else None,
    )
    interrupt = GracefulInterrupt(checkpoint, output, resume_hint)
    callbacks = [
        EpochTimer(),
        tf.keras.callbacks.CSVLogger(log_path, append=True),
        tf.keras.callbacks.TensorBoard(
            os.path.join(write_dir, "tensorboard"), write_graph=False, profile_batch=0
        ),
        checkpoint,
        interrupt,
    ]
    validation = data.validation if data.validation is not None else data.test
    history = {}
    if initial_epoch < config.epochs:
        with interrupt.installed():
            history = model.fit(
                data.train,
                validation_data=validation,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                callbacks=callbacks,
                verbose=_verbosity(verbose),
            ).history

    if validation is data.test and history.get("val_accuracy"):
        # The last epoch's validation pass was a test pass with the final weights.
        test = {
            "accuracy": history["val_accuracy"][-1],
            "loss": history["val_loss"][-1],
        }
    else:
        test = model.evaluate(data.test, verbose=0, return_dict=True)
    rows = read_log(log_path)
    train_seconds = float(sum(row.get("epoch_seconds", 0.0) or 0.0 for row in rows))
    last = rows[-1] if rows else {}
    metrics = {
        "test_accuracy": float(test["accuracy"]),
        "test_loss": float(test["loss"]),
        "epochs": config.epochs,
        "seed": config.seed,
        "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / len(rows) if rows else None,
        "train_accuracy": last.get("accuracy"),
        "train_loss": last.get("loss"),
        "optimizer_iterations": int(optimizer.iterations.numpy()),
        "dataset": config.dataset,
        "model": config.model,
        "norm": config.norm,
        "agc_clip_factor": config.resolved_agc_clip_factor,
        "width_multiplier": config.resolved_width_multiplier,
        "params": parameter_counts(student),
        "config": config.to_dict(),
    }
    if chief:
        final = os.path.join(output, "model.keras")
        if model is student:  # the last checkpoint holds exactly the final model
            _copy_atomic(checkpoint.last_path, final)
        else:
            save_checkpoint(student, final)
        plot_curves(log_path, os.path.join(output, "curves.png"))
        _write_json_atomic(os.path.join(output, "metrics.json"), metrics)
        print(
            f"Test accuracy {metrics['test_accuracy']:.4f}, test loss "
            f"{metrics['test_loss']:.4f} after {metrics['epochs']} epoch(s) "
            f"({train_seconds:.0f} s); outputs in {output}",
            flush=True,
        )
    else:
        shutil.rmtree(write_dir, ignore_errors=True)
    return metrics


def _check_resumable(stored: TrainConfig, config: TrainConfig):
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


def _prepare_parent_run(config, resume, overwrite, resume_hint):
    """Prepares the output directory of a run made of sub-runs (two steps, seeds) and
    writes its config.json; returns the command that resumes it."""
    output = config.output
    if resume:
        if _stored_config(output) is None:
            raise FileNotFoundError(f"Nothing to resume in {output!r}: no config.json.")
        prepare_output(output, resume=True)
    else:
        prepare_output(output, overwrite=overwrite)
    _write_json_atomic(os.path.join(output, "config.json"), config.to_dict())
    return resume_hint or f"larq-nobn train --output {output} --resume"


def _train_two_step(
    config,
    *,
    resume,
    overwrite,
    model_fn,
    data,
    verbose,
    resume_hint,
    strategy,
    run_eagerly,
):
    output = config.output
    hint = _prepare_parent_run(config, resume, overwrite, resume_hint)
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
    results = []
    for step in (step1, step2):
        results.append(
            _train_single(
                step,
                resume=False,
                overwrite=False,
                model_fn=model_fn,
                data=data,
                verbose=verbose,
                resume_hint=hint,
                strategy=strategy,
                run_eagerly=run_eagerly,
                auto_resume=resume,
            )
        )
    metrics = dict(results[1])
    metrics["epochs"] = results[0]["epochs"] + results[1]["epochs"]
    metrics["train_seconds"] = results[0]["train_seconds"] + results[1]["train_seconds"]
    metrics["step1"] = {
        k: results[0][k] for k in ("test_accuracy", "test_loss", "epochs")
    }
    metrics["step2"] = {
        k: results[1][k] for k in ("test_accuracy", "test_loss", "epochs")
    }
    metrics["config"] = config.to_dict()
    _copy_atomic(
        os.path.join(output, "step2", "model.keras"),
        os.path.join(output, "model.keras"),
    )
    _write_json_atomic(os.path.join(output, "metrics.json"), metrics)
    return metrics


def summarize_seeds(metrics_by_seed: dict) -> dict:
    """Mean and standard deviation over seeds of every scalar test metric.

    `std` is the sample standard deviation (`ddof=1`; 0 for a single seed).
    """
    seeds = sorted(metrics_by_seed)
    summary = {"seeds": seeds, "std_ddof": 1, "runs": {}}
    for seed in seeds:
        summary["runs"][str(seed)] = {
            k: metrics_by_seed[seed][k]
            for k in ("test_accuracy", "test_loss", "epochs", "train_seconds")
            if k in metrics_by_seed[seed]
        }
    for key in ("test_accuracy", "test_loss", "train_seconds"):
        values = np.array([metrics_by_seed[s][key] for s in seeds], dtype=np.float64)
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "values": values.tolist(),
        }
    return summary


def _train_seeds(
    config,
    *,
    resume,
    overwrite,
    model_fn,
    data,
    verbose,
    resume_hint,
    strategy,
    run_eagerly,
):
    output = config.output
    hint = _prepare_parent_run(config, resume, overwrite, resume_hint)
    results = {}
    for seed in config.seeds:
        run = config.replace(
            seeds=None, seed=seed, output=os.path.join(output, f"seed_{seed}")
        )
        print(
            f"=== seed {seed} ({len(results) + 1}/{len(config.seeds)}) ===", flush=True
        )
        kwargs = dict(
            model_fn=model_fn,
            data=data,
            verbose=verbose,
            resume_hint=hint,
            strategy=strategy,
            run_eagerly=run_eagerly,
        )
        if run.two_step:
            started = _stored_config(run.output) is not None
            results[seed] = _train_two_step(
                run, resume=resume and started, overwrite=False, **kwargs
            )
        else:
            results[seed] = _train_single(
                run, resume=False, overwrite=False, auto_resume=resume, **kwargs
            )
    summary = summarize_seeds(results)
    summary["config"] = config.to_dict()
    _write_json_atomic(os.path.join(output, "summary.json"), summary)
    accuracy = summary["test_accuracy"]
    print(
        f"Test accuracy over {len(config.seeds)} seed(s): "
        f"{100 * accuracy['mean']:.2f} +- {100 * accuracy['std']:.2f} %",
        flush=True,
    )
    return summary


# ======================================================================================
# Evaluation
# ======================================================================================
def evaluate_model(
    model_path: str,
    dataset: str,
    *,
    batch_size: int = 256,
    data_dir: str | None = None,
    max_samples: int | None = None,
) -> dict:
    """Test accuracy and loss of a saved model on a dataset's test split.

    # Returns
        `{"test_accuracy", "test_loss", "dataset", "model_path"}`.

    # Raises
        FileNotFoundError: No model file, or missing data.
        ValueError: Unknown dataset, or a model whose input does not fit the data.
    """
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"Model file {model_path!r} does not exist.")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    from larq_nobn import data

    info = data.info(dataset)
    test_data = data.load(
        dataset, "test", batch_size=batch_size, training=False, data_dir=data_dir
    )
    test_data = _first_samples(test_data, max_samples, batch_size)
    try:
        model = tf.keras.models.load_model(model_path, compile=False)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"Cannot load a Keras model from {model_path!r}: {error}"
        ) from None
    expected = tuple(model.input_shape[1:])
    if None not in expected and expected != tuple(info.image_shape):
        raise ValueError(
            f"Model {model_path!r} takes inputs of shape {expected}, but {dataset!r} "
            f"images have shape {tuple(info.image_shape)}."
        )
    model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=not outputs_probabilities(model)
        ),
        metrics=["accuracy"],
    )
    results = model.evaluate(test_data, verbose=0, return_dict=True)
    return {
        "test_accuracy": float(results["accuracy"]),
        "test_loss": float(results["loss"]),
        "dataset": dataset,
        "model_path": model_path,
    }
