"""The zoo side of `benchmarks.authors.cost`: a worker process (`timing.serve`) that
builds zoo models as `larq-nobn train` does (`training.build_model`, the optimizer of
`training.make_optimizer`: the zoo's Adam, wrapped in AGC for `bf`, no weight
decay) and times their
compiled training steps (`timing.keras_train_step`).

    python -m benchmarks.authors.zoo_worker THREADS

TensorFlow runs with `THREADS` intra-op threads and 1 inter-op thread (as the torch
worker's `set_num_threads(THREADS)` and `set_num_interop_threads(1)`).
"""

from __future__ import annotations

import os
import sys

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from benchmarks import models, timing
from larq_nobn import training

import numpy as np


def make_step(spec: dict):
    """The training step of `spec`: `{"model", "norm", "width", "batch", "size",
    "learning_rate", "agc"}` (`agc`: the clip factor, or `None` for none)."""
    shape = (spec["size"], spec["size"], 3)
    model = models.build(spec["model"], spec["width"], spec["norm"], input_shape=shape)
    config = training.TrainConfig(
        model=spec["model"], norm=spec["norm"], width_multiplier=spec["width"],
        optimizer="adam", learning_rate=spec["learning_rate"],
        agc_clip_factor=spec["agc"] if spec["agc"] is not None else 0, weight_decay=0.0,
    )
    optimizer = training.make_optimizer(
        config, total_steps=10**6, model=model,
        exclude=training.zoo_agc_settings(spec["model"])[1])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(spec["batch"], *shape)).astype(np.float32)
    y = rng.integers(0, models.CLASSES, size=spec["batch"]).astype(np.int32)
    return timing.keras_train_step(model, optimizer, x, y)


def main(argv=None):
    import tensorflow as tf

    threads = int((argv or sys.argv[1:])[0])
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    timing.serve(make_step)
    # Every answer is written: skip TensorFlow's interpreter shutdown, which can hang
    # after training steps ran (measured: a worker never exited).
    os._exit(0)


if __name__ == "__main__":
    main()
