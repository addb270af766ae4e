"""One run per output directory: the lock file `OUTPUT/.lock`.

A run (`training.train`, `tuning.tune`) holds its output directory with `RunLock`
while it works in it: the lock file is created atomically (written in full to a
temporary file, then hard-linked to `.lock`, which fails if the lock exists; where the
file system has no hard links, created with `O_CREAT | O_EXCL`) and holds the
holder's process id, host, process start time, start time of the run and command. A
second run into the same directory raises `OutputLockedError` with one line naming
the holder. The lock is removed when the run ends, by an exception too, and by
SIGTERM: while it is held, a SIGTERM that would kill the process (the default
handler) raises `SystemExit(143)` instead, so that the lock is released on the way out.

A lock whose holder is gone (same host, process not running, or another process
with its id) is stale: the next run takes it over with a warning. A lock of another
host cannot be checked: the error names the host and says to delete the file if that
run is over. In a multi-worker run only the chief holds the lock (`enabled=False`
elsewhere).

```python
from larq_nobn.training.lock import RunLock

with RunLock("runs/x"):  # OutputLockedError if a live run holds runs/x
    ...
```
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
import time

from larq_nobn import files

import psutil

__all__ = ["LOCK_NAME", "OutputLockedError", "RunLock", "lock_holder", "lock_path"]

LOCK_NAME = ".lock"

logger = logging.getLogger(__name__)


class OutputLockedError(FileExistsError):
    """A live run holds the output directory (its lock file exists).

    # Arguments
        message: The one-line message.
        holder: The holder's lock record (`pid`, `host`, `started`, ...), or `None`
            when the lock file is unreadable.
        path: The lock file.
    """

    def __init__(self, message, holder=None, path=None):
        super().__init__(message)
        self.holder = holder
        self.path = path

    def __str__(self):
        return self.args[0]


def lock_path(output) -> str:
    """The lock file of the output directory `output`."""
    return os.path.join(os.fspath(output), LOCK_NAME)


def lock_holder(output) -> dict | None:
    """The record of the lock of `output` (`pid`, `host`, `started`, `command`,
    `create_time`), `None` without a lock, `{}` for an unreadable lock file."""
    try:
        record = files.read_json(lock_path(output))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and "pid" in record else {}


def _process_start(pid) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def _holder_alive(record) -> bool:
    """Whether the holder of a lock of this host still runs (a process with its id
    that started when it did)."""
    try:
        pid = int(record["pid"])
    except (KeyError, TypeError, ValueError):
        return True  # cannot tell: assume so
    start = _process_start(pid)
    if start is None:
        return False
    recorded = record.get("create_time")
    return recorded is None or abs(float(recorded) - start) < 1.0


def _record() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "create_time": _process_start(os.getpid()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
    }


def _describe(record) -> str:
    return (
        f"pid {record.get('pid')} on host {record.get('host')}, started "
        f"{record.get('started', '?')}: {record.get('command', '?')}"
    )


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


class RunLock:
    """Holds an output directory for one run (see the module documentation).

    # Arguments
        output: The directory; created when missing (`created` tells).
        enabled: `False`: a no-op (the non-chief workers of a multi-worker run).

    # Raises
        OutputLockedError: (on `acquire` / `with`) A live run holds the directory.
    """

    def __init__(self, output, enabled: bool = True):
        self.output = os.fspath(output)
        self.path = lock_path(self.output)
        self.enabled = enabled
        self.created = False
        self.held = False
        self._previous_handler = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False

    def acquire(self) -> RunLock:
        """Creates the directory if needed and takes the lock; returns `self`."""
        if not self.enabled or self.held:
            return self
        self._make_directory()
        for _ in range(3):
            if self._create():
                self.held = True
                self._install_sigterm()
                return self
            self._check_holder()  # raises, or removes a stale lock
        raise OutputLockedError(
            f"Cannot lock {self.output!r}: {self.path} keeps reappearing; another run "
            "is starting in it.",
            path=self.path,
        )

    def release(self):
        """Removes the lock (if this run holds it)."""
        if not self.held:
            return
        self.held = False
        self._restore_sigterm()
        record = lock_holder(self.output)
        if record and record.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)

    def _make_directory(self):
        if os.path.exists(self.output) and not os.path.isdir(self.output):
            raise NotADirectoryError(
                f"Output path {self.output!r} exists and is not a directory."
            )
        if os.path.isdir(self.output):
            return
        try:
            os.makedirs(self.output)
        except OSError as error:
            raise PermissionError(
                f"Output directory {self.output!r} is not writable: cannot create it "
                f"({error.strerror or error})."
            ) from None
        self.created = True

    def _create(self) -> bool:
        """Writes the lock file; `False` if it exists."""
        content = json.dumps(_record(), indent=2)
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as stream:
                stream.write(content)
        except OSError as error:
            raise PermissionError(
                f"Output directory {self.output!r} is not writable: cannot create "
                f"its lock file ({error.strerror or error})."
            ) from None
        try:
            os.link(temporary, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here: exclusive creation instead
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(content)
            return True
        finally:
            os.remove(temporary)

    def _check_holder(self):
        """Raises `OutputLockedError` for a live holder; removes a stale lock."""
        record = lock_holder(self.output)
        if record is None:
            return  # released meanwhile
        if not record:
            raise OutputLockedError(
                f"Output directory {self.output!r} is locked by {self.path}, which is "
                "unreadable; if no run is using the directory, delete that file.",
                path=self.path,
            )
        if record.get("host") != socket.gethostname():
            raise OutputLockedError(
                f"Output directory {self.output!r} is in use by a run on another host "
                f"({_describe(record)}); if that run is over, delete {self.path} and "
                "start again.",
                record,
                self.path,
            )
        if _holder_alive(record):
            raise OutputLockedError(
                f"Output directory {self.output!r} is in use by another run "
                f"({_describe(record)}); wait for it to end or choose another output "
                "directory.",
                record,
                self.path,
            )
        logger.warning(
            "Taking over the stale lock %s of pid %s, which no longer runs.",
            self.path,
            record.get("pid"),
        )
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def _install_sigterm(self):
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_handler = signal.signal(signal.SIGTERM, _terminate)

    def _restore_sigterm(self):
        if self._previous_handler is None:
            return
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_handler)
        self._previous_handler = None
