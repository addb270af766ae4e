"""Attention-based batch normalization (ABN) for binary neural networks."""

from larq_nobn._utils import broadcast_channel

import tensorflow as tf

__all__ = ["ABN", "replace_batch_norm"]

_FUSED_RANKS = (2, 4)


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class ABN(tf.keras.layers.Layer):
    r"""Attention-based batch normalization.

    Batch normalization whose learned scale `gamma` is replaced by an input-dependent
    sigmoid attention:

    \\[
    \hat{x} = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad
    y = \mathrm{sigmoid}(\hat{x}) \cdot \hat{x} + \beta
      = \mathrm{SiLU}(\hat{x}) + \beta
    \\]

    In training, \\(\mu\\) and \\(\sigma^2\\) are the mean and the biased variance of the
    batch over every axis but `axis`, and the moving statistics are updated like those
    of Keras' `BatchNormalization`:
    `moving = moving * momentum + batch * (1 - momentum)` (see `momentum` for the
    reference code's value). In inference the moving
    statistics are used. As with `BatchNormalization`, a layer with `trainable=False`
    always runs in inference mode.

    SiLU has its minimum -0.2785 at \\(\hat{x} = -1.278\\), so the sign that usually
    follows in a binary network sees shifted, possibly two-sided thresholds: with
    `beta <= 0` one threshold, with `0 < beta < 0.2785` the output is negative only
    inside an interval, with `beta >= 0.2785` it is always positive. This is the
    "activation imbalance" the paper describes.

    ```python
    x = lq.layers.QuantConv2D(128, 3, input_quantizer="ste_sign",
                              kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", use_bias=False)(x)
    x = larq_nobn.ABN()(x)  # instead of tf.keras.layers.BatchNormalization()
    ```

    # Arguments
        axis: Integer, the feature axis that keeps its own statistics and `beta`.
        momentum: Momentum of the moving mean and variance, in `[0, 1)`, in Keras'
            convention (the weight of the old value). The default 0.1 reproduces the
            reference code (gushan/ABN, models/ABN.py: `moving = momentum * moving +
            (1 - momentum) * batch` with `momentum = 0.1`, i.e. 0.1 on the old value
            and 0.9 on the batch, the opposite of PyTorch's `BatchNorm2d(momentum=0.1)`
            convention). It is the default because `ABN` is meant as the paper's
            layer: its inference statistics are then mostly those of the last
            training batch. For smoother statistics pass Keras' usual 0.9 or 0.99;
            `replace_batch_norm` keeps each replaced layer's own momentum.
        epsilon: Small float added to the variance to avoid dividing by zero.
        center: If True, add the learned offset `beta` (the paper keeps it; removing it
            hurts accuracy a lot).
        scale: If True, multiply the output by a learned `gamma` (the paper's ablation;
            it found no gain).
        beta_initializer: Initializer for `beta`.
        gamma_initializer: Initializer for `gamma`.
        moving_mean_initializer: Initializer for the moving mean.
        moving_variance_initializer: Initializer for the moving variance.
        beta_regularizer: Optional regularizer for `beta`.
        gamma_regularizer: Optional regularizer for `gamma`.
        beta_constraint: Optional constraint for `beta`.
        gamma_constraint: Optional constraint for `gamma`.
        synchronized: If True, under a `tf.distribute` strategy the batch statistics are
            computed over the global batch of all replicas (like Keras'
            `BatchNormalization(synchronized=True)`). Otherwise each replica uses its own
            batch, as Keras does by default.
        **kwargs: Standard layer arguments (`name`, `dtype`, `trainable`, ...).

    # Input shape
        Arbitrary, rank >= 2. The reference applies the attention to 4-D (conv)
        inputs only: its `BatchNorm` class is a plain BN (`gamma * x_hat + beta`) on
        2-D inputs, and its models use PyTorch's `BatchNorm1d` in the classifiers, so
        the zoo uses `ABN` only on conv feature maps. Rank-2 and rank-4 inputs
        normalized over the last axis use TensorFlow's fused batch-norm kernel.

    # Output shape
        Same as the input.

    # Returns
        `sigmoid(x_hat) * x_hat + beta` (times `gamma` if `scale=True`).

    # Raises
        ValueError: for a `momentum` outside `[0, 1)`, a non-positive `epsilon`, or an
            `axis` that does not exist in the input.

    # References
        - [Gu, Zhang, Jia, Wu. Attention-Based Batch Normalization for Binary Neural
          Networks. Entropy 2025, 27(6), 645](https://doi.org/10.3390/e27060645)
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.1,
        epsilon=1e-5,
        center=True,
        scale=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"`axis` must be an int, got {axis!r}.")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}.")
        if not float(epsilon) > 0.0:
            raise ValueError(f"`epsilon` must be > 0, got {epsilon!r}.")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.synchronized = synchronized
        self.beta_initializer = tf.keras.initializers.get(beta_initializer)
        self.gamma_initializer = tf.keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = tf.keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = tf.keras.initializers.get(
            moving_variance_initializer
        )
        self.beta_regularizer = tf.keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = tf.keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = tf.keras.constraints.get(beta_constraint)
        self.gamma_constraint = tf.keras.constraints.get(gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        rank = input_shape.rank
        if rank is None or rank < 2:
            raise ValueError(f"ABN needs inputs of known rank >= 2, got {input_shape}.")
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"`axis={self.axis}` does not exist in an input of rank {rank} "
                f"(accepted: {-rank} to {rank - 1})."
            )
        self._axis = self.axis % rank
        channels = input_shape[self._axis]
        if channels is None:
            raise ValueError(f"Axis {self.axis} of input shape {input_shape} is unknown.")
        self._reduction_axes = [i for i in range(rank) if i != self._axis]
        self._fused = self._axis == rank - 1 and rank in _FUSED_RANKS
        self.input_spec = tf.keras.layers.InputSpec(ndim=rank, axes={self._axis: channels})
        param = dict(shape=(channels,), dtype=tf.float32, experimental_autocast=False)
        self.gamma = (
            self.add_weight(
                name="gamma",
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                **param,
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                name="beta",
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                **param,
            )
            if self.center
            else None
        )
        stat = dict(
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.MEAN,
            **param,
        )
        self.moving_mean = self.add_weight(
            name="moving_mean", initializer=self.moving_mean_initializer, **stat
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", initializer=self.moving_variance_initializer, **stat
        )
        super().build(input_shape)

    def _training_value(self, training):
        if training is None:
            training = tf.keras.backend.learning_phase()
        if isinstance(training, int):
            training = bool(training)
        return False if not self.trainable else training

    def call(self, inputs, training=None):
        training = self._training_value(training)
        x = tf.cast(inputs, tf.float32)
        if isinstance(training, bool):
            x_hat = self._normalize(x, training)
        else:
            x_hat = tf.cond(
                tf.cast(training, tf.bool),
                lambda: self._normalize(x, True),
                lambda: self._normalize(x, False),
            )
        outputs = tf.nn.silu(x_hat)
        if self.scale:
            outputs = outputs * self._broadcast(self.gamma)
        if self.center:
            outputs = outputs + self._broadcast(self.beta)
        return tf.cast(outputs, inputs.dtype)

    def _normalize(self, x, training):
        """`x_hat` from batch (training) or moving (inference) statistics."""
        if training:
            if self._fused and not self._use_sync():
                x_hat, mean, variance = self._fused_normalize(x, training=True)
            else:
                mean, variance = self._moments(x)
                x_hat = (x - self._broadcast(mean)) * tf.math.rsqrt(
                    self._broadcast(variance) + self.epsilon
                )
            self._update_moving(self.moving_mean, mean)
            self._update_moving(self.moving_variance, variance)
            return x_hat
        if self._fused:
            return self._fused_normalize(x, training=False)[0]
        return (x - self._broadcast(self.moving_mean)) * tf.math.rsqrt(
            self._broadcast(self.moving_variance) + self.epsilon
        )

    def _fused_normalize(self, x, training):
        """TensorFlow's fused batch-norm kernel with unit scale and zero offset."""
        shape = tf.shape(x)
        x4 = x if x.shape.rank == 4 else x[:, tf.newaxis, tf.newaxis, :]
        channels = x.shape[-1]
        x_hat, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x4,
            tf.ones((channels,), tf.float32),
            tf.zeros((channels,), tf.float32),
            mean=None if training else self.moving_mean,
            variance=None if training else self.moving_variance,
            epsilon=self.epsilon,
            is_training=training,
        )
        if training:
            # The kernel returns the variance with Bessel's correction; ABN uses the
            # biased one, like the normalization itself.
            count = tf.cast(tf.size(x) // channels, tf.float32)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        return tf.reshape(x_hat, shape), mean, variance

    def _use_sync(self):
        return self.synchronized and tf.distribute.has_strategy()

    def _moments(self, x):
        if not self._use_sync():
            return tf.nn.moments(x, self._reduction_axes)
        context = tf.distribute.get_replica_context()
        count = tf.cast(tf.size(x) // x.shape[self._axis], tf.float32)
        sums = tf.stack(
            [
                tf.reduce_sum(x, self._reduction_axes),
                tf.reduce_sum(tf.square(x), self._reduction_axes),
                tf.fill([x.shape[self._axis]], count),
            ]
        )
        sums = context.all_reduce(tf.distribute.ReduceOp.SUM, sums)
        mean = sums[0] / sums[2]
        return mean, tf.maximum(sums[1] / sums[2] - tf.square(mean), 0.0)

    def _broadcast(self, v):
        return broadcast_channel(v, len(self._reduction_axes) + 1, self._axis)

    def _update_moving(self, variable, value):
        decay = 1.0 - self.momentum
        self.add_update(lambda: variable.assign_sub((variable - value) * decay))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        ser_init = tf.keras.initializers.serialize
        ser_reg = tf.keras.regularizers.serialize
        ser_con = tf.keras.constraints.serialize
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "synchronized": self.synchronized,
            "beta_initializer": ser_init(self.beta_initializer),
            "gamma_initializer": ser_init(self.gamma_initializer),
            "moving_mean_initializer": ser_init(self.moving_mean_initializer),
            "moving_variance_initializer": ser_init(self.moving_variance_initializer),
            "beta_regularizer": ser_reg(self.beta_regularizer),
            "gamma_regularizer": ser_reg(self.gamma_regularizer),
            "beta_constraint": ser_con(self.beta_constraint),
            "gamma_constraint": ser_con(self.gamma_constraint),
        }


def replace_batch_norm(model, **abn_kwargs):
    """Copy of a Keras model with every `BatchNormalization` replaced by `ABN`.

    The drop-in use of the ABN paper: take an existing BNN, swap its normalization
    layers, train again. Every other layer keeps its configuration and weights; each ABN
    takes the replaced layer's `axis`, `momentum`, `epsilon`, `center`, `beta` and moving
    statistics (its `gamma` is dropped unless `scale=True` is passed, in which case it is
    copied too).

    ```python
    model = larq_nobn.replace_batch_norm(model)
    ```

    # Arguments
        model: A functional or Sequential `tf.keras.Model`.
        **abn_kwargs: Extra `ABN` arguments (e.g. `scale=True`, `synchronized=True`).

    # Returns
        A new, uncompiled model.

    # Raises
        TypeError: if `model` is not a `tf.keras.Model`.
    """
    if not isinstance(model, tf.keras.Model):
        raise TypeError(f"`model` must be a tf.keras.Model, got {type(model).__name__}.")

    def clone(layer):
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
            kwargs = dict(
                axis=axis, momentum=layer.momentum, epsilon=layer.epsilon,
                center=layer.center, name=layer.name,
            )
            kwargs.update(abn_kwargs)
            return ABN(**kwargs)
        return layer.__class__.from_config(layer.get_config())

    new = tf.keras.models.clone_model(model, clone_function=clone)
    for old_layer, new_layer in zip(model.layers, new.layers):
        if isinstance(new_layer, ABN):
            old = {w.name.split("/")[-1].split(":")[0]: w for w in old_layer.weights}
            for weight in new_layer.weights:
                name = weight.name.split("/")[-1].split(":")[0]
                if name in old:
                    weight.assign(old[name])
        else:
            new_layer.set_weights(old_layer.get_weights())
    return new
