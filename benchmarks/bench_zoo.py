"""Training speed of the zoo's residual models in their norm variants, side by side.

Times the training step (forward, backward, update) of `larq_nobn.zoo.ResNet18`
(`variant="reactnet"`, CIFAR stem) in the variants bn, abn and bf (Adam wrapped in
`larq_nobn.optimizers.AGC` with the module's `AGC_CLIP_FACTOR` / `AGC_EXCLUDE`, plus bf
with plain Adam to show AGC's share), and, when `larq_nobn.zoo.BinaryNet` exists, of
BinaryNet x1 in bn, abn and bf (+AGC). All models are built in one process, warmed up,
then take turns for several rounds; each model's step time is its fastest round
(outside load only ever slows a round down; on the shared 2-core machines here whole
rounds run ~1.7x slower at times, whatever the model), the median is kept in the JSON.
Reported: step time,
images/s and the abn/bn and bf/bn step-time ratios per model, with the machine load
before and after.

    python benchmarks/bench_zoo.py                       # batch 128, 32x32x3
    python benchmarks/bench_zoo.py --batch-size 32 --rounds 3 --width 0.5

Writes `reports/bench_zoo.md` and `reports/bench_zoo.json`.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from larq_nobn import zoo  # noqa: E402
from larq_nobn.zoo import resnet  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _optimizer(module, norm, agc, learning_rate=1e-3):
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    if agc and norm == "bf":
        from larq_nobn.optimizers import AGC

        optimizer = AGC(
            optimizer, clip_factor=module.AGC_CLIP_FACTOR, exclude=module.AGC_EXCLUDE
        )
    return optimizer


def candidates(args):
    """(label, family, norm, build, module, agc) of every model to time."""
    shape = (args.image_size, args.image_size, 3)
    out = []
    for norm, agc in (("bn", False), ("abn", False), ("bf", True), ("bf", False)):
        label = f"resnet18_reactnet_{norm}" + ("+agc" if agc else "")
        build = lambda n=norm: zoo.ResNet18(  # noqa: E731
            n, input_shape=shape, num_classes=10, width_multiplier=args.width
        )
        out.append((label, "ResNet18 reactnet", norm, build, resnet, agc))
    if hasattr(zoo, "BinaryNet") and not args.no_binarynet:
        from larq_nobn.zoo import binarynet

        for norm, agc in (("bn", False), ("abn", False), ("bf", True)):
            label = f"binarynet_x1_{norm}" + ("+agc" if agc else "")
            build = lambda n=norm: zoo.BinaryNet(  # noqa: E731
                n, input_shape=shape, num_classes=10, width_multiplier=1
            )
            out.append((label, "BinaryNet x1", norm, build, binarynet, agc))
    return out


def speed(args):
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (args.batch_size, args.image_size, args.image_size, 3))
    x = x.astype("float32")
    y = rng.randint(0, 10, args.batch_size)
    models = []
    for label, family, norm, build, module, agc in candidates(args):
        tf.keras.utils.set_random_seed(0)
        model = build()
        model.compile(
            _optimizer(module, norm, agc),
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
        models.append((label, family, norm, agc, model))
        print(f"built and warmed up {label}", flush=True)
    times = {label: [] for label, *_ in models}
    for r in range(args.rounds):
        for label, *_, model in models:
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = model.train_on_batch(x, y)
            times[label].append((time.perf_counter() - start) / args.steps)
            if not np.isfinite(loss):
                raise RuntimeError(f"{label}: non-finite loss {loss}")
        print(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()}", flush=True)
    results = []
    for label, family, norm, agc, _ in models:
        step = min(times[label])
        results.append(
            dict(
                model=label,
                family=family,
                norm=norm,
                agc=agc,
                step_s=step,
                images_per_s=args.batch_size / step,
                rounds_s=times[label],
                median_s=statistics.median(times[label]),
            )
        )
    return results


def ratios(results):
    """abn/bn and bf/bn step-time ratios per model family (bf with AGC when timed)."""
    out = {}
    for family in dict.fromkeys(r["family"] for r in results):
        rows = [r for r in results if r["family"] == family]
        with_agc = any(r["norm"] == "bf" and r["agc"] for r in rows)
        step = {
            r["norm"]: r["step_s"]
            for r in rows
            if not (r["norm"] == "bf" and with_agc and not r["agc"])
        }
        if "bn" in step:
            out[family] = {
                f"{norm}/bn": step[norm] / step["bn"]
                for norm in ("abn", "bf")
                if norm in step
            }
    return out


def write_report(args, load_before, load_after, results):
    out = ROOT / "reports"
    out.mkdir(exist_ok=True)
    summary = ratios(results)
    payload = dict(
        args=vars(args),
        machine=dict(
            platform=platform.platform(),
            cpus=os.cpu_count(),
            tensorflow=tf.__version__,
            load_before=load_before,
            load_after=load_after,
        ),
        results=results,
        ratios=summary,
    )
    (out / "bench_zoo.json").write_text(json.dumps(payload, indent=2))
    lines = [
        "# Zoo training speed (bench_zoo.py)",
        "",
        f"Batch {args.batch_size}, {args.image_size}x{args.image_size}x3, 10 classes, "
        f"ResNet18 width x{args.width}, Adam (bf: +AGC where marked); fastest of "
        f"{args.rounds} interleaved rounds of {args.steps} step(s) after {args.warmup} "
        f"warm-up steps. {os.cpu_count()} CPUs, TF {tf.__version__}; load average "
        f"before {load_before[0]:.1f}, after {load_after[0]:.1f}.",
        "",
        "| model | step (s) | images/s |",
        "|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['model']} | {r['step_s']:.3f} | {r['images_per_s']:.1f} |")
    lines += ["", "| family | ratio | value |", "|---|---|---|"]
    for family, values in summary.items():
        for key, value in values.items():
            lines.append(f"| {family} | {key} | {value:.2f} |")
    lines.append("")
    (out / "bench_zoo.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=float, default=1.0, help="ResNet18 width")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1, help="steps per round")
    parser.add_argument("--no-binarynet", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = speed(args)
    write_report(args, load_before, os.getloadavg(), results)


if __name__ == "__main__":
    main()
