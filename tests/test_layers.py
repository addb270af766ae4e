from larq_nobn import (
    ChannelScaledSign,
    RPReLU,
    RSign,
    ScaledWSQuantConv2D,
    ScaledWSQuantDense,
    ScaledWSQuantDepthwiseConv2D,
)
from larq_nobn.layers import QuantConv2D, pointwise_conv2d

import larq as lq
import numpy as np
import pytest
import tensorflow as tf


def np_standardize(w, axes, eps=1e-5):
    fan_in = np.prod([w.shape[a] for a in axes])
    mean = w.mean(axes, keepdims=True)
    std = w.std(axes, keepdims=True)  # biased
    return (w - mean) / (std + eps) / np.sqrt(fan_in)


def used_kernel(layer, name="kernel"):
    with lq.context.quantized_scope(True):
        return getattr(layer, name).read_value().numpy()


def test_conv_forward_full_precision_ws_matches_numpy():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 5, 5, 3).astype("float32")
    layer = ScaledWSQuantConv2D(4, 3)
    layer.build(x.shape)
    gain = rng.rand(4).astype("float32") + 0.5
    layer.gain.assign(gain)
    w = layer.kernel.latent_variable.numpy()
    w_used = np_standardize(w, (0, 1, 2)) * gain
    np.testing.assert_allclose(used_kernel(layer), w_used, rtol=1e-5, atol=1e-7)
    expected = tf.nn.conv2d(x, w_used, 1, "VALID").numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)
    # Standardized kernel: zero mean and unit-sum-of-squares per output channel.
    w_hat = w_used / gain
    np.testing.assert_allclose(w_hat.mean((0, 1, 2)), 0.0, atol=1e-7)
    np.testing.assert_allclose((w_hat**2).sum((0, 1, 2)), 1.0, rtol=1e-3)


def test_conv_hand_vector():
    # 1x1 conv, 2 inputs, 1 output, kernel [1, 3]: mean 2, std 1, fan_in 2.
    layer = ScaledWSQuantConv2D(1, 1, ws_epsilon=1e-5)
    layer.build((None, 1, 1, 2))
    layer.kernel.latent_variable.assign(np.array([1.0, 3.0]).reshape(1, 1, 2, 1))
    layer.gain.assign([2.0])
    expected = 2.0 * np.array([-1.0, 1.0]) / (1 + 1e-5) / np.sqrt(2)
    np.testing.assert_allclose(used_kernel(layer).ravel(), expected, rtol=1e-6)


def test_binary_conv_kernel_and_precision():
    rng = np.random.RandomState(1)
    layer = ScaledWSQuantConv2D(
        6, 3, kernel_quantizer=ChannelScaledSign(), input_quantizer="ste_sign"
    )
    layer.build((None, 8, 8, 5))
    gain = rng.rand(6).astype("float32") + 0.5
    layer.gain.assign(gain)
    w_hat = np_standardize(layer.kernel.latent_variable.numpy(), (0, 1, 2))
    a = np.abs(w_hat).mean((0, 1, 2))
    expected = np.where(w_hat >= 0, 1.0, -1.0) * a * gain
    np.testing.assert_allclose(used_kernel(layer), expected, rtol=1e-5)
    assert layer.kernel.precision == 1
    # About sqrt(2/pi)/sqrt(fan_in) for Gaussian-like weights.
    assert 0.5 / np.sqrt(45) < a.mean() < 1.0 / np.sqrt(45)


