"""Benchmark of the zoo's BinaryNet: training speed of the variants, optionally accuracy

Speed: training step time (forward, backward, update) of `larq_nobn.zoo.BinaryNet` in
the variants bn, abn, bf (Adam wrapped in `larq_nobn.AGC` with the module's settings,
and plain Adam to show AGC's share) and none, next to a plain larq BinaryNet with BN
written out below, all built in one process and timed side by side: after warm-up, the
models take turns for several rounds and each model's step time is its fastest round
(outside load only ever slows a round down; on the shared 2-core machines here whole
rounds run ~1.7x slower at times, whatever the model), with the median kept in the JSON.
Reported: images/s, and the
abn/bn and bf/bn step time ratios.

Accuracy (`--fmnist-epochs N`, off by default): each variant of BinaryNet at
`--fmnist-width` trains N epochs on real Fashion-MNIST (Adam 1e-3, batch 128; bf with
AGC) and is evaluated on the 10k test images.

    python benchmarks/bench_binarynet.py                     # speed, x1 at 32x32x3
    python benchmarks/bench_binarynet.py --fmnist-epochs 1   # plus accuracy

The report goes to `reports/bench_binarynet.md` (and `.json`), with the machine load
(`os.getloadavg`) before and after, since timings on a shared machine depend on it.
"""

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from larq_nobn.optimizers import AGC  # noqa: E402
from larq_nobn.zoo import binarynet  # noqa: E402

import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FMNIST_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def plain_larq_binarynet(input_shape, num_classes=10):
    """BinaryNet x1 with BN as one would write it from the larq documentation: the
    reference for the zoo's speed (same layers, no zoo code)."""
    binary = dict(
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )
    bn = dict(momentum=0.9, epsilon=1e-5)
    inputs = tf.keras.Input(input_shape)
    x = lq.layers.QuantConv2D(128, 3, padding="same", use_bias=False)(inputs)
    x = tf.keras.layers.BatchNormalization(**bn)(x)
    body = ((128, True), (256, False), (256, True), (512, False), (512, True))
    for filters, pool in body:
        x = lq.layers.QuantConv2D(filters, 3, padding="same", **binary)(x)
        if pool:
            x = tf.keras.layers.MaxPool2D(2)(x)
        x = tf.keras.layers.BatchNormalization(**bn)(x)
    x = tf.keras.layers.Flatten()(x)
    for _ in range(2):
        x = lq.layers.QuantDense(1024, **binary)(x)
        x = tf.keras.layers.BatchNormalization(**bn)(x)
    x = lq.layers.QuantDense(num_classes, input_quantizer="ste_sign", use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization(center=False, scale=False, **bn)(x)
    return tf.keras.Model(inputs, x, name="plain_larq_binarynet")


def _compile(model, agc):
    optimizer = tf.keras.optimizers.Adam(1e-3)
    if agc:
        optimizer = AGC(
            optimizer,
            clip_factor=binarynet.AGC_CLIP_FACTOR,
            exclude=binarynet.AGC_EXCLUDE,
        )
    model.compile(
        optimizer,
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def speed(args):
    shape = tuple(args.input_shape)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(args.batch,) + shape).astype("float32"))
    y = tf.constant(rng.integers(0, 10, args.batch).astype("int32"))
    builders = {
        "plain larq (bn)": lambda: _compile(plain_larq_binarynet(shape), agc=False),
    }
    for norm in ("bn", "abn", "bf", "none"):
        builders[norm] = lambda norm=norm: _compile(
            binarynet.BinaryNet(norm, input_shape=shape, width_multiplier=args.width),
            agc=norm == "bf",
        )
    builders["bf (Adam, no AGC)"] = lambda: _compile(
        binarynet.BinaryNet("bf", input_shape=shape, width_multiplier=args.width),
        agc=False,
    )
    models = {}
    for name, build in builders.items():
        model = build()
        start = time.perf_counter()
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
        seconds = time.perf_counter() - start
        print(f"built and warmed up {name} ({seconds:.1f} s)", flush=True)
        models[name] = model
    times = {name: [] for name in models}
    for r in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / args.steps)
        print(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()}", flush=True)
    results = {}
    for name, ts in times.items():
        step = min(ts)
        results[name] = dict(step_s=step, img_per_s=args.batch / step, rounds_s=ts,
                             median_s=statistics.median(ts))
    bn = results["bn"]["step_s"]
    for name in results:
        results[name]["step_ratio_to_bn"] = results[name]["step_s"] / bn
    return results


