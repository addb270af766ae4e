"""The size of a flatbuffer against the ideal size of the same weights (`SizeReport`)."""

from __future__ import annotations

import dataclasses
import math

from larq_nobn.deploy.flatbuffer import (
    builtin_op_names,
    check_flatbuffer,
    op_name,
    parse_flatbuffer,
)

import numpy as np

__all__ = ["SizeReport", "ideal_size", "size_report"]


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
    model = parse_flatbuffer(data)
    builtin_names = builtin_op_names()
    filter_buffers = set()
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            if op_name(model, op, builtin_names) == "LceBconv2d":
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
