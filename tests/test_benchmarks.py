"""The reproduction report (`python -m benchmarks`): at its tiny size every artifact is
written, `runs` holds the required keys and every number is finite; the section
selection of the command line; the one timing statistic on hand-made timings."""

import json
import math
import types
from pathlib import Path

from benchmarks import __main__ as benchmarks_main
from benchmarks import accuracy, batch_size, cost, inference, padding, timing
from benchmarks.plan import FULL, GRID, QUICK, TINY
from larq_nobn.training import TrainConfig

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
    assert "## 1b. Binary padding" in markdown and "resized from 28x28 to 32x32" in markdown
    results = json.loads((out / "results.json").read_text())
    # tiny plan: BinaryNet bn, abn, none, one seed; bn with pad_values 0.0 and 1.0 (the
    # latter section 1's, read back); then bn/bf at two batch sizes
    assert len(results["runs"]) == 3 + 2 + 4
    # the reused run counts once, and no run was trained by an earlier invocation
    assert "- Training runs: 8, of which 0 read back" in markdown
    for run in results["runs"]:
        assert all(run.get(key) is not None for key in REQUIRED), run
        assert 0.0 <= run["test_accuracy"] <= run["best_test_accuracy"] <= 1.0
        assert 1 <= run["best_epoch"] <= run["epochs"]
        assert run["dataset"] == "fashion_mnist" and run["image_size"] == 32
        reused = run.get("section") == "padding" and run["pad_values"] == 1.0
        assert run["cached"] is reused
    assert {r["norm"] for r in results["runs"]} == {"bn", "abn", "none", "bf"}
    # one seed: Welch's intervals are unbounded, written as null; nothing else is
    assert results["non_finite_as_null"] and all(
        path.rsplit("/", 1)[-1] in ("low", "high") for path in results["non_finite_as_null"])
    values = list(numbers(results))
    assert values and all(math.isfinite(v) for v in values)
    for key in ("padding", "gradients", "activation_balance", "cost", "batch_size",
                "inference", "pipelines", "recipes", "claims"):
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


SETTINGS = accuracy.settings(FULL, "binarynet", "bn", 0)


def test_run_key_is_readable_and_changes_with_every_setting():
    key = accuracy.run_key(SETTINGS)
    width, epochs = FULL.binarynet_width, FULL.binarynet_epochs
    prefix = f"binarynet-x{width:g}-bn-e{epochs}-b128-lr0.001-i32-p1-"
    assert key.startswith(prefix) and key == accuracy.run_key(dict(SETTINGS))
    changes = dict(image_size=28, pad_values=0.0, learning_rate=1.25e-4, augment=True,
                   max_train_samples=7, seed=1, norm="abn", epochs=epochs + 1)
    keys = {accuracy.run_key({**SETTINGS, name: value}) for name, value in changes.items()}
    assert len(keys) == len(changes) and key not in keys
    # a setting outside the readable part still changes the key (through the hash)
    augmented = accuracy.run_key({**SETTINGS, "augment": True})
    assert augmented.rsplit("-", 1)[0] == key.rsplit("-", 1)[0] and augmented != key


def test_plan_grid_settings_are_valid_train_configs():
    """Every run of the full plan's sections 1, 1b and 5 is a valid `TrainConfig` with
    its model's width and epochs, the plan's image size, and (section 5) the learning
    rate scaled with the batch size."""
    assert [model for model, _ in FULL.grid] == ["binarynet", "binary_resnet18",
                                                 "reactnet18"]
    for plan in (FULL, QUICK, TINY):
        for model, norms in plan.grid:
            for norm in norms:
                settings = accuracy.settings(plan, model, norm, plan.model_seeds(model)[-1])
                config = TrainConfig(output="unused", **settings)
                assert config.width_multiplier == plan.width(model)
                assert config.epochs == plan.epochs(model) and config.image_size == 32
        small, large = min(plan.batch_sizes), max(plan.batch_sizes)
        config = TrainConfig(output="unused", **batch_size.settings(plan, "bf", small, 0))
        assert config.learning_rate == pytest.approx(1e-3 * small / 128)
        assert config.max_train_samples == plan.batch_train_samples
        assert config.epochs == plan.batch_epochs
        assert batch_size.learning_rate(large) == pytest.approx(1e-3 * large / 128)
    assert TINY.grid == GRID[:1] and QUICK.model_seeds("reactnet18") == (0,)
    assert FULL.model_seeds("binarynet") == FULL.seeds


