"""Tests of the LCE export (`larq_nobn.deploy.sign_forms`, `larq_nobn.export_layers`, `export`):
the exact sign cases of ABN, the export layers, the graph rewrites and what LCE makes
of the exported models."""

import argparse
import collections
import dataclasses
import json
import math
import os
import subprocess
import sys
from collections import Counter

from larq_nobn import ABN, HardTanh, deploy, zoo
from larq_nobn.cli import convert as convert_command
from larq_nobn.deploy import inspect_flatbuffer
from larq_nobn.deploy.export import prepare_for_lce, snap_to_integers
from larq_nobn.deploy.sign_forms import (
    SILU_ARGMIN,
    SILU_MIN,
    abn_sign_form,
    bn_sign_form,
    layer_sign_form,
    silu_roots,
)
from larq_nobn.export_layers import SignAffine, SignInterval
from tests.helpers import op_names, randomize_non_kernel_weights

import larq as lq
import larq_compute_engine as lce
import numpy as np
import pytest
import tensorflow as tf

L = tf.keras.layers
# var + eps == 1 exactly in float32, so x_hat = x - mean.
UNIT = dict(variance=np.float32(0.75), epsilon=0.25)
BOUNDARY = np.float32(0.2784645427610738)  # float32 nearest -SILU_MIN, 1.3e-8 above it
BELOW_BOUNDARY = np.nextafter(BOUNDARY, np.float32(0))  # 1.7e-8 below -SILU_MIN


def silu(z):
    return z / (1.0 + math.exp(-z))


def exact_signs(x, mean, std, beta, gamma=1.0):
    """+1 / -1 of gamma * SiLU((x - mean) / std) + beta in float64 (sign(0) = +1)."""
    z = (np.asarray(x, np.float64) - mean) / std
    y = gamma * z / (1.0 + np.exp(-z)) + beta
    return np.where(y >= 0, 1.0, -1.0)


def form(betas, gammas=None, mean=0.0):
    n = len(betas)
    return abn_sign_form(
        np.full(n, mean, np.float32),
        np.full(n, UNIT["variance"]),
        UNIT["epsilon"],
        beta=np.asarray(betas, np.float32),
        gamma=None if gammas is None else np.asarray(gammas, np.float32),
    )


def test_silu_minimum_constants():
    # SiLU'(z) = 0 <=> z = -(1 + e^z); minimum value z * sigmoid(z) there.
    assert SILU_ARGMIN == pytest.approx(-(1.0 + math.exp(SILU_ARGMIN)), abs=1e-15)
    assert SILU_ARGMIN == pytest.approx(-1.2784645427610738, abs=1e-15)
    assert SILU_MIN == pytest.approx(-0.2784645427610738, abs=1e-15)
    assert silu(SILU_ARGMIN + 1e-4) > SILU_MIN and silu(SILU_ARGMIN - 1e-4) > SILU_MIN


def test_silu_roots_hand_values():
    left, right = silu_roots(np.array([silu(1.0), silu(2.0), 0.0, -0.1]))
    assert right[0] == pytest.approx(1.0, abs=1e-14)
    assert right[1] == pytest.approx(2.0, abs=1e-14)
    assert right[2] == 0.0  # SiLU(0) = 0 exactly
    assert np.isnan(left[:3]).all()
    assert silu(left[3]) == pytest.approx(-0.1, abs=1e-15)
    assert silu(right[3]) == pytest.approx(-0.1, abs=1e-15)
    assert left[3] == pytest.approx(-3.5372596, abs=1e-6)
    assert right[3] == pytest.approx(-0.2252655, abs=1e-6)
    with pytest.raises(ValueError, match="t >"):
        silu_roots(np.array([-0.3]))


