"""Conversion of a Keras model to an LCE flatbuffer (`convert`, with its op and size
reports) and to a plain float TFLite model (`convert_float`, the benchmark baseline)."""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from pathlib import Path

from larq_nobn.deploy.conversion_rules import check_target
from larq_nobn.deploy.errors import DeployError, one_line
from larq_nobn.deploy.export import check_split_intervals, prepare_for_lce
from larq_nobn.deploy.int8_edges import (
    check_edge_types,
    check_inference_type,
    check_int8_range,
)
from larq_nobn.deploy.loading import import_tensorflow, load_keras_model
from larq_nobn.deploy.op_report import OpReport, inspect_flatbuffer
from larq_nobn.deploy.saving import save_bytes
from larq_nobn.deploy.size import SizeReport, size_report
from larq_nobn.deploy.verification import (
    DEFAULT_AGREEMENT_THRESHOLD,
    VerificationResult,
    verify,
)

__all__ = ["ConversionResult", "as_keras_model", "convert", "convert_float"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ConversionResult:
    """An LCE flatbuffer and its reports.

    # Attributes
        flatbuffer: The converted model (`bytes`), ready to write to a `.tflite` file.
        target: `"arm"` or `"xcore"`.
        ops: The `OpReport`.
        size: The `SizeReport`.
        verification: A `VerificationResult` once `verify` ran (else `None`).
        keras_model: The Keras model given to `convert` (not serialized): `verify`
            compares against it, not against the export model.
        int8_range: The default int8 range `(min, max)` it was converted with, or `None`.
        export: The `ExportReport` of `prepare_for_lce` (`None` with
            `abn_fusion=False`).
    """

    flatbuffer: bytes
    target: str
    ops: OpReport
    size: SizeReport
    verification: VerificationResult | None = None
    keras_model: object = dataclasses.field(default=None, repr=False)
    int8_range: tuple[float, float] | None = None
    export: object = None

    def verify(self, x, y=None, *, threshold=DEFAULT_AGREEMENT_THRESHOLD):
        """Runs `verify` against the Keras model, stores and returns the result."""
        self.verification = verify(self.flatbuffer, self.keras_model, x, y,
                                   threshold=threshold)
        return self.verification

    def save(self, path) -> Path:
        """Writes the flatbuffer to `path` (atomically) and returns the path.

        The file gets the permissions of an ordinary new file (`0o666` less the umask).

        # Raises
            DeployError: The directory does not exist or is not writable, or `path` is
                a directory.
        """
        return save_bytes(path, self.flatbuffer)

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "int8_range": list(self.int8_range) if self.int8_range else None,
            "ops": self.ops.to_dict(),
            "size": self.size.to_dict(),
            "verification": self.verification.to_dict() if self.verification else None,
            "export": self.export.to_dict() if self.export is not None else None,
        }

    def to_text(self) -> str:
        parts = [f"LCE conversion report (target {self.target})"]
        if self.int8_range is not None:
            parts.append(
                f"Default int8 range [{self.int8_range[0]:g}, {self.int8_range[1]:g}] for "
                "tensors without quantization statistics (dummy quantization: for latency "
                "tests, outputs are not accurate)"
            )
        parts += [self.ops.to_text(), self.size.to_text()]
        if self.verification is not None:
            parts.append(self.verification.to_text())
        if self.export is not None:
            parts.append(self.export.to_text())
        return "\n".join(parts)


def as_keras_model(model_or_path, safe_mode: bool = True):
    """A `tf.keras.Model` as it is, or a path loaded with `load_keras_model`.

    # Raises
        DeployError: Neither a model nor a path, or as `load_keras_model`.
    """
    tf = import_tensorflow()
    if isinstance(model_or_path, tf.keras.Model):
        return model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        return load_keras_model(model_or_path, safe_mode=safe_mode)
    raise DeployError(
        "expected a tf.keras.Model or the path of one, got "
        f"{type(model_or_path).__name__}."
    )


def _lce_convert(model, target, input_type, output_type, int8_range) -> bytes:
    """`larq_compute_engine.convert_keras_model` with checked options, as bytes."""
    tf = import_tensorflow()
    import larq_compute_engine as lce

    if int8_range is not None:
        logger.warning(
            "default int8 range %s for tensors without quantization statistics: dummy "
            "quantization, for latency tests only", int8_range,
        )
    try:
        with warnings.catch_warnings():  # LCE warns twice about the range: logged above
            warnings.filterwarnings("ignore", message=".*experimental_default_int8_range")
            flatbuffer = lce.convert_keras_model(
                model, target=target, inference_input_type=tf.as_dtype(input_type),
                inference_output_type=tf.as_dtype(output_type),
                experimental_default_int8_range=int8_range,
            )
    except Exception as error:
        raise DeployError(
            f"LCE cannot convert model '{model.name}': {one_line(error)}"
        ) from error
    return bytes(flatbuffer)


