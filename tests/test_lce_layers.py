"""The library's layers convert with LCE into binary ops and agree with Keras."""

from larq_nobn import ABN, ChannelScaledSign, RPReLU, RSign, ScaledWSQuantConv2D
from tests.helpers import op_names, randomize_non_kernel_weights

import larq as lq
import larq_compute_engine as lce
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter


def binary_ws_conv(filters, kernel_size, **kwargs):
    return ScaledWSQuantConv2D(
        filters,
        kernel_size,
        padding="same",
        pad_values=1.0,
        input_quantizer=RSign(),
        kernel_quantizer=ChannelScaledSign(),
        **kwargs,
    )


@pytest.fixture(scope="module")
def model():
    inputs = tf.keras.Input((8, 8, 3))
    x = ScaledWSQuantConv2D(32, 3, padding="same")(inputs)  # full-precision stem
    x = binary_ws_conv(32, 3)(x)
    x = RPReLU()(x)
    x = binary_ws_conv(64, 3, strides=2)(x)
    x = ABN()(x)
    x = binary_ws_conv(64, 1)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10)(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_non_kernel_weights(model)
    return model


def test_every_binary_ws_conv_becomes_lce_bconv2d(model):
    ops = op_names(lce.convert_keras_model(model))
    binary_layers = [
        layer for layer in model.layers
        if getattr(getattr(layer, "kernel", None), "precision", None) == 1
    ]
    assert len(binary_layers) == 3
    assert ops.count("LceBconv2d") == 3
    # The full-precision ScaledWS stem stays a float convolution.
    assert ops.count("CONV_2D") == 1


def test_interpreter_agrees_with_keras(model):
    x = np.random.RandomState(0).randn(32, 8, 8, 3).astype("float32")
    keras_out = model.predict(x, verbose=0)
    lce_out = Interpreter(lce.convert_keras_model(model)).predict(x)
    np.testing.assert_array_equal(lce_out.argmax(1), keras_out.argmax(1))
    # Only float summation order differs between the two.
    np.testing.assert_allclose(lce_out, keras_out, atol=1e-4 * np.abs(keras_out).max())


def test_magnitude_and_gain_fold_into_constant_kernel(model):
    # The kernel Keras uses is +-alpha per output channel: what LCE needs for a bconv.
    layer = model.layers[2]
    with lq.context.quantized_scope(True):
        kernel = layer.kernel.read_value().numpy()
    alpha = np.abs(kernel).max((0, 1, 2))
    np.testing.assert_allclose(np.abs(kernel), np.broadcast_to(alpha, kernel.shape),
                               rtol=1e-6)
