"""Training step time of the core layers against their plain Keras/larq counterparts.

Measures, side by side in one process (interleaved rounds, so a busy machine slows both
alike), on a BinaryNet-like stack at 32x32x3, batch 128:

- ABN vs Keras BatchNormalization (same stack otherwise);
- ScaledWS binary convs (`ChannelScaledSign`) + AGC(Adam) vs plain larq `QuantConv2D`
  + bare Adam.

Writes `reports/bench_core.json` and `reports/bench_core.md`.

    python benchmarks/bench_core.py [--batch-size 128] [--rounds 7] [--steps 5] [--width 1.0]
"""

import argparse
import json
import os
import time
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2)
from larq_nobn import ABN, ChannelScaledSign, ScaledWSQuantConv2D

import larq as lq
import numpy as np
import tensorflow as tf

BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign",
              kernel_constraint="weight_clip", use_bias=False)


def stack(norm, conv="larq", width=1.0, input_shape=(32, 32, 3)):
    """BinaryNet-like: fp conv, 5 binary convs with max-pools, binary dense, dense."""
    def c(n):
        return int(n * width)

    def binary_conv(filters):
        if conv == "ws":
            return ScaledWSQuantConv2D(
                filters, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                kernel_quantizer=ChannelScaledSign())
        return lq.layers.QuantConv2D(filters, 3, padding="same", pad_values=1.0, **BINARY)

    def normalize():
        if norm == "bn":
            return tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
        if norm == "abn":
            return ABN()
        return tf.keras.layers.Activation("linear")

    layers = [tf.keras.Input(input_shape),
              tf.keras.layers.Conv2D(c(128), 3, padding="same", use_bias=False),
              normalize()]
    for filters, pool in [(128, True), (256, False), (256, True), (512, False),
                          (512, True)]:
        layers.append(binary_conv(c(filters)))
        if pool:
            layers.append(tf.keras.layers.MaxPool2D())
        layers.append(normalize())
    layers += [tf.keras.layers.Flatten(), lq.layers.QuantDense(c(1024), **BINARY),
               normalize(), tf.keras.layers.Dense(10)]
    return tf.keras.Sequential(layers)


def make_step(model, optimizer):
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def compare(pairs, batch_size, rounds, steps, input_shape=(32, 32, 3)):
    """Interleaved timing of named step functions; returns seconds/step medians and the
    per-round ratios of each candidate to the first (the baseline)."""
    rng = np.random.RandomState(0)
    x = tf.constant(rng.randn(batch_size, *input_shape).astype("float32"))
    y = tf.constant(rng.randint(0, 10, batch_size))
    for step in pairs.values():  # trace and warm up
        for _ in range(2):
            step(x, y).numpy()
    times = {name: [] for name in pairs}
    for _ in range(rounds):
        for name, step in pairs.items():
            start = time.perf_counter()
            for _ in range(steps):
                loss = step(x, y)
            loss.numpy()
            times[name].append((time.perf_counter() - start) / steps)
    base = next(iter(pairs))
    return {
        name: {
            "seconds_per_step": float(np.median(t)),
            "images_per_second": float(batch_size / np.median(t)),
            "ratio_to_" + base: float(np.median(np.array(t) / np.array(times[base]))),
        }
        for name, t in times.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--output", default="reports")
    parser.add_argument("--jit-compile", action="store_true")
    args = parser.parse_args(argv)

    def steps_for(norm, conv, agc):
        model = stack(norm, conv, args.width)
        optimizer = tf.keras.optimizers.Adam(1e-3)
        if agc:
            optimizer = larq_nobn.AGC(optimizer, clip_factor=0.02)
        return make_step(model, optimizer)

    report = {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "tensorflow": tf.__version__,
        "batch_size": args.batch_size,
        "width": args.width,
    }
    report["abn_vs_bn"] = compare(
        {"bn": steps_for("bn", "larq", False), "abn": steps_for("abn", "larq", False)},
        args.batch_size, args.rounds, args.steps)
    if hasattr(larq_nobn, "AGC"):
        report["ws_agc_vs_plain"] = compare(
            {"plain_quantconv_adam": steps_for("bn", "larq", False),
             "ws_binary_agc_adam": steps_for("bn", "ws", True)},
            args.batch_size, args.rounds, args.steps)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_core.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Core layer step times (batch {args.batch_size}, width {args.width}, "
             f"load {report['machine']['load_average'][0]:.2f})", ""]
    for section in ("abn_vs_bn", "ws_agc_vs_plain"):
        if section in report:
            lines.append(f"## {section}")
            for name, r in report[section].items():
                ratio = [v for k, v in r.items() if k.startswith("ratio")][0]
                lines.append(f"- {name}: {r['images_per_second']:.1f} img/s, "
                             f"{r['seconds_per_step'] * 1e3:.1f} ms/step, ratio {ratio:.3f}")
    (out / "bench_core.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
