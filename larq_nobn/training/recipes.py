"""The training recipes of the papers (`larq-nobn train --recipe NAME`): the settings
only; `config.config_from_recipe` makes a `TrainConfig` of them.

Every setting is the one of the paper's public training code (gushan/ABN,
VITA-Group/BNN_NoBN); each recipe's `references` cite the file each setting comes
from, and its `description` names what the reference does that is not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from larq_nobn.blocks import WEIGHT_DECAY_REGEX

__all__ = ["RECIPES", "Recipe"]


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
        references: The papers, and for each setting the reference file it comes
            from.
    """

    name: str
    description: str
    overrides: dict = field(default_factory=dict)
    models: tuple = ()
    model_overrides: dict = field(default_factory=dict)
    references: tuple = ()

    def settings(self, **explicit) -> dict:
        """The `TrainConfig` fields of the recipe (`config_from_recipe` makes the
        config): `overrides`, then the model's `model_overrides`, then `explicit`,
        which win; `recipe` is the recipe's name.

        # Raises
            ValueError: A model the recipe is not defined for.
        """
        values = dict(self.overrides)
        if self.models:
            values.setdefault("model", self.models[0])
        model = explicit.get("model", values.get("model"))
        if self.models and model not in self.models:
            raise ValueError(
                f"Recipe {self.name!r} is defined for model(s) "
                f"{', '.join(self.models)}, "
                f"not {model!r}."
            )
        values.update(self.model_overrides.get(model, {}))
        values.update(explicit)
        values["recipe"] = self.name
        return values


#: Reference repositories, as cited in the recipes' sources.
ABN_CODE = "gushan/ABN"
NOBN_CODE = "VITA-Group/BNN_NoBN"

