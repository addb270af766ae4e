import os
import subprocess
import sys

import pytest


def run(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment
    )


def test_import_sets_legacy_keras_before_tensorflow():
    result = run(
        "import larq_nobn, os, tensorflow as tf;"
        "print(os.environ['TF_USE_LEGACY_KERAS'], tf.keras.layers.Layer.__module__)"
    )
    assert result.returncode == 0, result.stderr
    flag, module = result.stdout.split()
    assert flag == "1" and module.startswith("tf_keras")


def test_tensorflow_imported_with_keras3_first_fails_clearly():
    result = run("import tensorflow; import larq_nobn")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr
    assert "keras" in result.stderr.split("ImportError")[-1]


@pytest.mark.parametrize("value", ["0", "false"])
def test_explicit_keras3_setting_is_rejected(value):
    result = run("import larq_nobn", TF_USE_LEGACY_KERAS=value)
    assert result.returncode != 0
    assert f"TF_USE_LEGACY_KERAS='{value}'" in result.stderr
