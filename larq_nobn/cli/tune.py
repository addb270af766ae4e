"""`larq-nobn tune`: hyperparameter search with keras-tuner (`larq_nobn.tuning`)."""

from __future__ import annotations

import argparse

from larq_nobn import training, tuning
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import examples_epilog
from larq_nobn.cli.options import (
    add_data_options,
    add_length_options,
    add_model_options,
    config_fields,
)

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "tune --norm bf --epochs 2 --max-trials 8 --output runs/tune",
    "tune --search learning_rate=1e-4:1e-2 norm=abn,bf --validation-split 0.1",
    "tune --output runs/tune --resume --max-trials 12",
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "tune",
        **examples_epilog(EXAMPLES),
        help="search training hyperparameters with keras-tuner",
        description=(
            "Search the learning rate, the AGC clip factor (norm bf), BinaryNet's "
            "width or the normalization of a zoo model with keras-tuner: one training "
            "run of --epochs per trial. Writes search.json, keras_tuner/ (the "
            "trials), trials.csv and best_hyperparameters.json (with the best "
            "TrainConfig) into --output. --resume continues an interrupted search "
            "without running its finished trials again; a larger --max-trials adds "
            "trials. Set --validation-split to keep the test split out of the choice."
        ),
        argument_default=argparse.SUPPRESS,
    )
    add_model_options(parser)
    add_length_options(add_data_options(parser))
    _add_search_options(parser.add_argument_group("search"))
    _add_run_options(parser.add_argument_group("run"))
    return parser


def _add_search_options(search):
    search.add_argument("--tuner", choices=tuning.TUNERS, help="default: random")
    search.add_argument(
        "--max-trials",
        type=argtypes.positive_int,
        metavar="N",
        help=f"trials in total (default {tuning.DEFAULT_MAX_TRIALS}; when resuming: "
        "the search's)",
    )
    search.add_argument(
        "--search",
        nargs="+",
        metavar="NAME[=RANGE]",
        help=f"hyperparameters to search, some of {', '.join(tuning.PARAMS)}, each "
        "with an optional range: LOW:HIGH (log-uniform) or A,B,... (choices), e.g. "
        "learning_rate=1e-4:1e-2 norm=abn,bf. Default: learning_rate, and "
        "agc_clip_factor for --norm bf",
    )
    search.add_argument(
        "--objective", choices=tuple(tuning.OBJECTIVES), help="default: val_accuracy"
    )


def _add_run_options(run):
    run.add_argument(
        "--output", "-o", metavar="DIR", help=f"default: {tuning.DEFAULT_OUTPUT}"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        default=False,
        help="continue the search in --output (its settings are the defaults)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        help="delete a previous search in --output and start again",
    )
    run.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        help="0 silent, 1 progress bar, 2 one line per epoch",
    )


def parse_search(items) -> dict:
    """`--search` items (`NAME` or `NAME=RANGE`) as `tune`'s `params` dict.

    # Raises
        ValueError: A name given twice.
    """
    params = {}
    for item in items:
        name, has_range, text = item.partition("=")
        if name in params:
            raise ValueError(f"--search names {name!r} twice.")
        params[name] = text if has_range else None
    return params


def run(args) -> int:
    """Runs `larq-nobn tune`; returns the exit status."""
    fields = config_fields()
    explicit = {k: v for k, v in vars(args).items() if k in fields and k != "output"}
    output = getattr(args, "output", tuning.DEFAULT_OUTPUT)
    names = ("tuner", "max_trials", "objective")
    options = {k: getattr(args, k) for k in names if hasattr(args, k)}
    params = parse_search(args.search) if hasattr(args, "search") else None
    if args.resume and not args.overwrite:
        stored = tuning.read_search(output)
        config = stored["config"].replace(output=output, **explicit)
        options = {k: stored[k] for k in names} | options
        params = stored["params"] if params is None else params
    else:
        config = training.TrainConfig(output=output, **explicit)
    tuning.tune(
        config,
        params=params,
        output=output,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=getattr(args, "verbose", None),
        **options,
    )
    return 0
