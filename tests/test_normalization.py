import larq_nobn
from larq_nobn import ABN

import numpy as np
import pytest
import tensorflow as tf


def np_silu(x):
    return x / (1.0 + np.exp(-x))


def np_abn(x, mean, var, beta, eps=1e-5, gamma=None):
    x_hat = (x - mean) / np.sqrt(var + eps)
    y = np_silu(x_hat)
    if gamma is not None:
        y = y * gamma
    return y + beta


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 3, 6), (4, 7, 6)])
def test_training_uses_batch_statistics_and_updates_moving(shape):
    rng = np.random.RandomState(0)
    x = (rng.randn(*shape) * 3 + 2).astype("float32")
    layer = ABN(momentum=0.9)
    layer.build(x.shape)
    beta = rng.randn(shape[-1]).astype("float32")
    layer.beta.assign(beta)
    y = layer(x, training=True).numpy()
    axes = tuple(range(len(shape) - 1))
    mean, var = x.mean(axes), x.var(axes)  # biased variance
    np.testing.assert_allclose(y, np_abn(x, mean, var, beta), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(
        layer.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5
    )


def test_hand_vector():
    # Batch [-1, 1] per channel: mean 0, biased variance 1, x_hat = [-1, 1] / sqrt(1+eps).
    layer = ABN(epsilon=1e-5)
    x = np.array([[-1.0], [1.0]], "float32")
    y = layer(x, training=True).numpy()
    x_hat = 1 / np.sqrt(1 + 1e-5)
    sig = 1 / (1 + np.exp(-x_hat))
    np.testing.assert_allclose(
        y[:, 0], [-x_hat * (1 - sig), x_hat * sig], rtol=1e-6
    )


def test_inference_uses_moving_statistics():
    rng = np.random.RandomState(1)
    x = rng.randn(6, 4, 4, 3).astype("float32")
    layer = ABN(scale=True)
    layer.build(x.shape)
    mean, var = rng.randn(3), rng.rand(3) + 0.5
    beta, gamma = rng.randn(3), rng.rand(3) + 0.5
    for v, value in zip(
        [layer.moving_mean, layer.moving_variance, layer.beta, layer.gamma],
        [mean, var, beta, gamma],
    ):
        v.assign(value.astype("float32"))
    y = layer(x, training=False).numpy()
    np.testing.assert_allclose(
        y, np_abn(x, mean, var, beta, gamma=gamma), rtol=1e-4, atol=1e-5
    )
    # Inference leaves the statistics untouched.
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-6)


def test_center_false_and_scale_true_weights():
    layer = ABN(center=False, scale=True)
    layer.build((None, 4))
    assert [w.name.split("/")[-1] for w in layer.trainable_weights] == ["gamma:0"]
    default = ABN()
    default.build((None, 4))
    assert [w.name.split("/")[-1] for w in default.trainable_weights] == ["beta:0"]
    x = np.array([[0.0, 1, 2, 3], [2, 1, 0, -3]], "float32")
    y = layer(x, training=True).numpy()
    axes = 0
    np.testing.assert_allclose(
        y, np_abn(x, x.mean(axes), x.var(axes), 0.0), rtol=1e-4, atol=1e-6
    )


