"""Section 7, input pipelines: how many images per second `larq_nobn.data.load` feeds,
batch 128, each pass consumed inside TensorFlow (`Dataset.reduce`), so the numbers are
what the pipeline delivers, not what a Python loop pulls.

- Fashion-MNIST from its IDX files: the training pipeline (shuffle, crop with 4-pixel
  padding, flip, normalization) and the evaluation one, over `pipeline_batches`
  batches (`None`: the whole split);
- Tiny ImageNet from a generated `tiny-imagenet-200` folder of `pipeline_images`
  64x64 JPEGs (smooth random images, which compress like photos): the training
  pipeline with its in-memory cache (the untimed warm-up pass fills it) and without
  (every pass decodes every file).

All pipelines are timed in one `timing.interleaved` call, one pass per round.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import timing
from larq_nobn import data

import numpy as np

BATCH = 128


def count_images(dataset) -> int:
    """One full pass, consumed in the TensorFlow runtime; returns the image count."""
    import tensorflow as tf

    return int(dataset.reduce(
        tf.constant(0, tf.int64), lambda total, batch: total + tf.shape(batch[0], tf.int64)[0]
    ))


def write_tiny_imagenet(root: Path, images: int, classes: int = 10, seed: int = 0):
    """A `tiny-imagenet-200` folder of `images` training JPEGs (a fifth of them also
    as validation images) in `classes` classes."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    wnids = [f"n{index:08d}" for index in range(classes)]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for index in range(images):
        wnid = wnids[index % classes]
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = tf.cast(tf.image.resize(small[None], [64, 64])[0], tf.uint8)
        encoded = tf.io.encode_jpeg(image, quality=90).numpy()
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{wnid}_{index}.JPEG").write_bytes(encoded)
        if index < images // 5:
            (root / "val" / "images" / f"val_{index}.JPEG").write_bytes(encoded)
            lines.append(f"val_{index}.JPEG\t{wnid}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def make_pipelines(plan, root: Path) -> dict:
    """`{name: dataset}` of the section."""
    def fashion(split, training):
        dataset = data.load("fashion_mnist", split, batch_size=BATCH, training=training,
                            augment=training, seed=0 if training else None)
        return dataset.take(plan.pipeline_batches) if plan.pipeline_batches else dataset

    def tiny(cache):
        return data.load("tiny_imagenet", "train", batch_size=BATCH, training=True,
                         augment=True, seed=0, data_dir=root, cache=cache)

    return {
        "fashion_mnist/train": fashion("train", True),
        "fashion_mnist/eval": fashion("test", False),
        "tiny_imagenet/train_cached": tiny(True),
        "tiny_imagenet/train_decode": tiny(False),
    }


def run(plan) -> dict:
    """`{"setup", "pipelines": {name: {"images", "seconds_per_pass", "images_per_s",
    "rounds_s"}}}`."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "tiny-imagenet-200"
        write_tiny_imagenet(root, plan.pipeline_images)
        pipelines = make_pipelines(plan, root)
        images = {name: count_images(dataset) for name, dataset in pipelines.items()}
        steps = {name: (lambda d=dataset: count_images(d)) for name, dataset in pipelines.items()}
        times = timing.interleaved(steps, plan.pipeline_rounds, repeats=1, warmup=0)
    return {
        "setup": {"batch_size": BATCH, "rounds": plan.pipeline_rounds,
                  "fashion_mnist_batches": plan.pipeline_batches,
                  "tiny_imagenet_images": plan.pipeline_images},
        "pipelines": {
            name: {"images": images[name], "seconds_per_pass": t["fastest_s"],
                   "images_per_s": images[name] / t["fastest_s"], "rounds_s": t["rounds_s"]}
            for name, t in times.items()
        },
    }
