"""Section 6, inference: every trained variant of section 1 (seed 0, its `model.keras`)
converted with LCE with and without the ABN/pool export (`deploy.convert(...,
abn_fusion=True/False)`).

Per conversion: `LceBconv2d` count, how many write bitpacked output, float (TFLite
builtin) ops in all and *between binary convs* (operator index after the first and
before the last `LceBconv2d`: the float work inside the binary body), flatbuffer size
against the ideal (`binary weights / 8 + 4 bytes x other parameters`), and host latency
(LCE interpreter, batch 1, median of `latency_runs` runs) at 1 and 2 threads, next to
the same network as a float TFLite model.
"""

from __future__ import annotations

from pathlib import Path

from larq_nobn import deploy

THREADS = (1, 2)


def convert_with_and_without_export(model) -> tuple[dict, dict]:
    """`({"plain": ConversionResult, "export": ConversionResult}, export report)`."""
    results = {
        "plain": deploy.convert(model, abn_fusion=False),
        "export": deploy.convert(model, abn_fusion=True),
    }
    return results, results["export"].export.to_dict()


def float_ops_between_bconvs(ops) -> int:
    """Float ops whose operator index lies between the first and last `LceBconv2d`."""
    indices = [op.index for op in ops.bconvs]
    if len(indices) < 2:
        return 0
    first, last = min(indices), max(indices)
    return sum(first < op.index < last for op in ops.float_ops)


def latency_ms(flatbuffer, runs: int, float_tflite=None) -> dict:
    """`{"lce": {threads: median ms}, "float": {...}}` (float only if given)."""
    result = deploy.benchmark(
        flatbuffer, threads=THREADS, runs=runs, warmup=min(3, runs),
        float_tflite=float_tflite, progress=False,
    )
    table = {}
    for row in result.rows:
        table.setdefault(row.model, {})[str(row.threads)] = row.median_ms
    return table


def describe(conversion, runs: int, float_tflite=None) -> dict:
    """The numbers of one conversion."""
    ops, size = conversion.ops, conversion.size
    return {
        "bconv": ops.num_bconv,
        "bitpacked": ops.num_bitpacked,
        "float_ops": len(ops.float_ops),
        "float_ops_between_bconvs": float_ops_between_bconvs(ops),
        "op_counts": dict(ops.op_counts),
        "file_bytes": size.file_bytes,
        "ideal_bytes": size.ideal_bytes,
        "size_ratio": size.ratio,
        "latency_ms": latency_ms(conversion.flatbuffer, runs, float_tflite),
    }


def run(plan, records: list[dict]) -> dict:
    """`{"<model>/<norm>": {"plain": {...}, "export": {...}, "float_latency_ms",
    "export_report"}}` for the seed-0 run of every variant in `records`."""
    result = {}
    for record in records:
        if record["seed"] != min(plan.seeds):
            continue
        model = deploy.load_keras_model(Path(record["run_dir"]) / "model.keras")
        conversions, report = convert_with_and_without_export(model)
        float_tflite = deploy.convert_float(model)
        entry = {"export_report": report, "float_bytes": len(float_tflite)}
        for kind, conversion in conversions.items():
            baseline = float_tflite if kind == "plain" else None
            entry[kind] = describe(conversion, plan.latency_runs, baseline)
        entry["float_latency_ms"] = entry["plain"]["latency_ms"].pop("float")
        result[f"{record['model']}/{record['norm']}"] = entry
    return result
