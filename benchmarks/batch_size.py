"""Section 5, batch-size independence of `bf`: BinaryNet trained at a small and a large
batch for the same number of epochs (same learning rate, seed 0), `bf` vs `bn`, through
the cached runs of `benchmarks.accuracy`.

Verdict rule: `drop = accuracy(large batch) - accuracy(small batch)`; the claim (a
BN-free network does not depend on batch statistics, so a small batch hurts it less
than it hurts `bn`) is held if `drop(bn) - drop(bf) > 1 point`, not held if
`drop(bf) - drop(bn) > 1 point`, inconclusive otherwise (one seed: differences under
a point are within seed noise, see section 1's stds)."""

from __future__ import annotations

from benchmarks import accuracy, claims

MARGIN = 0.01
NORMS = ("bn", "bf")


def settings(plan, norm: str, batch_size: int) -> dict:
    return dict(
        accuracy.BINARYNET_RECIPE,
        width_multiplier=plan.binarynet_width,
        epochs=plan.batch_epochs,
        batch_size=batch_size,
        norm=norm,
        seed=0,
        **accuracy.subset(plan.replace(max_train_samples=plan.batch_train_samples)),
    )


def verdict(accuracies: dict, small: int, large: int) -> dict:
    """The claim's verdict from `{norm: {batch size: accuracy}}`."""
    drop = {norm: accuracies[norm][large] - accuracies[norm][small] for norm in NORMS}
    if drop["bn"] - drop["bf"] > MARGIN:
        result = claims.HELD
    elif drop["bf"] - drop["bn"] > MARGIN:
        result = claims.NOT_HELD
    else:
        result = claims.INCONCLUSIVE
    return {
        "claim": f"Chen et al.: `bf` is batch-size independent (batch {small} vs {large})",
        "verdict": result,
        "rule": "drop = acc(large) - acc(small); held if drop(bn) - drop(bf) > 1 point, "
        "not held if drop(bf) - drop(bn) > 1 point, inconclusive otherwise",
        "drop": drop,
    }


def run(plan, root=accuracy.ROOT, verbose: int = 2) -> dict:
    """`{"runs": [records], "accuracy": {norm: {batch: acc}}, "claim": {...}}`."""
    small, large = min(plan.batch_sizes), max(plan.batch_sizes)
    runs, table = [], {}
    for norm in NORMS:
        for batch_size in (small, large):
            record = accuracy.train_cached(settings(plan, norm, batch_size), root, verbose)
            record["section"] = "batch_size"
            runs.append(record)
            table.setdefault(norm, {})[batch_size] = record["test_accuracy"]
    claim = {"model": "binarynet", "width": plan.binarynet_width,
             **verdict(table, small, large)}
    return {"runs": runs, "accuracy": table, "claim": claim}
