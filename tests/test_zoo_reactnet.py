"""ReActNet-A: sizes, variants, BN-free scalars, LCE conversion."""

import re

from larq_nobn import ABN, ChannelScaledSign, RPReLU, RSign, ScaledWSQuantConv2D
from larq_nobn.layers import QuantConv2D
from larq_nobn.zoo import ReActNetA, reactnet
from tests.helpers import randomize_non_kernel_weights
from tests.zoo_checks import (
    NORMS,
    binary_conv_layers,
    binary_weight_count,
    check_lce,
    norm_layer_counts,
    per_sample_deviation,
    structured_images,
)

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

# The MobileNet-V1 plan of ReActNet-A, written out independently of the model code:
# channels after the stem and after each of the 13 blocks.
PLAN = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
TINY = dict(input_shape=(32, 32, 3), num_classes=5, width_multiplier=0.25)

# REFERENCE.md 1.1: (beta1, beta2) of the BN-free blocks 1..13.
BETAS = [
    (1, 0.9806),
    (0.9623, 0.9449),
    (1, 0.9806),
    (0.9623, 0.9449),
    (1, 0.9806),
    (0.9623, 0.9449),
    (1, 0.9806),
    (0.9623, 0.9449),
    (0.9285, 0.9129),
    (0.8980, 0.8839),
    (0.8704, 0.8575),
    (0.8452, 0.8333),
    (1, 0.9806),
]


def expected_binary_weights(plan):
    # Each block: a binary 3x3 conv in -> in and binary 1x1 conv(s) in -> out.
    return sum(9 * cin * cin + cin * cout for cin, cout in zip(plan[:-1], plan[1:]))


@pytest.fixture(scope="module")
def full_models():
    """The published size, built once per variant."""
    return {norm: ReActNetA(norm=norm) for norm in NORMS}


@pytest.fixture(scope="module")
def tiny_models():
    models = {}
    for i, norm in enumerate(NORMS):
        tf.keras.utils.set_random_seed(i)
        model = ReActNetA(norm=norm, **TINY)
        randomize_non_kernel_weights(model, seed=i)
        models[norm] = model
    return models


def test_expected_count_is_the_papers():
    assert expected_binary_weights(PLAN) == 28_253_184


@pytest.mark.parametrize("norm", NORMS)
def test_full_size_counts(full_models, norm, capsys):
    model = full_models[norm]
    assert model.name == f"reactnet_a_{norm}"
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)
    assert binary_weight_count(model) == expected_binary_weights(PLAN) == 28_253_184
    # About 29.3 M parameters: binary weights + the 1024 x 1000 classifier + the rest.
    assert 29.2e6 < model.count_params() < 29.4e6
    assert len(binary_conv_layers(model)) == 26
    lq.models.summary(model)
    assert "28253184" in capsys.readouterr().out.replace(",", "")


def test_normalization_layers_per_variant(full_models):
    # One norm after the stem and after each of the 26 binary convolutions.
    assert norm_layer_counts(full_models["bn"]) == {"bn": 27}
    assert norm_layer_counts(full_models["abn"]) == {"abn": 27}
    assert norm_layer_counts(full_models["bf"]) == {}
    assert norm_layer_counts(full_models["none"]) == {}
    assert all(
        not isinstance(layer, (tf.keras.layers.BatchNormalization, ABN))
        for layer in full_models["bf"].layers
    )


def test_layer_types_per_variant(full_models):
    for norm, model in full_models.items():
        convs = binary_conv_layers(model)
        stem = model.get_layer("stem_conv")
        assert all(isinstance(c.kernel_quantizer, ChannelScaledSign) for c in convs)
        assert all(isinstance(c.input_quantizer, RSign) for c in convs)
        if norm == "bf":
            assert isinstance(stem, ScaledWSQuantConv2D)
            assert stem.input_quantizer is None and stem.kernel_quantizer is None
            assert all(isinstance(c, ScaledWSQuantConv2D) for c in convs)
        else:
            # stride 2, aligned as PyTorch: a QuantConv2D without quantizers
            assert type(stem) is QuantConv2D and stem.symmetric_padding
            assert stem.input_quantizer is None and stem.kernel_quantizer is None
            assert all(type(c) is QuantConv2D for c in convs)
        assert type(model.get_layer("classifier")) is tf.keras.layers.Dense
        assert sum(isinstance(layer, RPReLU) for layer in model.layers) == 26


