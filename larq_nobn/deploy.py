"""Deployment with Larq Compute Engine (LCE): convert, inspect, verify and benchmark.

The four steps of getting a trained binary network onto an ARM device, each a function
returning a small result object that prints as a readable report (`to_text()`) and
serializes to JSON (`to_dict()`):

- `convert`: a Keras model (or a `.keras` / `.h5` / SavedModel path, loaded in safe
  mode) to an LCE flatbuffer, with an `OpReport` (`inspect_flatbuffer`) and a
  `SizeReport` (`size_report`).
- `inspect_flatbuffer`: the op histogram of a flatbuffer: how many `LceBconv2d`, how
  many of them write bitpacked output, which float ops remain and the Keras layers they
  come from, and a warning for every binary Keras layer that did not become a binary
  op, with the reason from LCE's conversion rules.
- `verify`: LCE's interpreter against `keras_model.predict` on the same inputs.
- `benchmark`: host latency of the LCE model and, when the Keras model is known, of
  the same network as a plain float TFLite model.

`add_convert_parser` / `run_convert` and `add_benchmark_parser` / `run_benchmark` are
the `larq-nobn convert` and `larq-nobn benchmark` subcommands; they return the exit
status (`EXIT_OK`, `EXIT_VERIFICATION_FAILED`, `EXIT_BAD_INPUT`).

!!! warning
    LCE's Python interpreter runs LCE's portable C++ kernels on x86; its optimized
    kernels are for 64-bit ARM. Host latencies say nothing about a Raspberry Pi or a
    phone: see `examples/deploy/README.md` for running `lce_benchmark_model` there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from larq_nobn.cli import argtypes

__all__ = [
    "DEFAULT_AGREEMENT_THRESHOLD",
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_VERIFICATION_FAILED",
    "TARGETS",
    "BenchmarkResult",
    "BinaryConvOp",
    "ConversionResult",
    "DeployError",
    "FloatOp",
    "LatencyStats",
    "LayerStatus",
    "OpReport",
    "SizeReport",
    "VerificationResult",
    "add_benchmark_parser",
    "add_convert_parser",
    "benchmark",
    "check_flatbuffer",
    "convert",
    "convert_float",
    "ideal_size",
    "inspect_flatbuffer",
    "load_keras_model",
    "load_verification_data",
    "read_flatbuffer",
    "run_benchmark",
    "run_convert",
    "size_report",
    "verify",
]

TARGETS = ("arm", "xcore")

EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_BAD_INPUT = 2

# Why 99.5 % and not 100 %: the binary convolutions themselves are exact integer
# arithmetic (XOR + popcount) in both Keras and LCE, but everything around them is
# float and is computed differently: the first conv and other float layers accumulate
# in another order, LCE folds normalization into per-channel multipliers or integer
# thresholds, and the zero-padding correction of `padding="same", pad_values=0` is
# done in float. Differences of ~1e-6 relative are normal. A sign flips wherever its
# input is within that of zero, and the flip travels through every following binary
# layer; with an untrained network (normalization at mean 0, bias 0) pre-sign values of
# exactly 0 are common and a few top-1 predictions change. For trained networks on real
# data, near-ties are rare and agreement is 100 % or a few samples per thousand below
# it. A real conversion error (a wrong pad value, an op with other semantics, input
# preprocessing that differs) changes many percent of the predictions, far below 99.5 %.
DEFAULT_AGREEMENT_THRESHOLD = 0.995

_TFLITE_MAGIC = b"TFL3"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_KERAS_MODEL_KINDS = "a .keras archive, an HDF5 (.h5) file or a SavedModel directory"
_HOST_NOTE = (
    "LCE's Python interpreter runs LCE's portable C++ kernels on this {arch} host, not "
    "the optimized ARM (aarch64 NEON) kernels, while the float ops use TFLite's optimized "
    "{arch} kernels: these latencies and speedups say nothing about a Raspberry Pi or a "
    "phone. Measure there with LCE's lce_benchmark_model (examples/deploy/README.md)."
)
_ARM_NOTE = (
    "Measured on an ARM host through LCE's Python interpreter; the optimized kernels are "
    "used only if this LCE build was compiled for aarch64 (LCE ships no such wheel)."
)


class DeployError(ValueError):
    """Bad input for deployment: a missing, corrupt or unsafe model file, a file of the
    wrong kind, or an unusable argument. The CLI reports it in one line, exit status 2."""


# ======================================================================================
# Small helpers
# ======================================================================================
def _one_line(error) -> str:
    """The first non-empty line of an exception message (or its type name)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def _import_tf():
    import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow; registers our layers)
    import tensorflow as tf

    return tf


def _schema():
    """The TFLite flatbuffer schema reader (`schema_py_generated`) shipped with TF."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:  # pragma: no cover - LCE ships the same generated reader
        from larq_compute_engine.mlir.python import tflite_schema as schema
    return schema


def _register_custom_objects():
    """Import the modules whose Keras classes saved models may refer to."""
    _import_tf()
    import larq  # noqa: F401  (registers larq layers and quantizers)
    import larq_nobn.zoo  # noqa: F401  (registers the zoo's block layers)


def _is_flatbuffer_bytes(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] == _TFLITE_MAGIC


def _read_head(path: Path, size=16) -> bytes:
    with open(path, "rb") as file:
        return file.read(size)


# ======================================================================================
# Loading models (untrusted input)
# ======================================================================================
def _model_format(path: Path) -> str:
    """`"keras"`, `"h5"` or `"savedmodel"`, from the file's content, not its name."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise DeployError(
            f"'{path}' is a directory but not a SavedModel (no saved_model.pb); "
            f"expected {_KERAS_MODEL_KINDS}."
        )
    head = _read_head(path)
    if _is_flatbuffer_bytes(head):
        raise DeployError(
            f"'{path}' is a TFLite flatbuffer, not a Keras model: `convert` takes "
            f"{_KERAS_MODEL_KINDS}; benchmark a .tflite with `larq-nobn benchmark`."
        )
    if head.startswith(_ZIP_MAGIC):
        if path.suffix != ".keras":
            raise DeployError(
                f"'{path}' is a zip archive; Keras reads .keras archives only under a "
                "name ending in '.keras': rename it."
            )
        return "keras"
    if head.startswith(_HDF5_MAGIC):
        return "h5"
    if not head:
        raise DeployError(f"'{path}' is empty; expected {_KERAS_MODEL_KINDS}.")
    raise DeployError(f"'{path}' is not a Keras model file; expected {_KERAS_MODEL_KINDS}.")


def _stored_configs(path: Path, kind: str):
    """The JSON configs stored in a model file, read without deserializing anything."""
    try:
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
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise DeployError(
            f"cannot read the model config of '{path}' (corrupt file?): {_one_line(error)}"
        ) from error
    except Exception as error:  # protobuf's DecodeError and h5py's internal errors
        raise DeployError(
            f"cannot read the model config of '{path}' (corrupt file?): {_one_line(error)}"
        ) from error


