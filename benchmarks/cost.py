"""Section 4, training cost: step times side by side in one process (`timing.interleaved`:
the fastest round, and the median over rounds of the ratio to `bn`), random images at
the papers' CIFAR size, Adam 1e-3.

Per model (BinaryNet at `cost_binarynet_width`, ReActNet-18 at `cost_resnet_width`),
the candidates: `bn`, `abn`, `bf` with AGC (the zoo's clip factor, head excluded),
`bf` without AGC, `none`, `bn` compiled with XLA (`jit_compile=True`) and, for
BinaryNet, `larq`: the same bn network written with larq's own layers
(`models.plain_larq_binarynet`), the reference for the zoo's speed.

AGC's share of the bf+AGC step is `(bf+AGC - bf) / bf+AGC`; ScaledWS's share is
`(bf - none) / bf+AGC` (for ReActNet-18 that difference also holds the fixed residual
scalars alpha and beta, a few elementwise multiplications); both from the median
ratios to bn.
"""

from __future__ import annotations

from benchmarks import models, timing
from larq_nobn.optimizers import AGC
from larq_nobn.training import zoo_agc_settings

import numpy as np

CANDIDATES = ("bn", "abn", "bf+agc", "bf", "none", "bn+xla")
#: Candidates of one model only.
EXTRA = {"binarynet": ("larq",)}


def step_function(model_name, width, candidate, x, y):
    """The training step of one candidate."""
    import tensorflow as tf

    norm = candidate.split("+")[0]
    shape = x.shape[1:]
    if candidate == "larq":
        tf.keras.utils.set_random_seed(0)
        model = models.plain_larq_binarynet(width, shape)
    else:
        model = models.build(model_name, width, norm, input_shape=shape)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    if candidate == "bf+agc":
        clip_factor, exclude = zoo_agc_settings(model_name)
        optimizer = AGC(optimizer, clip_factor=clip_factor, exclude=exclude)
    return timing.keras_train_step(model, optimizer, x, y,
                                   jit_compile=candidate == "bn+xla")


def shares(times: dict) -> dict:
    """Seconds per step, ratios to bn and the shares of AGC and ScaledWS from
    `timing.interleaved`'s result (baseline bn)."""
    ratio = {name: t["ratio"] for name, t in times.items()}
    return {
        "seconds_per_step": {name: t["fastest_s"] for name, t in times.items()},
        "ratio_to_bn": ratio,
        "agc_share": (ratio["bf+agc"] - ratio["bf"]) / ratio["bf+agc"],
        "scaledws_share": (ratio["bf"] - ratio["none"]) / ratio["bf+agc"],
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
    every = {"binarynet": plan.cost_binarynet_width, "reactnet18": plan.cost_resnet_width}
    for model_name, width in ((model, every[model]) for model in plan.models):
        steps = {
            candidate: step_function(model_name, width, candidate, x, y)
            for candidate in CANDIDATES + EXTRA.get(model_name, ())
        }
        times = timing.interleaved(steps, plan.cost_rounds, plan.cost_repeats,
                                   baseline="bn")
        result[model_name] = {
            "width": width,
            **shares(times),
            "rounds_s": {name: t["rounds_s"] for name, t in times.items()},
        }
    return result
