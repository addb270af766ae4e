"""Tests of `larq_nobn.deploy`: LCE conversion reports, size, verification, benchmark,
safe loading, and every bad-input path of `larq-nobn convert` / `larq-nobn benchmark`
(`larq_nobn.cli.convert.run` / `larq_nobn.cli.benchmark.run`)."""

import argparse
import json
import os
import stat
import zipfile

from larq_nobn import cli, deploy
from larq_nobn.cli import benchmark as benchmark_command
from larq_nobn.cli import convert as convert_command
from larq_nobn.deploy.op_report import layer_names_in

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

L = tf.keras.layers
BINARY = dict(
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint="weight_clip",
    use_bias=False,
)


def _randomize_norms(model, seed=0):
    """Non-trivial BatchNormalization statistics: with the initial ones (mean 0, beta
    0) pre-sign values of exactly 0 are common and conversion tests would test ties."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.uniform(-0.3, 0.3, beta.shape).astype("float32"),
                    rng.uniform(-2.0, 2.0, mean.shape).astype("float32"),
                    rng.uniform(0.5, 4.0, variance.shape).astype("float32"),
                ]
            )


def tiny_binarynet():
    """BinaryNet-like: float stem, three binary convs, a binary dense, a float head.

    - bconv1 -> max-pool -> BN -> sign: the max-pool sits between conv and norm, so the
      norm cannot be fused: float output (MAX_POOL_2D, MUL, ADD stay float).
    - bconv2 -> BN -> max-pool -> sign: norm fused into thresholds, max-pool moved after
      the sign (LceBMaxPool2d): bitpacked output.
    - bconv3 -> BN -> flatten -> sign of a QuantDense: the norm fuses (float output),
      the reshape stays float, and the QuantDense stays float: its sign is quantized and
      dequantized again (LceQuantize + LceDequantize) for a float FULLY_CONNECTED.
    """
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((12, 12, 1))
    x = L.Conv2D(32, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.BatchNormalization(name="bn0")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="bconv1", **BINARY)(x)
    x = L.MaxPool2D(name="pool1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0, name="bconv2", **BINARY)(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.MaxPool2D(name="pool2")(x)
    x = lq.layers.QuantConv2D(64, 3, padding="valid", name="bconv3", **BINARY)(x)
    x = L.BatchNormalization(name="bn3")(x)
    x = L.Flatten(name="flat")(x)
    x = lq.layers.QuantDense(16, name="bdense", **BINARY)(x)
    x = L.BatchNormalization(name="bn4")(x)
    outputs = L.Dense(10, name="head")(x)
    model = tf.keras.Model(inputs, outputs, name="tiny")
    _randomize_norms(model)
    return model


def structured_inputs(n=40):
    """Deterministic images: stripes and ramps of different frequency and phase."""
    i, j = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    images = [
        np.sin(0.3 * (k % 7 + 1) * i + 0.5 * (k // 7)) * np.cos(0.2 * (k % 5 + 1) * j)
        for k in range(n)
    ]
    return np.stack(images)[..., None].astype("float32")


@pytest.fixture(scope="module")
def tiny():
    """The tiny model and its conversion as it is (the op report tests describe
    LCE's own handling of the graph; `test_export` covers the export)."""
    model = tiny_binarynet()
    return model, deploy.convert(model, abn_fusion=False)


@pytest.fixture(scope="module")
def files(tiny, tmp_path_factory):
    """The tiny model as .keras and its LCE flatbuffer as .tflite, plus an .npz."""
    model, result = tiny
    directory = tmp_path_factory.mktemp("deploy")
    model.save(directory / "model.keras")
    result.save(directory / "model.tflite")
    x = structured_inputs(24)
    y = np.arange(24) % 10
    np.savez(directory / "verify.npz", x=x, y=y)
    return directory


def _namespace(**kwargs):
    defaults = dict(
        output=None,
        target="arm",
        verify_dataset=None,
        verify_samples=1000,
        verify_threshold=deploy.DEFAULT_AGREEMENT_THRESHOLD,
        unsafe_load=False,
        json=None,
        threads=[1],
        runs=3,
        warmup=1,
        keras_model=None,
    )
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def _assert_one_line_error(capsys, command, *fragments):
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"larq-nobn {command}: error: "), err[0]
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in err[0], err[0]


