"""The editable layer graph behind `larq_nobn.deploy.export`: a functional model's
config whose layers can be rewired, replaced and given new weights, then rebuilt, and
the tests for which layers carry a binarizing sign through."""

from __future__ import annotations

import inspect

from larq_nobn.export_layers import SignAffine, SignInterval
from larq_nobn.layers import HardTanh

import larq as lq
import tensorflow as tf
from tf_keras.src.saving.serialization_lib import SafeModeScope

__all__ = ["MAX_POOLS", "ModelGraph", "as_functional", "is_sign_quantizer"]

_SIGN_QUANTIZERS = (lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign)
_SIGN_FUNCTIONS = (lq.quantizers.ste_sign, lq.quantizers.approx_sign, lq.quantizers.swish_sign)
_SIGN_ACTIVATIONS = ("linear", "tanh", "hard_tanh")
#: Layers between a norm and a sign that keep the sign of every element and are dropped.
_DROPPABLE = (HardTanh, tf.keras.layers.Dropout, tf.keras.layers.Activation)
MAX_POOLS = (
    tf.keras.layers.MaxPooling1D,
    tf.keras.layers.MaxPooling2D,
    tf.keras.layers.MaxPooling3D,
)
#: Layers between a norm and a sign that commute with the sign and are kept.
_STRUCTURAL = MAX_POOLS + (tf.keras.layers.Reshape, tf.keras.layers.Flatten)


_QUANTIZER_ATTRIBUTES = (
    "input_quantizer", "kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer",
)


def is_sign_quantizer(quantizer) -> bool:
    """Whether `quantizer` is a plain binarizing sign (larq's `ste_sign`, `approx_sign`
    or `swish_sign`, as class, instance, function or name)."""
    if isinstance(quantizer, str):
        return quantizer in ("ste_sign", "approx_sign", "swish_sign")
    return isinstance(quantizer, _SIGN_QUANTIZERS) or quantizer in _SIGN_FUNCTIONS


def _sign_preserving(layer) -> bool:
    """Whether `sign(layer(x)) == sign(x)` elementwise (sign(0) = +1)."""
    if isinstance(layer, HardTanh):
        return layer.min_value < 0.0 <= layer.max_value
    if isinstance(layer, tf.keras.layers.Activation):
        name = getattr(layer.activation, "__name__", str(layer.activation))
        return name in _SIGN_ACTIVATIONS
    return isinstance(layer, tf.keras.layers.Dropout)


def as_functional(model):
    """`model` as a functional model (a Sequential one with known inputs is wrapped).

    # Raises
        TypeError: if `model` is not a `tf.keras.Model`.
        ValueError: for a model without known inputs.
    """
    if not isinstance(model, tf.keras.Model):
        raise TypeError(f"`model` must be a tf.keras.Model, got {type(model).__name__}.")
    if isinstance(model, tf.keras.Sequential) or not getattr(
        model, "_is_graph_network", False
    ):
        if not model.built or not model.inputs:
            raise ValueError(
                f"Model '{model.name}' needs known inputs (a functional model, or a "
                "Sequential model built with an Input) to be exported."
            )
        return tf.keras.Model(model.inputs, model.outputs, name=model.name)
    return model


