"""The errors of `larq_nobn.data`: missing data, malformed data."""

__all__ = ["DatasetError", "DatasetNotFoundError", "CorruptDatasetError"]


class DatasetError(Exception):
    """Base class of the data errors: the data is missing or malformed."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's files are not there and could not be fetched; the message says how
    to get them."""


class CorruptDatasetError(DatasetError, ValueError):
    """A dataset file or folder exists but is malformed (bad magic number, truncated,
    inconsistent labels, ...)."""