def test_bf_betas_match_the_papers_table(full_models):
    model = full_models["bf"]
    for i, (beta1, beta2) in enumerate(BETAS, start=1):
        # The table has 4 decimals.
        assert round(model.get_layer(f"block{i}_beta1").scale, 4) == beta1
        assert round(model.get_layer(f"block{i}_beta2").scale, 4) == beta2
        assert model.get_layer(f"block{i}_alpha1").scale == pytest.approx(0.2)
        assert model.get_layer(f"block{i}_alpha2").scale == pytest.approx(0.2)


def test_agc_settings(full_models):
    assert reactnet.AGC_CLIP_FACTOR == 0.02
    model = full_models["bf"]
    excluded = [
        w.name
        for w in model.trainable_weights
        if re.search(reactnet.AGC_EXCLUDE, w.name)
    ]
    assert excluded == ["classifier/kernel:0", "classifier/bias:0"]
    # The stem is clipped.
    assert any(w.name.startswith("stem_conv/") for w in model.trainable_weights)


def test_bf_outputs_do_not_depend_on_the_batch(tiny_models):
    x = structured_images(4, TINY["input_shape"], seed=1)
    assert per_sample_deviation(tiny_models["bf"], x) < 1e-5
    assert per_sample_deviation(tiny_models["bn"], x) > 1e-2
    assert per_sample_deviation(tiny_models["abn"], x) > 1e-2


@pytest.mark.parametrize("norm", NORMS)
def test_lce_conversion(tiny_models, norm):
    x = structured_images(16, TINY["input_shape"], seed=2)
    check_lce(tiny_models[norm], x, expected_bconvs=26)


@pytest.mark.parametrize(
    "input_shape, final_size",
    [((28, 28, 1), 1), ((64, 64, 3), 2), ((224, 224, 3), 7)],
)
def test_input_sizes(input_shape, final_size):
    model = ReActNetA(
        norm="bf", input_shape=input_shape, num_classes=3, width_multiplier=0.125
    )
    final = model.get_layer("block13_rprelu2").output
    assert final.shape[1:3] == (final_size, final_size)
    y = model(structured_images(2, input_shape), training=False).numpy()
    assert y.shape == (2, 3) and np.isfinite(y).all()


def test_width_multiplier_keeps_the_doubling_plan(tiny_models):
    model = tiny_models["none"]  # width 0.25: stem 8 channels
    plan = [model.get_layer("stem_conv").filters] + [
        model.get_layer(f"block{i}_rprelu2").output.shape[-1] for i in range(1, 14)
    ]
    assert plan == [c // 4 for c in PLAN]
    assert binary_weight_count(model) == expected_binary_weights(plan)


def test_pad_values(tiny_models):
    model = tiny_models["bf"]
    convs3x3 = [c for c in binary_conv_layers(model) if c.kernel_size == (3, 3)]
    assert len(convs3x3) == 13 and all(c.pad_values == 1.0 for c in convs3x3)
    zero = ReActNetA(norm="bf", pad_values=0.0, **TINY)
    zero.set_weights(model.get_weights())
    convs3x3 = [c for c in binary_conv_layers(zero) if c.kernel_size == (3, 3)]
    assert len(convs3x3) == 13 and all(c.pad_values == 0.0 for c in convs3x3)
    x = structured_images(2, TINY["input_shape"])
    # Padding with +1 or 0 changes the border outputs of every binary 3x3 conv.
    assert not np.allclose(model(x, training=False), zero(x, training=False))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(norm="batchnorm"), "'bn', 'abn', 'bf', 'none'"),
        (dict(pad_values=-1.0), "pad_values"),
        (dict(width_multiplier=0), "width_multiplier"),
        (dict(num_classes=0), "num_classes"),
        (dict(input_shape=(32, 32)), "input_shape"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReActNetA(**kwargs)
