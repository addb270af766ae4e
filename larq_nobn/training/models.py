"""Models of a run: build the zoo model of a config, its real-weights clone for step 1
of the two-step schedule, weight copies by layer name, the teacher of distillation, and
`compile_model`, the one build-and-compile sequence of training and tuning."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from larq_nobn import zoo
from larq_nobn._utils import leaf_layers
from larq_nobn.data import info as dataset_info
from larq_nobn.deploy.loading import load_keras_model
from larq_nobn.training.config import TrainConfig, zoo_agc_settings
from larq_nobn.training.distill import APPLICATION_PREPROCESSING, Distiller, TeacherInput
from larq_nobn.training.optim import add_weight_decay, make_optimizer

import numpy as np
import tensorflow as tf

__all__ = [
    "CompiledModel",
    "build_model",
    "clone_with_real_weights",
    "compile_model",
    "copy_weights_by_name",
    "load_teacher",
    "make_student",
    "outputs_probabilities",
    "parameter_counts",
]


def build_model(config: TrainConfig, input_shape, num_classes: int) -> tf.keras.Model:
    """Builds the zoo model a config describes (binary weights; see `config.weights`),
    with the config's `pad_values`, `stride2_padding` and `init` where set (the
    builder's defaults otherwise).

    # Arguments
        config: The run's configuration.
        input_shape: Shape of one image, e.g. `(28, 28, 1)`.
        num_classes: Number of classes.

    # Returns
        A functional `tf.keras.Model` from `larq_nobn.zoo`.
    """
    spec = zoo.get_model(config.model)
    kwargs = dict(
        norm=config.norm, input_shape=tuple(input_shape), num_classes=num_classes
    )
    if config.resolved_width_multiplier is not None:
        kwargs["width_multiplier"] = config.resolved_width_multiplier
    if spec.variants and config.variant is not None:  # the deprecated resnet18
        kwargs["variant"] = config.variant
    for option in spec.options:  # pad_values, stride2_padding, init: if set
        if getattr(config, option) is not None:
            kwargs[option] = getattr(config, option)
    return spec.builder(**kwargs)


_QUANTIZER_KEYS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


def clone_with_real_weights(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of `model` with real-valued weights and unchanged (binary) activations.

    Every layer whose config has a `kernel_quantizer` (or larq's `depthwise_quantizer` /
    `pointwise_quantizer`) is recreated with that quantizer set to `None`; input
    quantizers, ScaledWS standardization, constraints and every other setting stay.
    Nested functional models are cloned recursively. Layer names are kept, so
    `copy_weights_by_name` can move weights between the two models. This is step 1 of
    the two-step schedule of ReActNet / "BNN - BN = ?" (binary activations, real
    weights); step 2 builds the binary model and copies step 1's weights into it.
    The clone has freshly initialised weights.

    # Arguments
        model: A functional or sequential Keras model.

    # Returns
        The new model.
    """

    def clone(layer):
        if isinstance(layer, tf.keras.Model) and not isinstance(
            layer, tf.keras.Sequential
        ):
            if getattr(layer, "_is_graph_network", False):
                return tf.keras.models.clone_model(layer, clone_function=clone)
        config = layer.get_config()
        for key in _QUANTIZER_KEYS:
            if config.get(key) is not None:
                config[key] = None
        return layer.__class__.from_config(config)

    return tf.keras.models.clone_model(model, clone_function=clone)


def copy_weights_by_name(source: tf.keras.Model, target: tf.keras.Model, strict=True):
    """Copies every layer's weights from `source` into the layer of the same name in
    `target` (e.g. from a `clone_with_real_weights` model back into the binary one).

    # Arguments
        source: The model to read.
        target: The model to write.
        strict: Raise if a `target` layer with weights has no counterpart in `source`.

    # Returns
        The number of layers copied.

    # Raises
        ValueError: A missing layer (with `strict`), or layers whose weights differ in
            number or shape.
    """
    layers = {layer.name: layer for layer in leaf_layers(source)}
    copied = 0
    for layer in leaf_layers(target):
        if not layer.weights:
            continue
        if layer.name not in layers:
            if strict:
                raise ValueError(
                    f"Layer {layer.name!r} of {target.name!r} has no layer of the same "
                    f"name in {source.name!r}."
                )
            continue
        values = layers[layer.name].get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            raise ValueError(
                f"Layer {layer.name!r}: source weights of shapes "
                f"{[v.shape for v in values]} do not fit target shapes {shapes}."
            )
        layer.set_weights(values)
        copied += 1
    return copied


