"""The AGC rule itself: unit-wise adaptive clipping of one gradient, the units of a
weight, and regexes that exclude layers from clipping.

```
max_norm = clip_factor * max(||W_unit||_2, eps)
G_unit <- G_unit * max_norm / max(||G_unit||_2, 1e-6)   if ||G_unit||_2 >= max_norm
```

# References
    - [High-Performance Large-Scale Image Recognition Without
      Normalization](https://arxiv.org/abs/2102.06171)
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence

from larq_nobn._utils import leaf_layers

import tensorflow as tf

__all__ = [
    "GRAD_NORM_FLOOR",
    "adaptive_clip",
    "default_unit_axes",
    "exclude_head",
    "exclude_layers",
    "set_unit_axes",
    "variable_name",
]

#: Lower bound on the gradient norm in the clip ratio (divide-by-zero guard).
GRAD_NORM_FLOOR = 1e-6

# Attribute a layer may set on a weight (through `set_unit_axes`) to declare its AGC
# units. Read through larq's QuantizedVariable and Keras' AutoCastVariable wrappers,
# both of which forward unknown attributes to the variable they wrap.
_UNIT_AXES_ATTR = "_larq_nobn_agc_unit_axes"
_DEPTHWISE_NAME = re.compile(r"(?:^|/)depthwise_kernel(?::\d+)?$")
_EMBEDDINGS_NAME = re.compile(r"(?:^|/)embeddings(?::\d+)?$")


def variable_name(variable) -> str:
    """A variable's name, or `""` for objects without one."""
    try:
        return variable.name
    except (AttributeError, ValueError):
        return ""


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
    name = variable_name(variable)
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