def test_gradients_match_numpy_finite_differences():
    rng = np.random.RandomState(2)
    layer = ScaledWSQuantDense(3, use_bias=False, dtype="float64")
    layer.build((None, 4))
    x = rng.randn(5, 4)
    upstream = rng.randn(5, 3)
    gain = layer.gain.numpy()

    def loss_np(w):
        return np.sum((x @ (np_standardize(w, (0,)) * gain)) * upstream)

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * upstream)
    grad = tape.gradient(loss, layer.kernel.latent_variable).numpy()
    w0 = layer.kernel.latent_variable.numpy()
    numeric = np.zeros_like(w0)
    for idx in np.ndindex(*w0.shape):
        d = np.zeros_like(w0)
        d[idx] = 1e-6
        numeric[idx] = (loss_np(w0 + d) - loss_np(w0 - d)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_binary_gradient_flows_through_standardization():
    layer = ScaledWSQuantConv2D(4, 3, kernel_quantizer=ChannelScaledSign())
    x = tf.random.normal((2, 6, 6, 3), seed=3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, [layer.kernel.latent_variable, layer.gain])
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.abs(grads[0].numpy()).sum() > 0


def test_dense_and_depthwise_standardization_axes():
    rng = np.random.RandomState(4)
    dense = ScaledWSQuantDense(5)
    dense.build((None, 7))
    np.testing.assert_allclose(
        used_kernel(dense),
        np_standardize(dense.kernel.latent_variable.numpy(), (0,)),
        rtol=1e-5,
        atol=1e-7,
    )
    assert [w.name.split("/")[-1] for w in dense.weights] == [
        "kernel:0", "bias:0", "gain:0"
    ]
    depthwise = ScaledWSQuantDepthwiseConv2D(3, depth_multiplier=2)
    depthwise.build((None, 6, 6, 4))
    assert depthwise.gain.shape == (8,)
    gain = rng.rand(8).astype("float32")
    depthwise.gain.assign(gain)
    w = depthwise.depthwise_kernel.latent_variable.numpy()
    expected = np_standardize(w, (0, 1)) * gain.reshape(4, 2)
    np.testing.assert_allclose(
        used_kernel(depthwise, "depthwise_kernel"), expected, rtol=1e-5, atol=1e-7
    )


def test_weight_names_and_no_conv_bias_by_default():
    layer = ScaledWSQuantConv2D(2, 3)
    layer.build((None, 5, 5, 3))
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel:0", "gain:0"]
    assert layer.gain.shape == (2,)
    np.testing.assert_array_equal(layer.gain.numpy(), [1.0, 1.0])
    with_bias = ScaledWSQuantConv2D(2, 3, use_bias=True)
    with_bias.build((None, 5, 5, 3))
    assert "bias:0" in [w.name.split("/")[-1] for w in with_bias.weights]


def test_summary_shows_binary_weights():
    model = tf.keras.Sequential(
        [
            tf.keras.Input((8, 8, 32)),
            ScaledWSQuantConv2D(
                16, 3, input_quantizer=RSign(), kernel_quantizer=ChannelScaledSign()
            ),
            ScaledWSQuantConv2D(8, 1),
        ]
    )
    binary = [w for w in model.weights if getattr(w, "precision", None) == 1]
    assert sum(int(np.prod(w.shape)) for w in binary) == 3 * 3 * 32 * 16
    assert model.layers[1].kernel.precision == 32
    lq.models.summary(model)


def test_config_round_trip():
    layer = ScaledWSQuantConv2D(
        4,
        3,
        ws_epsilon=1e-4,
        kernel_quantizer=ChannelScaledSign(),
        input_quantizer=RSign(),
        pad_values=1.0,
        padding="same",
    )
    config = layer.get_config()
    assert config["ws_epsilon"] == 1e-4
    clone = ScaledWSQuantConv2D.from_config(config)
    assert isinstance(clone.kernel_quantizer, ChannelScaledSign)
    assert isinstance(clone.input_quantizer, RSign)
    assert clone.get_config() == config
    with pytest.raises(ValueError, match="-1"):
        ScaledWSQuantConv2D(4, 3, ws_epsilon=-1)


def test_rpreu_forward():
    layer = RPReLU()
    x = tf.constant([[-2.0, 0.5], [1.0, -0.5]])
    layer.build(x.shape)
    layer.input_shift.assign([0.5, -1.0])
    layer.slope.assign([0.25, 0.1])
    layer.output_shift.assign([1.0, 2.0])
    shifted = x.numpy() - [0.5, -1.0]
    expected = np.where(shifted > 0, shifted, shifted * [0.25, 0.1]) + [1.0, 2.0]
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "input_shift:0", "slope:0", "output_shift:0"
    ]
    np.testing.assert_allclose(RPReLU().get_config()["slope_initializer"]["config"]["value"], 0.25)