def _unsafe_layers(config) -> list[str]:
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
    tf = _import_tf()
    path = Path(path)
    if not path.exists():
        raise DeployError(f"model file not found: '{path}'.")
    kind = _model_format(path)
    if safe_mode:
        unsafe = sorted({n for c in _stored_configs(path, kind) for n in _unsafe_layers(c)})
        if unsafe:
            raise DeployError(
                f"refusing to load '{path}' in safe mode: it contains Lambda layer(s) "
                f"{', '.join(repr(n) for n in unsafe)}, whose stored Python code would run "
                "on this machine. Only if you trust the file, pass --unsafe-load "
                "(Python: safe_mode=False)."
            )
    _register_custom_objects()
    try:
        from tf_keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - older tf-keras
        SafeModeScope = None
    try:
        if kind == "keras":
            model = tf.keras.models.load_model(path, compile=False, safe_mode=safe_mode)
        elif SafeModeScope is not None:
            with SafeModeScope(safe_mode):
                model = tf.keras.models.load_model(path, compile=False)
        else:  # pragma: no cover
            model = tf.keras.models.load_model(path, compile=False)
    except Exception as error:
        message = _one_line(error)
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
            f"{_KERAS_MODEL_KINDS}."
        )
    return model


# ======================================================================================
# Flatbuffers
# ======================================================================================
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
    if not _is_flatbuffer_bytes(data):
        raise DeployError(
            "not a TFLite flatbuffer: the file identifier 'TFL3' is missing at bytes 4-8."
        )
    tf = _import_tf()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tf.lite.Interpreter(model_content=data)
    except ValueError as error:
        raise DeployError(f"corrupt TFLite flatbuffer: {_one_line(error)}") from error
    except RuntimeError as error:
        # An op TensorFlow's resolver does not know is fine: LCE's interpreter has it.
        if "custom op" not in str(error).lower():
            raise DeployError(f"corrupt TFLite flatbuffer: {_one_line(error)}") from error
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
    if not _is_flatbuffer_bytes(data):
        hint = ""
        if data.startswith((_ZIP_MAGIC, _HDF5_MAGIC)):
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


def _parse(data: bytes):
    schema = _schema()
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as error:  # struct.error / IndexError on inconsistent offsets
        raise DeployError(f"corrupt TFLite flatbuffer: {_one_line(error)}") from error


def _builtin_names():
    schema = _schema()
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}


def _tensor_type_names():
    schema = _schema()
    return {v: k for k, v in vars(schema.TensorType).items() if k.isupper()}


def _decode(name) -> str:
    if name is None:
        return ""
    if isinstance(name, (bytes, bytearray)):
        return name.decode("utf-8", errors="replace")
    return str(name)


def _custom_options(op) -> dict:
    raw = op.customOptions
    if raw is None or len(raw) == 0:
        return {}
    from flatbuffers import flexbuffers

    try:
        options = flexbuffers.Loads(bytes(bytearray(np.asarray(raw, dtype=np.uint8))))
    except Exception:  # noqa: BLE001 - options are informative only
        return {}
    return options if isinstance(options, dict) else {}


# ======================================================================================
# Keras side: binary layers
# ======================================================================================
_QUANTIZER_ATTRS = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer",
                    "pointwise_quantizer")


def _precision(quantizer):
    return getattr(quantizer, "precision", None) if quantizer is not None else None


def _flat_layers(model):
    """Every layer of a model, nested models expanded (the nested model too)."""
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers") and isinstance(getattr(layer, "layers"), list):
            layers.extend(_flat_layers(layer))
    return layers


def _is_binary_layer(layer) -> bool:
    """A larq layer with a 1-bit input or weight quantizer (`precision == 1`)."""
    return any(_precision(getattr(layer, a, None)) == 1 for a in _QUANTIZER_ATTRS)


def _has_binary_weights(layer) -> bool:
    return any(
        _precision(getattr(layer, a, None)) == 1
        for a in ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")
    )


def _layer_kind(layer) -> str:
    """`"conv2d"`, `"depthwise"`, `"separable"`, `"dense"` or `"other"`."""
    if getattr(layer, "depthwise_kernel", None) is not None:
        if getattr(layer, "pointwise_kernel", None) is not None:
            return "separable"
        return "depthwise"
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return "other"
    rank = len(kernel.shape)
    if rank == 4 and "Transpose" not in type(layer).__name__:
        return "conv2d"
    if rank == 2:
        return "dense"
    return "other"


def _conv_signature(layer):
    """(kh, kw, channels_in, channels_out, strides, dilations) of a 2D conv layer."""
    kh, kw, cin_group, cout = (int(d) for d in layer.kernel.shape)
    groups = int(getattr(layer, "groups", 1) or 1)
    return (kh, kw, cin_group * groups, cout, tuple(layer.strides), tuple(layer.dilation_rate))


def _quantized_kernel(layer):
    """The kernel a layer actually uses (larq quantizes on read in quantized scope)."""
    import larq as lq

    kernel = layer.kernel
    with lq.context.quantized_scope(True):
        value = kernel.value() if hasattr(kernel, "value") else kernel
    return np.asarray(value, dtype=np.float64)


def _alpha_spread(kernel) -> float:
    """Largest relative spread of |w| within an output channel (0 for a ±alpha kernel)."""
    magnitude = np.abs(kernel.reshape(-1, kernel.shape[-1]))
    high, low = magnitude.max(axis=0), magnitude.min(axis=0)
    spread = np.where(high > 0, (high - low) / np.where(high > 0, high, 1), 0.0)
    return float(spread.max()) if spread.size else 0.0


def _float_reason(layer, target) -> str:
    """Why a binary Keras layer did not become an LceBconv2d (LCE's conversion rules)."""
    kind = _layer_kind(layer)
    cls = type(layer).__name__
    if kind == "dense":
        return (
            f"{cls} stays float: LCE has no binary fully-connected op; use a 1x1 "
            "QuantConv2D on a (1, 1, features) input instead"
        )
    if kind == "depthwise":
        return f"{cls} stays float: LCE has no binary depthwise convolution"
    if kind == "separable":
        return f"{cls} stays float: LCE converts only plain 2D convolutions"
    if kind != "conv2d":
        return f"{cls} stays float: LCE converts only 2D convolutions (Conv2D)"
    input_precision = _precision(getattr(layer, "input_quantizer", None))
    if input_precision != 1:
        what = "no input quantizer" if input_precision is None else (
            f"an input quantizer of precision {input_precision}"
        )
        return (
            f"no sign on the input ({what}): LCE needs a sign (ste_sign, approx_sign, "
            "swish_sign, RSign, ...) feeding the convolution"
        )
    kernel_precision = _precision(getattr(layer, "kernel_quantizer", None))
    if kernel_precision != 1:
        return (
            f"the kernel is not binary (kernel_quantizer precision {kernel_precision}): "
            "LCE needs a ±alpha-per-output-channel kernel"
        )
    try:
        spread = _alpha_spread(_quantized_kernel(layer))
    except Exception:  # noqa: BLE001 - diagnosis only
        spread = 0.0
    if spread > 0.005:
        return (
            "the quantized kernel is not ±alpha per output channel (|w| varies by "
            f"{spread:.1%} within a channel; LCE allows 0.5 %)"
        )
    if (
        target == "xcore"
        and layer.padding == "same"
        and float(getattr(layer, "pad_values", 0.0)) != 1.0
    ):
        return (
            "padding='same' with pad_values=0 is converted only for the arm target; "
            "use pad_values=1.0"
        )
    if int(getattr(layer, "groups", 1) or 1) > 1:
        return f"grouped convolution (groups={layer.groups}) was not converted"
    return (
        "not converted for an unknown reason: LCE did not see a sign directly feeding a "
        "convolution with a constant ±alpha kernel (an op between the sign and the conv?)"
    )


