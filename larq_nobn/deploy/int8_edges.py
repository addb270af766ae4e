"""int8 edges of an LCE model: the input and output types and the default int8 range
that `convert` accepts, the report of a flatbuffer's input and output tensors and of its
QUANTIZE / DEQUANTIZE ops (`edge_report`), and the affine (de)quantization of samples
for a model with int8 inputs or outputs (`quantize`, `dequantize`).

LCE gives a model int8 inputs or outputs only where it has quantization statistics
there: fake-quantization ops in the Keras model (`tf.quantization.fake_quant_*`), or
the default range `experimental_default_int8_range` for every tensor without them
("dummy quantization": meant for latency tests, the outputs are not accurate). Without
either LCE silently keeps float32 edges; `check_edge_types` turns that into an error.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from larq_nobn.deploy.errors import DeployError
from larq_nobn.deploy.flatbuffer import builtin_op_names, decode_name, op_name, tensor_type_names

import numpy as np

__all__ = [
    "EDGE_POSITIONS",
    "INFERENCE_TYPES",
    "EdgeReport",
    "EdgeTensor",
    "QuantizeOp",
    "check_edge_types",
    "check_inference_type",
    "check_int8_range",
    "dequantize",
    "edge_report",
    "quantize",
]

INFERENCE_TYPES = ("float32", "int8")
EDGE_POSITIONS = ("input", "output", "inside")
_QUANTIZE_OPS = ("QUANTIZE", "DEQUANTIZE")


def check_inference_type(value, option: str = "inference_input_type") -> str:
    """The name (`"float32"` or `"int8"`) of an inference input or output type.

    # Arguments
        value: `"float32"`, `"int8"`, `tf.float32`, `tf.int8` or the NumPy types.
        option: The option's name, for the error message.

    # Returns
        `"float32"` or `"int8"`.

    # Raises
        DeployError: Any other value, named with the accepted ones.
    """
    name = value if isinstance(value, str) else getattr(value, "name", None)
    if name is None and isinstance(value, type) and issubclass(value, np.generic):
        name = np.dtype(value).name
    if name not in INFERENCE_TYPES:
        raise DeployError(
            f"{option} must be one of {', '.join(map(repr, INFERENCE_TYPES))}, got {value!r}."
        )
    return name


def check_int8_range(value, option: str = "experimental_default_int8_range"):
    """The default int8 range as `(min, max)` floats, or `None`.

    TFLite quantizes a range to int8 with scale `(max - min) / 255` and an integer zero
    point, so the range must contain 0 (TFLite shifts a range that does not).

    # Arguments
        value: `None` or a pair of finite numbers with `min <= 0 <= max` and `min < max`.
        option: The option's name, for the error message.

    # Raises
        DeployError: Not such a pair.
    """
    if value is None:
        return None
    pair = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else None
    if pair is None or len(pair) != 2 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
        for v in pair
    ):
        raise DeployError(f"{option} must be a pair of finite numbers (MIN, MAX), got {value!r}.")
    low, high = float(pair[0]), float(pair[1])
    if not low <= 0.0 <= high or low == high:
        raise DeployError(
            f"{option} must contain 0 with MIN < MAX (MIN <= 0 <= MAX), got {value!r}."
        )
    return low, high


@dataclasses.dataclass
class EdgeTensor:
    """An input or output tensor of a flatbuffer.

    # Attributes
        name: The tensor's name.
        dtype: `"float32"`, `"int8"`, ...
        shape: Its shape (batch 1).
        scale, zero_point: Its quantization parameters (`None` for float tensors).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float | None = None
    zero_point: int | None = None

    def describe(self) -> str:
        text = f"{self.dtype} {'x'.join(str(d) for d in self.shape)}"
        if self.scale is not None:
            text += f", scale {self.scale:.6g}, zero point {self.zero_point}"
        return text


@dataclasses.dataclass
class QuantizeOp:
    """A builtin QUANTIZE or DEQUANTIZE op (int8 <-> float; not LCE's binarizing
    `LceQuantize` / `LceDequantize`).

    # Attributes
        index: Operator index in the main subgraph.
        op: `"QUANTIZE"` or `"DEQUANTIZE"`.
        position: `"input"` (between the model input and the first other op),
            `"output"` (between the last other op and the model output) or `"inside"`.
        from_type, to_type: The types it converts between.
        tensor: The name of its output tensor.
    """

    index: int
    op: str
    position: str
    from_type: str
    to_type: str
    tensor: str


@dataclasses.dataclass
class EdgeReport:
    """The input and output tensors of a flatbuffer and its QUANTIZE / DEQUANTIZE ops."""

    inputs: list[EdgeTensor]
    outputs: list[EdgeTensor]
    quantize_ops: list[QuantizeOp]

    def count(self, op: str | None = None, position: str | None = None) -> int:
        """How many QUANTIZE / DEQUANTIZE ops (of kind `op`, at `position`)."""
        return sum(
            (op is None or q.op == op) and (position is None or q.position == position)
            for q in self.quantize_ops
        )

    def to_dict(self) -> dict:
        return {
            "inputs": [dataclasses.asdict(t) for t in self.inputs],
            "outputs": [dataclasses.asdict(t) for t in self.outputs],
            "quantize_ops": [dataclasses.asdict(q) for q in self.quantize_ops],
            "quantize_op_counts": {
                position: {op: self.count(op, position) for op in _QUANTIZE_OPS}
                for position in EDGE_POSITIONS
            },
        }

    def _quantize_summary(self) -> str:
        if not self.quantize_ops:
            return "none"
        parts = []
        for position in EDGE_POSITIONS:
            kinds = {}
            for q in self.quantize_ops:
                if q.position == position:
                    key = f"{q.op} {q.from_type}->{q.to_type}"
                    kinds[key] = kinds.get(key, 0) + 1
            if kinds:
                where = "inside" if position == "inside" else f"at the {position}"
                parts.append(
                    where + " " + ", ".join(f"{n} {k}" for k, n in kinds.items())
                )
        return f"{len(self.quantize_ops)} ({'; '.join(parts)})"

    def lines(self) -> list[str]:
        """The report's lines: one per input and output, one for the (de)quantize ops."""
        lines = [f"Input {t.name}: {t.describe()}" for t in self.inputs]
        lines += [f"Output {t.name}: {t.describe()}" for t in self.outputs]
        lines.append(f"QUANTIZE / DEQUANTIZE ops: {self._quantize_summary()}")
        return lines


