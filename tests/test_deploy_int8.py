"""Tests of the int8 edges of `larq_nobn.deploy`: LCE's input / output types and default
int8 range in `convert` and `larq-nobn convert`, the input/output and QUANTIZE /
DEQUANTIZE report, `verify` of int8-edge models, and `benchmark` of a `.tflite` path."""

import argparse
import json

from larq_nobn import deploy
from larq_nobn.cli import convert as convert_command

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from helpers import io_tensors, op_names, randomize_non_kernel_weights, tensor_quantization

L = tf.keras.layers
BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign",
              kernel_constraint="weight_clip", use_bias=False)
INPUT_RANGE = (-1.0, 1.0)
OUTPUT_RANGE = (-32.0, 32.0)


class FakeQuant(L.Layer):
    """`tf.quantization.fake_quant_with_min_max_args`: the quantization statistics from
    which LCE makes an int8 input or output (test-only layer)."""

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, x):
        return tf.quantization.fake_quant_with_min_max_args(x, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


def small_bnn(fake_quant=False):
    """Float stem, two binary convs, a float head; with `fake_quant`, fake-quantization
    of the input to [-1, 1] and of the logits to [-32, 32] (int8 statistics at the
    edges only: the body stays float and binary)."""
    tf.keras.utils.set_random_seed(1)
    inputs = tf.keras.Input((10, 10, 1))
    x = FakeQuant(*INPUT_RANGE, name="fq_in")(inputs) if fake_quant else inputs
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = L.BatchNormalization(name="bn0")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="bconv1",
                              **BINARY)(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = lq.layers.QuantConv2D(32, 3, name="bconv2", **BINARY)(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, name="head")(x)
    if fake_quant:
        x = FakeQuant(*OUTPUT_RANGE, name="fq_out")(x)
    model = tf.keras.Model(inputs, x, name="small")
    randomize_non_kernel_weights(model)
    _center_head(model)
    return model


def _center_head(model):
    """A classifier on the pooled features minus their mean over `images()`, scaled to
    logits of about +-8: without it one class wins every image (the random norms shift
    every feature far more than the images move it) and top-1 agreement means nothing."""
    features = tf.keras.Model(model.input, model.get_layer("gap").output)
    pooled = features.predict(images(), verbose=0)
    head = model.get_layer("head")
    kernel = head.get_weights()[0]
    kernel = kernel * 4.0 / (pooled - pooled.mean(axis=0)).dot(kernel).std()
    head.set_weights([kernel, -pooled.mean(axis=0).dot(kernel)])


def images(n=200):
    """Deterministic images in [-1, 1]: products of stripes of several frequencies."""
    i, j = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    return np.stack([
        np.sin(0.35 * (k % 9 + 1) * i + 0.4 * (k // 9)) * np.cos(0.25 * (k % 7 + 1) * j)
        for k in range(n)
    ])[..., None].astype("float32")


@pytest.fixture(scope="module")
def plain():
    return small_bnn()


@pytest.fixture(scope="module")
def fake_quant():
    return small_bnn(fake_quant=True)


def _scale_and_zero_point(low, high):
    """TFLite's int8 parameters of a range containing 0: scale (max - min) / 255, zero
    point -128 - min / scale rounded half away from zero."""
    scale = (high - low) / 255
    return scale, int(np.sign(-128 - low / scale) * np.floor(abs(-128 - low / scale) + 0.5))


# ======================================================================================
# Input and output types
# ======================================================================================
def test_default_edges_are_float32_without_quantize_ops(plain):
    result = deploy.convert(plain)
    inputs, outputs = io_tensors(result.flatbuffer)
    assert inputs == [("FLOAT32", None, None)] and outputs == [("FLOAT32", None, None)]
    edges = result.ops.edges
    assert [(t.dtype, t.shape, t.scale) for t in edges.inputs] == [("float32", (1, 10, 10, 1),
                                                                   None)]
    assert [(t.dtype, t.shape) for t in edges.outputs] == [("float32", (1, 10))]
    assert edges.quantize_ops == [] and edges.count() == 0
    names = op_names(result.flatbuffer)
    assert "QUANTIZE" not in names and "DEQUANTIZE" not in names
    text = result.to_text()
    assert "Input " in text and "float32 1x10x10x1" in text
    assert "QUANTIZE / DEQUANTIZE ops: none" in text
    assert result.to_dict()["ops"]["edges"]["inputs"][0]["dtype"] == "float32"


def test_int8_range_sets_scales_of_tensors_without_statistics(plain):
    low, high = -2.0, 6.0
    scale, zero_point = _scale_and_zero_point(low, high)
    assert scale == pytest.approx(8 / 255) and zero_point == -64  # -128 + 63.75
    result = deploy.convert(plain, experimental_default_int8_range=(low, high))
    names = op_names(result.flatbuffer)
    # Float edges: the input is quantized by the first op, with the default range.
    assert io_tensors(result.flatbuffer)[0] == [("FLOAT32", None, None)]
    assert names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE"
    got_scale, got_zero_point = tensor_quantization(result.flatbuffer, 0)
    assert got_scale == pytest.approx(scale, rel=1e-6) and got_zero_point == zero_point
    other = deploy.convert(plain, experimental_default_int8_range=(-3, 3))
    other_scale, other_zero_point = tensor_quantization(other.flatbuffer, 0)
    assert other_scale == pytest.approx(6 / 255, rel=1e-6)
    assert other_zero_point == _scale_and_zero_point(-3, 3)[1] == -1  # -0.5 rounds to -1
    assert result.int8_range == (low, high)
    assert "Default int8 range [-2, 6]" in result.to_text()
    assert result.to_dict()["int8_range"] == [low, high]


def test_int8_edges_with_default_range(plain):
    low, high = -2.0, 6.0
    scale, zero_point = _scale_and_zero_point(low, high)
    floats = deploy.convert(plain, experimental_default_int8_range=(low, high))
    result = deploy.convert(plain, inference_input_type="int8",
                            inference_output_type=tf.int8,
                            experimental_default_int8_range=(low, high))
    inputs, outputs = io_tensors(result.flatbuffer)
    assert [t[0] for t in inputs + outputs] == ["INT8", "INT8"]
    for _, got_scale, got_zero_point in inputs + outputs:
        assert got_scale == pytest.approx(scale, rel=1e-6) and got_zero_point == zero_point
    edges = result.ops.edges
    assert [(t.dtype, t.zero_point) for t in edges.inputs + edges.outputs] == [
        ("int8", zero_point), ("int8", zero_point)]
    assert edges.inputs[0].scale == pytest.approx(scale, rel=1e-6)
    # The report's counts are the flatbuffer's ops; int8 edges drop exactly the
    # QUANTIZE at the input and the DEQUANTIZE at the output of the float-edge model.
    for report, flatbuffer in ((floats, floats.flatbuffer), (result, result.flatbuffer)):
        names = op_names(flatbuffer)
        for op in ("QUANTIZE", "DEQUANTIZE"):
            assert report.ops.edges.count(op) == names.count(op)
            assert report.ops.op_counts.get(op, 0) == names.count(op)
    float_edges = floats.ops.edges
    assert (float_edges.count("QUANTIZE", "input"), float_edges.count("DEQUANTIZE", "output"),
            float_edges.count(position="input") + float_edges.count(position="output")) == (1, 1, 2)
    assert edges.count(position="input") == edges.count(position="output") == 0
    assert edges.count() == float_edges.count() - 2
    assert edges.count(position="inside") == float_edges.count(position="inside") > 0
    text = result.to_text()
    stored = float(np.float32(scale))  # the flatbuffer holds float32 scales
    assert f"int8 1x10x10x1, scale {stored:.6g}, zero point {zero_point}" in text
    assert f"inside {edges.count()} QUANTIZE float32->int8" in text


def test_int8_edges_from_fake_quantization_and_their_quantize_ops(fake_quant):
    floats = deploy.convert(fake_quant)
    assert op_names(floats.flatbuffer)[:2] == ["QUANTIZE", "DEQUANTIZE"]
    assert op_names(floats.flatbuffer)[-2:] == ["QUANTIZE", "DEQUANTIZE"]
    assert [(q.op, q.position) for q in floats.ops.edges.quantize_ops] == [
        ("QUANTIZE", "input"), ("DEQUANTIZE", "input"),
        ("QUANTIZE", "output"), ("DEQUANTIZE", "output")]
    result = deploy.convert(fake_quant, inference_input_type="int8",
                            inference_output_type="int8")
    names = op_names(result.flatbuffer)
    assert (names[0], names[-1]) == ("DEQUANTIZE", "QUANTIZE")
    assert names.count("LceBconv2d") == 2 and "CONV_2D" in names  # the body stays float
    assert [(q.op, q.position, q.from_type, q.to_type) for q in result.ops.edges.quantize_ops] == [
        ("DEQUANTIZE", "input", "int8", "float32"), ("QUANTIZE", "output", "float32", "int8")]
    (_, in_scale, in_zero), (_, out_scale, out_zero) = [
        t for group in io_tensors(result.flatbuffer) for t in group]
    # Fake quantization nudges its zero point in [0, 255]: round(127.5) - 128 = 0.
    assert (in_scale, in_zero) == (pytest.approx(2 / 255), 0)
    assert (out_scale, out_zero) == (pytest.approx(64 / 255), 0)
    text = result.to_text()
    assert "at the input 1 DEQUANTIZE int8->float32; at the output 1 QUANTIZE" in text
    counts = result.to_dict()["ops"]["edges"]["quantize_op_counts"]
    assert counts["input"] == {"QUANTIZE": 0, "DEQUANTIZE": 1}
    assert counts["output"] == {"QUANTIZE": 1, "DEQUANTIZE": 0}


def test_int8_asked_without_statistics_is_an_error(plain):
    with pytest.raises(deploy.DeployError, match=r"left the model input float32.*--int8-range"):
        deploy.convert(plain, inference_input_type="int8")
    with pytest.raises(deploy.DeployError, match="left the model output float32"):
        deploy.convert(plain, inference_output_type=tf.int8)


@pytest.mark.parametrize("kwargs, fragments", [
    (dict(inference_input_type="int16"), ["inference_input_type", "'int16'", "'float32', 'int8'"]),
    (dict(inference_output_type=tf.uint8), ["inference_output_type", "uint8", "'int8'"]),
    (dict(inference_input_type=None), ["inference_input_type", "None"]),
    (dict(experimental_default_int8_range=(1, 3)), ["MIN <= 0 <= MAX", "(1, 3)"]),
    (dict(experimental_default_int8_range=(0, 0)), ["MIN < MAX", "(0, 0)"]),
    (dict(experimental_default_int8_range=(3, -3)), ["MIN <= 0 <= MAX", "(3, -3)"]),
    (dict(experimental_default_int8_range=(-1,)), ["pair of finite numbers", "(-1,)"]),
    (dict(experimental_default_int8_range="ab"), ["pair of finite numbers", "'ab'"]),
    (dict(experimental_default_int8_range=(float("nan"), 1)), ["finite", "nan"]),
])
def test_convert_bad_int8_options(plain, kwargs, fragments):
    with pytest.raises(deploy.DeployError) as error:
        deploy.convert(plain, **kwargs)
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)


# ======================================================================================
# Verification of int8 edges
# ======================================================================================
def test_quantize_and_dequantize_by_hand():
    x = np.array([0.5, -0.5, 1.26, 0.25, -0.25, 100.0, -100.0])
    # x / 0.5 = 1, -1, 2.52, 0.5, -0.5, 200, -200: rounded half away from zero, -1, clipped
    np.testing.assert_array_equal(deploy.quantize(x, 0.5, -1), [0, -2, 2, 0, -2, 127, -128])
    assert deploy.quantize(x, 0.5, -1).dtype == np.int8
    np.testing.assert_array_equal(
        deploy.dequantize(np.array([0, -2, 2, 127], np.int8), 0.5, -1), [0.5, -0.5, 1.5, 64.0])


def test_verify_an_int8_edge_model_agrees_with_keras(fake_quant):
    result = deploy.convert(fake_quant, inference_input_type="int8",
                            inference_output_type="int8")
    x = images()
    labels = np.arange(len(x)) % 10
    check = result.verify(x, labels)
    keras_top = fake_quant.predict(x, verbose=0).argmax(axis=1)
    assert np.bincount(keras_top, minlength=10).max() < 60  # no class wins every image
    assert (check.input_type, check.output_type) == ("int8", "int8")
    assert check.samples == 200 and check.agreement >= 0.99 and check.passed
    # Keras fake-quantizes the logits to the same grid: at most one step apart.
    assert check.max_abs_diff <= 64 / 255 + 1e-6
    assert check.keras_accuracy == np.mean(keras_top == labels)
    assert "int8 input, int8 output" in check.to_text()
    # Samples cast to int8 without quantizing (all 0 or +-1) give other predictions:
    # the agreement above depends on the quantization.
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    raw = Interpreter(result.flatbuffer).predict(x.astype(np.int8))
    assert np.mean(raw.argmax(axis=1) == keras_top) < 0.5


# ======================================================================================
# Benchmark of a path
# ======================================================================================
def test_benchmark_from_a_path(plain, tmp_path):
    result = deploy.convert(plain, inference_input_type="int8", inference_output_type="int8",
                            experimental_default_int8_range=(-2, 6))
    path = result.save(tmp_path / "small.tflite")
    for model in (str(path), path, result):
        bench = deploy.benchmark(model, runs=2, warmup=0, progress=False)
        assert [(r.model, r.threads, r.runs) for r in bench.rows] == [("lce", 1, 2)]
        assert bench.rows[0].min_ms > 0
    with pytest.raises(deploy.DeployError, match="TFLite file not found: '.*missing.tflite'"):
        deploy.benchmark(str(tmp_path / "missing.tflite"), progress=False)
    with pytest.raises(deploy.DeployError, match="is a directory"):
        deploy.benchmark(tmp_path, progress=False)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(deploy.DeployError, match="not a TFLite flatbuffer"):
        deploy.benchmark(tmp_path / "notes.txt", progress=False)
    with pytest.raises(deploy.DeployError, match="path of a .tflite file.*got int"):
        deploy.benchmark(42, progress=False)


# ======================================================================================
# The command line
# ======================================================================================
def _parser():
    parser = argparse.ArgumentParser(prog="larq-nobn")
    return parser, convert_command.add_parser(parser.add_subparsers(dest="command"))


def test_convert_int8_options_parse():
    parser, convert_parser = _parser()
    args = parser.parse_args(["convert", "m.keras", "--inference-input-type", "int8",
                              "--inference-output-type", "int8", "--int8-range", "-2", "6"])
    assert (args.inference_input_type, args.inference_output_type) == ("int8", "int8")
    assert args.int8_range == [-2.0, 6.0]
    defaults = parser.parse_args(["convert", "m.keras"])
    assert (defaults.inference_input_type, defaults.inference_output_type,
            defaults.int8_range) == ("float32", "float32", None)
    help_text = convert_parser.format_help()
    assert "--inference-input-type {float32,int8}" in help_text
    assert "--int8-range MIN MAX" in help_text


@pytest.mark.parametrize("argv, fragment", [
    (["--inference-input-type", "int4"], "invalid choice: 'int4' (choose from 'float32', 'int8')"),
    (["--inference-output-type", "float16"], "invalid choice: 'float16' (choose from"),
    (["--int8-range", "1"], "argument --int8-range: expected 2 arguments"),
    (["--int8-range", "a", "1"], "argument --int8-range: expected a number, got 'a'"),
])
def test_convert_bad_int8_options_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parser()[0].parse_args(["convert", "m.keras", *argv])
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err


def _save(model, directory):
    path = directory / "small.keras"
    model.save(path)
    return path


def _namespace(model, output, **kwargs):
    defaults = dict(model=str(model), output=str(output), target="arm", verify_dataset=None,
                    verify_samples=1000, verify_threshold=deploy.DEFAULT_AGREEMENT_THRESHOLD,
                    unsafe_load=False, json=None, inference_input_type="float32",
                    inference_output_type="float32", int8_range=None)
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def test_run_convert_with_int8_edges(plain, tmp_path, capsys):
    model_path = _save(plain, tmp_path)
    args = _namespace(model_path, tmp_path / "int8.tflite", json=str(tmp_path / "r.json"),
                      inference_input_type="int8", inference_output_type="int8",
                      int8_range=[-2.0, 6.0])
    assert convert_command.run(args) == deploy.EXIT_OK
    out = capsys.readouterr().out
    assert "Default int8 range [-2, 6]" in out and "int8 1x10x10x1" in out
    inputs, outputs = io_tensors((tmp_path / "int8.tflite").read_bytes())
    assert inputs[0][0] == outputs[0][0] == "INT8"
    assert inputs[0][1] == pytest.approx(8 / 255)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["int8_range"] == [-2.0, 6.0]
    assert report["ops"]["edges"]["outputs"][0]["dtype"] == "int8"


@pytest.mark.parametrize("changes, fragments", [
    (dict(int8_range=[1.0, 3.0]), ["--int8-range", "[1.0, 3.0]", "MIN <= 0 <= MAX"]),
    (dict(inference_input_type="int16"), ["--inference-input-type", "'int16'", "'int8'"]),
    (dict(inference_output_type="int8"), ["left the model output float32", "--int8-range"]),
])
def test_run_convert_bad_int8_options(plain, tmp_path, capsys, changes, fragments):
    args = _namespace(_save(plain, tmp_path), tmp_path / "out.tflite", **changes)
    assert convert_command.run(args) == deploy.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("larq-nobn convert: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert not (tmp_path / "out.tflite").exists()
