"""Section 6, inference: every trained variant of section 1 (seed 0, its `model.keras`)
converted with LCE without the export (`plain`, `deploy.convert(..., abn_fusion=False)`)
and with it (`export`, the default `split_intervals="auto"`); the abn variants also
with the plan's other `split_intervals` settings (`plan.splits`).

Per conversion: `LceBconv2d` count, how many write bitpacked output, float (TFLite
builtin) ops in all and *between binary convs* (operator index after the first and
before the last `LceBconv2d`: the float work inside the binary body), flatbuffer size
against the ideal (`binary weights / 8 + 4 bytes x other parameters`), the LCE
interpreter against Keras on real test images (`ConversionResult.verify`: top-1
agreement, largest logit difference, both accuracies), and host latency at batch 1.
Per variant, on the same images: how many binarized activations of Keras' float32
norm layers differ from the exact signs that the export computes (`sign_differences`:
inputs within float32 rounding of a threshold, the only source of disagreement).

Latency: one `timing.interleaved` over every conversion and the float TFLite model of
every variant at 1 and 2 threads (LCE's interpreter), so that all of them see the same
load: the fastest round per candidate, and as median ratios over rounds the speedup
(float / LCE) and the abn / bn latency ratio per `split_intervals` setting.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import models, timing
from larq_nobn import deploy
from larq_nobn.deploy.sign_forms import layer_sign_form

import numpy as np

THREADS = (1, 2)
def convert_all(model, norm: str, splits=()) -> dict:
    """`{kind: ConversionResult}`: `plain`, `export` and, for abn, `export_<split>`
    for every `split_intervals` setting in `splits`."""
    result = {
        "plain": deploy.convert(model, abn_fusion=False),
        "export": deploy.convert(model, abn_fusion=True),
    }
    if norm == "abn":
        for name in splits:
            result[f"export_{name}"] = deploy.convert(model, split_intervals=name)
    return result


def float_ops_between_bconvs(ops) -> int:
    """Float ops whose operator index lies between the first and last `LceBconv2d`."""
    indices = [op.index for op in ops.bconvs]
    if len(indices) < 2:
        return 0
    first, last = min(indices), max(indices)
    return sum(first < op.index < last for op in ops.float_ops)


def describe(conversion, x, y) -> dict:
    """The op, size and verification numbers of one conversion."""
    ops, size = conversion.ops, conversion.size
    check = conversion.verify(x, y)
    return {
        "bconv": ops.num_bconv,
        "bitpacked": ops.num_bitpacked,
        "float_ops": len(ops.float_ops),
        "float_ops_between_bconvs": float_ops_between_bconvs(ops),
        "op_counts": dict(ops.op_counts),
        "file_bytes": size.file_bytes,
        "ideal_bytes": size.ideal_bytes,
        "size_ratio": size.ratio,
        "verification": {key: getattr(check, key) for key in
                         ("samples", "agreement", "max_abs_diff", "keras_accuracy",
                          "lce_accuracy")},
    }


def sign_differences(model, export_report: dict, x) -> dict:
    """`{layer: {"elements", "differ"}}` for every norm layer the export rewrote: the
    elements whose sign in Keras (float32, `output >= 0`) differs from the exact sign
    of `layer_sign_form` on the same input."""
    import tensorflow as tf

    layers = [model.get_layer(r["layer"]) for r in export_report["layers"]
              if r["action"] != "kept" and r["layer_class"] in ("ABN", "BatchNormalization")]
    if not layers:
        return {}
    probe = tf.keras.Model(model.inputs, [t for layer in layers
                                          for t in (layer.input, layer.output)])
    values = probe.predict(x, verbose=0, batch_size=256)
    result = {}
    for k, layer in enumerate(layers):
        inputs, outputs = values[2 * k], values[2 * k + 1]
        keras = np.where(outputs >= 0, 1.0, -1.0)
        exact = layer_sign_form(layer).evaluate(inputs)
        result[layer.name] = {"elements": int(inputs.size),
                              "differ": int((keras != exact).sum())}
    return result


def interpreter_step(flatbuffer: bytes, threads: int):
    """One batch-1 run of `flatbuffer` in LCE's interpreter (a fixed random input)."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(flatbuffer, num_threads=threads)
    shape = (1, *interpreter.input_shapes[0][1:])
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    return lambda: interpreter.predict(x)


