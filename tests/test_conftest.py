"""The test suite keeps its temporary files under pytest's temporary directory."""

import glob
import os
import subprocess
import sys
import tempfile

import tensorflow as tf


def test_autograph_and_tempfile_under_pytest_basetemp(tmp_path_factory):
    base = str(tmp_path_factory.getbasetemp())
    assert tempfile.gettempdir().startswith(base)

    @tf.function(autograph=True)
    def branchy(x):
        if tf.reduce_sum(x) > 0:  # Python control flow: autograph writes a module
            return x + 1.0
        return x - 1.0

    assert float(branchy(tf.constant([1.0]))[0]) == 2.0
    generated = glob.glob(os.path.join(tempfile.gettempdir(), "__autograph_generated_file*"))
    assert generated, "autograph wrote its module elsewhere"
    child = subprocess.run(
        [sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert child.stdout.strip().startswith(base)
