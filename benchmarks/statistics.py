"""Small-sample statistics for the report's verdicts, without scipy.

Student's t and Fisher's F distributions through the regularized incomplete beta
function (Lentz's continued fraction), their quantiles by bisection, Welch's interval on
a difference of two means, a one-sample t interval, an F-test (and a seeded bootstrap)
on a ratio of two standard deviations, and the number of seeds such an F-test needs.

# References
    - W. H. Press et al., Numerical Recipes, 3rd ed., section 6.4 (incomplete beta
      function) and 5.2 (modified Lentz's method).
    - B. L. Welch, The generalization of "Student's" problem when several different
      population variances are involved, Biometrika 34 (1947).
"""

from __future__ import annotations

import math
import statistics

import numpy as np

#: Resamples and seed of `variance_ratio_test`'s bootstrap interval.
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 4000, 0
_TINY, _EPS = 1e-300, 1e-15


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of `I_x(a, b)` by the modified Lentz method."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            result *= c * d
        if abs(c * d - 1.0) < _EPS:
            return result
    raise ArithmeticError(f"incomplete beta fraction did not converge (x={x}, a={a}, b={b})")


def regularized_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function `I_x(a, b)` for `0 <= x <= 1`."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"regularized_beta needs 0 <= x <= 1, got x={x}")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )
    # the fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _check_df(**dfs) -> None:
    for name, value in dfs.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0 degrees of freedom, got {value}")


def normal_cdf(z: float) -> float:
    """The standard normal distribution function."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def t_cdf(t: float, df: float) -> float:
    """`P(T <= t)` for Student's t with `df` degrees of freedom (`math.inf`: normal)."""
    _check_df(df=df)
    if math.isinf(df):
        return normal_cdf(t)
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


def f_cdf(x: float, d1: float, d2: float) -> float:
    """`P(F <= x)` for Fisher's F with `(d1, d2)` degrees of freedom."""
    _check_df(d1=d1, d2=d2)
    if x <= 0:
        return 0.0
    return regularized_beta(d1 * x / (d1 * x + d2), d1 / 2.0, d2 / 2.0)


def f_sf(x: float, d1: float, d2: float) -> float:
    """`P(F > x)`, computed from the upper tail directly (accurate for small values)."""
    _check_df(d1=d1, d2=d2)
    if x <= 0:
        return 1.0
    return regularized_beta(d2 / (d2 + d1 * x), d2 / 2.0, d1 / 2.0)


def _bisect(cdf, p: float, low: float, high: float) -> float:
    """The `x` in `[low, high]` with `cdf(x) = p` for an increasing `cdf`, after
    widening `high` (and `low` below 0) until they bracket `p`."""
    while cdf(high) < p:
        low, high = high, 2.0 * high
    while low < 0 and cdf(low) > p:
        low, high = 2.0 * low, low
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        low, high = (middle, high) if cdf(middle) < p else (low, middle)
    return 0.5 * (low + high)


def _check_probability(p: float) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability strictly between 0 and 1 is needed, got {p}")


def t_quantile(p: float, df: float) -> float:
    """The `t` with `t_cdf(t, df) = p` (by bisection)."""
    _check_probability(p)
    _check_df(df=df)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    return _bisect(lambda t: t_cdf(t, df), p, 0.0, 8.0)


def f_quantile(p: float, d1: float, d2: float) -> float:
    """The `x` with `f_cdf(x, d1, d2) = p` (by bisection)."""
    _check_probability(p)
    return _bisect(lambda x: f_cdf(x, d1, d2), p, 0.0, 8.0)


def _check_confidence(confidence: float) -> float:
    _check_probability(confidence)
    return 0.5 + confidence / 2.0