def latencies(flatbuffers: dict, plan) -> dict:
    """`timing.interleaved` over `{name: flatbuffer}` at every thread count; returns
    `{name: {threads: {"fastest_s", "rounds_s", ...}}}`."""
    steps = {(name, threads): interpreter_step(flatbuffer, threads)
             for name, flatbuffer in flatbuffers.items() for threads in THREADS}
    times = timing.interleaved(steps, plan.latency_rounds, plan.latency_repeats)
    result: dict = {}
    for (name, threads), entry in times.items():
        result.setdefault(name, {})[str(threads)] = entry
    return result


def abn_over_bn(times: dict, variants: dict) -> dict:
    """`{model: {kind: {threads: median ratio}}}`: each abn conversion against bn's
    conversion of the same kind (bn's `export` for the `export_<split>` ones, which
    bn lacks)."""
    result = {}
    for model in sorted({name.split("/")[0] for name in variants}):
        abn, bn = f"{model}/abn", f"{model}/bn"
        if abn not in variants or bn not in variants:
            continue
        result[model] = {}
        for kind in variants[abn]:
            base = times[f"{bn}/{'plain' if kind == 'plain' else 'export'}"]
            result[model][kind] = {
                t: timing.median_ratio(entry["rounds_s"], base[t]["rounds_s"])
                for t, entry in times[f"{abn}/{kind}"].items()
            }
    return result


def run(plan, records: list[dict]) -> dict:
    """`{"setup", "models": {"<model>/<norm>": {"export_report", "float_bytes",
    "float_latency_ms", "conversions": {kind: {...}}}}, "abn_over_bn"}` for the seed-0
    run of every variant in `records`."""
    x, y = models.fashion_mnist("test", plan.verify_samples, image_size=plan.image_size)
    variants, flatbuffers = {}, {}
    for record in (r for r in records if r["seed"] == min(plan.seeds)):
        name = f"{record['model']}/{record['norm']}"
        model = deploy.load_keras_model(Path(record["run_dir"]) / "model.keras")
        conversions = convert_all(model, record["norm"], plan.splits)
        float_tflite = deploy.convert_float(model)
        export_report = conversions["export"].export.to_dict()
        variants[name] = {
            "export_report": export_report,
            "sign_differences": sign_differences(model, export_report, x),
            "float_bytes": len(float_tflite),
            "conversions": {kind: describe(c, x, y) for kind, c in conversions.items()},
        }
        flatbuffers[f"{name}/float"] = float_tflite
        flatbuffers.update({f"{name}/{kind}": c.flatbuffer for kind, c in conversions.items()})
    times = latencies(flatbuffers, plan)
    for name, entry in variants.items():
        flt = times[f"{name}/float"]
        entry["float_latency_ms"] = {t: 1e3 * e["fastest_s"] for t, e in flt.items()}
        for kind, conversion in entry["conversions"].items():
            lce = times[f"{name}/{kind}"]
            conversion["latency_ms"] = {t: 1e3 * e["fastest_s"] for t, e in lce.items()}
            conversion["speedup"] = {t: timing.median_ratio(flt[t]["rounds_s"], e["rounds_s"])
                                     for t, e in lce.items()}
    return {
        "setup": {"threads": list(THREADS), "rounds": plan.latency_rounds,
                  "runs_per_round": plan.latency_repeats, "verify_samples": int(len(x)),
                  "splits": list(plan.splits)},
        "models": variants,
        "abn_over_bn": abn_over_bn(times, {n: v["conversions"] for n, v in variants.items()}),
    }
