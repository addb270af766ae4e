"""Every example runs end to end at tiny size (subprocesses, as a user runs them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = ["--max-train-samples", "256", "--max-test-samples", "256"]


def run(script, *args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                            capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def accuracy(line):
    return float(line.split("test accuracy")[1].split(",")[0])


def test_drop_in_abn():
    out = run("drop_in_abn.py", "--max-train-samples", "3072", "--max-test-samples",
              "512")
    lines = [l for l in out.splitlines() if "test accuracy" in l]
    assert [l.split(":")[0] for l in lines] == ["bn", "abn"]
    # 24 steps of training (seen: 32-50 %) are well above chance (10 %) on
    # Fashion-MNIST, with either normalization.
    assert all(accuracy(l) > 0.2 for l in lines), lines


@pytest.mark.parametrize("model", ["binarynet", "reactnet18"])
def test_train_bn_free(model):
    out = run("train_bn_free.py", "--model", model, *TINY)
    lines = [l for l in out.splitlines() if "test accuracy" in l]
    assert [l.split(":")[0] for l in lines] == [f"{model} bf", f"{model} none"]
    assert all("nan" not in l for l in lines)


def test_convert_and_benchmark(tmp_path):
    # A bn BinaryNet trained for 40 steps, verified on 256 real test images. (Briefly
    # trained bf models keep RSign thresholds at 0, where Keras' float conv and LCE's
    # exact popcount can take different signs: tests/zoo_checks.py checks bf
    # conversions with that allowance.)
    out = run("convert_and_benchmark.py", "--norm", "bn", "--train-steps", "40",
              "--samples", "256",
              "--runs", "2",
              "--output", str(tmp_path / "m.tflite"), cwd=tmp_path)
    assert "LceBconv2d" in out
    assert "PASSED" in out
    assert (tmp_path / "m.tflite").read_bytes()[4:8] == b"TFL3"


def test_tune_hyperparameters(tmp_path):
    from larq_nobn import tuning

    out = run("tune_hyperparameters.py", "--max-trials", "2", "--width-multiplier",
              "0.0625", *TINY, "--output", str(tmp_path / "tune"))
    best = dict(line[len("best "):].split(": ") for line in out.splitlines()
                if line.startswith("best "))
    assert set(best) == {"val_accuracy", "learning_rate", "agc_clip_factor"}
    for name in ("learning_rate", "agc_clip_factor"):
        low, high = tuning.DEFAULT_SPACE[name]
        assert low <= float(best[name]) <= high, best
    assert 0 <= float(best["val_accuracy"]) <= 1
    assert (tmp_path / "tune" / "best_hyperparameters.json").exists()