def outputs_probabilities(model: tf.keras.Model) -> bool:
    """Whether a classifier ends with a softmax (probabilities) instead of logits."""
    layer = model.layers[-1] if model.layers else None
    while isinstance(layer, tf.keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if isinstance(layer, tf.keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", activation)
    return name == "softmax"


def load_teacher(spec: str, mean=None, std=None) -> tf.keras.Model:
    """The teacher of distillation: `keras.applications.NAME` (ImageNet weights) or
    the path of a saved Keras model, loaded with `larq_nobn.deploy.load_keras_model`
    (safe mode: no stored Python code, unless inside `deploy.unsafe_loading()`).

    A `keras.applications` teacher gets its own preprocessing: with the student's
    standardization `mean` and `std`, it takes the student's input and maps it back
    to pixels in `[0, 255]` before its `preprocess_input` (`TeacherInput`; ResNet50:
    caffe mode). A saved model gets the student's input as it is.

    # Raises
        ValueError: No such `tf.keras.applications` model, one without a known
            preprocessing (`APPLICATION_PREPROCESSING`), or (`DeployError`) an
            unreadable, corrupt or unsafe model file.
        FileNotFoundError: No such file.
    """
    prefix = "keras.applications."
    if spec.startswith(prefix):
        name = spec[len(prefix) :]
        function = getattr(tf.keras.applications, name, None)
        if function is None or not callable(function):
            raise ValueError(
                f"Unknown teacher {spec!r}: no tf.keras.applications.{name}."
            )
        if name not in APPLICATION_PREPROCESSING:
            raise ValueError(
                f"Teacher {spec!r} has no known preprocessing: accepted "
                f"keras.applications models are {', '.join(APPLICATION_PREPROCESSING)} "
                "(or pass the path of a saved model that takes the student's input)."
            )
        application = function(weights="imagenet")
        if mean is None or std is None:
            return application
        inputs = tf.keras.Input(application.input_shape[1:])
        pixels = TeacherInput(mean, std, APPLICATION_PREPROCESSING[name])(inputs)
        return tf.keras.Model(inputs, application(pixels), name=f"{name}_teacher")
    if not os.path.exists(spec):
        raise FileNotFoundError(f"Teacher model {spec!r} does not exist.")
    return load_keras_model(spec)




def parameter_counts(model: tf.keras.Model) -> dict:
    """Total, trainable and binary (`precision == 1`) weight counts."""
    import larq as lq

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    try:
        binary = int(lq.models.ModelProfile(model).weight_count(bitwidth=1))
    except Exception:  # profiling is informational
        binary = None
    return {
        "total": int(model.count_params()),
        "trainable": trainable,
        "binary": binary,
    }


def make_student(
    config: TrainConfig,
    input_shape,
    num_classes: int,
    model_fn: Callable[[], tf.keras.Model] | None = None,
) -> tf.keras.Model:
    """The model a run trains, before compiling: the zoo's (or `model_fn()`), cloned
    with real weights for `weights="real"`, initialised from `init_weights`.

    # Raises
        FileNotFoundError: `config.init_weights` does not exist.
    """
    if model_fn is not None:
        student = model_fn()
    else:
        student = build_model(config, input_shape, num_classes)
    if config.weights == "real":
        student = clone_with_real_weights(student)
    if config.init_weights:
        if not os.path.exists(config.init_weights):
            raise FileNotFoundError(
                f"init_weights {config.init_weights!r} does not exist."
            )
        source = load_keras_model(config.init_weights)
        copy_weights_by_name(source, student)
        del source
    return student


class CompiledModel(NamedTuple):
    """What `compile_model` returns.

    # Arguments
        model: The compiled model that `fit` trains: the student, or a `Distiller`
            around it when the config has a teacher.
        student: The model being trained (what the run saves).
        optimizer: Its optimizer (AGC-wrapped when AGC is on).
    """

    model: tf.keras.Model
    student: tf.keras.Model
    optimizer: tf.keras.optimizers.Optimizer


def compile_model(
    config: TrainConfig,
    data,
    *,
    model_fn: Callable[[], tf.keras.Model] | None = None,
    run_eagerly: bool = False,
) -> CompiledModel:
    """Builds and compiles the model of a run (call it inside the strategy's scope).

    The student comes from `make_student`; the coupled weight decay `wd * w` on the
    variables matching `config.weight_decay_pattern` is added to the gradients after
    AGC's clip when AGC is on (PyTorch's `Adam(weight_decay)` after
    `adaptive_clip_grad` in VITA-Group/BNN_NoBN train.py), as an L2 loss term
    (`add_weight_decay`, same gradient) when it is off; with `config.teacher` it is
    wrapped in a `Distiller`; the optimizer comes from `make_optimizer` (AGC excludes
    the zoo's head regex for zoo models, the last Dense layer of a `model_fn` model);
    the loss is the sparse
    categorical cross-entropy (from logits unless the model ends with a softmax), the
    metric the accuracy.

    # Arguments
        config: The run's configuration.
        data: The run's `Data` (input shape, classes, steps per epoch).
        model_fn: Builds the (binary) model instead of the zoo.
        run_eagerly: Compile the training step to run eagerly.

    # Returns
        A `CompiledModel`.
    """
    student = make_student(config, data.input_shape, data.num_classes, model_fn)
    if config.resolved_agc_clip_factor == 0:  # with AGC, the optimizer decays
        add_weight_decay(student, config.weight_decay, config.weight_decay_pattern)
    from_logits = not outputs_probabilities(student)
    model = student
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    if config.teacher:
        # The student's standardization, undone for a keras.applications teacher.
        applications = config.teacher.startswith("keras.")
        info = dataset_info(config.dataset) if applications else None
        teacher = load_teacher(config.teacher, *((info.mean, info.std) if info else ()))
        model = Distiller(
            student,
            teacher,
            temperature=config.distill_temperature,
            alpha=config.distill_alpha,
            student_from_logits=from_logits,
            teacher_from_logits=not outputs_probabilities(teacher),
        )
        loss = None
    exclude = zoo_agc_settings(config.model)[1] if model_fn is None else None
    total_steps = data.steps_per_epoch * config.epochs
    optimizer = make_optimizer(
        config,
        total_steps,
        student,
        exclude=exclude,
        steps_per_epoch=data.steps_per_epoch,
    )
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=["accuracy"],
        run_eagerly=run_eagerly,
        jit_compile=config.jit_compile and not run_eagerly,
    )
    if model is not student:
        model(tf.zeros((1, *data.input_shape)))  # build the distiller
    return CompiledModel(model, student, optimizer)
