"""Verification of a conversion: LCE's interpreter against `keras_model.predict` on the
same samples (`verify`), and the real samples to verify on (`load_verification_data`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from larq_nobn.deploy.errors import DeployError, one_line
from larq_nobn.deploy.flatbuffer import check_flatbuffer
from larq_nobn.deploy.int8_edges import INFERENCE_TYPES, dequantize, quantize
from larq_nobn.deploy.loading import import_tensorflow

import numpy as np

__all__ = [
    "DEFAULT_AGREEMENT_THRESHOLD",
    "VerificationResult",
    "fit_inputs",
    "load_verification_data",
    "verify",
]

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


@dataclasses.dataclass
class VerificationResult:
    """LCE interpreter against Keras inference on the same samples.

    # Attributes
        samples: Number of samples compared.
        agreement: Fraction of samples with the same top-1 class.
        max_abs_diff: Largest absolute difference of any output (logit) value.
        threshold: Minimum agreement to pass.
        keras_accuracy, lce_accuracy: Top-1 accuracies when labels were given.
        input_type, output_type: The LCE model's input and output types (`"int8"`:
            samples quantized with the input's scale and zero point, outputs
            dequantized with the output's).
    """

    samples: int
    agreement: float
    max_abs_diff: float
    threshold: float
    keras_accuracy: float | None = None
    lce_accuracy: float | None = None
    input_type: str = "float32"
    output_type: str = "float32"

    @property
    def passed(self) -> bool:
        return self.agreement >= self.threshold

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed}

    def to_text(self) -> str:
        edges = ""
        if (self.input_type, self.output_type) != ("float32", "float32"):
            edges = f", {self.input_type} input, {self.output_type} output"
        text = (
            f"Verification (LCE interpreter vs Keras, {self.samples} samples{edges}): top-1 "
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


def _check_threshold(threshold) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
        0 < threshold <= 1
    ):
        raise DeployError(f"the agreement threshold must be in (0, 1], got {threshold!r}.")


def _lce_interpreter(tflite_bytes, num_threads):
    """LCE's interpreter for a checked single-input, single-output flatbuffer."""
    data = check_flatbuffer(tflite_bytes)
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(data, num_threads=num_threads)
    if len(interpreter.input_shapes) != 1 or len(interpreter.output_shapes) != 1:
        raise DeployError("verify supports models with one input and one output.")
    return interpreter


def _single(value):
    """A per-tensor quantization parameter (LCE gives a list for per-channel ones)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 1:
            raise DeployError("verify supports per-tensor quantized inputs and outputs only.")
        value = value[0]
    return value


def _edge_type(dtype, what) -> str:
    name = np.dtype(dtype).name
    if name not in INFERENCE_TYPES:
        raise DeployError(f"verify supports float32 and int8 {what}s, got {name}.")
    return name


def _run_interpreter(interpreter, x):
    """`(outputs, input_type, output_type)`: float samples `x` through the
    interpreter, quantized for an int8 input and dequantized from an int8 output."""
    input_type = _edge_type(interpreter.input_types[0], "input")
    output_type = _edge_type(interpreter.output_types[0], "output")
    if input_type == "int8":
        x = quantize(x, _single(interpreter.input_scales[0]),
                     _single(interpreter.input_zero_points[0]))
    out = np.asarray(interpreter.predict(x))
    if output_type == "int8":
        out = dequantize(out, _single(interpreter.output_scales[0]),
                         _single(interpreter.output_zero_points[0]))
    return out, input_type, output_type


def verify(tflite_bytes, keras_model, x, y=None, *,
           threshold: float = DEFAULT_AGREEMENT_THRESHOLD, num_threads: int = 1):
    """Compares LCE's interpreter with `keras_model.predict` on the same inputs.

    The binary convolutions agree exactly, but the float ops around them do not (other
    accumulation order, folded normalization), so a sign whose input is within rounding
    of 0 can flip and, through the following layers, change a near-tied top-1
    prediction. Exact equality is therefore not expected; `DEFAULT_AGREEMENT_THRESHOLD`
    (99.5 %) tolerates such ties and still fails real conversion errors, which change
    many percent of the predictions.

    A model with an int8 input gets the samples quantized with the input tensor's scale
    and zero point; an int8 output is dequantized with the output's before comparing.

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
            a multi-output model, an input or output that is neither float32 nor int8,
            or a threshold outside (0, 1].
    """
    _check_threshold(threshold)
    tf = import_tensorflow()
    if not isinstance(keras_model, tf.keras.Model):
        raise DeployError(
            f"expected the Keras model to compare with, got {type(keras_model).__name__}."
        )
    interpreter = _lce_interpreter(tflite_bytes, num_threads)
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(interpreter.input_shapes[0][1:])
    if x.ndim == 0 or x.shape[0] == 0:
        raise DeployError("no samples to verify on.")
    if tuple(x.shape[1:]) != expected:
        raise DeployError(
            f"samples of shape {tuple(x.shape[1:])} do not fit the model input {expected}."
        )
    keras_out = np.asarray(keras_model.predict(x, batch_size=64, verbose=0))
    lce_out, input_type, output_type = _run_interpreter(interpreter, x)
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
        input_type=input_type,
        output_type=output_type,
    )
    if y is not None:
        labels = _labels(y, n)
        result.keras_accuracy = float(np.mean(keras_top == labels))
        result.lce_accuracy = float(np.mean(lce_top == labels))
    return result


def fit_inputs(x: np.ndarray, input_shape) -> np.ndarray:
    """Images to the model's (height, width, channels): resize, tile or average.

    Integer images are scaled to [0, 1]; everything becomes float32.
    """
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
            tf = import_tensorflow()
            x = tf.image.resize(x, target[:2]).numpy()
    return x


def _load_npz(path: Path, samples: int):
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
        raise DeployError(f"cannot read '{path}': {one_line(error)}") from error
    return x, y


def _load_dataset(name: str, samples: int):
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
        raise DeployError(f"cannot load dataset {name!r}: {one_line(error)}") from error
    return np.concatenate(xs)[:samples], np.concatenate(ys)[:samples]


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
        x, y = _load_npz(Path(name), samples)
    else:
        x, y = _load_dataset(name, samples)
    return fit_inputs(x, input_shape), y
