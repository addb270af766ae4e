"""No code runs from untrusted model files: one Lambda model per format (`.keras`,
`.h5`, SavedModel) whose Lambda writes a marker file when executed, tried through every
command and function that loads a model. Also the one-line failures of bad model
files and the weights formats of the zoo's `weights=`.

Tiny models (a Dense layer on 28x28x1); the Lambda files are built once per module.
"""

import json
import os
import shutil
import zipfile

from larq_nobn import cli, deploy, files, training, zoo
from larq_nobn.deploy import loading

import numpy as np
import pytest
import tensorflow as tf

L = tf.keras.layers
FORMATS = ("lambda.keras", "lambda.h5", "lambda_savedmodel")


def _touch_marker(t, marker="MARKER"):
    open(marker, "w").close()
    return t


@pytest.fixture(scope="module")
def lambda_files(tmp_path_factory):
    """`{format: path}` of one Lambda model per format, and the marker its code writes."""
    folder = tmp_path_factory.mktemp("lambda")
    marker = str(folder / "MARKER")

    def touch(t, marker=marker):  # stored as bytecode with its default
        return _touch_marker(t, marker)

    inputs = L.Input((28, 28, 1))
    outputs = L.Dense(10)(L.Flatten()(L.Lambda(touch, name="evil")(inputs)))
    model = tf.keras.Model(inputs, outputs)
    paths = {name: str(folder / name) for name in FORMATS}
    model.save(paths["lambda.keras"])
    model.save(paths["lambda.h5"])
    model.save(paths["lambda_savedmodel"], save_format="tf")
    os.remove(marker)  # written while the model was built and traced
    plain = tf.keras.Model(inputs, L.Dense(10)(L.Flatten()(inputs)))
    tflite = folder / "plain.tflite"
    tflite.write_bytes(deploy.convert(plain).flatbuffer)
    return {"paths": paths, "marker": marker, "tflite": str(tflite), "dir": folder}


def _commands(path, lambda_files, tmp_path):
    """The argv of every command that loads `path` as a model."""
    run_dir = tmp_path / "run"
    resume_dir = tmp_path / "resume"
    (resume_dir / "checkpoints").mkdir(parents=True)
    files.write_json(
        resume_dir / "config.json", training.TrainConfig(output=str(resume_dir)).to_dict()
    )
    if os.path.isfile(path):
        shutil.copyfile(path, resume_dir / "checkpoints" / "last.keras")
    common = ["--epochs", "1", "--batch-size", "8", "--max-train-samples", "8",
              "--max-test-samples", "8", "--verbose", "0", "--width-multiplier", "0.0625"]
    return {
        "evaluate": ["evaluate", path, "--dataset", "fashion_mnist"],
        "convert": ["convert", path, "-o", str(tmp_path / "x.tflite")],
        "benchmark": ["benchmark", lambda_files["tflite"], "--keras-model", path,
                      "--runs", "1", "--warmup", "0"],
        "train --teacher": ["train", "--teacher", path, "--output", str(run_dir), *common],
        "train --resume": ["train", "--output", str(resume_dir), "--resume"],
    }


@pytest.mark.parametrize("name", FORMATS)
def test_every_command_refuses_stored_code(lambda_files, name, tmp_path, capsys):
    path = lambda_files["paths"][name]
    for command, argv in _commands(path, lambda_files, tmp_path).items():
        if command == "train --resume" and not name.endswith(".keras"):
            continue  # a checkpoint is always a .keras archive
        code = cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 2, (command, err)
        assert len(err.splitlines()) == 1, (command, err)
        if command == "train --resume":  # resume reads the weights only: no config
            assert "checkpoints/last.keras" in err and "not a larq-nobn training" in err
        else:
            assert path in err, (command, err)
            assert "Lambda layer 'evil'" in err and "--unsafe-load" in err, err
        assert not os.path.exists(lambda_files["marker"]), command


