"""benchmarks.statistics against printed tables and closed forms."""

import math

from benchmarks import statistics as st

import pytest


@pytest.mark.parametrize("df, expected", [(2, 4.303), (4, 2.776), (10, 2.228),
                                          (30, 2.042), (1e7, 1.960), (math.inf, 1.960)])
def test_t_quantile_matches_printed_tables(df, expected):
    assert st.t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)
    assert st.t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-4)


@pytest.mark.parametrize("p, d1, d2, expected", [
    (0.95, 2, 2, 19.00), (0.95, 4, 4, 6.388), (0.95, 1, 10, 4.965), (0.99, 5, 10, 5.636)])
def test_f_quantile_matches_printed_tables(p, d1, d2, expected):
    assert st.f_quantile(p, d1, d2) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize("t", [-30.0, -2.5, -0.3, 0.0, 0.7, 4.0])
def test_cdfs_match_closed_forms(t):
    # df 1 is Cauchy; df 2 has cdf 1/2 + t / (2 sqrt(2 + t^2)); F(2, 2) has x / (1 + x)
    assert st.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert st.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    x = abs(t)
    assert st.f_cdf(x, 2, 2) == pytest.approx(x / (1 + x), abs=1e-12)
    assert st.f_sf(x, 2, 2) == pytest.approx(1 / (1 + x), abs=1e-12)


@pytest.mark.parametrize("p", [0.001, 0.05, 0.3, 0.5, 0.8, 0.975, 0.999])
@pytest.mark.parametrize("d1, d2", [(1, 1), (2, 7), (4.5, 3), (30, 60)])
def test_quantiles_invert_the_cdfs(p, d1, d2):
    assert st.t_cdf(st.t_quantile(p, d1), d1) == pytest.approx(p, abs=1e-10)
    x = st.f_quantile(p, d1, d2)
    assert st.f_cdf(x, d1, d2) == pytest.approx(p, abs=1e-10)
    assert st.f_sf(x, d1, d2) == pytest.approx(1 - p, abs=1e-10)


def test_welch_interval_by_hand():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]
    # means 2 and 5; s_a^2 = 1, s_b^2 = 20/3; v_a = 1/3, v_b = 5/3; se = sqrt(2);
    # df = (1/3 + 5/3)^2 / ((1/3)^2 / 2 + (5/3)^2 / 3) = 4 / (1/18 + 25/27) = 216/53
    result = st.welch_interval(a, b)
    assert result["diff"] == pytest.approx(-3.0)
    assert result["se"] == pytest.approx(math.sqrt(2))
    assert result["df"] == pytest.approx(216 / 53)
    half = result["high"] - result["diff"]
    assert result["diff"] - result["low"] == pytest.approx(half)
    # t_{0.975} lies between the tables' 2.776 (df 4) and 2.571 (df 5)
    assert 2.571 * math.sqrt(2) < half < 2.776 * math.sqrt(2)
    assert half == pytest.approx(st.t_quantile(0.975, 216 / 53) * math.sqrt(2))


def test_welch_interval_is_antisymmetric_and_widens_with_confidence():
    a, b = [0.81, 0.79, 0.84, 0.8], [0.7, 0.76, 0.74]
    forward, backward = st.welch_interval(a, b), st.welch_interval(b, a)
    assert backward["diff"] == pytest.approx(-forward["diff"])
    assert backward["low"] == pytest.approx(-forward["high"])
    assert backward["high"] == pytest.approx(-forward["low"])
    assert backward["df"] == pytest.approx(forward["df"])
    narrow = st.welch_interval(a, b, confidence=0.8)
    assert forward["low"] < narrow["low"] < narrow["high"] < forward["high"]


def test_one_seed_gives_an_unbounded_interval_and_no_spread_a_point():
    single = st.welch_interval([0.8], [0.7, 0.75])
    assert (single["low"], single["high"], single["df"]) == (-math.inf, math.inf, None)
    flat = st.welch_interval([0.5, 0.5, 0.5], [0.25, 0.25])
    assert flat["low"] == flat["high"] == 0.25 and flat["se"] == 0.0
    assert st.mean_interval([0.5])["high"] == math.inf
    with pytest.raises(ValueError, match="got none"):
        st.mean_interval([])
    with pytest.raises(ValueError, match="got 1.5"):
        st.welch_interval([1, 2], [3, 4], confidence=1.5)


