"""Compare a zoo model with the golden fixtures of the authors' PyTorch code (issue 16).

Fixtures are made by `tests/reference/make_fixtures.py` (see its docstring for the
keys). Everything here is numpy and TensorFlow: no torch.
"""

import hashlib
import json
from pathlib import Path

import larq_nobn.zoo as zoo
from larq_nobn._utils import leaf_layers
from larq_nobn.training.config import config_from_recipe
from larq_nobn.training.optim import make_optimizer
from larq_nobn.zoo.reference_weights import (
    load_reference_weights,
    reference_parameters,
    to_reference_layout,
)

import numpy as np
import tensorflow as tf

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUANTITIES = ("eval", "train", "grad", "stats", "update")


def _binarynet(norm):
    def build():
        return zoo.BinaryNet(
            norm=norm, input_shape=(32, 32, 3), num_classes=10,
            width_multiplier=1 / 16, pad_values=0.0,
        )

    return build, "binarynet"


def _abn_paper(norm, size=32):
    def build():
        return zoo.BinaryResNet18(
            norm=norm, input_shape=(size, size, 3), num_classes=10,
            width_multiplier=0.1, pad_values=0.0,
        )

    return build, "resnet18_abn_paper"


def _reactnet18(norm, stem, size=32):
    def build():
        return zoo.ReActNet18(
            norm=norm, input_shape=(size, size, 3), num_classes=10, stem=stem,
            width_multiplier=1 / 16, pad_values=0.0,
        )

    return build, "reactnet18"


def _reactnet_a(norm):
    def build():
        return zoo.ReActNetA(
            norm=norm, input_shape=(32, 32, 3), num_classes=10, width_multiplier=1 / 16,
            pad_values=0.0,
        )

    return build, "reactnet_a"


#: Fixture name -> (zoo model builder, reference architecture of the loader).
ZOO_MODELS = {
    "binarynet_bn": _binarynet("bn"),
    "binarynet_abn": _binarynet("abn"),
    "resnet18_abn_paper_bn": _abn_paper("bn"),
    "resnet18_abn_paper_abn": _abn_paper("abn"),
    **{
        f"reactnet18_{norm}_{stem}": _reactnet18(norm, stem)
        for norm in ("bn", "bf", "none")
        for stem in ("cifar", "imagenet")
    },
    **{f"reactnet_a_{norm}": _reactnet_a(norm) for norm in ("bn", "bf", "none")},
    # Other input sizes (make_fixtures.SIZES): odd maps, rounded down as PyTorch does.
    "resnet18_abn_paper_bn_34px": _abn_paper("bn", 34),
}


def load_fixture(name):
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as data:
        store = {k: data[k] for k in data.files}
    store["meta"] = json.loads(str(store["meta"]))
    return store


def stored_names(store, prefix):
    """Names under `prefix/` (whole tensors, or sampled `::norm/index/values`)."""
    names = set()
    for key in store:
        if key.startswith(prefix + "/"):
            names.add(key[len(prefix) + 1:].split("::")[0])
    return sorted(names)


def relative_error(store, key, value, baseline=None):
    """max |value - reference| / max |reference| over what the fixture stores of `key`
    (the whole tensor, or its norm and sampled entries). With a `baseline` (the value
    before a step), of the changes: max |(value - baseline) - (reference - baseline)|
    / max |reference - baseline|."""
    value = np.asarray(value, np.float64).reshape(-1)
    if baseline is not None:
        baseline = np.asarray(baseline, np.float64).reshape(-1)
        ref = np.asarray(store[key], np.float64).reshape(-1) - baseline
        scale = max(np.abs(ref).max(), 1e-12)
        return float(np.abs(value - baseline - ref).max() / scale)
    if key in store:
        ref = np.asarray(store[key], np.float64).reshape(-1)
        scale = max(np.abs(ref).max(), 1e-12)
        return float(np.abs(value - ref).max() / scale)
    norm = float(store[f"{key}::norm"])
    ref = np.asarray(store[f"{key}::values"], np.float64)
    got = value[store[f"{key}::index"]]
    scale = max(np.abs(ref).max(), 1e-12)
    return max(
        float(np.abs(got - ref).max() / scale),
        abs(float(np.linalg.norm(value)) - norm) / max(norm, 1e-12),
    )


