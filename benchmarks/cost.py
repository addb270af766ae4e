"""Section 4, training cost: step times side by side in one process (interleaved
rounds, fastest round; see `benchmarks.timing`), random images at the papers' CIFAR
size, Adam 1e-3.

Per model (BinaryNet at `cost_binarynet_width`, ReActNet-18 at `cost_resnet_width`),
five candidates: `bn`, `abn`, `bf` with AGC (the zoo's clip factor, head excluded),
`bf` without AGC and `none`. Ratios are to `bn`. AGC's share of the `bf` step is
`(bf+AGC - bf) / bf+AGC`; ScaledWS's share is `(bf - none) / bf+AGC` (for ReActNet-18
that difference also holds the fixed residual scalars alpha and beta, a few
elementwise multiplications).
"""

from __future__ import annotations

from benchmarks import models, timing
from larq_nobn.optimizers import AGC
from larq_nobn.training import zoo_agc_settings

import numpy as np

CANDIDATES = ("bn", "abn", "bf+agc", "bf", "none")


def step_function(model_name, width, candidate, plan, x, y):
    """The training step of one candidate."""
    import tensorflow as tf

    norm = candidate.split("+")[0]
    shape = x.shape[1:]
    model = models.build(model_name, width, norm, input_shape=shape)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    if candidate == "bf+agc":
        clip_factor, exclude = zoo_agc_settings(model_name)
        optimizer = AGC(optimizer, clip_factor=clip_factor, exclude=exclude)
    return timing.keras_train_step(model, optimizer, x, y)


def shares(times: dict) -> dict:
    """Ratios to bn and the shares of AGC and ScaledWS from fastest-round times."""
    fastest = {name: t["fastest_s"] for name, t in times.items()}
    bf_agc = fastest["bf+agc"]
    return {
        "seconds_per_step": fastest,
        "ratio_to_bn": {name: t / fastest["bn"] for name, t in fastest.items()},
        "agc_share": (bf_agc - fastest["bf"]) / bf_agc,
        "scaledws_share": (fastest["bf"] - fastest["none"]) / bf_agc,
    }


def run(plan) -> dict:
    """`{model: {"width", "seconds_per_step", "ratio_to_bn", "agc_share",
    "scaledws_share", "rounds_s"}}` plus the sizes under `"setup"`."""
    rng = np.random.default_rng(0)
    shape = (plan.cost_batch, plan.cost_image, plan.cost_image, 3)
    x = rng.normal(size=shape).astype(np.float32)
    y = rng.integers(0, 10, size=plan.cost_batch).astype(np.int32)
    result = {
        "setup": {
            "batch_size": plan.cost_batch,
            "image": list(shape[1:]),
            "rounds": plan.cost_rounds,
            "steps_per_round": plan.cost_repeats,
        }
    }
    every = {"binarynet": plan.cost_binarynet_width, "resnet18": plan.cost_resnet_width}
    for model_name, width in ((model, every[model]) for model in plan.models):
        steps = {
            candidate: step_function(model_name, width, candidate, plan, x, y)
            for candidate in CANDIDATES
        }
        times = timing.interleaved(steps, plan.cost_rounds, plan.cost_repeats)
        result[model_name] = {
            "width": width,
            **shares(times),
            "rounds_s": {name: t["rounds_s"] for name, t in times.items()},
        }
    return result
