"""Verdicts on the papers' claims, each computed from the measured numbers by a rule
stated next to it: `held`, `not held` or `inconclusive`.

Accuracy claims compare means over seeds; `se` is the standard error of a difference
of two means, `sqrt(s_a^2 / n_a + s_b^2 / n_b)` (0 with one seed each), and a
difference counts as real when it exceeds `2 se`.
"""

from __future__ import annotations

import math

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
#: Chance accuracy on 10 classes and the margin above it that still counts as failing.
CHANCE, FAIL_MARGIN = 0.10, 0.05
#: "Within about 1 point" of the BN-free paper.
BF_TOLERANCE = 0.01
#: First-layer gradient-norm ratio (none / bn) that counts as an explosion, and the
#: ratio under which there is none.
EXPLOSION_RATIO, NO_EXPLOSION_RATIO = 10.0, 2.0


def standard_error(a: dict, b: dict) -> float:
    """Standard error of `mean(a) - mean(b)` from two `summarize` entries."""
    return math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])


def none_fails(none: dict) -> dict:
    """Sari et al.: without normalization a BNN does not train."""
    rule = (
        f"held if every seed of `none` ends within {100 * FAIL_MARGIN:.0f} points of "
        f"chance ({100 * CHANCE:.0f} %), not held if every seed ends above that, "
        "inconclusive otherwise"
    )
    limit = CHANCE + FAIL_MARGIN
    values = none["accuracies"]
    verdict = (
        HELD if max(values) <= limit else NOT_HELD if min(values) > limit else INCONCLUSIVE
    )
    return {"verdict": verdict, "rule": rule, "none_mean": none["mean"]}


def bf_close_to_bn(bn: dict, bf: dict) -> dict:
    """Chen et al.: BN-free comes within about 1 point of BN."""
    gap = bn["mean"] - bf["mean"]
    se = standard_error(bn, bf)
    rule = (
        f"gap = mean(bn) - mean(bf); held if gap <= {100 * BF_TOLERANCE:.0f} point, not "
        f"held if gap - 2 se > {100 * BF_TOLERANCE:.0f} point, inconclusive otherwise"
    )
    if gap <= BF_TOLERANCE:
        verdict = HELD
    elif gap - 2 * se > BF_TOLERANCE:
        verdict = NOT_HELD
    else:
        verdict = INCONCLUSIVE
    return {"verdict": verdict, "rule": rule, "gap": gap, "se": se}


def abn_at_least_bn(bn: dict, abn: dict) -> dict:
    """Gu et al.: ABN is at least as accurate as BN."""
    gain = abn["mean"] - bn["mean"]
    se = standard_error(bn, abn)
    rule = (
        "gain = mean(abn) - mean(bn); held if gain >= 0, not held if gain + 2 se < 0, "
        "inconclusive otherwise"
    )
    verdict = HELD if gain >= 0 else NOT_HELD if gain + 2 * se < 0 else INCONCLUSIVE
    return {"verdict": verdict, "rule": rule, "gain": gain, "se": se}


def abn_lower_variance(bn: dict, abn: dict) -> dict:
    """Gu et al.: ABN's accuracy varies less over seeds than BN's."""
    rule = (
        "held if std(abn) < std(bn), not held if std(abn) > std(bn), inconclusive "
        "with fewer than 2 seeds or equal stds (3 seeds only rank the two roughly)"
    )
    if min(bn["n"], abn["n"]) < 2 or abn["std"] == bn["std"]:
        verdict = INCONCLUSIVE
    else:
        verdict = HELD if abn["std"] < bn["std"] else NOT_HELD
    return {"verdict": verdict, "rule": rule, "std_bn": bn["std"], "std_abn": abn["std"]}


def gradient_explosion(norms: dict) -> dict:
    """Sari et al.: without normalization the weight gradients explode at init.

    # Arguments
        norms: `{norm: {layer: gradient norm}}` of one model (input to output).
    """
    first = {norm: next(iter(layers.values())) for norm, layers in norms.items()}
    ratio = first["none"] / first["bn"] if first["bn"] > 0 else math.inf
    rule = (
        f"ratio = first-layer norm of none / of bn; held if ratio >= {EXPLOSION_RATIO:g}, "
        f"not held if ratio <= {NO_EXPLOSION_RATIO:g}, inconclusive in between"
    )
    if ratio >= EXPLOSION_RATIO:
        verdict = HELD
    elif ratio <= NO_EXPLOSION_RATIO:
        verdict = NOT_HELD
    else:
        verdict = INCONCLUSIVE
    return {"verdict": verdict, "rule": rule, "ratio": ratio, "first_layer": first}


def accuracy_claims(summary: dict) -> list[dict]:
    """Every accuracy claim for every model of `summary` (`accuracy.summarize` with
    keys `(model, width, norm)`) that has the variants it needs."""
    checks = [
        ("Sari et al.: `none` fails to train", ("none",), none_fails),
        ("Chen et al.: `bf` within ~1 point of `bn`", ("bn", "bf"), bf_close_to_bn),
        ("Gu et al.: `abn` at least as accurate as `bn`", ("bn", "abn"), abn_at_least_bn),
        ("Gu et al.: `abn` varies less than `bn`", ("bn", "abn"), abn_lower_variance),
    ]
    models = sorted({(model, width) for model, width, _ in summary})
    results = []
    for model, width in models:
        for claim, needs, check in checks:
            entries = [summary.get((model, width, norm)) for norm in needs]
            if all(entries):
                verdict = check(*entries)
                results.append({"claim": claim, "model": model, "width": width, **verdict})
    return results