@pytest.mark.parametrize("name", FORMATS)
def test_python_api_refuses_stored_code(lambda_files, name):
    path = lambda_files["paths"][name]
    calls = {
        "load_keras_model": lambda: deploy.load_keras_model(path),
        "convert": lambda: deploy.convert(path),
        "evaluate_model": lambda: training.evaluate_model(path, "fashion_mnist"),
        "load_teacher": lambda: training.models.load_teacher(path),
    }
    if name.endswith(".keras"):
        calls["weights="] = lambda: zoo.BinaryNet(input_shape=(28, 28, 1), weights=path)
    for call, function in calls.items():
        with pytest.raises(deploy.DeployError, match=r"Lambda layer 'evil'.*safe_mode=False"):
            function()
        assert not os.path.exists(lambda_files["marker"]), call


def test_weights_h5_reads_arrays_only(lambda_files):
    """weights= of an HDF5 file reads arrays by layer name: nothing is deserialized,
    so a file saved from a Lambda model runs no code (its names do not fit BinaryNet)."""
    with pytest.raises(ValueError, match="has no weights for layer"):
        zoo.BinaryNet(input_shape=(28, 28, 1), weights=lambda_files["paths"]["lambda.h5"])
    assert not os.path.exists(lambda_files["marker"])


@pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])  # reviving a SavedModel's
def test_opt_in_runs_the_code(lambda_files, name, capsys):  # Lambda is slow: 2 suffice
    path, marker = lambda_files["paths"][name], lambda_files["marker"]
    model = deploy.load_keras_model(path, safe_mode=False)
    assert os.path.exists(marker) and model.get_layer("evil") is not None
    os.remove(marker)
    with deploy.unsafe_loading():
        training.models.load_teacher(path)
    assert os.path.exists(marker)
    os.remove(marker)
    # The CLI flag passes the gate: the model loads (the marker appears), then its
    # input shape is checked against cifar10's before any data is read.
    code = cli.main(["evaluate", path, "--dataset", "cifar10", "--unsafe-load"])
    err = capsys.readouterr().err
    assert code == 2 and "takes inputs of shape (28, 28, 1)" in err
    assert os.path.exists(marker)
    os.remove(marker)


def test_untrusted_module_reference_is_refused(tmp_path):
    """A `.keras` config may name any module to import: only Keras, TensorFlow, Larq
    and larq_nobn are trusted."""
    inputs = L.Input((4,))
    model = tf.keras.Model(inputs, L.Dense(2)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(entries["config.json"])
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": "antigravity", "class_name": "function", "config": "geohash",
        "registered_name": "geohash"}
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    with pytest.raises(deploy.DeployError, match="'antigravity.geohash'.*--unsafe-load"):
        deploy.load_keras_model(path)
    assert loading.stored_code({"class_name": "function", "module": "builtins",
                                "config": "eval"}) == ["a reference to 'builtins.eval'"]
    assert loading.stored_code({"class_name": "function", "module": "builtins",
                                "config": "relu"}) == []


# --------------------------------------------------------------------------------------
# One-line failures of bad model files
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def five_classes(tmp_path_factory):
    inputs = L.Input((28, 28, 1))
    path = str(tmp_path_factory.mktemp("five") / "five.keras")
    tf.keras.Model(inputs, L.Dense(5)(L.Flatten()(inputs))).save(path)
    return path


def _one_line_error(argv, capsys):
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    return err


def test_evaluate_bad_files(five_classes, tmp_path, capsys, monkeypatch):
    err = _one_line_error(["evaluate", str(tmp_path / "nope.keras")], capsys)
    assert "not found" in err and "nope.keras" in err and "--dataset" not in err
    err = _one_line_error(["evaluate", five_classes, "--dataset", "fashion_mnist"], capsys)
    assert "five.keras" in err and "(None, 5)" in err and "10 classes" in err
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"x" * 64)  # HDF5 magic, then junk
    err = _one_line_error(["evaluate", str(corrupt), "--dataset", "fashion_mnist"], capsys)
    assert "corrupt.h5" in err and "corrupt" in err
    # Tests run as root, where chmod 000 does not deny reading: the denial is simulated.
    def denied(path, size=16):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(loading, "read_head", denied)
    err = _one_line_error(["evaluate", five_classes, "--dataset", "fashion_mnist"], capsys)
    assert "five.keras" in err and "Permission denied" in err and "permissions" in err


