"""Tests of the LCE export (`larq_nobn.deploy.sign_forms`, `export_layers`, `export`):
the exact sign cases of ABN, the export layers, the graph rewrites and what LCE makes
of the exported models."""

import collections
import math

from larq_nobn import ABN, HardTanh
from larq_nobn.deploy import inspect_flatbuffer
from larq_nobn.deploy.export import prepare_for_lce
from larq_nobn.deploy.export_layers import SignAffine, SignInterval
from larq_nobn.deploy.sign_forms import SILU_ARGMIN, SILU_MIN, abn_sign_form, silu_roots
from tests.helpers import op_names

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


BINARY = dict(
    input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
    use_bias=False, padding="same", pad_values=1.0,
)


def tiny_binarynet(norm, betas, gamma=(0.5, 1.5)):
    """conv -> norm -> [bconv -> maxpool -> norm -> hardtanh] -> bconv -> norm ->
    bconv(1x1) -> norm -> float head, with random statistics and `betas` range."""
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((8, 8, 2))
    x = L.Conv2D(32, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = norm(name="n0")(x)
    x = lq.layers.QuantConv2D(32, 3, name="c1", **BINARY)(x)
    x = L.MaxPool2D(name="p1")(x)
    x = norm(name="n1")(x)
    x = HardTanh(name="t1")(x)
    x = lq.layers.QuantConv2D(32, 3, name="c2", **BINARY)(x)
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
    bn_export, _ = prepare_for_lce(tiny_binarynet(L.BatchNormalization, betas=(-1, 1)))
    assert inspect_flatbuffer(convert(bn_export)[0]).num_bitpacked == 2
    keras = abn.predict(inputs, verbose=0)
    np.testing.assert_allclose(export.predict(inputs, verbose=0), keras, atol=1e-5)
    got = lce.testing.Interpreter(after).predict(inputs)
    np.testing.assert_allclose(got, keras, atol=1e-4)


def test_mixed_abn_uses_comparisons_without_logistic(inputs):
    abn = tiny_binarynet(ABN, betas=(-0.4, 0.5))
    export, report = prepare_for_lce(abn)
    counts = report.cases()
    assert counts["interval"] > 0 and counts["threshold"] > 0 and counts["constant"] > 0
    assert {r.action for r in report.layers[:3]} == {"comparisons"}
    assert all(r.moved_pool is None for r in report.layers)
    flatbuffer, ops = convert(export)
    assert ops["LOGISTIC"] == 1 and ops["MAXIMUM"] == 3
    keras = abn.predict(inputs, verbose=0)
    got = lce.testing.Interpreter(flatbuffer).predict(inputs)
    np.testing.assert_allclose(got, keras, atol=1e-4)
    assert (got.argmax(-1) == keras.argmax(-1)).all()


def test_negative_gamma_bn_keeps_its_pool(inputs):
    model = tiny_binarynet(L.BatchNormalization, betas=(-1, 1), gamma=(-1.0, 1.0))
    export, report = prepare_for_lce(model)
    n1 = next(r for r in report.layers if r.layer == "n1")
    assert n1.moved_pool is None and "gamma < 0" in n1.reason
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
