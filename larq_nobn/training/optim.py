"""Optimisation: learning-rate schedules, the optimizer (with AGC), the coupled L2
weight decay and the `tf.distribute` strategy."""

from __future__ import annotations

import os
import re

from larq_nobn.optimizers import AGC, Adam, exclude_head
from larq_nobn.training.config import STRATEGIES, TrainConfig

import tensorflow as tf

__all__ = [
    "ADAM_EPSILON",
    "EpochLinearDecay",
    "add_weight_decay",
    "build_optimizer_state",
    "is_chief",
    "make_learning_rate",
    "make_optimizer",
    "make_strategy",
]


#: Adam's epsilon: PyTorch's default (1e-8), which both papers' reference code uses
#: (`torch.optim.Adam` in gushan/ABN utils.py and VITA-Group/BNN_NoBN train.py), not
#: Keras' 1e-7. `make_optimizer` adds it after the bias correction of `v`, as PyTorch
#: (`TrainConfig.adam_epsilon_placement`, default `torch`); Keras adds it before.
ADAM_EPSILON = 1e-8


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class EpochLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear decay to 0 in steps of one epoch, as PyTorch's
    `LambdaLR(lambda epoch: 1 - epoch / epochs)` stepped at the start of every epoch.

    During epoch `e` (0-based, `e = step // steps_per_epoch`) the learning rate is
    `initial_learning_rate * max(0, 1 - (e + 1) / epochs)`: the first epoch already
    uses `(1 - 1 / epochs)` of it and the last one 0. This is what VITA-Group/BNN_NoBN
    train.py does (`scheduler.step()` at the start of `train` / `train_kd`, before
    the epoch's first batch).

    # Arguments
        initial_learning_rate: The learning rate before any decay.
        steps_per_epoch: Optimizer steps per epoch (>= 1).
        epochs: Epochs of the run (>= 1).
    """

    def __init__(self, initial_learning_rate, steps_per_epoch, epochs):
        super().__init__()
        for name, value in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs

    def __call__(self, step):
        epoch = tf.math.floordiv(tf.cast(step, tf.int64), self.steps_per_epoch)
        fraction = tf.cast(epoch + 1, tf.float32) / self.epochs
        return self.initial_learning_rate * tf.maximum(0.0, 1.0 - fraction)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
        }


def make_learning_rate(
    config: TrainConfig, total_steps: int, steps_per_epoch: int | None = None
):
    """The learning rate (schedule) of a config over `total_steps` optimizer steps.

    # Arguments
        config: The run's configuration (`learning_rate`, `schedule`, `epochs`).
        total_steps: Optimizer steps of the whole run.
        steps_per_epoch: Steps per epoch, for `linear_epoch`; `None`:
            `total_steps // config.epochs`.
    """
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "linear_epoch":
        if steps_per_epoch is None:
            steps_per_epoch = max(1, total_steps // config.epochs)
        return EpochLinearDecay(config.learning_rate, steps_per_epoch, config.epochs)
    if config.schedule == "linear":
        return tf.keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, max(1, total_steps), end_learning_rate=0.0, power=1.0
        )
    return tf.keras.optimizers.schedules.CosineDecay(
        config.learning_rate, max(1, total_steps), alpha=0.0
    )


def make_optimizer(
    config: TrainConfig,
    total_steps: int,
    model: tf.keras.Model,
    exclude=None,
    steps_per_epoch: int | None = None,
):
    """Adam (`larq_nobn.optimizers.Adam`: PyTorch's epsilon `ADAM_EPSILON`, placed
    as `config.adam_epsilon_placement` says, restarted every `steps_per_epoch` steps
    with `config.adam_reset_each_epoch`) or SGD with the config's schedule, wrapped in
    AGC when it is on.

    With AGC on, the coupled weight decay `config.weight_decay` is AGC's: `wd * w` is
    added to the gradients of the variables matching `config.weight_decay_pattern`
    after the clip (`AGC(coupled_weight_decay=..., decay_variables=...)`), as in the
    reference. With AGC off the optimizer has no decay: `compile_model` adds it to the
    loss (`add_weight_decay`), which gives the same gradient `wd * w`.

    # Arguments
        config: The run's configuration.
        total_steps: Optimizer steps of the whole run (for the decaying schedules).
        model: The model trained (its classifier head is excluded from AGC).
        exclude: AGC's exclusion regex; `None`: `larq_nobn.optimizers.exclude_head`.
        steps_per_epoch: Steps per epoch (for `linear_epoch`, see
            `make_learning_rate`, and Adam's restarts); `None`:
            `total_steps // config.epochs`.
    """
    if steps_per_epoch is None:
        steps_per_epoch = max(1, total_steps // config.epochs)
    learning_rate = make_learning_rate(config, total_steps, steps_per_epoch)
    if config.optimizer == "adam":
        optimizer = Adam(
            learning_rate,
            epsilon=ADAM_EPSILON,
            epsilon_placement=config.adam_epsilon_placement,
            reset_every=steps_per_epoch if config.adam_reset_each_epoch else None,
        )
    else:
        optimizer = tf.keras.optimizers.SGD(learning_rate, momentum=0.9)
    clip_factor = config.resolved_agc_clip_factor
    if clip_factor > 0:
        if exclude is None:
            exclude = exclude_head(model)
        optimizer = AGC(
            optimizer,
            clip_factor=clip_factor,
            exclude=exclude,
            coupled_weight_decay=config.weight_decay,
            decay_variables=config.weight_decay_pattern,
        )
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
    variable whose name matches `pattern` to the model's losses: its gradient is
    `weight_decay * w`, PyTorch's `Adam(weight_decay=...)`. The training path uses it
    only without AGC (AGC would clip it; with AGC the decay is the optimizer's, see
    `make_optimizer`).

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


