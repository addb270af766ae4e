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


# TensorFlow's native start-up notices (issue: every command printed a cuInit "error").
NOTICE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795991851.723789   11551 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results.",
    "I0000 00:00:1795991851.724107   11551 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.",
    "E0000 00:00:1795991856.001951   11685 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1795991851.765592   11551 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
]
REAL_LINES = [
    "E0000 00:00:1795991856.001951   11685 cuda_platform.cc:52] failed call to cuInit: "
    "CUDA_ERROR_OUT_OF_MEMORY",  # a GPU that is there but fails: kept
    "E0000 00:00:1.0   1 op_kernel.cc:1] OP_REQUIRES failed",
    "Traceback (most recent call last):",
]


def test_startup_notices_recognised_and_real_lines_kept():
    from larq_nobn._startup_logs import is_notice

    assert all(is_notice(line) for line in NOTICE_LINES)
    assert not any(is_notice(line) for line in REAL_LINES)


def test_filtered_native_stderr_drops_notices_only():
    code = (
        "import os, sys\n"
        "from larq_nobn._startup_logs import filtered_native_stderr\n"
        f"lines = {NOTICE_LINES + REAL_LINES!r}\n"
        "with filtered_native_stderr():\n"
        "    for line in lines:\n"
        "        os.write(2, (line + '\\n').encode())\n"
        "    print('from python', file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
    )
    result = run(code)
    assert result.returncode == 0
    assert result.stderr.splitlines() == REAL_LINES + ["from python", "after"]
    shown = run(code, LARQ_NOBN_TF_STARTUP_LOGS="1")  # importing TF prints its own too
    expected = NOTICE_LINES + REAL_LINES + ["from python", "after"]
    assert shown.stderr.splitlines()[-len(expected):] == expected


def test_import_and_first_op_print_nothing_on_stderr():
    """`import larq_nobn` then TensorFlow work: no start-up noise on a CPU machine
    (whatever TF_CPP_MIN_LOG_LEVEL says), while later stderr output still appears."""
    code = (
        "import sys, larq_nobn, tensorflow as tf\n"
        "tf.reduce_sum(tf.ones((2, 2))).numpy()\n"
        "print('still here', file=sys.stderr)\n"
    )
    result = run(code, TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["still here"], result.stderr