RECIPES: dict[str, Recipe] = {
    "abn_paper": Recipe(
        name="abn_paper",
        description=(
            "ABN paper (Gu et al., Entropy 2025), as its public code trains: Adam (PyTorch "
            "defaults) lr 1e-3 constant, no weight decay, batch 256, 200 epochs, cross-"
            "entropy, random crop (pad 4) + horizontal flip, seed 2020, ABN; full-"
            "precision first conv and classifier (the zoo's layouts). BinaryNet x3 "
            "(default) or --model binary_resnet18 (the ABN paper's ResNet-18), on CIFAR-10 "
            "(default), "
            "CIFAR-100 (--dataset cifar100, the README's runs) or TinyImageNet (--dataset "
            "tiny_imagenet --data-dir ...; the public code has no loader for it: the CIFAR "
            "settings carried over). Adam restarts at every epoch (moments and bias "
            "correction), as the reference re-creates it each epoch "
            "(--no-adam-reset-each-epoch keeps the moments). "
            "Its CIFAR images are normalized with ImageNet's mean/std. For mean +- std "
            "over seeds use --seeds 0 1 2 3 4."
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
            adam_reset_each_epoch=True,
            weight_decay=0.0,
            augment=True,
            seed=2020,
        ),
        models=("binarynet", "binary_resnet18", "resnet18"),  # resnet18: deprecated
        model_overrides={
            "binarynet": dict(width_multiplier=3.0),
            "resnet18": dict(variant="abn_paper"),
        },
        references=(
            "Gu, Zhang, Jia, Wu: Attention-based batch normalization for binary neural "
            "networks, Entropy 27(6) 645, 2025; code gushan/ABN",
            f"optimizer adam, learning_rate 1e-3, schedule constant: {ABN_CODE} "
            "main_binary.py (--optimizer Adam, --lr 0.001 defaults; default regime "
            "{0: {'optimizer', 'lr'}}, no model regime for the CIFAR models)",
            f"adam_reset_each_epoch: {ABN_CODE} utils.py adjust_optimizer (called at "
            "every epoch; the regime's epoch-0 entry re-creates torch.optim.Adam)",
            f"weight_decay 0: {ABN_CODE} main_binary.py (weight_decay commented out of "
            "the regime; the optimizer's param groups carry SGD's weight_decay 0)",
            f"batch_size 256, epochs 200, dataset cifar100 in the README: {ABN_CODE} "
            "README.md (--epochs 200 -b 256)",
            f"augment (crop pad 4 + flip): {ABN_CODE} preprocess.py get_transform "
            "('cifar': pad_random_crop, scale 40 -> pad 4, RandomHorizontalFlip)",
            f"loss cross-entropy: {ABN_CODE} main_binary.py nn.CrossEntropyLoss on the "
            "models' LogSoftmax output (= cross-entropy on the logits)",
            f"seed 2020: {ABN_CODE} main_binary.py (seed_value = 2020)",
            f"width x3 (binarynet), binary_resnet18: {ABN_CODE} "
            "models/vgg_abn_cifar10_binary.py (infl_ratio 3), models/resnet_abn_binary.py "
            "(ResNet_ABN_cifar10, depth 18, inflate 5)",
        ),
    ),
    "bnn_nobn_reactnet_a": Recipe(
        name="bnn_nobn_reactnet_a",
        description=(
            "BN-free ReActNet-A on ImageNet ('BNN - BN = ?', Chen et al. 2021), as "
            "script/imagenet_reactnet_A_bf.sh runs train.py: two steps of 256 epochs "
            "(step 1: binary activations, real-valued weights, weight decay 1e-5; step 2: "
            "binary weights initialised from step 1, no decay), batch 256, Adam "
            "(PyTorch defaults) lr 5e-4 decaying linearly to 0 per epoch (LambdaLR "
            "stepped before each epoch: epoch e uses 5e-4 * (1 - (e + 1) / 256), the last "
            "one 0), coupled decay wd * w on every conv kernel, ScaledWS gain and "
            "learnable shift (not the classifier, not the PReLU slopes) added after the "
            "clip, AGC clip factor 0.02 with the classifier excluded, knowledge "
            "distillation (soft cross-entropy at T=1) from a real-valued teacher: pass "
            "--teacher (e.g. keras.applications.ResNet50 or a saved model such as "
            "torchvision's ImageNet ResNet-34, train.py's default teacher, through "
            "import-weights --architecture resnet34; the script uses NFNet-F0, ReActNet "
            "ResNet-34). Without --teacher the labels are used. "
            "Augmentation: random resized crop 224 (area 8-100 %), lighting 0.1, flip. "
            "Step 2 starts from step 1's last weights (the reference: its best "
            "validation checkpoint). Needs imagenet2012 prepared for tensorflow-datasets "
            "(--data-dir)."
        ),
        overrides=dict(
            model="reactnet_a",
            norm="bf",
            dataset="imagenet2012",
            epochs=256,
            batch_size=256,
            optimizer="adam",
            learning_rate=5e-4,
            schedule="linear_epoch",
            agc_clip_factor=0.02,
            weight_decay=1e-5,
            weight_decay_pattern=WEIGHT_DECAY_REGEX,
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
            f"epochs 256 per step, batch_size 256, learning_rate 5e-4, weight_decay "
            f"1e-5 (step 1) / 0 (step 2), AGC 0.02, two_step (step 2 --binary_w "
            f"--pretrained step 1), teacher dm_nfnet_f0: {NOBN_CODE} "
            "script/imagenet_reactnet_A_bf.sh",
            f"optimizer adam, schedule linear_epoch: {NOBN_CODE} train.py "
            "(torch.optim.Adam; LambdaLR(1 - step / epochs), scheduler.step() at the "
            "start of train / train_kd)",
            f"weight_decay_pattern: {NOBN_CODE} train.py (decay on parameters with "
            "p.ndimension() == 4 or 'conv' in the name), added by Adam.step() after "
            "adaptive_clip_grad",
            f"AGC excludes the classifier: {NOBN_CODE} train.py (every parameter "
            "without 'fc' in its name is clipped); agc.py",
            f"distillation T=1, alpha 1: {NOBN_CODE} utils.py DistributionLoss (soft "
            "cross-entropy against the teacher's softmax, loss_type kd)",
            f"augmentation: {NOBN_CODE} dataset.py imagenet_dataloaders "
            "(RandomResizedCrop(224, scale=(0.08, 1)), Lighting(0.1), "
            "RandomHorizontalFlip)",
        ),
    ),
    "bnn_nobn_reactnet18_cifar": Recipe(
        name="bnn_nobn_reactnet18_cifar",
        description=(
            "BN-free ReActNet-18 on CIFAR-10 (default) or CIFAR-100 ('BNN - BN = ?'; "
            "reported 92.08 % / 68.34 %) with the defaults of the reference's train.py, "
            "which has no CIFAR script: Adam (PyTorch defaults) lr 1e-3 decaying "
            "linearly to 0 per epoch (as bnn_nobn_reactnet_a), batch 512, 120 epochs, "
            "no weight decay, AGC with train.py's clip factor 0.04 (--agc, as every ImageNet "
            "script passes it; classifier excluded), random crop (pad 4) + flip, "
            "distillation at T=1 when --teacher is given, else the labels. train.py's "
            "default loss is kd: its teacher is torchvision's ResNet-34 with its fc "
            "replaced for the classes and a --teacher_weight state dict loaded; "
            "'larq-nobn import-weights STATE.pth --architecture resnet34 -o "
            "teacher.keras' turns that state dict into the --teacher teacher.keras, "
            "which gets the student's normalized batch as it is (the zoo's CIFAR mean "
            "and std are dataset.py's; a 32x32 image goes through the ImageNet-layout "
            "network), as train.py feeds it; the loss, its "
            "DistributionLoss (soft cross-entropy against the teacher's softmax, batch "
            "mean), is the only one (distill_alpha 1). The two "
            "steps (binary activations first, then binary weights) follow the ImageNet "
            "scripts (unverified for CIFAR). ReActNet-18 (--model reactnet18) with the CIFAR "
            "stem (3x3 conv, no max-pool) the paper describes: the public code builds "
            "the ImageNet stem (7x7/2 conv + max-pool) on CIFAR too, as "
            "birealnet18(imagenet=True) is never told otherwise; a bug not reproduced "
            "(zoo.ReActNet18(stem='imagenet') through model_fn reproduces it)."
        ),
        overrides=dict(
            model="reactnet18",
            norm="bf",
            dataset="cifar10",
            epochs=120,
            batch_size=512,
            optimizer="adam",
            learning_rate=1e-3,
            schedule="linear_epoch",
            agc_clip_factor=0.04,
            weight_decay=0.0,
            weight_decay_pattern=WEIGHT_DECAY_REGEX,
            two_step=True,
            augment=True,
            distill_temperature=1.0,
            distill_alpha=1.0,
        ),
        models=("reactnet18", "resnet18"),  # resnet18: deprecated
        model_overrides={"resnet18": dict(variant="reactnet")},
        references=(
            "Chen et al.: 'BNN - BN = ?', CVPR Workshops 2021, arXiv 2104.08215; code "
            "VITA-Group/BNN_NoBN",
            f"learning_rate 1e-3, batch_size 512, epochs 120, weight_decay 0, AGC "
            f"clip 0.04, loss kd (teacher resnet34): {NOBN_CODE} train.py argparse "
            "defaults",
            f"optimizer adam, schedule linear_epoch, decay pattern: {NOBN_CODE} "
            "train.py (as for bnn_nobn_reactnet_a)",
            f"teacher and distillation: {NOBN_CODE} train.py (models.resnet34, fc -> "
            "nn.Linear(512, CLASSES), --teacher_weight state_dict, eval mode, "
            "model_teacher(images): the student's batch) and utils.py DistributionLoss "
            "(-softmax(teacher) . log_softmax(student), T=1, batch mean)",
            f"augmentation: {NOBN_CODE} dataset.py cifar10_dataloaders / "
            "cifar100_dataloaders (RandomCrop(32, padding=4), RandomHorizontalFlip)",
            f"two_step: {NOBN_CODE} script/imagenet_reactnet_A_*.sh (ImageNet only)",
            f"stem: {NOBN_CODE} models/Qaw_reactnet_18_bf.py BiRealNet(imagenet=True "
            "default), utils.py setup_model_dataloader (never passes imagenet=False)",
        ),
    ),
}
