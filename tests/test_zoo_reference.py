"""The zoo's paper layouts against the reference code (issue 9).

Every expected value here is derived from the reference repositories, not from the
zoo: gushan/ABN (ABN and BinaryNet.pytorch models) and VITA-Group/BNN_NoBN.
"""

import math
import re

import larq_nobn
from larq_nobn.blocks import WEIGHT_DECAY_REGEX, weight_decay_variables
from larq_nobn.zoo import BinaryResNet18, ReActNet18
from larq_nobn.zoo.reactnet18 import reactnet18_betas

import larq as lq
import numpy as np
import pytest
import tensorflow as tf


def binary_weight_count(model):
    return sum(
        int(np.prod(w.shape))
        for layer in model.layers
        for w in layer.weights
        if getattr(w, "precision", 32) == 1
    )


def test_reactnet18_betas_follow_the_reference_loop():
    # BiRealNet._make_layer in models/Qaw_reactnet_18_bf.py, by hand (alpha^2 = 0.04):
    # stage 1: v=1 -> beta 1 (no add); beta 1, v=1.04; beta 1/sqrt(1.04), v=1.08;
    # beta 1/sqrt(1.08), v=1.12. Stages 2-4: beta 1/sqrt(1.12) from the variance
    # before the reset, v=1, then 1, 1/sqrt(1.04), 1/sqrt(1.08) as in stage 1.
    later = [1 / math.sqrt(1.12), 1.0, 1 / math.sqrt(1.04), 1 / math.sqrt(1.08)]
    expected = [1.0, 1.0, 1 / math.sqrt(1.04), 1 / math.sqrt(1.08)] + later * 3
    np.testing.assert_allclose(reactnet18_betas(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        reactnet18_betas()[:5], [1, 1, 0.9806, 0.9623, 0.9449], atol=5e-5
    )
    # The per-residual schedule of ReActNet-A's blocks stays available.
    old = reactnet18_betas(schedule="expected_variance")
    np.testing.assert_allclose(old[:5], [1, 0.9806, 0.9623, 0.9449, 0.9285], atol=5e-5)
    with pytest.raises(ValueError, match="'reference', 'expected_variance'"):
        reactnet18_betas(schedule="nfnet")


def test_reactnet18_bf_uses_the_reference_betas():
    model = ReActNet18(norm="bf", input_shape=(32, 32, 3), width_multiplier=0.125)
    betas = [
        model.get_layer(f"stage{s}_block{b}_beta").scale
        for s in range(1, 5)
        for b in range(1, 5)
    ]
    np.testing.assert_allclose(betas, reactnet18_betas(), rtol=1e-6)


@pytest.mark.parametrize("norm", ["bn", "bf"])
def test_reactnet18_downsample_has_binary_weights(norm):
    model = ReActNet18(norm=norm, input_shape=(32, 32, 3), num_classes=10)
    # 3x3 convs: 64*64*9*4 + 128*(64+3*128)*9 + 256*(128+3*256)*9 + 512*(256+3*512)*9,
    # plus the binary 1x1 downsamples 64*128 + 128*256 + 256*512 = 172,032.
    assert binary_weight_count(model) == 11_157_504
    conv = model.get_layer("stage2_block1_shortcut_conv")
    assert conv.input_quantizer is None  # real-valued input after the average pool
    assert conv.kernel_quantizer.precision == 1
    fp = ReActNet18(norm=norm, input_shape=(32, 32, 3), num_classes=10, float_shortcut=True)
    assert binary_weight_count(fp) == 11_157_504 - 172_032


@pytest.mark.parametrize("size, features", [(32, 320), (64, 1280)])
def test_abn_paper_head_pools_like_avgpool2d_8(size, features):
    # resnet_abn_binary.py: nn.AvgPool2d(8) on the 8x8 (32x32 input) or 16x16 (64x64)
    # map of 320 channels, then BatchNorm1d(320) / BatchNorm1d(4 * 320).
    model = BinaryResNet18(norm="abn", input_shape=(size, size, 3))
    assert model.get_layer("head_norm").input.shape[-1] == features
    assert isinstance(model.get_layer("head_norm"), tf.keras.layers.BatchNormalization)
    pooled = BinaryResNet18(input_shape=(size, size, 3), head_pool="global")
    assert pooled.get_layer("head_norm").input.shape[-1] == 320


def test_abn_paper_resnet_weights_are_reference_binarize():
    model = BinaryResNet18(norm="bn", width_multiplier=0.1)
    conv = model.get_layer("stage2_block1_shortcut_conv")
    assert isinstance(conv.kernel_quantizer, lq.quantizers.SteSign)
    assert conv.kernel_quantizer.clip_value is None and conv.kernel_constraint is None
    clipped = BinaryResNet18(norm="bn", width_multiplier=0.1, clip_latent_weights=True)
    conv = clipped.get_layer("stage2_block1_shortcut_conv")
    assert isinstance(conv.kernel_constraint, lq.constraints.WeightClip)


def test_abn_paper_resnet_abn_layers_match_the_reference():
    # resnet_abn_binary.py at depth 18: ABN after the stem, 2 per BasicBlock (6 blocks,
    # the last one's bn2 unused: do_bntan=False) and after the 2 downsample convs;
    # the head's bn2 / bn3 are BatchNorm1d.
    model = BinaryResNet18(norm="abn", input_shape=(32, 32, 3), width_multiplier=0.1)
    abn = [l for l in model.layers if isinstance(l, larq_nobn.ABN)]
    assert len(abn) == 1 + 2 * 6 - 1 + 2
    assert all(l.momentum == 0.1 for l in abn)
    bn = [l.name for l in model.layers if type(l) is tf.keras.layers.BatchNormalization]
    assert bn == ["head_norm", "logits_norm"]


def test_weight_decay_reaches_what_the_reference_decays():
    # train.py: decay on parameters with 4 dimensions or "conv" in their name. In
    # Qaw_reactnet_18_bf: conv1.weight/gain (2); per block move0.bias,
    # binary_conv.weight/gain, move1.bias, move2.bias (5 x 16 = 80); downsample
    # weight/gain (2 x 3) = 88. Not: 16 prelu.weight, fc.weight, fc.bias (18).
    model = ReActNet18(norm="bf", input_shape=(32, 32, 3), width_multiplier=0.125)
    decayed = weight_decay_variables(model)
    assert len(decayed) == 88
    assert len(model.trainable_variables) - len(decayed) == 18
    names = [v.name for v in decayed]
    assert not [n for n in names if "classifier" in n or "slope" in n]
    for name in ("classifier/kernel:0", "outer/classifier_1/bias:0"):
        assert not re.search(WEIGHT_DECAY_REGEX, name)
    assert re.search(WEIGHT_DECAY_REGEX, "stem_conv/kernel:0")
