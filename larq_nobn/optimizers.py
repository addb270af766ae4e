"""Adaptive gradient clipping (AGC) as a wrapper around any tf-keras optimizer.

AGC clips the gradient of every *unit* of a parameter (an output channel of a conv
kernel, an output unit of a dense kernel, the whole tensor for biases and other
vectors, except the per-output gain of the ScaledWS layers, which declare each element
its own unit) relative to the norm of the parameter itself:

```
max_norm = clip_factor * max(||W_unit||_2, eps)
G_unit <- G_unit * max_norm / max(||G_unit||_2, 1e-6)   if ||G_unit||_2 >= max_norm
```

It is what lets normalizer-free networks (NFNets) and the BN-free binary networks of
"BNN - BN = ?" train with large learning rates without exploding gradients.

!!! example
    ```python
    import larq_nobn

    model = ...  # e.g. a BN-free binary network
    optimizer = larq_nobn.AGC(
        tf.keras.optimizers.Adam(5e-4),
        clip_factor=0.02,
        exclude=larq_nobn.optimizers.exclude_head(model),  # never clip the classifier
    )
    model.compile(optimizer, loss="sparse_categorical_crossentropy")
    ```

Gradients are clipped after they are summed over replicas (`tf.distribute`) and after
loss-scale unscaling (`tf.keras.mixed_precision.LossScaleOptimizer` wraps the AGC
optimizer, which `model.compile` does by itself under a `mixed_float16` policy), i.e.
exactly once per step on the gradient of the global batch.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence

from larq_nobn._utils import leaf_layers

import tensorflow as tf
from tf_keras.src.optimizers import optimizer as _optimizer_v3
from tf_keras.src.optimizers import utils as _optimizer_utils
from tf_keras.src.optimizers.legacy import optimizer_v2 as _optimizer_v2

__all__ = [
    "AGC",
    "AGCOptimizer",
    "LegacyAGCOptimizer",
    "adaptive_clip",
    "default_unit_axes",
    "set_unit_axes",
    "exclude_layers",
    "exclude_head",
]

#: Lower bound on the gradient norm in the clip ratio (divide-by-zero guard).
GRAD_NORM_FLOOR = 1e-6

# Attribute a layer may set on a weight (through `set_unit_axes`) to declare its AGC
# units. Read through larq's QuantizedVariable and Keras' AutoCastVariable wrappers,
# both of which forward unknown attributes to the variable they wrap.
_UNIT_AXES_ATTR = "_larq_nobn_agc_unit_axes"
_DEPTHWISE_NAME = re.compile(r"(?:^|/)depthwise_kernel(?::\d+)?$")
_EMBEDDINGS_NAME = re.compile(r"(?:^|/)embeddings(?::\d+)?$")

_ACCEPTED_OPTIMIZERS = (
    "a tf-keras optimizer instance (`tf.keras.optimizers.Optimizer` such as "
    "`tf.keras.optimizers.Adam()`, or `tf.keras.optimizers.legacy.Optimizer` such as "
    "`tf.keras.optimizers.legacy.Adam()`, `larq.optimizers.Bop()` or "
    "`larq.optimizers.CaseOptimizer(...)`), an optimizer name such as 'adam', or a "
    "serialized optimizer dict"
)


# --------------------------------------------------------------------------------------
# The math.


@tf.autograph.experimental.do_not_convert
def adaptive_clip(
    gradient,
    weight,
    clip_factor: float = 0.01,
    eps: float = 1e-3,
    axes: Sequence[int] | None = None,
):
    """Clip `gradient` unit-wise relative to the norm of `weight` (the AGC formula).

    For every unit (the slice that remains after reducing over `axes`):
    `max_norm = clip_factor * max(||weight_unit||, eps)`; a gradient unit whose norm is
    at least `max_norm` is rescaled to norm `max_norm` (the gradient norm is floored at
    1e-6 in the ratio), a smaller one is left unchanged. Norms are computed in float32
    (float64 for float64 gradients) and the result has the gradient's dtype.

    # Arguments
    gradient: the gradient, a dense tensor (`tf.IndexedSlices` are densified).
    weight: the parameter the gradient belongs to (a tensor or variable of the same
        shape; for larq quantized weights pass the latent, full-precision value).
    clip_factor: the clipping threshold lambda relative to the weight norm, > 0.
    eps: lower bound on the weight norm, so that zero-initialised parameters can move.
    axes: the axes to reduce over to get one norm per unit; `None` makes the whole
        tensor a single unit, `()` makes every element a unit.

    # Returns
    The clipped gradient, a tensor shaped and typed like `gradient`.
    """
    gradient = tf.convert_to_tensor(gradient)
    dtype = gradient.dtype
    compute_dtype = tf.float64 if dtype == tf.float64 else tf.float32
    g = tf.cast(gradient, compute_dtype)
    w = tf.cast(tf.convert_to_tensor(weight), compute_dtype)
    if axes is not None:
        axes = list(axes)
    if axes == []:
        w_norm, g_norm = tf.abs(w), tf.abs(g)
    else:
        w_norm = tf.sqrt(tf.reduce_sum(tf.square(w), axis=axes, keepdims=True))
        g_norm = tf.sqrt(tf.reduce_sum(tf.square(g), axis=axes, keepdims=True))
    max_norm = clip_factor * tf.maximum(w_norm, tf.cast(eps, compute_dtype))
    ratio = max_norm / tf.maximum(g_norm, tf.cast(GRAD_NORM_FLOOR, compute_dtype))
    scale = tf.where(g_norm < max_norm, tf.ones_like(ratio), ratio)
    return tf.cast(g * scale, dtype)


def set_unit_axes(variable, axes: Sequence[int]):
    """Declare the axes AGC reduces over for `variable` (one unit per other index).

    Meant for layers whose kernel layout the default rule (see `default_unit_axes`)
    cannot recognise from the shape and name alone, e.g. a depthwise kernel stored
    under a name other than `depthwise_kernel`. Call it in the layer's `build` on the
    weight returned by `add_weight`, so that the declaration is recreated whenever
    the layer is (after `load_model`, under another strategy, ...).

    # Arguments
    variable: the weight (the object returned by `add_weight`).
    axes: the axes to reduce over, e.g. `(0, 1)` for a `(kh, kw, in, mult)` depthwise
        kernel; every axis for a single unit, `()` for element-wise units.

    # Returns
    The normalised axes as a tuple of non-negative ints.

    # Raises
    TypeError: `axes` is not a sequence of ints.
    ValueError: an axis is out of range for the variable's rank.
    """
    rank = variable.shape.rank
    if isinstance(axes, (str, bytes)) or not isinstance(axes, Sequence):
        raise TypeError(f"`axes` must be a sequence of ints, got {axes!r}.")
    normalised = []
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"`axes` must be a sequence of ints, got {axes!r}.")
        if rank is not None and not -rank <= axis < rank:
            raise ValueError(
                f"Axis {axis} in `axes={axes!r}` is out of range for variable "
                f"{variable.name!r} of rank {rank} (accepted: {-rank}..{rank - 1})."
            )
        normalised.append(int(axis) % rank if rank else int(axis))
    normalised = tuple(sorted(set(normalised)))
    setattr(variable, _UNIT_AXES_ATTR, normalised)
    return normalised


def default_unit_axes(variable) -> tuple | None:
    """The axes AGC reduces over for `variable` (Keras weight layouts).

    In order:

    1. axes declared for this variable with `set_unit_axes`;
    2. rank <= 1 (biases, gains, scalars): `None`, the whole tensor is one unit;
    3. a depthwise kernel, recognised by its Keras weight name `depthwise_kernel`
       (`DepthwiseConv2D`, `SeparableConv2D`, larq's `QuantDepthwiseConv2D`; layout
       `(kh, kw, in, multiplier)`): every axis but the last two, one unit per
       (input channel, multiplier) pair;
    4. a rank-2 `embeddings` weight (Keras `Embedding`, `(vocabulary, dim)`): axis 1,
       one unit per token vector (what timm's rule gives for PyTorch's layout);
    5. anything else (HWIO conv kernels, `(in, out)` dense kernels, ...): every axis but
       the last, one unit per output channel / unit.

    # Arguments
    variable: a `tf.Variable` (or anything with `shape` and `name`).

    # Returns
    A tuple of axes, or `None` for "the whole tensor".
    """
    declared = getattr(variable, _UNIT_AXES_ATTR, None)
    if declared is not None:
        return tuple(declared)
    rank = variable.shape.rank
    if rank is None or rank <= 1:
        return None
    name = _variable_name(variable)
    if rank >= 3 and _DEPTHWISE_NAME.search(name):
        return tuple(range(rank - 2))
    if rank == 2 and _EMBEDDINGS_NAME.search(name):
        return (1,)
    return tuple(range(rank - 1))


# --------------------------------------------------------------------------------------
# Helpers for `exclude`.


def exclude_layers(*layers) -> str:
    """A regex for `AGC(exclude=...)` that matches every variable of the given layers.

    Keras names a layer's variables `<layer name>/<weight name>:0` (nested layers may
    add outer name scopes before it), so the regex is `(?:^|/)(?:name1|name2)/`.
    Being a plain string, it is saved and restored with the optimizer.

    # Arguments
    *layers: `tf.keras.layers.Layer` instances or layer names.

    # Returns
    A regex string to pass as `exclude`.

    # Raises
    TypeError: an argument is neither a layer nor a string.
    ValueError: no layer was given.
    """
    if not layers:
        raise ValueError("exclude_layers() needs at least one layer or layer name.")
    names = []
    for layer in layers:
        if isinstance(layer, str):
            names.append(layer)
        elif isinstance(layer, tf.keras.layers.Layer):
            names.append(layer.name)
        else:
            raise TypeError(
                "exclude_layers() accepts `tf.keras.layers.Layer` instances and layer "
                f"names, got {layer!r} of type {type(layer).__name__}."
            )
    return "(?:^|/)(?:" + "|".join(re.escape(n) for n in names) + ")/"


def exclude_head(model) -> str:
    """A regex for `AGC(exclude=...)` matching the classifier head of `model`.

    NFNets and "BNN - BN = ?" clip every parameter except the final classifier
    (kernel and bias). The head is the last `tf.keras.layers.Dense` layer of the model
    (larq's `QuantDense` included), searching nested models too; a model without any
    `Dense` layer falls back to its last layer that has trainable weights (e.g. a 1x1
    conv classifier). Use `exclude_layers` to exclude anything else.

    # Arguments
    model: a `tf.keras.Model`.

    # Returns
    A regex string to pass as `exclude` (see `exclude_layers`).

    # Raises
    TypeError: `model` is not a `tf.keras.Model`.
    ValueError: the model has no layer with trainable weights.
    """
    if not isinstance(model, tf.keras.Model):
        raise TypeError(
            f"exclude_head() expects a tf.keras.Model, got {model!r} of type "
            f"{type(model).__name__}."
        )
    layers = list(leaf_layers(model))
    dense = [layer for layer in layers if isinstance(layer, tf.keras.layers.Dense)]
    if dense:
        return exclude_layers(dense[-1])
    trainable = [layer for layer in layers if layer.trainable_weights]
    if trainable:
        return exclude_layers(trainable[-1])
    raise ValueError(
        f"Model {model.name!r} has no Dense layer and no layer with trainable "
        "weights, so it has no classifier head to exclude."
    )


# --------------------------------------------------------------------------------------
# The optimizer wrapper.


def _variable_name(variable) -> str:
    try:
        return variable.name
    except (AttributeError, ValueError):
        return ""


def _latent(variable):
    """The full-precision value behind larq's QuantizedVariable (else the variable)."""
    for _ in range(8):
        latent = getattr(variable, "latent_variable", None)
        if latent is None or latent is variable:
            break
        variable = latent
    return variable


def _innermost(optimizer):
    """The optimizer under any chain of AGC / LossScaleOptimizer wrappers."""
    for _ in range(16):
        inner = getattr(optimizer, "inner_optimizer", None)
        if inner is None or inner is optimizer:
            break
        optimizer = inner
    return optimizer


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a positive float, got {value!r}.")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"`{name}` must be a finite number > 0, got {value!r}.")
    return value


def _check_non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float >= 0, got {value!r}.")
    value = float(value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    return value


def _variable_predicate(name, selector):
    """`variable -> bool` for a selector: `None` (returns `None`), a regex searched in
    variable names, or a callable."""
    if selector is None or callable(selector):
        return selector
    if not isinstance(selector, str):
        raise TypeError(
            f"`{name}` must be None, a regex string matched against variable names, "
            f"or a callable `variable -> bool`; got {selector!r} of type "
            f"{type(selector).__name__}."
        )
    try:
        pattern = re.compile(selector)
    except re.error as error:
        raise ValueError(
            f"`{name}` is not a valid regex: {selector!r} ({error})."
        ) from error
    return lambda variable: bool(pattern.search(_variable_name(variable)))


def _serialize_callable(fn):
    return tf.keras.saving.serialize_keras_object(fn)


def _deserialize_callable(config):
    if config is None or isinstance(config, str) or callable(config):
        return config
    return tf.keras.saving.deserialize_keras_object(config)


def _resolve_optimizer(optimizer):
    if isinstance(optimizer, (str, dict)):
        try:
            optimizer = tf.keras.optimizers.get(optimizer)
        except ValueError as error:
            raise ValueError(
                f"AGC could not create an optimizer from {optimizer!r}: {error}"
            ) from error
    if not isinstance(optimizer, (_optimizer_v3.Optimizer, _optimizer_v2.OptimizerV2)):
        raise TypeError(
            f"AGC expects {_ACCEPTED_OPTIMIZERS}; got {optimizer!r} of type "
            f"{type(optimizer).__name__}."
        )
    if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
        raise TypeError(
            "AGC cannot wrap a LossScaleOptimizer; wrap the other way around, "
            "`tf.keras.mixed_precision.LossScaleOptimizer(AGC(optimizer))` (model."
            "compile does that by itself under a 'mixed_float16' policy), so that "
            f"AGC sees unscaled gradients. Got {optimizer!r}."
        )
    return optimizer


class _AGCMeta(type):
    """Makes `AGC(optimizer, ...)` build the wrapper matching the optimizer's API."""

    def __call__(cls, *args, **kwargs):
        if cls is not AGC:
            return super().__call__(*args, **kwargs)
        if args:
            optimizer, args = args[0], args[1:]
        elif "optimizer" in kwargs:
            optimizer = kwargs.pop("optimizer")
        else:
            raise TypeError(
                f"AGC() missing the required argument `optimizer`: "
                f"{_ACCEPTED_OPTIMIZERS}."
            )
        optimizer = _resolve_optimizer(optimizer)
        if isinstance(optimizer, _optimizer_v2.OptimizerV2):
            return LegacyAGCOptimizer(optimizer, *args, **kwargs)
        return AGCOptimizer(optimizer, *args, **kwargs)


class AGC(metaclass=_AGCMeta):
    """Adaptive gradient clipping around any tf-keras optimizer.

    Every step, the gradients are summed over replicas, clipped unit-wise with
    `max_norm = clip_factor * max(||W_unit||, eps)` (a gradient unit whose norm is at
    least `max_norm` is rescaled to `max_norm`, see `adaptive_clip`), then handed to the
    wrapped optimizer, which applies them without aggregating again. `W` is the raw
    latent weight: for larq quantized kernels the full-precision latent variable, not
    its binarized value.

    Units follow Keras layouts (see `default_unit_axes`): one per output channel of an
    HWIO conv kernel, one per output unit of an `(in, out)` dense kernel, one per
    (channel, multiplier) of a depthwise kernel, the whole tensor for rank <= 1
    weights. The ScaledWS layers declare each element of their `gain` a unit (one
    per output channel, as the reference's `(out, 1, 1, 1)` gain in VITA-Group/BNN_NoBN
    layers.py + agc.py). Layers with other layouts declare theirs with `set_unit_axes`, or pass
    `unit_axes`.

    `AGC(optimizer)` returns an `AGCOptimizer` (a `tf.keras.optimizers.Optimizer`) for
    the current optimizers (`tf.keras.optimizers.SGD`, `Adam`, `AdamW`, ...) and a
    `LegacyAGCOptimizer` (a `tf.keras.optimizers.legacy.Optimizer`) for legacy ones,
    including larq's `Bop` and `CaseOptimizer`; both are instances of `AGC`. The wrapper
    has no state of its own: its checkpoints are those of the wrapped optimizer (a
    checkpoint saved with the bare optimizer restores into the AGC-wrapped one and
    vice versa), and `learning_rate`, `lr`, `iterations`, the optimizer variables and
    all other public attributes are those of the wrapped optimizer, so callbacks such
    as `LearningRateScheduler`, `ReduceLROnPlateau` and `TensorBoard` work unchanged.

    Mixed precision: use `tf.keras.mixed_precision.LossScaleOptimizer(AGC(opt))`, the
    order `model.compile` produces by itself under a `mixed_float16` policy, so that AGC
    sees unscaled gradients (wrapping a LossScaleOptimizer raises `TypeError`).

    Weight decay: `coupled_weight_decay=wd` adds `wd * w` (the raw latent weight) to
    the gradient of every variable `decay_variables` selects, after the clip and
    before the wrapped optimizer's update, so the decay is never clipped. This is the
    reference's order: VITA-Group/BNN_NoBN train.py calls `adaptive_clip_grad` on the
    gradients, then `torch.optim.Adam(weight_decay=wd).step()` adds `wd * w` to them.
    An L2 penalty in the loss (a Keras `kernel_regularizer`, `model.add_loss`) is
    instead part of the gradient AGC sees, so it is clipped with it. The name
    `weight_decay` stays the wrapped optimizer's own (decoupled) decay, e.g. `AdamW`'s,
    which is applied to the weights directly and never clipped either.

    Saving: `get_config` / `from_config` serialize the wrapped optimizer with
    `tf.keras.optimizers.serialize`; the class is registered as `larq_nobn>AGC`, so
    `tf.keras.models.load_model` needs no `custom_objects` after `import larq_nobn`.
    `load_model` restores the optimizer state from `.h5` files (both kinds) and from
    `.keras` files (current optimizers only: Keras does not store legacy optimizer
    state in `.keras` files). Keras' SavedModel loader never restores optimizer state,
    for any optimizer, but the SavedModel's checkpoint holds it: after
    `model = load_model(path)`, `model.load_weights(path + "/variables/variables")`
    resumes exactly. An `exclude`, `unit_axes` or `decay_variables` callable must be a
    named, importable or `register_keras_serializable` function to survive
    `load_model`; a regex string
    (see `exclude_layers` and `exclude_head`) always does.

    !!! example
        ```python
        model.compile(
            larq_nobn.AGC(
                tf.keras.optimizers.Adam(5e-4),
                clip_factor=0.02,
                exclude=larq_nobn.optimizers.exclude_head(model),
            ),
            loss="sparse_categorical_crossentropy",
        )
        ```

    # Arguments
    optimizer: the optimizer to wrap: a `tf.keras.optimizers.Optimizer` or
        `tf.keras.optimizers.legacy.Optimizer` instance (larq's `Bop` and
        `CaseOptimizer` included; use legacy optimizers inside those), an optimizer
        name such as `"adam"` or a serialized optimizer dict (both through
        `tf.keras.optimizers.get`).
    clip_factor: lambda, the largest allowed gradient norm relative to the weight norm
        (0.01 in NFNets at batch 4096; "BNN - BN = ?" uses 0.02 on ImageNet).
    eps: lower bound on the weight norm, so that zero-initialised weights can move.
    exclude: variables not to clip: `None`, a regex searched (`re.search`) in each
        variable's name (e.g. `"dense_3/"`; see `exclude_layers`, `exclude_head`), or a
        callable `variable -> bool`.
    unit_axes: optional callable `variable -> axes` overriding `default_unit_axes`;
        returning `None` falls back to the default rule for that variable.
    coupled_weight_decay: wd >= 0 of the coupled L2 decay `wd * w` added to the
        clipped gradients (PyTorch's `Adam(weight_decay=wd)`; the gradient of
        `wd / 2 * ||w||^2`); 0 (default) adds nothing.
    decay_variables: the variables the coupled decay applies to: `None` (every
        variable, like a PyTorch parameter group), a regex searched in each
        variable's name (e.g. `larq_nobn.blocks.WEIGHT_DECAY_REGEX`, the BN-free
        paper's choice), or a callable `variable -> bool`.

    # Returns
    An `AGCOptimizer` or `LegacyAGCOptimizer` wrapping `optimizer`.

    # Raises
    TypeError: `optimizer` is not an optimizer (or is a LossScaleOptimizer), or
        `clip_factor`, `eps`, `exclude`, `unit_axes`, `coupled_weight_decay` or
        `decay_variables` have the wrong type.
    ValueError: `clip_factor` or `eps` is not a finite number > 0,
        `coupled_weight_decay` is negative or not finite, `exclude` or
        `decay_variables` is not a valid regex, or an optimizer name cannot be
        resolved.

    # References
    - [High-Performance Large-Scale Image Recognition Without Normalization](
      https://arxiv.org/abs/2102.06171) (Brock et al., 2021; NFNets)
    - [BNN - BN = ?: Training Binary Neural Networks without Batch Normalization](
      https://arxiv.org/abs/2104.08215) (Chen et al., CVPR Workshops 2021)
    """

    _HAS_AGGREGATE_GRAD = True

    def _agc_init(
        self, optimizer, clip_factor, eps, exclude, unit_axes, coupled_weight_decay,
        decay_variables,
    ):
        optimizer = _resolve_optimizer(optimizer)
        clip_factor = _check_positive("clip_factor", clip_factor)
        eps = _check_positive("eps", eps)
        coupled_weight_decay = _check_non_negative(
            "coupled_weight_decay", coupled_weight_decay
        )
        if unit_axes is not None and not callable(unit_axes):
            raise TypeError(
                "`unit_axes` must be None or a callable `variable -> axes`; got "
                f"{unit_axes!r} of type {type(unit_axes).__name__}."
            )
        # Plain attributes: nothing here is a trackable, so nothing enters checkpoints.
        self.__dict__.update(
            _optimizer=optimizer,
            _clip_factor=clip_factor,
            _eps=eps,
            _exclude=exclude,
            _exclude_fn=_variable_predicate("exclude", exclude),
            _unit_axes=unit_axes,
            _coupled_weight_decay=coupled_weight_decay,
            _decay_variables=decay_variables,
            _decay_fn=_variable_predicate("decay_variables", decay_variables),
        )

    # -- configuration -----------------------------------------------------------------

    @property
    def inner_optimizer(self):
        """The wrapped optimizer."""
        return self.__dict__["_optimizer"]

    @property
    def clip_factor(self) -> float:
        """lambda: the largest gradient norm relative to the weight norm."""
        return self.__dict__["_clip_factor"]

    @property
    def eps(self) -> float:
        """Lower bound on the weight norm."""
        return self.__dict__["_eps"]

    @property
    def exclude(self):
        """The `exclude` argument (None, regex string or callable)."""
        return self.__dict__["_exclude"]

    @property
    def unit_axes(self):
        """The `unit_axes` argument (None or callable)."""
        return self.__dict__["_unit_axes"]

    @property
    def coupled_weight_decay(self) -> float:
        """wd of the coupled decay `wd * w` added to the gradients after the clip."""
        return self.__dict__["_coupled_weight_decay"]

    @property
    def decay_variables(self):
        """The `decay_variables` argument (None, regex string or callable)."""
        return self.__dict__["_decay_variables"]

    def get_config(self):
        """The wrapper's configuration, the wrapped optimizer serialized inside.

        # Returns
        A JSON-serializable dict accepted by `from_config`.
        """
        exclude, decay_variables = self.exclude, self.decay_variables
        if callable(exclude):
            exclude = _serialize_callable(exclude)
        if callable(decay_variables):
            decay_variables = _serialize_callable(decay_variables)
        unit_axes = self.unit_axes
        if unit_axes is not None:
            unit_axes = _serialize_callable(unit_axes)
        return {
            "optimizer": tf.keras.optimizers.serialize(self.inner_optimizer),
            "clip_factor": self.clip_factor,
            "eps": self.eps,
            "exclude": exclude,
            "unit_axes": unit_axes,
            "coupled_weight_decay": self.coupled_weight_decay,
            "decay_variables": decay_variables,
            "is_legacy_optimizer": isinstance(self, _optimizer_v2.OptimizerV2),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Recreate the wrapper (and the wrapped optimizer) from `get_config()`.

        # Arguments
        config: a dict returned by `get_config`.
        custom_objects: optional dict of custom objects for the wrapped optimizer.

        # Returns
        An `AGC` instance (`AGCOptimizer` or `LegacyAGCOptimizer`).
        """
        config = dict(config)
        config.pop("is_legacy_optimizer", None)
        inner = config.pop("optimizer")
        if isinstance(inner, dict):
            inner = tf.keras.optimizers.deserialize(
                inner,
                custom_objects=custom_objects,
                use_legacy_format="module" not in inner,
            )
        with tf.keras.utils.custom_object_scope(custom_objects or {}):
            for key in ("exclude", "unit_axes", "decay_variables"):
                config[key] = _deserialize_callable(config.get(key))
        return AGC(inner, **config)

    def __repr__(self):
        return (
            f"{type(self).__name__}({type(self.inner_optimizer).__name__}, "
            f"clip_factor={self.clip_factor}, eps={self.eps}, exclude={self.exclude!r}, "
            f"coupled_weight_decay={self.coupled_weight_decay}, "
            f"decay_variables={self.decay_variables!r})"
        )

    # -- clipping ----------------------------------------------------------------------

    def _axes_for(self, variable):
        unit_axes = self.unit_axes
        if unit_axes is not None:
            axes = unit_axes(variable)
            if axes is not None:
                return tuple(axes)
        return default_unit_axes(variable)

    @tf.autograph.experimental.do_not_convert
    def clip_gradients(self, grads_and_vars):
        """Apply AGC to already aggregated `(gradient, variable)` pairs.

        Excluded variables and `None` gradients pass through unchanged. One fused
        computation per variable (two unit-wise norms, a ratio and a select).

        # Arguments
        grads_and_vars: iterable of `(gradient, variable)` pairs.

        # Returns
        A list of `(clipped gradient, variable)` pairs.
        """
        clipped = []
        with tf.name_scope("agc"):
            for grad, var in grads_and_vars:
                if grad is None or (
                    self._exclude_fn is not None and self._exclude_fn(var)
                ):
                    clipped.append((grad, var))
                    continue
                clipped.append(
                    (
                        adaptive_clip(
                            grad,
                            _latent(var),
                            self.clip_factor,
                            self.eps,
                            self._axes_for(var),
                        ),
                        var,
                    )
                )
        return clipped

    @tf.autograph.experimental.do_not_convert
    def add_coupled_decay(self, grads_and_vars):
        """Add the coupled weight decay `coupled_weight_decay * w` to the gradients.

        `w` is the raw latent weight (for larq quantized kernels the full-precision
        latent variable), cast to the gradient's dtype. Only the variables that
        `decay_variables` selects (every one when it is `None`) and that have a
        gradient change; nothing changes when `coupled_weight_decay` is 0. `AGC` calls
        it on the clipped gradients, so the decay itself is never clipped.

        # Arguments
        grads_and_vars: iterable of `(gradient, variable)` pairs.

        # Returns
        A list of `(gradient, variable)` pairs.
        """
        grads_and_vars = list(grads_and_vars)
        decay = self.coupled_weight_decay
        if not decay:
            return grads_and_vars
        decayed = []
        with tf.name_scope("coupled_decay"):
            for grad, var in grads_and_vars:
                if grad is not None and (
                    self._decay_fn is None or self._decay_fn(var)
                ):
                    grad = tf.convert_to_tensor(grad)
                    weight = tf.convert_to_tensor(_latent(var))
                    grad = grad + decay * tf.cast(weight, grad.dtype)
                decayed.append((grad, var))
        return decayed

    # -- delegation of everything else -------------------------------------------------

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, variable):
        self.inner_optimizer.iterations = variable

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def lr(self):
        return self.inner_optimizer.learning_rate

    @lr.setter
    def lr(self, value):
        self.inner_optimizer.learning_rate = value

    def __getattr__(self, name):
        # Only reached when normal lookup fails: forward public attributes
        # (hyperparameters such as `beta_1`, `weight_decay`, `name`, `jit_compile`).
        inner = self.__dict__.get("_optimizer")
        if inner is None or name.startswith("_"):
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            )
        return getattr(inner, name)


@tf.keras.utils.register_keras_serializable(package="larq_nobn", name="AGC")
class AGCOptimizer(
    AGC, tf.__internal__.tracking.DelegatingTrackableMixin, _optimizer_v3.Optimizer
):
    """`AGC` around a current (`tf.keras.optimizers.Optimizer`) optimizer.

    Create it through `AGC(optimizer, ...)`; see `AGC` for the arguments.
    """

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def __init__(
        self,
        optimizer,
        clip_factor=0.01,
        eps=1e-3,
        exclude=None,
        unit_axes=None,
        coupled_weight_decay=0.0,
        decay_variables=None,
    ):
        self._agc_init(
            optimizer, clip_factor, eps, exclude, unit_axes, coupled_weight_decay,
            decay_variables,
        )
        if not isinstance(self.inner_optimizer, _optimizer_v3.Optimizer):
            raise TypeError(
                "AGCOptimizer wraps `tf.keras.optimizers.Optimizer` instances, got "
                f"{self.inner_optimizer!r}; use `AGC(...)`, which picks the wrapper."
            )
        # Not calling Optimizer.__init__: all state lives in the wrapped optimizer.
        tf.__internal__.tracking.DelegatingTrackableMixin.__init__(
            self, self.inner_optimizer
        )

    def aggregate_gradients(self, grads_and_vars):
        return _innermost(self.inner_optimizer).aggregate_gradients(grads_and_vars)

    def compute_gradients(self, loss, var_list, tape=None):
        return self.inner_optimizer.compute_gradients(loss, var_list, tape=tape)

    def apply_gradients(
        self, grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs
    ):
        """Sum gradients over replicas, clip them, add the coupled decay, apply them
        with the inner optimizer.

        # Arguments
        grads_and_vars: iterable of `(gradient, variable)` pairs.
        name: optional name scope for the wrapped optimizer.
        skip_gradients_aggregation: set when the gradients are already summed over
            replicas (as `LossScaleOptimizer` does).
        **kwargs: `experimental_aggregate_gradients` (the legacy spelling, inverted).

        # Returns
        What the wrapped optimizer's `apply_gradients` returns.
        """
        aggregate = kwargs.pop("experimental_aggregate_gradients", True)
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        base = _innermost(self.inner_optimizer)
        dtensor = getattr(base, "_mesh", None) or getattr(base, "_run_with_dtensor", 0)
        if aggregate and not skip_gradients_aggregation and not dtensor:
            grads_and_vars = base.aggregate_gradients(grads_and_vars)
        grads_and_vars = self.add_coupled_decay(self.clip_gradients(grads_and_vars))
        if name is not None:
            kwargs["name"] = name
        return self.inner_optimizer.apply_gradients(
            grads_and_vars, skip_gradients_aggregation=True, **kwargs
        )

    def build(self, var_list):
        return self.inner_optimizer.build(var_list)

    @property
    def variables(self):
        return self.inner_optimizer.variables

    def set_weights(self, weights):
        return self.inner_optimizer.set_weights(weights)

    def save_own_variables(self, store):
        return self.inner_optimizer.save_own_variables(store)

    def load_own_variables(self, store):
        return self.inner_optimizer.load_own_variables(store)

    def finalize_variable_values(self, var_list):
        return self.inner_optimizer.finalize_variable_values(var_list)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        return self.inner_optimizer.exclude_from_weight_decay(
            var_list=var_list, var_names=var_names
        )

    def add_variable(self, *args, **kwargs):
        return self.inner_optimizer.add_variable(*args, **kwargs)

    def add_variable_from_reference(self, *args, **kwargs):
        return self.inner_optimizer.add_variable_from_reference(*args, **kwargs)

    @property
    def use_ema(self):
        return self.inner_optimizer.use_ema

    @use_ema.setter
    def use_ema(self, value):
        self.inner_optimizer.use_ema = value

    @property
    def ema_momentum(self):
        return self.inner_optimizer.ema_momentum

    @ema_momentum.setter
    def ema_momentum(self, value):
        self.inner_optimizer.ema_momentum = value

    # Private attributes that Keras and LossScaleOptimizerV3 read from optimizers.
    @property
    def _learning_rate(self):
        return self.inner_optimizer._learning_rate

    @property
    def _built(self):
        return getattr(self.inner_optimizer, "_built", False)

    @property
    def _mesh(self):
        return getattr(self.inner_optimizer, "_mesh", None)

    @property
    def _run_with_dtensor(self):
        return getattr(self.inner_optimizer, "_run_with_dtensor", False)

    @property
    def _distribution_strategy(self):
        return self.inner_optimizer._distribution_strategy


@tf.keras.utils.register_keras_serializable(package="larq_nobn", name="AGC")
class LegacyAGCOptimizer(
    AGC, tf.__internal__.tracking.DelegatingTrackableMixin, _optimizer_v2.OptimizerV2
):
    """`AGC` around a legacy (`tf.keras.optimizers.legacy.Optimizer`) optimizer.

    Create it through `AGC(optimizer, ...)`; see `AGC` for the arguments. Works with
    larq's `Bop` and `CaseOptimizer`.
    """

    def __init__(
        self,
        optimizer,
        clip_factor=0.01,
        eps=1e-3,
        exclude=None,
        unit_axes=None,
        coupled_weight_decay=0.0,
        decay_variables=None,
    ):
        self._agc_init(
            optimizer, clip_factor, eps, exclude, unit_axes, coupled_weight_decay,
            decay_variables,
        )
        if not isinstance(self.inner_optimizer, _optimizer_v2.OptimizerV2):
            raise TypeError(
                "LegacyAGCOptimizer wraps `tf.keras.optimizers.legacy.Optimizer` "
                f"instances, got {self.inner_optimizer!r}; use `AGC(...)`, which "
                "picks the wrapper."
            )
        # Not calling OptimizerV2.__init__: all state lives in the wrapped optimizer.
        tf.__internal__.tracking.DelegatingTrackableMixin.__init__(
            self, self.inner_optimizer
        )

    def apply_gradients(
        self, grads_and_vars, name=None, experimental_aggregate_gradients=True
    ):
        """Sum gradients over replicas, clip them, add the coupled decay, apply them
        with the inner optimizer.

        # Arguments
        grads_and_vars: iterable of `(gradient, variable)` pairs.
        name: optional name for the returned operation.
        experimental_aggregate_gradients: `False` when the gradients are already
            summed over replicas (as `LossScaleOptimizer` does).

        # Returns
        The wrapped optimizer's update operation.
        """
        grads_and_vars = _optimizer_utils.filter_empty_gradients(grads_and_vars)
        if experimental_aggregate_gradients and grads_and_vars:
            base = _innermost(self.inner_optimizer)
            grads_and_vars = base._transform_unaggregated_gradients(grads_and_vars)
            grads_and_vars = base._aggregate_gradients(grads_and_vars)
        grads_and_vars = self.add_coupled_decay(self.clip_gradients(grads_and_vars))
        return self.inner_optimizer.apply_gradients(
            grads_and_vars, name=name, experimental_aggregate_gradients=False
        )

    def _compute_gradients(self, loss, var_list, grad_loss=None, tape=None):
        return self.inner_optimizer._compute_gradients(
            loss, var_list, grad_loss=grad_loss, tape=tape
        )

    def get_gradients(self, loss, params):
        return self.inner_optimizer.get_gradients(loss, params)

    def _aggregate_gradients(self, grads_and_vars):
        return _innermost(self.inner_optimizer)._aggregate_gradients(grads_and_vars)

    def _transform_unaggregated_gradients(self, grads_and_vars):
        base = _innermost(self.inner_optimizer)
        return base._transform_unaggregated_gradients(grads_and_vars)

    def _create_all_weights(self, var_list):
        return self.inner_optimizer._create_all_weights(var_list)

    def _create_slots(self, var_list):
        return self.inner_optimizer._create_slots(var_list)

    def variables(self):
        return self.inner_optimizer.variables()

    @property
    def weights(self):
        return self.inner_optimizer.weights

    @property
    def _weights(self):
        return self.inner_optimizer._weights

    def get_weights(self):
        return self.inner_optimizer.get_weights()

    def set_weights(self, weights):
        return self.inner_optimizer.set_weights(weights)

    def get_slot_names(self):
        return self.inner_optimizer.get_slot_names()

    def get_slot(self, var, slot_name):
        return self.inner_optimizer.get_slot(var, slot_name)

    def add_slot(self, var, slot_name, initializer="zeros", shape=None):
        return self.inner_optimizer.add_slot(var, slot_name, initializer, shape)

    def _restore_slot_variable(self, slot_name, variable, slot_variable):
        return self.inner_optimizer._restore_slot_variable(
            slot_name, variable, slot_variable
        )

    def _create_or_restore_slot_variable(
        self, slot_variable_position, slot_name, variable
    ):
        return self.inner_optimizer._create_or_restore_slot_variable(
            slot_variable_position, slot_name, variable
        )

    # Hyperparameters live in the wrapped optimizer; OptimizerV2.__getattribute__ and
    # __setattr__ forward `agc.beta_1` etc. through these.
    @property
    def _hyper(self):
        inner = self.__dict__.get("_optimizer")
        if inner is None:
            raise AttributeError("_hyper")
        return inner._hyper

    def _get_hyper(self, name, dtype=None):
        return self.inner_optimizer._get_hyper(name, dtype)

    def _set_hyper(self, name, value):
        return self.inner_optimizer._set_hyper(name, value)

    @property
    def clipnorm(self):
        return self.inner_optimizer.clipnorm

    @clipnorm.setter
    def clipnorm(self, value):
        self.inner_optimizer.clipnorm = value

    @property
    def global_clipnorm(self):
        return self.inner_optimizer.global_clipnorm

    @global_clipnorm.setter
    def global_clipnorm(self, value):
        self.inner_optimizer.global_clipnorm = value

    @property
    def clipvalue(self):
        return self.inner_optimizer.clipvalue

    @clipvalue.setter
    def clipvalue(self, value):
        self.inner_optimizer.clipvalue = value

    @property
    def _name(self):
        return self.inner_optimizer._name


# Registered last so that the name "larq_nobn>AGC" resolves to the dispatching class,
# while both concrete wrappers serialize under that name.
tf.keras.utils.register_keras_serializable(package="larq_nobn", name="AGC")(AGC)

AGC.exclude_head = staticmethod(exclude_head)
AGC.exclude_layers = staticmethod(exclude_layers)
