"""The errors of `larq_nobn.data`: missing data, malformed data.

A `DatasetNotFoundError` says what is missing and how to get it, in two wordings: the
Python API's (`data_dir=`, `download=True`; its `str`) and the command line's
(`--data-dir`; its `cli_message`), since the two are used by different people.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DatasetError", "DatasetHelp", "DatasetNotFoundError", "CorruptDatasetError"]


class DatasetHelp(NamedTuple):
    """How to get a dataset: `api` for Python users, `cli` for `larq-nobn` users."""

    api: str
    cli: str

    def format(self, **values) -> DatasetHelp:
        """Both wordings with `str.format(**values)` applied."""
        return DatasetHelp(self.api.format(**values), self.cli.format(**values))


class DatasetError(Exception):
    """Base class of the data errors: the data is missing or malformed."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's files are not there and could not be fetched; the message says how
    to get them.

    # Arguments
        problem: What is missing.
        help: How to get it: a `DatasetHelp`, or one text for both wordings.
    """

    def __init__(self, problem: str, help: DatasetHelp | str | None = None):
        if isinstance(help, str):
            help = DatasetHelp(help, help)
        self.problem = problem
        self.help = help
        super().__init__(self._join(help.api if help else ""))

    def _join(self, advice: str) -> str:
        return f"{self.problem} {advice}".strip()

    def __str__(self):
        return self.args[0]

    @property
    def cli_message(self) -> str:
        """The message with the command line's advice."""
        return self._join(self.help.cli if self.help else "")


class CorruptDatasetError(DatasetError, ValueError):
    """A dataset file or folder exists but is malformed (bad magic number, truncated,
    inconsistent labels, ...)."""