def test_mixed_precision_ws_conv():
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = ScaledWSQuantConv2D(4, 3, kernel_quantizer=ChannelScaledSign(),
                                    input_quantizer="ste_sign")
        y = layer(tf.random.normal((2, 6, 6, 3)))
        assert y.dtype == tf.float16
        assert layer.gain.dtype == tf.float32
        assert np.all(np.isfinite(y.numpy()))
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "shape, kernel_size, strides",
    [((5, 1, 1, 48), 1, 1), ((3, 4, 4, 16), 1, 1), ((3, 6, 6, 8), 3, 1), ((3, 6, 6, 8), 1, 2)],
)
@pytest.mark.parametrize("binary", [True, False])
def test_quant_conv2d_equals_larq_with_the_same_gradients(shape, kernel_size, strides,
                                                          binary):
    """Outputs and gradients (inputs, latent kernel) equal larq's `QuantConv2D`; the 1x1
    stride-1 cases take the matmul gradient path."""
    quantizers = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign") if binary else {}
    ours = QuantConv2D(12, kernel_size, strides=strides, use_bias=False, **quantizers)
    larqs = lq.layers.QuantConv2D(12, kernel_size, strides=strides, use_bias=False,
                                  **quantizers)
    x = tf.constant(np.random.RandomState(0).uniform(-1.5, 1.5, shape), tf.float32)
    ours.build(x.shape)
    larqs.build(x.shape)
    larqs.set_weights(ours.get_weights())
    weights = tf.random.stateless_normal((12,), seed=(1, 2))

    def outputs_and_gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * weights) + 0.5 * tf.reduce_sum(y * y)
        return [y, *tape.gradient(loss, [x, layer.kernel])]

    for a, b in zip(outputs_and_gradients(ours), outputs_and_gradients(larqs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-4)
    graph = tf.function(outputs_and_gradients).get_concrete_function(ours).graph
    op_types = {op.type for op in graph.get_operations()}
    uses_matmul = kernel_size == 1 and strides == 1
    assert ("Conv2DBackpropFilter" not in op_types) == uses_matmul, op_types


def test_pointwise_conv2d_hand_computed_gradients():
    """A 1x1 conv of a 1x2x1x2 map with kernel [[1, 2], [3, 4]]: y = x @ k, and for the
    loss sum(y), dL/dx = row sums of k, dL/dk = column sums of x broadcast."""
    x = tf.constant([[[[1.0, 2.0]], [[3.0, 5.0]]]])  # (1, 2, 1, 2)
    k = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)
    with tf.GradientTape() as tape:
        tape.watch([x, k])
        y = pointwise_conv2d(x, k)
        loss = tf.reduce_sum(y)
    dx, dk = tape.gradient(loss, [x, k])
    np.testing.assert_array_equal(y.numpy().reshape(2, 2), [[7, 10], [18, 26]])
    np.testing.assert_array_equal(dx.numpy().reshape(2, 2), [[3, 7], [3, 7]])
    np.testing.assert_array_equal(dk.numpy().reshape(2, 2), [[4, 4], [7, 7]])


def test_no_starved_weights_warning_for_identity_straight_through_weights(caplog):
    """larq's warning is about the clipped STE's zero gradient beyond |w| = 1; with an
    identity STE (the ABN reference's weights) it does not apply, also when a saved
    model is loaded (the layer is rebuilt from its config)."""
    import logging

    from larq_nobn import QuantConv2D

    import larq as lq

    with caplog.at_level(logging.WARNING, logger="larq.layers_base"):
        layer = QuantConv2D(4, 3, kernel_quantizer=lq.quantizers.SteSign(clip_value=None))
        QuantConv2D.from_config(layer.get_config())
    assert "starved" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="larq.layers_base"):
        QuantConv2D(4, 3, kernel_quantizer="ste_sign")
    assert "starved" in caplog.text
