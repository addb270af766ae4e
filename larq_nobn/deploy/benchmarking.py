"""Host latency of an LCE flatbuffer and of the same network as a float TFLite model,
timed with LCE's interpreter (`benchmark`).

!!! warning
    On x86, LCE's interpreter runs LCE's portable C++ kernels, not its optimized ARM
    ones: these numbers say nothing about a Raspberry Pi or a phone.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

from larq_nobn.deploy.conversion import ConversionResult, convert, convert_float
from larq_nobn.deploy.errors import DeployError, one_line
from larq_nobn.deploy.flatbuffer import check_flatbuffer, read_flatbuffer
from larq_nobn.deploy.loading import import_tensorflow

import numpy as np

__all__ = [
    "BenchmarkResult",
    "LatencyStats",
    "as_flatbuffer",
    "benchmark",
    "host_description",
    "lce_interpreter",
]

_HOST_NOTE = (
    "LCE's Python interpreter runs LCE's portable C++ kernels on this {arch} host, not "
    "the optimized ARM (aarch64 NEON) kernels, while the float ops use TFLite's optimized "
    "{arch} kernels: these latencies and speedups say nothing about a Raspberry Pi or a "
    "phone. Measure there with LCE's lce_benchmark_model (examples/deploy/README.md)."
)
_ARM_NOTE = (
    "Measured on an ARM host through LCE's Python interpreter; the optimized kernels are "
    "used only if this LCE build was compiled for aarch64 (LCE ships no such wheel)."
)


@dataclasses.dataclass
class LatencyStats:
    """Latency of one model at one thread count, in milliseconds (p90: linear
    interpolation between samples, NumPy's default)."""

    model: str
    threads: int
    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float


@dataclasses.dataclass
class BenchmarkResult:
    """Host latencies of the LCE model and, when known, the float TFLite baseline.

    # Attributes
        rows: One `LatencyStats` per (model, threads); model is `"lce"` or `"float"`.
        host: Machine and CPU description.
        notes: What the numbers mean (x86 kernels, missing baseline).
    """

    rows: list[LatencyStats]
    host: str
    notes: list[str]

    def speedup(self, threads: int) -> float | None:
        """Median float latency / median LCE latency at `threads` (None w/o baseline)."""
        by = {(r.model, r.threads): r for r in self.rows}
        lce, base = by.get(("lce", threads)), by.get(("float", threads))
        if lce is None or base is None or lce.median_ms <= 0:
            return None
        return base.median_ms / lce.median_ms

    def to_dict(self) -> dict:
        threads = sorted({r.threads for r in self.rows})
        return {
            "rows": [dataclasses.asdict(r) for r in self.rows],
            "speedup": {str(t): self.speedup(t) for t in threads},
            "host": self.host,
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        lines = [
            "| model | threads | median ms | p90 ms | min ms | speedup vs float |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            speedup = self.speedup(r.threads) if r.model == "lce" else None
            lines.append(
                f"| {r.model} | {r.threads} | {r.median_ms:.3f} | {r.p90_ms:.3f} | "
                f"{r.min_ms:.3f} | {'' if speedup is None else f'{speedup:.2f}x'} |"
            )
        return "\n".join(lines)

    def to_text(self) -> str:
        return "\n".join(
            [f"Host latency ({self.host}), batch 1:", self.to_markdown()]
            + [f"note: {n}" for n in self.notes]
        )


def host_description() -> str:
    """This machine: `"architecture, CPU model, N cores"`."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {cpu or 'unknown CPU'}, {os.cpu_count()} cores"


def _random_input(interpreter, seed=0):
    shape = tuple(interpreter.input_shapes[0])
    dtype = np.dtype(interpreter.input_types[0])
    rng = np.random.RandomState(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.randint(info.min, info.max + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check_counts(threads, runs, warmup) -> tuple:
    threads = tuple(threads)
    if not threads or any(not isinstance(t, int) or t < 1 for t in threads):
        raise DeployError(f"thread counts must be integers >= 1, got {list(threads)!r}.")
    if not isinstance(runs, int) or runs < 1:
        raise DeployError(f"runs must be an integer >= 1, got {runs!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise DeployError(f"warmup must be an integer >= 0, got {warmup!r}.")
    return threads


def _host_notes(has_baseline: bool) -> list[str]:
    notes = []
    if not has_baseline:
        notes.append(
            "no float baseline: only the .tflite was given; pass the Keras model "
            "(--keras-model) to time the same network as a float TFLite model"
        )
    arch = platform.machine() or "unknown"
    if arch.lower() in ("aarch64", "arm64"):
        notes.append(_ARM_NOTE)
    else:
        notes.append(_HOST_NOTE.format(arch=arch))
    return notes


def as_flatbuffer(model, what: str = "model") -> bytes:
    """The checked flatbuffer of bytes, a `ConversionResult` or a `.tflite` path.

    # Raises
        DeployError: Anything else, or as `check_flatbuffer` / `read_flatbuffer` (a
            missing path, a directory, not a TFLite flatbuffer).
    """
    if isinstance(model, ConversionResult):
        return check_flatbuffer(model.flatbuffer)
    if isinstance(model, (str, os.PathLike)):
        return read_flatbuffer(model)
    if isinstance(model, (bytes, bytearray, memoryview)):
        return check_flatbuffer(model)
    raise DeployError(
        f"benchmark: expected the {what} as flatbuffer bytes, a ConversionResult, the "
        f"path of a .tflite file or a tf.keras.Model, got {type(model).__name__}."
    )


def lce_interpreter(flatbuffer: bytes, threads: int = 1):
    """LCE's `Interpreter` for a flatbuffer, its tensors allocated.

    # Raises
        DeployError: The interpreter cannot allocate the graph (a flatbuffer whose
            graph bytes are damaged, or ops this LCE build lacks).
    """
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    try:
        return Interpreter(flatbuffer, num_threads=threads)
    except (RuntimeError, ValueError) as error:
        raise DeployError(
            f"LCE's interpreter cannot load the model ({one_line(error)}): the .tflite "
            "is damaged or was not written by `larq-nobn convert`; convert it again."
        ) from error


def _time_model(name, flatbuffer, threads, runs, warmup, bar) -> LatencyStats:
    """Times one flatbuffer at one thread count; advances the progress `bar`."""
    interpreter = lce_interpreter(flatbuffer, threads)
    if len(interpreter.input_shapes) != 1:
        raise DeployError("benchmark supports models with one input.")
    x = _random_input(interpreter)
    run_once = getattr(interpreter, "interpreter", None)
    if run_once is not None and hasattr(run_once, "predict"):
        def call():
            return run_once.predict([x])
    else:  # pragma: no cover - public API, a little more overhead
        def call():
            return interpreter.predict(x)
    for _ in range(warmup):
        call()
        bar.update()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
        bar.update()
    times = np.asarray(times)
    return LatencyStats(name, threads, runs, float(np.median(times)),
                        float(np.percentile(times, 90)), float(times.min()),
                        float(times.mean()))


def benchmark(model, threads=(1,), runs: int = 50, warmup: int = 5, *,
              float_tflite=None, keras_model=None, progress: bool = True) -> BenchmarkResult:
    """Host latency (batch 1) of an LCE model and of its float TFLite baseline.

    Each model runs in LCE's `Interpreter` (LCE's ops and TFLite's builtin ops) with
    `num_threads` from `threads`: `warmup` untimed runs, then `runs` timed ones on a
    fixed random input. The float baseline is the same network converted by
    TensorFlow's own TFLite converter (`convert_float`): given directly
    (`float_tflite`), converted from `keras_model`, or both converted when `model` is a
    Keras model. Without any of them only the LCE model is timed, and the notes say so.

    On x86 LCE runs portable C++ kernels, not its optimized ARM ones: the speedup here
    is not the speedup on a device.

    # Arguments
        model: An LCE flatbuffer (`bytes`), a `ConversionResult` (its flatbuffer only:
            pass `keras_model=result.keras_model` for the baseline), the path of a
            `.tflite` file (`str` or `os.PathLike`), or a `tf.keras.Model` (converted
            for arm).
        threads: Thread counts to time.
        runs: Timed runs per (model, threads), >= 1.
        warmup: Untimed runs before them, >= 0.
        float_tflite: The float TFLite baseline (`bytes` or a `.tflite` path), optional.
        keras_model: The Keras model, to convert the baseline from, optional.
        progress: Show a tqdm progress bar on stderr when stderr is a terminal.

    # Returns
        A `BenchmarkResult`.

    # Raises
        DeployError: Bad flatbuffers, a missing or wrong kind of `.tflite` path, a
            `model` of another type, or bad `threads`, `runs` or `warmup`.
    """
    tf = import_tensorflow()
    threads = _check_counts(threads, runs, warmup)
    if isinstance(model, tf.keras.Model):
        keras_model = keras_model or model
        model = convert(model).flatbuffer
    models = {"lce": as_flatbuffer(model)}
    if float_tflite is None and keras_model is not None:
        float_tflite = convert_float(keras_model)
    if float_tflite is not None:
        models["float"] = as_flatbuffer(float_tflite, "float baseline")
    notes = _host_notes("float" in models)
    for flatbuffer in models.values():
        lce_interpreter(flatbuffer)  # a graph it cannot allocate fails before timing

    from tqdm import tqdm

    total = len(models) * len(threads) * (runs + warmup)
    with tqdm(total=total, desc="benchmark", unit="run", disable=None if progress else True,
              file=sys.stderr, leave=False) as bar:
        rows = [
            _time_model(name, flatbuffer, count, runs, warmup, bar)
            for name, flatbuffer in models.items()
            for count in threads
        ]
    return BenchmarkResult(rows, host_description(), notes)