def sign_digest(positive):
    """The SHA-256 of the packed signs, as `make_fixtures` stores it."""
    packed = np.packbits(np.asarray(positive, bool).reshape(-1))
    return np.frombuffer(hashlib.sha256(packed.tobytes()).digest(), np.uint8)


def _log_softmax(logits):
    return tf.nn.log_softmax(logits, axis=-1).numpy()


def _flattened_shape(layer):
    """The (H, W, C) map (H * W > 1) that a `Flatten` or `Reshape` layer turned into
    `layer`'s input (BinaryNet's first dense layer, a 1x1 convolution in the zoo), or
    None."""
    source = layer.inbound_nodes[0].inbound_layers
    if not isinstance(source, (tf.keras.layers.Flatten, tf.keras.layers.Reshape)):
        return None
    shape = tuple(source.input_shape[1:])
    return shape if len(shape) == 3 and shape[0] * shape[1] > 1 else None


class ZooRun:
    """The zoo model of a fixture, loaded with its weights, run on its batch."""

    def __init__(self, name):
        self.name = name
        self.store = load_fixture(name)
        build, self.architecture = ZOO_MODELS[name]
        self.model = build()
        self.params, _ = reference_parameters(self.model, architecture=self.architecture)
        weights = {k[len("weight/"):]: v for k, v in self.store.items()
                   if k.startswith("weight/")}
        load_reference_weights(self.model, weights, architecture=self.architecture)
        self.weights = {k: v.astype(np.float32) for k, v in weights.items()}
        self.x = np.transpose(self.store["input"].astype(np.float32), (0, 2, 3, 1))
        self.labels = self.store["labels"]

    def _output(self, logits):
        logits = np.asarray(logits)
        return _log_softmax(logits) if self.store["meta"]["output"] == "log_softmax" \
            else logits

    def eval_output(self):
        return self._output(self.model(self.x, training=False))

    def train_step(self):
        """Train-mode output, gradients (by variable) and the loss of one forward."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(self.x, training=True)
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(
                    self.labels, logits, from_logits=True
                )
            )
        grads = tape.gradient(loss, variables)
        by_variable = {v.ref(): g for v, g in zip(variables, grads)}
        return self._output(logits), by_variable, float(loss)

    def variable(self, param):
        return param.variable(self.model)

    def binary_layers(self):
        """The zoo's layers that binarize their input (an `input_quantizer`)."""
        return [
            layer for layer in leaf_layers(self.model)
            if getattr(layer, "input_quantizer", None) is not None
        ]

    def layer_of(self, module):
        """The zoo layer that holds the weight of reference module `module`."""
        variable = self.variable({p.name: p for p in self.params}[f"{module}.weight"])
        for layer in leaf_layers(self.model):
            if any(w is variable for w in layer.weights):
                return layer
        raise KeyError(module)

    def signs(self, training):
        """Per binary layer (by name): its binarized input `> 0` in a forward of the
        batch, in the reference's layout (NCHW or NF)."""
        layers = self.binary_layers()
        probe = tf.keras.Model(self.model.inputs, [layer.input for layer in layers])
        inputs = probe(self.x, training=training)
        out = {}
        for layer, x in zip(layers, inputs):
            positive = np.asarray(layer.input_quantizer(x)) > 0
            flattened = _flattened_shape(layer)
            if flattened is not None:  # NHWC flattened: the reference flattens NCHW
                positive = positive.reshape((-1, *flattened))
            out[layer.name] = (
                np.transpose(positive, (0, 3, 1, 2)) if positive.ndim == 4 else positive
            )
            if flattened is not None:
                out[layer.name] = out[layer.name].reshape(len(positive), -1)
        return out


    def stats(self):
        """Moving statistics in the reference's layout, folded biases added back."""
        out = {}
        for p in self.params:
            if p.weight not in ("moving_mean", "moving_variance"):
                continue
            value = to_reference_layout(p, self.variable(p).numpy())
            if p.fold is not None:
                value = value + self.weights[p.fold].reshape(-1)
            out[p.name] = value
        return out


