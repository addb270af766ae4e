"""`larq-nobn train`: train a model from a config, a recipe or a resumed run."""

from __future__ import annotations

import argparse
import os
import shlex

from larq_nobn import deploy, training, tuning
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import PROG, examples_epilog
from larq_nobn.cli.options import (
    add_data_options,
    add_length_options,
    add_model_options,
    config_fields,
)
from larq_nobn.optimizers.adam import EPSILON_PLACEMENTS

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "train --norm bf --epochs 5 --output runs/bf",
    "train --recipe abn_paper --seeds 0 1 2 --output runs/abn_paper",
    "train --recipe runs/tune/best_hyperparameters.json --epochs 20",
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train",
        **examples_epilog(EXAMPLES),
        help="train a model (defaults: a small BinaryNet on Fashion-MNIST, offline)",
        description=(
            "Train a zoo model and write log.csv, tensorboard/, checkpoints/, "
            "model.keras, metrics.json and curves.png into --output. Options not given "
            "come from --recipe, else from the defaults below. Ctrl-C / SIGTERM stops "
            "after the current batch with a checkpoint; --resume continues."
        ),
        argument_default=argparse.SUPPRESS,
    )
    add_model_options(parser)
    add_data_options(parser)
    opt = parser.add_argument_group("optimisation")
    add_length_options(opt)
    _add_optimisation_options(opt)
    _add_distillation_options(parser.add_argument_group("knowledge distillation"))
    _add_run_options(parser.add_argument_group("run"))
    return parser


def _add_optimisation_options(opt):
    opt.add_argument("--optimizer", choices=training.OPTIMIZERS, help="default: adam")
    opt.add_argument(
        "--learning-rate",
        type=argtypes.number,
        metavar="LR",
        help=f"default: {training.DEFAULT_LEARNING_RATE}",
    )
    opt.add_argument(
        "--schedule",
        choices=training.SCHEDULES,
        help="learning-rate schedule: constant, linear (to 0, every step), "
        "linear_epoch (to 0, once per epoch, as PyTorch's LambdaLR in the references) "
        "or cosine (to 0); default: constant",
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
        "--adam-epsilon-placement",
        choices=EPSILON_PLACEMENTS,
        help="torch: Adam adds epsilon after the bias correction, as torch.optim.Adam "
        "in both papers' code; keras: before it (default: torch)",
    )
    opt.add_argument(
        "--adam-reset-each-epoch",
        action=argparse.BooleanOptionalAction,
        help="restart Adam (moments, bias correction) at every epoch, as gushan/ABN "
        "re-creates it (default: on in --recipe abn_paper, else off)",
    )
    opt.add_argument(
        "--two-step",
        action="store_true",
        help="ReActNet's two steps: real weights + binary activations, then binary "
        "weights initialised from step 1 (--epochs each)",
    )


def _add_distillation_options(kd):
    kd.add_argument(
        "--teacher",
        metavar="MODEL",
        help="teacher: a saved Keras model or keras.applications.NAME",
    )
    kd.add_argument(
        deploy.UNSAFE_FLAG,
        action="store_true",
        default=False,
        help="allow a --teacher or init_weights model with Lambda layers or other "
        "stored Python code (runs it: only for files you trust)",
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


def _add_run_options(run):
    run.add_argument(
        "--recipe",
        metavar="NAME|PATH",
        help=f"a paper's settings ({', '.join(training.RECIPES)}; see `larq-nobn "
        "recipes`), or the best_hyperparameters.json of a `larq-nobn tune` search (or "
        "its directory): its best configuration, by default into the search's best/ "
        "folder; explicit options win",
    )
    run.add_argument(
        "--seeds",
        type=argtypes.non_negative_int,
        nargs="+",
        metavar="S",
        help="one run per seed in OUTPUT/seed_S and OUTPUT/summary.json (mean +- std)",
    )
    run.add_argument(
        "--output", "-o", metavar="DIR", help=f"default: {training.DEFAULT_OUTPUT}"
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
        choices=training.STRATEGIES,
        help="tf.distribute strategy: mirrored = all local GPUs (or logical CPUs), "
        "multi_worker = from TF_CONFIG; default: default",
    )
    run.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        help="compile the training step with XLA (default: off; fuses the many small "
        "ops of a BNN, after a compile at the start)",
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


def recipe_config(recipe: str, explicit: dict) -> training.TrainConfig:
    """The `TrainConfig` of `--recipe` with the explicit options (`output` among them,
    if given) overriding it: a built-in recipe's (default output
    `training.DEFAULT_OUTPUT`), or the best configuration of a tune search (a
    `best_hyperparameters.json` or its directory; default output the search's
    `best/`).

    # Raises
        ValueError: Neither a recipe name nor a file or directory.
        FileNotFoundError: A directory without `best_hyperparameters.json`.
    """
    if recipe in training.RECIPES:
        explicit = {"output": training.DEFAULT_OUTPUT, **explicit}
        return training.config_from_recipe(recipe, **explicit)
    if recipe.endswith(".json") or os.path.exists(recipe):
        return tuning.read_best_config(recipe).replace(**explicit)
    raise ValueError(
        f"Unknown recipe {recipe!r}: expected one of {', '.join(training.RECIPES)}, or "
        f"the {tuning.BEST_FILE} of a `larq-nobn tune` search."
    )


def run(args) -> int:
    """Runs `larq-nobn train`; returns the exit status."""
    explicit = {k: v for k, v in vars(args).items() if k in config_fields()}
    if explicit.get("two_step") is False:
        del explicit["two_step"]
    output = explicit.get("output", training.DEFAULT_OUTPUT)
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other.")
    if args.resume:
        explicit.pop("output", None)
        config = training.resume_config(output, **explicit)
    else:
        recipe = explicit.pop("recipe", None)
        if recipe is not None:
            config = recipe_config(recipe, explicit)
        else:
            config = training.TrainConfig(**{"output": output, **explicit})
        output = config.output
    hint = shlex.join([PROG, "train", "--output", output, "--resume"])
    with deploy.unsafe_loading(args.unsafe_load):
        training.train(
            config,
            resume=args.resume,
            overwrite=args.overwrite,
            verbose=getattr(args, "verbose", None),
            resume_hint=hint,
            run_eagerly=args.run_eagerly,
        )
    return 0
