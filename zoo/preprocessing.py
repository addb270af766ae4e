"""`preprocess_input`: the input scaling of the training pipeline, for inference.

The training pipeline (`larq_nobn.data.load`, as `larq-nobn train` calls it)
standardizes every pixel `p` in `[0, 255]` to `(p / 255 - mean) / std` with the
per-channel constants of the dataset (`larq_nobn.data.info(dataset).mean` and `.std`).
A model trained that way expects the same inputs on a device:

```python
import numpy as np
from larq_nobn import zoo

images = np.zeros((1, 28, 28, 1), np.uint8)  # e.g. from a camera, pixels in [0, 255]
logits = model(zoo.preprocess_input(images, "fashion_mnist"))
```

Only the scaling is done here: resize images to the model's input size first
(ImageNet's evaluation resizes the shorter side and crops the center, see
`larq_nobn.data.resize_and_center_crop`).
"""

from __future__ import annotations

from larq_nobn import data

import numpy as np
import tensorflow as tf

__all__ = ["preprocess_input"]


def preprocess_input(x, dataset: str):
    """Scales images as the training pipeline of `dataset` does.

    # Arguments
        x: Images with pixels in `[0, 255]` (any real dtype), channels last, with the
            dataset's number of channels: a NumPy array or a tensor.
        dataset: One of `larq_nobn.data.DATASETS`.

    # Returns
        `float32` images `(x / 255 - mean) / std`: a tensor for a tensor, else a
        NumPy array.

    # Raises
        ValueError: An unknown dataset, or images whose last axis is not the
            dataset's channels.
    """
    info = data.info(dataset)
    channels = info.image_shape[-1]
    is_tensor = tf.is_tensor(x)
    if not is_tensor:
        x = np.asarray(x)
    shape = tuple(x.shape)
    if not shape or shape[-1] != channels:
        raise ValueError(
            f"{dataset!r} images have {channels} channel(s) on their last axis; got "
            f"images of shape {shape}."
        )
    images = data.normalize_images(x, "standardize", info.mean, info.std)
    return images if is_tensor else images.numpy()
