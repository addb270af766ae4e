"""Gradient-norm and activation-balance diagnostics (`larq_nobn.diagnostics`)."""

from larq_nobn import diagnostics, zoo

import larq as lq
import numpy as np
import pytest
import tensorflow as tf


def test_weight_gradient_norms_match_hand_computed_gradients():
    x = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0], [0.5, 0.5, 0.5], [2.0, -1.0, 1.0]])
    y = np.array([[1.0], [0.0], [2.0], [-1.0]])
    w1 = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    w2 = np.array([[0.7], [-0.8]])
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Dense(2, use_bias=False, input_shape=(3,), name="hidden"),
            tf.keras.layers.Dense(1, use_bias=False, name="out"),
        ]
    )
    model.set_weights([w1.astype("float32"), w2.astype("float32")])
    norms = diagnostics.weight_gradient_norms(model, x.astype("float32"), y, loss="mse")
    # L = mean((x w1 w2 - y)^2): dL/dout = 2 (out - y) / N
    hidden = x @ w1
    d_out = 2 * (hidden @ w2 - y) / len(x)
    expected = {
        "hidden": np.linalg.norm(x.T @ (d_out @ w2.T)),
        "out": np.linalg.norm(hidden.T @ d_out),
    }
    assert list(norms) == ["hidden", "out"]
    for name, value in expected.items():
        assert norms[name] == pytest.approx(value, rel=1e-5)
    # The model is unchanged.
    np.testing.assert_array_equal(model.get_weights()[0], w1.astype("float32"))


def test_gradients_explode_without_normalization_as_sari_et_al_report():
    """Sari et al.: at initialization the weight-gradient norm of a BNN without BN
    grows layer by layer toward the input; with BN it stays flat (~0.1 per layer)."""
    rng = np.random.RandomState(0)
    x = rng.rand(16, 28, 28, 1).astype("float32")
    y = rng.randint(0, 10, 16)
    norms = {}
    for norm in ("bn", "none"):
        tf.keras.utils.set_random_seed(0)
        model = zoo.BinaryNet(
            norm=norm, input_shape=(28, 28, 1), num_classes=10, width_multiplier=0.25
        )
        norms[norm] = diagnostics.weight_gradient_norms(model, x, y)
    binary = [name for name in norms["none"] if name.startswith("conv")]
    assert len(binary) >= 4
    none = [norms["none"][name] for name in binary]
    assert all(a > 1.5 * b for a, b in zip(none, none[1:])), none  # grows toward input
    first = binary[0]
    assert norms["none"][first] > 100 * norms["bn"][first]
    bn = [norms["bn"][name] for name in binary]
    assert max(bn) / min(bn) < 3, bn  # flat with BN


def test_weight_gradient_norms_rejects_model_without_kernels():
    model = tf.keras.Sequential([tf.keras.layers.ReLU(input_shape=(2,))])
    with pytest.raises(ValueError, match="no layer with a trainable kernel"):
        diagnostics.weight_gradient_norms(model, np.zeros((1, 2)), np.zeros((1,)))


def _two_binary_layers():
    inputs = tf.keras.Input((8,))
    x = lq.layers.QuantDense(
        4, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False,
        kernel_initializer="ones", name="b1",
    )(inputs)
    x = tf.keras.layers.Dense(
        2, use_bias=False, trainable=False, name="float", kernel_initializer="ones"
    )(x)
    outputs = lq.layers.QuantDense(
        3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="b2"
    )(x)
    return tf.keras.Model(inputs, outputs)


def test_plus_one_fractions_hand_computed():
    model = _two_binary_layers()
    # b1's input: row 0 has 3 of 8 entries >= 0 (0.0, 1, 2; sign(0) = +1), row 1 8 of 8.
    x = np.array(
        [[0.0, 1.0, 2.0, -1.0, -2.0, -3.0, -0.5, -0.1], [1.0] * 8], dtype="float32"
    )
    probe = diagnostics.binary_inputs_model(model)
    fractions = diagnostics.plus_one_fractions(probe, x)
    assert set(fractions) == {"b1", "b2"}
    assert fractions["b1"] == pytest.approx(11 / 16)
    # b1 (all-ones binary kernel) gives sum(sign(x)) = 3 - 5 = -2 and +8 per unit;
    # "float" (ones) sums 4 units: -8 and +32 -> b2 sees (-8, -8) and (32, 32).
    assert fractions["b2"] == pytest.approx(2 / 4)


def test_activation_balance_callback_records_and_logs():
    model = _two_binary_layers()
    model.compile(tf.keras.optimizers.SGD(0.0), loss="mse")
    x = np.array([[0.0, 1.0, 2.0, -1.0, -2.0, -3.0, -0.5, -0.1], [1.0] * 8], dtype="float32")
    balance = diagnostics.ActivationBalance(x, every_n_batches=2)
    history = model.fit(
        np.tile(x, (4, 1)), np.zeros((8, 3)), batch_size=2, epochs=2, verbose=0,
        callbacks=[balance],
    )
    # Start + every 2 of 4 batches per epoch (epoch ends coincide with step 4 and 8).
    assert balance.steps == [0, 2, 4, 6, 8]
    assert balance.history["b1"] == pytest.approx([11 / 16] * 5)  # learning rate 0
    assert history.history["plus_fraction/b2"] == pytest.approx([0.5, 0.5])


def test_activation_balance_errors():
    with pytest.raises(ValueError, match="every_n_batches"):
        diagnostics.ActivationBalance(np.zeros((1, 2)), every_n_batches=0)

    class Subclassed(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = lq.layers.QuantDense(2, input_quantizer="ste_sign")

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((1, 2), "float32"))
    with pytest.raises(ValueError, match="subclassed"):
        diagnostics.binary_inputs_model(model)
    plain = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(2,))])
    with pytest.raises(ValueError, match="no layer with a binarizing input quantizer"):
        diagnostics.binary_inputs_model(plain)
