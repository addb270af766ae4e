"""Evaluation of a saved model on a dataset's test split: accuracy, loss and, on
request, the accuracy of each class (`PerClassAccuracy`), in one pass."""

from __future__ import annotations

import logging

from larq_nobn import data
from larq_nobn.deploy.loading import load_keras_model
from larq_nobn.training.config import is_int
from larq_nobn.training.inputs import first_samples
from larq_nobn.training.models import outputs_probabilities

import tensorflow as tf

logger = logging.getLogger(__name__)

__all__ = ["PerClassAccuracy", "check_fits", "evaluate_model"]


class PerClassAccuracy(tf.keras.metrics.Metric):
    """Counts, per class, the samples and the correct top-1 predictions; its result is
    the mean of the per-class accuracies (balanced accuracy), `per_class()` the
    accuracies themselves.

    # Arguments
        num_classes: Number of classes; labels are in `[0, num_classes)`.
        name: The metric's name.
    """

    def __init__(self, num_classes, name="mean_class_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.correct = self.add_weight("correct", (self.num_classes,), initializer="zeros")
        self.total = self.add_weight("total", (self.num_classes,), initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        hits = tf.cast(tf.equal(tf.argmax(y_pred, -1, output_type=tf.int32), labels), tf.float32)
        self.total.assign_add(
            tf.math.bincount(
                labels, minlength=self.num_classes, maxlength=self.num_classes, dtype=tf.float32
            )
        )
        self.correct.assign_add(tf.math.unsorted_segment_sum(hits, labels, self.num_classes))

    def result(self):
        seen = self.total > 0
        return tf.reduce_mean(
            tf.boolean_mask(self.correct, seen) / tf.boolean_mask(self.total, seen)
        )

    def per_class(self) -> list:
        """`[(samples, accuracy or None)]`, one per class (`None`: no sample)."""
        correct, total = self.correct.numpy(), self.total.numpy()
        return [(int(n), float(c / n) if n else None) for c, n in zip(correct, total)]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def evaluate_model(
    model_path: str,
    dataset: str,
    *,
    batch_size: int = 256,
    data_dir: str | None = None,
    max_samples: int | None = None,
    verbose: int = 0,
    per_class: bool = False,
    safe_mode: bool | None = None,
) -> dict:
    """Test accuracy and loss of a saved model on a dataset's test split.

    A model that takes square images of another size than the dataset's (trained with
    `TrainConfig.image_size`) gets the images resized as in training
    (`resized_side`).

    # Arguments
        model_path: A saved Keras model.
        dataset: One of `larq_nobn.data.DATASETS`.
        batch_size: Examples per batch.
        data_dir: Where the dataset is (see `larq_nobn.data.load`).
        max_samples: Evaluate on the first samples only.
        verbose: Keras verbosity: 0 silent, 1 a progress bar, 2 one line at the end.
        per_class: Also count the accuracy of each class (in the same pass).
        safe_mode: `False` allows a model with stored Python code (Lambda layers);
            see `larq_nobn.deploy.load_keras_model`.

    # Returns
        `{"test_accuracy", "test_loss", "dataset", "model_path"}`, and with
        `per_class` `"per_class"`: one `{"class", "name", "samples", "accuracy"}` per
        class (`name` from the dataset's class names, else the class index as text;
        `accuracy` `None` for a class without samples) and `"mean_class_accuracy"`.

    # Raises
        FileNotFoundError: Missing data.
        ValueError: Unknown dataset, a model whose input or output does not fit the
            data, or (`DeployError`) a missing, unreadable, corrupt or unsafe model
            file.
    """
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    info = data.info(dataset)
    model = load_keras_model(model_path, safe_mode=safe_mode)
    image_size = resized_side(model, info)
    if image_size:
        logger.info("Resizing the %s images to %dx%d, the input size of %s.", dataset,
                    image_size, image_size, model_path)
        info = data.info(dataset, image_size)
    check_fits(model, model_path, dataset, info)
    test_data = data.load(dataset, "test", batch_size=batch_size, training=False,
                          data_dir=data_dir, image_size=image_size)
    test_data = first_samples(test_data, max_samples, batch_size)
    counts = PerClassAccuracy(info.num_classes) if per_class else None
    model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=not outputs_probabilities(model)
        ),
        metrics=["accuracy"] + ([counts] if counts else []),
    )
    results = model.evaluate(test_data, verbose=verbose, return_dict=True)
    summary = {
        "test_accuracy": float(results["accuracy"]),
        "test_loss": float(results["loss"]),
        "dataset": dataset,
        "model_path": model_path,
    }
    if counts:
        summary["mean_class_accuracy"] = float(results[counts.name])
        summary["per_class"] = _per_class_rows(counts, info.class_names)
    return summary


def resized_side(model, info) -> int | None:
    """The side the dataset's images are resized to for `model`, as training with
    `TrainConfig.image_size` resized them: the model's input side when it takes square
    images of the dataset's channels at another size; `None` otherwise (the images as
    they are)."""
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape or shape == tuple(info.image_shape):
        return None
    height, width, channels = shape
    return height if height == width and channels == info.image_shape[-1] else None


def check_fits(model, model_path, dataset, info):
    """Checks that `model` takes the images of `dataset` and has one output per class.

    # Raises
        ValueError: The input shape or the number of outputs differs; the message
            names the model file and the dataset.
    """
    expected = tuple(model.input_shape[1:])
    if None not in expected and expected != tuple(info.image_shape):
        raise ValueError(
            f"Model {str(model_path)!r} takes inputs of shape {expected}, but "
            f"{dataset!r} images have shape {tuple(info.image_shape)}."
        )
    shape = model.output_shape
    outputs = shape[-1] if isinstance(shape, tuple) and len(shape) == 2 else None
    if outputs != info.num_classes:
        fix = (
            f"evaluate it on a dataset with {outputs} classes (the one it was trained on)"
            if outputs
            else "evaluate a classifier with one output per class"
        )
        raise ValueError(
            f"Model {str(model_path)!r} has outputs of shape {shape}, but {dataset!r} "
            f"has {info.num_classes} classes: {fix}."
        )


def _per_class_rows(counts, class_names):
    names = class_names or [str(i) for i in range(counts.num_classes)]
    return [
        {"class": i, "name": names[i], "samples": samples, "accuracy": accuracy}
        for i, (samples, accuracy) in enumerate(counts.per_class())
    ]
