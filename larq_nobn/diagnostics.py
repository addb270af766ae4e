"""Diagnostics of binary training: gradient explosion and activation imbalance.

- `weight_gradient_norms`: the L2 norm of each layer's weight gradient for one batch,
  the measurement with which Sari et al. show that BNNs without batch normalization
  have exploding gradients (the norm grows layer by layer toward the input).
- `binary_inputs_model` and `plus_one_fractions`: the fraction of +1 among the
  binarized activations entering each binary layer, the "activation imbalance" that
  the ABN paper discusses (a BN-normalized input is +1 about half of the time).
- `ActivationBalance`: a Keras callback recording those fractions during training.

# References
    - [How Does Batch Normalization Help Binary Training?](https://arxiv.org/abs/1909.09139)
    - [Attention-based batch normalization for binary neural
      networks](https://doi.org/10.3390/e27060645)
"""

from __future__ import annotations

import logging

from larq_nobn._utils import leaf_layers

import numpy as np
import tensorflow as tf

__all__ = [
    "ActivationBalance",
    "binary_inputs_model",
    "plus_one_fractions",
    "weight_gradient_norms",
]

logger = logging.getLogger(__name__)


def _kernel_variables(layer):
    """The weight tensors of a layer whose gradient norms are reported: its trainable
    variables of rank >= 2 (kernels; biases, gains and norm parameters are left out)."""
    return [v for v in layer.trainable_weights if v.shape.rank >= 2]


def weight_gradient_norms(model: tf.keras.Model, x, y, loss=None) -> dict[str, float]:
    """The L2 norm of every layer's weight-gradient for one batch, input to output.

    One forward and backward pass in training mode (batch statistics for BN and ABN,
    as at the first step of training) on `(x, y)`; the model is not changed.

    # Arguments
        model: A built Keras model.
        x: A batch of inputs.
        y: The labels of the batch.
        loss: A Keras loss; by default `model.loss` if the model is compiled, else
            sparse categorical cross-entropy on logits.

    # Returns
        `{layer name: gradient norm}` in the order of `model.layers` (nested models
        flattened), for every layer with a kernel (trainable weight of rank >= 2). A
        layer with several kernels (a depthwise-separable conv) reports the norm of all
        of them together.

    # Raises
        ValueError: if the model has no layer with a trainable kernel.
    """
    layers = [layer for layer in leaf_layers(model) if _kernel_variables(layer)]
    if not layers:
        raise ValueError(f"Model {model.name!r} has no layer with a trainable kernel.")
    if loss is None:
        loss = getattr(model, "loss", None) or tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        )
    loss = tf.keras.losses.get(loss)
    variables = [_kernel_variables(layer) for layer in layers]
    with tf.GradientTape() as tape:
        # Loss functions (not Loss objects) give one value per sample: average them.
        value = tf.reduce_mean(loss(y, model(x, training=True)))
    gradients = tape.gradient(value, [v for group in variables for v in group])
    norms, start = {}, 0
    for layer, group in zip(layers, variables):
        squares = [
            0.0 if g is None else float(tf.reduce_sum(tf.square(tf.cast(g, tf.float64))))
            for g in gradients[start : start + len(group)]
        ]
        start += len(group)
        norms[layer.name] = float(np.sqrt(sum(squares)))
    return norms


def _binarized_input(layer):
    """The input quantizer of a layer if it binarizes (larq `precision == 1`)."""
    quantizer = getattr(layer, "input_quantizer", None)
    if quantizer is None or getattr(quantizer, "precision", None) != 1:
        return None
    return quantizer


