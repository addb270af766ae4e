import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Two logical CPU devices let tf.distribute tests run a real MirroredStrategy here.
import larq_nobn  # noqa: E402, F401  (sets up Keras 2 before TensorFlow is imported)

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs for the whole session.

    Several MirroredStrategy objects in one process reuse collective instance keys and
    abort each other's all-reduces ("Collective instance ... expected type"), so every
    test that needs one takes this fixture.
    """
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    return tf.distribute.MirroredStrategy(devices)


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_under_pytest(tmp_path_factory):
    """TensorFlow's autograph modules, tfds' temporary folders and anything else made
    with `tempfile` (in this process and in the subprocesses the tests start) go under
    pytest's temporary directory instead of the system's."""
    import tempfile

    directory = str(tmp_path_factory.mktemp("tempfile"))
    previous = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = directory
    os.environ["TMPDIR"] = directory
    yield directory
    tempfile.tempdir = previous[0]
    if previous[1] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = previous[1]
