"""Throughput of the `larq_nobn.data` input pipelines, in images per second.

Measures, one after the other (median of `--rounds` full passes each):

- Fashion-MNIST from the real IDX files: the training pipeline (shuffle, random crop
  with 4-pixel padding, flip, normalization) and the evaluation pipeline;
- CIFAR-10 through tensorflow-datasets on `tfds.testing.mock_data` (random images
  through the real loading code): training and evaluation pipelines;
- Tiny ImageNet from a generated `tiny-imagenet-200` folder of 64x64 JPEGs: the first
  pass (reads and decodes every file, fills the in-memory cache) and a cached pass.

Each pass is consumed inside TensorFlow (`Dataset.reduce`), so the numbers are what the
pipeline can feed, not what a Python loop can pull. Building a pipeline (loading the
arrays included) is timed separately.

Writes `reports/bench_data.json` and `reports/bench_data.md`.

    python benchmarks/bench_data.py [--batch-size 128] [--rounds 3]
        [--cifar-examples 10000] [--tiny-images 2000]
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2)
from larq_nobn import data

import numpy as np
import tensorflow as tf


def count_images(dataset):
    """One full pass, consumed in the TensorFlow runtime; returns the image count."""
    return int(
        dataset.reduce(
            tf.constant(0, tf.int64),
            lambda total, batch: total + tf.shape(batch[0], tf.int64)[0],
        )
    )


def passes(dataset, rounds):
    """Images per second of `rounds` full passes (median, min, max) and the count."""
    rates, count = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        count = count_images(dataset)
        rates.append(count / (time.perf_counter() - start))
    return dict(
        images=count,
        images_per_s=statistics.median(rates),
        min_images_per_s=min(rates),
        max_images_per_s=max(rates),
    )


def timed_build(build):
    start = time.perf_counter()
    dataset = build()
    return dataset, time.perf_counter() - start


def bench_fashion_mnist(batch_size, rounds):
    results = {}
    for mode, training in (("train", True), ("eval", False)):
        split = "train" if training else "test"
        dataset, build_s = timed_build(
            lambda split=split, training=training: data.load(
                "fashion_mnist", split, batch_size=batch_size, training=training, seed=0
            )
        )
        results[f"fashion_mnist/{mode}"] = dict(
            build_s=build_s, **passes(dataset, rounds)
        )
    return results


def bench_mock_cifar(batch_size, rounds, examples):
    import tensorflow_datasets as tfds

    results = {}
    with tfds.testing.mock_data(num_examples=examples):
        original = tfds.core.DatasetBuilder.is_prepared
        tfds.core.DatasetBuilder.is_prepared = lambda self: True
        try:
            for mode, training in (("train", True), ("eval", False)):
                dataset, build_s = timed_build(
                    lambda training=training: data.load(
                        "cifar10",
                        "train",
                        batch_size=batch_size,
                        training=training,
                        seed=0,
                    )
                )
                results[f"cifar10_mock/{mode}"] = dict(
                    build_s=build_s, **passes(dataset, rounds)
                )
        finally:
            tfds.core.DatasetBuilder.is_prepared = original
    return results


def write_tiny_imagenet(root, images, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    wnids = [f"n{index:08d}" for index in range(classes)]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for index in range(images):
        wnid = wnids[index % classes]
        # Smooth random images compress like photos (not like noise).
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = tf.image.resize(small[None], [64, 64])[0]
        encoded = tf.io.encode_jpeg(tf.cast(image, tf.uint8), quality=90).numpy()
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{wnid}_{index}.JPEG").write_bytes(encoded)
        if index < images // 5:
            (root / "val" / "images" / f"val_{index}.JPEG").write_bytes(encoded)
            lines.append(f"val_{index}.JPEG\t{wnid}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def bench_tiny_imagenet(batch_size, rounds, images):
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "tiny-imagenet-200"
        write_tiny_imagenet(root, images)
        dataset, build_s = timed_build(
            lambda: data.load(
                "tiny_imagenet",
                "train",
                batch_size=batch_size,
                training=True,
                seed=0,
                data_dir=root,
            )
        )
        results["tiny_imagenet_generated/train_first_pass_decode"] = dict(
            build_s=build_s, **passes(dataset, 1)
        )
        results["tiny_imagenet_generated/train_cached"] = dict(
            build_s=0.0, **passes(dataset, rounds)
        )
        uncached = data.load(
            "tiny_imagenet",
            "train",
            batch_size=batch_size,
            training=True,
            seed=0,
            data_dir=root,
            cache=False,
        )
        results["tiny_imagenet_generated/train_uncached"] = dict(
            build_s=0.0, **passes(uncached, rounds)
        )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cifar-examples", type=int, default=10_000)
    parser.add_argument("--tiny-images", type=int, default=2_000)
    parser.add_argument("--output", default="reports")
    args = parser.parse_args()

    results = {}
    results.update(bench_fashion_mnist(args.batch_size, args.rounds))
    results.update(bench_mock_cifar(args.batch_size, args.rounds, args.cifar_examples))
    results.update(bench_tiny_imagenet(args.batch_size, args.rounds, args.tiny_images))

    environment = dict(
        tensorflow=tf.__version__,
        cpus=os.cpu_count(),
        machine=platform.machine(),
        batch_size=args.batch_size,
        rounds=args.rounds,
        cifar_examples=args.cifar_examples,
        tiny_images=args.tiny_images,
    )
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "bench_data.json").write_text(
        json.dumps(dict(environment=environment, results=results), indent=2) + "\n"
    )
    lines = [
        "# larq_nobn.data pipeline throughput",
        "",
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, batch {args.batch_size}, "
        f"median of {args.rounds} passes (min-max); build = pipeline construction "
        "incl. loading arrays.",
        "",
        "| pipeline | images/pass | images/s | min-max | build s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['images']} | {r['images_per_s']:,.0f} | "
            f"{r['min_images_per_s']:,.0f}-{r['max_images_per_s']:,.0f} | "
            f"{r['build_s']:.2f} |"
        )
    (output / "bench_data.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
