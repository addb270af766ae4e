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
- `.weights.h5`: `model.save_weights("x.weights.h5")` (tf-keras' newer layout, which
  stores each layer under its class and position, `layers/quant_conv2d_1`, instead of
  its name: the layers are matched by that path, see `weights_paths`);
- `.keras`: a whole saved model, e.g. the `model.keras` of a `larq-nobn train` run
  (loaded in safe mode: no Lambda layers, see `larq_nobn.deploy.load_keras_model`).

Every layer with weights of the new model takes the weights of the layer of the same
name in the file, with the same number and shapes; a layer missing from the file, or
one whose shapes differ, raises a `ValueError` that names it. With `include_top=True`
the file must also hold nothing else; with `include_top=False` its head (the layers
the feature extractor lacks) is left out.
"""

from __future__ import annotations

import os
import posixpath

from larq_nobn._utils import leaf_layers
from larq_nobn.checks import check_choice, check_input_shape
from larq_nobn.deploy.loading import load_keras_model
from larq_nobn.layers import no_weight_clip_warning

import h5py
import tensorflow as tf
from tf_keras.src.saving import saving_lib
from tf_keras.src.utils.generic_utils import to_snake_case

__all__ = [
    "CLASSIFIER_ACTIVATIONS",
    "POOLINGS",
    "WEIGHTS_SUFFIXES",
    "check_top",
    "features_output",
    "finish_builder",
    "finish_model",
    "load_weights_by_name",
    "model_input",
    "read_weights",
    "top_output",
    "weights_paths",
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


def finish_builder(inputs, features, head, name, *, include_top, pooling,
                   classifier_activation, weights=None, initialize=None):
    """The end of every zoo builder: the model from `inputs` to the logits (or their
    softmax) of `head(features)`, or with `include_top=False` to the `features`
    (pooled as `pooling` says), initialized and with `weights` loaded (`finish_model`).

    # Arguments
        inputs: The model's inputs (from `model_input`).
        features: The last feature map.
        head: A function from the feature map to the logits.
        name: The model's name.
        include_top, pooling, classifier_activation, weights: The builder's arguments.
        initialize: As in `finish_model`.

    # Returns
        The model.
    """
    if include_top:
        outputs = top_output(head(features), classifier_activation)
    else:
        outputs = features_output(features, pooling)
    return finish_model(inputs, outputs, name, weights=weights, include_top=include_top,
                        initialize=initialize)


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


def _keras_store_weights(file) -> dict:
    """`{path: [arrays]}` of tf-keras' `.weights.h5` layout (`"layers/abn_1/vars/0"`)."""
    stored = {}

    def visit(name, node):
        if isinstance(node, h5py.Group) and (name == "vars" or name.endswith("/vars")):
            arrays = [node[str(i)][()] for i in range(len(node))]
            if arrays:
                stored[posixpath.dirname(name)] = arrays

    file.visititems(visit)
    return stored


