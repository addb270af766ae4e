"""Drop TensorFlow's native log lines that are not for the user: the start-up notices
that only say "no GPU here" or "oneDNN is on", and the TFLite converters' progress.

TensorFlow's native code writes them straight to file descriptor 2 while it loads and
when it first looks for devices, before its logging is set up, so neither
`TF_CPP_MIN_LOG_LEVEL` nor Python's logging can hold them back. On a CPU-only machine
they end in `E0000 ... failed call to cuInit`, which reads like a failure. While
`import larq_nobn` imports TensorFlow and lists its devices, stderr goes to a
temporary file; afterwards every line is written back except the known notices below.
Anything else (a real error, a warning from Python) still reaches stderr, in order.

The TFLite converters (LCE's and TensorFlow's) log a dozen INFO and WARNING lines per
model ("Reading SavedModel from ...", "Ignored output_format.") and tf-keras warns
that the model it reloads has no compiled metrics. `quiet_converter_logs` holds those
back around a conversion the same way and keeps every ERROR or FATAL line.

Set `LARQ_NOBN_TF_LOGS=1` (or the CLI's `--verbose`) to see every line; with
`TF_CPP_MIN_LOG_LEVEL` set, the converters' native lines are left to TensorFlow's own
filter at that level.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

SHOW_ENV = "LARQ_NOBN_TF_LOGS"
_FORMER_SHOW_ENV = "LARQ_NOBN_TF_STARTUP_LOGS"  # still accepted

# One absl log line: severity letter, date, time, thread id, file:line].
_ABSL = r"^[IWE]\d{4} [\d:. ]+\s+\d+ "
NOTICES = tuple(
    re.compile(pattern)
    for pattern in (
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written "
        r"to STDERR$",
        _ABSL + r"port\.cc:\d+\] oneDNN custom operations are on\.",
        _ABSL + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine",
        _ABSL + r"cuda_platform\.cc:\d+\] failed call to cuInit: .*"
        r"(UNKNOWN ERROR \(303\)|CUDA_ERROR_NO_DEVICE|no CUDA-capable device)",
        _ABSL + r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use "
        r"available CPU instructions",
        r"^To enable the following instructions: .*, in other operations, rebuild "
        r"TensorFlow with the appropriate compiler flags\.$",
        _ABSL + r"util\.cc:\d+\] oneDNN supports DT_U?INT8 only on platforms with AVX-512\.",
    )
)
# An INFO or WARNING line of TensorFlow's native logging: absl's format, or the
# "2026-01-31 12:00:00.000000: I external/.../file.cc:83] ..." of LCE's own TensorFlow.
_PROGRESS = re.compile(
    r"^([IW]\d{4} [\d:. ]+\s+\d+ |\d{4}-\d\d-\d\d [\d:.]+: [IW] )\S+:\d+\] "
)


def is_notice(line: str) -> bool:
    """Whether a line of stderr is one of TensorFlow's known start-up notices."""
    return any(pattern.search(line) for pattern in NOTICES)


def is_converter_noise(line: str) -> bool:
    """Whether a line of stderr is a native INFO or WARNING line or a start-up notice
    (not an ERROR or FATAL line, not Python's output)."""
    return bool(_PROGRESS.search(line)) or is_notice(line)


def logs_requested() -> bool:
    """Whether the user asked for every native log line (`LARQ_NOBN_TF_LOGS=1`)."""
    return any(
        os.environ.get(name, "") not in ("", "0") for name in (SHOW_ENV, _FORMER_SHOW_ENV)
    )


@contextlib.contextmanager
def filtered_native_stderr(drop=is_notice):
    """Within the block, file descriptor 2 goes to a temporary file; on exit the lines
    for which `drop(line)` is false are written to the real stderr, in order.

    A process that crashes inside the block loses its captured lines: set
    `LARQ_NOBN_TF_LOGS=1` to see them as they come."""
    if logs_requested():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr (closed, or not a real file)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines(True)
                if not drop(line.rstrip("\n"))
            ]
            if kept:
                os.write(2, "".join(kept).encode("utf-8"))


def import_tensorflow_quietly():
    """Imports TensorFlow (and tf-keras, which loads a second copy of its native
    libraries) and lists its devices, without the notices."""
    with filtered_native_stderr():
        import tensorflow as tf

        with contextlib.suppress(ImportError):  # ensure_keras2 reports a missing tf-keras
            import tf_keras  # noqa: F401
        tf.config.list_physical_devices()


@contextlib.contextmanager
def quiet_converter_logs():
    """Within the block (a TFLite conversion), TensorFlow's native INFO and WARNING
    lines and its Python logger's warnings are held back, unless `LARQ_NOBN_TF_LOGS=1`;
    the native lines also pass when `TF_CPP_MIN_LOG_LEVEL` is set (TensorFlow filters
    them at that level)."""
    if logs_requested():
        yield
        return
    import logging

    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
            yield
        else:
            with filtered_native_stderr(is_converter_noise):
                yield
    finally:
        tf_logger.setLevel(level)


@contextlib.contextmanager
def tf_logs_shown(show: bool = True):
    """Within the block, every native log line is shown as with `LARQ_NOBN_TF_LOGS=1`
    (when `show`); the CLI's `--verbose`."""
    previous = os.environ.get(SHOW_ENV)
    if show:
        os.environ[SHOW_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SHOW_ENV, None)
        else:
            os.environ[SHOW_ENV] = previous