def test_every_channel_case_in_one_layer():
    betas = [-silu(1.0), 0.0, 0.1, BELOW_BOUNDARY, BOUNDARY, 0.5, -silu(2.0)]
    f = form(betas, mean=0.5)
    assert list(f.cases) == [
        "threshold", "threshold", "interval", "interval", "constant", "constant",
        "threshold",
    ]
    assert f.counts() == {"threshold": 3, "interval": 2, "constant": 2}
    assert not f.affine
    # Thresholds at mean + root: 1.5, 0.5 (exact: beta = 0 -> x = mean), 2.5.
    assert f.hi[0] == pytest.approx(1.5, abs=1e-6)
    assert f.hi[1] == np.float32(0.5)
    assert f.hi[6] == pytest.approx(2.5, abs=1e-6)
    # beta = 0.1: -1 exactly inside mean + (-3.53726, -0.22527).
    assert f.lo[2] == pytest.approx(0.5 - 3.5372596, abs=1e-6)
    assert f.hi[2] == pytest.approx(0.5 - 0.2252655, abs=1e-6)
    # Just below the boundary: a narrow interval around mean + SILU_ARGMIN.
    width = f.hi[3] - f.lo[3]
    assert 0 < width < 1e-3
    assert f.lo[3] < 0.5 + SILU_ARGMIN < f.hi[3]


def test_inputs_exactly_at_a_threshold_give_plus_one():
    f = form([0.0, -silu(1.0), 0.1], mean=0.5)
    at = np.array([0.5, f.hi[1], f.hi[2]], np.float32)
    below = np.nextafter(at, np.float32(-np.inf))
    assert (f.evaluate(at[None]) == 1).all()
    assert (f.evaluate(below[None])[0, :2] == -1).all()
    # The interval is open: its upper end is +1, the float below it -1, and so for
    # its lower end.
    assert f.evaluate(np.array([[0, 0, f.lo[2]]], np.float32))[0, 2] == 1
    inside = np.nextafter(f.lo[2], np.float32(np.inf))
    assert f.evaluate(np.array([[0, 0, inside]], np.float32))[0, 2] == -1


def test_signs_equal_the_exact_function_on_a_dense_grid():
    betas = [-0.7, 0.0, 0.05, 0.2, BELOW_BOUNDARY, BOUNDARY, 1.0]
    f = form(betas, mean=0.25)
    grid = np.linspace(-12, 8, 200_001).astype(np.float32)
    grid = np.concatenate([grid, f.lo[np.isfinite(f.lo)], f.hi[np.isfinite(f.hi)]])
    got = f.evaluate(np.repeat(grid[:, None], len(betas), 1))
    for c, beta in enumerate(betas):
        expected = exact_signs(grid, 0.25, 1.0, np.float64(np.float32(beta)))
        np.testing.assert_array_equal(got[:, c], expected, err_msg=f"beta={beta}")
    assert (got[:, 4] == -1).sum() > 0  # the narrow interval holds grid points


def test_negative_gamma_cases():
    # gamma < 0: +1 iff SiLU(z) <= beta / |gamma|.
    f = form([0.5, -0.1, -0.5, 0.0], gammas=[-1.0, -1.0, -1.0, 0.0])
    assert list(f.cases) == ["threshold_below", "band", "constant_negative", "constant"]
    f2 = form([0.3, -0.3], gammas=[-2.0, 0.0])
    assert list(f2.cases) == ["threshold_below", "constant_negative"]
    (root,) = silu_roots(np.array([0.5]))[1]
    assert f.lo[0] == pytest.approx(root, abs=1e-6)
    assert silu(root) == pytest.approx(0.5, abs=1e-14)
    grid = np.linspace(-8, 8, 50_001).astype(np.float32)
    got = f.evaluate(np.repeat(grid[:, None], 4, 1))
    for c, (beta, gamma) in enumerate([(0.5, -1.0), (-0.1, -1.0), (-0.5, -1.0)]):
        np.testing.assert_array_equal(got[:, c], exact_signs(grid, 0, 1, beta, gamma))
    # The band is closed: +1 at both ends.
    band = np.array([[0, f.lo[1], 0, 0], [0, f.hi[1], 0, 0]], np.float32)
    assert (f.evaluate(band)[:, 1] == 1).all()