def test_gradient_matches_numpy_finite_differences():
    rng = np.random.RandomState(2)
    x = tf.constant(rng.randn(5, 3).astype("float64"))
    layer = ABN(dtype="float64")
    w = tf.constant(rng.randn(5, 3))

    def loss_np(xv):
        return float(np.sum(np_abn(xv, xv.mean(0), xv.var(0), 0.0) * w.numpy()))

    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, training=True) * w)
    grad = tape.gradient(loss, x).numpy()
    numeric = np.zeros_like(grad)
    for idx in np.ndindex(*grad.shape):
        d = np.zeros_like(grad)
        d[idx] = 1e-6
        numeric[idx] = (loss_np(x.numpy() + d) - loss_np(x.numpy() - d)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_axis_1_generic_path_and_learning_phase_in_fit():
    rng = np.random.RandomState(3)
    x = rng.randn(4, 3, 5).astype("float32")
    layer = ABN(axis=1)
    y = layer(x, training=True).numpy()
    mean, var = x.mean((0, 2), keepdims=True), x.var((0, 2), keepdims=True)
    np.testing.assert_allclose(y, np_abn(x, mean, var, 0.0), rtol=1e-4, atol=1e-5)
    assert layer.moving_mean.shape == (3,)


def test_non_trainable_layer_runs_in_inference_mode():
    layer = ABN(trainable=False)
    x = np.random.RandomState(4).randn(8, 2).astype("float32") + 5
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(y, np_abn(x, 0.0, 1.0, 0.0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.0)


def test_float16_inputs_computed_in_float32():
    x = (np.random.RandomState(5).randn(16, 4) * 100 + 1000).astype("float16")
    layer = ABN(dtype="float16")
    y = layer(x, training=True)
    assert y.dtype == tf.float16
    assert layer.moving_variance.dtype == tf.float32
    # Statistics of values near 1000 would overflow float16 (1000**2 > 65504).
    x32 = x.astype("float32")
    expected = np_abn(x32, x32.mean(0), x32.var(0), 0.0)
    np.testing.assert_allclose(y.numpy().astype("float32"), expected, atol=2e-2)


def test_mixed_precision_policy():
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = ABN()
        y = layer(np.ones((4, 3), "float32"), training=True)
        assert y.dtype == tf.float16
        assert layer.moving_mean.dtype == tf.float32
        assert layer.beta.dtype == tf.float32
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def test_fit_updates_statistics_and_respects_learning_phase():
    rng = np.random.RandomState(6)
    x = (rng.randn(64, 4) * 2 + 3).astype("float32")
    model = tf.keras.Sequential([tf.keras.Input((4,)), ABN(momentum=0.0)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros_like(x), batch_size=64, epochs=1, verbose=0)
    # momentum 0: the moving statistics are the last batch's.
    np.testing.assert_allclose(model.layers[0].moving_mean.numpy(), x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(
        model.layers[0].moving_variance.numpy(), x.var(0), rtol=1e-4
    )
    np.testing.assert_allclose(
        model.predict(x, verbose=0),
        np_abn(x, x.mean(0), x.var(0), model.layers[0].beta.numpy()),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("synchronized", [False, True])
def test_mirrored_strategy_statistics(synchronized, mirrored_strategy):
    strategy = mirrored_strategy
    rng = np.random.RandomState(7)
    # Two replicas with very different halves of the global batch.
    x = np.concatenate([rng.randn(4, 3), rng.randn(4, 3) + 10]).astype("float32")
    with strategy.scope():
        layer = ABN(momentum=0.0, synchronized=synchronized)
        layer.build((None, 3))

    @tf.function
    def step(batch):
        return strategy.run(lambda b: layer(b, training=True), args=(batch,))

    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(x).batch(8)
    )
    outputs = strategy.gather(step(next(iter(dataset))), axis=0).numpy()
    if synchronized:
        expected = np_abn(x, x.mean(0), x.var(0), 0.0)
        moving = x.mean(0)
    else:
        halves = [x[:4], x[4:]]
        expected = np.concatenate([np_abn(h, h.mean(0), h.var(0), 0.0) for h in halves])
        moving = np.mean([h.mean(0) for h in halves], axis=0)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), moving, rtol=1e-5)


def test_serialization_round_trip():
    layer = ABN(axis=1, momentum=0.8, epsilon=1e-3, center=False, scale=True,
                synchronized=True, name="my_abn")
    clone = ABN.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert isinstance(restored, ABN) and restored.momentum == 0.8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "-0.1"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"axis": "last"}, "'last'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ABN(**kwargs)


def test_bad_axis_for_input():
    with pytest.raises(ValueError, match="axis=3"):
        ABN(axis=3)(np.zeros((2, 4), "float32"))


def test_exported_at_top_level():
    assert larq_nobn.ABN is ABN


def test_replace_batch_norm_keeps_weights_and_statistics():
    import larq as lq

    rng = np.random.RandomState(8)
    inputs = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = tf.keras.layers.BatchNormalization(momentum=0.8, name="bn1")(x)
    x = lq.layers.QuantConv2D(4, 1, input_quantizer="ste_sign",
                              kernel_quantizer="ste_sign", name="bconv")(x)
    x = tf.keras.layers.BatchNormalization(name="bn2")(x)
    model = tf.keras.Model(inputs, x)
    for w in model.weights:
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    new = larq_nobn.replace_batch_norm(model)
    assert [type(l).__name__ for l in new.layers] == [
        "InputLayer", "Conv2D", "ABN", "QuantConv2D", "ABN"]
    assert new.get_layer("bn1").momentum == 0.8
    np.testing.assert_array_equal(new.get_layer("conv").get_weights()[0],
                                  model.get_layer("conv").get_weights()[0])
    np.testing.assert_array_equal(new.get_layer("bn2").moving_variance.numpy(),
                                  model.get_layer("bn2").moving_variance.numpy())
    # Inference: SiLU of the BN-normalized conv output plus the BN's beta.
    x = rng.randn(3, 6, 6, 2).astype("float32")
    features = tf.keras.Model(model.input, model.get_layer("conv").output)(x).numpy()
    bn1 = model.get_layer("bn1")
    expected = np_abn(features, bn1.moving_mean.numpy(), bn1.moving_variance.numpy(),
                      bn1.beta.numpy(), eps=bn1.epsilon)
    got = tf.keras.Model(new.input, new.get_layer("bn1").output)(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="str"):
        larq_nobn.replace_batch_norm("model")


def test_default_momentum_is_the_reference_update():
    # gushan/ABN models/ABN.py: moving = 0.1 * moving + 0.9 * batch (biased variance),
    # from moving mean 0 and variance 1. Channel 0: batch 1, 3, 5, 7: mean 4, variance
    # 5 -> 3.6 and 4.6; channel 1: -2, 0, 2, 4: mean 1, variance 5 -> 0.9 and 4.6.
    x = np.array([[1, -2], [3, 0], [5, 2], [7, 4]], "float32")
    for batch in (x, x.reshape(1, 2, 2, 2)):  # 2-D, and 4-D (4 positions)
        layer = ABN()
        layer(batch, training=True)
        np.testing.assert_allclose(layer.moving_mean.numpy(), [3.6, 0.9], rtol=1e-6)
        np.testing.assert_allclose(layer.moving_variance.numpy(), [4.6, 4.6], rtol=1e-6)