def compare_signs(run, training):
    """The zoo's binarized activations against the reference's, layer by layer.

    # Returns
        A dict: `"agree"`, the `<mode>/<module>` of every reference binary layer whose
        zoo counterpart (the layer holding its weight) binarizes an input of the same
        shape to the same signs (same SHA-256 of the packed signs); `"differ"`,
        `<mode>/<module>` -> what differs; `"unmatched"`, the zoo layers that binarize
        their input and have no reference layer.
    """
    mode = "train" if training else "eval"
    signs, store = run.signs(training), run.store
    out = {"agree": [], "differ": {}, "unmatched": set(signs)}
    for i, module in enumerate(store[f"signs/{mode}/module"]):
        layer = run.layer_of(str(module))
        out["unmatched"].discard(layer.name)
        positive, key = signs[layer.name], f"{mode}/{module}"
        shape = positive.shape + (1,) * (4 - positive.ndim)
        expected = tuple(int(d) for d in store[f"signs/{mode}/shape"][i])
        if shape != expected:
            out["differ"][key] = f"shape {shape}, the reference's {expected}"
        elif int(positive.sum()) != int(store[f"signs/{mode}/positive"][i]):
            out["differ"][key] = (
                f"{int(positive.sum())} positive, the reference's "
                f"{int(store[f'signs/{mode}/positive'][i])}"
            )
        elif not np.array_equal(sign_digest(positive), store[f"signs/{mode}/sha256"][i]):
            out["differ"][key] = "as many positive entries, elsewhere"
        else:
            out["agree"].append(key)
    out["unmatched"] = sorted(out["unmatched"])
    return out


#: Entries left out of the end-to-end (e) comparison: gradients below GRAD_FLOOR
#: times the largest of their tensor (the tolerance of (c)), where (c) leaves the
#: sign open (rounding-level gradients can have either sign in either framework),
#: or below ADAM_FLOOR (100 x Adam's epsilon), where a small relative error of the
#: gradient still moves Adam's first step, lr * g / (|g| + eps): the step of every
#: other entry must agree.
GRAD_FLOOR = 1e-4
ADAM_FLOOR = 1e-6


def recipe_optimizer(store, model, placement="torch"):
    """The recipe's optimizer, as `larq-nobn train` builds it, for one step at the
    fixture's learning rate."""
    meta = store["meta"]["optimizer"]
    if "agc_clip_factor" in meta:  # BNN_NoBN: AGC, then Adam with coupled decay
        config = config_from_recipe(
            "bnn_nobn_reactnet_a", learning_rate=meta["lr"], schedule="constant",
            agc_clip_factor=meta["agc_clip_factor"], weight_decay=meta["weight_decay"],
            adam_epsilon_placement=placement,
        )
    else:  # gushan/ABN: Adam
        config = config_from_recipe(
            "abn_paper", learning_rate=meta["lr"], adam_epsilon_placement=placement
        )
    return make_optimizer(config, 1, model, steps_per_epoch=1)