def test_affine_weights_reproduce_the_signs():
    f = form([-0.3, 0.0, 0.4, 0.8], gammas=[1.0, 1.0, 1.0, -1.0])
    assert f.affine and not f.monotone
    w, b = f.affine_weights()
    np.testing.assert_array_equal(w, [1, 1, 0, -1])
    x = np.random.RandomState(0).randn(1000, 4).astype(np.float32) * 3
    x[:4, 1] = 0.0  # exactly at the beta = 0 threshold
    y = SignAffine(scale=w, offset=b)(x).numpy()
    np.testing.assert_array_equal(np.where(y >= 0, 1.0, -1.0), f.evaluate(x))
    assert (f.evaluate(x)[:4, 1] == 1).all()
    with pytest.raises(ValueError, match="interval"):
        form([0.1]).affine_weights()


def test_sign_interval_layer_matches_the_form():
    f = form([-0.3, 0.1, 0.6, -0.1], gammas=[1.0, 1.0, 1.0, -1.0])
    layer = SignInterval(lo=f.lo, hi=f.hi, flip=f.flip)
    x = np.random.RandomState(1).randn(2000, 4).astype(np.float32) * 4
    y = layer(x).numpy()
    np.testing.assert_array_equal(np.where(y >= 0, 1.0, -1.0), f.evaluate(x))
    clone = SignInterval.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(x).numpy(), y)


def test_integer_bounds_give_every_integer_its_sign():
    f = form([-0.3, 0.1, 0.6, 0.2, 0.1], gammas=[1.0, 1.0, 1.0, 1.0, -1.0], mean=0.5)
    assert list(f.cases) == [
        "threshold", "interval", "constant", "interval", "threshold_below"]
    lo, hi = f.integer_bounds(9.5)
    # threshold: SiLU(z) = 0.3 at z = 0.49, x >= 0.99 <=> x >= 1 (hi 0.5); interval:
    # SiLU(z) = -0.1 at z = -3.54 and -0.23, -1 for x in {-3, ..., 0}; constant:
    # bounds beyond |x| < 9.5.
    assert f.hi[0] == pytest.approx(0.5 + silu_roots(np.array([0.3]))[1][0], abs=1e-6)
    np.testing.assert_array_equal(lo[:3], [-9.5, np.floor(f.lo[1]) + 0.5, 9.5])
    np.testing.assert_array_equal(hi[:3], [0.5, 0.5, 9.5])
    assert lo[1] == -3.5
    x = np.repeat(np.arange(-9, 10, dtype=np.float32)[:, None], 5, 1)
    # The export's form: the shift by hi in the conv's bias, then hi = 0.
    layer = SignInterval(lo=lo - hi, hi=np.zeros(5), flip=f.flip)
    y = layer(x - hi).numpy()
    np.testing.assert_array_equal(np.where(y >= 0, 1.0, -1.0), f.evaluate(x))
    assert (np.abs(y) >= 0.5).all()  # half an integer from every threshold: exact
    with pytest.raises(ValueError, match="half-integer"):
        f.integer_bounds(9.0)
    with pytest.raises(ValueError, match="Band"):
        form([-0.1], gammas=[-1.0]).integer_bounds(9.5)


def test_bn_sign_form_hand_values():
    # std = sqrt(3.999 + 0.001) = 2; c = mean - beta * std / gamma.
    f = bn_sign_form(
        mean=np.float32([1, 1, 1, 1]), variance=np.float32([3.999] * 4), epsilon=0.001,
        beta=np.float32([-1, 1, 0.3, -0.3]), gamma=np.float32([0.5, -2, 0, 0]),
    )
    assert list(f.cases) == ["threshold", "threshold_below", "constant", "constant_negative"]
    assert f.hi[0] == np.float32(5.0) and f.lo[1] == np.float32(2.0)
    below_5 = np.nextafter(np.float32(5), np.float32(0))
    above_2 = np.nextafter(np.float32(2), np.float32(3))
    x = np.float32([[5, 2, 0, 0], [below_5, above_2, 1e6, -1e6]])
    np.testing.assert_array_equal(f.evaluate(x), [[1, 1, 1, -1], [-1, -1, 1, -1]])
    layer = L.BatchNormalization(epsilon=0.001)
    layer.build((None, 4))
    layer.set_weights([np.float32([0.5, -2, 0, 0]), np.float32([-1, 1, 0.3, -0.3]),
                       np.float32([1] * 4), np.float32([3.999] * 4)])
    np.testing.assert_array_equal(layer_sign_form(layer).hi, f.hi)