def test_evaluate_names_a_corrupt_config_json(five_classes, tmp_path, capsys):
    model = tmp_path / "model.keras"
    shutil.copyfile(five_classes, model)
    (tmp_path / "config.json").write_text("{not json")
    err = _one_line_error(["evaluate", str(model)], capsys)
    assert str(tmp_path / "config.json") in err and "--dataset" in err


# --------------------------------------------------------------------------------------
# weights=: every weights file tf-keras writes
# --------------------------------------------------------------------------------------
def test_weights_files_round_trip(tmp_path):
    """BinaryNet bf: ScaledWS convs with RSign quantizers (nested layers with weights)."""
    kwargs = dict(input_shape=(28, 28, 1), width_multiplier=0.0625, norm="bf")
    model = zoo.BinaryNet(**kwargs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in model.get_weights()])
    x = rng.normal(size=(2, 28, 28, 1)).astype("float32")
    expected = model(x).numpy()
    saves = {
        "w.weights.h5": model.save_weights,
        "w.h5": model.save_weights,
        "m.h5": model.save,
        "m.keras": model.save,
    }
    for name, save in saves.items():
        save(str(tmp_path / name))
        loaded = zoo.BinaryNet(weights=str(tmp_path / name), **kwargs)
        np.testing.assert_array_equal(loaded(x).numpy(), expected, err_msg=name)
    features = zoo.BinaryNet(weights=str(tmp_path / "w.weights.h5"), include_top=False,
                             pooling="avg", **kwargs)
    reference = zoo.BinaryNet(weights=str(tmp_path / "w.h5"), include_top=False,
                              pooling="avg", **kwargs)
    np.testing.assert_array_equal(features(x).numpy(), reference(x).numpy())
    with pytest.raises(ValueError, match="w.weights.h5"):
        zoo.BinaryNet(weights=str(tmp_path / "w.weights.h5"),
                      **dict(kwargs, width_multiplier=0.125))


# --------------------------------------------------------------------------------------
# .h5 saving of a model restored from .keras
# --------------------------------------------------------------------------------------
def test_trained_model_from_keras_saves_as_h5(tmp_path):
    """A restored model's variables keep their `layer/` names (tf-keras built custom
    layers outside their name scope: duplicate optimizer slot names broke `.h5`)."""
    import larq_nobn

    model = zoo.BinaryNet(input_shape=(28, 28, 1), width_multiplier=0.0625, norm="bf")
    model.compile(larq_nobn.AGC(tf.keras.optimizers.Adam(1e-3)),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 28, 28, 1)).astype("float32")
    model.fit(x, np.arange(8) % 10, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = tf.keras.models.load_model(tmp_path / "model.keras")
    names = [w.name for w in restored.weights]
    assert len(set(names)) == len(names)
    assert [w.name for w in restored.layers[1].weights] == [
        w.name for w in model.layers[1].weights]
    restored.save(tmp_path / "model.h5")
    again = tf.keras.models.load_model(tmp_path / "model.h5")
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())
    assert int(again.optimizer.iterations.numpy()) == 1