# ======================================================================================
# The op report
# ======================================================================================
@dataclasses.dataclass
class BinaryConvOp:
    """One `LceBconv2d` of a flatbuffer.

    # Attributes
        index: Operator index in the main subgraph.
        layer: The Keras layer it comes from (`None` if unknown).
        bitpacked: Whether it writes bitpacked output (an int32 output tensor: the next
            op is the next layer's sign, fused into per-channel thresholds).
        output_chain: For float output, the ops its output goes through, up to the next
            sign (`LceQuantize`) or the model output.
        kernel_size, channels_in, channels_out, strides, padding, pad_values: From the
            op's filter and options.
    """

    index: int
    layer: str | None
    bitpacked: bool
    output_chain: list[str]
    kernel_size: tuple[int, int]
    channels_in: int
    channels_out: int
    strides: tuple[int, int]
    padding: str
    pad_values: int


@dataclasses.dataclass
class FloatOp:
    """A TFLite builtin (float) op and the Keras layers its output tensor names name."""

    index: int
    op: str
    layers: list[str]
    tensor: str


@dataclasses.dataclass
class LayerStatus:
    """What became of one binary Keras layer: `binary_op` is `"LceBconv2d"` or `None`
    (stays float, `reason` says why)."""

    layer: str
    layer_class: str
    binary_op: str | None
    bitpacked: bool
    reason: str | None