def convert(model_or_path, target: str = "arm", *, safe_mode: bool = True,
            abn_fusion: bool = True, split_intervals="auto", inference_input_type="float32",
            inference_output_type="float32",
            experimental_default_int8_range=None) -> ConversionResult:
    """Converts a Keras model with `larq_compute_engine.convert_keras_model`.

    # Arguments
        model_or_path: A `tf.keras.Model`, or the path of one (`.keras`, `.h5` or a
            SavedModel directory; loaded with `load_keras_model`).
        target: `"arm"` (Raspberry Pi, Android, default) or `"xcore"` (XMOS).
        safe_mode: For paths: `False` allows Lambda layers (arbitrary code execution).
        abn_fusion: Convert the exact, cheaper export model of
            `larq_nobn.deploy.export.prepare_for_lce` (ABN before signs as thresholds,
            max-pools after monotone norms, flatten + binary dense as one binary
            convolution); `False` converts the model as it is.
        split_intervals: `prepare_for_lce`'s choice for ABN channels whose sign is -1
            inside an interval: `"auto"` (default: split into two thresholds where
            that adds no 32-bit word to the next binary layer's input, else exact
            float comparisons), `"bitpacked"` (split wherever a binary conv produces
            them: bitpacked outputs and no float op between binary convs, as with
            BN, for more binary work), `"always"` (wherever possible) or `"never"`
            (`True` / `False` still mean `"always"` / `"never"`, deprecated).
        inference_input_type, inference_output_type: `"float32"` (default) or `"int8"`
            (or `tf.float32` / `tf.int8`): the type of the model's input and output.
            An int8 edge needs quantization statistics there: fake-quantization ops in
            the model, or `experimental_default_int8_range`.
        experimental_default_int8_range: `(min, max)` with `min <= 0 <= max`: the
            range of every tensor without quantization statistics, which LCE then
            quantizes to int8 ("dummy quantization", for latency tests; the outputs are
            not accurate). `None` (default): no such range.

    # Returns
        A `ConversionResult` with the flatbuffer, its `OpReport` (with the input and
        output types and the QUANTIZE / DEQUANTIZE ops in `ops.edges`) and its
        `SizeReport`.

    # Raises
        DeployError: Unknown target, input or output type, or a bad int8 range; the
            path is missing, not a Keras model, corrupt or refused in safe mode; LCE
            cannot convert the model; or an int8 edge was asked for and LCE left it
            float (no quantization statistics there).
        ValueError: An unknown `split_intervals` (the message names the accepted
            ones).
    """
    check_target(target)
    split_intervals = check_split_intervals(split_intervals)
    input_type = check_inference_type(inference_input_type, "inference_input_type")
    output_type = check_inference_type(inference_output_type, "inference_output_type")
    int8_range = check_int8_range(experimental_default_int8_range)
    model = as_keras_model(model_or_path, safe_mode)
    converted, export = model, None
    if abn_fusion:
        converted, export = prepare_for_lce(model, split_intervals=split_intervals)
    flatbuffer = _lce_convert(converted, target, input_type, output_type, int8_range)
    logger.info("converted model '%s' for %s: %d bytes", model.name, target, len(flatbuffer))
    ops = inspect_flatbuffer(flatbuffer, converted, target=target)
    check_edge_types(ops.edges, input_type, output_type)
    return ConversionResult(
        flatbuffer=flatbuffer,
        target=target,
        ops=ops,
        size=size_report(flatbuffer, model),
        keras_model=model,
        int8_range=int8_range,
        export=export,
    )


def convert_float(model_or_path, *, safe_mode: bool = True) -> bytes:
    """The same network as a plain float TFLite model (TensorFlow's own converter, no
    LCE ops): the baseline of `benchmark`. Binary weights become float ±1 (or ±alpha)
    constants and signs become float ops.

    # Raises
        DeployError: As `load_keras_model`, or TensorFlow cannot convert the model.
    """
    tf = import_tensorflow()
    model = as_keras_model(model_or_path, safe_mode)
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
            f"{one_line(error)}"
        ) from error
    return bytes(flatbuffer)