def binary_inputs_model(model: tf.keras.Model) -> tf.keras.Model:
    """A model with the same inputs whose outputs are the binarized inputs of every
    binary layer of `model` (each layer's input quantizer applied to its input).

    # Arguments
        model: A functional or Sequential Keras model with larq quantized layers.

    # Returns
        A Keras model whose output is a dict `{layer name: binarized input}`.

    # Raises
        ValueError: if `model` is a subclassed model (its layers have no graph inputs)
            or has no layer with a binarizing input quantizer.
    """
    if not getattr(model, "_is_graph_network", False):
        raise ValueError(
            f"Model {model.name!r} is a subclassed model; activation statistics need a "
            "functional or Sequential model."
        )
    outputs = {}
    for layer in leaf_layers(model):
        quantizer = _binarized_input(layer)
        if quantizer is not None:
            outputs[layer.name] = quantizer(layer.input)
    if not outputs:
        raise ValueError(
            f"Model {model.name!r} has no layer with a binarizing input quantizer "
            "(`input_quantizer` with precision 1)."
        )
    return tf.keras.Model(model.inputs, outputs, name=f"{model.name}_binary_inputs")


def plus_one_fractions(probe: tf.keras.Model, x, batch_size: int = 256) -> dict:
    """The fraction of +1 among the binarized activations of each binary layer.

    # Arguments
        probe: A model from `binary_inputs_model`.
        x: Inputs (a batch or a dataset of inputs).
        batch_size: Batch size for arrays.

    # Returns
        `{layer name: fraction of entries >= 0}` over all of `x` (larq and LCE map 0
        to +1).
    """
    values = probe.predict(x, batch_size=batch_size, verbose=0)  # {layer name: array}
    return {name: float(np.mean(np.asarray(value) >= 0)) for name, value in values.items()}


class ActivationBalance(tf.keras.callbacks.Callback):
    """Records the fraction of +1 among every binary layer's binarized inputs.

    At the start of training and after every epoch (and every `every_n_batches`
    batches, if given), the fractions on the fixed inputs `x` are appended to
    `history[layer_name]`; `steps` holds the training step of each record. The
    per-epoch values also go into the epoch logs as `plus_fraction/LAYER`, so
    `CSVLogger` and `TensorBoard` record them.

    ```python
    balance = ActivationBalance(x_test[:512])
    model.fit(x_train, y_train, epochs=3, callbacks=[balance])
    balance.history["conv2"]   # [0.5, 0.41, 0.38, 0.37]
    ```

    # Arguments
        x: A fixed batch of inputs to measure on (a few hundred samples suffice).
        every_n_batches: Also record every this many training batches; `None` for
            epoch ends only.
        log: Add the per-epoch fractions to the epoch logs.
    """

    def __init__(self, x, every_n_batches: int | None = None, log: bool = True):
        super().__init__()
        if every_n_batches is not None and (
            isinstance(every_n_batches, bool)
            or not isinstance(every_n_batches, int)
            or every_n_batches < 1
        ):
            raise ValueError(
                f"`every_n_batches` must be an integer >= 1 or None, got {every_n_batches!r}."
            )
        self.x = x
        self.every_n_batches = every_n_batches
        self.log = log
        self.history: dict[str, list[float]] = {}
        self.steps: list[int] = []
        self._probe = None
        self._step = 0

    def _record(self):
        if self._probe is None:
            self._probe = binary_inputs_model(self.model)
        fractions = plus_one_fractions(self._probe, self.x)
        for name, fraction in fractions.items():
            self.history.setdefault(name, []).append(fraction)
        self.steps.append(self._step)
        return fractions

    def on_train_begin(self, logs=None):
        self._probe = None  # the model may have been rebuilt since the last fit
        if not self.steps:
            self._record()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_n_batches and self._step % self.every_n_batches == 0:
            self._record()

    def on_epoch_end(self, epoch, logs=None):
        if self.steps and self.steps[-1] == self._step:
            fractions = {name: values[-1] for name, values in self.history.items()}
        else:
            fractions = self._record()
        if self.log and logs is not None:
            logs.update({f"plus_fraction/{name}": value for name, value in fractions.items()})
        logger.debug("epoch %d: fraction of +1 per binary layer %s", epoch + 1, fractions)