@dataclasses.dataclass
class OpReport:
    """The op histogram of a flatbuffer and what became of the binary Keras layers.

    # Attributes
        op_counts: Op name -> count (custom ops by their name, e.g. `LceBconv2d`).
        bconvs: One `BinaryConvOp` per `LceBconv2d`.
        float_ops: Every TFLite builtin op, with the Keras layers it comes from.
        layers: One `LayerStatus` per binary Keras layer (needs the Keras model).
        warnings: One line per binary Keras layer that did not become a binary op.
        notes: Performance hints (float output that could be bitpacked, channels).
        target: The conversion target the rules were checked against.
    """

    op_counts: dict[str, int]
    bconvs: list[BinaryConvOp]
    float_ops: list[FloatOp]
    layers: list[LayerStatus]
    warnings: list[str]
    notes: list[str]
    target: str

    @property
    def num_bconv(self) -> int:
        return len(self.bconvs)

    @property
    def num_bitpacked(self) -> int:
        return sum(op.bitpacked for op in self.bconvs)

    def to_dict(self) -> dict:
        return {
            "op_counts": dict(self.op_counts),
            "num_bconv": self.num_bconv,
            "num_bitpacked": self.num_bitpacked,
            "bconvs": [dataclasses.asdict(op) for op in self.bconvs],
            "float_ops": [dataclasses.asdict(op) for op in self.float_ops],
            "layers": [dataclasses.asdict(status) for status in self.layers],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "target": self.target,
        }

    def to_text(self) -> str:
        lines = [f"Ops ({sum(self.op_counts.values())} in all, target {self.target}):"]
        float_layers = {}
        for op in self.float_ops:
            float_layers.setdefault(op.op, [])
            for name in op.layers or ["?"]:
                if name not in float_layers[op.op]:
                    float_layers[op.op].append(name)
        width = max((len(name) for name in self.op_counts), default=10)
        for name, count in sorted(self.op_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            extra = ""
            if name == "LceBconv2d":
                extra = f"  ({self.num_bitpacked} with bitpacked output)"
            elif name in float_layers:
                names = float_layers[name]
                extra = "  float: " + ", ".join(names[:6])
                extra += f", ... (+{len(names) - 6})" if len(names) > 6 else ""
            lines.append(f"  {name:<{width}}  {count:>4}{extra}")
        if self.bconvs:
            lines.append("Binary convolutions (LceBconv2d):")
            for op in self.bconvs:
                if op.bitpacked:
                    out = "bitpacked output"
                else:
                    out = "float output -> " + " -> ".join(op.output_chain or ["output"])
                lines.append(
                    f"  {op.layer or '?'}: {op.kernel_size[0]}x{op.kernel_size[1]} "
                    f"{op.channels_in}->{op.channels_out}, stride {op.strides[0]}, "
                    f"{op.padding.lower()}"
                    + (f" pad {op.pad_values}" if op.padding == "SAME" else "")
                    + f", {out}"
                )
        if self.layers:
            floats = [s for s in self.layers if s.binary_op is None]
            lines.append(
                f"Binary Keras layers: {len(self.layers)}, "
                f"{len(self.layers) - len(floats)} became binary ops, {len(floats)} stay float."
            )
        for warning in self.warnings:
            lines.append(f"WARNING: {warning}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)


def _op_name(model, op, builtin_names) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return _decode(code.customCode)
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return builtin_names.get(number, f"BUILTIN_{number}")


_TRUNCATED_NAME = 50  # TFLite cuts fused location names to 50 characters


def _names_in(tensor_name: str, known: set[str] | None, model_name: str | None) -> list[str]:
    """Keras layer names in a TFLite tensor name (`model/layer/op;model/layer2/op`).

    With the Keras model, the last path component of each `;`-part that is a layer name;
    a cut-off last component of a truncated name (plus TFLite's numeric suffix) counts
    when it starts exactly one layer name. Without the Keras model, the second component
    of each part (the first is the model's name).
    """
    names = []
    parts_list = tensor_name.split(";")
    for i, part in enumerate(parts_list):
        parts = [p for p in part.split("/") if p]
        if known is not None:
            hits = [p for p in parts if p in known and p != model_name]
            if hits:
                if hits[-1] not in names:
                    names.append(hits[-1])
            elif (
                parts
                and i == len(parts_list) - 1
                and len(tensor_name.rstrip("0123456789")) >= _TRUNCATED_NAME
            ):
                stub = parts[-1].rstrip("0123456789")
                matches = [n for n in known if len(stub) >= 3 and n.startswith(stub)]
                if len(matches) == 1 and matches[0] not in names:
                    names.append(matches[0])
        elif len(parts) >= 3 and parts[1] not in names:
            names.append(parts[1])
    return names


def _graph_maps(graph):
    producer, consumers = {}, {}
    for index, op in enumerate(graph.operators):
        for t in op.outputs if op.outputs is not None else []:
            producer[int(t)] = index
        for t in op.inputs if op.inputs is not None else []:
            if t >= 0:
                consumers.setdefault(int(t), []).append(index)
    return producer, consumers


def _output_chain(graph, start_op, names, consumers, graph_outputs, limit=8) -> list[str]:
    chain, op = [], graph.operators[start_op]
    for _ in range(limit):
        tensor = int(op.outputs[0])
        users = consumers.get(tensor, [])
        if tensor in graph_outputs and not users:
            chain.append("model output")
            break
        if len(users) != 1:
            chain.append(f"{len(users)} consumers")
            break
        op = graph.operators[users[0]]
        chain.append(names[users[0]])
        if names[users[0]] in ("LceQuantize", "LceBconv2d"):
            break
    return chain


def inspect_flatbuffer(data, keras_model=None, *, target: str = "arm") -> OpReport:
    """Op histogram of an LCE flatbuffer, mapped back to the Keras model when given.

    A `LceBconv2d` writes bitpacked output when its output tensor is int32: LCE then
    fused the following sign (and the normalization before it) into per-channel
    thresholds, so the next binary layer reads bits directly. Float output means some op
    sits between the conv and the next sign (a max-pool before the normalization, a
    reshape, a residual add, PReLU, a second use of the output), the next layer is not
    binary, or the conv uses `padding="same"` with `pad_values=0` (never bitpacked).

    Layers are found from tensor names (TFLite keeps `model/layer/op` names, sometimes
    truncated) and, for binary convolutions, from the conv's shape, stride and dilation.
    Every binary Keras layer (a larq layer with a precision-1 input or weight quantizer)
    that did not become an `LceBconv2d` gets a warning with the reason.

    # Arguments
        data: The flatbuffer bytes.
        keras_model: The Keras model it was converted from (optional: without it, layer
            names come from tensor names only and there are no per-layer warnings).
        target: `"arm"` or `"xcore"`, the target it was converted for (some rules differ).

    # Returns
        An `OpReport`.

    # Raises
        DeployError: `data` is not a valid TFLite flatbuffer, or `target` is unknown.
    """
    if target not in TARGETS:
        raise DeployError(f"unknown target {target!r}; expected one of {TARGETS}.")
    data = check_flatbuffer(data)
    model = _parse(data)
    builtin_names, type_names = _builtin_names(), _tensor_type_names()
    known = model_name = None
    if keras_model is not None:
        flat = _flat_layers(keras_model)
        known = {layer.name for layer in flat}
        model_name = keras_model.name
    output_layers = list(getattr(keras_model, "output_names", None) or [])

    counts = Counter()
    bconvs, float_ops, notes = [], [], []
    hints, dilations = [], []  # per bconv, for matching
    for graph_index, graph in enumerate(model.subgraphs or []):
        names = [_op_name(model, op, builtin_names) for op in graph.operators or []]
        counts.update(names)
        _, consumers = _graph_maps(graph)
        outputs = {int(t) for t in (graph.outputs if graph.outputs is not None else [])}
        for index, (op, name) in enumerate(zip(graph.operators or [], names)):
            out_names = [_decode(graph.tensors[t].name) for t in op.outputs if t >= 0]
            if name == "LceBconv2d":
                options = _custom_options(op)
                filt = graph.tensors[int(op.inputs[1])]
                cout, kh, kw = (int(d) for d in list(filt.shape)[:3])
                out_tensor = graph.tensors[int(op.outputs[0])]
                bitpacked = type_names.get(out_tensor.type) == "INT32"
                act_name = _decode(graph.tensors[int(op.inputs[0])].name)
                names_here = _names_in(act_name, known, model_name)
                names_here += [n for t in out_names for n in _names_in(t, known, model_name)]
                hints.append(names_here)
                dilations.append((
                    int(options.get("dilation_height_factor", 1)),
                    int(options.get("dilation_width_factor", 1)),
                ))
                bconvs.append(
                    BinaryConvOp(
                        index=index if graph_index == 0 else -1,
                        layer=None,
                        bitpacked=bitpacked,
                        output_chain=[] if bitpacked else _output_chain(
                            graph, index, names, consumers, outputs
                        ),
                        kernel_size=(kh, kw),
                        channels_in=int(options.get("channels_in", 0)),
                        channels_out=cout,
                        strides=(
                            int(options.get("stride_height", 1)),
                            int(options.get("stride_width", 1)),
                        ),
                        padding="SAME" if options.get("padding", 1) == 0 else "VALID",
                        pad_values=int(options.get("pad_values", 0)),
                    )
                )
            elif not name.startswith("Lce"):
                layers = [n for t in out_names for n in _names_in(t, known, model_name)]
                if not layers and output_layers and any(int(t) in outputs for t in op.outputs):
                    layers = list(output_layers)  # output tensors lose their layer names
                float_ops.append(FloatOp(index, name, list(dict.fromkeys(layers)),
                                         out_names[0] if out_names else ""))

    statuses, report_warnings = [], []
    if keras_model is not None:
        _match_bconvs(bconvs, hints, dilations,
                      [l for l in flat if _layer_kind(l) == "conv2d"])
        matched = {op.layer: op for op in bconvs if op.layer is not None}
        for layer in flat:
            if not _is_binary_layer(layer):
                continue
            op = matched.get(layer.name)
            if op is not None:
                statuses.append(
                    LayerStatus(layer.name, type(layer).__name__, "LceBconv2d",
                                op.bitpacked, None)
                )
                continue
            reason = _float_reason(layer, target)
            statuses.append(
                LayerStatus(layer.name, type(layer).__name__, None, False, reason)
            )
            if _has_binary_weights(layer) or _layer_kind(layer) == "conv2d":
                report_warnings.append(
                    f"binary layer '{layer.name}' ({type(layer).__name__}) did not become "
                    f"a binary op: {reason}."
                )
            else:  # e.g. a full-precision classifier on binary inputs, by design
                notes.append(
                    f"{layer.name} ({type(layer).__name__}): binary input, full-precision "
                    "weights: runs as a float op, its sign as LceQuantize + LceDequantize"
                )
    else:
        for op, names_here in zip(bconvs, hints):
            op.layer = names_here[0] if names_here else None

    notes.extend(_bconv_notes(bconvs))
    return OpReport(dict(counts), bconvs, float_ops, statuses, report_warnings, notes,
                    target)


def _match_bconvs(bconvs, hints, dilations, conv_layers):
    """Assigns each LceBconv2d the Keras conv layer it came from.

    Candidates must have the op's kernel size, channels, strides and dilations; among
    them a layer named in the op's tensor names wins, then binary layers in model order.
    """
    signatures = {}
    for layer in conv_layers:
        try:
            signatures[layer.name] = _conv_signature(layer)
        except (AttributeError, TypeError, ValueError):
            continue
    order = {layer.name: i for i, layer in enumerate(conv_layers)}
    binary = {layer.name for layer in conv_layers if _is_binary_layer(layer)}
    taken = set()

    def fits(i, name):
        op = bconvs[i]
        kh, kw, cin, cout, strides, dilation = signatures[name]
        return (
            (kh, kw, cout) == (op.kernel_size[0], op.kernel_size[1], op.channels_out)
            and (op.channels_in in (0, cin))
            and strides == op.strides
            and dilation == dilations[i]
        )

    for i, op in enumerate(bconvs):  # first pass: names
        for hint in hints[i]:
            if hint in signatures and hint not in taken and fits(i, hint):
                op.layer = hint
                taken.add(hint)
                break
    for i, op in enumerate(bconvs):  # second pass: shapes, binary layers first, in order
        if op.layer is not None:
            continue
        candidates = [n for n in signatures if n not in taken and fits(i, n)]
        candidates.sort(key=lambda n: (n not in binary, order[n]))
        if candidates:
            op.layer = candidates[0]
            taken.add(candidates[0])


_NOTE_TEXT = {
    "zero_pad": "padding='same' with pad_values=0 uses LCE's slower zero-padding path and "
    "never writes bitpacked output; pad_values=1.0 is the fast path",
    "max_pool": "a max-pool before a per-channel scale/shift (normalization, RSign "
    "threshold) keeps the output float; conv -> scale/shift -> max-pool -> sign lets LCE "
    "fuse it and write bitpacked output (LceBMaxPool2d)",
    "shared": "the output is used by several ops (a residual add, ABN's sigmoid(x) * x, "
    "...), so it stays float (expected in such blocks)",
    "channels_in": "input channels not a multiple of 32 (multiples of 32 are fastest)",
    "channels_out": "output channels not a multiple of 8 (multiples of 8 are fastest)",
}


def _bconv_note_kinds(op: BinaryConvOp) -> list[str]:
    kinds = []
    chain = op.output_chain
    if op.padding == "SAME" and op.pad_values != 1:
        kinds.append("zero_pad")
    elif not op.bitpacked and chain:
        if chain[-1].endswith("consumers"):
            kinds.append("shared")
        if "MAX_POOL_2D" in chain:
            after = chain[chain.index("MAX_POOL_2D") + 1 :]
            if any(c in ("MUL", "ADD") for c in after):
                kinds.append("max_pool")
    if op.channels_in and op.channels_in % 32:
        kinds.append("channels_in")
    if op.channels_out % 8:
        kinds.append("channels_out")
    return kinds


def _bconv_notes(bconvs) -> list[str]:
    """One note per kind of finding, naming the binary convs it applies to."""
    by_kind = {}
    for op in bconvs:
        for kind in _bconv_note_kinds(op):
            by_kind.setdefault(kind, []).append(op.layer or f"LceBconv2d #{op.index}")
    notes = []
    for kind, names in by_kind.items():
        if len(names) == 1:
            who = names[0]
        else:
            shown = ", ".join(names[:6]) + (f", ... (+{len(names) - 6})" if len(names) > 6 else "")
            who = f"{len(names)} binary convs ({shown})"
        notes.append(f"{who}: {_NOTE_TEXT[kind]}")
    return notes


# ======================================================================================
# Size
# ======================================================================================
@dataclasses.dataclass
class SizeReport:
    """File size against the ideal size of the same weights.

    Ideal: every binary weight (a weight whose larq quantizer has `precision == 1`) at
    1 bit, every other parameter (including normalization statistics and learned
    thresholds) at 32 bit. A ratio far above 1 means weights stored as float that were
    meant to be binary (e.g. a QuantDense kernel).

    # Attributes
        file_bytes: Size of the flatbuffer.
        ideal_bytes: `binary_params / 8 + 4 * other_params`.
        binary_params, other_params: Parameter counts of the Keras model.
        bitpacked_weight_bytes: Bytes of the bitpacked filters of all `LceBconv2d`.
        constant_bytes: Bytes of all other constant buffers.
    """

    file_bytes: int
    ideal_bytes: float
    binary_params: int
    other_params: int
    bitpacked_weight_bytes: int
    constant_bytes: int

    @property
    def ratio(self) -> float:
        return self.file_bytes / self.ideal_bytes if self.ideal_bytes else math.inf

    @property
    def overhead_bytes(self) -> int:
        """Graph structure, tensor names, options and alignment."""
        return self.file_bytes - self.bitpacked_weight_bytes - self.constant_bytes

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "ratio": self.ratio,
                "overhead_bytes": self.overhead_bytes}

    def to_text(self) -> str:
        return (
            f"Size: {self.file_bytes:,} bytes; ideal {self.ideal_bytes:,.0f} bytes "
            f"({self.binary_params:,} binary weights at 1 bit + {self.other_params:,} "
            f"other parameters at 32 bit): ratio {self.ratio:.2f}\n"
            f"  in the file: bitpacked filters {self.bitpacked_weight_bytes:,} bytes, "
            f"other constants {self.constant_bytes:,} bytes, graph and metadata "
            f"{self.overhead_bytes:,} bytes"
        )


def ideal_size(keras_model) -> tuple[float, int, int]:
    """`(ideal_bytes, binary_params, other_params)` of a Keras model (see `SizeReport`).

    Binary weights are the variables whose larq quantizer has `precision == 1`
    (`QuantizedVariable.precision`); all other weights, trainable or not, count at
    32 bit.
    """
    binary = other = 0
    for weight in keras_model.weights:
        count = int(np.prod(weight.shape)) if weight.shape.rank else 1
        if getattr(weight, "precision", None) == 1:
            binary += count
        else:
            other += count
    return binary / 8 + 4 * other, binary, other


def size_report(data, keras_model) -> SizeReport:
    """The `SizeReport` of a flatbuffer converted from `keras_model`.

    # Raises
        DeployError: `data` is not a valid TFLite flatbuffer.
    """
    data = check_flatbuffer(data)
    model = _parse(data)
    builtin_names = _builtin_names()
    filter_buffers = set()
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            if _op_name(model, op, builtin_names) == "LceBconv2d":
                filter_buffers.add(int(graph.tensors[int(op.inputs[1])].buffer))
    bitpacked = constants = 0
    for index, buffer in enumerate(model.buffers or []):
        if buffer.data is not None:
            size = len(buffer.data)
        else:  # large models keep buffers after the flatbuffer (offset + size)
            size = int(getattr(buffer, "size", 0) or 0)
        if index in filter_buffers:
            bitpacked += size
        else:
            constants += size
    ideal, binary_params, other_params = ideal_size(keras_model)
    return SizeReport(len(data), ideal, binary_params, other_params, bitpacked, constants)


# ======================================================================================
# Conversion
# ======================================================================================
@dataclasses.dataclass
class ConversionResult:
    """An LCE flatbuffer and its reports.

    # Attributes
        flatbuffer: The converted model (`bytes`), ready to write to a `.tflite` file.
        target: `"arm"` or `"xcore"`.
        ops: The `OpReport`.
        size: The `SizeReport`.
        verification: A `VerificationResult` once `verify` ran (else `None`).
        keras_model: The converted Keras model (not serialized).
    """

    flatbuffer: bytes
    target: str
    ops: OpReport
    size: SizeReport
    verification: VerificationResult | None = None
    keras_model: object = dataclasses.field(default=None, repr=False)

    def verify(self, x, y=None, *, threshold=DEFAULT_AGREEMENT_THRESHOLD):
        """Runs `verify` against the Keras model, stores and returns the result."""
        self.verification = verify(self.flatbuffer, self.keras_model, x, y,
                                   threshold=threshold)
        return self.verification

    def save(self, path) -> Path:
        """Writes the flatbuffer to `path` (atomically) and returns the path.

        # Raises
            DeployError: The directory does not exist or is not writable.
        """
        return _write_atomic(Path(path), self.flatbuffer)

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "ops": self.ops.to_dict(),
            "size": self.size.to_dict(),
            "verification": self.verification.to_dict() if self.verification else None,
        }

    def to_text(self) -> str:
        parts = [f"LCE conversion report (target {self.target})", self.ops.to_text(),
                 self.size.to_text()]
        if self.verification is not None:
            parts.append(self.verification.to_text())
        return "\n".join(parts)


