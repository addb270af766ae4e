"""The one timing of the report: interleaved rounds, the fastest round per candidate,
and the median across rounds of the ratio of two candidates.

Every candidate runs `repeats` steps in each round, one candidate after the other, so
that a machine whose load changes slows all of them alike. A candidate's time is its
fastest round (outside load only ever slows a round down); a ratio between two
candidates is the median over rounds of their per-round ratio (both ran in the same
stretch of load in each round). Every section times through `interleaved`.

`alternating` does the same across processes (one worker process per framework, each
serving its steps with `serve`): a round asks each `Worker` in turn to time its steps,
and a worker computes only while the parent waits on it, so no two compete for the
cores.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def median_ratio(rounds_a: list[float], rounds_b: list[float]) -> float:
    """The median over rounds of `a / b`, from the per-round times of two candidates
    timed in the same interleaved rounds.

    # Raises
        ValueError: for sequences of different lengths or empty ones.
    """
    if len(rounds_a) != len(rounds_b) or not rounds_a:
        raise ValueError(
            f"need the same number (>= 1) of rounds, got {len(rounds_a)} and {len(rounds_b)}."
        )
    return statistics.median(a / b for a, b in zip(rounds_a, rounds_b))


def summarize(rounds_s: dict[str, list[float]], baseline: str | None = None) -> dict:
    """The statistic of `interleaved` from per-round times.

    # Arguments
        rounds_s: `{name: [seconds per step in round 1, 2, ...]}`, every list as long.
        baseline: The candidate that ratios are taken to (default: the first one).

    # Returns
        `{name: {"fastest_s", "ratio", "rounds_s"}}`: the fastest round and the median
        over rounds of `name / baseline`.

    # Raises
        ValueError: for an unknown `baseline` or lists of different lengths.
    """
    baseline = next(iter(rounds_s)) if baseline is None else baseline
    if baseline not in rounds_s:
        raise ValueError(f"baseline {baseline!r} is not a candidate: {sorted(rounds_s)}.")
    return {
        name: {
            "fastest_s": min(values),
            "ratio": median_ratio(values, rounds_s[baseline]),
            "rounds_s": list(values),
        }
        for name, values in rounds_s.items()
    }


def interleaved(
    steps: dict[str, Callable[[], object]],
    rounds: int = 5,
    repeats: int = 2,
    warmup: int = 2,
    baseline: str | None = None,
) -> dict[str, dict]:
    """Times named step functions in interleaved rounds.

    # Arguments
        steps: `{name: step}`; each call runs one step and returns once it is done.
        rounds: Rounds of `repeats` steps per candidate.
        repeats: Steps per round and candidate.
        warmup: Untimed steps of each candidate first (tracing, caches).
        baseline: The candidate of the ratios (default: the first one).

    # Returns
        `summarize` of the per-round seconds per step.

    # Raises
        ValueError: for `rounds` or `repeats` < 1, or no steps.
    """
    runs = {name: (lambda n, step=step: timed(step, n)) for name, step in steps.items()}
    return summarize(alternate(runs, rounds, repeats, warmup), baseline)


def timed(step: Callable[[], object], repeats: int, clock: Callable[[], float] | None = None
          ) -> float:
    """Seconds per call of `step` over `repeats` calls in a row (`clock`: default
    `time.perf_counter`)."""
    clock = clock or time.perf_counter
    start = clock()
    for _ in range(repeats):
        step()
    return (clock() - start) / repeats


def alternate(runs: dict[str, Callable[[int], float]], rounds: int, repeats: int,
              warmup: int = 0) -> dict[str, list[float]]:
    """The rounds of `interleaved` and `alternating`: each `run(n)` runs `n` steps of
    one candidate and returns its seconds per step; first one untimed `run(warmup)`
    each (when `warmup` > 0), then `rounds` rounds of `run(repeats)`, one candidate
    after the other.

    # Returns
        `{name: [seconds per step in round 1, 2, ...]}`.
    """
    if rounds < 1 or repeats < 1 or not runs:
        raise ValueError(
            f"need steps, rounds >= 1 and repeats >= 1, got {len(runs)} steps, "
            f"{rounds} and {repeats}."
        )
    for run in runs.values():
        if warmup > 0:
            run(warmup)
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run(repeats))
    return times


def keras_train_step(model, optimizer, x, y, jit_compile: bool = False) -> Callable[[], float]:
    """One compiled Keras training step of `model` on the fixed batch `(x, y)`.

    # Arguments
        model, optimizer: A built Keras model and its optimizer (compiled here, with a
            sparse categorical cross-entropy on logits).
        x, y: The batch every step trains on.
        jit_compile: Compile the step with XLA.

    # Returns
        A function running one step and returning its loss (a float, so it waits).
    """
    import tensorflow as tf

    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    train_function = model.make_train_function()
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    iterator = iter(dataset)
    return lambda: float(train_function(iterator)["loss"])


def serve(make_step: Callable[[dict], Callable[[], object]], clock=None,
          instream=None, outstream=None) -> None:
    """The loop of a worker process of `alternating`: reads one JSON request a line and
    answers each with one JSON line, until its input ends.

    Requests: `{"op": "build", "name", "spec"}` stores `make_step(spec)` (the step of
    candidate `name`; answer `{"ok": true}`); `{"op": "time", "name", "repeats"}` runs
    that many steps (`timed`, with `clock`) and answers `{"seconds": per step}`. A
    failing request answers `{"error": "<type>: <message>"}` and the loop goes on.
    Without `outstream`, answers go to the process's standard output, which is moved
    away from everything else (whatever prints goes to standard error).
    """
    if outstream is None:
        outstream = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    steps = {}
    for line in instream or sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "build":
                steps[request["name"]] = make_step(request["spec"])
                answer = {"ok": True}
            elif request["op"] == "time":
                answer = {"seconds": timed(steps[request["name"]], request["repeats"], clock)}
            else:
                raise ValueError(f"unknown op {request['op']!r}; accepted: build, time")
        except Exception as error:  # noqa: BLE001  (answered, the parent raises it)
            answer = {"error": f"{type(error).__name__}: {error}"}
        outstream.write(json.dumps(answer) + "\n")
        outstream.flush()


class Worker:
    """A worker process of `alternating` (running `serve`), talked to over its pipes.

    # Arguments
        command: The process's command line.
        label: Its name in error messages (e.g. `"torch"`).
        env: Extra environment variables.
    """

    def __init__(self, command: list[str], label: str, env: dict | None = None):
        self.label = label
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env={**os.environ, **(env or {})},
        )

    def request(self, message: dict) -> dict:
        """Sends one request and returns the answer.

        # Raises
            RuntimeError: the worker answered an error or exited (with the last line
                of its standard error).
        """
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._stderr.seek(0)
            lines = self._stderr.read().strip().splitlines() or ["(no output)"]
            raise RuntimeError(f"the {self.label} worker exited "
                               f"(code {self.process.wait()}): {lines[-1]}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the {self.label} worker failed on "
                               f"{message.get('name')!r}: {answer['error']}")
        return answer

    def build(self, name: str, spec: dict) -> None:
        """Makes the worker build the step of candidate `name` from `spec`."""
        self.request({"op": "build", "name": name, "spec": spec})

    def runner(self, name: str) -> Callable[[int], float]:
        """`run(n)` of `alternate`: `n` steps of `name` in the worker, seconds per step."""
        return lambda n: self.request({"op": "time", "name": name, "repeats": n})["seconds"]

    def close(self, timeout: float = 30) -> None:
        """Ends the worker: its input closes, so `serve` returns; a worker still
        running `timeout` seconds later is killed."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def alternating(candidates: dict[str, tuple[Worker, str]], rounds: int = 5,
                repeats: int = 2, warmup: int = 2, baseline: str | None = None) -> dict:
    """Times steps served by worker processes in alternating rounds: in each round
    every candidate's worker runs `repeats` steps in turn, the others waiting.

    # Arguments
        candidates: `{name: (worker, the worker's name of the step)}`, each built.
        rounds, repeats, warmup, baseline: As in `interleaved`.

    # Returns
        `summarize` of the per-round seconds per step.
    """
    runs = {name: worker.runner(step) for name, (worker, step) in candidates.items()}
    return summarize(alternate(runs, rounds, repeats, warmup), baseline)
