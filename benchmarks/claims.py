"""Verdicts on the papers' claims, each computed from the measured numbers by a rule
stated next to it: `held`, `not held` or `inconclusive`.

Every claim defines a region for its quantity (a difference of mean accuracies, a
mean accuracy, a ratio of standard deviations or of gradient norms) and every rule
is symmetric: `held` needs the whole 95 % interval inside the region, `not held`
needs it entirely outside, and anything else is `inconclusive`. Differences of means
use Welch's t interval with its degrees of freedom, one mean the one-sample t
interval, a ratio of standard deviations the F-test's interval
(`benchmarks.statistics`). With one seed an interval is unbounded, so a verdict on an
accuracy needs at least two seeds on each side.

Each verdict carries the paper's own wording (`quote`) and what the paper tested it on
(`scope`); which of our models judge which claim is `SCOPE`.
"""

from __future__ import annotations

import math

from benchmarks import statistics

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
CONFIDENCE = 0.95
#: Chance accuracy on 10 classes and the margin above it that still counts as failing.
CHANCE, FAIL_MARGIN = 0.10, 0.05
#: Largest accuracy drop of `bf` below `bn` inside Chen et al.'s claim: they call their
#: drops of 0.23-0.44 % (CIFAR) and 1.40 % (ImageNet) "marginal"; 1.5 points covers
#: the largest of them.
BF_TOLERANCE = 0.015
#: The std ratio (abn / bn) whose detection `seeds_needed` reports. Gu et al.'s
#: per-seed stds could not be read here, so this is an assumed effect (half the spread).
CLAIMED_STD_RATIO = 0.5
#: First-layer gradient-norm ratio (none / bn) that counts as an explosion, and the
#: factor either side of it a single measurement (one batch, one initialization, no
#: interval) must clear: held at >= 20, not held at <= 5.
EXPLOSION_RATIO, EXPLOSION_BAND = 10.0, 2.0
#: The per-seed values of a summary entry that each reporting epoch judges.
ACCURACY_KEYS = {"last": "accuracies", "best": "best_accuracies"}

QUOTES = {
    "gu_accuracy": (
        "\"our ABN consistently outperforms the baseline BN across various benchmark "
        "datasets and models in terms of image classification accuracy\" (Gu et al. "
        "2025, abstract)",
        "BinaryNet and ResNet-18 on CIFAR-10, CIFAR-100 and TinyImageNet, 5 seeds",
    ),
    "gu_variance": (
        "\"ABN exhibits less variance on the CIFAR datasets\" (Gu et al. 2025, abstract)",
        "BinaryNet and ResNet-18 on CIFAR-10 and CIFAR-100, 5 seeds",
    ),
    "chen_accuracy": (
        "\"a BN-free BNN is capable of maintaining competitive accuracy compared to its "
        "BN-based counterpart\" ... \"marginal performance drop (0.23%~0.44% on CIFAR and "
        "1.40% on ImageNet)\" (Chen et al. 2021, abstract)",
        "ReActNet-18 on CIFAR-10/100, ReActNet-A on ImageNet",
    ),
    "sari_accuracy": (
        "\"It appears in practice that BNNs fail to train in the absence of Batch "
        "Normalization (BatchNorm) layer\" (Sari et al. 2019, abstract)",
        "BNNs in general (the abstract names no model)",
    ),
    "sari_gradients": (
        "\"We find the main role of BatchNorm is to avoid exploding gradients in the "
        "case of BNNs\" (Sari et al. 2019, abstract)",
        "BNNs in general (the abstract names no model)",
    ),
}
#: The models of section 1 that judge each accuracy claim: the papers' own layouts
#: (Gu et al.: BinaryNet and their ResNet-18; Chen et al.: ReActNet-18), and for Sari
#: et al. BinaryNet plus the residual nets as a stated extension.
SCOPE = {
    "gu_accuracy": ("binarynet", "binary_resnet18"),
    "gu_variance": ("binarynet", "binary_resnet18"),
    "chen_accuracy": ("reactnet18",),
    "sari_accuracy": ("binarynet", "reactnet18", "binary_resnet18"),
}
EXTENSIONS = {"sari_accuracy": ("reactnet18", "binary_resnet18")}


def region_verdict(low: float, high: float, lower: float = -math.inf,
                   upper: float = math.inf) -> str:
    """`held` if `[low, high]` lies inside the region `(lower, upper)`, `not held` if
    it lies entirely outside, `inconclusive` if it straddles a boundary."""
    if lower < low and high < upper:
        return HELD
    if high <= lower or low >= upper:
        return NOT_HELD
    return INCONCLUSIVE