def _write_atomic(path: Path, data: bytes) -> Path:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DeployError(f"output directory does not exist: '{directory}'.")
    if path.is_dir():
        raise DeployError(f"output path is a directory: '{path}'.")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except OSError as error:
        raise DeployError(f"cannot write '{path}': {_one_line(error)}") from error
    return path


def _as_keras_model(model_or_path, safe_mode):
    tf = _import_tf()
    if isinstance(model_or_path, tf.keras.Model):
        return model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        return load_keras_model(model_or_path, safe_mode=safe_mode)
    raise DeployError(
        "expected a tf.keras.Model or the path of one, got "
        f"{type(model_or_path).__name__}."
    )


def convert(model_or_path, target: str = "arm", *, safe_mode: bool = True) -> ConversionResult:
    """Converts a Keras model with `larq_compute_engine.convert_keras_model`.

    # Arguments
        model_or_path: A `tf.keras.Model`, or the path of one (`.keras`, `.h5` or a
            SavedModel directory; loaded with `load_keras_model`).
        target: `"arm"` (Raspberry Pi, Android, default) or `"xcore"` (XMOS).
        safe_mode: For paths: `False` allows Lambda layers (arbitrary code execution).

    # Returns
        A `ConversionResult` with the flatbuffer, its `OpReport` and its `SizeReport`.

    # Raises
        DeployError: Unknown target; the path is missing, not a Keras model, corrupt or
            refused in safe mode; or LCE cannot convert the model.
    """
    if target not in TARGETS:
        raise DeployError(f"unknown target {target!r}; expected one of {TARGETS}.")
    model = _as_keras_model(model_or_path, safe_mode)
    import larq_compute_engine as lce

    try:
        flatbuffer = lce.convert_keras_model(model, target=target)
    except Exception as error:
        raise DeployError(
            f"LCE cannot convert model '{model.name}': {_one_line(error)}"
        ) from error
    flatbuffer = bytes(flatbuffer)
    return ConversionResult(
        flatbuffer=flatbuffer,
        target=target,
        ops=inspect_flatbuffer(flatbuffer, model, target=target),
        size=size_report(flatbuffer, model),
        keras_model=model,
    )