def read_weights(path) -> dict:
    """The weights a file holds: `{key: [numpy arrays]}`, keyed by layer name (HDF5
    files of `save_weights("x.h5")` or `save("x.h5")`, `.keras` models) or, for the
    `.weights.h5` format, by the path under which tf-keras stores a layer (class
    and position, e.g. `"layers/quant_conv2d_1"`; see `weights_paths`).

    # Arguments
        path: An HDF5 file of `save_weights` or `save`, or a `.keras` model (loaded in
            safe mode: see `larq_nobn.deploy.load_keras_model`).

    # Raises
        FileNotFoundError: No such file.
        ValueError: A file in another format, or a corrupt or unsafe one; the message
            names the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file {path!r}.")
    if path.endswith(".keras"):
        with no_weight_clip_warning():
            model = load_keras_model(path)
        return {layer.name: layer.get_weights() for layer in leaf_layers(model) if layer.weights}
    if path.endswith((".h5", ".hdf5")):
        try:
            with h5py.File(path, "r") as file:
                group = file["model_weights"] if "model_weights" in file else file
                if "layer_names" in group.attrs:
                    return _h5_weights(group)
                if "layers" in file:
                    return _keras_store_weights(file)
        except (OSError, KeyError) as error:
            raise ValueError(f"Cannot read weights file {path!r} (corrupt?): {error}") from None
    raise ValueError(
        f"Cannot read weights from {path!r}: expected a Keras HDF5 file "
        "(model.save_weights('x.h5'), model.save_weights('x.weights.h5') or "
        "model.save('x.h5')) or a saved '.keras' model."
    )


def weights_paths(model) -> dict:
    """`{path: layer}`: where tf-keras' `.weights.h5` format stores the own variables
    of each layer of `model` that has some. The paths follow tf-keras' saving walk:
    attribute names, and in lists the snake-cased class name numbered by position
    (`layers/abn`, `layers/abn_1`, ...)."""
    paths, visited = {}, set()

    def visit(trackable, path):
        if id(trackable) in visited:
            return
        visited.add(id(trackable))
        if isinstance(trackable, tf.keras.layers.Layer) and _own_variables(trackable):
            paths[path] = trackable
        for attribute, child in saving_lib._walk_trackable(trackable):
            if saving_lib._is_keras_trackable(child):
                visit(child, posixpath.join(path, attribute))
            elif isinstance(child, (list, dict, tuple, set)):
                items = list(child.values()) if isinstance(child, dict) else child
                used = {}
                for item in items:
                    if not saving_lib._is_keras_trackable(item) or id(item) in visited:
                        continue
                    name = to_snake_case(type(item).__name__)
                    used[name] = used.get(name, -1) + 1
                    suffix = f"_{used[name]}" if used[name] else ""
                    visit(item, posixpath.join(path, attribute, name + suffix))

    visit(model, "")
    return paths


def _own_variables(layer) -> list:
    return list(layer._trainable_weights) + list(layer._non_trainable_weights)


def _targets(model, stored) -> dict:
    """`{key: (layer name, variables)}` of `model` in the keys of `stored`."""
    if all("/" in key for key in stored):  # tf-keras' .weights.h5 layout
        return {
            key: (layer.name, _own_variables(layer))
            for key, layer in weights_paths(model).items()
        }
    layers = [layer for layer in leaf_layers(model) if layer.weights]
    return {layer.name: (layer.name, layer.weights) for layer in layers}


def load_weights_by_name(model, path, *, allow_unused=False):
    """Loads the weights of the file at `path` into the layers of the same name (the
    same tf-keras path for a `.weights.h5` file, which stores no names).

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
    targets = _targets(model, stored)
    for key, (name, variables) in targets.items():
        stored_as = f" (stored as {key!r})" if key != name else ""
        if key not in stored:
            raise ValueError(
                f"Weights file {path!r} has no weights for layer {name!r}{stored_as} of "
                f"model {model.name!r}: it was saved from another architecture."
            )
        expected = [tuple(w.shape) for w in variables]
        found = [tuple(a.shape) for a in stored[key]]
        if expected != found:
            raise ValueError(
                f"Layer {name!r}{stored_as} of model {model.name!r} has weights of shapes "
                f"{expected}, but {path!r} holds {found} for it: it was saved from "
                "another architecture (width, classes, input channels, norm, ...)."
            )
    unused = sorted(k for k in set(stored) - set(targets) if not k.startswith("optimizer"))
    if unused and not allow_unused:
        raise ValueError(
            f"Weights file {path!r} has weights for layer {unused[0]!r}, which model "
            f"{model.name!r} lacks ({len(unused)} such layer(s)): it was saved from "
            "another architecture."
        )
    tf.keras.backend.batch_set_value(
        [(v, a) for key, (_, variables) in targets.items() for v, a in zip(variables, stored[key])]
    )
    return len(targets)
