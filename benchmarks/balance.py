"""Section 3, activation imbalance (ABN paper): the fraction of +1 among the binarized
inputs of every binary layer of BinaryNet over a short training, bn vs abn, recorded by
the `larq_nobn.diagnostics.ActivationBalance` callback on fixed test images.

A separate short training (Adam 1e-3, batch 128, real Fashion-MNIST) rather than the
cached runs of section 1, which trained without the callback."""

from __future__ import annotations

from benchmarks import models
from larq_nobn import data
from larq_nobn.diagnostics import ActivationBalance

import numpy as np

PROBE_IMAGES = 256


def train_with_balance(plan, norm: str) -> ActivationBalance:
    """Trains BinaryNet (`norm`) for `plan.balance_steps` steps; returns the callback."""
    import tensorflow as tf

    model = models.build("binarynet", plan.binarynet_width, norm)
    model.compile(
        tf.keras.optimizers.Adam(1e-3),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x_probe, _ = models.fashion_mnist("test", PROBE_IMAGES)
    balance = ActivationBalance(x_probe, every_n_batches=plan.balance_every, log=False)
    train = data.load(
        "fashion_mnist", "train", batch_size=128, training=True, augment=False,
        seed=0, repeat=True,
    )
    model.fit(train.take(plan.balance_steps), callbacks=[balance], verbose=0)
    return balance


def imbalance(history: dict) -> list[float]:
    """Mean over layers of `|fraction - 0.5|` at every record."""
    values = np.array(list(history.values()))  # (layers, records)
    return np.abs(values - 0.5).mean(axis=0).tolist()


def run(plan) -> dict:
    """`{norm: {"steps", "fractions": {layer: [...]}, "imbalance": [...]}}` for bn and
    abn."""
    result = {}
    for norm in ("bn", "abn"):
        balance = train_with_balance(plan, norm)
        result[norm] = {
            "steps": list(balance.steps),
            "fractions": balance.history,
            "imbalance": imbalance(balance.history),
        }
    return result