def convert_float(model_or_path, *, safe_mode: bool = True) -> bytes:
    """The same network as a plain float TFLite model (TensorFlow's own converter, no
    LCE ops): the baseline of `benchmark`. Binary weights become float ±1 (or ±alpha)
    constants and signs become float ops.

    # Raises
        DeployError: As `load_keras_model`, or TensorFlow cannot convert the model.
    """
    tf = _import_tf()
    model = _as_keras_model(model_or_path, safe_mode)
    try:
        # Batch 1 and static shapes, as LCE converts: with a dynamic batch, reshapes
        # inside the model (e.g. flatten -> 1x1 conv) leave convs of unknown channel
        # count, which the plain TFLite converter rejects.
        specs = [
            tf.TensorSpec([1, *tensor.shape[1:]], tensor.dtype) for tensor in model.inputs
        ]
        function = tf.function(lambda *inputs: model(list(inputs) if len(inputs) > 1
                                                     else inputs[0], training=False))
        concrete = function.get_concrete_function(*specs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
            flatbuffer = converter.convert()
    except Exception as error:
        raise DeployError(
            f"TensorFlow cannot convert model '{model.name}' to float TFLite: "
            f"{_one_line(error)}"
        ) from error
    return bytes(flatbuffer)


# ======================================================================================
# Verification
# ======================================================================================
@dataclasses.dataclass
class VerificationResult:
    """LCE interpreter against Keras inference on the same samples.

    # Attributes
        samples: Number of samples compared.
        agreement: Fraction of samples with the same top-1 class.
        max_abs_diff: Largest absolute difference of any output (logit) value.
        threshold: Minimum agreement to pass.
        keras_accuracy, lce_accuracy: Top-1 accuracies when labels were given.
    """

    samples: int
    agreement: float
    max_abs_diff: float
    threshold: float
    keras_accuracy: float | None = None
    lce_accuracy: float | None = None

    @property
    def passed(self) -> bool:
        return self.agreement >= self.threshold

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed}

    def to_text(self) -> str:
        text = (
            f"Verification (LCE interpreter vs Keras, {self.samples} samples): top-1 "
            f"agreement {self.agreement:.2%} (threshold {self.threshold:.2%}), max |output "
            f"difference| {self.max_abs_diff:.3g}"
        )
        if self.keras_accuracy is not None:
            text += (
                f"; accuracy Keras {self.keras_accuracy:.2%}, LCE {self.lce_accuracy:.2%}"
            )
        return text + (": PASSED" if self.passed else ": FAILED")


def _labels(y, n):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if y.shape[0] != n:
        raise DeployError(f"got {y.shape[0]} labels for {n} samples.")
    return y.astype(np.int64)


def verify(tflite_bytes, keras_model, x, y=None, *,
           threshold: float = DEFAULT_AGREEMENT_THRESHOLD, num_threads: int = 1):
    """Compares LCE's interpreter with `keras_model.predict` on the same inputs.

    The binary convolutions agree exactly, but the float ops around them do not (other
    accumulation order, folded normalization), so a sign whose input is within rounding
    of 0 can flip and, through the following layers, change a near-tied top-1
    prediction. Exact equality is therefore not expected; `DEFAULT_AGREEMENT_THRESHOLD`
    (99.5 %) tolerates such ties and still fails real conversion errors, which change
    many percent of the predictions.

    # Arguments
        tflite_bytes: The LCE flatbuffer.
        keras_model: The Keras model it was converted from (single output).
        x: Inputs, `(samples, *input_shape)`.
        y: Optional labels (class indices or one-hot) for both accuracies.
        threshold: Minimum top-1 agreement for `passed`, in (0, 1].
        num_threads: Interpreter threads.

    # Returns
        A `VerificationResult`.

    # Raises
        DeployError: Bad flatbuffer, no samples, input or label shapes that do not fit,
            a multi-output model, or a threshold outside (0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
        0 < threshold <= 1
    ):
        raise DeployError(f"the agreement threshold must be in (0, 1], got {threshold!r}.")
    tf = _import_tf()
    if not isinstance(keras_model, tf.keras.Model):
        raise DeployError(
            f"expected the Keras model to compare with, got {type(keras_model).__name__}."
        )
    data = check_flatbuffer(tflite_bytes)
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(data, num_threads=num_threads)
    if len(interpreter.input_shapes) != 1 or len(interpreter.output_shapes) != 1:
        raise DeployError("verify supports models with one input and one output.")
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(interpreter.input_shapes[0][1:])
    if x.ndim == 0 or x.shape[0] == 0:
        raise DeployError("no samples to verify on.")
    if tuple(x.shape[1:]) != expected:
        raise DeployError(
            f"samples of shape {tuple(x.shape[1:])} do not fit the model input {expected}."
        )
    keras_out = np.asarray(keras_model.predict(x, batch_size=64, verbose=0))
    lce_out = np.asarray(interpreter.predict(x))
    if keras_out.shape != lce_out.shape:
        raise DeployError(
            f"outputs differ in shape: Keras {keras_out.shape}, LCE {lce_out.shape}."
        )
    n = x.shape[0]
    keras_top = keras_out.reshape(n, -1).argmax(axis=1)
    lce_top = lce_out.reshape(n, -1).argmax(axis=1)
    result = VerificationResult(
        samples=int(n),
        agreement=float(np.mean(keras_top == lce_top)),
        max_abs_diff=float(np.max(np.abs(keras_out - lce_out))),
        threshold=float(threshold),
    )
    if y is not None:
        labels = _labels(y, n)
        result.keras_accuracy = float(np.mean(keras_top == labels))
        result.lce_accuracy = float(np.mean(lce_top == labels))
    return result


def _fit_inputs(x: np.ndarray, input_shape) -> np.ndarray:
    """Images to the model's (height, width, channels): resize, tile or average."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if input_shape is None:
        return x
    target = tuple(int(d) for d in input_shape)
    if len(target) == 3 and x.ndim == 3:
        x = x[..., None]
    if len(target) == 3 and x.ndim == 4:
        if x.shape[-1] != target[-1]:
            if x.shape[-1] == 1:
                x = np.repeat(x, target[-1], axis=-1)
            elif target[-1] == 1:
                x = x.mean(axis=-1, keepdims=True)
        if x.shape[1:3] != target[:2]:
            tf = _import_tf()
            x = tf.image.resize(x, target[:2]).numpy()
    return x


