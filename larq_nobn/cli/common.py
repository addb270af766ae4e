"""What every `larq-nobn` subcommand shares: the program name, exit statuses, the
exceptions that count as bad input, the error line of `convert` / `benchmark` and the
logging set-up of the command line."""

import argparse
import logging
import sys

from larq_nobn import training

PROG = "larq-nobn"
EXIT_USAGE = 2

# Exceptions that mean bad input: reported in one line with exit status 2.
USAGE_ERRORS = (
    ValueError,
    FileNotFoundError,
    PermissionError,
    NotADirectoryError,
    IsADirectoryError,
    FileExistsError,
    training.DiskFullError,
)


EXAMPLES_HEADING = "examples:"


class ExamplesHelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, except that the examples epilog keeps its lines (the
    description is wrapped as usual; `RawDescriptionHelpFormatter` would keep both)."""

    def _fill_text(self, text, width, indent):
        if text.startswith(EXAMPLES_HEADING):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def examples_epilog(examples) -> dict:
    """The `add_parser` keywords that end a command's `--help` with `examples`: an
    `epilog` listing them (one `larq-nobn ...` line each, after `EXAMPLES_HEADING`)
    and the formatter that keeps those lines."""
    lines = "\n".join(f"  {PROG} {example}" for example in examples)
    return dict(
        epilog=f"{EXAMPLES_HEADING}\n{lines}", formatter_class=ExamplesHelpFormatter
    )


def dataset_names() -> str:
    """The known dataset names, for help texts."""
    return ", ".join(training.known_datasets())


def arg_or_default(args, name, default=None):
    """`args.name`, or `default` when it is missing or `None` (namespaces built by hand
    may lack options)."""
    value = getattr(args, name, default)
    return default if value is None else value


def report_error(command, error) -> int:
    """Prints `error` as one line `larq-nobn COMMAND: error: ...` on stderr and returns
    the exit status for bad input."""
    message = " ".join(str(error).split())
    print(f"{PROG} {command}: error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


class ConsoleHandler(logging.Handler):
    """Writes a record's message alone to the `sys.stdout` of the moment (warnings and
    errors to `sys.stderr`), as `print` would."""

    def emit(self, record):
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # a logging failure must not stop a run
            self.handleError(record)


def configure_logging(level=logging.INFO) -> logging.Logger:
    """Sends the `larq_nobn` loggers' records at `level` and above to the console as
    plain messages (once per process; repeated calls only set the level)."""
    logger = logging.getLogger("larq_nobn")
    logger.setLevel(level)
    if not any(isinstance(h, ConsoleHandler) for h in logger.handlers):
        handler = ConsoleHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    return logger
