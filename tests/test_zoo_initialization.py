"""The zoo's `init` keyword: the references' initialization by default, Keras' one
keyword away (larq_nobn.zoo.initialization)."""

import math

from larq_nobn import zoo
from larq_nobn.zoo import initialization

import numpy as np
import pytest
import tensorflow as tf

# Builders with small models; the reference scheme of each (see the module table).
BUILDERS = {
    "reactnet18_bf": (zoo.ReActNet18, dict(norm="bf", width_multiplier=0.125)),
    "reactnet18_bn": (zoo.ReActNet18, dict(norm="bn", width_multiplier=0.125)),
    "reactnet_a_none": (zoo.ReActNetA, dict(norm="none", width_multiplier=0.125)),
    "binary_resnet18_abn": (zoo.BinaryResNet18, dict(norm="abn", width_multiplier=0.1)),
    "binarynet_abn": (zoo.BinaryNet, dict(norm="abn", width_multiplier=0.25)),
}


def build(key, **kwargs):
    builder, options = BUILDERS[key]
    tf.keras.utils.set_random_seed(0)
    return builder(input_shape=(32, 32, 3), num_classes=10, **options, **kwargs)


def draw(init, shape):
    return init(shape, dtype=tf.float32).numpy().ravel()


def binary_kernels(model):
    return [
        layer
        for layer in model.layers
        if getattr(layer, "kernel_quantizer", None) is not None
    ]


def float_kernels(model):
    return [
        layer
        for layer in model.layers
        if hasattr(layer, "kernel")
        and getattr(layer, "kernel_quantizer", None) is None
    ]


def test_bnn_nobn_uniform_closed_form():
    w = draw(initialization.bnn_nobn_uniform(), (3, 3, 64, 128))  # 73,728 weights
    assert w.min() >= 0.0 and w.max() < 1e-3
    # U(0, a): mean a/2, std a/sqrt(12); the mean's own std is a/sqrt(12 n).
    assert abs(w.mean() - 5e-4) < 5 * 1e-3 / math.sqrt(12 * w.size)
    assert w.std() == pytest.approx(1e-3 / math.sqrt(12), rel=0.02)


def test_torch_default_uniform_closed_form():
    w = draw(initialization.torch_default_uniform(), (3, 3, 64, 128))
    bound = 1 / math.sqrt(3 * 3 * 64)  # kaiming_uniform_(a=sqrt(5)): 1/sqrt(fan_in)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * w.size)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    b = draw(initialization.torch_bias_uniform(576), (4000,))
    assert np.abs(b).max() <= bound
    assert b.std() == pytest.approx(bound / 3**0.5, rel=0.05)


def test_binarynet_resnet_normal_closed_form():
    w = draw(initialization.binarynet_resnet_normal(), (3, 3, 64, 128))
    std = math.sqrt(2 / (3 * 3 * 128))  # normal_(0, sqrt(2 / (k * k * out_channels)))
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=0.02)
    # Untruncated: about 0.27 % beyond 3 std (a truncated normal has none).
    assert 0.001 < np.mean(np.abs(w) > 3 * std) < 0.005


@pytest.mark.parametrize("key", ["reactnet18_bf", "reactnet18_bn", "reactnet_a_none"])
def test_bnn_nobn_models_start_at_the_reference(key):
    model = build(key)
    binary = binary_kernels(model)
    # Every binary conv, the binary-weight 1x1 shortcut convs included.
    if key.startswith("reactnet18"):
        assert any("shortcut" in layer.name for layer in binary)
    w = np.concatenate([layer.kernel.numpy().ravel() for layer in binary])
    assert w.min() >= 0.0 and w.max() < 1e-3
    assert abs(w.mean() - 5e-4) < 5 * 1e-3 / math.sqrt(12 * w.size)
    assert w.std() == pytest.approx(1e-3 / math.sqrt(12), rel=0.05)
    for layer in float_kernels(model):  # stem and classifier: torch's defaults
        kernel = layer.kernel.numpy()
        bound = 1 / math.sqrt(np.prod(kernel.shape[:-1]))
        assert np.abs(kernel).max() <= bound
        assert np.abs(kernel).max() > 0.5 * bound, layer.name
        if getattr(layer, "bias", None) is not None:
            bias = layer.bias.numpy()
            assert np.abs(bias).max() <= bound and np.any(bias != 0)


@pytest.mark.parametrize("key", ["binary_resnet18_abn", "binarynet_abn"])
def test_gushan_models_start_at_the_reference(key):
    model = build(key)
    resnet = key.startswith("binary_resnet")
    standardized = []
    for layer in binary_kernels(model):
        kernel = layer.kernel.numpy()
        if resnet:  # N(0, 2 / (k * k * out))
            k, out = kernel.shape[0], kernel.shape[-1]
            standardized.append(kernel.ravel() / math.sqrt(2 / (k * k * out)))
        else:  # U(+-1/sqrt(fan_in)), std 1/sqrt(3 fan_in)
            fan_in = np.prod(kernel.shape[:-1])
            assert np.abs(kernel).max() <= 1 / math.sqrt(fan_in)
            standardized.append(kernel.ravel() * math.sqrt(3 * fan_in))
    z = np.concatenate(standardized)
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert z.std() == pytest.approx(1.0, rel=0.05)
    for layer in float_kernels(model):  # stem and classifier: torch's defaults
        kernel = layer.kernel.numpy()
        assert np.abs(kernel).max() <= 1 / math.sqrt(np.prod(kernel.shape[:-1]))


def test_keras_init_is_one_keyword_away():
    model = build("reactnet18_bn", init="keras")
    for layer in binary_kernels(model) + float_kernels(model):
        assert isinstance(layer.kernel_initializer, tf.keras.initializers.GlorotUniform)
    w = np.concatenate([lay.kernel.numpy().ravel() for lay in binary_kernels(model)])
    assert w.min() < 0 < w.max() and np.abs(w).max() > 1e-2
    assert not np.any(model.get_layer("classifier").bias.numpy())


def test_unknown_init_is_refused():
    for builder in (zoo.ReActNet18, zoo.ReActNetA, zoo.BinaryResNet18, zoo.BinaryNet):
        with pytest.raises(ValueError, match=r"init.*'glorot'.*'reference'.*'keras'"):
            builder(init="glorot")


def test_reference_init_survives_a_keras_round_trip(tmp_path):
    model = build("reactnet18_bf")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)  # no custom_objects
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    conv = loaded.get_layer("stage1_block1_conv3x3").get_config()["kernel_initializer"]
    assert conv["class_name"] == "RandomUniform"
    assert (conv["config"]["minval"], conv["config"]["maxval"]) == (0.0, 1e-3)
    stem = loaded.get_layer("stem_conv").get_config()["kernel_initializer"]
    assert stem["class_name"] == "VarianceScaling"
    assert stem["config"]["scale"] == pytest.approx(1 / 3)
    # A model rebuilt from the config draws from the reference's distributions.
    clone = tf.keras.models.clone_model(loaded)
    w = clone.get_layer("stage1_block1_conv3x3").kernel.numpy()
    assert w.min() >= 0.0 and w.max() < 1e-3 and w.std() > 1e-4
