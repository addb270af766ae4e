"""The reproduction report (`python -m benchmarks`): at its tiny size every artifact is
written, `runs` holds the required keys and every number is finite; the section
selection of the command line; the one timing statistic on hand-made timings."""

import json
import math
import types
from pathlib import Path

from benchmarks import __main__ as benchmarks_main
from benchmarks import accuracy, cost, inference, timing
from benchmarks.plan import TINY

import pytest

REQUIRED = ("model", "width_multiplier", "norm", "dataset", "epochs", "batch_size",
            "seed", "test_accuracy")


def numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


def test_tiny_report(tmp_path):
    out = tmp_path / "report"
    code = benchmarks_main.main(
        ["--tiny", "--output", str(out), "--runs-root", str(tmp_path / "runs"),
         "--verbose", "0"]
    )
    assert code == 0
    markdown = (out / "BENCHMARKS.md").read_text()
    for heading in ("## Claims", "## 1. Accuracy", "## 2. Gradient", "## 3. Activation",
                    "## 4. Training cost", "## 5. Batch-size", "## 6. Inference",
                    "## 7. Input pipelines", "## 8. Full-scale"):
        assert heading in markdown
    assert "python -m benchmarks --tiny" in markdown
    for name in ("accuracy_curves", "gradient_norms", "activation_balance"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{name}.png" in markdown
    results = json.loads((out / "results.json").read_text())
    # tiny plan: BinaryNet bn, abn, none, one seed, then bn/bf at two batch sizes
    assert len(results["runs"]) == 3 + 4
    for run in results["runs"]:
        assert all(run.get(key) is not None for key in REQUIRED), run
        assert 0.0 <= run["test_accuracy"] <= 1.0
        assert run["dataset"] == "fashion_mnist" and run["cached"] is False
    assert {r["norm"] for r in results["runs"]} == {"bn", "abn", "none", "bf"}
    assert results["non_finite_as_null"] == []
    values = list(numbers(results))
    assert values and all(math.isfinite(v) for v in values)
    for key in ("gradients", "activation_balance", "cost", "batch_size", "inference",
                "pipelines", "recipes", "claims"):
        assert results[key]
    assert set(results["cost"]["binarynet"]["ratio_to_bn"]) == {
        *cost.CANDIDATES, *cost.EXTRA["binarynet"]}
    variants = results["inference"]["models"]
    assert set(variants) == {"binarynet/bn", "binarynet/abn", "binarynet/none"}
    splits = {f"export_{name}" for name in TINY.splits}
    assert set(variants["binarynet/abn"]["conversions"]) == {"plain", "export", *splits}
    for entry in variants.values():
        for conversion in entry["conversions"].values():
            check = conversion["verification"]
            assert check["samples"] == TINY.verify_samples
            assert 0.0 <= check["agreement"] <= 1.0
    differences = variants["binarynet/abn"]["sign_differences"]
    assert differences and all(0 <= v["differ"] <= v["elements"] for v in
                               differences.values())
    assert "differs from the export's exact one" in markdown
    assert set(results["inference"]["abn_over_bn"]["binarynet"]) == {
        "plain", "export", *splits}
    pipelines = results["pipelines"]["pipelines"]
    assert pipelines["fashion_mnist/eval"]["images"] == TINY.pipeline_batches * 128
    assert pipelines["tiny_imagenet/train_decode"]["images"] == TINY.pipeline_images
    verdicts = {c["verdict"] for c in results["claims"]}
    assert verdicts <= {"held", "not held", "inconclusive"}
    # section 1 again reads every training run back from the cache
    again = accuracy.run_grid(TINY, tmp_path / "runs", verbose=0)
    assert all(run["cached"] for run in again)
    assert [r["test_accuracy"] for r in again] == [
        r["test_accuracy"] for r in results["runs"][: len(again)]
    ]


def test_sections_selected_in_report_order_with_what_they_need():
    args = benchmarks_main.parse(["inference", "cost", "--tiny"])
    assert args.sections == ["accuracy", "cost", "inference"]
    assert benchmarks_main.output_paths(args)["markdown"] == Path(
        "reports/bench-tiny-accuracy-cost-inference/BENCHMARKS.md")
    assert benchmarks_main.parse([]).sections == [  # the authors' need their checkouts
        name for name in benchmarks_main.SECTIONS
        if name not in benchmarks_main.AUTHOR_SECTIONS]
    assert benchmarks_main.output_paths(benchmarks_main.parse([]))["markdown"] == Path(
        "BENCHMARKS.md")
    # a subset of the full plan never overwrites the committed report
    assert benchmarks_main.output_paths(benchmarks_main.parse(["gradients"]))[
        "markdown"] == Path("reports/bench-full-gradients/BENCHMARKS.md")


def test_one_section_writes_a_report_of_that_section_only(tmp_path):
    assert benchmarks_main.main(["recipes", "--output", str(tmp_path)]) == 0
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert "## 8. Full-scale recipes" in markdown and "## 1." not in markdown
    assert "None: sections 1, 2 and 5 judge them" in markdown
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["recipes"]["rows"] and results["runs"] == [] and results["claims"] == []
    assert list(results["section_seconds"]) == ["recipes"] and "cost" not in results


def test_unknown_section_is_one_error_listing_the_accepted(capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmarks_main.parse(["cost", "speed"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "'speed'" in error and "'cost'" not in error
    assert error.endswith("accepted: " + ", ".join(benchmarks_main.SECTIONS))


def test_interleaved_fastest_round_and_median_ratio(monkeypatch):
    """A fake clock that each step advances by a hand-made duration."""
    clock, calls = [0.0], []
    durations = {"a": iter([100.0, 1.0, 3.0, 2.0, 2.0, 5.0, 1.0]),
                 "b": iter([50.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0])}

    def step(name):
        def run():
            calls.append(name)
            clock[0] += next(durations[name])
        return run

    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    times = timing.interleaved({"a": step("a"), "b": step("b")}, rounds=3, repeats=2,
                               warmup=1, baseline="b")
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert times["a"]["rounds_s"] == [2.0, 2.0, 3.0]
    assert times["b"]["rounds_s"] == [1.0, 1.0, 2.0]
    assert times["a"]["fastest_s"] == 2.0 and times["b"]["fastest_s"] == 1.0
    # per-round ratios 2, 2, 1.5; the ratio of the fastest rounds would also be 2, so
    # check the median where the two differ too
    assert times["a"]["ratio"] == 2.0 and times["b"]["ratio"] == 1.0
    odd = timing.summarize({"x": [3.0, 4.0, 9.0, 8.0], "y": [1.0, 4.0, 2.0, 2.0]}, "y")
    assert odd["x"]["ratio"] == pytest.approx((3.0 + 4.0) / 2)  # ratios 3, 1, 4.5, 4
    assert odd["x"]["fastest_s"] / odd["y"]["fastest_s"] == 3.0
    assert timing.summarize({"x": [2.0], "y": [4.0]})["y"]["ratio"] == 2.0  # first is base


def test_timing_rejects_bad_rounds():
    with pytest.raises(ValueError, match="rounds"):
        timing.median_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="repeats"):
        timing.interleaved({"a": lambda: None}, rounds=1, repeats=0)
    with pytest.raises(ValueError, match="'c' is not a candidate"):
        timing.summarize({"a": [1.0]}, "c")


def test_cost_shares_from_median_ratios():
    times = {name: {"fastest_s": 0.1 * ratio, "ratio": ratio}
             for name, ratio in (("bn", 1.0), ("bf+agc", 1.25), ("bf", 1.0),
                                 ("none", 0.75))}
    result = cost.shares(times)
    assert result["agc_share"] == pytest.approx(0.25 / 1.25)
    assert result["scaledws_share"] == pytest.approx(0.25 / 1.25)
    assert result["ratio_to_bn"]["none"] == 0.75
    assert result["seconds_per_step"]["bf+agc"] == pytest.approx(0.125)


def test_abn_over_bn_pairs_each_kind_with_bn():
    rounds = {"m/bn/plain": [2.0, 2.0, 2.0], "m/bn/export": [1.0, 1.0, 1.0],
              "m/abn/plain": [2.0, 3.0, 4.0], "m/abn/export": [1.0, 1.5, 0.5],
              "m/abn/export_always": [2.0, 1.0, 3.0]}
    times = {name: {"1": {"rounds_s": values}} for name, values in rounds.items()}
    variants = {"m/bn": {"plain": {}, "export": {}},
                "m/abn": {"plain": {}, "export": {}, "export_always": {}}}
    ratios = inference.abn_over_bn(times, variants)
    assert ratios == {"m": {"plain": {"1": 1.5}, "export": {"1": 1.0},
                            "export_always": {"1": 2.0}}}
