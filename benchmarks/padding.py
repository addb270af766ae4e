"""Section 1b, binary padding: the zoo pads the binarized activations of its 3x3 binary
convolutions with +1 (`pad_values=1.0`, LCE's fast form); the references pad with 0
(`pad_values=0.0`). One section-1 variant (`plan.pad_model` / `plan.pad_norm`) is
trained both ways with the seeds `plan.pad_seeds`, otherwise identically (the 1.0 runs
are section 1's own, read back from the run cache), and the two accuracies are
compared by Welch's t interval on `mean(0.0) - mean(1.0)`, last and best epoch.

No claim of the papers is at stake: the section measures what the deployable default
costs or gains against the references' form.
"""

from __future__ import annotations

from benchmarks import accuracy
from benchmarks.statistics import welch_interval

#: The two forms, the references' first.
PAD_VALUES = (0.0, 1.0)


def compare(runs: list[dict]) -> dict:
    """`{"last", "best"}`: Welch's interval (`statistics.welch_interval`, 95 %) on the
    test accuracy of the `pad_values=0.0` runs minus that of the 1.0 runs."""
    by_pad = {pad: [r for r in runs if r["pad_values"] == pad] for pad in PAD_VALUES}
    result = {}
    for name, key in (("last", "test_accuracy"), ("best", "best_test_accuracy")):
        zero, one = ([r[key] for r in by_pad[pad]] for pad in PAD_VALUES)
        result[name] = welch_interval(zero, one)
    return result


def run(plan, root=accuracy.ROOT, verbose: int = 2) -> dict:
    """`{"model", "norm", "width", "runs": [records], "difference": compare(runs)}`."""
    runs = []
    for pad in PAD_VALUES:
        for seed in plan.pad_seeds:
            settings = accuracy.settings(plan, plan.pad_model, plan.pad_norm, seed,
                                         pad_values=pad)
            record = accuracy.train_cached(settings, root, verbose)
            record["section"] = "padding"
            runs.append(record)
    return {"model": plan.pad_model, "norm": plan.pad_norm,
            "width": plan.width(plan.pad_model), "runs": runs, "difference": compare(runs)}
