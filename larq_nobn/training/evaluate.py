"""Evaluation of a saved model on a dataset's test split: accuracy, loss and, on
request, the accuracy of each class (`PerClassAccuracy`), in one pass."""

from __future__ import annotations

import os
import zipfile

from larq_nobn import data
from larq_nobn.training.config import is_int
from larq_nobn.training.inputs import first_samples
from larq_nobn.training.models import outputs_probabilities

import tensorflow as tf

__all__ = ["PerClassAccuracy", "evaluate_model"]


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
) -> dict:
    """Test accuracy and loss of a saved model on a dataset's test split.

    # Arguments
        model_path: A saved Keras model.
        dataset: One of `larq_nobn.data.DATASETS`.
        batch_size: Examples per batch.
        data_dir: Where the dataset is (see `larq_nobn.data.load`).
        max_samples: Evaluate on the first samples only.
        verbose: Keras verbosity: 0 silent, 1 a progress bar, 2 one line at the end.
        per_class: Also count the accuracy of each class (in the same pass).

    # Returns
        `{"test_accuracy", "test_loss", "dataset", "model_path"}`, and with
        `per_class` `"per_class"`: one `{"class", "name", "samples", "accuracy"}` per
        class (`name` from the dataset's class names, else the class index as text;
        `accuracy` `None` for a class without samples) and `"mean_class_accuracy"`.

    # Raises
        FileNotFoundError: No model file, or missing data.
        ValueError: Unknown dataset, or a model whose input does not fit the data.
    """
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"Model file {model_path!r} does not exist.")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    info = data.info(dataset)
    test_data = data.load(dataset, "test", batch_size=batch_size, training=False, data_dir=data_dir)
    test_data = first_samples(test_data, max_samples, batch_size)
    try:
        model = tf.keras.models.load_model(model_path, compile=False)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"Cannot load a Keras model from {model_path!r}: {error}") from None
    expected = tuple(model.input_shape[1:])
    if None not in expected and expected != tuple(info.image_shape):
        raise ValueError(
            f"Model {model_path!r} takes inputs of shape {expected}, but {dataset!r} "
            f"images have shape {tuple(info.image_shape)}."
        )
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


def _per_class_rows(counts, class_names):
    names = class_names or [str(i) for i in range(counts.num_classes)]
    return [
        {"class": i, "name": names[i], "samples": samples, "accuracy": accuracy}
        for i, (samples, accuracy) in enumerate(counts.per_class())
    ]