# ======================================================================================
# Op report
# ======================================================================================
def test_op_histogram_of_binarynet_like_model(tiny):
    model, result = tiny
    ops = result.ops
    binary_convs = [
        layer.name
        for layer in model.layers
        if isinstance(layer, lq.layers.QuantConv2D)
        and layer.input_quantizer.precision == 1
        and layer.kernel_quantizer.precision == 1
    ]
    assert binary_convs == ["bconv1", "bconv2", "bconv3"]
    assert ops.num_bconv == len(binary_convs)
    # Only bconv2 reaches the next sign through its norm alone (see tiny_binarynet).
    assert ops.num_bitpacked == 1
    assert [(op.layer, op.bitpacked) for op in ops.bconvs] == [
        ("bconv1", False),
        ("bconv2", True),
        ("bconv3", False),
    ]
    assert ops.op_counts == {
        "CONV_2D": 1,  # stem
        "LceQuantize": 3,  # signs of bconv1, bconv2 and bdense
        "LceBconv2d": 3,
        "MAX_POOL_2D": 1,  # pool1 (before bn1)
        "MUL": 1,  # bn1, not fusable behind the max-pool
        "ADD": 1,
        "LceBMaxPool2d": 1,  # pool2 on bits, after bconv2's fused sign
        "RESHAPE": 1,  # flat
        "LceDequantize": 1,  # bdense's sign, back to float for a float matmul
        "FULLY_CONNECTED": 2,  # bdense (+ bn4 folded) and head
    }
    by_op = {}
    for op in ops.float_ops:
        by_op.setdefault(op.op, set()).update(op.layers)
    assert by_op["CONV_2D"] == {"stem", "bn0"}  # bn0 folds into the stem conv
    assert by_op["MAX_POOL_2D"] == {"pool1"}
    assert by_op["RESHAPE"] == {"flat"}
    assert {"bdense", "head"} <= by_op["FULLY_CONNECTED"]
    assert ops.bconvs[0].output_chain[:2] == ["MAX_POOL_2D", "MUL"]
    assert ops.bconvs[2].output_chain[0] == "RESHAPE"
    assert ops.bconvs[1].kernel_size == (3, 3)
    assert (ops.bconvs[1].channels_in, ops.bconvs[1].channels_out) == (32, 64)
    assert (ops.bconvs[1].padding, ops.bconvs[1].pad_values) == ("SAME", 1)
    assert (ops.bconvs[2].padding, ops.bconvs[2].channels_in) == ("VALID", 64)
    assert any(
        "max-pool before a per-channel scale/shift" in n and "bconv1" in n for n in ops.notes
    )


def test_quant_dense_warning_and_layer_statuses(tiny):
    _, result = tiny
    statuses = {s.layer: (s.binary_op, s.bitpacked) for s in result.ops.layers}
    assert statuses == {
        "bconv1": ("LceBconv2d", False),
        "bconv2": ("LceBconv2d", True),
        "bconv3": ("LceBconv2d", False),
        "bdense": (None, False),
    }
    assert len(result.ops.warnings) == 1
    assert "'bdense' (QuantDense)" in result.ops.warnings[0]
    assert "1x1 QuantConv2D" in result.ops.warnings[0]
    text = result.to_text()
    assert "LceBconv2d" in text and "(1 with bitpacked output)" in text
    assert "WARNING: binary layer 'bdense'" in text