def contrast_interval(groups, weights, confidence: float = 0.95) -> dict:
    """Welch's t interval on `sum_i w_i mean(group_i)`, a linear contrast of group
    means with unequal variances: `se^2 = sum_i v_i`, `v_i = w_i^2 s_i^2 / n_i`, and the
    Welch-Satterthwaite degrees of freedom `df = (sum v_i)^2 / sum (v_i^2 / (n_i - 1))`.

    # Arguments
        groups: lists of values (one list per group).
        weights: one weight per group, e.g. `[1, -1]` for a difference of two means,
            `[1, -1, -1, 1]` for a difference of two differences.
        confidence: the interval's coverage.

    # Returns
        `dict(estimate, low, high, se, df)`. With fewer than 2 values in any group the
        interval is `(-inf, inf)` and `df` None (nothing can be concluded); with no
        spread in any group it is the point `estimate`, `se` 0 and `df` None (the
        formula is 0 / 0).
    """
    groups = [[float(v) for v in group] for group in groups]
    quantile = _check_confidence(confidence)
    if len(weights) != len(groups) or not groups:
        raise ValueError(f"contrast_interval needs one weight per group, got "
                         f"{len(weights)} weights for {len(groups)} groups")
    if not all(groups):
        raise ValueError("contrast_interval needs values in every group, got sizes "
                         f"{[len(group) for group in groups]}")
    estimate = sum(w * statistics.fmean(g) for w, g in zip(weights, groups))
    if min(len(group) for group in groups) < 2:
        return dict(estimate=estimate, low=-math.inf, high=math.inf, se=None, df=None)
    parts = [w * w * statistics.variance(g) / len(g) for w, g in zip(weights, groups)]
    se = math.sqrt(sum(parts))
    if se == 0:
        return dict(estimate=estimate, low=estimate, high=estimate, se=0.0, df=None)
    df = sum(parts) ** 2 / sum(v * v / (len(g) - 1) for v, g in zip(parts, groups))
    half = t_quantile(quantile, df) * se
    return dict(estimate=estimate, low=estimate - half, high=estimate + half, se=se, df=df)


def mean_interval(values, confidence: float = 0.95) -> dict:
    """One-sample t interval on the mean of `values` (`n - 1` degrees of freedom).

    # Returns
        `dict(mean, low, high, se, df, n)`, as `contrast_interval` of one group (`df`
        is `n - 1` also when the values do not spread).
    """
    values = list(values)
    if not values:
        raise ValueError("mean_interval needs at least one value, got none")
    result = contrast_interval([values], [1.0], confidence)
    if len(values) > 1:
        result["df"] = len(values) - 1
    return dict(mean=result.pop("estimate"), **result, n=len(values))


def welch_interval(a, b, confidence: float = 0.95) -> dict:
    """Welch's t interval on `mean(a) - mean(b)` (unequal variances), with the
    Welch-Satterthwaite degrees of freedom
    `df = (v_a + v_b)^2 / (v_a^2 / (n_a - 1) + v_b^2 / (n_b - 1))`, `v = s^2 / n`.

    # Returns
        `dict(diff, low, high, se, df)`. With fewer than 2 values on either side the
        interval is `(-inf, inf)` and `df` None; with no spread on either side it is the
        point `diff` and `df` None (the formula is 0 / 0).
    """
    a, b = list(a), list(b)
    if not a or not b:
        raise ValueError(f"welch_interval needs values on both sides, got {len(a)} and "
                         f"{len(b)}")
    result = contrast_interval([a, b], [1.0, -1.0], confidence)
    return dict(diff=result.pop("estimate"), **result)


