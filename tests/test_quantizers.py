from larq_nobn import ChannelScaledSign, RSign

import larq as lq
import numpy as np
import pytest
import tensorflow as tf


def test_channel_scaled_sign_forward_per_output_channel():
    w = np.array([[0.5, -2.0], [-1.5, 0.0], [0.1, 1.0]], "float32")  # (in=3, out=2)
    q = ChannelScaledSign()(w).numpy()
    a = np.abs(w).mean(0)  # [0.7, 1.0]
    np.testing.assert_allclose(q, np.where(w >= 0, 1.0, -1.0) * a, rtol=1e-6)
    # sign(0) is +1, as in larq and LCE.
    assert q[1, 1] == pytest.approx(1.0)


def test_channel_scaled_sign_depthwise_axes():
    rng = np.random.RandomState(0)
    w = rng.randn(3, 3, 4, 2).astype("float32")
    q = ChannelScaledSign(channel_axes=(-2, -1))(w).numpy()
    a = np.abs(w).mean((0, 1), keepdims=True)
    np.testing.assert_allclose(q, np.sign(w) * a, rtol=1e-6)


def test_channel_scaled_sign_gradient_is_unscaled_clipped_ste():
    w = tf.constant([[0.5, -2.0], [-0.2, 3.0], [0.9, -0.3]])
    dy = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    with tf.GradientTape() as tape:
        tape.watch(w)
        out = ChannelScaledSign()(w)
    grad = tape.gradient(out, w, output_gradients=dy).numpy()
    # Gradient passes where |w| <= 1, not multiplied by the scale mean|w|.
    np.testing.assert_allclose(grad, [[1.0, 0.0], [3.0, 0.0], [5.0, 6.0]])
    # larq's magnitude-aware sign does scale its gradient: the documented difference.
    with tf.GradientTape() as tape:
        tape.watch(w)
        out = lq.quantizers.MagnitudeAwareSign()(w)
    larq_grad = tape.gradient(out, w, output_gradients=dy).numpy()
    assert not np.allclose(larq_grad, grad)


def test_channel_scaled_sign_config_and_errors():
    q = ChannelScaledSign(channel_axes=(-2, -1), clip_value=None)
    clone = lq.quantizers.get(lq.quantizers.serialize(q))
    assert isinstance(clone, ChannelScaledSign)
    assert clone.channel_axes == (-2, -1) and clone.clip_value is None
    assert clone.precision == 1
    with pytest.raises(ValueError, match="'x'"):
        ChannelScaledSign(channel_axes=("x",))
    with pytest.raises(ValueError, match="-1"):
        ChannelScaledSign(clip_value=-1)


def test_rsign_forward_backward_with_threshold():
    x = tf.constant([[-0.5, 0.2, 2.0], [0.25, -0.1, -3.0]])
    rsign = RSign()
    rsign.build(x.shape)
    rsign.threshold.assign([0.5, -0.25, 0.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = rsign(x)
    # x + b = [[0, -0.05, 2], [0.75, -0.35, -3]]
    np.testing.assert_allclose(y.numpy(), [[1, -1, 1], [1, -1, -1]])
    grad = tape.gradient(y, x).numpy()
    shifted = x.numpy() + np.array([0.5, -0.25, 0.0])
    expected = np.where(np.abs(shifted) <= 1, 2 - 2 * np.abs(shifted), 0.0)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(y, rsign.threshold).numpy(), expected.sum(0), rtol=1e-6
    )


def test_rsign_as_input_quantizer_owns_trainable_threshold():
    layer = lq.layers.QuantDense(3, input_quantizer=RSign(), use_bias=False)
    layer.build((None, 4))
    layer(tf.zeros((1, 4)))
    names = [w.name.split("/")[-1] for w in layer.trainable_weights]
    assert sorted(names) == ["kernel:0", "threshold:0"]
    restored = lq.layers.QuantDense.from_config(layer.get_config())
    assert isinstance(restored.input_quantizer, RSign)
