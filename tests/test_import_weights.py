"""`larq-nobn import-weights` (issue 16): a state_dict of the authors' PyTorch code (a
golden fixture of tests/reference/fixtures, weights under the reference's names) ->
`.keras` -> `larq-nobn convert` -> a `.tflite` whose LCE interpreter agrees with the
Keras model, which computes the reference's logits."""

import json
import sys

from larq_nobn import cli, deploy

import numpy as np
import pytest
import tensorflow as tf
from reference.equivalence import FIXTURES, load_fixture

FIXTURE = "binarynet_bn"
# The fixture's model: gushan/ABN vgg_cifar10_binary with every width / 16.
OPTIONS = ["--architecture", "binarynet", "--norm", "bn", "--width-multiplier", "0.0625"]


def run_main(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def import_weights(source, output, capsys, options=OPTIONS):
    return run_main(["import-weights", str(source), *options, "-o", str(output)], capsys)


def test_imported_model_computes_the_reference_and_converts(tmp_path, capsys):
    keras_path = tmp_path / "vgg.keras"
    code, out, err = import_weights(FIXTURES / f"{FIXTURE}.npz", keras_path, capsys)
    assert (code, err) == (0, "")
    assert f"wrote {keras_path}" in out
    store = load_fixture(FIXTURE)
    x = store["input"].transpose(0, 2, 3, 1)  # NCHW -> NHWC
    model = deploy.load_keras_model(keras_path)
    # The reference's eval-mode log-softmax outputs, from the saved and reloaded model.
    log_probs = tf.nn.log_softmax(model(x, training=False)).numpy()
    reference = store["eval_output"]
    assert np.abs(log_probs - reference).max() < 1e-4 * np.abs(reference).max()

    batch, tflite, report = tmp_path / "batch.npz", tmp_path / "vgg.tflite", tmp_path / "r.json"
    np.savez(batch, x=x, y=store["labels"])
    code, out, err = run_main(
        ["convert", str(keras_path), "-o", str(tflite), "--verify-dataset", str(batch),
         "--verify-samples", str(len(x)), "--json", str(report)],
        capsys,
    )
    assert code == 0, err
    assert tflite.stat().st_size > 0
    verification = json.loads(report.read_text())["verification"]
    assert verification["samples"] == len(x)
    assert verification["agreement"] == 1.0
    scale = np.abs(model.predict(x, verbose=0)).max()
    assert verification["max_abs_diff"] < 1e-3 * scale


def _weights(name=FIXTURE):
    store = load_fixture(name)
    return {k[len("weight/"):]: v for k, v in store.items() if k.startswith("weight/")}


def test_parameters_that_do_not_fit_fail_in_one_line(tmp_path, capsys):
    weights = _weights()
    del weights["features.3.weight"]
    weights["extra.weight"] = np.zeros(3)
    source = tmp_path / "vgg.npz"
    np.savez(source, **weights)
    output = tmp_path / "vgg.keras"
    # Twice the fixture's width: every convolution, dense and norm is mis-shaped.
    options = OPTIONS[:-1] + ["0.125"]
    code, out, err = import_weights(source, output, capsys, options)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert "import-weights: error:" in err
    assert "1 missing: features.3.weight" in err
    assert "1 unexpected: extra.weight" in err
    # 43 parameters: 9 kernels (one missing) and the norms' vectors, all but the
    # 10-class classifier norm's moving mean and variance (no scale and center), and
    # the 7 biases folded into moving means (6 convolutions, dense2; not the 10-class
    # classifier's).
    assert "47 mis-shaped: " in err and "(42 more)" in err
    assert not output.exists()


def test_bad_options_and_files_fail_in_one_line(tmp_path, capsys, monkeypatch):
    source = FIXTURES / f"{FIXTURE}.npz"
    cases = {
        "stem='cifar' is an option of architecture 'reactnet18' only": (
            source, [*OPTIONS, "--stem", "cifar"]),
        "must end with .keras": (source, OPTIONS, tmp_path / "vgg.h5"),
        "No reference weights file": (tmp_path / "absent.npz", OPTIONS),
        "accepted endings are .npz, .pth, .pth.tar": (tmp_path / "vgg.h5", OPTIONS),
        "do not fit 'reactnet18_bn' (reactnet18): ": (
            source, ["--architecture", "reactnet18"] + OPTIONS[2:]),
    }
    for expected, (path, options, *output) in cases.items():
        output = output[0] if output else tmp_path / "out.keras"
        code, out, err = import_weights(path, output, capsys, options)
        assert (code, out) == (2, ""), expected
        assert len(err.splitlines()) == 1 and expected in err, err
    pth = tmp_path / "model_best.pth.tar"
    pth.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # as where torch is not installed
    code, _, err = import_weights(pth, tmp_path / "out.keras", capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "needs PyTorch (pip install torch)" in err and "np.savez(" in err


def test_default_output_is_the_source_name_with_keras(tmp_path, capsys):
    source = tmp_path / "model_best.npz"
    np.savez(source, **_weights())
    code, out, _ = run_main(["import-weights", str(source), *OPTIONS], capsys)
    assert code == 0
    assert (tmp_path / "model_best.keras").is_file()
    # The saved model holds the loaded weights, not a fresh initialization.
    model = deploy.load_keras_model(tmp_path / "model_best.keras")
    np.testing.assert_array_equal(
        model.get_layer("conv1").kernel.numpy(),
        _weights()["features.3.weight"].astype(np.float32).transpose(2, 3, 1, 0),
    )


@pytest.mark.parametrize("name", ["model_best.pth.tar", "checkpoint.pth", "w.npz"])
def test_default_output_names(name, tmp_path):
    from larq_nobn.cli.import_weights import _output

    parser = cli.build_parser()
    args = parser.parse_args(["import-weights", str(tmp_path / name), *OPTIONS])
    stem = name.split(".")[0]
    assert _output(args) == tmp_path / f"{stem}.keras"