def _bootstrap_std_ratio(a, b, confidence, resamples, seed) -> tuple[float, float]:
    """Percentile interval of `std(a*) / std(b*)` over `resamples` resamples of each
    group with replacement (a resample of `b` with no spread gives `inf`)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    std_a = a[rng.integers(0, len(a), (resamples, len(a)))].std(axis=1, ddof=1)
    std_b = b[rng.integers(0, len(b), (resamples, len(b)))].std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(std_b > 0, std_a / np.where(std_b > 0, std_b, 1.0), np.inf)
    ratios = np.where((std_a == 0) & (std_b == 0), 1.0, ratios)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail], method="lower")
    return float(low), float(high)


def variance_ratio_test(
    a, b, confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict:
    """F-test of `std(a) / std(b)` (normal samples): `F = s_a^2 / s_b^2` with
    `(n_a - 1, n_b - 1)` degrees of freedom.

    # Returns
        `dict(ratio, f, df, p_less, p_greater, p_two_sided, low, high, bootstrap_low,
        bootstrap_high, resamples, seed)`: `ratio = s_a / s_b`; `p_less` is the
        one-sided p-value for `std(a) < std(b)`, `p_greater` for `std(a) > std(b)`;
        `low, high` the `confidence` interval on the ratio of standard deviations,
        `sqrt(F / F_q(1 - alpha/2), F / F_q(alpha/2))`; `bootstrap_low, bootstrap_high`
        a percentile interval from `resamples` resamples of each group, seeded by
        `seed`. With fewer than 2 values on a side, or no spread in `b`, the ratio and
        the p-values are None and the intervals `(0, inf)`.
    """
    a, b = [float(v) for v in a], [float(v) for v in b]
    quantile = _check_confidence(confidence)
    result = dict(ratio=None, f=None, df=(len(a) - 1, len(b) - 1), p_less=None,
                  p_greater=None, p_two_sided=None, low=0.0, high=math.inf,
                  bootstrap_low=0.0, bootstrap_high=math.inf, resamples=resamples,
                  seed=seed)
    if min(len(a), len(b)) < 2 or statistics.variance(b) == 0:
        return result
    d1, d2 = len(a) - 1, len(b) - 1
    f = statistics.variance(a) / statistics.variance(b)
    p_less, p_greater = f_cdf(f, d1, d2), f_sf(f, d1, d2)
    result.update(
        ratio=math.sqrt(f), f=f, p_less=p_less, p_greater=p_greater,
        p_two_sided=min(1.0, 2.0 * min(p_less, p_greater)),
        low=math.sqrt(f / f_quantile(quantile, d1, d2)),
        high=math.sqrt(f / f_quantile(1.0 - quantile, d1, d2)),
    )
    result["bootstrap_low"], result["bootstrap_high"] = _bootstrap_std_ratio(
        a, b, confidence, resamples, seed)
    return result


def seeds_needed(ratio: float, alpha: float = 0.05, power: float = 0.8,
                 max_n: int = 10_000) -> int:
    """Seeds per group a one-sided F-test at level `alpha` needs to detect a true
    ratio of standard deviations `ratio` with probability `power`.

    Method: with `n` seeds per group and normal samples, `F = s_a^2 / s_b^2` is
    `ratio^2` times an `F(n - 1, n - 1)` variable. For `ratio < 1` the test rejects
    when `F < F_q(alpha)`, so its power is `f_cdf(F_q(alpha) / ratio^2)`; for
    `ratio > 1` (by symmetry) the same with `1 / ratio`. `n` is searched upward from 2
    until the power reaches `power` (doubling, then bisection: the power grows
    with `n`).

    # Raises
        ValueError: for `ratio` not positive or equal to 1 (no `n` detects no effect),
        or when no `n <= max_n` is enough.
    """
    if not ratio > 0 or ratio == 1:
        raise ValueError(f"seeds_needed needs a std ratio > 0 and != 1, got {ratio}")
    _check_probability(alpha)
    _check_probability(power)
    ratio = min(ratio, 1.0 / ratio)

    def enough(n: int) -> bool:
        critical = f_quantile(alpha, n - 1, n - 1)
        return f_cdf(critical / ratio**2, n - 1, n - 1) >= power

    # the power grows with n: double until enough, then bisect between the last two
    low, high = 1, 2
    while not enough(high):
        if high >= max_n:
            raise ValueError(
                f"no n <= {max_n} detects a std ratio of {ratio} (power {power})")
        low, high = high, min(2 * high, max_n)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high
