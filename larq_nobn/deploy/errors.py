"""The deployment error and the exit statuses of `larq-nobn convert` / `benchmark`."""

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_VERIFICATION_FAILED",
    "DeployError",
    "one_line",
]

EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_BAD_INPUT = 2


class DeployError(ValueError):
    """Bad input for deployment: a missing, corrupt or unsafe model file, a file of the
    wrong kind, or an unusable argument. The CLI reports it in one line, exit status 2."""


def one_line(error) -> str:
    """The first non-empty line of an exception message (or its type name)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
