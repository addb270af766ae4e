"""Section 2, gradient explosion (Sari et al.): the per-layer weight-gradient norm at
initialization of every variant, on one batch of real Fashion-MNIST images, through
`larq_nobn.diagnostics.weight_gradient_norms`."""

from __future__ import annotations

from benchmarks import claims, models
from larq_nobn.diagnostics import weight_gradient_norms


def run(plan) -> dict:
    """`{"norms": {model: {norm: {layer: norm}}}, "claims": [...]}`."""
    x, y = models.fashion_mnist("test", plan.gradient_batch)
    norms, verdicts = {}, []
    for model, width in models.widths(plan).items():
        norms[model] = {
            norm: weight_gradient_norms(models.build(model, width, norm), x, y)
            for norm in plan.norms
        }
        if {"bn", "none"} <= set(plan.norms):
            verdict = claims.gradient_explosion(norms[model])
            verdicts.append(
                {"claim": "Sari et al.: gradients explode without BN", "model": model,
                 "width": width, **verdict}
            )
    return {"batch": int(len(x)), "norms": norms, "claims": verdicts}
