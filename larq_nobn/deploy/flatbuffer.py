"""TFLite flatbuffers: checking them before any C++ code reads them, reading `.tflite`
files, and parsing them with the schema reader TensorFlow ships."""

from __future__ import annotations

import warnings
from pathlib import Path

from larq_nobn.deploy.errors import DeployError, one_line
from larq_nobn.deploy.formats import is_flatbuffer_bytes, looks_like_keras_model
from larq_nobn.deploy.loading import import_tensorflow

import numpy as np

__all__ = [
    "builtin_op_names",
    "check_flatbuffer",
    "custom_options",
    "decode_name",
    "op_name",
    "parse_flatbuffer",
    "read_flatbuffer",
    "tensor_type_names",
]


def check_flatbuffer(data) -> bytes:
    """Checks that `data` is a valid TFLite flatbuffer before any C++ code reads it.

    LCE's interpreter does not verify its input and crashes the Python process on a
    corrupt flatbuffer, so every flatbuffer goes through TFLite's flatbuffer verifier
    (TensorFlow's `tf.lite.Interpreter`, built but never run) first.

    # Arguments
        data: The flatbuffer (`bytes`).

    # Returns
        `data` as `bytes`.

    # Raises
        DeployError: Not bytes, no `TFL3` identifier at bytes 4-8, or rejected by the
            verifier (truncated or corrupt).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DeployError(f"expected the flatbuffer as bytes, got {type(data).__name__}.")
    data = bytes(data)
    if not is_flatbuffer_bytes(data):
        raise DeployError(
            "not a TFLite flatbuffer: the file identifier 'TFL3' is missing at bytes 4-8."
        )
    tf = import_tensorflow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tf.lite.Interpreter(model_content=data)
    except ValueError as error:
        raise DeployError(f"corrupt TFLite flatbuffer: {one_line(error)}") from error
    except RuntimeError as error:
        # An op TensorFlow's resolver does not know is fine: LCE's interpreter has it.
        if "custom op" not in str(error).lower():
            raise DeployError(f"corrupt TFLite flatbuffer: {one_line(error)}") from error
    return data


def read_flatbuffer(path) -> bytes:
    """Reads and checks a `.tflite` file (see `check_flatbuffer`).

    # Raises
        DeployError: Missing, a directory, or not a valid TFLite flatbuffer.
    """
    path = Path(path)
    if not path.exists():
        raise DeployError(f"TFLite file not found: '{path}'.")
    if path.is_dir():
        raise DeployError(f"'{path}' is a directory, not a .tflite file.")
    data = path.read_bytes()
    if not is_flatbuffer_bytes(data):
        hint = ""
        if looks_like_keras_model(data):
            hint = (
                " It looks like a Keras model: convert it first (`larq-nobn convert`) or "
                "pass it as --keras-model for the float baseline."
            )
        raise DeployError(
            f"'{path}' is not a TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8).{hint}"
        )
    try:
        return check_flatbuffer(data)
    except DeployError as error:
        raise DeployError(f"'{path}': {error}") from error


def _schema():
    """The TFLite flatbuffer schema reader (`schema_py_generated`) shipped with TF."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:  # pragma: no cover - LCE ships the same generated reader
        from larq_compute_engine.mlir.python import tflite_schema as schema
    return schema


def parse_flatbuffer(data: bytes):
    """The flatbuffer as the schema's object tree (`ModelT`); check it first.

    # Raises
        DeployError: Inconsistent offsets (a corrupt flatbuffer).
    """
    schema = _schema()
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as error:  # struct.error / IndexError on inconsistent offsets
        raise DeployError(f"corrupt TFLite flatbuffer: {one_line(error)}") from error


def builtin_op_names() -> dict[int, str]:
    """Builtin operator code -> name (`CONV_2D`, ...)."""
    schema = _schema()
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}


def tensor_type_names() -> dict[int, str]:
    """Tensor type code -> name (`FLOAT32`, `INT32`, ...)."""
    schema = _schema()
    return {v: k for k, v in vars(schema.TensorType).items() if k.isupper()}


def decode_name(name) -> str:
    """A flatbuffer string (bytes or `None`) as `str`."""
    if name is None:
        return ""
    if isinstance(name, (bytes, bytearray)):
        return name.decode("utf-8", errors="replace")
    return str(name)


def op_name(model, op, builtin_names) -> str:
    """The name of an operator: its custom code (`LceBconv2d`) or builtin name."""
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return decode_name(code.customCode)
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return builtin_names.get(number, f"BUILTIN_{number}")


def custom_options(op) -> dict:
    """A custom op's flexbuffer options as a dict (empty if none or unreadable)."""
    raw = op.customOptions
    if raw is None or len(raw) == 0:
        return {}
    from flatbuffers import flexbuffers

    try:
        options = flexbuffers.Loads(bytes(bytearray(np.asarray(raw, dtype=np.uint8))))
    except Exception:  # noqa: BLE001 - options are informative only
        return {}
    return options if isinstance(options, dict) else {}
