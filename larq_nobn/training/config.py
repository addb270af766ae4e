"""`TrainConfig`, the description of a training run, the defaults of
`larq-nobn train`, and `config_from_recipe` (the `TrainConfig` of one of the papers'
recipes, whose settings are in `recipes`).

Model and norm names come from the zoo's registry (`larq_nobn.zoo.REGISTRY`); dataset
names from `larq_nobn.data.DATASETS`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass

from larq_nobn import data, zoo
from larq_nobn.blocks import STRIDE2_PADDINGS, WEIGHT_DECAY_REGEX
from larq_nobn.checks import check_pad_values
from larq_nobn.optimizers.adam import EPSILON_PLACEMENTS
from larq_nobn.training.recipes import RECIPES
from larq_nobn.zoo.initialization import INITS
from larq_nobn.zoo.registry import BUILDER_OPTIONS

import numpy as np

__all__ = [
    "DEFAULT_AUGMENT",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BINARYNET_WIDTH",
    "DEFAULT_DATASET",
    "DEFAULT_EPOCHS",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_MODEL",
    "DEFAULT_NORM",
    "DEFAULT_OUTPUT",
    "DEFAULT_WEIGHT_DECAY_PATTERN",
    "FALLBACK_AGC_CLIP_FACTOR",
    "INITS",
    "MODELS",
    "NORMS",
    "OPTIMIZERS",
    "RESNET18_VARIANTS",
    "SCHEDULES",
    "STRATEGIES",
    "STRIDE2_PADDINGS",
    "WEIGHTS",
    "WIDTH_MODELS",
    "TrainConfig",
    "config_from_recipe",
    "is_int",
    "is_number",
    "known_datasets",
    "zoo_agc_settings",
]

MODELS = zoo.MODELS
NORMS = zoo.NORMS
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear", "linear_epoch", "cosine")
STRATEGIES = ("default", "mirrored", "multi_worker")
RESNET18_VARIANTS = zoo.get_model("resnet18").variants
WEIGHTS = ("binary", "real")
# --------------------------------------------------------------------------------------
# Defaults of `larq-nobn train` (and of `TrainConfig()`): the one place to change them.
# A small BinaryNet (x0.25: 651 k parameters, 646 k binary) on Fashion-MNIST, offline
# on a 2-core CPU in minutes (its accuracy after 3 epochs, per norm and seed: section 1
# of BENCHMARKS.md). A short budget learns faster from the plain images than with the
# crop + flip augmentation, so augmentation is off by default and on in every paper
# recipe.
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
#: Models whose width `width_multiplier` sets.
WIDTH_MODELS = ("binarynet", "reactnet18", "binary_resnet18", "resnet18")
#: AGC clip factor for `bf` models when neither the config nor the zoo gives one
#: (REFERENCE.md 1.1: 0.02 in the ImageNet scripts of "BNN - BN = ?").
FALLBACK_AGC_CLIP_FACTOR = 0.02
#: Variables that the coupled weight decay applies to (regex searched in variable
#: names): `larq_nobn.blocks.WEIGHT_DECAY_REGEX`, the rule of "BNN - BN = ?"
#: (VITA-Group/BNN_NoBN train.py decays parameters with 4 dimensions or "conv" in
#: their name): every conv kernel, the ScaledWS gains and the learnable shifts (RSign
#: thresholds, RPReLU input / output shifts); not the classifier (the zoo's layer
#: `classifier`, the reference's 2-D `fc.weight` and `fc.bias`), PReLU slopes nor
#: normalization parameters. It is the default of every run, not only of the
#: recipes: decay is off unless `weight_decay > 0`, and then the reference's choice
#: is the one to compare with (a model of `model_fn` should name its head
#: `classifier`, or pass its own pattern).
DEFAULT_WEIGHT_DECAY_PATTERN = WEIGHT_DECAY_REGEX


def is_int(value) -> bool:
    """Whether `value` is an integer (`bool` excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """Whether `value` is a real number (`bool` excluded)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )


def known_datasets() -> tuple:
    """The dataset names of `larq_nobn.data`."""
    return tuple(data.DATASETS)


def zoo_agc_settings(model: str) -> tuple[float, str | None]:
    """The zoo's recommended AGC clip factor and head-exclusion regex for a `bf` model
    (`AGC_CLIP_FACTOR` and `AGC_EXCLUDE` of its zoo module, through the registry).

    # Raises
        ValueError: An unknown model name.
    """
    spec = zoo.get_model(model)
    return spec.agc_clip_factor, spec.agc_exclude


@dataclass
class TrainConfig:
    """Everything that defines a training run; serializable to JSON.

    # Arguments
        model: One of `MODELS` (`binarynet`, `reactnet18`, `binary_resnet18`,
            `reactnet_a`; `resnet18`, deprecated, builds one of the two ResNet-18s by
            `variant` and warns).
        norm: One of `NORMS` (`bn`, `abn`, `bf`, `none`).
        dataset: A dataset name of `larq_nobn.data` (e.g. `fashion_mnist`, `cifar10`).
        epochs: Number of epochs in total (per step when `two_step`).
        batch_size: Global batch size (split over the replicas of a strategy).
        seed: Seed of Python, NumPy and TensorFlow and of the data order (epoch `e`
            is shuffled and augmented with `epoch_seed(seed, e)`).
        seeds: If given, one run per seed in `output/seed_K/` and a `summary.json`.
        output: Output directory.
        width_multiplier: The width of BinaryNet (`None`: `DEFAULT_BINARYNET_WIDTH`) or
            of a ResNet-18 (`None`: the zoo's 1). Only for `WIDTH_MODELS`.
        variant: Only for the deprecated model `resnet18`: one of `RESNET18_VARIANTS`
            (`None`: the zoo's default, `reactnet`); model `reactnet18` or
            `binary_resnet18` replaces it.
        pad_values: The padding value of the binary convolutions, `1.0` (LCE's fast
            path) or `0.0` (zero padding, as both papers' PyTorch code); `None`: the
            zoo builder's default (1.0). Every zoo model takes it.
        stride2_padding: The alignment of the stride-2 convolutions and pools, one of
            `STRIDE2_PADDINGS` (`symmetric`: PyTorch's, as the references;
            `tf_same`: TensorFlow's `"same"`, the extra row and column at the
            bottom/right); `None`: the builder's default (`symmetric`). Only for
            models with stride-2 layers (`reactnet18`, `binary_resnet18`,
            `reactnet_a`; see `zoo.ModelSpec.options`), not `binarynet`.
        init: The initialization, one of `INITS` (`reference`: the reference
            code's, see `larq_nobn.zoo.initialization`; `keras`: the layers' own
            Keras initializers); `None`: the builder's default (`reference`). Every
            zoo model but the deprecated `resnet18` takes it.
        optimizer: One of `OPTIMIZERS`; `sgd` uses momentum 0.9.
        learning_rate: Initial learning rate.
        schedule: `constant`, `linear` (decays linearly to 0 over all training
            steps, step by step), `linear_epoch` (linear to 0 in steps of one epoch:
            epoch `e`, 0-based, uses `learning_rate * (1 - (e + 1) / epochs)`, the
            last epoch 0: PyTorch's `LambdaLR(1 - epoch / epochs)` stepped before
            each epoch, as in "BNN - BN = ?"; see `optim.EpochLinearDecay`) or
            `cosine` (cosine decay to 0). With `two_step`, each step has its own
            schedule over its `epochs`.
        adam_epsilon_placement: Where Adam adds its epsilon (`ADAM_EPSILON`, 1e-8):
            `torch` (default), after the bias correction as `torch.optim.Adam` in
            both papers' code; `keras`, before it as `tf.keras.optimizers.Adam`
            (smaller first steps on gradients near the epsilon scale). See
            `larq_nobn.optimizers.Adam`.
        adam_reset_each_epoch: Restart Adam (moments and bias correction) at the
            start of every epoch, as gushan/ABN re-creates its Adam every epoch
            (`utils.adjust_optimizer`); the `abn_paper` recipe turns it on. The
            optimizer's step count keeps counting, so schedules and resuming are
            unaffected.
        weight_decay: Coupled weight decay `wd`: `wd * w` is added to the gradient of
            every trainable variable whose name matches `weight_decay_pattern`, like
            PyTorch's `Adam(weight_decay=wd)` in the reference code. With AGC on it
            is added after the clip, never clipped, as in the reference (see
            `larq_nobn.AGC`, `coupled_weight_decay`); with AGC off it is the L2
            term `wd / 2 * ||w||^2` in the loss (same gradient, and part of the
            reported loss).
        weight_decay_pattern: Regex searched in variable names (default
            `DEFAULT_WEIGHT_DECAY_PATTERN`, the reference's rule).
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
            weights, needs internet the first time). A `keras.applications` teacher
            gets the pixels through its own `preprocess_input` (ResNet50: caffe
            mode; the student's standardization is undone, see `TeacherInput`); a
            saved model gets the same input tensors as the student.
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
            normalizations), at the price of a compile at the start; whether that pays
            off depends on the model and the machine (time a short run both ways).
            Training steps that run eagerly ignore it.
        data_dir: Directory of the datasets (tensorflow-datasets `data_dir`, the
            Fashion-MNIST IDX files or the `tiny-imagenet-200` folder).
        max_train_samples: Train on N (shuffled) samples per epoch, rounded up to whole
            batches (smoke tests).
        max_test_samples: Evaluate on the first N test (and validation) samples
            (smoke tests).
        image_size: Side of the square images the model trains and is tested on:
            the dataset's images are resized to it (bilinear, see
            `larq_nobn.data.load`); `None`: the dataset's own size (28 for
            Fashion-MNIST, 32 for CIFAR).

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
    pad_values: float | None = None
    stride2_padding: str | None = None
    init: str | None = None
    optimizer: str = "adam"
    learning_rate: float = DEFAULT_LEARNING_RATE
    schedule: str = "constant"
    adam_epsilon_placement: str = "torch"
    adam_reset_each_epoch: bool = False
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
    image_size: int | None = None

    def __post_init__(self):
        self.validate()

    # ---------------------------------------------------------------------------------
    def validate(self):
        """Normalizes and checks every field; see the class docstring.

        # Raises
            ValueError: A field is out of range or an unknown name.
        """
        self._validate_names()
        self._validate_counts()
        self._validate_model_options()
        self._validate_optimisation()
        self._validate_flags()

    def _choice(self, name, accepted):
        value = getattr(self, name)
        if value not in accepted:
            raise ValueError(
                f"Unknown {name} {value!r}; expected one of {', '.join(accepted)}."
            )

    def _validate_names(self):
        self._choice("model", MODELS)
        self._choice("norm", NORMS)
        self._choice("optimizer", OPTIMIZERS)
        self._choice("schedule", SCHEDULES)
        self._choice("adam_epsilon_placement", EPSILON_PLACEMENTS)
        self._choice("strategy", STRATEGIES)
        self._choice("weights", WEIGHTS)
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"`dataset` must be a dataset name, got {self.dataset!r}.")
        datasets = known_datasets()
        if self.dataset not in datasets:
            raise ValueError(
                f"Unknown dataset {self.dataset!r}; expected one of "
                f"{', '.join(datasets)}."
            )
        if not isinstance(self.output, str) or not self.output:
            raise ValueError(f"`output` must be a directory path, got {self.output!r}.")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(
                f"Unknown recipe {self.recipe!r}; expected one of {', '.join(RECIPES)}."
            )

    def _validate_counts(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0, got {self.seed!r}.")
        if self.seeds is not None:
            seeds = list(self.seeds)
            if not seeds or not all(is_int(s) and s >= 0 for s in seeds):
                raise ValueError(
                    "`seeds` must be a non-empty list of integers >= 0, got "
                    f"{self.seeds!r}."
                )
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"`seeds` contains duplicates: {self.seeds!r}.")
            self.seeds = [int(s) for s in seeds]
        for name in ("max_train_samples", "max_test_samples", "image_size"):
            value = getattr(self, name)
            if value is not None and (not is_int(value) or value < 1):
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if self.image_size is not None:
            self.image_size = int(self.image_size)

    def _validate_model_options(self):
        if self.width_multiplier is not None:
            if self.model not in WIDTH_MODELS:
                raise ValueError(
                    f"`width_multiplier` applies to model(s) {', '.join(WIDTH_MODELS)} "
                    f"only, not to {self.model!r}."
                )
            if not is_number(self.width_multiplier) or not self.width_multiplier > 0:
                raise ValueError(
                    f"`width_multiplier` must be > 0, got {self.width_multiplier!r}."
                )
            self.width_multiplier = float(self.width_multiplier)
        if self.variant is not None:
            variants = zoo.get_model(self.model).variants
            if not variants:
                raise ValueError(
                    "`variant` applies to the deprecated model 'resnet18' only, not to "
                    f"{self.model!r} (models 'reactnet18' and 'binary_resnet18' "
                    "replace its two variants)."
                )
            self._choice("variant", variants)
        self._validate_builder_options()

    def _validate_builder_options(self):
        options = zoo.get_model(self.model).options
        for name in BUILDER_OPTIONS:
            if getattr(self, name) is not None and name not in options:
                takers = [m for m, s in zoo.REGISTRY.items() if name in s.options]
                why = " (it has no stride-2 layers)" if (
                    name == "stride2_padding" and self.model == "binarynet"
                ) else ""
                raise ValueError(
                    f"`{name}` applies to model(s) {', '.join(takers)} only, not to "
                    f"{self.model!r}{why}."
                )
        if self.pad_values is not None:
            self.pad_values = check_pad_values(self.pad_values)
        if self.stride2_padding is not None:
            self._choice("stride2_padding", STRIDE2_PADDINGS)
        if self.init is not None:
            self._choice("init", INITS)

    def _validate_optimisation(self):
        for name in ("learning_rate", "distill_temperature"):
            value = getattr(self, name)
            if not is_number(value) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"`{name}` must be a number > 0, got {value!r}.")
            setattr(self, name, float(value))
        if not is_number(self.weight_decay) or not self.weight_decay >= 0:
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
        if not is_number(self.validation_split) or not 0 <= self.validation_split < 1:
            raise ValueError(
                f"`validation_split` must be in [0, 1), got {self.validation_split!r}."
            )
        self.validation_split = float(self.validation_split)
        if not is_number(self.distill_alpha) or not 0 <= self.distill_alpha <= 1:
            raise ValueError(
                f"`distill_alpha` must be in [0, 1], got {self.distill_alpha!r}."
            )
        self.distill_alpha = float(self.distill_alpha)

    def _validate_flags(self):
        if self.augment is not None and not isinstance(self.augment, bool):
            raise ValueError(
                f"`augment` must be true, false or null, got {self.augment!r}."
            )
        for name in ("adam_reset_each_epoch", "jit_compile", "two_step"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"`{name}` must be true or false, got {getattr(self, name)!r}."
                )
        if self.two_step and (self.weights != "binary" or self.init_weights):
            raise ValueError(
                "`two_step` chooses the weights of both steps itself: leave `weights` "
                "at 'binary' and `init_weights` empty."
            )

    # ---------------------------------------------------------------------------------
    @property
    def resolved_width_multiplier(self) -> float | None:
        """The width: BinaryNet's `DEFAULT_BINARYNET_WIDTH` if unset, ResNet-18's
        `width_multiplier` if set; `None` otherwise (the zoo's width 1)."""
        if self.model == "binarynet" and self.width_multiplier is None:
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


def config_from_recipe(name: str, **explicit) -> TrainConfig:
    """The `TrainConfig` of recipe `name` (one of `RECIPES`) with `explicit` fields
    overriding it.

    # Raises
        ValueError: Unknown recipe name, a model the recipe is not defined for, or
            invalid fields.
    """
    if name not in RECIPES:
        raise ValueError(
            f"Unknown recipe {name!r}; expected one of {', '.join(RECIPES)}."
        )
    return TrainConfig(**RECIPES[name].settings(**explicit))


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
    if not is_number(value) or not value >= 0 or not math.isfinite(value):
        raise ValueError(
            f"`agc_clip_factor` must be a number >= 0, 'off' or 'auto', got {value!r}."
        )
    return float(value)

