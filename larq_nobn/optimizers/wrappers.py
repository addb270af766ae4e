"""The two concrete `AGC` optimizers, one per tf-keras optimizer API. Each forwards
the members of its API that hold or create state (slots, variables, iterations,
hyperparameters) to the wrapped optimizer, and only intercepts `apply_gradients`."""

from __future__ import annotations

from larq_nobn.optimizers.agc import AGC, innermost_optimizer

import tensorflow as tf
from tf_keras.src.optimizers import optimizer as _optimizer_v3
from tf_keras.src.optimizers import utils as _optimizer_utils
from tf_keras.src.optimizers.legacy import optimizer_v2 as _optimizer_v2

__all__ = ["AGCOptimizer", "LegacyAGCOptimizer"]


@tf.keras.utils.register_keras_serializable(package="larq_nobn", name="AGC")
class AGCOptimizer(
    AGC,
    tf.__internal__.tracking.DelegatingTrackableMixin,
    _optimizer_v3.Optimizer,
    wraps=_optimizer_v3.Optimizer,
    methods=(
        "add_variable",
        "add_variable_from_reference",
        "aggregate_gradients",
        "build",
        "compute_gradients",
        "exclude_from_weight_decay",
        "finalize_variable_values",
        "load_own_variables",
        "save_own_variables",
        "set_weights",
    ),
    # The private ones are read by Keras and LossScaleOptimizerV3.
    attributes=(
        "variables",
        "_built",
        "_distribution_strategy",
        "_learning_rate",
        "_mesh",
        "_run_with_dtensor",
    ),
    settable=("ema_momentum", "use_ema"),
):
    """`AGC` around a current (`tf.keras.optimizers.Optimizer`) optimizer.

    Create it through `AGC(optimizer, ...)`; see `AGC` for the arguments.
    """

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


@tf.keras.utils.register_keras_serializable(package="larq_nobn", name="AGC")
class LegacyAGCOptimizer(
    AGC,
    tf.__internal__.tracking.DelegatingTrackableMixin,
    _optimizer_v2.OptimizerV2,
    wraps=_optimizer_v2.OptimizerV2,
    methods=(
        "add_slot",
        "get_gradients",
        "get_slot",
        "get_slot_names",
        "get_weights",
        "set_weights",
        "variables",
        "_aggregate_gradients",
        "_compute_gradients",
        "_create_all_weights",
        "_create_or_restore_slot_variable",
        "_create_slots",
        "_restore_slot_variable",
        "_transform_unaggregated_gradients",
        # Hyperparameters live in the wrapped optimizer; OptimizerV2.__getattribute__
        # and __setattr__ forward `agc.beta_1` etc. through `_hyper` and these two.
        "_get_hyper",
        "_set_hyper",
    ),
    attributes=("weights", "_hyper", "_name", "_weights"),
    settable=("clipnorm", "clipvalue", "global_clipnorm"),
):
    """`AGC` around a legacy (`tf.keras.optimizers.legacy.Optimizer`) optimizer.

    Create it through `AGC(optimizer, ...)`; see `AGC` for the arguments. Works with
    larq's `Bop` and `CaseOptimizer`.
    """

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
