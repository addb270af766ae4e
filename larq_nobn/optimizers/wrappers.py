"""The two concrete `AGC` optimizers: one per tf-keras optimizer API. Each delegates
state (slots, iterations, hyperparameters) to the wrapped optimizer and only
intercepts `apply_gradients`."""

from __future__ import annotations

from larq_nobn.optimizers.agc import AGC, innermost_optimizer

import tensorflow as tf
from tf_keras.src.optimizers import optimizer as _optimizer_v3
from tf_keras.src.optimizers import utils as _optimizer_utils
from tf_keras.src.optimizers.legacy import optimizer_v2 as _optimizer_v2

__all__ = ["AGCOptimizer", "LegacyAGCOptimizer"]

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
        return innermost_optimizer(self.inner_optimizer).aggregate_gradients(grads_and_vars)

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
        base = innermost_optimizer(self.inner_optimizer)
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
            base = innermost_optimizer(self.inner_optimizer)
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
        return innermost_optimizer(self.inner_optimizer)._aggregate_gradients(grads_and_vars)

    def _transform_unaggregated_gradients(self, grads_and_vars):
        base = innermost_optimizer(self.inner_optimizer)
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
