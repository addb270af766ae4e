"""What every `larq-nobn` subcommand shares: the program name, exit statuses and the
exceptions that count as bad input."""

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
