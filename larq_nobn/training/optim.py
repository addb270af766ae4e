"""Optimisation: learning-rate schedules, the optimizer (with AGC), the coupled L2
weight decay and the `tf.distribute` strategy."""

from __future__ import annotations

import os
import re

from larq_nobn.training.config import STRATEGIES, TrainConfig

import tensorflow as tf

__all__ = [
    "add_weight_decay",
    "build_optimizer_state",
    "is_chief",
    "make_learning_rate",
    "make_optimizer",
    "make_strategy",
]


def make_learning_rate(config: TrainConfig, total_steps: int):
    """The learning rate (schedule) of a config over `total_steps` optimizer steps."""
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "linear":
        return tf.keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, max(1, total_steps), end_learning_rate=0.0, power=1.0
        )
    return tf.keras.optimizers.schedules.CosineDecay(
        config.learning_rate, max(1, total_steps), alpha=0.0
    )


def make_optimizer(
    config: TrainConfig, total_steps: int, model: tf.keras.Model, exclude=None
):
    """Adam or SGD with the config's schedule, wrapped in AGC when it is on.

    # Arguments
        config: The run's configuration.
        total_steps: Optimizer steps of the whole run (for the decaying schedules).
        model: The model trained (its classifier head is excluded from AGC).
        exclude: AGC's exclusion regex; `None`: `larq_nobn.optimizers.exclude_head`.
    """
    learning_rate = make_learning_rate(config, total_steps)
    if config.optimizer == "adam":
        optimizer = tf.keras.optimizers.Adam(learning_rate)
    else:
        optimizer = tf.keras.optimizers.SGD(learning_rate, momentum=0.9)
    clip_factor = config.resolved_agc_clip_factor
    if clip_factor > 0:
        from larq_nobn.optimizers import AGC, exclude_head

        if exclude is None:
            exclude = exclude_head(model)
        optimizer = AGC(optimizer, clip_factor=clip_factor, exclude=exclude)
    return optimizer


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`default`: the current (default) strategy; `mirrored`: `MirroredStrategy` over
    all local GPUs, or over every logical CPU device when there is no GPU;
    `multi_worker`: `MultiWorkerMirroredStrategy` configured by `TF_CONFIG` (create it
    before TensorFlow runs anything else in the process). Created once per process and
    reused (seeds, two steps)."""
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}."
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name in _STRATEGIES:
        return _STRATEGIES[name]
    if name == "mirrored":
        devices = tf.config.list_logical_devices(
            "GPU"
        ) or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    else:
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable "
                "(cluster spec and this task's type and index)."
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _STRATEGIES[name] = strategy
    return strategy


# One strategy object per kind and process: two MirroredStrategy objects in one process
# reuse collective instance keys and break each other's all-reduces.
_STRATEGIES: dict = {}


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files (the chief of a multi-worker run,
    or the only worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "worker" and task_id == 0 and not has_chief


def add_weight_decay(model, weight_decay: float, pattern: str) -> list:
    """Adds the coupled L2 decay `weight_decay / 2 * ||w||^2` over every trainable
    variable whose name matches `pattern` to the model's losses.

    # Returns
        The decayed variables (empty when `weight_decay` is 0 or nothing matches).
    """
    if weight_decay <= 0:
        return []
    regex = re.compile(pattern)
    variables = [v for v in model.trainable_variables if regex.search(v.name)]
    if not variables:
        return []

    def l2():
        return (
            0.5
            * weight_decay
            * tf.add_n(
                [tf.reduce_sum(tf.square(tf.convert_to_tensor(v))) for v in variables]
            )
        )

    model.add_loss(l2)
    return variables


def build_optimizer_state(optimizer, variables):
    """Creates the optimizer's slot variables, so a checkpoint can be loaded into it."""
    if hasattr(optimizer, "build"):
        optimizer.build(variables)
    elif hasattr(optimizer, "_create_all_weights"):  # legacy optimizers
        optimizer._create_all_weights(variables)


