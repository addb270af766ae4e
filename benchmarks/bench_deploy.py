"""LCE deployment benchmark: convert, verify on real Fashion-MNIST, time on this host.

For every norm variant of the zoo's BinaryNet (small width, 28x28x1):

1. train it briefly on Fashion-MNIST, so that verification compares a *trained* network
   (`--train-steps` steps of batch 128, Adam 1e-3; the `bf` variant inside AGC with the
   zoo's recommended settings);
2. convert it with LCE (target arm) and record the op report: `LceBconv2d` count, how
   many write bitpacked output, warnings, file size against the ideal size;
3. verify LCE's interpreter against Keras on `--verify-samples` real test images: top-1
   agreement, largest logit difference, both accuracies;
4. time batch-1 latency with LCE's interpreter on this host, the LCE flatbuffer against
   the same network converted as a plain float TFLite model, per thread count.

`--all-models` adds ResNet-18 and ReActNet-A (tiny widths, untrained: conversion report
and latency only).

On x86 LCE runs its portable C++ kernels, not its optimized ARM ones: the LCE/float
ratio here says nothing about a Raspberry Pi or a phone (examples/deploy/README.md).

Writes `reports/bench_deploy.json` and `reports/bench_deploy.md`.

    python benchmarks/bench_deploy.py [--variants bn abn bf none] [--width 0.25]
        [--train-steps 200] [--verify-samples 2000] [--runs 100] [--threads 1 2]
"""

import argparse
import json
import platform
import time
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn import AGC, data, deploy, zoo
from larq_nobn.zoo import binarynet as zoo_binarynet

import numpy as np
import tensorflow as tf


def fashion_mnist(train_samples, test_samples, seed=0):
    """(x_train, y_train, x_test, y_test, source) from `larq_nobn.data`'s pipelines:
    the same preprocessing as `larq-nobn train` and `larq-nobn convert --verify-dataset`."""

    def take(split, count, training):
        kwargs = dict(training=training, batch_size=256)
        if training:
            kwargs["seed"] = seed
        xs, ys, n = [], [], 0
        for x, y in data.load("fashion_mnist", split, **kwargs):
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
            n += len(xs[-1])
            if n >= count:
                break
        return np.concatenate(xs)[:count], np.concatenate(ys)[:count]

    x_train, y_train = take("train", train_samples, True)
    x_test, y_test = take("test", test_samples, False)
    return x_train, y_train, x_test, y_test, "larq_nobn.data"


def binarynet(norm, width, input_shape=(28, 28, 1)):
    return zoo.BinaryNet(norm=norm, input_shape=input_shape, num_classes=10,
                         width_multiplier=width)


def optimizer_for(norm):
    """Adam 1e-3; for `bf` inside AGC with the zoo's recommended settings."""
    adam = tf.keras.optimizers.Adam(1e-3)
    if norm != "bf":
        return adam, "Adam 1e-3"
    clip = zoo_binarynet.AGC_CLIP_FACTOR
    return AGC(adam, clip_factor=clip, exclude=zoo_binarynet.AGC_EXCLUDE), (
        f"AGC(Adam 1e-3, clip {clip})"
    )


def measure(name, model, args, data=None, train_info=None):
    """Convert, (verify), benchmark one model; returns a JSON-able row."""
    row = {"model": name, "params": int(model.count_params())}
    if train_info:
        row.update(train_info)
    start = time.perf_counter()
    result = deploy.convert(model, "arm")
    row["convert_seconds"] = round(time.perf_counter() - start, 1)
    ops, size = result.ops, result.size
    row.update(
        num_bconv=ops.num_bconv,
        num_bitpacked=ops.num_bitpacked,
        binary_layers=len(ops.layers),
        binary_layers_float=sum(s.binary_op is None for s in ops.layers),
        warnings=ops.warnings,
        notes=ops.notes,
        op_counts=ops.op_counts,
        file_bytes=size.file_bytes,
        ideal_bytes=size.ideal_bytes,
        size_ratio=round(size.ratio, 3),
    )
    if data is not None:
        x_test, y_test = data
        check = result.verify(x_test, y_test)
        row.update(
            verify_samples=check.samples,
            agreement=check.agreement,
            max_abs_diff=check.max_abs_diff,
            keras_accuracy=check.keras_accuracy,
            lce_accuracy=check.lce_accuracy,
            verification_passed=check.passed,
        )
    bench = deploy.benchmark(result.flatbuffer, threads=tuple(args.threads), runs=args.runs,
                             warmup=args.warmup, keras_model=model, progress=True)
    row["latency"] = [r.__dict__ for r in bench.rows]
    row["speedup"] = {str(t): bench.speedup(t) for t in args.threads}
    row["benchmark_notes"] = bench.notes
    print(result.to_text(), flush=True)
    print(bench.to_text(), flush=True)
    return row


def _stats(s):
    return f"{s['median_ms']:.3f} / {s['p90_ms']:.3f} / {s['min_ms']:.3f}"


