"""`larq-nobn train`: train a model from a config, a recipe or a resumed run."""

from __future__ import annotations

import argparse
import shlex

from larq_nobn import training
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import PROG, dataset_names


def add_parser(subparsers):
    d = training
    parser = subparsers.add_parser(
        "train",
        help="train a model (defaults: a small BinaryNet on Fashion-MNIST, offline)",
        description=(
            "Train a zoo model and write log.csv, tensorboard/, checkpoints/, "
            "model.keras, metrics.json and curves.png into --output. Options not given "
            "come from --recipe, else from the defaults below. Ctrl-C / SIGTERM stops "
            "after the current batch with a checkpoint; --resume continues."
        ),
        argument_default=argparse.SUPPRESS,
    )
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=d.MODELS, help=f"default: {d.DEFAULT_MODEL}")
    model.add_argument(
        "--norm",
        choices=d.NORMS,
        help=(
            "bn: BatchNorm, abn: attention-based BN, bf: BN-free (ScaledWS + AGC), "
            f"none: BN deleted; default: {d.DEFAULT_NORM}"
        ),
    )
    model.add_argument(
        "--width-multiplier",
        type=argtypes.number,
        metavar="W",
        help=f"BinaryNet width (default {d.DEFAULT_BINARYNET_WIDTH}; 3 is the ABN "
        "paper's)",
    )
    model.add_argument(
        "--variant",
        choices=d.RESNET18_VARIANTS,
        help="ResNet-18 variant (default: reactnet)",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        metavar="NAME",
        help=f"dataset ({dataset_names()}); default: {d.DEFAULT_DATASET}",
    )
    data.add_argument("--data-dir", metavar="PATH", help="where the dataset files are")
    data.add_argument(
        "--validation-split",
        type=argtypes.number,
        metavar="F",
        help="fraction of the training split held out for validation (default 0: "
        "validate on the test split, as the papers do)",
    )
    data.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="augment the training images with the data pipeline's augmentation for "
        "the dataset (random crop with padding + flip for small images); default: off, "
        "on in every --recipe",
    )
    data.add_argument(
        "--max-train-samples",
        type=argtypes.positive_int,
        metavar="N",
        help="train on N (shuffled) samples per epoch, rounded up to whole batches "
        "(smoke tests)",
    )
    data.add_argument(
        "--max-test-samples",
        type=argtypes.positive_int,
        metavar="N",
        help="evaluate on the first N test (and validation) samples only (smoke tests)",
    )
    opt = parser.add_argument_group("optimisation")
    opt.add_argument(
        "--epochs", type=argtypes.positive_int, help=f"default: {d.DEFAULT_EPOCHS}"
    )
    opt.add_argument(
        "--batch-size",
        type=argtypes.positive_int,
        help=f"global batch size; default: {d.DEFAULT_BATCH_SIZE}",
    )
    opt.add_argument("--optimizer", choices=d.OPTIMIZERS, help="default: adam")
    opt.add_argument(
        "--learning-rate",
        type=argtypes.number,
        metavar="LR",
        help=f"default: {d.DEFAULT_LEARNING_RATE}",
    )
    opt.add_argument(
        "--schedule",
        choices=d.SCHEDULES,
        help="learning-rate schedule: constant, linear (to 0) or cosine (to 0); "
        "default: constant",
    )
    opt.add_argument(
        "--weight-decay",
        type=argtypes.number,
        metavar="WD",
        help="coupled L2 decay on kernels, gains and shifts (default 0)",
    )
    opt.add_argument(
        "--agc-clip-factor",
        metavar="X",
        help="adaptive gradient clipping factor; 'off' or 0 disables it. Default: on "
        "for --norm bf with the zoo's recommended factor, off otherwise",
    )
    opt.add_argument(
        "--two-step",
        action="store_true",
        help="ReActNet's two steps: real weights + binary activations, then binary "
        "weights initialised from step 1 (--epochs each)",
    )
    kd = parser.add_argument_group("knowledge distillation")
    kd.add_argument(
        "--teacher",
        metavar="MODEL",
        help="teacher: a saved Keras model or keras.applications.NAME",
    )
    kd.add_argument(
        "--distill-temperature",
        type=argtypes.number,
        metavar="T",
        help="softmax temperature (default 1)",
    )
    kd.add_argument(
        "--distill-alpha",
        type=argtypes.number,
        metavar="A",
        help="weight of the distillation loss; 1 - A weighs the label loss (default 1)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--recipe",
        choices=tuple(d.RECIPES),
        help="a paper's settings (see `larq-nobn recipes`); explicit options win",
    )
    run.add_argument("--seed", type=argtypes.non_negative_int, help="random seed (default 0)")
    run.add_argument(
        "--seeds",
        type=argtypes.non_negative_int,
        nargs="+",
        metavar="S",
        help="one run per seed in OUTPUT/seed_S and OUTPUT/summary.json (mean +- std)",
    )
    run.add_argument(
        "--output", "-o", metavar="DIR", help=f"default: {d.DEFAULT_OUTPUT}"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        default=False,
        help="continue the run in --output from its last checkpoint",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        help="delete a previous run in --output and start again",
    )
    run.add_argument(
        "--strategy",
        choices=d.STRATEGIES,
        help="tf.distribute strategy: mirrored = all local GPUs (or logical CPUs), "
        "multi_worker = from TF_CONFIG; default: default",
    )
    run.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        help="compile the training step with XLA (default: off; ~10 %% faster for "
        "BinaryNet on a 2-core CPU after a compile at the start)",
    )
    run.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        help="0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a "
        "terminal, else 2)",
    )
    run.add_argument(
        "--run-eagerly",
        action="store_true",
        default=False,
        help="run the training step eagerly, not as a tf.function (debugging; slower "
        "per step but skips tracing)",
    )
    return parser


_CONFIG_FIELDS = {f.name for f in training.dataclasses.fields(training.TrainConfig)}


def run(args) -> int:
    """Runs `larq-nobn train`; returns the exit status."""
    explicit = {k: v for k, v in vars(args).items() if k in _CONFIG_FIELDS}
    if explicit.get("two_step") is False:
        del explicit["two_step"]
    output = explicit.pop("output", training.DEFAULT_OUTPUT)
    hint_parts = [PROG, "train", "--output", output]
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other.")
    if args.resume:
        config = training.resume_config(output, **explicit)
    else:
        recipe = explicit.pop("recipe", None)
        if recipe is not None:
            config = training.config_from_recipe(recipe, output=output, **explicit)
        else:
            config = training.TrainConfig(output=output, **explicit)
    hint = " ".join(shlex.quote(part) for part in hint_parts) + " --resume"
    training.train(
        config,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=getattr(args, "verbose", None),
        resume_hint=hint,
        run_eagerly=args.run_eagerly,
    )
    return 0