def test_inspect_without_keras_model_names_layers_from_tensor_names(tiny):
    _, result = tiny
    report = deploy.inspect_flatbuffer(result.flatbuffer)
    assert [op.layer for op in report.bconvs] == ["bconv1", "bconv2", "bconv3"]
    assert report.num_bitpacked == 1
    assert report.layers == [] and report.warnings == []
    assert report.op_counts == result.ops.op_counts


class InChannelScaledSign(lq.quantizers.Quantizer):
    """A 1-bit quantizer with the scale on the wrong axis (per *input* channel): not
    ±alpha per output channel, so LCE cannot binarize it."""

    precision = 1

    def call(self, inputs):
        scale = tf.reduce_mean(tf.abs(inputs), axis=[0, 1, 3], keepdims=True)
        return lq.math.sign(inputs) * scale


def rules_model():
    tf.keras.utils.set_random_seed(1)
    inputs = tf.keras.Input((10, 10, 32))
    x = lq.layers.QuantDepthwiseConv2D(
        3, padding="same", input_quantizer="ste_sign", depthwise_quantizer="ste_sign",
        depthwise_constraint="weight_clip", use_bias=False, name="dw",
    )(inputs)
    x = lq.layers.QuantConv2D(32, 1, kernel_quantizer="ste_sign", use_bias=False,
                              kernel_constraint="weight_clip", name="no_sign")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                              kernel_quantizer=InChannelScaledSign(), use_bias=False,
                              name="wrong_scale")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=0.0, name="zero_pad",
                              **BINARY)(x)
    x = L.BatchNormalization(name="bn")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="valid", name="good", **BINARY)(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = lq.layers.QuantDense(8, name="dense", **BINARY)(x)
    # Binary input, full-precision weights: a float op by design (no warning).
    outputs = lq.layers.QuantDense(4, input_quantizer="ste_sign", name="fp_classifier")(x)
    model = tf.keras.Model(inputs, outputs, name="rules")
    _randomize_norms(model)
    return model


@pytest.fixture(scope="module")
def rules():
    model = rules_model()
    return {target: deploy.convert(model, target) for target in deploy.TARGETS}


def test_lce_rules_warnings_arm(rules):
    ops = rules["arm"].ops
    status = {s.layer: s for s in ops.layers}
    assert {name: s.binary_op for name, s in status.items()} == {
        "dw": None,
        "no_sign": None,
        "wrong_scale": None,
        "zero_pad": "LceBconv2d",
        "good": "LceBconv2d",
        "dense": None,
        "fp_classifier": None,
    }
    assert "no binary depthwise" in status["dw"].reason
    assert "no sign on the input (no input quantizer)" in status["no_sign"].reason
    assert "not ±alpha per output channel" in status["wrong_scale"].reason
    assert "fully-connected" in status["dense"].reason
    assert ops.num_bconv == 2
    # same-zero padding converts on arm but never writes bitpacked output, although
    # its norm is followed directly by the sign of `good`.
    zero_pad = [op for op in ops.bconvs if op.layer == "zero_pad"][0]
    assert (zero_pad.bitpacked, zero_pad.padding, zero_pad.pad_values) == (False, "SAME", 0)
    assert any("zero_pad" in n and "pad_values=0" in n for n in ops.notes)
    assert len(ops.warnings) == 4  # dw, no_sign, wrong_scale, dense
    assert not any("fp_classifier" in w for w in ops.warnings)
    assert any(n.startswith("fp_classifier (QuantDense): binary input") for n in ops.notes)
    assert sum("'dw' (QuantDepthwiseConv2D)" in w for w in ops.warnings) == 1


def test_lce_rules_xcore_same_zero_padding_stays_float(rules):
    ops = rules["xcore"].ops
    status = {s.layer: s for s in ops.layers}
    assert status["zero_pad"].binary_op is None
    assert "only for the arm target" in status["zero_pad"].reason
    assert status["good"].binary_op == "LceBconv2d"
    assert ops.num_bconv == 1 and ops.target == "xcore"


# ======================================================================================
# Size
# ======================================================================================
def test_size_report_against_hand_computed_ideal(tiny):
    _, result = tiny
    size = result.size
    binary = 3 * 3 * 32 * 32 + 3 * 3 * 32 * 64 + 3 * 3 * 64 * 64 + 64 * 16  # convs, dense
    other = (
        3 * 3 * 1 * 32  # stem
        + 4 * (32 + 32 + 64 + 64 + 16)  # five BNs: gamma, beta, mean, variance
        + 16 * 10 + 10  # head
    )
    assert (size.binary_params, size.other_params) == (binary, other) == (65536, 1290)
    assert size.ideal_bytes == binary / 8 + 4 * other == 13352
    assert size.file_bytes == len(result.flatbuffer)
    assert size.ratio == pytest.approx(len(result.flatbuffer) / 13352)
    # LCE's filters: (out, kh, kw, ceil(in / 32)) int32 words.
    assert size.bitpacked_weight_bytes == 4 * (32 * 9 * 1 + 64 * 9 * 1 + 64 * 9 * 2)
    assert size.overhead_bytes == (
        size.file_bytes - size.bitpacked_weight_bytes - size.constant_bytes
    )
    assert "ratio" in size.to_text()


# ======================================================================================
# Verification
# ======================================================================================
def test_verify_agrees_with_keras(tiny):
    model, result = tiny
    x = structured_inputs()
    y = np.arange(len(x)) % 10
    check = deploy.verify(result.flatbuffer, model, x, y)
    keras_top = model.predict(x, verbose=0).argmax(axis=1)
    assert check.samples == len(x)
    assert check.agreement == 1.0 and check.passed
    assert check.max_abs_diff < 1e-3
    assert check.keras_accuracy == check.lce_accuracy == np.mean(keras_top == y)
    one_hot = np.eye(10)[y]
    assert deploy.verify(result.flatbuffer, model, x, one_hot).keras_accuracy == (
        check.keras_accuracy
    )


def test_verify_threshold_fails_a_different_network(tiny):
    model, result = tiny
    other = tf.keras.models.clone_model(model)
    other.set_weights(model.get_weights())
    kernel, bias = other.get_layer("head").get_weights()
    # Rolled classifier columns: the other network predicts class (c + 1) % 10.
    other.get_layer("head").set_weights([np.roll(kernel, 1, axis=1), np.roll(bias, 1)])
    x = structured_inputs()
    np.testing.assert_array_equal(
        other.predict(x, verbose=0).argmax(1), (model.predict(x, verbose=0).argmax(1) + 1) % 10
    )
    check = deploy.verify(result.flatbuffer, other, x)
    assert check.agreement == 0.0 and not check.passed
    assert "FAILED" in check.to_text()


def test_verification_result_threshold_logic():
    at = deploy.VerificationResult(samples=1000, agreement=0.995, max_abs_diff=0.0,
                                   threshold=0.995)
    below = deploy.VerificationResult(samples=1000, agreement=0.994, max_abs_diff=0.0,
                                      threshold=0.995)
    assert at.passed and not below.passed


def test_verify_bad_arguments(tiny):
    model, result = tiny
    x = structured_inputs(4)
    with pytest.raises(deploy.DeployError, match=r"threshold must be in \(0, 1\]"):
        deploy.verify(result.flatbuffer, model, x, threshold=1.5)
    with pytest.raises(deploy.DeployError, match="do not fit the model input"):
        deploy.verify(result.flatbuffer, model, np.zeros((4, 10, 10, 1), "float32"))
    with pytest.raises(deploy.DeployError, match="no samples"):
        deploy.verify(result.flatbuffer, model, np.zeros((0, 12, 12, 1), "float32"))
    with pytest.raises(deploy.DeployError, match="labels for 4 samples"):
        deploy.verify(result.flatbuffer, model, x, np.arange(3))
    with pytest.raises(deploy.DeployError, match="TFL3"):
        deploy.verify(b"not a flatbuffer", model, x)
    with pytest.raises(deploy.DeployError, match="expected the Keras model"):
        deploy.verify(result.flatbuffer, None, x)


def test_load_verification_data_npz_fits_input_shape(tmp_path):
    x = (np.arange(2 * 28 * 28) % 256).reshape(2, 28, 28).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([3, 4]))
    fitted, y = deploy.load_verification_data(str(tmp_path / "d.npz"), 5, (28, 28, 1))
    assert fitted.shape == (2, 28, 28, 1) and fitted.dtype == np.float32
    np.testing.assert_allclose(fitted[..., 0], x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, [3, 4])
    tiled, _ = deploy.load_verification_data(str(tmp_path / "d.npz"), 1, (28, 28, 3))
    assert tiled.shape == (1, 28, 28, 3)
    np.testing.assert_array_equal(tiled[..., 0], tiled[..., 2])
    with pytest.raises(deploy.DeployError, match="unknown verification dataset 'nope'"):
        deploy.load_verification_data("nope", 5)
    with pytest.raises(deploy.DeployError, match=">= 1"):
        deploy.load_verification_data(str(tmp_path / "d.npz"), 0)


