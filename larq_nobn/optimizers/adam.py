"""Adam as PyTorch computes it, optionally restarted every `reset_every` steps."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["EPSILON_PLACEMENTS", "Adam"]

#: Where `Adam` adds epsilon: after the bias correction (PyTorch) or before (tf-keras).
EPSILON_PLACEMENTS = ("torch", "keras")


@tf.keras.utils.register_keras_serializable(package="larq_nobn", name="Adam")
class Adam(tf.keras.optimizers.Adam):
    """`tf.keras.optimizers.Adam` with PyTorch's defaults, and an optional restart.

    With the defaults (`epsilon=1e-8`, `epsilon_placement="torch"`) the update is
    `torch.optim.Adam`'s, epsilon added after the bias correction:

    ```
    w <- w - lr * m_hat / (sqrt(v_hat) + epsilon),
    m_hat = m / (1 - beta_1 ** t),  v_hat = v / (1 - beta_2 ** t)
    ```

    `epsilon_placement="keras"` is tf-keras' placement, `epsilon` added to `sqrt(v)`
    before the bias correction (an effective epsilon `epsilon / sqrt(1 - beta_2 ** t)`,
    about 32 times larger at the first step): its first steps are smaller on gradients
    near the epsilon scale.

    `reset_every=N` restarts Adam every `N` steps, as re-creating `torch.optim.Adam`
    at every epoch does (gushan/ABN's `utils.adjust_optimizer`): at steps `0, N, 2N, ...`
    the moments are zeroed before the update and the bias correction starts again
    (`t = iterations % N + 1`). `iterations` itself keeps counting (learning-rate
    schedules, checkpoints), so the restart depends only on the restored step count:
    a run resumed from a mid-epoch checkpoint continues exactly.

    # Arguments
        learning_rate: A float or a `LearningRateSchedule`.
        beta_1: Decay of the first moment.
        beta_2: Decay of the second moment.
        epsilon: PyTorch's `eps` (with `epsilon_placement="torch"`).
        epsilon_placement: `"torch"`: added after the bias correction (above);
            `"keras"`: before it, as `tf.keras.optimizers.Adam`.
        reset_every: Steps between restarts (`steps_per_epoch` for one restart per
            epoch); `None`: never.
        **kwargs: Other arguments of `tf.keras.optimizers.Adam` (`amsgrad`,
            `weight_decay`, `name`, ...).

    # References
        - [Kingma and Ba, Adam: A Method for Stochastic Optimization, Algorithm 1](
          https://arxiv.org/abs/1412.6980)
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        epsilon_placement="torch",
        reset_every=None,
        name="Adam",
        **kwargs,
    ):
        if epsilon_placement not in EPSILON_PLACEMENTS:
            raise ValueError(
                f"`epsilon_placement` must be one of {', '.join(EPSILON_PLACEMENTS)}, "
                f"got {epsilon_placement!r}."
            )
        if reset_every is not None and (
            not isinstance(reset_every, int)
            or isinstance(reset_every, bool)
            or reset_every < 1
        ):
            raise ValueError(
                f"`reset_every` must be None or an integer >= 1, got {reset_every!r}."
            )
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            name=name,
            **kwargs,
        )
        self.epsilon_placement = epsilon_placement
        self.reset_every = reset_every

    def moment_step(self) -> tf.Tensor:
        """The steps since the last restart (0 at a restart): `t - 1` of the next
        update's bias correction."""
        if self.reset_every is None:
            return self.iterations
        return self.iterations % self.reset_every

    def _slots(self, variable) -> list:
        index = self._index_dict[self._var_key(variable)]
        slots = [self._momentums[index], self._velocities[index]]
        if self.amsgrad:
            slots.append(self._velocity_hats[index])
        return slots

    def update_step(self, gradient, variable):
        """Zeroes the moments at a restart step, then Adam's update with the bias
        correction of the steps since the restart (sparse gradients are densified)."""
        dtype = variable.dtype
        if self.reset_every is not None:
            keep = tf.cast(self.moment_step() > 0, dtype)
            for slot in self._slots(variable):
                slot.assign(slot * keep)
        m, v = self._slots(variable)[:2]
        step = tf.cast(self.moment_step() + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), step)
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        m.assign_add((gradient - m) * (1 - self.beta_1))
        v.assign_add((tf.square(gradient) - v) * (1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._slots(variable)[2]
            v_hat.assign(tf.maximum(v_hat, v))
            v = v_hat
        epsilon = tf.cast(self.epsilon, dtype)
        if self.epsilon_placement == "torch":
            denominator = tf.sqrt(v / (1 - beta_2_power)) + epsilon
        else:
            denominator = (tf.sqrt(v) + epsilon) / tf.sqrt(1 - beta_2_power)
        lr = tf.cast(self.learning_rate, dtype)
        variable.assign_sub(lr * m / (1 - beta_1_power) / denominator)

    def get_config(self):
        config = super().get_config()
        config["epsilon_placement"] = self.epsilon_placement
        config["reset_every"] = self.reset_every
        return config
