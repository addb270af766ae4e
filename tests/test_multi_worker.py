"""`larq-nobn train --strategy multi_worker` with two worker processes on 127.0.0.1,
configured through `TF_CONFIG`: it trains and evaluates, only the chief writes, the
result is a single-worker run's with the same global batch, and a job whose worker is
killed mid-epoch restarts from the chief's last checkpoint.

Tiny sizes: BinaryNet at width 1/16 without BN (`--norm bf`, AGC on), 2 epochs of 4
global batches of 32 (16 per worker), evaluated on 64 test images. The steps run
eagerly: tracing under a strategy costs more than these few steps.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from larq_nobn import training
from larq_nobn.training.loop import WORKER_DIR_PREFIX
from tests.test_cli import ROOT, fashion_dir  # noqa: F401  (the data fixture)

import numpy as np
import pytest
import tensorflow as tf

TIMEOUT = 240  # seconds a worker may take (2 loaded cores)
EPOCHS, BATCH, SAMPLES, TEST_SAMPLES = 2, 32, 128, 64
STEPS = SAMPLES // BATCH


def run_options(data_dir):
    """The run's settings, as `train` options and as `TrainConfig` fields."""
    fields = dict(
        norm="bf",
        epochs=EPOCHS,
        width_multiplier=0.0625,
        batch_size=BATCH,
        max_train_samples=SAMPLES,
        max_test_samples=TEST_SAMPLES,
        data_dir=data_dir,
    )
    argv = []
    for key, value in fields.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    return argv, fields


def free_ports(count):
    """`count` ports free on 127.0.0.1 now (bound together, so all different)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Job:
    """Two `larq-nobn train` worker processes of one cluster (worker 0 is the chief),
    each with its own output files and temporary directory; every process still
    running is killed on exit."""

    def __init__(self, folder, argvs):
        self.folder = folder
        ports = free_ports(len(argvs))
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        self.processes, self.logs = [], []
        try:
            self._start(folder, cluster, argvs)
        except BaseException:
            self.__exit__()
            raise

    def _start(self, folder, cluster, argvs):
        for index, argv in enumerate(argvs):
            tmp = folder / f"tmp{index}"
            tmp.mkdir(parents=True)
            task = {"type": "worker", "index": index}
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps({"cluster": cluster, "task": task}),
                TF_CPP_MIN_LOG_LEVEL="2",
                TMPDIR=str(tmp),
            )
            log = open(folder / f"worker{index}.log", "w")
            self.logs.append(log)
            command = [sys.executable, "-m", "larq_nobn.cli", "train"] + argv
            self.processes.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
                )
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        for log in self.logs:
            log.close()

    def output(self, index):
        return (self.folder / f"worker{index}.log").read_text()

    def wait(self, index):
        """The exit status of a worker (at most `TIMEOUT` seconds)."""
        return self.processes[index].wait(timeout=TIMEOUT)

    def worker_dirs(self, index):
        """The non-chief temporary directories left in a worker's TMPDIR."""
        tmp = self.folder / f"tmp{index}"
        return [p for p in os.listdir(tmp) if p.startswith(WORKER_DIR_PREFIX)]


def weights(path):
    """The weights and the optimizer variables of a saved model."""
    model = tf.keras.models.load_model(path)
    return model.get_weights(), [v.numpy() for v in model.optimizer.variables()]


def max_difference(a, b):
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def read_json(path):
    with open(path) as stream:
        return json.load(stream)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, fashion_dir):  # noqa: F811
    """A 2-worker run from scratch; the non-chief is given its own output folder (as
    on another host) so that anything it writes there shows."""
    folder = tmp_path_factory.mktemp("two_workers")
    argv, fields = run_options(fashion_dir)
    argv += ["--strategy", "multi_worker", "--run-eagerly", "--verbose", "2"]
    outputs = [folder / "chief", folder / "other_host"]
    started = time.perf_counter()
    with Job(folder, [argv + ["--output", str(out)] for out in outputs]) as job:
        codes = [job.wait(0), job.wait(1)]
        logs = [job.output(0), job.output(1)]
        left = [job.worker_dirs(0), job.worker_dirs(1)]
    return dict(
        codes=codes,
        logs=logs,
        left=left,
        outputs=outputs,
        fields=fields,
        seconds=time.perf_counter() - started,
    )


