"""Step-time overhead of adaptive gradient clipping: AGC(Adam) vs bare Adam.

Trains two identical BinaryNet-like larq models (binary QuantConv2D stack, batch 128,
32x32x3 inputs by default) side by side in one process, interleaving rounds of steps
so that both see the same machine load, and reports the median step times, the ratio
and the cost of the clipping computation alone. Writes `reports/bench_agc.json` and
`reports/bench_agc.md` (the `reports/` folder is git-ignored).

    python benchmarks/bench_agc.py [--batch-size 128] [--rounds 15] [--steps 2] [--legacy]
"""

import argparse
import json
import os
import platform
import statistics
import time

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from larq_nobn.optimizers import AGC

import larq as lq
import numpy as np
import tensorflow as tf

BINARY = dict(
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint="weight_clip",
    use_bias=False,
)


def binarynet_like(input_shape, num_classes, width, seed=0):
    """First conv full precision, then binary convs with BN, binary dense, fp head."""
    tf.keras.utils.set_random_seed(seed)
    c = [int(width * f) for f in (1, 1, 2, 2, 4)]
    inputs = tf.keras.Input(input_shape)
    x = lq.layers.QuantConv2D(
        c[0], 3, padding="same", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", use_bias=False,
    )(inputs)
    x = tf.keras.layers.BatchNormalization(scale=False)(x)
    x = lq.layers.QuantConv2D(c[1], 3, padding="same", **BINARY)(x)
    x = tf.keras.layers.MaxPool2D()(x)
    x = tf.keras.layers.BatchNormalization(scale=False)(x)
    x = lq.layers.QuantConv2D(c[2], 3, padding="same", **BINARY)(x)
    x = tf.keras.layers.BatchNormalization(scale=False)(x)
    x = lq.layers.QuantConv2D(c[3], 3, padding="same", **BINARY)(x)
    x = tf.keras.layers.MaxPool2D()(x)
    x = tf.keras.layers.BatchNormalization(scale=False)(x)
    x = lq.layers.QuantConv2D(c[4], 3, padding="same", **BINARY)(x)
    x = tf.keras.layers.MaxPool2D()(x)
    x = tf.keras.layers.BatchNormalization(scale=False)(x)
    x = tf.keras.layers.Flatten()(x)
    x = lq.layers.QuantDense(256, **BINARY)(x)
    x = tf.keras.layers.BatchNormalization(scale=False)(x)
    outputs = tf.keras.layers.Dense(num_classes, name="head")(x)
    return tf.keras.Model(inputs, outputs)


def make_step(model, optimizer, dataset):
    model.compile(
        optimizer,
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    train_function = model.make_train_function()
    iterator = iter(dataset)

    def step(n):
        for _ in range(n):
            logs = train_function(iterator)
        float(logs["loss"])  # wait for the last step

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=64, help="channels of the first conv")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=2, help="steps per round and model")
    parser.add_argument("--clip-factor", type=float, default=0.02)
    parser.add_argument("--legacy", action="store_true", help="also legacy Adam")
    parser.add_argument("--output", default="reports/bench_agc")
    args = parser.parse_args()

    shape = (args.image_size, args.image_size, 3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size,) + shape).astype(np.float32)
    y = rng.integers(0, 10, size=(args.batch_size,)).astype(np.int32)
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()

    pairs = {"Adam": tf.keras.optimizers.Adam}
    if args.legacy:
        pairs["legacy Adam"] = tf.keras.optimizers.legacy.Adam
    variants = {}
    for label, make in pairs.items():
        variants[label] = make(1e-3)
        variants[f"AGC({label})"] = AGC(
            make(1e-3), clip_factor=args.clip_factor, exclude="head/"
        )

    steps, models = {}, {}
    for label, optimizer in variants.items():
        models[label] = binarynet_like(shape, 10, args.width)
        steps[label] = make_step(models[label], optimizer, dataset)
        steps[label](3)  # trace and warm up

    times = {label: [] for label in variants}
    for _ in range(args.rounds):
        for label in variants:
            start = time.perf_counter()
            steps[label](args.steps)
            times[label].append((time.perf_counter() - start) / args.steps)

    # The clipping computation alone, on the model's variables and random gradients.
    model = models[next(iter(variants))]
    agc = AGC(tf.keras.optimizers.Adam(), clip_factor=args.clip_factor, exclude="head/")
    grads = [tf.random.normal(v.shape) for v in model.trainable_variables]
    variables = model.trainable_variables
    clip = tf.function(lambda gs: [g for g, _ in agc.clip_gradients(zip(gs, variables))])
    clip(grads)
    start = time.perf_counter()
    for _ in range(50):
        out = clip(grads)
    float(out[0][(0,) * out[0].shape.rank])
    clip_ms = (time.perf_counter() - start) / 50 * 1e3

    results = {
        "config": {
            **vars(args),
            "trainable_variables": len(model.trainable_variables),
            "parameters": int(model.count_params()),
            "tensorflow": tf.__version__,
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "median_step_ms": {k: statistics.median(v) * 1e3 for k, v in times.items()},
        "img_per_s": {k: args.batch_size / statistics.median(v) for k, v in times.items()},
        "clip_only_ms": clip_ms,
        "ratios": {},
    }
    for label in pairs:
        per_round = [a / b for a, b in zip(times[f"AGC({label})"], times[label])]
        results["ratios"][f"AGC({label}) / {label}"] = {
            "median_of_round_ratios": statistics.median(per_round),
            "min": min(per_round),
            "max": max(per_round),
        }

    lines = [
        "# AGC step-time overhead",
        "",
        f"BinaryNet-like larq model, {results['config']['parameters']:,} parameters in "
        f"{results['config']['trainable_variables']} trainable variables, batch "
        f"{args.batch_size}, {shape}, {args.rounds} interleaved rounds of {args.steps} "
        f"steps, TF {tf.__version__}, {os.cpu_count()} CPUs.",
        "",
        "| optimizer | median step (ms) | img/s |",
        "|---|---:|---:|",
    ]
    for label in variants:
        lines.append(
            f"| {label} | {results['median_step_ms'][label]:.1f} | "
            f"{results['img_per_s'][label]:.1f} |"
        )
    lines.append("")
    for name, r in results["ratios"].items():
        lines.append(
            f"- {name}: {r['median_of_round_ratios']:.3f}x "
            f"(per-round range {r['min']:.3f}-{r['max']:.3f})"
        )
    lines.append(f"- clipping computation alone (tf.function): {clip_ms:.2f} ms per step")
    report = "\n".join(lines)
    print(report)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output + ".json", "w") as f:
        json.dump(results, f, indent=2)
    with open(args.output + ".md", "w") as f:
        f.write(report + "\n")


if __name__ == "__main__":
    main()