# --------------------------------------------------------------------------------------
# Damaged run and search files: one line that names the file
# --------------------------------------------------------------------------------------
FMNIST = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The output folder of an interrupted one-epoch run (tiny BinaryNet): its
    config.json and a checkpoint written by `save_checkpoint` (no training needed to
    damage copies of it)."""
    output = tmp_path_factory.mktemp("run") / "run"
    config = training.TrainConfig(output=str(output), data_dir=FMNIST, epochs=1,
                                  batch_size=8, max_train_samples=16,
                                  max_test_samples=16, width_multiplier=0.0625)
    output.mkdir()
    files.write_json(output / "config.json", config.to_dict())
    model = training.build_model(config, (28, 28, 1), 10)
    state = {"config": config.to_dict(), "epoch": 1, "batch": 0, "optimizer_iterations": 2}
    training.save_checkpoint(model, str(output / "checkpoints" / "last.keras"), state)
    return output


def _resume(run, tmp_path, capsys, damage):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    damage(copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    err = _one_line_error(["train", "--output", str(copy), "--resume", "--epochs", "2"],
                          capsys)
    checkpoint = copy / "checkpoints" / "last.keras"
    assert checkpoint.read_bytes() == before[checkpoint]  # nothing lost
    return err, copy


def test_damaged_checkpoint_on_resume(trained_run, tmp_path, capsys):
    def flip_bytes(copy):  # the archive's index is intact, a member's bytes are not
        path = copy / "checkpoints" / "last.keras"
        content = bytearray(path.read_bytes())
        middle = len(content) // 3
        content[middle : middle + 200] = bytes(b ^ 0xFF for b in content[middle : middle + 200])
        path.write_bytes(bytes(content))

    err, copy = _resume(trained_run, tmp_path, capsys, flip_bytes)
    assert str(copy / "checkpoints" / "last.keras") in err and "corrupt" in err
    assert "--overwrite" in err


def test_damaged_training_state_on_resume(trained_run, tmp_path, capsys):
    def damage_state(copy):
        path = copy / "checkpoints" / "last.keras"
        with zipfile.ZipFile(path) as archive:
            entries = {n: archive.read(n) for n in archive.namelist()}
        entries["training_state.json"] = b'{"epoch": 1,'
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in entries.items():
                archive.writestr(name, content)

    err, copy = _resume(trained_run, tmp_path, capsys, damage_state)
    assert "training_state.json" in err and str(copy / "checkpoints" / "last.keras") in err


def test_damaged_config_json_on_resume(trained_run, tmp_path, capsys):
    err, copy = _resume(trained_run, tmp_path, capsys,
                        lambda copy: (copy / "config.json").write_text('{"model": '))
    assert str(copy / "config.json") in err and "line 1" in err


def test_damaged_search_files(tmp_path, capsys):
    (tmp_path / "search.json").write_text("{")
    err = _one_line_error(["tune", "--output", str(tmp_path), "--resume"], capsys)
    assert str(tmp_path / "search.json") in err and "not valid JSON" in err
    from larq_nobn import tuning

    trial = tmp_path / "keras_tuner" / "trial_0001" / "trial.json"
    trial.parent.mkdir(parents=True)
    (tmp_path / "keras_tuner" / "oracle.json").write_text("{}")
    trial.write_text('{"trial_id": ')
    with pytest.raises(ValueError, match="trial_0001/trial.json.*not valid JSON"):
        tuning.check_project_files(str(tmp_path))


def test_agc_names_a_config_without_class_name():
    import larq_nobn

    with pytest.raises(ValueError, match="\\{'lr': 1\\}.*'class_name' and 'config'"):
        larq_nobn.AGC({"lr": 1})
    wrapped = larq_nobn.AGC({"class_name": "Adam", "config": {"learning_rate": 0.5}})
    assert float(wrapped.learning_rate) == 0.5


def test_benchmark_names_a_tflite_the_interpreter_cannot_allocate(lambda_files, tmp_path,
                                                                  capsys):
    """Graph bytes overwritten (a tensor's buffer index, a shape) so that the file still
    parses as a flatbuffer but LCE's interpreter cannot allocate it."""
    from larq_nobn.deploy.benchmarking import lce_interpreter

    original = open(lambda_files["tflite"], "rb").read()
    damaged = None
    for offset in range(16, len(original) - 4, 97):
        candidate = bytearray(original)
        candidate[offset : offset + 4] = b"\xff\xff\xff\x7f"
        try:
            deploy.check_flatbuffer(bytes(candidate))
            lce_interpreter(bytes(candidate))
        except deploy.DeployError as error:
            if "interpreter cannot load" in str(error):
                damaged = bytes(candidate)
                break
    assert damaged is not None
    path = tmp_path / "damaged.tflite"
    path.write_bytes(damaged)
    err = _one_line_error(["benchmark", str(path), "--runs", "1", "--warmup", "0"], capsys)
    assert str(path) in err and "convert it again" in err
