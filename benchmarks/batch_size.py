"""Section 5, batch-size independence of `bf` (Chen et al.): BinaryNet `bf` and `bn`
trained at a small and a large batch (`plan.batch_sizes`), seeds `plan.batch_seeds`,
through the cached runs of `benchmarks.accuracy`.

The design separates the batch statistics from the number of steps: every run trains
the same epochs on the same images, and the learning rate scales linearly with the
batch size (`accuracy.RECIPE`'s 1e-3 at batch 128, so 1.25e-4 at 16). Adam moves each
weight by about the learning rate per step whatever the gradient's scale, so a batch
`k` times smaller takes `k` times the steps at `1 / k` the step size: the same distance
per epoch. What differs is the noise of the gradient and, for `bn`, the batch
statistics that normalize every layer (the training loop has no gradient accumulation,
which would separate them further).

Verdict rule (symmetric): per seed, `drop = accuracy(large batch) - accuracy(small
batch)`; Welch's 95 % t interval (`statistics.welch_interval`) on `mean drop(bn) -
mean drop(bf)`, the seeds' drops as the two samples. The claim's region is `> 0` (a
small batch hurts `bf` less than `bn`): held if the whole interval is above 0, not held
if it is entirely at or below 0, inconclusive otherwise.
"""

from __future__ import annotations

from benchmarks import accuracy, claims
from benchmarks.statistics import welch_interval

NORMS = ("bn", "bf")
RULE = (
    "per seed, drop = acc(large batch) - acc(small batch); 95 % Welch interval on "
    "mean drop(bn) - mean drop(bf); held if it lies above 0, not held if it lies at or "
    "below 0, inconclusive otherwise"
)


def learning_rate(batch_size: int, base: int = 128) -> float:
    """`accuracy.RECIPE`'s learning rate scaled linearly from batch `base`."""
    return accuracy.RECIPE["learning_rate"] * batch_size / base


def settings(plan, norm: str, batch_size: int, seed: int) -> dict:
    """BinaryNet at section 1's width and image size, `plan.batch_epochs` epochs on
    `plan.batch_train_samples` images, the learning rate scaled to `batch_size`."""
    return accuracy.settings(
        plan.replace(max_train_samples=plan.batch_train_samples),
        "binarynet", norm, seed, epochs=plan.batch_epochs, batch_size=batch_size,
        learning_rate=learning_rate(batch_size),
    )


def drops(accuracies: dict, small: int, large: int) -> dict:
    """`{norm: [drop per seed]}` from `{norm: {batch size: {seed: accuracy}}}` (the
    seeds that have both batch sizes)."""
    result = {}
    for norm, by_batch in accuracies.items():
        seeds = sorted(set(by_batch[small]) & set(by_batch[large]))
        result[norm] = [by_batch[large][s] - by_batch[small][s] for s in seeds]
    return result


def verdict(accuracies: dict, small: int, large: int) -> dict:
    """The claim's verdict from `{norm: {batch size: {seed: accuracy}}}`: `RULE`
    through `claims.interval_verdict` on the region `(0, inf)` (verdict, estimate,
    interval, se, df, n, one-sided p), with the drops per seed and the interval."""
    per_seed = drops(accuracies, small, large)
    interval = welch_interval(per_seed["bn"], per_seed["bf"])
    n = {norm: len(values) for norm, values in per_seed.items()}
    return {
        "claim": f"Chen et al.: `bf` is batch-size independent (batch {small} vs {large}, "
        "learning rate scaled with the batch)",
        **claims.interval_verdict(interval, interval["diff"], n, lower=0.0),
        "rule": RULE,
        "drops": per_seed,
        "interval": interval,
    }


def run(plan, root=accuracy.ROOT, verbose: int = 2) -> dict:
    """`{"runs": [records], "accuracy": {norm: {batch: {seed: acc}}}, "claim": {...}}`
    (the last epoch's accuracy; the records also carry the best epoch's)."""
    small, large = min(plan.batch_sizes), max(plan.batch_sizes)
    runs, table = [], {}
    for seed in plan.batch_seeds:
        for norm in NORMS:
            for batch_size in (small, large):
                record = accuracy.train_cached(settings(plan, norm, batch_size, seed),
                                               root, verbose)
                record["section"] = "batch_size"
                runs.append(record)
                by_seed = table.setdefault(norm, {}).setdefault(batch_size, {})
                by_seed[seed] = record["test_accuracy"]
    claim = {"model": "binarynet", "width": plan.binarynet_width,
             **verdict(table, small, large)}
    return {"runs": runs, "accuracy": table,
            "learning_rates": {b: learning_rate(b) for b in (small, large)},
            "claim": claim}
