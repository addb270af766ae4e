"""What every `larq-nobn` subcommand shares: the program name, exit statuses and the
exceptions that count as bad input, and the error line of `convert` / `benchmark`."""

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
)


def dataset_names() -> str:
    """The known dataset names, for help texts."""
    datasets = training._known_datasets()
    return ", ".join(datasets) if datasets else "see larq_nobn.data"


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