def test_difference_of_differences_by_hand():
    groups = [[0.0, 2.0], [1.0, 3.0], [0.0, 4.0], [5.0, 5.0]]
    # (1 - 2) - (2 - 5) = 2; v = s^2 / n = 1, 1, 4, 0; se = sqrt(6);
    # df = 6^2 / (1 + 1 + 16 + 0) = 2, t_{0.975,2} = 4.303 (table)
    result = st.contrast_interval(groups, [1, -1, -1, 1])
    assert result["estimate"] == pytest.approx(2.0)
    assert result["se"] == pytest.approx(math.sqrt(6)) and result["df"] == pytest.approx(2)
    assert result["high"] == pytest.approx(2 + 4.303 * math.sqrt(6), abs=1e-2)
    with pytest.raises(ValueError, match="3 weights for 4 groups"):
        st.contrast_interval(groups, [1, -1, 1])


def test_mean_interval_by_hand():
    # mean 2, s = 1, se = 1/sqrt(3), t_{0.975,2} = 4.303 (table)
    result = st.mean_interval([1.0, 2.0, 3.0])
    assert (result["mean"], result["df"], result["n"]) == (2.0, 2, 3)
    assert result["high"] == pytest.approx(2 + 4.303 / math.sqrt(3), abs=1e-3)
    assert result["low"] == pytest.approx(2 - 4.303 / math.sqrt(3), abs=1e-3)


def test_variance_ratio_of_the_issue_example():
    # stds 1.84 (abn) and 1.74 (bn), 3 seeds each: values m - s, m, m + s have std s
    abn, bn = [80 - 1.84, 80, 80 + 1.84], [79 - 1.74, 79, 79 + 1.74]
    result = st.variance_ratio_test(abn, bn)
    f = (1.84 / 1.74) ** 2
    assert result["f"] == pytest.approx(f) and result["f"] == pytest.approx(1.12, abs=5e-3)
    assert result["ratio"] == pytest.approx(1.84 / 1.74)
    # F(2, 2): cdf x / (1 + x), quantile p / (1 - p)
    assert result["p_less"] == pytest.approx(f / (1 + f))
    assert result["p_greater"] == pytest.approx(1 / (1 + f))
    assert result["p_two_sided"] == pytest.approx(2 / (1 + f))
    assert result["low"] == pytest.approx(math.sqrt(f / 39))
    assert result["high"] == pytest.approx(math.sqrt(39 * f))
    assert result["bootstrap_low"] <= result["ratio"] <= result["bootstrap_high"]
    assert st.variance_ratio_test(abn, bn) == result  # seeded


def test_variance_ratio_bootstrap_brackets_a_clear_ratio():
    narrow = [0.0, 0.1, -0.1, 0.05, -0.05, 0.02, -0.02, 0.08]
    wide = [10 * v for v in narrow[::-1]]
    result = st.variance_ratio_test(narrow, wide, resamples=500, seed=3)
    assert result["ratio"] == pytest.approx(0.1)
    assert result["bootstrap_low"] < 0.1 < result["bootstrap_high"] < 1.0
    assert result["high"] < 1.0 and result["p_less"] < 0.001
    assert st.variance_ratio_test([1.0], wide)["p_less"] is None


def test_seeds_needed_shrinks_as_the_effect_grows():
    ratios = [0.9, 0.7, 0.5, 0.3, 0.1]
    needed = [st.seeds_needed(r) for r in ratios]
    assert needed == sorted(needed, reverse=True) and needed[0] > needed[-1]
    assert st.seeds_needed(0.5) == st.seeds_needed(2.0)
    n = needed[2]
    # power of the one-sided F-test at n and n - 1 seeds, from the method's formula
    power = [st.f_cdf(st.f_quantile(0.05, k - 1, k - 1) / 0.25, k - 1, k - 1)
             for k in (n - 1, n)]
    assert power[0] < 0.8 <= power[1]
    assert st.seeds_needed(0.5, power=0.95) > n
    with pytest.raises(ValueError, match="got 1"):
        st.seeds_needed(1)
