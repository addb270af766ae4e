"""Loading Keras models, treating model files as untrusted input.

Every command and function of larq-nobn that loads a model (`evaluate`, `convert`,
`benchmark --keras-model`, a distillation teacher, `init_weights`) goes through
`load_keras_model`. In safe mode (the default) it refuses, before anything is
deserialized and in every format (`.keras`, `.h5` and SavedModel), a model that stores
Python code: `Lambda` layers, and objects whose config names a Python module to import
outside Keras, TensorFlow and Larq. The opt-in is `safe_mode=False`, the command line's
`--unsafe-load` (`UNSAFE_FLAG`), or an `unsafe_loading()` block around code that loads
models for you (training with a teacher).
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import json
import zipfile
from pathlib import Path

from larq_nobn.deploy.errors import DeployError, one_line
from larq_nobn.deploy.formats import (
    HDF5_MAGIC,
    KERAS_MODEL_KINDS,
    ZIP_MAGIC,
    is_flatbuffer_bytes,
    read_head,
)

__all__ = [
    "TRUSTED_MODULES",
    "UNSAFE_FLAG",
    "import_tensorflow",
    "lambda_layers",
    "load_keras_model",
    "model_format",
    "register_custom_objects",
    "stored_code",
    "stored_configs",
    "unsafe_loading",
]

#: The command-line option that allows stored code (every command that loads a model).
UNSAFE_FLAG = "--unsafe-load"
#: Top-level packages whose names a safe config may refer to (`"module"` keys).
TRUSTED_MODULES = ("keras", "tf_keras", "tensorflow", "larq", "larq_nobn", "builtins")

_UNSAFE = contextvars.ContextVar("larq_nobn_unsafe_loading", default=False)


@contextlib.contextmanager
def unsafe_loading(enabled: bool = True):
    """A block in which `load_keras_model(path)` allows stored code (`safe_mode=False`).

    For code that loads models on your behalf, e.g. a training run with a teacher:

    ```python
    with deploy.unsafe_loading():  # only for model files you trust
        training.train(config)
    ```

    # Arguments
        enabled: `False` leaves the mode as it is (so that a flag can be passed on).
    """
    token = _UNSAFE.set(bool(enabled) or _UNSAFE.get())
    try:
        yield
    finally:
        _UNSAFE.reset(token)


def _is_safe(safe_mode) -> bool:
    return not _UNSAFE.get() if safe_mode is None else bool(safe_mode)


def import_tensorflow():
    """TensorFlow, imported after `larq_nobn` (Keras 2; registers our layers)."""
    import larq_nobn  # noqa: F401

    import tensorflow as tf

    return tf


def register_custom_objects():
    """Imports the modules whose Keras classes saved models may refer to."""
    import_tensorflow()  # `import larq_nobn` registers its layers (the zoo adds none)
    import larq  # noqa: F401  (registers larq layers and quantizers)


def model_format(path: Path) -> str:
    """`"keras"`, `"h5"` or `"savedmodel"`, from the file's content, not its name.

    # Raises
        DeployError: A directory that is not a SavedModel, a TFLite flatbuffer, a zip
            archive not named `.keras`, an empty file or any other kind of file.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise DeployError(
            f"'{path}' is a directory but not a SavedModel (no saved_model.pb); "
            f"expected {KERAS_MODEL_KINDS}."
        )
    try:
        head = read_head(path)
    except OSError as error:  # permission denied, an I/O error
        raise DeployError(
            f"cannot read '{path}': {error.strerror or one_line(error)}; check the "
            "file's permissions."
        ) from error
    if is_flatbuffer_bytes(head):
        raise DeployError(
            f"'{path}' is a TFLite flatbuffer, not a Keras model: `convert` takes "
            f"{KERAS_MODEL_KINDS}; benchmark a .tflite with `larq-nobn benchmark`."
        )
    if head.startswith(ZIP_MAGIC):
        if path.suffix != ".keras":
            raise DeployError(
                f"'{path}' is a zip archive; Keras reads .keras archives only under a "
                "name ending in '.keras': rename it."
            )
        return "keras"
    if head.startswith(HDF5_MAGIC):
        return "h5"
    if not head:
        raise DeployError(f"'{path}' is empty; expected {KERAS_MODEL_KINDS}.")
    raise DeployError(f"'{path}' is not a Keras model file; expected {KERAS_MODEL_KINDS}.")


def _read_configs(path: Path, kind: str) -> list:
    if kind == "keras":
        with zipfile.ZipFile(path) as archive:
            return [json.loads(archive.read("config.json"))]
    if kind == "h5":
        import h5py

        with h5py.File(path, "r") as file:
            config = file.attrs.get("model_config")
        if config is None:
            return []
        if isinstance(config, bytes):
            config = config.decode("utf-8")
        return [json.loads(config)]
    metadata_path = path / "keras_metadata.pb"
    if not metadata_path.is_file():
        return []
    from tf_keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString(metadata_path.read_bytes())
    return [json.loads(node.metadata) for node in metadata.nodes if node.metadata]