class ModelGraph:
    """The layer graph of a functional model config (single-node layers only), edited
    in place and rebuilt with `build`.

    # Arguments
        model: A functional `tf.keras.Model`.
    """

    def __init__(self, model):
        self.model = model
        self.config = model.get_config()
        self.entries = {entry["name"]: entry for entry in self.config["layers"]}
        self.outputs = {ref[0] for ref in self.config["output_layers"]}
        self.new_weights = {}
        self.weightless = set()

    def layer(self, name):
        """The original layer `name`."""
        return self.model.get_layer(name)

    def layer_config(self, name):
        """The (edited) config of layer `name`."""
        return self.entries[name]["config"]

    def weights(self, name):
        """The (edited) weights of layer `name`, numpy arrays."""
        if name in self.new_weights:
            return self.new_weights[name]
        return self.layer(name).get_weights()

    def edit(self, name, weights=None, **config):
        """Updates layer `name`'s config with `config` and gives it `weights`."""
        entry = self.entries[name]
        entry["config"].update(config)
        entry.pop("build_config", None)
        if weights is not None:
            self.new_weights[name] = list(weights)

    def replace(self, name, layer):
        """Replaces layer `name` by the weightless `layer` (same name)."""
        entry = self.entries[name]
        entry.update(
            class_name=type(layer).__name__,
            config=layer.get_config(),
            module=None,
            registered_name=f"larq_nobn>{type(layer).__name__}",
        )
        entry.pop("build_config", None)
        self.weightless.add(name)

    def inputs(self, name):
        """The names of the layers `name` reads, None for a shared layer."""
        nodes = self.entries[name]["inbound_nodes"]
        return [ref[0] for ref in nodes[0]] if len(nodes) == 1 else None

    def single_input(self, name):
        """The one layer `name` reads, else None."""
        inputs = self.inputs(name)
        return inputs[0] if inputs is not None and len(inputs) == 1 else None

    def consumers(self, name):
        """The names of the layers reading `name` (once per use)."""
        found = []
        for other, entry in self.entries.items():
            for node in entry["inbound_nodes"]:
                found += [other for ref in node if ref[0] == name]
        return found

    def only_consumer(self, name):
        """The one layer reading `name` when `name` is no model output, else None."""
        consumers = self.consumers(name)
        if len(consumers) != 1 or name in self.outputs:
            return None
        return consumers[0]

    def rewire(self, old, new):
        """Make every consumer of `old` (and the model outputs) read `new`."""
        for entry in self.entries.values():
            for node in entry["inbound_nodes"]:
                for ref in node:
                    if ref[0] == old:
                        ref[0], ref[1], ref[2] = new, 0, 0
        for ref in self.config["output_layers"]:
            if ref[0] == old:
                ref[0], ref[1], ref[2] = new, 0, 0
        self.outputs = {ref[0] for ref in self.config["output_layers"]}

    def set_input(self, name, source):
        self.entries[name]["inbound_nodes"] = [[[source, 0, 0, {}]]]

    def remove(self, name):
        """Removes single-input layer `name`; its consumers read its input."""
        (source,) = self.inputs(name)
        self.rewire(name, source)
        del self.entries[name]

    def sign_paths(self, name):
        """`(reason, droppable)`: reason is None when every use of `name`'s output ends
        in a binarizing sign, through sign-preserving or sign-commuting layers;
        droppable lists the sign-preserving ones."""
        if name in self.outputs:
            return "it is a model output", []
        droppable = []
        for consumer in self.consumers(name):
            layer = self.layer(consumer)
            if self.inputs(consumer) != [name]:
                return f"it feeds {consumer} ({type(layer).__name__})", []
            if is_sign_quantizer(getattr(layer, "input_quantizer", None)):
                continue
            sign_preserving = isinstance(layer, _DROPPABLE) and _sign_preserving(layer)
            if not (sign_preserving or isinstance(layer, _STRUCTURAL)):
                return f"it feeds {consumer} ({type(layer).__name__})", []
            reason, more = self.sign_paths(consumer)
            if reason:
                return reason, []
            droppable += ([consumer] if sign_preserving else []) + more
        return None, droppable

    def _classes(self):
        """Class name -> class of every layer and layer quantizer of the model."""
        classes = {"SignAffine": SignAffine, "SignInterval": SignInterval}
        for layer in self.model.layers:
            classes.setdefault(type(layer).__name__, type(layer))
            for attribute in _QUANTIZER_ATTRIBUTES:
                quantizer = getattr(layer, attribute, None)
                if quantizer is not None and not inspect.isfunction(quantizer):
                    classes.setdefault(type(quantizer).__name__, type(quantizer))
        return classes

    def build(self):
        """A new model from the edited config (layers in topological order), with the
        original weights but where edited."""
        order, seen = [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            for node in self.entries[name]["inbound_nodes"]:
                for ref in node:
                    visit(ref[0])
            order.append(self.entries[name])

        for name in self.entries:
            visit(name)
        config = dict(self.config, layers=order)
        # The model is in memory already: its Lambda layers are trusted, and its
        # classes (registered or not) are known.
        with SafeModeScope(False):
            export = tf.keras.Model.from_config(config, custom_objects=self._classes())
        for layer in export.layers:
            if layer.name in self.weightless or not layer.weights:
                continue
            layer.set_weights(self.weights(layer.name))
        return export
