"""The Keras-Applications keywords of the zoo models (`include_top`, `pooling`,
`input_tensor`, `classifier_activation`, `weights`), the common `norm` default and
`preprocess_input`. Tiny models (width 1/16 - 1/8, 28x28 / 32x32)."""

import inspect
import re

import larq_nobn  # noqa: F401  (before TensorFlow: Keras 2)
from larq_nobn import data, zoo
from larq_nobn.zoo import common

import h5py
import numpy as np
import pytest
import tensorflow as tf
from helpers import randomize_non_kernel_weights

FMNIST = "/usr/share/datasets/fashion-mnist"

# name -> (builder, tiny keyword arguments, channels of the feature map at that width,
# the feature map's side at 32x32 / 28x28)
TINY = {
    "binarynet": (zoo.BinaryNet, dict(width_multiplier=0.0625), 32, {32: 4, 28: 3}),
    "reactnet18": (zoo.ReActNet18, dict(width_multiplier=0.125), 64, {32: 4, 28: 4}),
    "binary_resnet18": (
        zoo.BinaryResNet18,
        dict(width_multiplier=0.1),
        32,
        {32: 8, 28: 7},
    ),
    "reactnet_a": (zoo.ReActNetA, dict(width_multiplier=0.125), 128, {32: 1, 28: 1}),
}


def build(name, **kwargs):
    builder, tiny, _, _ = TINY[name]
    return builder(**tiny, **kwargs)


def images(shape, count=3, seed=0):
    return np.random.RandomState(seed).normal(size=(count, *shape)).astype("float32")


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_include_top_true_and_false(name, shape):
    _, _, channels, side = TINY[name]
    full = build(name, input_shape=shape, num_classes=7)
    assert full.output_shape == (None, 7)
    assert full.input_shape == (None, *shape)
    features = build(name, input_shape=shape, include_top=False)
    size = side[shape[0]]
    assert features.output_shape == (None, size, size, channels)
    names = {layer.name for layer in features.layers if layer.weights}
    assert "classifier" not in names
    assert names < {layer.name for layer in full.layers if layer.weights}


@pytest.mark.parametrize("name", list(TINY))
def test_pooling_avg_and_max_of_the_feature_map(name):
    x = images((32, 32, 3))
    kwargs = dict(input_shape=(32, 32, 3), include_top=False)
    tf.keras.utils.set_random_seed(1)
    plain = build(name, **kwargs)
    tf.keras.utils.set_random_seed(1)
    avg = build(name, pooling="avg", **kwargs)
    tf.keras.utils.set_random_seed(1)
    peak = build(name, pooling="max", **kwargs)
    feature_map = plain.predict(x, verbose=0)
    np.testing.assert_allclose(
        avg.predict(x, verbose=0), feature_map.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(peak.predict(x, verbose=0), feature_map.max(axis=(1, 2)))


@pytest.mark.parametrize("name", list(TINY))
def test_input_tensor_builds_on_an_existing_graph(name):
    raw = tf.keras.Input((32, 32, 3), name="raw")
    scaled = tf.keras.layers.Rescaling(2.0, name="double")(raw)
    model = build(name, input_tensor=scaled, num_classes=5)
    assert model.inputs[0] is raw and model.get_layer("double") is not None
    assert model.output_shape == (None, 5)
    # The same weights applied to the doubled input give the same logits.
    tf.keras.utils.set_random_seed(2)
    plain = build(name, input_shape=(32, 32, 3), num_classes=5)
    plain.set_weights(model.get_weights())
    x = images((32, 32, 3))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), plain.predict(2 * x, verbose=0), rtol=1e-4, atol=1e-4
    )


def test_input_tensor_that_is_not_a_keras_tensor_and_its_shape():
    tensor = tf.zeros((2, 28, 28, 1))
    model = zoo.BinaryNet(width_multiplier=0.0625, input_tensor=tensor)
    assert model.input_shape == (2, 28, 28, 1) and model.output_shape == (2, 10)
    with pytest.raises(ValueError, match=re.escape("(32, 32, 3)")):
        zoo.BinaryNet(width_multiplier=0.0625, input_tensor=tensor, input_shape=(32, 32, 3))