def accuracies(drop_bn, drop_bf, small=16, large=128, base=0.8):
    """`{norm: {batch: {seed: accuracy}}}` with the given drops per seed."""
    table = {}
    for norm, drops in (("bn", drop_bn), ("bf", drop_bf)):
        table[norm] = {large: {s: base for s in range(len(drops))},
                       small: {s: base - d for s, d in enumerate(drops)}}
    return table


def test_batch_size_verdict_from_welch_interval_of_the_drops():
    """Drops 5, 6, 7 points (bn) and -1, 0, 1 (bf): difference 6 points, each side's
    variance of the mean 1e-4 / 3, df = 4, t(0.975, 4) = 2.776 (table): the interval
    6 +- 2.776 * 0.8165 points lies above 0."""
    result = batch_size.verdict(accuracies([0.05, 0.06, 0.07], [-0.01, 0.0, 0.01]), 16, 128)
    interval = result["interval"]
    assert result["drops"]["bn"] == pytest.approx([0.05, 0.06, 0.07])
    assert interval["diff"] == pytest.approx(0.06) and interval["df"] == pytest.approx(4)
    half = 2.776 * math.sqrt(2e-4 / 3)
    assert interval["low"] == pytest.approx(0.06 - half, abs=1e-4)
    assert interval["high"] == pytest.approx(0.06 + half, abs=1e-4)
    assert result["verdict"] == "held" and result["rule"] == batch_size.RULE
    swapped = batch_size.verdict(accuracies([-0.01, 0.0, 0.01], [0.05, 0.06, 0.07]), 16, 128)
    assert swapped["verdict"] == "not held"
    close = batch_size.verdict(accuracies([0.0, 0.02, 0.04], [0.01, 0.0, 0.02]), 16, 128)
    assert close["interval"]["low"] < 0 < close["interval"]["high"]
    assert close["verdict"] == "inconclusive"


def test_padding_compares_zero_against_one_by_welch():
    runs = [{"pad_values": pad, "test_accuracy": acc, "best_test_accuracy": acc + 0.01}
            for pad, acc in ((0.0, 0.70), (0.0, 0.72), (1.0, 0.75), (1.0, 0.77))]
    result = padding.compare(runs)
    # equal spreads (variance 2e-4 each): se = sqrt(2e-4), df = 2, t(0.975, 2) = 4.303
    for name in ("last", "best"):
        assert result[name]["diff"] == pytest.approx(-0.05)
        assert result[name]["df"] == pytest.approx(2)
        assert result[name]["high"] == pytest.approx(-0.05 + 4.303 * math.sqrt(2e-4),
                                                     abs=1e-4)


def test_summary_has_last_and_best_epoch_statistics():
    runs = [{"model": "m", "width_multiplier": 1.0, "norm": "bn", "test_accuracy": a,
             "best_test_accuracy": b, "best_epoch": e}
            for a, b, e in ((0.5, 0.6, 2), (0.7, 0.7, 3))]
    entry = accuracy.summarize(runs)[("m", 1.0, "bn")]
    assert entry["mean"] == pytest.approx(0.6) and entry["best_mean"] == pytest.approx(0.65)
    assert entry["std"] == pytest.approx(math.sqrt(0.02))
    assert entry["best_std"] == pytest.approx(math.sqrt(0.005))
    assert entry["n"] == 2 and entry["best_epochs"] == [2, 3]