def load_verification_data(name, samples: int, input_shape=None):
    """Real samples for `verify`: `(x, y)`, the first `samples` of a test split.

    # Arguments
        name: A `.npz` file with arrays `x` (and optionally `y`), a dataset of
            `larq_nobn.data` (its evaluation pipeline, i.e. the preprocessing the
            models were trained with).
        samples: How many samples (>= 1).
        input_shape: The model's input shape without batch; images are resized and
            their channels tiled or averaged to fit.

    # Returns
        `(x, y)` NumPy arrays (`y` may be `None` for an `.npz` without labels).

    # Raises
        DeployError: Unknown dataset, missing files, or `samples < 1`.
    """
    if not isinstance(samples, int) or samples < 1:
        raise DeployError(f"the number of verification samples must be >= 1, got {samples!r}.")
    name = str(name)
    if name.endswith(".npz"):
        path = Path(name)
        if not path.is_file():
            raise DeployError(f"verification data file not found: '{path}'.")
        try:
            with np.load(path, allow_pickle=False) as arrays:
                if "x" not in arrays:
                    raise DeployError(f"'{path}' has no array 'x' (found {list(arrays)}).")
                x = arrays["x"][:samples]
                y = arrays["y"][:samples] if "y" in arrays else None
        except DeployError:
            raise
        except Exception as error:
            raise DeployError(f"cannot read '{path}': {_one_line(error)}") from error
        return _fit_inputs(x, input_shape), y
    from larq_nobn import data as data_module

    if name not in data_module.DATASETS:
        raise DeployError(
            f"unknown verification dataset {name!r}; expected one of "
            f"{sorted(data_module.DATASETS)} or an .npz file with arrays x and y."
        )
    try:
        dataset = data_module.load(name, "test", training=False, batch_size=256)
        xs, ys, count = [], [], 0
        for batch_x, batch_y in dataset:
            xs.append(np.asarray(batch_x))
            ys.append(np.asarray(batch_y))
            count += len(xs[-1])
            if count >= samples:
                break
    except Exception as error:  # missing files, no network for tfds, ...
        raise DeployError(f"cannot load dataset {name!r}: {_one_line(error)}") from error
    x, y = np.concatenate(xs)[:samples], np.concatenate(ys)[:samples]
    return _fit_inputs(x, input_shape), y


# ======================================================================================
# Benchmark
# ======================================================================================
@dataclasses.dataclass
class LatencyStats:
    """Latency of one model at one thread count, in milliseconds (p90: linear
    interpolation between samples, NumPy's default)."""

    model: str
    threads: int
    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float


