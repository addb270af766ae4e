"""`AGC`: the optimizer wrapper that clips gradients unit-wise (`clipping`) after they
are aggregated over replicas, then adds coupled weight decay, then lets the wrapped
optimizer apply them.

The wrapper has no state of its own. One small mechanism makes a wrapper per tf-keras
optimizer API (`wrappers.AGCOptimizer`, `wrappers.LegacyAGCOptimizer`): a subclass of
`AGC` names the API it `wraps` and the members of that API to forward to the wrapped
optimizer (see `AGC.__init_subclass__`); `AGC(optimizer)` then builds the subclass
whose API the optimizer has."""

from __future__ import annotations

import math
import numbers
import re

from larq_nobn.optimizers.clipping import (
    adaptive_clip,
    default_unit_axes,
    exclude_head,
    exclude_layers,
    variable_name,
)

import tensorflow as tf
from tf_keras.src.optimizers import optimizer as _optimizer_v3
from tf_keras.src.optimizers.legacy import optimizer_v2 as _optimizer_v2

__all__ = ["AGC", "innermost_optimizer"]

_ACCEPTED_OPTIMIZERS = (
    "a tf-keras optimizer instance (`tf.keras.optimizers.Optimizer` such as "
    "`tf.keras.optimizers.Adam()`, or `tf.keras.optimizers.legacy.Optimizer` such as "
    "`tf.keras.optimizers.legacy.Adam()`, `larq.optimizers.Bop()` or "
    "`larq.optimizers.CaseOptimizer(...)`), an optimizer name such as 'adam', or a "
    "serialized optimizer dict"
)

# The optimizer API (base class) -> the `AGC` subclass that wraps it, filled in by
# `AGC.__init_subclass__`.
_WRAPPERS: dict[type, type] = {}


def _latent(variable):
    """The full-precision value behind larq's QuantizedVariable (else the variable)."""
    for _ in range(8):
        latent = getattr(variable, "latent_variable", None)
        if latent is None or latent is variable:
            break
        variable = latent
    return variable


def innermost_optimizer(optimizer):
    """The optimizer under any chain of AGC / LossScaleOptimizer wrappers."""
    for _ in range(16):
        inner = getattr(optimizer, "inner_optimizer", None)
        if inner is None or inner is optimizer:
            break
        optimizer = inner
    return optimizer


# --------------------------------------------------------------------------------------
# Forwarding to the wrapped optimizer.


def _wrapped(agc, name):
    inner = agc.__dict__.get("_optimizer")
    if inner is None:  # still being built: there is nothing to forward to yet
        raise AttributeError(name)
    return inner


def _forwarded_attribute(name: str, settable: bool = False) -> property:
    """A property that reads (and, if `settable`, writes) `name` of the wrapped
    optimizer.

    # Arguments
    name: the attribute of the wrapped optimizer.
    settable: whether assigning the property assigns the wrapped optimizer's attribute.

    # Returns
    A `property`.
    """

    def get(self):
        return getattr(_wrapped(self, name), name)

    def set_(self, value):
        setattr(_wrapped(self, name), name, value)

    return property(get, set_ if settable else None, doc=f"The wrapped `{name}`.")