BINARY = dict(
    input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
    use_bias=False, padding="same", pad_values=1.0,
)


def tiny_binarynet(norm, betas, gamma=(0.5, 1.5), channels=32):
    """conv -> norm -> [bconv -> maxpool -> norm -> hardtanh] -> bconv -> norm ->
    bconv(1x1) -> norm -> float head, with random statistics and `betas` range."""
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((8, 8, 2))
    x = L.Conv2D(channels, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = norm(name="n0")(x)
    x = lq.layers.QuantConv2D(channels, 3, name="c1", **BINARY)(x)
    x = L.MaxPool2D(name="p1")(x)
    x = norm(name="n1")(x)
    x = HardTanh(name="t1")(x)
    x = lq.layers.QuantConv2D(channels, 3, name="c2", **BINARY)(x)
    x = norm(name="n2")(x)
    x = lq.layers.QuantConv2D(16, 1, name="c3", **BINARY)(x)
    x = norm(name="n3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, name="head")(x)
    model = tf.keras.Model(inputs, x)
    rng = np.random.RandomState(1)
    for layer in model.layers:
        for weight in layer.weights if isinstance(layer, (ABN, L.BatchNormalization)) else []:
            n, key = weight.shape[0], weight.name.split("/")[-1].split(":")[0]
            low, high = {"beta": betas, "gamma": gamma, "moving_mean": (-4, 4)}.get(
                key, (2.0, 12.0)
            )
            weight.assign(rng.uniform(low, high, n).astype(np.float32))
    return model


def convert(model):
    flatbuffer = bytes(lce.convert_keras_model(model))
    return flatbuffer, collections.Counter(op_names(flatbuffer))


@pytest.fixture(scope="module")
def inputs():
    return np.random.RandomState(2).randn(32, 8, 8, 2).astype(np.float32)


def test_threshold_abn_becomes_bitpacked_like_bn(inputs):
    abn = tiny_binarynet(ABN, betas=(-1.0, 0.0))
    export, report = prepare_for_lce(abn)
    by_name = {r.layer: r for r in report.layers}
    assert by_name["n1"].action == "affine" and by_name["n1"].moved_pool == "p1"
    assert by_name["n1"].dropped == ["t1"]
    assert by_name["n3"].action == "kept" and "GlobalAveragePooling2D" in by_name["n3"].reason
    assert report.cases() == {"threshold": 96}
    before, ops_before = convert(abn)
    after, ops_after = convert(export)
    assert ops_before["LOGISTIC"] == 4 and ops_after["LOGISTIC"] == 1  # n3 feeds the head
    assert ops_after["LceBMaxPool2d"] == 1
    assert inspect_flatbuffer(before).num_bitpacked == 0
    assert inspect_flatbuffer(after).num_bitpacked == 2  # c1 (via the pool) and c2
    bn = tiny_binarynet(L.BatchNormalization, betas=(-1, 1))
    bn_export, bn_report = prepare_for_lce(bn)
    # BN before signs becomes its exact thresholds too; n3 feeds the pooling.
    assert [r.action for r in bn_report.layers] == ["affine"] * 3 + ["kept"]
    assert isinstance(bn_export.get_layer("n2"), SignAffine)
    bn_flatbuffer = convert(bn_export)[0]
    assert inspect_flatbuffer(bn_flatbuffer).num_bitpacked == 2
    np.testing.assert_allclose(lce.testing.Interpreter(bn_flatbuffer).predict(inputs),
                               bn.predict(inputs, verbose=0), atol=1e-4)
    keras = abn.predict(inputs, verbose=0)
    np.testing.assert_allclose(export.predict(inputs, verbose=0), keras, atol=1e-5)
    got = lce.testing.Interpreter(after).predict(inputs)
    np.testing.assert_allclose(got, keras, atol=1e-4)


def test_mixed_abn_splits_intervals_and_is_bitpacked_like_bn(inputs):
    abn = tiny_binarynet(ABN, betas=(-0.4, 0.5))
    export, report = prepare_for_lce(abn, split_intervals="always")
    counts = report.cases()
    assert counts["interval"] > 0 and counts["threshold"] > 0 and counts["constant"] > 0
    n0, n1, n2, _ = report.layers
    assert {r.action for r in (n0, n1, n2)} == {"split"}
    intervals = [r.cases["interval"] for r in (n0, n1, n2)]
    assert [n0.split, n1.split["producer"], n2.split["consumer"]] == [
        {"channels": intervals[0], "producer": "stem", "consumer": "c1"}, "c1", "c3"]
    assert n1.moved_pool == "p1"  # two non-decreasing thresholds commute with the max
    # c1 computes its interval channels twice, c2 reads them with negated weights.
    assert export.get_layer("c1").filters == 32 + intervals[1]
    assert export.get_layer("c2").kernel.shape == (3, 3, 32 + intervals[1], 32 + intervals[2])
    flatbuffer, ops = convert(export)
    assert ops["LOGISTIC"] == 1 and ops["MAXIMUM"] == 0  # n3 feeds the head
    assert inspect_flatbuffer(flatbuffer).num_bitpacked == 2  # as bn, see above
    keras = abn.predict(inputs, verbose=0)
    np.testing.assert_allclose(export.predict(inputs, verbose=0), keras, atol=1e-5)
    got = lce.testing.Interpreter(flatbuffer).predict(inputs)
    np.testing.assert_allclose(got, keras, atol=1e-4)


@pytest.mark.parametrize("split", ["auto", "never"])
def test_mixed_abn_without_split_uses_comparisons(inputs, split):
    """32 channels: a split would need a second 32-bit word, so `"auto"` compares."""
    abn = tiny_binarynet(ABN, betas=(-0.4, 0.5))
    export, report = prepare_for_lce(abn, split_intervals=split)
    assert {r.action for r in report.layers[:3]} == {"comparisons"}
    assert all(r.moved_pool is None and r.split is None for r in report.layers)
    if split == "auto":
        assert "would add a 32-bit word" in report.layers[0].reason
    # n0 reads a float conv: max(lo - x, x - hi). n1 and n2 read integer sums: their
    # hi moved into the bias of c1 (across the pool p1) and c2, which LCE fuses.
    assert [any(export.get_layer(n).hi) for n in ("n0", "n1", "n2")] == [True, False, False]
    for conv, norm in (("c1", "n1"), ("c2", "n2")):
        lo, hi = layer_sign_form(abn.get_layer(norm)).integer_bounds(3 * 3 * 32 + 0.5)
        np.testing.assert_array_equal(export.get_layer(conv).bias.numpy(), -hi)
        np.testing.assert_array_equal(export.get_layer(norm).lo, lo - hi)
    flatbuffer, ops = convert(export)
    assert ops["LOGISTIC"] == 1 and ops["MAXIMUM"] == 3
    assert ops["SUB"] == 2 + 1 + 1 and ops["ADD"] == 1  # n3's beta
    assert inspect_flatbuffer(flatbuffer).num_bitpacked == 0
    keras = abn.predict(inputs, verbose=0)
    got = lce.testing.Interpreter(flatbuffer).predict(inputs)
    np.testing.assert_allclose(got, keras, atol=1e-4)
    assert (got.argmax(-1) == keras.argmax(-1)).all()


def test_auto_splits_where_no_word_is_added(inputs):
    """16 channels plus at most 16 interval channels fit one 32-bit word."""
    abn = tiny_binarynet(ABN, betas=(-0.4, 0.5), channels=16)
    export, report = prepare_for_lce(abn)
    assert [r.action for r in report.layers[:3]] == ["split"] * 3
    assert all(0 < r.cases["interval"] <= 16 for r in report.layers[:3])
    flatbuffer, ops = convert(export)
    assert inspect_flatbuffer(flatbuffer).num_bitpacked == 2 and ops["MAXIMUM"] == 0
    got = lce.testing.Interpreter(flatbuffer).predict(inputs)
    np.testing.assert_allclose(got, abn.predict(inputs, verbose=0), atol=1e-4)


@pytest.mark.parametrize("bad", ["sometimes", 1, None])
def test_split_intervals_rejects_unknown_values(bad):
    model = tiny_binarynet(ABN, betas=(-0.4, 0.5))
    accepted = "'auto', 'bitpacked', 'always', 'never'"
    for function in (prepare_for_lce, deploy.convert):
        with pytest.raises(ValueError, match=f"must be one of {accepted}; got {bad!r}"):
            function(model, split_intervals=bad)


def test_split_intervals_booleans_are_deprecated_strings():
    """`True` was "wherever possible", `False` "never": the same rewrites as
    `"always"` / `"never"`, with a warning that names the string, at the caller."""
    model = tiny_binarynet(ABN, betas=(-0.4, 0.5))
    for flag, name in ((True, "always"), (False, "never")):
        with pytest.warns(FutureWarning, match=f"split_intervals={name!r}") as record:
            _, old = prepare_for_lce(model, split_intervals=flag)
        assert record[0].filename == __file__
        _, new = prepare_for_lce(model, split_intervals=name)
        assert [r.action for r in old.layers] == [r.action for r in new.layers]
        assert old.layers[0].action == ("split" if flag else "comparisons")
        # `convert` checks it before converting: a bad int8 range stops it after.
        with pytest.warns(FutureWarning, match=repr(name)) as record:
            with pytest.raises(deploy.DeployError, match="int8"):
                deploy.convert(model, split_intervals=flag,
                               experimental_default_int8_range=(1.0, -1.0))
        assert record[0].filename == __file__


def test_split_weights_give_the_interval_signs():
    f = form([0.1, -0.3, 0.6, 0.05], mean=0.5)
    assert list(f.cases) == ["interval", "threshold", "constant", "interval"]
    w, b, index, extra = f.split_weights()
    np.testing.assert_array_equal(index, [0, 3])
    np.testing.assert_array_equal(w, [1, 1, 0, 1])
    np.testing.assert_array_equal(b[[0, 3]], -f.hi[[0, 3]])  # a: x >= hi
    np.testing.assert_array_equal(b[2], 1.0)
    # b: x > lo, i.e. x >= the float32 after lo.
    np.testing.assert_array_equal(-extra, np.nextafter(f.lo[index], np.float32(np.inf)))
    grid = np.linspace(-6, 4, 100_001).astype(np.float32)
    grid = np.concatenate([grid, f.lo[index], f.hi[index], -extra])[:, None]
    x = np.repeat(grid, 4, 1)
    sign = lambda y: np.where(y >= 0, 1.0, -1.0)  # noqa: E731
    main = sign(x * w + b)
    main[:, index] = main[:, index] - sign(x[:, index] + extra) + 1  # a - b + 1
    np.testing.assert_array_equal(main, f.evaluate(x))
    with pytest.raises(ValueError, match="split"):
        form([0.1], gammas=[-1.0]).split_weights()  # threshold_below


def test_snap_to_integers_hand_values():
    w = np.array([1, 1, -1, -1, 0, 1], np.float32)
    b = np.array([-6e-6, -3.0, 2.0, -0.2, -1.0, 2.5], np.float32)
    # x >= 6e-6 <=> x >= 1; x >= 3; x <= 2; x <= -0.2 <=> x <= -1; constant; x >= -2.5.
    np.testing.assert_array_equal(
        snap_to_integers(w, b), [-0.5, -2.5, 2.5, -0.5, -1.0, 2.5]
    )
    x = np.arange(-5, 6, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(x * w + b >= 0, x * w + snap_to_integers(w, b) >= 0)


def zoo_binarynet(norm):
    tf.keras.utils.set_random_seed(0)
    # Keras' init: the seeded weights these exact (atol 1e-5) export checks were
    # written for; with the reference init, seed 0 puts one of 48 samples at a sign
    # threshold (an ABN interval split flips it; seeds 1 and 2 do not).
    model = zoo.BinaryNet(
        norm=norm, input_shape=(28, 28, 1), width_multiplier=0.125, init="keras"
    )
    randomize_non_kernel_weights(model)  # ABN betas in (-0.3, 0.3): every case
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(3).randn(48, 28, 28, 1).astype(np.float32)


def test_binarynet_bn_folds_the_flatten_and_bitpacks_every_conv_before_a_sign(images):
    """The reference layout has 7 binary convs; 6 feed norm + sign (dense2 feeds the
    float classifier through HardTanh): after the export all 6 are bitpacked."""
    model = zoo_binarynet("bn")
    export, report = prepare_for_lce(model)
    assert [dataclasses.astuple(f) for f in report.folded] == [("flatten", ["dense1"], [3, 3])]
    assert "flatten (Reshape) folded into dense1 as 3x3 VALID" in report.to_text()
    dense1 = export.get_layer("dense1")
    assert dense1.kernel_size == (3, 3) and dense1.padding == "valid"
    # Flatten order h, w, c is the kernel's: the integer sums are exactly equal.
    np.testing.assert_array_equal(
        export.predict(images, verbose=0), model.predict(images, verbose=0)
    )
    before, _ = convert(model)
    after, ops = convert(export)
    assert inspect_flatbuffer(before).num_bitpacked == 3  # conv2, conv4, dense1
    assert inspect_flatbuffer(after).num_bitpacked == 6 and ops["LceBMaxPool2d"] == 3
    assert ops["LceBconv2d"] == 7 and ops["LceQuantize"] == 1  # the stem's output only
    no_fold, _ = prepare_for_lce(model, fold_reshapes=False)
    assert inspect_flatbuffer(convert(no_fold)[0]).num_bitpacked == 5
    got = lce.testing.Interpreter(after).predict(images)
    np.testing.assert_allclose(got, model.predict(images, verbose=0), atol=1e-4)


def test_binarynet_abn_reaches_the_ops_of_bn(images):
    model = zoo_binarynet("abn")
    export, report = prepare_for_lce(model, split_intervals="always")
    abn = [r for r in report.layers if r.layer_class == "ABN"]
    assert len(abn) == 6 and {r.action for r in abn} == {"split"}  # convs only
    assert report.cases()["interval"] > 0
    flatbuffer, ops = convert(export)
    _, bn_ops = convert(prepare_for_lce(zoo_binarynet("bn"))[0])
    assert ops == bn_ops  # no LOGISTIC, 6 bitpacked binary convs, 3 binary max-pools
    assert inspect_flatbuffer(flatbuffer).num_bitpacked == 6
    keras = model.predict(images, verbose=0)
    # The float classifier reads its split inputs in another order: float rounding.
    np.testing.assert_allclose(export.predict(images, verbose=0), keras, atol=1e-5)
    got = lce.testing.Interpreter(flatbuffer).predict(images)
    np.testing.assert_allclose(got, keras, atol=1e-4)


def test_saved_export_model_loads_after_importing_larq_nobn(tmp_path, inputs):
    export, _ = prepare_for_lce(tiny_binarynet(ABN, betas=(-0.4, 0.5)))
    assert isinstance(export.get_layer("n2"), SignInterval)
    path = tmp_path / "export.keras"
    export.save(path)
    np.save(tmp_path / "x.npy", inputs)
    code = (
        "import sys, numpy as np, larq_nobn, tensorflow as tf\n"
        "model = tf.keras.models.load_model(sys.argv[1])\n"
        "np.save(sys.argv[2], model.predict(np.load(sys.argv[3]), verbose=0))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "y.npy"),
                    str(tmp_path / "x.npy")], check=True, env=env, capture_output=True)
    np.testing.assert_array_equal(
        np.load(tmp_path / "y.npy"), export.predict(inputs, verbose=0)
    )
    clone = SignInterval(lo=[0.0], hi=[1.0], flip=[-1.0], name="s")
    assert type(tf.keras.layers.deserialize(tf.keras.layers.serialize(clone))) is SignInterval


def test_convert_uses_the_export_unless_told_not_to(tmp_path, inputs):
    model = tiny_binarynet(ABN, betas=(-1.0, 0.0))
    fused, plain = deploy.convert(model), deploy.convert(model, abn_fusion=False)
    assert plain.export is None and plain.to_dict()["export"] is None
    assert Counter(op_names(plain.flatbuffer))["LOGISTIC"] == 4
    assert Counter(op_names(fused.flatbuffer))["LOGISTIC"] == 1
    assert (fused.ops.num_bitpacked, plain.ops.num_bitpacked) == (2, 0)
    assert fused.to_dict()["export"]["cases"] == {"threshold": 96}
    assert "LCE export: 4 normalization layers" in fused.to_text()
    assert fused.keras_model is model  # verify compares against the original
    assert fused.verify(inputs).agreement == 1.0
    path = tmp_path / "model.keras"
    model.save(path)
    reports = {}
    for flags in ([], ["--no-abn-fusion"]):
        parser = argparse.ArgumentParser()
        convert_command.add_parser(parser.add_subparsers())
        json_path = tmp_path / f"report{len(flags)}.json"
        args = parser.parse_args(["convert", str(path), "-o", str(tmp_path / "m.tflite"),
                                  "--json", str(json_path), *flags])
        assert args.abn_fusion == (not flags)
        assert convert_command.run(args) == deploy.EXIT_OK
        reports[len(flags)] = json.loads(json_path.read_text())
    assert reports[0]["ops"]["num_bitpacked"] == 2 and reports[0]["export"]["layers"]
    assert reports[1]["ops"]["num_bitpacked"] == 0 and reports[1]["export"] is None


def test_convert_split_intervals_option(tmp_path):
    model = tiny_binarynet(ABN, betas=(-0.4, 0.5))
    path = tmp_path / "model.keras"
    model.save(path)
    actions, bitpacked = {}, {}
    for flags in ([], ["--split-intervals", "always"], ["--split-intervals", "never"],
                  ["--split-intervals", "bitpacked"]):
        parser = argparse.ArgumentParser()
        convert_command.add_parser(parser.add_subparsers())
        json_path = tmp_path / "report.json"
        args = parser.parse_args(["convert", str(path), "-o", str(tmp_path / "m.tflite"),
                                  "--json", str(json_path), *flags])
        assert convert_command.run(args) == deploy.EXIT_OK
        report = json.loads(json_path.read_text())
        actions[tuple(flags[1:])] = [r["action"] for r in report["export"]["layers"][:3]]
        bitpacked[tuple(flags[1:])] = report["ops"]["num_bitpacked"]
    # n0 follows the float stem: "bitpacked" leaves it compared, c1 and c2 bitpack.
    assert actions == {(): ["comparisons"] * 3, ("always",): ["split"] * 3,
                       ("never",): ["comparisons"] * 3,
                       ("bitpacked",): ["comparisons", "split", "split"]}
    assert bitpacked == {(): 0, ("always",): 2, ("never",): 0, ("bitpacked",): 2}
    assert "a float layer produces it" in report["export"]["layers"][0]["reason"]
    x = np.random.RandomState(2).randn(32, 8, 8, 2).astype(np.float32)
    got = lce.testing.Interpreter((tmp_path / "m.tflite").read_bytes()).predict(x)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-4)  # bitpacked
    with pytest.raises(SystemExit):
        parser.parse_args(["convert", str(path), "--split-intervals", "sometimes"])


def test_negative_gamma_bn_keeps_its_pool(inputs):
    model = tiny_binarynet(L.BatchNormalization, betas=(-1, 1), gamma=(-1.0, 1.0))
    export, report = prepare_for_lce(model)
    n1 = next(r for r in report.layers if r.layer == "n1")
    assert n1.moved_pool is None and "gamma < 0" in n1.reason
    assert n1.action == "affine" and n1.cases["threshold_below"] > 0
    assert n1.dropped == ["t1"]
    assert isinstance(export.get_layer("p1").inbound_nodes[0].inbound_layers, L.Layer)
    assert export.get_layer("n1").inbound_nodes[0].inbound_layers.name == "p1"
    np.testing.assert_allclose(
        export.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-5
    )


def test_sequential_and_report_formats():
    model = tf.keras.Sequential(
        [
            tf.keras.Input((4, 4, 32)),
            ABN(name="norm"),
            lq.layers.QuantConv2D(8, 1, input_quantizer="ste_sign", name="conv"),
        ]
    )
    export, report = prepare_for_lce(model)
    assert isinstance(export.get_layer("norm"), (SignAffine, SignInterval))
    assert report.to_dict()["layers"][0]["cases"] == {"threshold": 32}
    assert "norm (ABN): affine [32 threshold]" in report.to_text()
    with pytest.raises(TypeError, match="tf.keras.Model"):
        prepare_for_lce("model.keras")
