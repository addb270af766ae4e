"""What every `larq-nobn` subcommand shares: the program name, exit statuses, the
exceptions that count as bad input, the error line of `convert` / `benchmark` and the
logging set-up of the command line."""

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
