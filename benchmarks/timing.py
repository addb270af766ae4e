"""The one timing of the report: interleaved rounds, the fastest round per candidate,
and the median across rounds of the ratio of two candidates.

Every candidate runs `repeats` steps in each round, one candidate after the other, so
that a machine whose load changes slows all of them alike. A candidate's time is its
fastest round (outside load only ever slows a round down); a ratio between two
candidates is the median over rounds of their per-round ratio (both ran in the same
stretch of load in each round). Every section times through `interleaved`.
"""

from __future__ import annotations

import statistics
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
    if rounds < 1 or repeats < 1 or not steps:
        raise ValueError(
            f"need steps, rounds >= 1 and repeats >= 1, got {len(steps)} steps, "
            f"{rounds} and {repeats}."
        )
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(repeats):
                step()
            times[name].append((time.perf_counter() - start) / repeats)
    return summarize(times, baseline)


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
