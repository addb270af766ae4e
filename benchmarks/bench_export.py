"""Benchmark of the exact LCE export (`larq_nobn.deploy.export.prepare_for_lce`).

Zoo BinaryNet (abn, bn) and ReActNet-18 (abn), small width, 28x28x1, each trained for
`--steps` steps (batch 64, Adam 1e-3) on real Fashion-MNIST, then converted with LCE
with and without the export. Recorded per model: op counts before/after (LOGISTIC,
total, bitpacked binary convs, float ops), per rewritten norm layer the binarized
activations of Keras' float32 ABN against the exact rewrite on real test images (the
differences are inputs within float32 rounding of a threshold), per binary conv its
output in Keras against the LCE interpreter running the export model (equal unless a
binarized input differs), top-1 agreement of
the exported LCE model with the original Keras model, and LCE-interpreter latency
(1 thread, fastest of interleaved rounds).

Writes `reports/export.json` and `reports/export.md`.

    python benchmarks/bench_export.py [--steps 300] [--width 0.25] [--samples 1000]
        [--models binarynet_abn binarynet_bn]
"""

import argparse
import collections
import json
import os
import time
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn import ABN, data, deploy, zoo
from larq_nobn.deploy import inspect_flatbuffer
from larq_nobn.deploy.export import prepare_for_lce
from larq_nobn.deploy.sign_forms import layer_sign_form
from tests.helpers import op_names

import larq_compute_engine as lce
import numpy as np
import tensorflow as tf

LCE_OPS = ("LceBconv2d", "LceQuantize", "LceDequantize", "LceBMaxPool2d")


def models(width):
    shape = (28, 28, 1)
    return {
        "binarynet_abn": lambda: zoo.BinaryNet("abn", shape, width_multiplier=width),
        "binarynet_bn": lambda: zoo.BinaryNet("bn", shape, width_multiplier=width),
        "reactnet18_abn": lambda: zoo.ResNet18("abn", shape, width_multiplier=width),
    }


