"""What the three zoo models share in the style of Keras Applications and larq_zoo: the
input (`input_shape` or `input_tensor`), the top (`include_top`, `pooling`,
`classifier_activation`) and pretrained `weights` loaded by layer name.

```python
from larq_nobn import zoo

model = zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.5)
model.save_weights("binarynet.h5")
features = zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.5,
                         include_top=False, pooling="avg", weights="binarynet.h5")
```

# Weights files

`weights` is `None` (random initialization) or the path of a file saved from the same
architecture:

- `.h5` / `.hdf5`: `model.save_weights("x.h5")` or `model.save("x.h5")` (Keras' HDF5
  format, which stores each layer's weights under the layer's name);
- `.keras`: a whole saved model, e.g. the `model.keras` of a `larq-nobn train` run.

Every layer with weights of the new model takes the weights of the layer of the same
name in the file, with the same number and shapes; a layer missing from the file, or
one whose shapes differ, raises a `ValueError` that names it. With `include_top=True`
the file must also hold nothing else; with `include_top=False` its head (the layers
the feature extractor lacks) is left out. Keras 3's `.weights.h5` layout keys weights
by class and position, not by layer name, and is refused.
"""

from __future__ import annotations

import os

from larq_nobn._utils import leaf_layers
from larq_nobn.checks import check_choice, check_input_shape
from larq_nobn.layers import no_weight_clip_warning

import h5py
import tensorflow as tf

__all__ = [
    "CLASSIFIER_ACTIVATIONS",
    "POOLINGS",
    "WEIGHTS_SUFFIXES",
    "check_top",
    "features_output",
    "finish_model",
    "load_weights_by_name",
    "model_input",
    "read_weights",
    "top_output",
]

#: The accepted values of `classifier_activation`: `None` returns logits.
CLASSIFIER_ACTIVATIONS = (None, "softmax")
#: The accepted values of `pooling` (with `include_top=False`).
POOLINGS = (None, "avg", "max")
#: The file name endings `weights` accepts.
WEIGHTS_SUFFIXES = (".h5", ".hdf5", ".keras")


def check_top(include_top, pooling, classifier_activation):
    """Checks the top arguments of a zoo model.

    # Arguments
        include_top: Whether the model ends with its classifier.
        pooling: One of `POOLINGS`; not `None` only with `include_top=False`.
        classifier_activation: One of `CLASSIFIER_ACTIVATIONS`; not `None` only with
            `include_top=True`.

    # Raises
        ValueError: A value that is not accepted, or one that the other arguments make
            meaningless (the message names it).
    """
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False, got {include_top!r}.")
    check_choice(pooling, POOLINGS, "pooling")
    check_choice(classifier_activation, CLASSIFIER_ACTIVATIONS, "classifier_activation")
    if include_top and pooling is not None:
        raise ValueError(
            f"`pooling={pooling!r}` needs `include_top=False`: with its top a model "
            "pools as its architecture does."
        )
    if not include_top and classifier_activation is not None:
        raise ValueError(
            f"`classifier_activation={classifier_activation!r}` needs "
            "`include_top=True`: without its top a model has no classifier."
        )


def model_input(input_shape, input_tensor, default_shape, min_size=None, name=None):
    """The input of a zoo model: a new `Input` or an existing tensor.

    # Arguments
        input_shape: `(height, width, channels)`, or `None`: the shape of
            `input_tensor`, else `default_shape`.
        input_tensor: `None`, a Keras tensor (the model's inputs are then its source
            inputs) or any tensor (wrapped in an `Input`).
        default_shape: The model's default `input_shape`.
        min_size: If given, the least height and width (see `check_input_shape`).
        name: Name of a new `Input` layer.

    # Returns
        `(inputs, x)`: what `tf.keras.Model` takes as inputs, and the tensor the model
        builds on.

    # Raises
        ValueError: A bad `input_shape`, or one that differs from `input_tensor`'s.
    """
    if input_tensor is None:
        shape = check_input_shape(
            default_shape if input_shape is None else input_shape, min_size
        )
        x = tf.keras.Input(shape=shape, name=name)
        return x, x
    tensor_shape = tuple(input_tensor.shape[1:])
    if input_shape is not None and tuple(input_shape) != tensor_shape:
        raise ValueError(
            f"`input_shape` {tuple(input_shape)!r} differs from the shape "
            f"{tensor_shape!r} of `input_tensor`; give one of them."
        )
    shape = check_input_shape(tensor_shape, min_size)
    if not tf.keras.backend.is_keras_tensor(input_tensor):
        input_tensor = tf.keras.Input(tensor=input_tensor, shape=shape)
    return tf.keras.utils.get_source_inputs(input_tensor), input_tensor