@dataclasses.dataclass
class BenchmarkResult:
    """Host latencies of the LCE model and, when known, the float TFLite baseline.

    # Attributes
        rows: One `LatencyStats` per (model, threads); model is `"lce"` or `"float"`.
        host: Machine and CPU description.
        notes: What the numbers mean (x86 kernels, missing baseline).
    """

    rows: list[LatencyStats]
    host: str
    notes: list[str]

    def speedup(self, threads: int) -> float | None:
        """Median float latency / median LCE latency at `threads` (None w/o baseline)."""
        by = {(r.model, r.threads): r for r in self.rows}
        lce, base = by.get(("lce", threads)), by.get(("float", threads))
        if lce is None or base is None or lce.median_ms <= 0:
            return None
        return base.median_ms / lce.median_ms

    def to_dict(self) -> dict:
        threads = sorted({r.threads for r in self.rows})
        return {
            "rows": [dataclasses.asdict(r) for r in self.rows],
            "speedup": {str(t): self.speedup(t) for t in threads},
            "host": self.host,
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        lines = [
            "| model | threads | median ms | p90 ms | min ms | speedup vs float |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            speedup = self.speedup(r.threads) if r.model == "lce" else None
            lines.append(
                f"| {r.model} | {r.threads} | {r.median_ms:.3f} | {r.p90_ms:.3f} | "
                f"{r.min_ms:.3f} | {'' if speedup is None else f'{speedup:.2f}x'} |"
            )
        return "\n".join(lines)

    def to_text(self) -> str:
        return "\n".join(
            [f"Host latency ({self.host}), batch 1:", self.to_markdown()]
            + [f"note: {n}" for n in self.notes]
        )


def _host() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {cpu or 'unknown CPU'}, {os.cpu_count()} cores"


def _random_input(interpreter, seed=0):
    shape = tuple(interpreter.input_shapes[0])
    dtype = np.dtype(interpreter.input_types[0])
    rng = np.random.RandomState(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.randint(info.min, info.max + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def benchmark(model, threads=(1,), runs: int = 50, warmup: int = 5, *,
              float_tflite=None, keras_model=None, progress: bool = True) -> BenchmarkResult:
    """Host latency (batch 1) of an LCE model and of its float TFLite baseline.

    Each model runs in LCE's `Interpreter` (LCE's ops and TFLite's builtin ops) with
    `num_threads` from `threads`: `warmup` untimed runs, then `runs` timed ones on a
    fixed random input. The float baseline is the same network converted by
    TensorFlow's own TFLite converter (`convert_float`): given directly
    (`float_tflite`), converted from `keras_model`, or both converted when `model` is a
    Keras model. Without any of them only the LCE model is timed, and the notes say so.

    On x86 LCE runs portable C++ kernels, not its optimized ARM ones: the speedup here
    is not the speedup on a device.

    # Arguments
        model: An LCE flatbuffer (`bytes`) or a `tf.keras.Model` (converted for arm).
        threads: Thread counts to time.
        runs: Timed runs per (model, threads), >= 1.
        warmup: Untimed runs before them, >= 0.
        float_tflite: The float TFLite baseline (`bytes`), optional.
        keras_model: The Keras model, to convert the baseline from, optional.
        progress: Show a tqdm progress bar on stderr.

    # Returns
        A `BenchmarkResult`.

    # Raises
        DeployError: Bad flatbuffers, `threads`, `runs` or `warmup`.
    """
    tf = _import_tf()
    threads = tuple(threads)
    if not threads or any(not isinstance(t, int) or t < 1 for t in threads):
        raise DeployError(f"thread counts must be integers >= 1, got {list(threads)!r}.")
    if not isinstance(runs, int) or runs < 1:
        raise DeployError(f"runs must be an integer >= 1, got {runs!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise DeployError(f"warmup must be an integer >= 0, got {warmup!r}.")
    if isinstance(model, tf.keras.Model):
        keras_model = keras_model or model
        model = convert(model).flatbuffer
    models = {"lce": check_flatbuffer(model)}
    notes = []
    if float_tflite is None and keras_model is not None:
        float_tflite = convert_float(keras_model)
    if float_tflite is not None:
        models["float"] = check_flatbuffer(float_tflite)
    else:
        notes.append(
            "no float baseline: only the .tflite was given; pass the Keras model "
            "(--keras-model) to time the same network as a float TFLite model"
        )
    arch = platform.machine() or "unknown"
    if arch.lower() in ("aarch64", "arm64"):
        notes.append(_ARM_NOTE)
    else:
        notes.append(_HOST_NOTE.format(arch=arch))

    from larq_compute_engine.tflite.python.interpreter import Interpreter
    from tqdm import tqdm

    rows = []
    total = len(models) * len(threads) * (runs + warmup)
    with tqdm(total=total, desc="benchmark", unit="run", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        for name, flatbuffer in models.items():
            for count in threads:
                interpreter = Interpreter(flatbuffer, num_threads=count)
                if len(interpreter.input_shapes) != 1:
                    raise DeployError("benchmark supports models with one input.")
                x = _random_input(interpreter)
                run_once = getattr(interpreter, "interpreter", None)
                if run_once is not None and hasattr(run_once, "predict"):
                    call = lambda: run_once.predict([x])  # noqa: E731
                else:  # pragma: no cover - public API, a little more overhead
                    call = lambda: interpreter.predict(x)  # noqa: E731
                for _ in range(warmup):
                    call()
                    bar.update()
                times = []
                for _ in range(runs):
                    start = time.perf_counter()
                    call()
                    times.append((time.perf_counter() - start) * 1e3)
                    bar.update()
                times = np.asarray(times)
                rows.append(LatencyStats(name, count, runs, float(np.median(times)),
                                         float(np.percentile(times, 90)),
                                         float(times.min()), float(times.mean())))
    return BenchmarkResult(rows, _host(), notes)


# ======================================================================================
# Command line
# ======================================================================================


def add_convert_parser(subparsers):
    """Adds `convert` to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a Keras model to an LCE .tflite with a report",
        description=(
            "Convert a Keras model with Larq Compute Engine and report the op histogram "
            "(binary convolutions, bitpacked outputs, float ops and their layers, "
            "binary layers that stay float and why), the size against the ideal size, "
            "and optionally the agreement of LCE's interpreter with Keras on real "
            "samples. Exit status: 0 ok, 1 verification below the threshold, 2 bad input."
        ),
    )
    parser.add_argument("model", help=f"the Keras model: {_KERAS_MODEL_KINDS}")
    parser.add_argument("-o", "--output",
                        help="the .tflite to write (default: the model path with .tflite)")
    parser.add_argument("--target", choices=TARGETS, default="arm",
                        help="LCE target (default: arm, for Raspberry Pi and Android)")
    parser.add_argument("--verify-dataset", metavar="NAME",
                        help="verify on NAME's test split (e.g. fashion_mnist) or an .npz "
                        "file with arrays x and y")
    parser.add_argument("--verify-samples", type=argtypes.positive_int, default=1000, metavar="N",
                        help="samples to verify on (default: 1000)")
    parser.add_argument("--verify-threshold", type=argtypes.fraction,
                        default=DEFAULT_AGREEMENT_THRESHOLD, metavar="FRACTION",
                        help="minimum top-1 agreement, exit status 1 below it "
                        f"(default: {DEFAULT_AGREEMENT_THRESHOLD})")
    parser.add_argument("--unsafe-load", action="store_true",
                        help="allow Lambda layers in the model file: runs its stored Python "
                        "code; only for files you trust")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.set_defaults(_handler=run_convert)
    return parser


def add_benchmark_parser(subparsers):
    """Adds `benchmark` to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "benchmark",
        help="time an LCE .tflite on this host (and its float baseline)",
        description=(
            "Time an LCE .tflite (batch 1) with LCE's interpreter on this host: median, "
            "p90 and min latency per thread count. With --keras-model the same network "
            "is also timed as a plain float TFLite model (speedup column). On x86 LCE "
            "runs portable kernels, not its optimized ARM ones. Exit status: 0 ok, "
            "2 bad input."
        ),
    )
    parser.add_argument("model", help="the LCE .tflite file")
    parser.add_argument("--threads", type=argtypes.positive_int, nargs="+", default=[1],
                        metavar="N", help="thread counts (default: 1)")
    parser.add_argument("--runs", type=argtypes.positive_int, default=50,
                        help="timed runs per model and thread count (default: 50)")
    parser.add_argument("--warmup", type=argtypes.non_negative_int, default=5,
                        help="untimed runs before them (default: 5)")
    parser.add_argument("--keras-model", metavar="PATH",
                        help="the Keras model the .tflite came from, for the float baseline")
    parser.add_argument("--unsafe-load", action="store_true",
                        help="allow Lambda layers in --keras-model (runs its stored code)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    parser.set_defaults(_handler=run_benchmark)
    return parser


def _arg(args, name, default=None):
    value = getattr(args, name, default)
    return default if value is None else value


def _fail(command, error) -> int:
    message = " ".join(str(error).split())
    print(f"larq-nobn {command}: error: {message}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def _write_json(path, payload):
    if path:
        _write_atomic(Path(path), (json.dumps(payload, indent=2) + "\n").encode("utf-8"))


def _default_output(model_path: Path) -> Path:
    if model_path.is_dir():
        return model_path.parent / (model_path.name.rstrip("/") + ".tflite")
    return model_path.with_suffix(".tflite")


def run_convert(args) -> int:
    """Runs `larq-nobn convert` from parsed arguments; returns the exit status.

    Prints the report on stdout. 0: converted (and verified, if asked); 1: agreement
    below `--verify-threshold`; 2: bad input (one line on stderr, no traceback).
    """
    try:
        model_path = Path(args.model)
        if not model_path.exists():
            raise DeployError(f"model file not found: '{model_path}'.")
        _model_format(model_path)  # a .tflite or a text file: say so before anything else
        output = Path(_arg(args, "output", "") or _default_output(model_path))
        if output.resolve() == model_path.resolve():
            raise DeployError(f"the output '{output}' would overwrite the model.")
        target = _arg(args, "target", "arm")
        samples = _arg(args, "verify_samples", 1000)
        threshold = _arg(args, "verify_threshold", DEFAULT_AGREEMENT_THRESHOLD)
        if not 0 < threshold <= 1:
            raise DeployError(f"--verify-threshold must be in (0, 1], got {threshold!r}.")
        dataset = _arg(args, "verify_dataset")
        if dataset and (not isinstance(samples, int) or samples < 1):
            raise DeployError(f"--verify-samples must be >= 1, got {samples!r}.")
        if target not in TARGETS:
            raise DeployError(f"unknown target {target!r}; expected one of {TARGETS}.")
        if not output.parent.is_dir():
            raise DeployError(f"output directory does not exist: '{output.parent}'.")
        model = load_keras_model(model_path, safe_mode=not _arg(args, "unsafe_load", False))
        if dataset:  # before the (slow) conversion, so that a bad dataset fails fast
            if isinstance(model.input_shape, list):
                raise DeployError("verification needs a model with one input.")
            x, y = load_verification_data(dataset, samples, model.input_shape[1:])
        result = convert(model, target)
        if dataset:
            result.verify(x, y, threshold=threshold)
        result.save(output)
        _write_json(_arg(args, "json"), {"model": str(model_path), "output": str(output),
                                         **result.to_dict()})
    except DeployError as error:
        return _fail("convert", error)
    print(result.to_text())
    print(f"Wrote {output} ({len(result.flatbuffer):,} bytes).")
    if result.verification is not None and not result.verification.passed:
        print(
            f"larq-nobn convert: verification failed: top-1 agreement "
            f"{result.verification.agreement:.2%} < {threshold:.2%}",
            file=sys.stderr,
        )
        return EXIT_VERIFICATION_FAILED
    return EXIT_OK


def run_benchmark(args) -> int:
    """Runs `larq-nobn benchmark` from parsed arguments; returns the exit status.

    Prints the latency table on stdout. 0: ok; 2: bad input (one line on stderr).
    """
    try:
        flatbuffer = read_flatbuffer(args.model)
        keras_model = None
        if _arg(args, "keras_model"):
            keras_model = load_keras_model(
                args.keras_model, safe_mode=not _arg(args, "unsafe_load", False)
            )
            from larq_compute_engine.tflite.python.interpreter import Interpreter

            expected = tuple(Interpreter(flatbuffer).input_shapes[0][1:])
            actual = tuple(keras_model.input_shape[1:])
            if expected != actual:
                raise DeployError(
                    f"--keras-model takes inputs of shape {actual}, the .tflite {expected}: "
                    "not the same network."
                )
        result = benchmark(
            flatbuffer,
            threads=tuple(_arg(args, "threads", [1])),
            runs=_arg(args, "runs", 50),
            warmup=_arg(args, "warmup", 5),
            keras_model=keras_model,
            progress=True,
        )
        _write_json(_arg(args, "json"), {"model": str(args.model), **result.to_dict()})
    except DeployError as error:
        return _fail("benchmark", error)
    print(result.to_text())
    return EXIT_OK