def test_two_workers_train_evaluate_and_only_the_chief_writes(two_workers):
    assert two_workers["codes"] == [0, 0], two_workers["logs"]
    chief, other = two_workers["outputs"]
    assert not other.exists()  # the non-chief created nothing in its --output
    assert two_workers["left"] == [[], []]  # nor left a temporary directory
    for name in ("config.json", "metrics.json", "model.keras", "log.csv"):
        assert (chief / name).is_file(), name
    assert (chief / "checkpoints" / "last.keras").is_file()
    assert read_json(chief / "config.json")["strategy"] == "multi_worker"
    log = (chief / "log.csv").read_text().splitlines()
    assert len(log) == 1 + EPOCHS and log[0].startswith("epoch,")
    assert [row["epoch"] for row in training.read_log(str(chief / "log.csv"))] == [0, 1]
    state = training.read_checkpoint_state(str(chief / "checkpoints" / "last.keras"))
    assert (state["epoch"], state["optimizer_iterations"]) == (EPOCHS, EPOCHS * STEPS)
    assert "Traceback" not in "".join(two_workers["logs"])

    # The evaluation covered the 64 test images once: the saved model, evaluated here
    # on one device, gives the same figures.
    metrics = read_json(chief / "metrics.json")
    assert metrics["epochs"] == EPOCHS
    assert metrics["optimizer_iterations"] == EPOCHS * STEPS
    config = training.TrainConfig(output=str(chief), **two_workers["fields"])
    model = tf.keras.models.load_model(str(chief / "model.keras"))
    expected = model.evaluate(
        training.load_data(config).test, verbose=0, return_dict=True
    )
    assert metrics["test_loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert metrics["test_accuracy"] == pytest.approx(expected["accuracy"])


def test_two_workers_equal_one_worker_with_the_same_global_batch(
    two_workers, tmp_path, mirrored_strategy
):
    """One worker with two replicas (the session's MirroredStrategy over two logical
    CPUs) and the global batch of 32: each replica computes on 16 images, as each
    worker does, and the summed gradients are the same. A single replica of 32 is not
    comparable to float tolerance: its convolutions round differently, and the signs
    of a BNN turn round-off into different binary weights within a few steps."""
    assert two_workers["codes"] == [0, 0], two_workers["logs"]
    chief = two_workers["outputs"][0]
    config = training.TrainConfig(
        output=str(tmp_path / "one_worker"),
        strategy="mirrored",
        **two_workers["fields"],
    )
    metrics = training.train(
        config, strategy=mirrored_strategy, verbose=0, run_eagerly=True
    )
    single_weights, single_slots = weights(str(tmp_path / "one_worker" / "model.keras"))
    multi_weights, multi_slots = weights(str(chief / "model.keras"))
    assert max_difference(multi_weights, single_weights) <= 1e-6
    assert max_difference(multi_slots, single_slots) <= 1e-6
    multi = read_json(chief / "metrics.json")
    assert multi["optimizer_iterations"] == metrics["optimizer_iterations"]
    assert multi["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert multi["test_accuracy"] == metrics["test_accuracy"]


def test_worker_killed_mid_epoch_then_the_job_resumes(
    two_workers, tmp_path, fashion_dir  # noqa: F811
):
    """Both workers share the output folder (a file system every host sees); the
    non-chief is killed (SIGKILL) as soon as the chief's first checkpoint is there,
    the chief stops with one line, and both restart with --resume."""
    output = tmp_path / "shared"
    checkpoint = output / "checkpoints" / "last.keras"
    argv, _ = run_options(fashion_dir)
    argv += ["--strategy", "multi_worker", "--run-eagerly", "--verbose", "2"]
    argv += ["--output", str(output)]
    with Job(tmp_path / "first", [argv, argv]) as job:
        deadline = time.time() + TIMEOUT
        while not checkpoint.exists() and time.time() < deadline:
            assert job.processes[0].poll() is None, job.output(0)
            time.sleep(0.05)
        job.processes[1].send_signal(signal.SIGKILL)
        assert job.wait(0) == training.WorkerLost.exit_code, job.output(0)
        lines = [line for line in job.output(0).splitlines() if "larq-nobn:" in line]
        assert "Traceback" not in job.output(0)
    assert len(lines) == 1 and "Lost a worker" in lines[0], lines
    assert "/job:worker/replica:0/task:1" in lines[0] and "--resume" in lines[0]
    # Killed in epoch 2: the checkpoint is epoch 1's, nothing else was written.
    state = training.read_checkpoint_state(str(checkpoint))
    assert (state["epoch"], state["batch"], state["interrupted"]) == (1, 0, False)
    assert state["optimizer_iterations"] == STEPS
    assert not (output / "metrics.json").exists()
    assert not (output / "model.keras").exists()
    first_epoch = (output / "log.csv").read_text()

    resume = ["--output", str(output), "--resume", "--run-eagerly", "--verbose", "2"]
    with Job(tmp_path / "restart", [resume, resume]) as job:
        assert [job.wait(0), job.wait(1)] == [0, 0], job.output(0) + job.output(1)
        log = job.output(0)
        assert job.worker_dirs(1) == []
    assert f"Resuming {output} from epoch 2/{EPOCHS}, batch 1 (optimizer step {STEPS})" in log
    rows = (output / "log.csv").read_text()
    assert rows.startswith(first_epoch)  # epoch 1's row is the killed run's
    assert rows.count("epoch,") == 1 and len(rows.splitlines()) == 1 + EPOCHS
    metrics = read_json(output / "metrics.json")
    assert metrics["optimizer_iterations"] == EPOCHS * STEPS
    # The resumed job ends where the uninterrupted one did.
    uninterrupted = two_workers["outputs"][0] / "model.keras"
    resumed, _ = weights(str(output / "model.keras"))
    assert max_difference(resumed, weights(str(uninterrupted))[0]) <= 1e-6


# --------------------------------------------------------------------------------------
# The pieces, in this process
# --------------------------------------------------------------------------------------
def test_a_non_chief_checks_the_output_folder_read_only(tmp_path):
    missing = tmp_path / "missing"
    training.prepare_output(str(missing), write=False)
    assert not missing.exists()
    held = tmp_path / "held"
    (held / "checkpoints").mkdir(parents=True)
    (held / "checkpoints" / "last.keras").write_bytes(b"a run")
    (held / "log.csv").write_text("epoch\n0\n")
    with pytest.raises(ValueError, match="already holds a run"):
        training.prepare_output(str(held), write=False)
    for flags in (dict(resume=True), dict(overwrite=True)):
        training.prepare_output(str(held), write=False, **flags)
    assert sorted(os.listdir(held)) == ["checkpoints", "log.csv"]  # nothing cleared
    assert (held / "log.csv").read_text() == "epoch\n0\n"


def test_worker_lost_names_the_unhealthy_task_and_the_resume_command():
    message = (
        "{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/"
        "task:0/device:CPU:0}} Collective ops is aborted by: Error reported from "
        "/job:worker/task:1: The following tasks are unhealthy (stopped sending "
        "heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have crashed."
    )
    error = training.cluster.worker_lost(
        tf.errors.UnavailableError(None, None, message), "runs/x", "larq-nobn resume"
    )
    assert isinstance(error, training.WorkerLost) and error.exit_code == 1
    assert error.tasks == "/job:worker/replica:0/task:1"
    assert "larq-nobn resume" in str(error) and "runs/x" in str(error)
    assert "\n" not in str(error)


def test_only_a_tf_config_cluster_counts_as_multi_worker(mirrored_strategy):
    assert not training.cluster.in_cluster(tf.distribute.get_strategy())
    assert not training.cluster.in_cluster(mirrored_strategy)
    training.cluster.barrier(mirrored_strategy)  # outside a cluster: returns at once
