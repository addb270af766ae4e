"""`larq-nobn evaluate`: test accuracy and loss of a saved model."""

from __future__ import annotations

import os

from larq_nobn import deploy, training
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import arg_or_default, dataset_names, examples_epilog

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "evaluate runs/default/model.keras",
    "evaluate runs/bf/model.keras --dataset fashion_mnist --per-class",
    "evaluate runs/bf/checkpoints/best.keras --max-test-samples 1000 --verbose 0",
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        **examples_epilog(EXAMPLES),
        help="print the test accuracy and loss of a saved model",
        description=(
            "Evaluate a saved Keras model on a dataset's test split: accuracy and "
            "loss, and with --per-class the accuracy of each class, with a progress "
            "bar on a terminal."
        ),
    )
    parser.add_argument(
        "model", metavar="MODEL", help="a saved model, e.g. DIR/model.keras"
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help=f"dataset ({dataset_names()}); default: the one in the config.json next "
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
    parser.add_argument(
        "--per-class",
        action="store_true",
        help="also print the accuracy of each class (names from the dataset's info)",
    )
    parser.add_argument(
        deploy.UNSAFE_FLAG,
        action="store_true",
        help="allow a MODEL with Lambda layers or other stored Python code (runs it: "
        "only for files you trust)",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        help="0 silent, 1 progress bar, 2 one line at the end (default: 1 on a "
        "terminal, else 2)",
    )
    return parser


def run(args) -> int:
    """Runs `larq-nobn evaluate`; returns the exit status."""
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"model file not found: {args.model!r}.")
    dataset = args.dataset or _stored_dataset(args.model)
    results = training.evaluate_model(
        args.model,
        dataset,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        max_samples=args.max_test_samples,
        verbose=training.verbosity(arg_or_default(args, "verbose")),
        per_class=arg_or_default(args, "per_class", False),
        safe_mode=not arg_or_default(args, "unsafe_load", False),
    )
    print(
        f"test accuracy: {results['test_accuracy']:.4f} "
        f"({100 * results['test_accuracy']:.2f} %) on {dataset}"
    )
    print(f"test loss: {results['test_loss']:.4f}")
    if "per_class" in results:
        print_per_class(results)
    return 0


def _stored_dataset(model) -> str:
    """The dataset of the `config.json` next to `model` (a run's output)."""
    config_path = os.path.join(os.path.dirname(os.path.abspath(model)), "config.json")
    if not os.path.exists(config_path):
        raise ValueError(
            f"--dataset is required: there is no config.json next to {model!r}."
        )
    try:
        with open(config_path) as stream:
            return training.TrainConfig.from_json(stream.read()).dataset
    except ValueError as error:
        raise ValueError(f"{config_path}: {error} Pass --dataset.") from None


def print_per_class(results):
    """Prints the table of per-class accuracies of `evaluate_model(per_class=True)`."""
    rows = results["per_class"]
    width = max(len("class"), *(len(row["name"]) for row in rows))
    print(f"{'class':<{width}}  samples  accuracy")
    for row in rows:
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        print(f"{row['name']:<{width}}  {row['samples']:>7}  {accuracy:>8}")
    print(f"mean class accuracy: {results['mean_class_accuracy']:.4f}")


