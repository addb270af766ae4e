"""Evaluation of a saved model on a dataset's test split."""

from __future__ import annotations

import os
import zipfile

from larq_nobn.training.config import is_int
from larq_nobn.training.inputs import first_samples
from larq_nobn.training.models import outputs_probabilities

import tensorflow as tf

__all__ = ["evaluate_model"]


def evaluate_model(
    model_path: str,
    dataset: str,
    *,
    batch_size: int = 256,
    data_dir: str | None = None,
    max_samples: int | None = None,
) -> dict:
    """Test accuracy and loss of a saved model on a dataset's test split.

    # Returns
        `{"test_accuracy", "test_loss", "dataset", "model_path"}`.

    # Raises
        FileNotFoundError: No model file, or missing data.
        ValueError: Unknown dataset, or a model whose input does not fit the data.
    """
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"Model file {model_path!r} does not exist.")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    from larq_nobn import data

    info = data.info(dataset)
    test_data = data.load(
        dataset, "test", batch_size=batch_size, training=False, data_dir=data_dir
    )
    test_data = first_samples(test_data, max_samples, batch_size)
    try:
        model = tf.keras.models.load_model(model_path, compile=False)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"Cannot load a Keras model from {model_path!r}: {error}"
        ) from None
    expected = tuple(model.input_shape[1:])
    if None not in expected and expected != tuple(info.image_shape):
        raise ValueError(
            f"Model {model_path!r} takes inputs of shape {expected}, but {dataset!r} "
            f"images have shape {tuple(info.image_shape)}."
        )
    model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=not outputs_probabilities(model)
        ),
        metrics=["accuracy"],
    )
    results = model.evaluate(test_data, verbose=0, return_dict=True)
    return {
        "test_accuracy": float(results["accuracy"]),
        "test_loss": float(results["loss"]),
        "dataset": dataset,
        "model_path": model_path,
    }
