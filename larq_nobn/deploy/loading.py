"""Loading Keras models for deployment, treating model files as untrusted input.

`load_keras_model` refuses a model with `Lambda` layers (stored Python code) before
anything is deserialized, in every format: `.keras`, `.h5` and SavedModel.
"""

from __future__ import annotations

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
    "import_tensorflow",
    "lambda_layers",
    "load_keras_model",
    "model_format",
    "register_custom_objects",
    "stored_configs",
]


def import_tensorflow():
    """TensorFlow, imported after `larq_nobn` (Keras 2; registers our layers)."""
    import larq_nobn  # noqa: F401

    import tensorflow as tf

    return tf


def register_custom_objects():
    """Imports the modules whose Keras classes saved models may refer to."""
    import_tensorflow()
    import larq_nobn.zoo  # noqa: F401  (registers the zoo's block layers)

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
    head = read_head(path)
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


def lambda_layers(config) -> list[str]:
    """Names of the Lambda layers (Python code by bytecode or by reference) in a config."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("Lambda", "__lambda__"):
                inner = node.get("config")
                name = inner.get("name") if isinstance(inner, dict) else None
                found.append(str(name or node.get("name") or node["class_name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return sorted(set(found))


def _refuse_lambda_layers(path: Path, kind: str) -> None:
    unsafe = sorted({n for c in stored_configs(path, kind) for n in lambda_layers(c)})
    if unsafe:
        raise DeployError(
            f"refusing to load '{path}' in safe mode: it contains Lambda layer(s) "
            f"{', '.join(repr(n) for n in unsafe)}, whose stored Python code would run "
            "on this machine. Only if you trust the file, pass --unsafe-load "
            "(Python: safe_mode=False)."
        )


def _load(path: Path, kind: str, safe_mode: bool):
    tf = import_tensorflow()
    try:
        from tf_keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - older tf-keras
        SafeModeScope = None
    if kind == "keras":
        return tf.keras.models.load_model(path, compile=False, safe_mode=safe_mode)
    if SafeModeScope is not None:
        with SafeModeScope(safe_mode):
            return tf.keras.models.load_model(path, compile=False)
    return tf.keras.models.load_model(path, compile=False)  # pragma: no cover


def load_keras_model(path, *, safe_mode: bool = True):
    """Loads a Keras model file for conversion, treating it as untrusted input.

    In safe mode (the default) a model containing a `Lambda` layer is refused before
    anything is deserialized, whatever the format: a Lambda layer stores Python code
    (bytecode, or a reference to a function that gets imported) that would run on this
    machine. Keras' own `safe_mode` covers only the `.keras` format; this function
    reads the stored configs of `.keras`, `.h5` and SavedModel files itself, and also
    loads `.h5` files inside Keras' safe-mode scope. A SavedModel additionally holds
    TensorFlow graphs; they are not Python code but may contain ops with side effects
    (file I/O) that run when the model is called: load SavedModels only from sources
    you trust, or prefer `.keras`.

    The optimizer is not restored (`compile=False`): conversion does not need it.

    # Arguments
        path: A `.keras` archive, an HDF5 (`.h5`) file or a SavedModel directory.
        safe_mode: `False` allows Lambda layers (arbitrary code execution: only for
            files you trust); the CLI's `--unsafe-load`.

    # Returns
        The `tf.keras.Model`.

    # Raises
        DeployError: The path is missing, not a Keras model (e.g. a `.tflite` or a text
            file), corrupt, or refused in safe mode.
    """
    tf = import_tensorflow()
    path = Path(path)
    if not path.exists():
        raise DeployError(f"model file not found: '{path}'.")
    kind = model_format(path)
    if safe_mode:
        _refuse_lambda_layers(path, kind)
    register_custom_objects()
    try:
        model = _load(path, kind, safe_mode)
    except Exception as error:
        message = one_line(error)
        if "safe_mode" in message or "Lambda" in message:
            raise DeployError(
                f"refusing to load '{path}' in safe mode: {message} Only if you trust the "
                "file, pass --unsafe-load (Python: safe_mode=False)."
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