def features_output(x, pooling):
    """The output of a feature extractor: the feature map `x`, or its global average
    (`"avg"`, layer `avg_pool`) or maximum (`"max"`, layer `max_pool`)."""
    if pooling == "avg":
        return tf.keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return tf.keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def top_output(logits, classifier_activation):
    """The logits, or their softmax (layer `predictions`)."""
    if classifier_activation == "softmax":
        return tf.keras.layers.Activation("softmax", name="predictions")(logits)
    return logits


def finish_model(
    inputs, outputs, name, *, weights=None, include_top=True, initialize=None
):
    """The `tf.keras.Model` from `inputs` to `outputs`, initialized, with `weights`
    loaded.

    # Arguments
        inputs: The model's inputs (from `model_input`).
        outputs: Its output tensor.
        name: The model's name.
        weights: `None` or the path of a weights file (see the module docstring).
        include_top: Whether the model has its head (the file must then have nothing
            the model lacks).
        initialize: `None` or a function that re-initializes the model in place
            before `weights` are loaded (see `larq_nobn.zoo.initialization`).

    # Returns
        The model.

    # Raises
        FileNotFoundError: No file at `weights`.
        ValueError: A file of another format, or weights that do not fit.
    """
    model = tf.keras.Model(inputs, outputs, name=name)
    if initialize is not None:
        initialize(model)
    if weights is not None:
        load_weights_by_name(model, weights, allow_unused=not include_top)
    return model


def _h5_weights(group):
    """`{layer name: [arrays]}` of a Keras HDF5 weights group (`save_weights`)."""
    stored = {}
    for layer in group.attrs["layer_names"]:
        layer = layer.decode() if isinstance(layer, bytes) else layer
        names = group[layer].attrs["weight_names"]
        arrays = [group[layer][n.decode() if isinstance(n, bytes) else n][()] for n in names]
        if arrays:
            stored[layer] = arrays
    return stored


def read_weights(path) -> dict:
    """The weights a file holds, by layer name: `{name: [numpy arrays]}` in the order
    of the layer's `weights`.

    # Arguments
        path: An HDF5 file of `save_weights` or `save`, or a `.keras` model.

    # Raises
        FileNotFoundError: No such file.
        ValueError: A file in another format.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file {path!r}.")
    if path.endswith(".keras"):
        with no_weight_clip_warning():
            model = tf.keras.models.load_model(path, compile=False)
        return {layer.name: layer.get_weights() for layer in leaf_layers(model) if layer.weights}
    if path.endswith((".h5", ".hdf5")):
        with h5py.File(path, "r") as file:
            group = file["model_weights"] if "model_weights" in file else file
            if "layer_names" in group.attrs:
                return _h5_weights(group)
    raise ValueError(
        f"Cannot read weights by layer name from {path!r}: expected a Keras HDF5 file "
        f"(model.save_weights('x.h5') or model.save('x.h5')) or a saved '.keras' model."
    )


def load_weights_by_name(model, path, *, allow_unused=False):
    """Loads the weights of the file at `path` into the layers of the same name.

    # Arguments
        model: The model to write.
        path: See `read_weights`.
        allow_unused: Accept weights of layers the model lacks (a model without its
            top loading the weights of the whole model).

    # Returns
        The number of layers loaded.

    # Raises
        FileNotFoundError: No such file.
        ValueError: A layer of `model` with weights that the file lacks or that have
            other shapes, or (without `allow_unused`) a layer of the file the model
            lacks; the message names the layer.
    """
    stored = read_weights(path)
    layers = [layer for layer in leaf_layers(model) if layer.weights]
    for layer in layers:
        if layer.name not in stored:
            raise ValueError(
                f"Weights file {path!r} has no weights for layer {layer.name!r} of "
                f"model {model.name!r}: it was saved from another architecture."
            )
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in stored[layer.name]]
        if expected != found:
            raise ValueError(
                f"Layer {layer.name!r} of model {model.name!r} has weights of shapes "
                f"{expected}, but {path!r} holds {found} for it: it was saved from "
                "another architecture (width, classes, input channels, norm, ...)."
            )
    unused = sorted(set(stored) - {layer.name for layer in layers})
    if unused and not allow_unused:
        raise ValueError(
            f"Weights file {path!r} has weights for layer {unused[0]!r}, which model "
            f"{model.name!r} lacks ({len(unused)} such layer(s)): it was saved from "
            "another architecture."
        )
    for layer in layers:
        layer.set_weights(stored[layer.name])
    return len(layers)