def train(model, x, y, steps):
    model.compile(
        tf.keras.optimizers.Adam(1e-3),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.RandomState(0)
    for _ in range(steps):
        i = rng.randint(0, len(x), 64)
        model.train_on_batch(x[i], y[i])


def float_ops_between_bconvs(names):
    """Ops other than LCE's between the first and the last binary convolution (in the
    flatbuffer's execution order): the float work that carries over to ARM."""
    where = [i for i, name in enumerate(names) if name == "LceBconv2d"]
    inner = names[where[0] + 1 : where[-1]] if where else []
    return sum(name not in LCE_OPS for name in inner)


def op_summary(flatbuffer):
    ordered = op_names(flatbuffer)
    names = collections.Counter(ordered)
    return {
        "float_between_bconvs": float_ops_between_bconvs(ordered),
        "total": sum(names.values()),
        "LOGISTIC": names.get("LOGISTIC", 0),
        "float": sum(c for n, c in names.items() if n not in LCE_OPS),
        "bconv": names.get("LceBconv2d", 0),
        "bitpacked": inspect_flatbuffer(flatbuffer).num_bitpacked,
        "counts": dict(names),
    }


def rounding_cases(model, report, x):
    """Per norm rewritten: elements where Keras' float32 sign != the exact sign."""
    rewritten = [r.layer for r in report.layers if r.action != "kept"]
    norms = (ABN, tf.keras.layers.BatchNormalization)
    layers = [model.get_layer(n) for n in rewritten if isinstance(model.get_layer(n), norms)]
    if not layers:
        return {}
    probe = tf.keras.Model(model.inputs, [t for l in layers for t in (l.input, l.output)])
    values = probe.predict(x, verbose=0, batch_size=256)
    result = {}
    for k, layer in enumerate(layers):
        inp, out = values[2 * k], values[2 * k + 1]
        form = layer_sign_form(layer)
        keras_sign = np.where(out >= 0, 1.0, -1.0)
        result[layer.name] = {
            "elements": int(inp.size),
            "differ": int((keras_sign != form.evaluate(inp)).sum()),
        }
    return result


def binary_conv_agreement(model, export, x):
    """Per binary convolution: its output in Keras (original model, float32) against the
    same layer of the converted export model in the LCE interpreter, each model cut at
    that layer. A binary conv's output is an exact sum of +-1 products (times fused
    scales), so it agrees to float rounding unless one of its binarized inputs differs,
    which moves it by at least twice a weight magnitude: mismatches count the
    positions whose binarized inputs were not the same in both engines. Convs that the
    export widened for interval channels are compared on their original channels, and
    the shift the export moved into a conv's bias is taken off again."""
    rows = {}
    for layer in model.layers:
        quantizer = getattr(layer, "input_quantizer", None)
        if getattr(quantizer, "precision", None) != 1 or not isinstance(
            layer, tf.keras.layers.Conv2D
        ):
            continue
        keras = tf.keras.Model(model.inputs, layer.output).predict(
            x, verbose=0, batch_size=256
        )
        cut = tf.keras.Model(export.inputs, export.get_layer(layer.name).output)
        lite = lce.testing.Interpreter(bytes(lce.convert_keras_model(cut))).predict(x)
        lite = lite.reshape(keras.shape[:-1] + (-1,))[..., : keras.shape[-1]]
        lite = lite - bias_shift(layer, export.get_layer(layer.name))
        bad = np.abs(lite - keras) > 1e-3 * np.abs(keras).max()
        rows[layer.name] = {
            "elements": int(keras.size),
            "mismatched": int(bad.sum()),
            "samples": int(bad.reshape(len(x), -1).any(axis=1).sum()),
        }
    return rows


def bias_shift(original, exported):
    """What the export added to a convolution's bias (a comparison's upper bound)."""
    channels = original.filters
    new = exported.bias.numpy()[:channels] if exported.use_bias else 0.0
    old = original.bias.numpy() if original.use_bias else 0.0
    return np.asarray(new - old, np.float32)


def latency(flatbuffers, rounds=5, runs=30):
    """Fastest median batch-1 latency (ms) per flatbuffer over interleaved rounds."""
    interpreters = {k: lce.testing.Interpreter(fb, num_threads=1) for k, fb in flatbuffers.items()}
    best = {k: float("inf") for k in flatbuffers}
    for _ in range(rounds):
        for key, interpreter in interpreters.items():
            x = np.zeros((1, 28, 28, 1), np.float32)
            interpreter.predict(x)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                interpreter.predict(x)
                times.append(time.perf_counter() - start)
            best[key] = min(best[key], 1e3 * float(np.median(times)))
    return best


def run(args):
    x_train, y_train = data.fashion_mnist_arrays("train")
    x_test, y_test = data.fashion_mnist_arrays("test")
    x_train = (x_train.astype(np.float32) / 255.0 - 0.286) / 0.353
    x_test = (x_test[: args.samples].astype(np.float32) / 255.0 - 0.286) / 0.353
    results, flatbuffers = {}, {}
    for name, build in models(args.width).items():
        if args.models and name not in args.models:
            continue
        tf.keras.utils.set_random_seed(0)
        if name in args.load:  # a trained model instead of `--steps` here
            model = deploy.load_keras_model(args.load[name])
        else:
            model = build()
            train(model, x_train, y_train, args.steps)
        export, report = prepare_for_lce(model)
        before = bytes(lce.convert_keras_model(model))
        after = bytes(lce.convert_keras_model(export))
        flatbuffers[f"{name}/plain"], flatbuffers[f"{name}/export"] = before, after
        if report.cases().get("interval"):  # every split, and none
            for kind, split in (("export_bitpacked", "bitpacked"), ("export_split", True),
                                ("export_unsplit", False)):
                variant, _ = prepare_for_lce(model, split_intervals=split)
                flatbuffers[f"{name}/{kind}"] = bytes(lce.convert_keras_model(variant))
        keras = model.predict(x_test, verbose=0, batch_size=256)
        lite = lce.testing.Interpreter(after).predict(x_test)
        results[name] = {
            "ops_before": op_summary(before),
            "ops_after": op_summary(after),
            "export": report.to_dict(),
            "rounding_cases": rounding_cases(model, report, x_test),
            "binary_conv_agreement": binary_conv_agreement(model, export, x_test),
            "top1_agreement": float((keras.argmax(-1) == lite.argmax(-1)).mean()),
            "keras_accuracy": float((keras.argmax(-1) == y_test[: len(keras)]).mean()),
        }
        print(name, report.to_text(), sep="\n")
    lat = latency(flatbuffers)
    for key, ms in lat.items():
        model, kind = key.split("/")
        results[model].setdefault("latency_ms", {})[kind] = ms
    return results


def markdown(results, args):
    lines = [
        "# LCE export benchmark",
        "",
        f"Width {args.width}, {args.steps} training steps, {args.samples} test images"
        + "".join(f"; {name} loaded from {path}" for name, path in args.load.items())
        + f". Load average at the end: {os.getloadavg()[0]:.2f}.",
        "",
        "| model | ops before -> after | LOGISTIC | float ops | float ops between bconvs |"
        " bitpacked/bconv | top-1 agree | ABN sign diffs (rounding) | "
        "binary-conv outputs Keras != LCE | latency ms plain -> export |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        b, a = r["ops_before"], r["ops_after"]
        diffs = sum(v["differ"] for v in r["rounding_cases"].values())
        agreement = r["binary_conv_agreement"]
        mismatched = sum(v["mismatched"] for v in agreement.values())
        compared = sum(v["elements"] for v in agreement.values())
        lat = r["latency_ms"]
        lines.append(
            f"| {name} | {b['total']} -> {a['total']} | {b['LOGISTIC']} -> {a['LOGISTIC']}"
            f" | {b['float']} -> {a['float']} | {b['float_between_bconvs']} -> "
            f"{a['float_between_bconvs']} | {b['bitpacked']}/{b['bconv']} -> "
            f"{a['bitpacked']}/{a['bconv']} | {100 * r['top1_agreement']:.2f} % | {diffs} | "
            f"{mismatched} of {compared} | {lat['plain']:.3f} -> {lat['export']:.3f} |"
        )
    if not {"binarynet_abn", "binarynet_bn"} <= set(results):
        return "\n".join(lines) + "\n"
    abn, bn = results["binarynet_abn"]["latency_ms"], results["binarynet_bn"]["latency_ms"]
    variants = {"export_bitpacked": "`\"bitpacked\"` splits",
                "export_split": "every interval split", "export_unsplit": "no split"}
    lines += [
        "",
        f"BinaryNet abn / bn latency: without export {abn['plain'] / bn['plain']:.3f}, "
        f"with export (default, `split_intervals=\"auto\"`) "
        f"{abn['export'] / bn['export']:.3f}"
        + "".join(f", with export and {text} {abn[kind] / bn['export']:.3f}"
                  for kind, text in variants.items() if kind in abn)
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", default="reports")
    parser.add_argument("--load", nargs="+", default=[], metavar="MODEL=PATH",
                        help="use the trained model file PATH for MODEL (e.g. "
                        "binarynet_abn=runs/bench/binarynet-x0.25-abn-e3-b128-s0/"
                        "model.keras) instead of training it here")
    parser.add_argument("--models", nargs="+", choices=sorted(models(1.0)),
                        help="the models to run (default: all; the summary line needs "
                        "both BinaryNets)")
    args = parser.parse_args()
    pairs = [item.partition("=") for item in args.load]
    bad = [item for item, (name, eq, path) in zip(args.load, pairs)
           if not eq or name not in models(1.0)]
    if bad:
        parser.error(f"--load takes MODEL=PATH with MODEL in {sorted(models(1.0))}; "
                     f"got {bad}")
    args.load = {name: path for name, _, path in pairs}
    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "export.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "export.md").write_text(markdown(results, args))
    print(markdown(results, args))


if __name__ == "__main__":
    main()