def finite(value):
    """`value`, or None for an unbounded end of an interval (JSON has no infinity)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def one_sided_p(estimate: float, interval: dict, boundary: float, above: bool):
    """The t-test p-value for `estimate > boundary` (`above`) or `< boundary`; None
    without an interval or a spread to test with."""
    if not interval["se"] or interval["df"] is None:
        return None
    t = (estimate - boundary) / interval["se"]
    return statistics.t_cdf(-t if above else t, interval["df"])


def interval_verdict(interval: dict, estimate: float, n: dict, lower: float = -math.inf,
                     upper: float = math.inf) -> dict:
    """An accuracy verdict on a one-sided region `(lower, inf)` or `(-inf, upper)`:
    the verdict, estimate, interval, se, df, n and the one-sided t-test p-value against
    the region's boundary."""
    above = math.isfinite(lower)
    return {
        "verdict": region_verdict(interval["low"], interval["high"], lower, upper),
        "estimate": estimate, "low": finite(interval["low"]),
        "high": finite(interval["high"]), "se": interval["se"], "df": interval["df"],
        "p": one_sided_p(estimate, interval, lower if above else upper, above),
        "confidence": CONFIDENCE, "n": n, "unit": "accuracy",
    }


def quoted(key: str) -> dict:
    quote, scope = QUOTES[key]
    return {"quote": quote, "scope": scope}


def abn_outperforms_bn(bn: list, abn: list) -> dict:
    """Gu et al.: ABN is more accurate than BN. Region: `mean(abn) - mean(bn) > 0`.

    # Arguments
        bn, abn: per-seed test accuracies.
    """
    interval = statistics.welch_interval(abn, bn, CONFIDENCE)
    rule = (
        "gain = mean(abn) - mean(bn), Welch 95 % interval; held if the interval lies "
        "above 0, not held if it lies at or below 0, inconclusive otherwise"
    )
    n = n_of(bn=bn, abn=abn)
    return {"rule": rule, **interval_verdict(interval, interval["diff"], n, lower=0.0),
            **quoted("gu_accuracy")}


def bf_close_to_bn(bn: list, bf: list) -> dict:
    """Chen et al.: BN-free accuracy is competitive with BN's (a marginal drop).
    Region: `mean(bn) - mean(bf) < BF_TOLERANCE`.

    # Arguments
        bn, bf: per-seed test accuracies.
    """
    interval = statistics.welch_interval(bn, bf, CONFIDENCE)
    points = f"{100 * BF_TOLERANCE:g}"
    rule = (
        f"gap = mean(bn) - mean(bf), Welch 95 % interval; held if the interval lies "
        f"below {points} points (the paper's largest drop, 1.40, rounded up), not held "
        f"if it lies at or above {points}, inconclusive otherwise"
    )
    n = n_of(bn=bn, bf=bf)
    return {"rule": rule,
            **interval_verdict(interval, interval["diff"], n, upper=BF_TOLERANCE),
            **quoted("chen_accuracy")}


def none_fails(none: list) -> dict:
    """Sari et al.: BNNs fail to train without BN, in its accuracy form. Region: the
    mean test accuracy of `none` is below `CHANCE + FAIL_MARGIN`.

    # Arguments
        none: per-seed test accuracies of the variant without normalization.
    """
    interval = statistics.mean_interval(none, CONFIDENCE)
    limit = CHANCE + FAIL_MARGIN
    rule = (
        f"mean(none), one-sample t 95 % interval; held if the interval lies below "
        f"{100 * limit:.0f} % (chance {100 * CHANCE:.0f} % + {100 * FAIL_MARGIN:.0f} "
        f"points), not held if it lies at or above, inconclusive otherwise"
    )
    return {"rule": rule,
            **interval_verdict(interval, interval["mean"], n_of(none=none), upper=limit),
            **quoted("sari_accuracy")}


def abn_lower_variance(bn: list, abn: list) -> dict:
    """Gu et al.: ABN's accuracy varies less over seeds than BN's. Region:
    `std(abn) / std(bn) < 1`, judged by the F-test's 95 % interval on the ratio
    (normal seeds assumed); the seeded bootstrap interval and the one-sided p-value are
    reported beside it, with the seeds per norm an F-test needs to detect
    `CLAIMED_STD_RATIO` (power 0.8, one-sided 5 %).

    # Arguments
        bn, abn: per-seed test accuracies.
    """
    test = statistics.variance_ratio_test(abn, bn, CONFIDENCE)
    rule = (
        "ratio = std(abn) / std(bn), F-test 95 % interval; held if the interval lies "
        "below 1, not held if it lies at or above 1, inconclusive otherwise; p = "
        "one-sided F-test p-value for std(abn) < std(bn)"
    )
    return {
        "verdict": region_verdict(test["low"], test["high"], upper=1.0),
        "rule": rule, "estimate": test["ratio"], "low": finite(test["low"]),
        "high": finite(test["high"]), "df": list(test["df"]), "f": test["f"],
        "p": test["p_less"], "p_two_sided": test["p_two_sided"],
        "bootstrap_low": test["bootstrap_low"],
        "bootstrap_high": finite(test["bootstrap_high"]),
        "bootstrap_resamples": test["resamples"], "bootstrap_seed": test["seed"],
        "confidence": CONFIDENCE, "n": n_of(bn=bn, abn=abn), "unit": "ratio",
        "claimed_ratio": CLAIMED_STD_RATIO,
        "seeds_needed": statistics.seeds_needed(CLAIMED_STD_RATIO),
        **quoted("gu_variance"),
    }