def stored_configs(path: Path, kind: str) -> list:
    """The JSON configs stored in a model file, read without deserializing anything.

    # Arguments
        path: The model file or SavedModel directory.
        kind: Its `model_format`.

    # Raises
        DeployError: The file cannot be read (corrupt).
    """
    try:
        return _read_configs(Path(path), kind)
    except Exception as error:  # also protobuf's DecodeError and h5py's internal errors
        raise DeployError(
            f"cannot read the model config of '{path}' (corrupt file?): {one_line(error)}"
        ) from error


def _walk(node):
    """Every dict in a JSON tree."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def lambda_layers(config) -> list[str]:
    """Names of the Lambda layers (Python code by bytecode or by reference) in a config."""
    found = []
    for node in _walk(config):
        if node.get("class_name") in ("Lambda", "__lambda__"):
            inner = node.get("config")
            name = inner.get("name") if isinstance(inner, dict) else None
            found.append(str(name or node.get("name") or node["class_name"]))
    return sorted(set(found))


def _untrusted_reference(node) -> str | None:
    module = node.get("module")
    if not isinstance(module, str) or not module or "class_name" not in node:
        return None  # a Lambda's own config names the module of its code: reported
    name = node.get("config") if node.get("class_name") == "function" else None
    if module.split(".")[0] not in TRUSTED_MODULES:
        return f"{module}.{name or node.get('class_name')}"
    if module == "builtins" and isinstance(name, str) and hasattr(builtins, name):
        return f"builtins.{name}"  # eval, exec, open, ... as a Keras "function"
    return None


def stored_code(config) -> list[str]:
    """What in a model config would run stored or imported Python code when loaded:
    `Lambda` layers (by name), and references to modules outside `TRUSTED_MODULES` or
    to Python's built-in functions (as `module.name`)."""
    found = [f"Lambda layer {name!r}" for name in lambda_layers(config)]
    references = {_untrusted_reference(node) for node in _walk(config)}
    found += [f"a reference to {ref!r}" for ref in sorted(references - {None})]
    return found


def _refuse_stored_code(path: Path, kind: str) -> None:
    found = []
    for config in stored_configs(path, kind):
        found += [item for item in stored_code(config) if item not in found]
    if found:
        raise DeployError(
            f"refusing to load '{path}' in safe mode: it contains {', '.join(found)}, "
            "whose Python code would run on this machine. Only if you trust the file, "
            f"pass {UNSAFE_FLAG} (Python: safe_mode=False)."
        )


def _load(path: Path, kind: str, safe_mode: bool):
    tf = import_tensorflow()
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    if kind == "keras":
        return tf.keras.models.load_model(path, compile=False, safe_mode=safe_mode)
    with SafeModeScope(safe_mode):
        return tf.keras.models.load_model(path, compile=False)


def load_keras_model(path, *, safe_mode: bool | None = None):
    """Loads a Keras model file, treating it as untrusted input.

    In safe mode (the default) a model that stores Python code is refused before
    anything is deserialized, whatever the format: a `Lambda` layer (bytecode, or a
    reference to a function that gets imported) or a config that names a module to
    import outside `TRUSTED_MODULES` would run code on this machine. Keras' own
    `safe_mode` covers only `Lambda` layers in the `.keras` format; this function reads
    the stored configs of `.keras`, `.h5` and SavedModel files itself (`stored_code`),
    and also loads `.h5` files inside Keras' safe-mode scope. A SavedModel additionally
    holds TensorFlow graphs; they are not Python code but may contain ops with side
    effects (file I/O) that run when the model is called: load SavedModels only from
    sources you trust, or prefer `.keras`.

    The optimizer is not restored (`compile=False`).

    # Arguments
        path: A `.keras` archive, an HDF5 (`.h5`) file or a SavedModel directory.
        safe_mode: `False` allows stored code (arbitrary code execution: only for
            files you trust; the CLI's `--unsafe-load`). `None`: safe unless inside
            an `unsafe_loading()` block.

    # Returns
        The `tf.keras.Model`.

    # Raises
        DeployError: The path is missing, unreadable, not a Keras model (e.g. a
            `.tflite` or a text file), corrupt, or refused in safe mode; the message
            names the file.
    """
    tf = import_tensorflow()
    path = Path(path)
    if not path.exists():
        raise DeployError(f"model file not found: '{path}'.")
    kind = model_format(path)
    safe_mode = _is_safe(safe_mode)
    if safe_mode:
        _refuse_stored_code(path, kind)
    register_custom_objects()
    try:
        model = _load(path, kind, safe_mode)
    except Exception as error:
        message = one_line(error)
        if "safe_mode" in message or "Lambda" in message:
            raise DeployError(
                f"refusing to load '{path}' in safe mode: {message} Only if you trust the "
                f"file, pass {UNSAFE_FLAG} (Python: safe_mode=False)."
            ) from error
        raise DeployError(
            f"cannot load '{path}' as a Keras model ({kind}): {message}"
        ) from error
    if not isinstance(model, tf.keras.Model):
        raise DeployError(
            f"'{path}' holds a {type(model).__name__}, not a Keras model; expected "
            f"{KERAS_MODEL_KINDS}."
        )
    return model
