"""The reproduction report (`python -m benchmarks`) at its tiny size: every artifact
is written, `runs` holds the required keys, and every number is finite."""

import json
import math

from benchmarks import __main__ as benchmarks_main
from benchmarks import accuracy
from benchmarks.plan import TINY

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
                    "## 7. Full-scale"):
        assert heading in markdown
    assert "python -m benchmarks --tiny" in markdown
    for name in ("accuracy_curves", "gradient_norms", "activation_balance"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{name}.png" in markdown
    results = json.loads((out / "results.json").read_text())
    # tiny plan: BinaryNet bn + none, one seed, then bn/bf at two batch sizes
    assert len(results["runs"]) == 2 + 4
    for run in results["runs"]:
        assert all(run.get(key) is not None for key in REQUIRED), run
        assert 0.0 <= run["test_accuracy"] <= 1.0
        assert run["dataset"] == "fashion_mnist" and run["cached"] is False
    assert {r["norm"] for r in results["runs"]} == {"bn", "none", "bf"}
    assert results["non_finite_as_null"] == []
    values = list(numbers(results))
    assert values and all(math.isfinite(v) for v in values)
    for key in ("gradients", "activation_balance", "cost", "batch_size", "inference",
                "recipes", "claims"):
        assert results[key]
    verdicts = {c["verdict"] for c in results["claims"]}
    assert verdicts <= {"held", "not held", "inconclusive"}
    # section 1 again reads every training run back from the cache
    again = accuracy.run_grid(TINY, tmp_path / "runs", verbose=0)
    assert all(run["cached"] for run in again)
    assert [r["test_accuracy"] for r in again] == [
        r["test_accuracy"] for r in results["runs"][: len(again)]
    ]
