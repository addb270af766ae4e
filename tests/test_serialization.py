"""Models built from every layer of the library, compiled with AGC, survive
`save` / `load_model` in every format without `custom_objects`."""

import larq_nobn
from larq_nobn import (
    ABN,
    AGC,
    ChannelScaledSign,
    RPReLU,
    RSign,
    ScaledWSQuantConv2D,
    ScaledWSQuantDense,
    ScaledWSQuantDepthwiseConv2D,
)

import numpy as np
import pytest
import tensorflow as tf


def every_layer_model():
    inputs = tf.keras.Input((8, 8, 3))
    x = ScaledWSQuantConv2D(8, 3, padding="same")(inputs)
    x = ABN(scale=True)(x)
    x = ScaledWSQuantConv2D(8, 3, padding="same", pad_values=1.0,
                            input_quantizer=RSign(),
                            kernel_quantizer=ChannelScaledSign())(x)
    x = RPReLU()(x)
    x = larq_nobn.layers.QuantConv2D(8, 1, input_quantizer="ste_sign",
                                     kernel_quantizer="ste_sign",
                                     kernel_constraint="weight_clip")(x)
    x = ScaledWSQuantDepthwiseConv2D(
        3, depthwise_quantizer=ChannelScaledSign(channel_axes=(-2, -1)),
        input_quantizer="ste_sign")(x)
    x = tf.keras.layers.Flatten()(x)
    x = ScaledWSQuantDense(16, input_quantizer=RSign(),
                           kernel_quantizer=ChannelScaledSign())(x)
    x = ABN()(x)
    outputs = tf.keras.layers.Dense(4, name="classifier")(x)
    return tf.keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def trained():
    tf.keras.utils.set_random_seed(0)
    model = every_layer_model()
    model.compile(
        AGC(tf.keras.optimizers.Adam(1e-2), clip_factor=0.05,
            exclude=larq_nobn.optimizers.exclude_head(model)),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.RandomState(0)
    x = rng.randn(16, 8, 8, 3).astype("float32")
    y = rng.randint(0, 4, 16)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model, x, y


@pytest.mark.parametrize("suffix", [".keras", ".h5", ""])
def test_round_trip(trained, suffix, tmp_path):
    model, x, y = trained
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    restored = tf.keras.models.load_model(path)  # no custom_objects
    np.testing.assert_array_equal(restored.predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    assert [type(l).__name__ for l in restored.layers] == [
        type(l).__name__ for l in model.layers]
    assert isinstance(restored.optimizer, AGC)
    assert restored.optimizer.clip_factor == 0.05
    if suffix == ".keras":
        # Optimizer state comes back too: training continues where it stopped.
        assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 4
        restored.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        model_copy = tf.keras.models.load_model(path)
        model_copy.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        np.testing.assert_allclose(restored.predict(x, verbose=0),
                                   model_copy.predict(x, verbose=0), rtol=1e-5)


def test_binary_weights_survive_as_binary(trained, tmp_path):
    model, _, _ = trained
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = tf.keras.models.load_model(path)
    precisions = [getattr(w, "precision", None) for w in restored.weights]
    # ScaledWS binary conv, QuantConv2D, depthwise and dense kernels
    assert precisions.count(1) == 4


def test_every_layer_registered_by_import_larq_nobn_alone(tmp_path):
    """A fresh process that imports only `larq_nobn` (not the zoo or `blocks`) loads a
    model made of every public layer, HardTanh included, without custom_objects."""
    import subprocess
    import sys

    inputs = tf.keras.Input((4, 4, 2))
    x = larq_nobn.HardTanh(min_value=-0.5, max_value=0.5)(inputs)
    x = ABN()(x)
    x = RPReLU()(x)
    model = tf.keras.Model(inputs, x)
    path = str(tmp_path / "hardtanh.keras")
    model.save(path)
    data = np.linspace(-2, 2, 32, dtype="float32").reshape(1, 4, 4, 2)
    np.save(tmp_path / "x.npy", data)
    np.save(tmp_path / "y.npy", model.predict(data, verbose=0))
    script = (
        "import sys, numpy as np, larq_nobn, tensorflow as tf\n"
        "assert 'larq_nobn.blocks' not in sys.modules and 'larq_nobn.zoo' not in sys.modules\n"
        f"m = tf.keras.models.load_model({path!r})\n"
        f"d = {str(tmp_path)!r}\n"
        "np.testing.assert_allclose(m.predict(np.load(d + '/x.npy'), verbose=0),"
        " np.load(d + '/y.npy'), rtol=0, atol=1e-6)\n"
        "assert type(m.layers[1]).__name__ == 'HardTanh' and m.layers[1].max_value == 0.5\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