def step_error(store, param, delta, weight, keep=None):
    """max |step - reference step| / max |reference step| over the stored entries
    (`keep`: a mask of them), less the float32 rounding of the weight (2 ulp)."""
    key = f"update/{param.name}"
    delta = np.asarray(delta, np.float64).reshape(-1)
    weight = np.asarray(weight, np.float32).reshape(-1)
    if key in store:
        index, ref = np.arange(delta.size), store[key].reshape(-1)
    else:
        index, ref = store[f"{key}::index"], store[f"{key}::values"]
    ref = np.asarray(ref, np.float64)
    ulp = 2 * np.spacing(np.abs(weight[index])).astype(np.float64)
    error = np.maximum(np.abs(delta[index] - ref) - ulp, 0) / np.abs(ref).max()
    if keep is not None:
        error = error[keep[index]]
    return float(error.max()) if error.size else 0.0


def _recipe_step(run, grads):
    """(e) end to end: the recipe's optimizer applied to the zoo's gradients; the
    step errors of every parameter the fixture stores an update of, and per
    parameter the counts of its stored entries left out (`GRAD_FLOOR`, `ADAM_FLOOR`)
    and kept."""
    before = {p.name: run.variable(p).numpy() for p in run.params}
    optimizer = recipe_optimizer(run.store, run.model)
    optimizer.apply_gradients([(grads[v.ref()], v) for v in run.model.trainable_variables])
    errors, excluded, kept = {}, {}, {}
    for p in run.params:
        key = f"update/{p.name}"
        if key not in run.store and f"{key}::index" not in run.store:
            continue
        grad = np.abs(to_reference_layout(p, np.asarray(grads[run.variable(p).ref()])))
        keep = grad.reshape(-1) >= max(GRAD_FLOOR * grad.max(), ADAM_FLOOR)
        index = run.store.get(f"{key}::index", np.arange(keep.size))
        excluded[p.name] = int((~keep[index]).sum())
        kept[p.name] = int(keep[index].sum())
        delta = to_reference_layout(p, run.variable(p).numpy() - before[p.name])
        errors[p.name] = step_error(run.store, p, delta, run.weights[p.name], keep)
    return errors, excluded, kept


def compare(name, step=False):
    """Relative errors of (a)-(e) of the zoo model against fixture `name`.

    # Returns
        A dict quantity -> {reference name: relative error} (`eval` and `train` under
        the key `"output"`); `signs`, mode (`eval`, `train`) -> `compare_signs`; with
        `step`, `update` ((e) end to end: `step_error` of the recipe's optimizer step
        from the zoo's gradients), `excluded` and `kept` (per parameter, the counts
        of the stored entries left out, `GRAD_FLOOR`, `ADAM_FLOOR`, and compared).
    """
    run = ZooRun(name)
    store = run.store
    result = {q: {} for q in QUANTITIES}
    result["eval"]["output"] = relative_error(store, "eval_output", run.eval_output())
    signs = {"eval": compare_signs(run, training=False)}  # before any training forward
    output, grads, loss = run.train_step()
    result["train"]["output"] = relative_error(store, "train_output", output)
    result["train"]["loss"] = abs(loss - float(store["loss"])) / float(store["loss"])
    by_name = {p.name: p for p in run.params}
    for ref_name in stored_names(store, "grad"):
        p = by_name.get(ref_name)
        if p is None:
            continue  # folded bias or an unused parameter: no zoo variable
        grad = grads[run.variable(p).ref()]
        result["grad"][ref_name] = relative_error(
            store, f"grad/{ref_name}", to_reference_layout(p, np.asarray(grad))
        )
    stats = run.stats()
    for ref_name in stored_names(store, "stats"):
        if ref_name not in stats:
            continue  # a normalization the reference builds but skips
        # Relative to the step's change of the statistic (momentum hides most of it).
        result["stats"][ref_name] = relative_error(
            store, f"stats/{ref_name}", stats[ref_name], run.weights[ref_name]
        )
    # A train forward updates the moving statistics: after reading them.
    signs["train"] = compare_signs(run, training=True)
    result["signs"] = signs
    if step:
        result["update"], result["excluded"], result["kept"] = _recipe_step(run, grads)
    return result