def _edge_tensor(graph, index, type_names) -> EdgeTensor:
    tensor = graph.tensors[int(index)]
    quantization = tensor.quantization
    scale = zero_point = None
    scales = getattr(quantization, "scale", None) if quantization is not None else None
    if scales is not None and len(scales) == 1:
        scale = float(scales[0])
        zero_point = int(quantization.zeroPoint[0])
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else []))
    return EdgeTensor(decode_name(tensor.name), type_names.get(tensor.type, "?").lower(),
                      shape, scale, zero_point)


def _quantize_positions(graph, names) -> dict[int, str]:
    """Operator index -> position, for the QUANTIZE / DEQUANTIZE ops of `graph`.

    At the input: reading a model input or the output of such an op at the input (in
    operator order, which is topological). At the output: writing a model output or a
    tensor read only by such ops at the output (in reverse order). Inside: the rest.
    """
    ops = list(graph.operators or [])
    inputs = {int(t) for t in (graph.inputs if graph.inputs is not None else [])}
    outputs = {int(t) for t in (graph.outputs if graph.outputs is not None else [])}
    candidates = [i for i, name in enumerate(names) if name in _QUANTIZE_OPS]
    positions = {}
    edge_tensors = set(inputs)
    for i in candidates:
        if any(int(t) in edge_tensors for t in ops[i].inputs):
            positions[i] = "input"
            edge_tensors.update(int(t) for t in ops[i].outputs)
    readers = {}
    for i, op in enumerate(ops):
        for t in op.inputs if op.inputs is not None else []:
            readers.setdefault(int(t), set()).add(i)
    output_ops = set()
    for i in reversed(candidates):
        if i in positions:
            continue
        written = [int(t) for t in ops[i].outputs]
        if all(t in outputs or (readers.get(t) and readers[t] <= output_ops)
               for t in written):
            positions[i] = "output"
            output_ops.add(i)
    return {i: positions.get(i, "inside") for i in candidates}


def edge_report(model) -> EdgeReport:
    """The input and output tensors of a parsed flatbuffer's main subgraph (types,
    shapes, quantization parameters) and its QUANTIZE / DEQUANTIZE ops with their place.

    # Arguments
        model: The flatbuffer as the schema's object tree (`parse_flatbuffer`).

    # Returns
        An `EdgeReport`.
    """
    graph = model.subgraphs[0]
    type_names = tensor_type_names()
    builtin_names = builtin_op_names()
    names = [op_name(model, op, builtin_names) for op in graph.operators or []]
    quantize_ops = []
    for index, position in sorted(_quantize_positions(graph, names).items()):
        op = graph.operators[index]
        source, target = graph.tensors[int(op.inputs[0])], graph.tensors[int(op.outputs[0])]
        quantize_ops.append(QuantizeOp(
            index, names[index], position, type_names.get(source.type, "?").lower(),
            type_names.get(target.type, "?").lower(), decode_name(target.name),
        ))
    return EdgeReport(
        inputs=[_edge_tensor(graph, t, type_names) for t in graph.inputs],
        outputs=[_edge_tensor(graph, t, type_names) for t in graph.outputs],
        quantize_ops=quantize_ops,
    )


def check_edge_types(edges: EdgeReport, input_type: str, output_type: str) -> None:
    """Checks that LCE gave the model the int8 inputs and outputs that were asked for.

    # Raises
        DeployError: An int8 edge was asked for and LCE left it float: the model has no
            quantization statistics there.
    """
    for what, wanted, tensors in (("input", input_type, edges.inputs),
                                  ("output", output_type, edges.outputs)):
        left = [t.dtype for t in tensors if t.dtype != wanted]
        if wanted == "int8" and left:
            raise DeployError(
                f"inference_{what}_type='int8' was asked for, but LCE left the model "
                f"{what} {left[0]}: an int8 {what} needs quantization statistics "
                "(fake-quantization ops at the model's edges, or a default range: "
                "experimental_default_int8_range / --int8-range MIN MAX)."
            )


def quantize(x, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """`round(x / scale) + zero_point`, rounded half away from zero (as TFLite's
    QUANTIZE) and saturated to `dtype`."""
    scaled = np.asarray(x, dtype=np.float64) / float(scale)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + int(zero_point)
    info = np.iinfo(dtype)
    return np.clip(rounded, info.min, info.max).astype(dtype)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """`(q - zero_point) * scale` as float32."""
    return ((np.asarray(q, dtype=np.float64) - int(zero_point)) * float(scale)).astype(
        np.float32
    )