def _load_fmnist(kind):
    with gzip.open(FMNIST_DIR / f"{kind}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(FMNIST_DIR / f"{kind}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images.astype("float32") / 255.0, labels.astype("int32")


def accuracy(args):
    x_train, y_train = _load_fmnist("train")
    x_test, y_test = _load_fmnist("t10k")
    results = {}
    for norm in args.fmnist_norms:
        tf.keras.utils.set_random_seed(args.seed)
        model = _compile(
            binarynet.BinaryNet(
                norm, input_shape=(28, 28, 1), width_multiplier=args.fmnist_width
            ),
            agc=norm == "bf",
        )
        data = (
            tf.data.Dataset.from_tensor_slices((x_train, y_train))
            .shuffle(len(x_train), seed=args.seed)
            .batch(128)
        )
        start = time.perf_counter()
        history = model.fit(data, epochs=args.fmnist_epochs, verbose=2)
        seconds = time.perf_counter() - start
        _, test_accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
        results[norm] = dict(
            train_accuracy=history.history["accuracy"],
            test_accuracy=float(test_accuracy),
            seconds=seconds,
        )
        print(f"{norm}: test accuracy {test_accuracy:.4f} ({seconds:.0f} s)")
    return results


def write_report(args, load_before, load_after, speed_results, accuracy_results):
    out = ROOT / "reports"
    out.mkdir(exist_ok=True)
    info = dict(
        command=" ".join(sys.argv),
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        tensorflow=tf.__version__,
        larq=lq.__version__,
        load_before=load_before,
        load_after=load_after,
    )
    payload = dict(
        info=info, args=vars(args), speed=speed_results, accuracy=accuracy_results
    )
    (out / "bench_binarynet.json").write_text(json.dumps(payload, indent=2))
    lines = [
        "# BinaryNet benchmark",
        "",
        f"`{info['command']}`, {info['date']}, {info['machine']}, "
        f"TF {info['tensorflow']}, larq {info['larq']}.",
        f"Load average (1, 5, 15 min) before: {load_before}, after: {load_after}.",
        "",
    ]
    if speed_results:
        h, w, c = args.input_shape
        lines += [
            f"## Training speed: BinaryNet x{args.width:g}, {h}x{w}x{c}, batch "
            f"{args.batch}, Adam",
            "",
            f"Fastest of {args.rounds} interleaved rounds of {args.steps} steps, "
            f"after {args.warmup} warm-up steps; bf is timed with AGC (clip factor "
            f"{binarynet.AGC_CLIP_FACTOR}) as recommended, and without.",
            "",
            "| model | step (ms) | img/s | step time / bn |",
            "|---|---:|---:|---:|",
        ]
        for name, r in speed_results.items():
            lines.append(
                f"| {name} | {r['step_s'] * 1000:.0f} | {r['img_per_s']:.1f} | "
                f"{r['step_ratio_to_bn']:.3f} |"
            )
        lines.append("")
    if accuracy_results:
        lines += [
            f"## Fashion-MNIST: BinaryNet x{args.fmnist_width:g}, 28x28x1, "
            f"{args.fmnist_epochs} epoch(s), batch 128, Adam 1e-3 (bf: + AGC)",
            "",
            "| norm | train accuracy (last epoch) | test accuracy | time (s) |",
            "|---|---:|---:|---:|",
        ]
        for name, r in accuracy_results.items():
            lines.append(
                f"| {name} | {r['train_accuracy'][-1]:.4f} | "
                f"{r['test_accuracy']:.4f} | {r['seconds']:.0f} |"
            )
        lines.append("")
    (out / "bench_binarynet.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--input-shape", type=int, nargs=3, default=(32, 32, 3))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-speed", action="store_true", help="skip the speed part")
    parser.add_argument("--fmnist-epochs", type=int, default=0)
    parser.add_argument("--fmnist-width", type=float, default=0.25)
    parser.add_argument(
        "--fmnist-norms", nargs="+", default=["bn", "abn", "bf", "none"],
        choices=["bn", "abn", "bf", "none"],
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load_before = os.getloadavg()
    speed_results = None if args.no_speed else speed(args)
    accuracy_results = accuracy(args) if args.fmnist_epochs > 0 else None
    write_report(args, load_before, os.getloadavg(), speed_results, accuracy_results)


if __name__ == "__main__":
    main()