def _forwarded_method(name: str):
    """A method that calls the wrapped optimizer's method `name` with its arguments.

    # Arguments
    name: the method of the wrapped optimizer.

    # Returns
    A function to set as a method of an `AGC` subclass.
    """

    def method(self, *args, **kwargs):
        return getattr(_wrapped(self, name), name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"The wrapped optimizer's `{name}`."
    return method


def _setting(name: str, doc: str) -> property:
    """A read-only property of one of the wrapper's own settings."""

    def get(self):
        try:
            return self.__dict__["_" + name]
        except KeyError:  # still being built
            raise AttributeError(name) from None

    return property(get, doc=doc)


# --------------------------------------------------------------------------------------
# Checking the arguments.


def _check_number(name, value, positive):
    accepted = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float {accepted}, got {value!r}.")
    value = float(value)
    if not ((value > 0 if positive else value >= 0) and math.isfinite(value)):
        raise ValueError(f"`{name}` must be a finite number {accepted}, got {value!r}.")
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
    return lambda variable: bool(pattern.search(variable_name(variable)))


def _serialize_callable(fn):
    return None if fn is None else tf.keras.saving.serialize_keras_object(fn)


def _deserialize_callable(config):
    if config is None or isinstance(config, str) or callable(config):
        return config
    return tf.keras.saving.deserialize_keras_object(config)


def _resolve_optimizer(optimizer):
    if isinstance(optimizer, dict) and not {"class_name", "config"} <= set(optimizer):
        raise ValueError(
            f"AGC could not create an optimizer from {optimizer!r}: a serialized "
            "optimizer has the keys 'class_name' and 'config' (as "
            "tf.keras.optimizers.serialize writes), e.g. {'class_name': 'Adam', "
            "'config': {'learning_rate': 0.001}}."
        )
    if isinstance(optimizer, (str, dict)):
        try:
            optimizer = tf.keras.optimizers.get(optimizer)
        except (ValueError, KeyError, TypeError) as error:
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
        wrapper = next(w for api, w in _WRAPPERS.items() if isinstance(optimizer, api))
        return wrapper(optimizer, *args, **kwargs)


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

    def __init_subclass__(
        cls, *, wraps=None, methods=(), attributes=(), settable=(), **kwargs
    ):
        """Make a wrapper for one optimizer API.

        # Arguments
        wraps: the API's optimizer base class; `AGC(optimizer)` builds this subclass
            for instances of it.
        methods: names of the API's methods to forward to the wrapped optimizer.
        attributes: names of the API's attributes to read from the wrapped optimizer.
        settable: names of the API's attributes to read from and write to it.
        """
        super().__init_subclass__(**kwargs)
        if wraps is not None:
            cls._wraps = wraps
            _WRAPPERS[wraps] = cls
        for name in methods:
            setattr(cls, name, _forwarded_method(name))
        for name in attributes:
            setattr(cls, name, _forwarded_attribute(name))
        for name in settable:
            setattr(cls, name, _forwarded_attribute(name, settable=True))

    # Not calling the API's `__init__`: all state lives in the wrapped optimizer.
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
        optimizer = _resolve_optimizer(optimizer)
        if not isinstance(optimizer, self._wraps):
            raise TypeError(
                f"{type(self).__name__} wraps `{self._wraps.__name__}` instances, got "
                f"{optimizer!r}; use `AGC(...)`, which picks the wrapper."
            )
        if unit_axes is not None and not callable(unit_axes):
            raise TypeError(
                "`unit_axes` must be None or a callable `variable -> axes`; got "
                f"{unit_axes!r} of type {type(unit_axes).__name__}."
            )
        # Plain attributes: nothing here is a trackable, so nothing enters checkpoints.
        self.__dict__.update(
            _optimizer=optimizer,
            _clip_factor=_check_number("clip_factor", clip_factor, positive=True),
            _eps=_check_number("eps", eps, positive=True),
            _exclude=exclude,
            _exclude_fn=_variable_predicate("exclude", exclude),
            _unit_axes=unit_axes,
            _coupled_weight_decay=_check_number(
                "coupled_weight_decay", coupled_weight_decay, positive=False
            ),
            _decay_variables=decay_variables,
            _decay_fn=_variable_predicate("decay_variables", decay_variables),
        )
        tf.__internal__.tracking.DelegatingTrackableMixin.__init__(self, optimizer)

    # -- configuration -----------------------------------------------------------------

    inner_optimizer = _setting("optimizer", "The wrapped optimizer.")
    clip_factor = _setting(
        "clip_factor", "lambda: the largest gradient norm relative to the weight norm."
    )
    eps = _setting("eps", "Lower bound on the weight norm.")
    exclude = _setting("exclude", "The `exclude` argument (None, regex or callable).")
    unit_axes = _setting("unit_axes", "The `unit_axes` argument (None or callable).")
    coupled_weight_decay = _setting(
        "coupled_weight_decay",
        "wd of the coupled decay `wd * w` added to the gradients after the clip.",
    )
    decay_variables = _setting(
        "decay_variables", "The `decay_variables` argument (None, regex or callable)."
    )

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
        return {
            "optimizer": tf.keras.optimizers.serialize(self.inner_optimizer),
            "clip_factor": self.clip_factor,
            "eps": self.eps,
            "exclude": exclude,
            "unit_axes": _serialize_callable(self.unit_axes),
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
        if self.unit_axes is not None:
            axes = self.unit_axes(variable)
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
                if grad is not None and not (self._exclude_fn and self._exclude_fn(var)):
                    grad = adaptive_clip(
                        grad, _latent(var), self.clip_factor, self.eps, self._axes_for(var)
                    )
                clipped.append((grad, var))
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
                if grad is not None and (self._decay_fn is None or self._decay_fn(var)):
                    grad = tf.convert_to_tensor(grad)
                    weight = tf.convert_to_tensor(_latent(var))
                    grad = grad + decay * tf.cast(weight, grad.dtype)
                decayed.append((grad, var))
        return decayed

    # -- what every optimizer API has: the wrapped optimizer's -------------------------

    iterations = _forwarded_attribute("iterations", settable=True)
    learning_rate = lr = _forwarded_attribute("learning_rate", settable=True)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: forward public attributes
        # (hyperparameters such as `beta_1`, `weight_decay`, `name`, `jit_compile`).
        inner = self.__dict__.get("_optimizer")
        if inner is None or name.startswith("_"):
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            )
        return getattr(inner, name)


AGC.exclude_head = staticmethod(exclude_head)
AGC.exclude_layers = staticmethod(exclude_layers)
