"""benchmarks.claims: symmetric interval rules on the issue's own examples and on
clear cases either way."""

import math

from benchmarks import claims, statistics

import pytest

# v1 report (BENCHMARKS.md section 1), per-seed test accuracies
BINARYNET_BN = [0.8874, 0.8883, 0.8890]
BINARYNET_BF = [0.8842, 0.8772, 0.8832]
REACTNET_BN = [0.7808, 0.7615, 0.7962]
REACTNET_ABN = [0.8064, 0.7935, 0.7701]
REACTNET_NONE = [0.7813, 0.7802, 0.7669]


def spread(mean, std, n=3):
    """`n` values with this mean and sample std (n = 3: mean - std, mean, mean + std)."""
    if n == 3:
        return [mean - std, mean, mean + std]
    half = [mean + std * math.sqrt((n - 1) / n), mean - std * math.sqrt((n - 1) / n)]
    return half * (n // 2)


def test_issue_example_bf_gap_is_inconclusive():
    verdict = claims.bf_close_to_bn(BINARYNET_BN, BINARYNET_BF)
    assert verdict["estimate"] == pytest.approx(0.0067, abs=1e-4)
    assert verdict["se"] == pytest.approx(0.0022, abs=1e-4)
    # bf's spread dominates: df = (v_bn + v_bf)^2 / (v_bn^2 / 2 + v_bf^2 / 2) ~ 2.2
    assert 2 < verdict["df"] < 2.5 and verdict["n"] == {"bn": 3, "bf": 3}
    # t_{0.975, 2.2} ~ 4: the interval reaches from below 0 to above 1.5 points
    assert verdict["low"] < 0 and verdict["high"] > claims.BF_TOLERANCE
    assert verdict["verdict"] == claims.INCONCLUSIVE
    assert "BN-based counterpart" in verdict["quote"] and "ReActNet-18" in verdict["scope"]


def test_bf_clear_cases():
    held = claims.bf_close_to_bn(spread(0.80, 0.002), spread(0.798, 0.002))
    assert held["verdict"] == claims.HELD and held["high"] < claims.BF_TOLERANCE
    worse = claims.bf_close_to_bn(spread(0.80, 0.002), spread(0.75, 0.002))
    assert worse["verdict"] == claims.NOT_HELD and worse["low"] >= claims.BF_TOLERANCE


def test_issue_example_abn_gain_is_inconclusive():
    verdict = claims.abn_outperforms_bn(REACTNET_BN, REACTNET_ABN)
    assert verdict["estimate"] == pytest.approx(0.0105, abs=1e-4)
    assert verdict["se"] == pytest.approx(0.0146, abs=1e-4)
    assert verdict["verdict"] == claims.INCONCLUSIVE
    assert "consistently outperforms" in verdict["quote"]


def test_abn_gain_is_symmetric():
    bn, abn = spread(0.80, 0.003), spread(0.82, 0.003)
    held, reverse = claims.abn_outperforms_bn(bn, abn), claims.abn_outperforms_bn(abn, bn)
    assert (held["verdict"], reverse["verdict"]) == (claims.HELD, claims.NOT_HELD)
    assert reverse["low"] == pytest.approx(-held["high"])
    assert reverse["df"] == pytest.approx(held["df"])
    # one seed on a side: unbounded interval, reported as None, never a verdict
    single = claims.abn_outperforms_bn([0.80], abn)
    assert (single["low"], single["high"], single["df"]) == (None, None, None)
    assert single["verdict"] == claims.INCONCLUSIVE


def test_accuracy_p_value_against_the_closed_form_of_t2():
    # bn has no spread, so df = n(abn) - 1 = 2; t = 0.03 / (0.01 / sqrt(3)) = 3 sqrt(3);
    # t with 2 df has cdf 1/2 + t / (2 sqrt(2 + t^2))
    verdict = claims.abn_outperforms_bn([0.5, 0.5, 0.5], [0.52, 0.53, 0.54])
    t = 3 * math.sqrt(3)
    assert verdict["df"] == pytest.approx(2)
    assert verdict["p"] == pytest.approx(0.5 - t / (2 * math.sqrt(2 + t * t)), rel=1e-6)
    # p < 0.025 exactly when the 95 % interval clears 0 (t = 5.2 > t_{0.975,2} = 4.303)
    assert verdict["p"] < 0.025 and verdict["verdict"] == claims.HELD
    smaller = claims.abn_outperforms_bn([0.5, 0.5, 0.5], [0.51, 0.52, 0.53])
    assert smaller["p"] > 0.025 and smaller["verdict"] == claims.INCONCLUSIVE


def test_issue_example_variance_is_inconclusive_with_its_p_value():
    abn, bn = spread(0.79, 0.0184), spread(0.78, 0.0174)
    verdict = claims.abn_lower_variance(bn, abn)
    f = (1.84 / 1.74) ** 2
    assert verdict["f"] == pytest.approx(f) and round(verdict["f"], 2) == 1.12
    # F(2, 2) has cdf x / (1 + x): p for std(abn) < std(bn) is F / (1 + F) ~ 0.53
    assert verdict["p"] == pytest.approx(f / (1 + f))
    assert verdict["low"] < 1 < verdict["high"]
    assert verdict["verdict"] == claims.INCONCLUSIVE
    assert verdict["seeds_needed"] == statistics.seeds_needed(claims.CLAIMED_STD_RATIO)
    assert verdict["seeds_needed"] > 3 and verdict["df"] == [2, 2]


def test_variance_clear_cases():
    bn, abn = spread(0.8, 0.02, n=8), spread(0.8, 0.002, n=8)
    held = claims.abn_lower_variance(bn, abn)
    assert held["verdict"] == claims.HELD and held["high"] < 1 and held["p"] < 0.001
    assert held["estimate"] == pytest.approx(0.1)
    assert claims.abn_lower_variance(abn, bn)["verdict"] == claims.NOT_HELD
    assert claims.abn_lower_variance([0.8], abn)["verdict"] == claims.INCONCLUSIVE


def test_none_fails_accuracy_form():
    chance = claims.none_fails([0.1, 0.1, 0.1])
    assert chance["verdict"] == claims.HELD and chance["high"] == pytest.approx(0.1)
    assert chance["df"] == 2 and chance["p"] is None
    trains = claims.none_fails(REACTNET_NONE)
    assert trains["verdict"] == claims.NOT_HELD and trains["low"] > 0.7
    # mean 0.233, se 0.133, t_{0.975,2} = 4.303: the interval straddles 15 %
    mixed = claims.none_fails([0.1, 0.5, 0.1])
    assert mixed["verdict"] == claims.INCONCLUSIVE and mixed["df"] == 2
    assert claims.none_fails([0.1])["verdict"] == claims.INCONCLUSIVE


@pytest.mark.parametrize("ratio, expected", [
    (8599.0, claims.HELD), (20.0, claims.HELD), (12.0, claims.INCONCLUSIVE),
    (5.0, claims.NOT_HELD), (0.044, claims.NOT_HELD)])
def test_gradient_explosion(ratio, expected):
    norms = {"bn": {"conv": 2.0, "dense": 1.0}, "none": {"conv": 2.0 * ratio, "dense": 1.0}}
    verdict = claims.gradient_explosion(norms)
    assert verdict["verdict"] == expected and verdict["ratio"] == pytest.approx(ratio)


def test_difference_of_differences():
    result = claims.difference_of_differences([0.0, 2.0], [1.0, 3.0], [0.0, 4.0], [5.0, 5.0])
    # (1 - 2) - (2 - 5) = 2, se^2 = 1 + 1 + 4 + 0
    assert result["estimate"] == pytest.approx(2.0)
    assert result["se"] == pytest.approx(math.sqrt(6))


def entry(values, best=None):
    return {"accuracies": values, "best_accuracies": best or values}


def test_accuracy_claims_scope_and_reporting_epoch():
    summary = {}
    for model in ("binarynet", "reactnet18", "binary_resnet18"):
        summary[(model, 0.25, "bn")] = entry(spread(0.80, 0.002), spread(0.85, 0.002))
        summary[(model, 0.25, "abn")] = entry(spread(0.82, 0.002), spread(0.83, 0.002))
        summary[(model, 0.25, "bf")] = entry(spread(0.80, 0.002))
        summary[(model, 0.25, "none")] = entry([0.1, 0.1, 0.1])
    results = claims.accuracy_claims(summary)
    judged = {(r["claim"].split(":")[0], r["model"]) for r in results}
    assert ("Chen et al.", "reactnet18") in judged
    assert ("Chen et al.", "binarynet") not in judged
    assert ("Gu et al.", "reactnet18") not in judged
    assert {m for c, m in judged if c == "Gu et al."} == {"binarynet", "binary_resnet18"}
    assert {m for c, m in judged if c == "Sari et al."} == {
        "binarynet", "reactnet18", "binary_resnet18"}
    extensions = {r["model"] for r in results if r["extension"]}
    assert extensions == {"reactnet18", "binary_resnet18"}
    gains = [r for r in results if r["claim"] == "Gu et al.: `abn` outperforms `bn`"]
    assert {r["verdict"] for r in gains} == {claims.HELD}
    best = claims.accuracy_claims(summary, which="best")
    assert {r["verdict"] for r in best if r["claim"] == gains[0]["claim"]} == {
        claims.NOT_HELD}
    assert all(r["accuracy"] == "best" for r in best)
    with pytest.raises(ValueError, match="accepted: \\['best', 'last'\\]"):
        claims.accuracy_claims(summary, which="mean")
    del summary[("binarynet", 0.25, "bn")]["best_accuracies"]
    with pytest.raises(ValueError, match="no 'best_accuracies' for \\['bn'\\]"):
        claims.accuracy_claims(summary, which="best")


def test_claims_table_shows_interval_df_n_p_and_quote():
    from benchmarks import report

    gap = {"claim": "Chen et al.: x", "model": "reactnet18", "width": 0.125,
           **claims.bf_close_to_bn(BINARYNET_BN, BINARYNET_BF)}
    single = {"claim": "Gu et al.: y", "model": "binarynet", "width": 0.25,
              **claims.abn_outperforms_bn([0.8], [0.81, 0.82])}
    lines = report.claims_section([gap, single])
    row = next(line for line in lines if line.startswith("| Chen et al.: x"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:4] == ["ReActNet-18 x0.125", "**inconclusive**",
                          f"0.67 [{100 * gap['low']:.2f}, {100 * gap['high']:.2f}]"]
    assert cells[4:7] == [f"{gap['df']:.1f}", "bn 3, bf 3", f"{gap['p']:.3f}"]
    row = next(line for line in lines if line.startswith("| Gu et al.: y"))
    assert "[-inf, inf]" in row and "| n/a |" in row
    assert any(gap["quote"] in line and "ReActNet-18" in line for line in lines)
