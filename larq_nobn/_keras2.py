"""Make sure TensorFlow runs with Keras 2 (``tf-keras``), which larq and LCE need.

Imported first by ``larq_nobn/__init__.py``. If TensorFlow has not been imported yet,
``TF_USE_LEGACY_KERAS=1`` is set so that ``tf.keras`` becomes ``tf_keras``. If it was
imported already with Keras 3 behind ``tf.keras``, nothing can be fixed at this point
and an ``ImportError`` explains what to do.
"""

import os
import sys

from larq_nobn._startup_logs import import_tensorflow_quietly

_FIX = (
    "larq_nobn (like larq and larq-compute-engine) needs Keras 2: install `tf-keras` "
    "of the same minor version as TensorFlow and set the environment variable "
    "TF_USE_LEGACY_KERAS=1 before TensorFlow is imported, e.g. "
    "`export TF_USE_LEGACY_KERAS=1`, or `import larq_nobn` before `import tensorflow`."
)


def ensure_keras2():
    """Set ``TF_USE_LEGACY_KERAS=1`` or raise ``ImportError`` if it is too late.

    # Raises
    ImportError: TensorFlow was already imported with Keras 3 as ``tf.keras``, or
        ``tf-keras`` is not installed.
    """
    if "tensorflow" not in sys.modules:
        value = os.environ.get("TF_USE_LEGACY_KERAS")
        if value not in (None, "1", "true", "True"):
            raise ImportError(f"TF_USE_LEGACY_KERAS={value!r} selects Keras 3. {_FIX}")
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if "tensorflow" not in sys.modules:
        import_tensorflow_quietly()
    try:
        import tf_keras  # noqa: F401
    except ImportError as error:
        raise ImportError(f"`tf-keras` is not installed. {_FIX}") from error
    import tensorflow as tf

    layer_module = tf.keras.layers.Layer.__module__
    if not layer_module.startswith("tf_keras"):
        raise ImportError(
            "TensorFlow was imported before larq_nobn with Keras 3 as `tf.keras` "
            f"(tf.keras.layers.Layer comes from {layer_module!r}). " + _FIX
        )
    build_restored_layers_in_their_name_scope()


def build_restored_layers_in_their_name_scope():
    """Makes tf-keras build a layer restored from a `.keras` file in its name scope.

    tf-keras builds a restored layer with `build_from_config`, outside the name scope
    that `__call__` opens, so the variables of custom layers (larq's and larq_nobn's)
    lose their `layer/` prefix: every quantized conv's kernel is `kernel:0`, the
    optimizer's slots for them are all `m/kernel`, and `model.save("x.h5")` of such a
    model fails on the duplicate names ("name already exists"). Building in the scope
    gives the restored variables the names of the original model. Idempotent.
    """
    import functools

    import tensorflow as tf

    layer_class = tf.keras.layers.Layer
    original = layer_class.build_from_config
    if getattr(original, "_in_name_scope", False):
        return

    @functools.wraps(original)
    def build_from_config(self, config):
        with tf.name_scope(self.name):
            return original(self, config)

    build_from_config._in_name_scope = True
    layer_class.build_from_config = build_from_config