def gradient_explosion(norms: dict) -> dict:
    """Sari et al.: without normalization the weight gradients explode at init.
    Region: `ratio >= EXPLOSION_RATIO`; one measurement has no interval, so the rule
    asks it to clear the boundary by `EXPLOSION_BAND` either way.

    # Arguments
        norms: `{norm: {layer: gradient norm}}` of one model (input to output).
    """
    first = {norm: next(iter(layers.values())) for norm, layers in norms.items()}
    ratio = first["none"] / first["bn"] if first["bn"] > 0 else math.inf
    high, low = EXPLOSION_RATIO * EXPLOSION_BAND, EXPLOSION_RATIO / EXPLOSION_BAND
    rule = (
        f"ratio = first-layer gradient norm of none / of bn at init (one batch); region "
        f"ratio >= {EXPLOSION_RATIO:g}; one measurement, so held if ratio >= {high:g}, "
        f"not held if ratio <= {low:g} (a factor {EXPLOSION_BAND:g} either side), "
        "inconclusive in between"
    )
    verdict = HELD if ratio >= high else NOT_HELD if ratio <= low else INCONCLUSIVE
    return {"verdict": verdict, "rule": rule, "estimate": finite(ratio), "unit": "ratio",
            "ratio": finite(ratio), "first_layer": first, **quoted("sari_gradients")}


def difference_of_differences(first_large, first_small, second_large, second_small,
                              confidence: float = CONFIDENCE) -> dict:
    """Welch interval on `(mean(first_large) - mean(first_small)) -
    (mean(second_large) - mean(second_small))`, e.g. how much more a small batch costs
    `bn` than `bf`; `dict(estimate, low, high, se, df)` (`statistics.contrast_interval`)."""
    groups = [first_large, first_small, second_large, second_small]
    return statistics.contrast_interval(groups, [1.0, -1.0, -1.0, 1.0], confidence)


def n_of(**groups) -> dict:
    """`{name: number of seeds}`."""
    return {name: len(values) for name, values in groups.items()}


CHECKS = [
    ("sari_accuracy", "Sari et al.: BNNs fail to train without BN", ("none",), none_fails),
    ("chen_accuracy", f"Chen et al.: `bf` within {100 * BF_TOLERANCE:g} points of `bn`",
     ("bn", "bf"), bf_close_to_bn),
    ("gu_accuracy", "Gu et al.: `abn` outperforms `bn`", ("bn", "abn"), abn_outperforms_bn),
    ("gu_variance", "Gu et al.: `abn` varies less than `bn`", ("bn", "abn"),
     abn_lower_variance),
]


def accuracy_claims(summary: dict, which: str = "last") -> list[dict]:
    """Every accuracy claim for every model of `summary` (`accuracy.summarize` with
    keys `(model, width, norm)`) that is in the claim's `SCOPE` and has the variants it
    needs.

    # Arguments
        summary: `{(model, width, norm): entry}`; an entry holds its per-seed values
            under `ACCURACY_KEYS[which]`.
        which: `"last"` (the last epoch's test accuracy) or `"best"` (the best over
            epochs, as the papers report).
    """
    if which not in ACCURACY_KEYS:
        raise ValueError(f"unknown accuracy {which!r}; accepted: {sorted(ACCURACY_KEYS)}")
    key = ACCURACY_KEYS[which]
    models = sorted({(model, width) for model, width, _ in summary})
    results = []
    for model, width in models:
        for name, claim, needs, check in CHECKS:
            entries = [summary.get((model, width, norm)) for norm in needs]
            if model not in SCOPE[name] or not all(entries):
                continue
            missing = [norm for norm, e in zip(needs, entries) if key not in e]
            if missing:
                raise ValueError(f"summary of {model} x{width} has no {key!r} for "
                                 f"{missing}; `which` accepts {sorted(ACCURACY_KEYS)}")
            verdict = check(*[entry[key] for entry in entries])
            extension = model in EXTENSIONS.get(name, ())
            results.append({"claim": claim, "model": model, "width": width,
                            "accuracy": which, "extension": extension, **verdict})
    return results
