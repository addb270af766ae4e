"""Stride-2 alignment of the zoo (issue 16): PyTorch's symmetric padding by default,
TensorFlow's "same" one keyword away, and the deployable form differing from the
reference form only in the binary padding value."""

import larq_nobn.zoo as zoo
from larq_nobn.blocks import STRIDE2_PADDINGS, max_pool
from larq_nobn.layers import QuantConv2D

import numpy as np
import pytest
import tensorflow as tf
from reference.equivalence import ZooRun, relative_error


def _conv_by_hand(x, kernel, pad_value, before, stride=2):
    """Valid correlation of `x` padded with `before` rows / columns of `pad_value` at
    the top / left and what the output size needs at the bottom / right."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    out_h, out_w = -(-h // stride), -(-w // stride)
    padded = np.full((n, h + k, w + k, x.shape[-1]), pad_value, np.float64)
    padded[:, before:before + h, before:before + w] = x
    out = np.zeros((n, out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, i, j] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


@pytest.mark.parametrize("size", [6, 7])
@pytest.mark.parametrize("pad_values", [0.0, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_binary_conv_padding_by_hand(size, pad_values, symmetric):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    layer = QuantConv2D(
        4, 3, strides=2, padding="same", pad_values=pad_values, use_bias=False,
        input_quantizer="ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", symmetric_padding=symmetric,
    )
    got = layer(x).numpy()
    kernel = np.sign(layer.kernel.numpy())
    # PyTorch's padding=1: one row / column before; TF "same": none before for even
    # sizes, one for odd ones (the total of 2 split evenly).
    before = 1 if symmetric or size % 2 else 0
    expected = _conv_by_hand(np.where(x >= 0, 1.0, -1.0), kernel, pad_values, before)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_symmetric_max_pool_is_torchs():
    # MaxPool2d(3, 2, 1): windows at rows -1..1, 1..3, ...; padding never wins.
    x = -np.arange(1, 2 * 6 * 6 + 1, dtype=np.float32).reshape(2, 6, 6, 1)
    inputs = tf.keras.Input((6, 6, 1))
    model = tf.keras.Model(inputs, max_pool(inputs, name="pool"))
    got = model(x).numpy()
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    expected = np.array([[[padded[b, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max()
                           for j in range(3)] for i in range(3)] for b in range(2)])
    np.testing.assert_array_equal(got[..., 0], expected)


def _without(config, keys):
    """`config` without `keys` at any depth (quantizer names are numbered per build; a
    +1-padded stride-2 conv builds its input quantizer on the padded shape)."""
    if isinstance(config, dict):
        return {k: _without(v, keys) for k, v in config.items() if k not in keys}
    return config


def _configs(model):
    keys = {"pad_values", "name", "build_config"}
    return [(type(layer).__name__, _without(layer.get_config(), keys))
            for layer in model.layers]


@pytest.mark.parametrize(
    "builder, kwargs",
    [
        (zoo.ReActNet18, dict(stem="imagenet", input_shape=(64, 64, 3))),
        (zoo.BinaryResNet18, {}),
    ],
)
def test_default_differs_from_the_reference_form_only_in_the_pad_value(builder, kwargs):
    def build(**extra):
        return builder(norm="bn", width_multiplier=1 / 16, **kwargs, **extra)

    default, reference = build(), build(pad_values=0.0)
    assert _configs(default) == _configs(reference)
    pads = {layer.pad_values for layer in default.layers
            if getattr(layer, "input_quantizer", None) is not None
            and layer.kernel_size != (1, 1)}
    assert pads == {1.0}


def test_tf_same_keeps_the_old_alignment_and_differs_from_the_reference():
    run = ZooRun("reactnet18_bn_imagenet")
    old = zoo.ReActNet18(
        norm="bn", input_shape=(32, 32, 3), num_classes=10, stem="imagenet",
        width_multiplier=1 / 16, pad_values=0.0, stride2_padding="tf_same",
    )
    old.set_weights(run.model.get_weights())
    assert type(old.get_layer("stem_conv")) is tf.keras.layers.Conv2D
    assert old.get_layer("stem_pool").pool_size == (3, 3)
    assert run.model.get_layer("stem_pool").pool_size == (1, 1)  # the subsampling
    error = relative_error(
        run.store, "eval_output", run._output(old(run.x, training=False))
    )
    assert error > 1e-2  # the shifted grid changes the logits
    assert relative_error(run.store, "eval_output", run.eval_output()) < 1e-4


@pytest.mark.parametrize("builder", [zoo.ReActNet18, zoo.BinaryResNet18, zoo.ReActNetA])
def test_bad_stride2_padding(builder):
    assert STRIDE2_PADDINGS == ("symmetric", "tf_same")
    with pytest.raises(ValueError, match="stride2_padding 'torch'.*'symmetric', 'tf_same'"):
        builder(stride2_padding="torch", input_shape=(32, 32, 3), width_multiplier=1 / 16)


def test_symmetric_models_round_trip_through_keras_files(tmp_path):
    model = zoo.ReActNet18(
        norm="bn", input_shape=(64, 64, 3), stem="imagenet", width_multiplier=1 / 16
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert loaded.get_layer("stem_conv").symmetric_padding
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
