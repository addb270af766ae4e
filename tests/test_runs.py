"""Tests of what protects a run and its output directory: the run lock (one run per
output directory, stale locks, SIGTERM), `--resume` without its checkpoint, a full
disk, memory-absurd settings refused up front, and the command line's wording of a
missing dataset (with no trace left in the output directory)."""

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile

from larq_nobn import cli, data, training
from larq_nobn.data import tfds_source
from larq_nobn.training import TrainConfig, lock, memory
from larq_nobn.training.checkpoint import disk_full_error

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def run_main(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err):
    return [line for line in err.splitlines() if "error:" in line]


def dead_pid():
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(output, **record):
    os.makedirs(output, exist_ok=True)
    with open(lock.lock_path(output), "w") as stream:
        json.dump(record, stream)


# --------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------
def test_lock_names_its_holder_and_is_released(tmp_path):
    output = str(tmp_path / "run")
    with lock.RunLock(output) as held:
        assert held.created and os.path.isdir(output)
        record = lock.lock_holder(output)
        assert record["pid"] == os.getpid()
        assert record["host"] == socket.gethostname()
        with pytest.raises(lock.OutputLockedError) as caught:
            lock.RunLock(output).acquire()
        message = str(caught.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
        assert "\n" not in message and output in message
        assert caught.value.holder["pid"] == os.getpid()
        # A non-chief worker does not take the lock, and is not stopped by it.
        assert not lock.RunLock(output, enabled=False).acquire().held
    assert lock.lock_holder(output) is None
    assert os.listdir(output) == []  # no temporary file left either


def test_lock_is_released_by_an_exception(tmp_path):
    output = str(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), lock.RunLock(output):
        raise RuntimeError("boom")
    assert lock.lock_holder(output) is None


def test_stale_lock_is_taken_over_with_a_warning(tmp_path, caplog):
    output = str(tmp_path)
    pid = dead_pid()
    write_lock(output, pid=pid, host=socket.gethostname(), started="then")
    with caplog.at_level(logging.WARNING, "larq_nobn"), lock.RunLock(output):
        assert lock.lock_holder(output)["pid"] == os.getpid()
    assert f"stale lock {lock.lock_path(output)} of pid {pid}" in caplog.text
    # A live process with the recorded id but another start time is a new process.
    write_lock(output, pid=os.getpid(), host=socket.gethostname(), create_time=1.0)
    with lock.RunLock(output):
        assert lock.lock_holder(output)["create_time"] != 1.0


def test_lock_of_another_host_says_how_to_remove_it(tmp_path):
    output = str(tmp_path)
    write_lock(output, pid=dead_pid(), host="elsewhere.example", started="then")
    with pytest.raises(lock.OutputLockedError) as caught:
        lock.RunLock(output).acquire()
    message = str(caught.value)
    assert "host elsewhere.example" in message
    assert f"delete {lock.lock_path(output)}" in message
    assert lock.lock_holder(output)["host"] == "elsewhere.example"  # left alone


def test_sigterm_releases_the_lock(tmp_path):
    output = str(tmp_path / "run")
    # The lock module alone (the package would import TensorFlow: slow).
    code = (
        "import importlib.util, time\n"
        f"spec = importlib.util.spec_from_file_location('lock', {lock.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"with module.RunLock({output!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert process.stdout.readline().strip() == "held"
    assert lock.lock_holder(output)["pid"] == process.pid
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert lock.lock_holder(output) is None


def test_second_run_into_a_held_folder_exits_2_and_the_first_completes(
    tmp_path, capsys
):
    output = tmp_path / "run"
    argv = ["train", "--output", str(output), "--epochs", "4"]
    argv += ["--width-multiplier", "0.0625", "--batch-size", "32"]
    argv += ["--max-train-samples", "128", "--max-test-samples", "64", "--verbose", "2"]
    first = subprocess.Popen(
        [sys.executable, "-m", "larq_nobn.cli", *argv, "--run-eagerly"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
    )
    # Wait for its config.json (after the data is loaded): --resume then finds a run.
    deadline = time.time() + 240
    while not (output / "config.json").exists() and time.time() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    assert lock.lock_holder(str(output))["pid"] == first.pid
    for extra in ([], ["--overwrite"], ["--resume"]):
        code, _, err = run_main(argv + extra, capsys)
        assert code == 2, err
        (line,) = error_lines(err)
        assert f"pid {first.pid} on host {socket.gethostname()}" in line
        assert "in use by another run" in line
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    with open(output / "log.csv") as stream:
        lines = stream.read().splitlines()
    assert lines[0].startswith("epoch,") and len(lines) == 5  # one header, 4 epochs
    with open(output / "metrics.json") as stream:
        assert json.load(stream)["epochs"] == 4
    assert zipfile.is_zipfile(output / "model.keras")
    assert not (output / lock.LOCK_NAME).exists()


# --------------------------------------------------------------------------------------
# --resume without its checkpoint
# --------------------------------------------------------------------------------------
def tiny_model():
    inputs = tf.keras.Input((4, 4, 1))
    x = tf.keras.layers.Flatten()(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(2)(x))


def tiny_data():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 4, 4, 1)).astype("float32")
    labels = (images.mean(axis=(1, 2, 3)) > 0).astype("int64")
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    return training.Data(batches, None, batches, (4, 4, 1), 2, 4)


RUN = dict(model_fn=tiny_model, data=tiny_data(), verbose=0, run_eagerly=True)


def test_resume_refuses_when_the_checkpoint_of_trained_epochs_is_gone(
    tmp_path, capsys
):
    output = str(tmp_path / "run")
    training.train(TrainConfig(output=output, epochs=1), **RUN)
    checkpoint = os.path.join(output, "checkpoints", "last.keras")
    os.remove(checkpoint)  # a finished run: extending it needs the checkpoint
    with pytest.raises(FileNotFoundError) as caught:
        training.train(TrainConfig(output=output, epochs=2), resume=True, **RUN)
    message = str(caught.value)
    assert checkpoint in message and "1 epoch(s) in log.csv" in message
    assert "--overwrite" in message
    assert len(training.read_log(os.path.join(output, "log.csv"))) == 1  # untouched
    argv = ["train", "--output", output, "--resume", "--epochs", "2"]
    code, _, err = run_main(argv, capsys)
    assert code == 2 and "Traceback" not in err
    (line,) = error_lines(err)
    assert checkpoint in line


def test_resume_of_a_run_that_trained_nothing_says_it_starts_again(tmp_path, caplog):
    output = str(tmp_path / "run")
    config = TrainConfig(output=output, epochs=1)
    os.makedirs(output)
    with open(os.path.join(output, "config.json"), "w") as stream:
        stream.write(config.to_json())
    with caplog.at_level(logging.WARNING, "larq_nobn"):
        metrics = training.train(config, resume=True, **RUN)
    assert "starting the run from its first epoch" in caplog.text
    assert metrics["optimizer_iterations"] == 4


# --------------------------------------------------------------------------------------
# A full disk
# --------------------------------------------------------------------------------------
def test_disk_full_keeps_the_last_checkpoint_and_resume_continues(
    tmp_path, monkeypatch, capsys
):
    output = str(tmp_path / "run")
    config = TrainConfig(output=output, epochs=2)
    save = tf.keras.Model.save
    calls = []

    def save_until_the_disk_is_full(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # epoch 2's checkpoint: half written, then ENOSPC
            with open(path, "wb") as stream:
                stream.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, path, *args, **kwargs)

    monkeypatch.setattr(tf.keras.Model, "save", save_until_the_disk_is_full)
    with pytest.raises(training.DiskFullError) as caught:
        training.train(config, resume_hint="RESUME-COMMAND", **RUN)
    monkeypatch.undo()
    checkpoint = os.path.join(output, "checkpoints", "last.keras")
    message = str(caught.value)
    assert caught.value.errno == errno.ENOSPC
    assert message.startswith(f"Disk full (no space left on device) writing {checkpoint}")
    assert f"the last checkpoint {checkpoint} (1 complete epoch(s)) is intact" in message
    assert message.endswith("continue with: RESUME-COMMAND.")
    assert sorted(os.listdir(os.path.dirname(checkpoint))) == ["best.keras", "last.keras"]
    assert training.read_checkpoint_state(checkpoint)["epoch"] == 1

    metrics = training.train(config, resume=True, **RUN)
    assert metrics["optimizer_iterations"] == 2 * 4

    # The command line: exit 2, one line.
    def full(*args, **kwargs):
        raise caught.value

    monkeypatch.setattr(training, "train", full)
    code, _, err = run_main(["train", "--output", str(tmp_path / "other")], capsys)
    assert code == 2 and error_lines(err) == [f"larq-nobn: error: {message}"]


def test_disk_full_before_the_first_checkpoint_says_so(tmp_path):
    error = OSError(errno.ENOSPC, "No space left on device", "/x/log.csv")
    message = str(disk_full_error(error, str(tmp_path / "last.keras"), "HINT"))
    assert "writing /x/log.csv" in message
    assert "no checkpoint was written yet" in message


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------
GIB = 2**30


def test_memory_estimate_counts_the_models_weights():
    config = TrainConfig(model="binarynet", width_multiplier=0.25, dataset="cifar10")
    estimate = memory.estimate_memory(config)
    model = training.build_model(config, (32, 32, 3), 10)
    kernels = sum(
        int(np.prod(w.shape)) for w in model.weights if w.name.endswith("kernel:0")
    )
    assert estimate.parameters == kernels == 875_520 + 9 * 3 * 32 + 256 * 10
    assert estimate.model_bytes == 16 * kernels
    assert estimate.batch == config.batch_size


@pytest.mark.parametrize(
    "fields",
    [
        {},
        dict(model="binarynet", width_multiplier=3, batch_size=256, dataset="cifar10"),
        dict(model="reactnet18", batch_size=256, dataset="cifar10"),
        dict(model="binary_resnet18", batch_size=256, dataset="cifar10"),
        dict(model="reactnet_a", batch_size=256, dataset="cifar10"),
    ],
)
def test_reasonable_settings_fit_in_8_gib(fields):
    estimate = training.check_memory(TrainConfig(**fields), available=8 * GIB)
    assert 0 < estimate.total < 8 * GIB


@pytest.mark.parametrize(
    "fields, fragments",
    [
        (
            dict(width_multiplier=1e6),
            ["width_multiplier 1e+06", "needs at least", "PiB", "lower width_multiplier"],
        ),
        (dict(batch_size=10**9), ["batch_size 1000000000", "60000 training examples"]),
        (dict(batch_size=60_000), ["batch_size 60000", "needs at least", "GiB"]),
    ],
)
def test_memory_absurd_settings_are_refused(fields, fragments):
    with pytest.raises(ValueError) as caught:
        training.check_memory(TrainConfig(**fields), available=8 * GIB)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_memory_absurd_width_exits_2_before_creating_the_output(tmp_path, capsys):
    output = tmp_path / "run"
    argv = ["train", "--width-multiplier", "1e6", "--output", str(output)]
    code, _, err = run_main(argv, capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "needs at least" in line and "is available" in line
    assert not output.exists()


# --------------------------------------------------------------------------------------
# A missing dataset on the command line
# --------------------------------------------------------------------------------------
def test_missing_dataset_error_has_both_wordings():
    error = data.DatasetNotFoundError("cifar10 is missing.", tfds_source.CIFAR_HELP)
    assert "data_dir=DIR" in str(error) and "download=True" in str(error)
    assert "--data-dir DIR" in error.cli_message
    assert "data_dir=" not in error.cli_message and "download=" not in error.cli_message
    assert str(data.DatasetNotFoundError("plain")) == "plain"


@pytest.mark.parametrize("existing", [False, True])
def test_offline_cifar10_gives_cli_advice_and_leaves_no_trace(
    tmp_path, monkeypatch, capsys, existing
):
    monkeypatch.setattr(tfds_source, "download_plausible", lambda name: False)
    output = tmp_path / "run"
    if existing:
        output.mkdir()
    argv = ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "tfds")]
    code, _, err = run_main(argv + ["--output", str(output)], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "cifar10 is not prepared" in line and "unreachable" in line
    assert "tfds build cifar10 --data_dir DIR" in line and "--data-dir DIR" in line
    assert "data_dir=" not in line and "download=" not in line
    if existing:
        assert os.listdir(output) == []
    else:
        assert not output.exists()
