"""The training recipes of the papers (`larq-nobn train --recipe NAME`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from larq_nobn.training.config import DEFAULT_MODEL, TrainConfig

__all__ = ["RECIPES", "Recipe", "config_from_recipe"]


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

