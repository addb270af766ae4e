"""The `larq-nobn` command line.

```
larq-nobn train [--model binarynet] [--norm bn] [--dataset fashion_mnist] ...
larq-nobn evaluate runs/default/model.keras --dataset fashion_mnist
larq-nobn recipes
larq-nobn tune --norm bf --search learning_rate agc_clip_factor --max-trials 10
larq-nobn convert runs/default/model.keras -o model.tflite --verify-dataset fashion_mnist
larq-nobn benchmark model.tflite --threads 1 2
```

`tune` lives in `larq_nobn.tuning`, `convert` and `benchmark` in `larq_nobn.deploy`.
`main(argv)` returns the exit status: 0 on success, 2 for bad input (unknown names,
missing files, an unwritable output directory: one line on stderr, no traceback; set
`LARQ_NOBN_DEBUG=1` to see it), 1 when a conversion fails verification, 130 / 143
after SIGINT / SIGTERM stopped a training run (a checkpoint was saved; `--resume`
continues it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import larq_nobn
from larq_nobn import argtypes, deploy, training, tuning

EXIT_USAGE = 2
PROG = "larq-nobn"

# Exceptions that mean bad input: reported in one line with exit status 2.
USAGE_ERRORS = (
    ValueError,
    FileNotFoundError,
    PermissionError,
    NotADirectoryError,
    IsADirectoryError,
    FileExistsError,
)

# Subcommands defined next to their code: (function adding the subparser, handler).
MODULE_SUBCOMMANDS = (
    (deploy.add_convert_parser, deploy.run_convert),
    (deploy.add_benchmark_parser, deploy.run_benchmark),
    (tuning.add_tune_parser, tuning.run_tune),
)


def _dataset_names():
    datasets = training._known_datasets()
    return ", ".join(datasets) if datasets else "see larq_nobn.data"


def _add_train_parser(subparsers):
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
        help=f"dataset ({_dataset_names()}); default: {d.DEFAULT_DATASET}",
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
    parser.set_defaults(_handler=run_train)
    return parser


_CONFIG_FIELDS = {f.name for f in training.dataclasses.fields(training.TrainConfig)}


def run_train(args) -> int:
    """Runs `larq-nobn train`."""
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


def _add_evaluate_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="print the test accuracy and loss of a saved model",
        description="Evaluate a saved Keras model on a dataset's test split.",
    )
    parser.add_argument(
        "model", metavar="MODEL", help="a saved model, e.g. DIR/model.keras"
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help=f"dataset ({_dataset_names()}); default: the one in the config.json next "
        "to MODEL",
    )
    parser.add_argument(
        "--batch-size", type=argtypes.positive_int, default=256, help="default: 256"
    )
    parser.add_argument(
        "--data-dir", metavar="PATH", help="where the dataset files are"
    )
    parser.add_argument(
        "--max-test-samples",
        type=argtypes.positive_int,
        metavar="N",
        help="first N test samples only",
    )
    parser.set_defaults(_handler=run_evaluate)
    return parser


def run_evaluate(args) -> int:
    """Runs `larq-nobn evaluate`."""
    dataset = args.dataset
    if dataset is None:
        config_path = os.path.join(
            os.path.dirname(os.path.abspath(args.model)), "config.json"
        )
        if not os.path.exists(config_path):
            raise ValueError(
                "--dataset is required: there is no config.json next to "
                f"{args.model!r}."
            )
        with open(config_path) as stream:
            dataset = training.TrainConfig.from_json(stream.read()).dataset
    results = training.evaluate_model(
        args.model,
        dataset,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        max_samples=args.max_test_samples,
    )
    print(
        f"test accuracy: {results['test_accuracy']:.4f} "
        f"({100 * results['test_accuracy']:.2f} %) on {dataset}"
    )
    print(f"test loss: {results['test_loss']:.4f}")
    return 0


def _add_recipes_parser(subparsers):
    parser = subparsers.add_parser(
        "recipes",
        help="list the papers' training recipes (for train --recipe)",
        description="List the recipes that `larq-nobn train --recipe NAME` applies.",
    )
    parser.set_defaults(_handler=run_recipes)
    return parser


def run_recipes(args) -> int:
    """Runs `larq-nobn recipes`."""
    for recipe in training.RECIPES.values():
        print(f"{recipe.name}\n  {recipe.description}")
        settings = ", ".join(f"{k}={v}" for k, v in recipe.overrides.items())
        print(f"  settings: {settings}")
        for model, extra in recipe.model_overrides.items():
            print(
                f"  with --model {model}: "
                + ", ".join(f"{k}={v}" for k, v in extra.items())
            )
        for reference in recipe.references:
            print(f"  reference: {reference}")
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `larq-nobn` argument parser (with the optional subcommands that exist)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Binary neural networks without batch normalization (or with "
            "attention-based BN): train, evaluate, convert and benchmark with Larq "
            "Compute Engine."
        ),
    )
    parser.add_argument("--version", action="version", version=larq_nobn.__version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_train_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_recipes_parser(subparsers)
    for add_parser, run in MODULE_SUBCOMMANDS:
        add_parser(subparsers).set_defaults(_handler=run)
    return parser


def _error(message) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def main(argv=None) -> int:
    """Entry point of the `larq-nobn` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    debug = os.environ.get("LARQ_NOBN_DEBUG", "") not in ("", "0")
    try:
        status = args._handler(args)
    except training.TrainingInterrupted as interrupted:
        print(f"{PROG}: {interrupted}", file=sys.stderr, flush=True)
        return interrupted.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: aborted.", file=sys.stderr, flush=True)
        return 130
    except USAGE_ERRORS as error:
        if debug:
            raise
        return _error(str(error) or type(error).__name__)
    return 0 if status is None else int(status)


if __name__ == "__main__":
    sys.exit(main())
