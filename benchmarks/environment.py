"""What the top of the report states: machine, library versions, command, load."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import sys

PACKAGES = ("larq-nobn", "tensorflow", "tf-keras", "larq", "larq-compute-engine",
            "numpy", "matplotlib")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def versions() -> dict:
    result = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            result[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            result[name] = "not installed"
    return result


def describe(argv=None) -> dict:
    """Machine, versions, the exact command and the load average now."""
    argv = sys.argv[1:] if argv is None else argv
    return {
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "versions": versions(),
        "command": "python -m benchmarks " + shlex.join(argv),
        "load_average_start": list(os.getloadavg()),
    }