# ======================================================================================
# Flatbuffer checks (LCE's interpreter would crash on these)
# ======================================================================================
def test_check_flatbuffer_rejects_corrupt_data(tiny):
    _, result = tiny
    data = result.flatbuffer
    assert deploy.check_flatbuffer(data) == data
    with pytest.raises(deploy.DeployError, match="TFL3"):
        deploy.check_flatbuffer(b"hello world, not a model")
    with pytest.raises(deploy.DeployError, match="corrupt TFLite flatbuffer"):
        deploy.check_flatbuffer(data[: len(data) // 2])
    garbage = data[:8] + bytes(np.random.RandomState(0).randint(0, 256, 4000, dtype=np.uint8))
    with pytest.raises(deploy.DeployError, match="corrupt TFLite flatbuffer"):
        deploy.check_flatbuffer(garbage)
    with pytest.raises(deploy.DeployError, match="as bytes"):
        deploy.check_flatbuffer("model.tflite")


# ======================================================================================
# Benchmark
# ======================================================================================
def test_benchmark_rows_and_speedup(tiny, files):
    _, result = tiny
    bench = deploy.benchmark(result.flatbuffer, threads=(1,), runs=4, warmup=1, progress=False)
    assert [(r.model, r.threads, r.runs) for r in bench.rows] == [("lce", 1, 4)]
    row = bench.rows[0]
    assert 0 < row.min_ms <= row.median_ms <= row.p90_ms
    assert bench.speedup(1) is None
    assert any("no float baseline" in n for n in bench.notes)
    assert any("not the optimized ARM" in n for n in bench.notes)
    for bad in (dict(threads=(0,)), dict(runs=0), dict(warmup=-1)):
        with pytest.raises(deploy.DeployError):
            deploy.benchmark(result.flatbuffer, progress=False, **bad)


def test_run_benchmark_with_float_baseline(files, capsys, tmp_path):
    args = _namespace(model=str(files / "model.tflite"), threads=[1, 2], runs=3,
                      keras_model=str(files / "model.keras"), json=str(tmp_path / "b.json"))
    assert benchmark_command.run(args) == deploy.EXIT_OK
    out = capsys.readouterr().out
    assert "| lce | 2 |" in out and "| float | 1 |" in out
    assert "speedup" in out and "not the optimized ARM" in out
    report = json.loads((tmp_path / "b.json").read_text())
    rows = {(r["model"], r["threads"]): r for r in report["rows"]}
    assert set(rows) == {("lce", 1), ("lce", 2), ("float", 1), ("float", 2)}
    assert report["speedup"]["1"] == pytest.approx(
        rows[("float", 1)]["median_ms"] / rows[("lce", 1)]["median_ms"]
    )


# ======================================================================================
# The command line
# ======================================================================================
def test_parsers_register_and_parse():
    parser = argparse.ArgumentParser(prog="larq-nobn")
    subparsers = parser.add_subparsers(dest="command")
    assert convert_command.add_parser(subparsers) is subparsers.choices["convert"]
    assert benchmark_command.add_parser(subparsers) is subparsers.choices["benchmark"]
    args = parser.parse_args(["convert", "m.keras", "-o", "m.tflite", "--target", "xcore",
                              "--verify-dataset", "fashion_mnist", "--verify-samples", "7"])
    assert (args.output, args.target, args.verify_samples) == ("m.tflite", "xcore", 7)
    assert args.unsafe_load is False
    args = parser.parse_args(["benchmark", "m.tflite", "--threads", "1", "2", "4"])
    assert args.threads == [1, 2, 4]
    # The `larq-nobn` parser dispatches both subcommands to their modules.
    main_parser = cli.build_parser()
    assert main_parser.parse_args(["convert", "m.keras"])._handler is convert_command.run
    assert main_parser.parse_args(["benchmark", "m.tflite"])._handler is benchmark_command.run
    for bad in (["convert", "m.keras", "--target", "x86"],
                ["benchmark", "m.tflite", "--threads", "0"],
                ["convert", "m.keras", "--verify-threshold", "1.5"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(bad)
        assert exit_.value.code == 2


def test_run_convert_end_to_end(files, capsys, tmp_path):
    args = _namespace(model=str(files / "model.keras"), output=str(tmp_path / "out.tflite"),
                      verify_dataset=str(files / "verify.npz"), verify_samples=16,
                      json=str(tmp_path / "report.json"))
    assert convert_command.run(args) == deploy.EXIT_OK
    out = capsys.readouterr().out
    data = (tmp_path / "out.tflite").read_bytes()
    assert data[4:8] == b"TFL3"
    # The export moves the tiny model's max-pool after its BN: 2 bitpacked, not 1.
    assert "(2 with bitpacked output)" in out and "PASSED" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ops"]["num_bconv"] == 3 and report["ops"]["num_bitpacked"] == 2
    assert report["export"]["moved_pools"]
    assert report["verification"]["samples"] == 16
    assert report["verification"]["agreement"] == 1.0
    assert report["size"]["file_bytes"] == len(data)


@tf.keras.utils.register_keras_serializable(package="test_deploy")
class InferenceNoise(L.Layer):
    """Adds fresh noise at inference too: Keras and LCE cannot agree."""

    def call(self, inputs):
        return inputs + tf.random.normal(tf.shape(inputs), stddev=100.0)


def test_unsafe_load_and_verification_failure_exit_code(tmp_path, capsys):
    tf.keras.utils.set_random_seed(2)
    inputs = tf.keras.Input((4,))
    x = L.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = L.Dense(10, name="head")(x)
    model = tf.keras.Model(inputs, InferenceNoise(name="noise")(x))
    path = tmp_path / "noisy.keras"
    model.save(path)
    np.savez(tmp_path / "v.npz", x=np.random.RandomState(0).rand(64, 4).astype("float32"))
    common = dict(model=str(path), output=str(tmp_path / "noisy.tflite"),
                  verify_dataset=str(tmp_path / "v.npz"), verify_samples=64)

    assert convert_command.run(_namespace(**common)) == deploy.EXIT_BAD_INPUT
    _assert_one_line_error(capsys, "convert", "Lambda", "'double'", "--unsafe-load")
    assert not (tmp_path / "noisy.tflite").exists()

    assert convert_command.run(_namespace(unsafe_load=True, **common)) == (
        deploy.EXIT_VERIFICATION_FAILED
    )
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "verification failed" in captured.err
    assert (tmp_path / "noisy.tflite").read_bytes()[4:8] == b"TFL3"


def test_safe_mode_refuses_lambda_in_every_format(tmp_path):
    inputs = tf.keras.Input((3,))
    outputs = L.Dense(2)(L.Lambda(lambda t: t + 1.0, name="plus_one")(inputs))
    model = tf.keras.Model(inputs, outputs)
    x = np.ones((1, 3), "float32")
    for name, kwargs in (("m.keras", {}), ("m.h5", {}), ("m_saved", {"save_format": "tf"})):
        path = tmp_path / name
        model.save(path, **kwargs)
        with pytest.raises(deploy.DeployError, match=r"'plus_one'.*--unsafe-load"):
            deploy.load_keras_model(path)
        if name != "m_saved":  # reviving a SavedModel's Lambda is slow; .keras/.h5 suffice
            loaded = deploy.load_keras_model(path, safe_mode=False)
            np.testing.assert_allclose(loaded.predict(x, verbose=0),
                                       model.predict(x, verbose=0), rtol=1e-6)


def _corrupt_inputs(directory, files):
    (directory / "random.keras").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    (directory / "notes.txt").write_text("this is not a model\n")
    (directory / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    (directory / "empty.keras").write_bytes(b"")
    (directory / "no_model_dir").mkdir(exist_ok=True)
    return {
        "missing": (str(directory / "missing.keras"), "not found"),
        "corrupt zip": (str(directory / "random.keras"), "corrupt"),
        "text file": (str(directory / "notes.txt"), "not a Keras model file"),
        "broken h5": (str(directory / "broken.h5"), "broken.h5"),
        "empty": (str(directory / "empty.keras"), "is empty"),
        "tflite": (str(files / "model.tflite"), "TFLite flatbuffer, not a Keras model"),
        "directory": (str(directory / "no_model_dir"), "not a SavedModel"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "corrupt zip", "text file", "broken h5", "empty", "tflite", "directory"]
)
def test_run_convert_bad_model_files(case, files, tmp_path, capsys):
    path, fragment = _corrupt_inputs(tmp_path, files)[case]
    args = _namespace(model=path, output=str(tmp_path / "out.tflite"))
    assert convert_command.run(args) == deploy.EXIT_BAD_INPUT
    _assert_one_line_error(capsys, "convert", fragment)
    assert not (tmp_path / "out.tflite").exists()


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(target="x86"), "unknown target 'x86'"),
        (dict(verify_dataset="no_such_dataset", verify_samples=5), "no_such_dataset"),
        (dict(verify_dataset="fashion_mnist", verify_samples=0), "--verify-samples"),
        (dict(verify_threshold=0.0), "--verify-threshold"),
        (dict(output="/nonexistent-dir/x.tflite"), "output directory does not exist"),
    ],
)
def test_run_convert_bad_arguments(changes, fragment, files, capsys):
    args = _namespace(model=str(files / "model.keras"), output=str(files / "bad.tflite"))
    for key, value in changes.items():
        setattr(args, key, value)
    assert convert_command.run(args) == deploy.EXIT_BAD_INPUT
    _assert_one_line_error(capsys, "convert", fragment)
    assert not (files / "bad.tflite").exists()


def test_run_benchmark_bad_inputs(files, tmp_path, capsys):
    data = (files / "model.tflite").read_bytes()
    (tmp_path / "half.tflite").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.tflite").write_text("hello\n")
    (tmp_path / "tail.tflite").write_bytes(data[:8] + bytes(1000))
    (tmp_path / "other.keras").write_bytes((files / "model.keras").read_bytes())
    inputs = tf.keras.Input((5,))
    tf.keras.Model(inputs, L.Dense(2)(inputs)).save(tmp_path / "mismatch.keras")
    model = str(files / "model.tflite")
    cases = [
        (dict(model=str(tmp_path / "missing.tflite")), "not found"),
        (dict(model=str(tmp_path / "text.tflite")), "not a TFLite flatbuffer"),
        (dict(model=str(tmp_path / "half.tflite")), "corrupt TFLite flatbuffer"),
        (dict(model=str(tmp_path / "tail.tflite")), "corrupt TFLite flatbuffer"),
        (dict(model=str(tmp_path / "other.keras")), "looks like a Keras model"),
        (dict(model=str(tmp_path)), "is a directory"),
        (dict(model=model, threads=[0]), "thread counts"),
        (dict(model=model, runs=0), "runs must be"),
        (dict(model=model, keras_model=str(tmp_path / "missing.keras")), "not found"),
        (dict(model=model, keras_model=str(tmp_path / "mismatch.keras")), "not the same network"),
    ]
    for changes, fragment in cases:
        assert benchmark_command.run(_namespace(**changes)) == deploy.EXIT_BAD_INPUT, changes
        _assert_one_line_error(capsys, "benchmark", fragment)


def test_saved_flatbuffer_honours_the_umask(tiny, tmp_path):
    # An ordinary new file: 0o666 less the umask, not mkstemp's 0o600.
    _, result = tiny
    previous = os.umask(0o022)
    try:
        path = result.save(tmp_path / "model.tflite")
    finally:
        os.umask(previous)
    assert path.read_bytes() == result.flatbuffer
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    with pytest.raises(deploy.DeployError, match="output directory does not exist"):
        result.save(tmp_path / "missing" / "model.tflite")
    with pytest.raises(deploy.DeployError, match="output path is a directory"):
        result.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]  # no leftovers


def test_convert_api_bad_input(tiny):
    model, _ = tiny
    with pytest.raises(deploy.DeployError, match="unknown target 'x86'"):
        deploy.convert(model, "x86")
    with pytest.raises(deploy.DeployError, match="expected a tf.keras.Model"):
        deploy.convert(42)
    with pytest.raises(deploy.DeployError, match="not found"):
        deploy.convert("/nonexistent/model.keras")
    assert issubclass(deploy.DeployError, ValueError)


def test_keras_zip_under_other_name_is_explained(files, tmp_path):
    with zipfile.ZipFile(files / "model.keras") as archive:
        assert "config.json" in archive.namelist()
    (tmp_path / "model.zip").write_bytes((files / "model.keras").read_bytes())
    with pytest.raises(deploy.DeployError, match="rename it"):
        deploy.load_keras_model(tmp_path / "model.zip")


def test_convert_of_a_tflite_without_output_names_the_mistake(files, capsys):
    # The default output would be the input itself; the kind of file is the real error.
    args = _namespace(model=str(files / "model.tflite"))
    assert convert_command.run(args) == deploy.EXIT_BAD_INPUT
    _assert_one_line_error(capsys, "convert", "TFLite flatbuffer, not a Keras model")


def test_layer_names_from_truncated_tensor_names():
    known = {"stem_conv", "conv1", "conv2"}
    # TFLite cuts fused names at 50 characters and appends a numeric suffix.
    name = "binarynet_bf/conv1/r_sign/add;binarynet_bf/stem_co" + "1"
    assert len(name) == 51
    assert layer_names_in(name, known, "binarynet_bf") == ["conv1", "stem_conv"]
    # Not truncated: a partial component is not a layer.
    assert layer_names_in("m/conv1/add;m/stem_co", known, "m") == ["conv1"]
    # Ambiguous stub ("conv" starts conv1 and conv2): no guess.
    ambiguous = "binarynet_bf/conv2/r_sign/add;binarynet_bf/xy/conv"
    assert len(ambiguous) == 50
    assert layer_names_in(ambiguous, known, "binarynet_bf") == ["conv2"]
    # Without the Keras model: the component after the model name.
    assert layer_names_in("m/conv2/QuantConv2D;m/bn2/FusedBatchNormV3", None, None) == [
        "conv2",
        "bn2",
    ]
