"""The `larq-nobn` command line.

```
larq-nobn train [--model binarynet] [--norm bn] [--dataset fashion_mnist] ...
larq-nobn evaluate runs/default/model.keras --dataset fashion_mnist
larq-nobn recipes
larq-nobn tune --norm bf --search learning_rate agc_clip_factor --max-trials 10
larq-nobn convert runs/default/model.keras -o model.tflite --verify-dataset fashion_mnist
larq-nobn benchmark model.tflite --threads 1 2
larq-nobn import-weights model_best.pth.tar --architecture binarynet --norm abn -o vgg.keras
```

Each subcommand is a module of this package with `add_parser(subparsers)` and
`run(args)`; `common` holds what they share (and the logging set-up), `options` the option
groups of `train` and `tune`, and `argtypes` the argument types.
`main(argv)` returns the exit status: 0 on success, 2 for bad input (unknown names,
missing files, an unwritable output directory: one line on stderr, no traceback; set
`LARQ_NOBN_DEBUG=1` to see it), 1 when a conversion fails verification, 130 / 143
after SIGINT / SIGTERM stopped a training run (a checkpoint was saved; `--resume`
continues it), 1 when a worker of a multi-worker training run was lost (every worker
restarts with `--resume`).
"""

from __future__ import annotations

import argparse
import os
import sys

import larq_nobn
from larq_nobn import training
from larq_nobn.cli import (
    benchmark,
    convert,
    evaluate,
    import_weights,
    recipes,
    train,
    tune,
)
from larq_nobn.cli.common import EXIT_USAGE, PROG, USAGE_ERRORS, configure_logging

# In the order `--help` lists them.
COMMANDS = (train, evaluate, recipes, tune, convert, benchmark, import_weights)


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
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(_handler=command.run)
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
    configure_logging()
    try:
        status = args._handler(args)
    except (training.TrainingInterrupted, training.WorkerLost) as interrupted:
        print(f"{PROG}: {interrupted}", file=sys.stderr, flush=True)
        return interrupted.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: aborted.", file=sys.stderr, flush=True)
        return 130
    except USAGE_ERRORS as error:
        if debug:
            raise
        # A missing dataset's advice in the command line's words (`--data-dir`).
        message = getattr(error, "cli_message", None) or str(error)
        return _error(message or type(error).__name__)
    return 0 if status is None else int(status)

