"""Side-by-side timing: interleaved rounds, fastest round per candidate.

Every candidate runs `repeats` steps in each round, one candidate after the other, so
that a machine whose load changes slows all of them alike; the fastest round of each
is its time (the least disturbed one), and the ratios are those of the fastest rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def interleaved(
    steps: dict[str, Callable[[], object]],
    rounds: int = 5,
    repeats: int = 2,
    warmup: int = 2,
) -> dict[str, dict]:
    """Times named step functions in interleaved rounds.

    # Arguments
        steps: `{name: step}`; each call runs one step and returns once it is done.
        rounds: Rounds of `repeats` steps per candidate.
        repeats: Steps per round and candidate.
        warmup: Untimed steps of each candidate first (tracing).

    # Returns
        `{name: {"fastest_s", "median_s", "rounds_s"}}`, seconds per step.

    # Raises
        ValueError: for `rounds` or `repeats` < 1.
    """
    if rounds < 1 or repeats < 1:
        raise ValueError(f"rounds and repeats must be >= 1, got {rounds} and {repeats}.")
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
    return {
        name: {
            "fastest_s": min(values),
            "median_s": sorted(values)[len(values) // 2],
            "rounds_s": values,
        }
        for name, values in times.items()
    }


def keras_train_step(model, optimizer, x, y) -> Callable[[], float]:
    """One compiled Keras training step of `model` on the fixed batch `(x, y)`.

    # Returns
        A function running one step and returning its loss (a float, so it waits).
    """
    import tensorflow as tf

    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train_function = model.make_train_function()
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    iterator = iter(dataset)
    return lambda: float(train_function(iterator)["loss"])
