"""Drop TensorFlow's start-up notices that only say "no GPU here" or "oneDNN is on".

TensorFlow's native code writes them straight to file descriptor 2 while it loads and
when it first looks for devices, before its logging is set up, so neither
`TF_CPP_MIN_LOG_LEVEL` nor Python's logging can hold them back. On a CPU-only machine
they end in `E0000 ... failed call to cuInit`, which reads like a failure. While
`import larq_nobn` imports TensorFlow and lists its devices, stderr goes to a
temporary file; afterwards every line is written back except the known notices below.
Anything else (a real error, a warning from Python) still reaches stderr, in order.

Set `LARQ_NOBN_TF_STARTUP_LOGS=1` to see every line.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

SHOW_ENV = "LARQ_NOBN_TF_STARTUP_LOGS"

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
    )
)


def is_notice(line: str) -> bool:
    """Whether a line of stderr is one of TensorFlow's known start-up notices."""
    return any(pattern.search(line) for pattern in NOTICES)


@contextlib.contextmanager
def filtered_native_stderr():
    """Within the block, file descriptor 2 goes to a temporary file; on exit the lines
    that are not start-up notices are written to the real stderr."""
    if os.environ.get(SHOW_ENV, "") not in ("", "0"):
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
                if not is_notice(line.rstrip("\n"))
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