def markdown(report):
    lines = [
        "# LCE deployment benchmark",
        "",
        f"Host: {report['host']}. TensorFlow {report['tensorflow']}, "
        f"LCE {report['lce']}. Data: {report['data_source']}.",
        "",
        "**LCE's Python interpreter runs LCE's portable C++ kernels on this "
        f"{report['machine']} host, not the optimized ARM kernels; the float model uses "
        "TFLite's optimized x86 kernels. The LCE/float ratio below says nothing about "
        "ARM devices** (see examples/deploy/README.md).",
        "",
        "| model | LceBconv2d | bitpacked | binary layers float | size ratio | "
        "agreement | max abs diff | acc Keras | acc LCE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    pct = lambda v: "" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    for r in report["rows"]:
        diff = r.get("max_abs_diff")
        lines.append(
            f"| {r['model']} | {r['num_bconv']} | {r['num_bitpacked']} | "
            f"{r['binary_layers_float']}/{r['binary_layers']} | {r['size_ratio']:.2f} | "
            f"{pct(r.get('agreement'))} | {'' if diff is None else f'{diff:.2e}'} | "
            f"{pct(r.get('keras_accuracy'))} | {pct(r.get('lce_accuracy'))} |"
        )
    lines += ["", "Latency, batch 1 (ms; median / p90 / min):", "",
              "| model | threads | LCE | float | float/LCE |", "|---|---:|---|---|---:|"]
    for r in report["rows"]:
        by = {(x["model"], x["threads"]): x for x in r["latency"]}
        for t in report["threads"]:
            lce, flt = by.get(("lce", t)), by.get(("float", t))
            speed = r["speedup"].get(str(t))
            lines.append(f"| {r['model']} | {t} | {_stats(lce)} | {_stats(flt) if flt else ''} | "
                         f"{'' if speed is None else f'{speed:.2f}x'} |")
    lines += ["", "Training before verification: " + "; ".join(
        f"{r['model']}: {r['train_steps']} steps, {r['optimizer']}, {r['train_seconds']} s"
        for r in report["rows"] if "train_steps" in r)]
    warnings = [(r["model"], w) for r in report["rows"] for w in r["warnings"]]
    if warnings:
        lines += ["", "Warnings:", ""] + [f"- {m}: {w}" for m, w in warnings]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["bn", "abn", "bf", "none"])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--verify-samples", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--all-models", action="store_true",
                        help="also ResNet-18 and ReActNet-A (untrained, tiny widths)")
    parser.add_argument("--output-dir", default="reports")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true",
                        help="train again even if a trained model with the same settings "
                        "is cached in OUTPUT_DIR/bench_deploy_models")
    args = parser.parse_args(argv)

    tf.keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test, source = fashion_mnist(
        args.train_steps * args.batch_size, args.verify_samples, args.seed)
    rows = []
    out = Path(args.output_dir)
    cache = out / "bench_deploy_models"
    cache.mkdir(parents=True, exist_ok=True)
    for norm in args.variants:
        model = binarynet(norm, args.width)
        optimizer, optimizer_name = optimizer_for(norm)
        stem = f"{model.name}_x{args.width:g}_{args.train_steps}steps_seed{args.seed}"
        model_path = cache / (stem.replace(".", "p") + ".keras")
        info_path = model_path.with_suffix(".json")
        if model_path.exists() and info_path.exists() and not args.retrain:
            # Trained before with the same settings: reuse (training dominates the run).
            model = deploy.load_keras_model(model_path)
            info = json.loads(info_path.read_text())
        else:
            model.compile(optimizer,
                          tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            start = time.perf_counter()
            history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1,
                                verbose=2)
            info = {"train_steps": int(np.ceil(len(x_train) / args.batch_size)),
                    "optimizer": optimizer_name,
                    "train_seconds": round(time.perf_counter() - start, 1),
                    "train_accuracy": float(history.history["accuracy"][-1])}
            model.save(model_path)
            info_path.write_text(json.dumps(info))
        rows.append(measure(f"{model.name} (x{args.width})", model, args,
                            (x_test, y_test), info))
    if args.all_models:
        for norm in ("bn", "abn", "bf", "none"):
            for _name, build in (
                ("ResNet18", lambda n: zoo.ResNet18(norm=n, input_shape=(32, 32, 3),
                                                    num_classes=10, width_multiplier=0.25)),
                ("ReActNetA", lambda n: zoo.ReActNetA(norm=n, input_shape=(32, 32, 3),
                                                      num_classes=10, width_multiplier=0.125)),
            ):
                model = build(norm)
                rows.append(measure(f"{model.name} (tiny, untrained)", model, args))

    import larq_compute_engine

    report = {
        "host": deploy.host_description(),
        "machine": platform.machine(),
        "tensorflow": tf.__version__,
        "lce": getattr(larq_compute_engine, "__version__", "?"),
        "data_source": source,
        "threads": args.threads,
        "args": vars(args),
        "rows": rows,
    }
    (out / "bench_deploy.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    (out / "bench_deploy.md").write_text(markdown(report))
    print((out / "bench_deploy.md").read_text())


if __name__ == "__main__":
    main()
