"""`larq-nobn evaluate`: test accuracy and loss of a saved model."""

from __future__ import annotations

import os

from larq_nobn import training
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import dataset_names


def add_parser(subparsers):
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
    return parser


def run(args) -> int:
    """Runs `larq-nobn evaluate`; returns the exit status."""
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