@pytest.mark.parametrize("name", list(TINY))
def test_softmax_output_sums_to_one_and_matches_the_logits(name):
    tf.keras.utils.set_random_seed(3)
    logits = build(name, input_shape=(32, 32, 3))
    tf.keras.utils.set_random_seed(3)
    probabilities = build(name, input_shape=(32, 32, 3), classifier_activation="softmax")
    assert probabilities.layers[-1].name == "predictions"
    x = images((32, 32, 3), count=4)
    p = probabilities.predict(x, verbose=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    z = logits.predict(x, verbose=0).astype("float64")
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p, expected / expected.sum(1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(pooling="mean", include_top=False), "'avg', 'max'"),
        (dict(pooling="avg"), "include_top=False"),
        (dict(classifier_activation="sigmoid"), "None, 'softmax'"),
        (dict(classifier_activation="softmax", include_top=False), "include_top=True"),
        (dict(include_top="no"), "include_top"),
    ],
)
@pytest.mark.parametrize("name", ["binarynet", "reactnet18", "reactnet_a"])
def test_bad_top_arguments(name, kwargs, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        build(name, input_shape=(32, 32, 3), **kwargs)


def test_one_norm_default_everywhere():
    from larq_nobn import training

    for builder in (zoo.BinaryNet, zoo.ReActNet18, zoo.BinaryResNet18, zoo.ReActNetA):
        assert inspect.signature(builder).parameters["norm"].default == "bn"
    assert training.DEFAULT_NORM == "bn"
    assert build("reactnet18").name == "reactnet18_bn"
    assert build("binary_resnet18").name == "binary_resnet18_bn"
    assert build("reactnet_a", input_shape=(32, 32, 3)).name == "reactnet_a_bn"


# --------------------------------------------------------------------------------------
# Weights


@pytest.mark.parametrize("name", ["binarynet", "reactnet18", "reactnet_a"])
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_weights_round_trip(name, suffix, tmp_path):
    kwargs = dict(input_shape=(28, 28, 1), norm="bn")
    tf.keras.utils.set_random_seed(4)
    model = build(name, **kwargs)
    randomize_non_kernel_weights(model, seed=5)
    path = str(tmp_path / f"weights{suffix}")
    if suffix == ".keras":
        model.save(path)
    else:
        model.save_weights(path)
    tf.keras.utils.set_random_seed(6)  # another initialization
    fresh = build(name, **kwargs)
    x = images((28, 28, 1))
    assert not np.allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded = build(name, weights=path, **kwargs)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    # Without the top, the feature extractor takes the matching subset.
    features = build(name, include_top=False, weights=path, **kwargs)
    for layer in (layer for layer in features.layers if layer.weights):
        for got, want in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)
    end = features.layers[-1].name
    cut = tf.keras.Model(model.inputs, model.get_layer(end).output)
    np.testing.assert_array_equal(features.predict(x, verbose=0), cut.predict(x, verbose=0))


def test_wrong_weights_name_the_layer(tmp_path):
    path = str(tmp_path / "binarynet.h5")
    zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.0625).save_weights(path)
    # Another width: the stem already differs.
    with pytest.raises(ValueError, match="Layer 'stem_conv' .* shapes"):
        zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.125, weights=path)
    # Another number of classes: only the classifier differs.
    with pytest.raises(ValueError, match="Layer 'classifier' .* shapes"):
        zoo.BinaryNet(
            input_shape=(28, 28, 1), width_multiplier=0.0625, num_classes=3, weights=path
        )
    # Another norm: bf has layers the bn file lacks.
    with pytest.raises(ValueError, match="Layer 'stem_conv' .* shapes"):
        zoo.BinaryNet(
            norm="bf", input_shape=(28, 28, 1), width_multiplier=0.0625, weights=path
        )
    # A feature extractor's file: the whole model has layers the file lacks.
    features = str(tmp_path / "features.h5")
    zoo.BinaryNet(
        input_shape=(28, 28, 1), width_multiplier=0.0625, include_top=False
    ).save_weights(features)
    with pytest.raises(ValueError, match="no weights for layer 'dense1'"):
        zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.0625, weights=features)


def test_unused_weights_are_refused_with_the_top(tmp_path):
    path = str(tmp_path / "bn.h5")
    zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.0625).save_weights(path)
    features = zoo.BinaryNet(
        input_shape=(28, 28, 1), width_multiplier=0.0625, include_top=False
    )
    with pytest.raises(ValueError, match="weights for layer 'classifier'"):
        common.load_weights_by_name(features, path)
    assert common.load_weights_by_name(features, path, allow_unused=True) == len(
        [layer for layer in features.layers if layer.weights]
    )


def test_weights_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        zoo.BinaryNet(width_multiplier=0.0625, weights=str(tmp_path / "missing.h5"))
    other = tmp_path / "arrays.h5"  # an HDF5 file, but not one of Keras
    with h5py.File(other, "w") as file:
        file["x"] = [1.0]
    with pytest.raises(ValueError, match="arrays.h5.*save_weights\\('x.h5'\\)"):
        zoo.BinaryNet(width_multiplier=0.0625, weights=str(other))


# --------------------------------------------------------------------------------------
# preprocess_input


def test_preprocess_input_equals_the_training_pipeline():
    raw, labels = data.fashion_mnist_arrays("test", FMNIST)
    batch = next(
        iter(data.load("fashion_mnist", "test", batch_size=64, training=False, data_dir=FMNIST))
    )
    pipeline_images, pipeline_labels = (t.numpy() for t in batch)
    np.testing.assert_array_equal(pipeline_labels, labels[:64])
    got = zoo.preprocess_input(raw[:64], "fashion_mnist")
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, pipeline_images)
    # The formula, with the constants measured on the training set.
    expected = (raw[:64] / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_preprocess_input_tensors_channels_and_errors():
    x = np.full((2, 32, 32, 3), 255, np.uint8)
    got = zoo.preprocess_input(tf.constant(x), "cifar10")
    assert tf.is_tensor(got)
    mean, std = np.array((0.4914, 0.4822, 0.4465)), np.array((0.2470, 0.2435, 0.2616))
    np.testing.assert_allclose(got.numpy()[0, 0, 0], (1 - mean) / std, rtol=1e-5)
    with pytest.raises(ValueError, match="1 channel"):
        zoo.preprocess_input(x, "fashion_mnist")
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        zoo.preprocess_input(x, "mnist")
