"""The op report of an LCE flatbuffer (`inspect_flatbuffer`): the op histogram, every
binary convolution and whether it writes bitpacked output, the float ops and the Keras
layers they come from, and why a binary Keras layer did not become a binary op."""

from __future__ import annotations

import dataclasses
from collections import Counter

from larq_nobn.deploy.conversion_rules import (
    check_target,
    conv_signature,
    flat_layers,
    float_reason,
    has_binary_weights,
    is_binary_layer,
    layer_kind,
)
from larq_nobn.deploy.flatbuffer import (
    builtin_op_names,
    check_flatbuffer,
    custom_options,
    decode_name,
    op_name,
    parse_flatbuffer,
    tensor_type_names,
)
from larq_nobn.deploy.int8_edges import EdgeReport, edge_report

__all__ = [
    "BinaryConvOp",
    "FloatOp",
    "LayerStatus",
    "OpReport",
    "bconv_notes",
    "inspect_flatbuffer",
    "layer_names_in",
    "match_bconvs",
]


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
        edges: The `EdgeReport`: input and output types, QUANTIZE / DEQUANTIZE ops.
    """

    op_counts: dict[str, int]
    bconvs: list[BinaryConvOp]
    float_ops: list[FloatOp]
    layers: list[LayerStatus]
    warnings: list[str]
    notes: list[str]
    target: str
    edges: EdgeReport | None = None

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
            "edges": self.edges.to_dict() if self.edges is not None else None,
        }

    def _histogram_lines(self) -> list[str]:
        float_layers = {}
        for op in self.float_ops:
            float_layers.setdefault(op.op, [])
            for name in op.layers or ["?"]:
                if name not in float_layers[op.op]:
                    float_layers[op.op].append(name)
        width = max((len(name) for name in self.op_counts), default=10)
        lines = []
        for name, count in sorted(self.op_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            extra = ""
            if name == "LceBconv2d":
                extra = f"  ({self.num_bitpacked} with bitpacked output)"
            elif name in float_layers:
                names = float_layers[name]
                extra = "  float: " + ", ".join(names[:6])
                extra += f", ... (+{len(names) - 6})" if len(names) > 6 else ""
            lines.append(f"  {name:<{width}}  {count:>4}{extra}")
        return lines

    @staticmethod
    def _bconv_line(op: BinaryConvOp) -> str:
        if op.bitpacked:
            out = "bitpacked output"
        else:
            out = "float output -> " + " -> ".join(op.output_chain or ["output"])
        return (
            f"  {op.layer or '?'}: {op.kernel_size[0]}x{op.kernel_size[1]} "
            f"{op.channels_in}->{op.channels_out}, stride {op.strides[0]}, "
            f"{op.padding.lower()}"
            + (f" pad {op.pad_values}" if op.padding == "SAME" else "")
            + f", {out}"
        )

    def to_text(self) -> str:
        lines = self.edges.lines() if self.edges is not None else []
        lines.append(f"Ops ({sum(self.op_counts.values())} in all, target {self.target}):")
        lines += self._histogram_lines()
        if self.bconvs:
            lines.append("Binary convolutions (LceBconv2d):")
            lines += [self._bconv_line(op) for op in self.bconvs]
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


_TRUNCATED_NAME = 50  # TFLite cuts fused location names to 50 characters


def layer_names_in(
    tensor_name: str, known: set[str] | None, model_name: str | None
) -> list[str]:
    """Keras layer names in a TFLite tensor name (`model/layer/op;model/layer2/op`).

    With the Keras model, the last path component of each `;`-part that is a layer name;
    a cut-off last component of a truncated name (plus TFLite's numeric suffix) counts
    when it starts exactly one layer name. Without the Keras model, the second component
    of each part (the first is the model's name).

    # Arguments
        tensor_name: The TFLite tensor name.
        known: The Keras model's layer names, or `None` without the model.
        model_name: The Keras model's name (never a layer), or `None`.

    # Returns
        The layer names, in order, without repeats.
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


def _consumers(graph) -> dict[int, list[int]]:
    """Tensor index -> indices of the operators that read it."""
    consumers = {}
    for index, op in enumerate(graph.operators):
        for t in op.inputs if op.inputs is not None else []:
            if t >= 0:
                consumers.setdefault(int(t), []).append(index)
    return consumers


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


@dataclasses.dataclass
class _Scan:
    """What the pass over the subgraphs collects."""

    known: set[str] | None
    model_name: str | None
    output_layers: list[str]
    counts: Counter = dataclasses.field(default_factory=Counter)
    bconvs: list[BinaryConvOp] = dataclasses.field(default_factory=list)
    float_ops: list[FloatOp] = dataclasses.field(default_factory=list)
    hints: list[list[str]] = dataclasses.field(default_factory=list)  # per bconv
    dilations: list[tuple[int, int]] = dataclasses.field(default_factory=list)

    def names_in(self, tensor_name: str) -> list[str]:
        return layer_names_in(tensor_name, self.known, self.model_name)


def _binary_conv(scan, graph, graph_index, index, type_names) -> BinaryConvOp:
    """The `BinaryConvOp` of operator `index` (without its output chain); records its
    layer-name hints and dilations in `scan`."""
    op = graph.operators[index]
    options = custom_options(op)
    cout, kh, kw = (int(d) for d in list(graph.tensors[int(op.inputs[1])].shape)[:3])
    bitpacked = type_names.get(graph.tensors[int(op.outputs[0])].type) == "INT32"
    out_names = [decode_name(graph.tensors[t].name) for t in op.outputs if t >= 0]
    hints = scan.names_in(decode_name(graph.tensors[int(op.inputs[0])].name))
    scan.hints.append(hints + [n for t in out_names for n in scan.names_in(t)])
    scan.dilations.append((
        int(options.get("dilation_height_factor", 1)),
        int(options.get("dilation_width_factor", 1)),
    ))
    return BinaryConvOp(
        index=index if graph_index == 0 else -1,
        layer=None,
        bitpacked=bitpacked,
        output_chain=[],
        kernel_size=(kh, kw),
        channels_in=int(options.get("channels_in", 0)),
        channels_out=cout,
        strides=(int(options.get("stride_height", 1)), int(options.get("stride_width", 1))),
        padding="SAME" if options.get("padding", 1) == 0 else "VALID",
        pad_values=int(options.get("pad_values", 0)),
    )


def _scan_graph(scan, model, graph, graph_index, builtin_names, type_names) -> None:
    names = [op_name(model, op, builtin_names) for op in graph.operators or []]
    scan.counts.update(names)
    consumers = _consumers(graph)
    outputs = {int(t) for t in (graph.outputs if graph.outputs is not None else [])}
    for index, (op, name) in enumerate(zip(graph.operators or [], names)):
        if name == "LceBconv2d":
            bconv = _binary_conv(scan, graph, graph_index, index, type_names)
            if not bconv.bitpacked:
                bconv.output_chain = _output_chain(graph, index, names, consumers, outputs)
            scan.bconvs.append(bconv)
        elif not name.startswith("Lce"):
            out_names = [decode_name(graph.tensors[t].name) for t in op.outputs if t >= 0]
            layers = [n for t in out_names for n in scan.names_in(t)]
            if not layers and scan.output_layers and any(int(t) in outputs for t in op.outputs):
                layers = list(scan.output_layers)  # output tensors lose their layer names
            scan.float_ops.append(FloatOp(index, name, list(dict.fromkeys(layers)),
                                          out_names[0] if out_names else ""))


def match_bconvs(bconvs, hints, dilations, conv_layers) -> None:
    """Assigns each LceBconv2d the Keras conv layer it came from (sets `op.layer`).

    Candidates must have the op's kernel size, channels, strides and dilations; among
    them a layer named in the op's tensor names wins, then binary layers in model order.
    """
    signatures = {}
    for layer in conv_layers:
        try:
            signatures[layer.name] = conv_signature(layer)
        except (AttributeError, TypeError, ValueError):
            continue
    order = {layer.name: i for i, layer in enumerate(conv_layers)}
    binary = {layer.name for layer in conv_layers if is_binary_layer(layer)}
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


def _layer_statuses(layers, bconvs, target, notes):
    """`(statuses, warnings)` of the binary Keras layers; appends notes for layers with
    binary inputs and full-precision weights (float by design)."""
    matched = {op.layer: op for op in bconvs if op.layer is not None}
    statuses, warnings = [], []
    for layer in layers:
        if not is_binary_layer(layer):
            continue
        cls = type(layer).__name__
        op = matched.get(layer.name)
        if op is not None:
            statuses.append(LayerStatus(layer.name, cls, "LceBconv2d", op.bitpacked, None))
            continue
        reason = float_reason(layer, target)
        statuses.append(LayerStatus(layer.name, cls, None, False, reason))
        if has_binary_weights(layer) or layer_kind(layer) == "conv2d":
            warnings.append(
                f"binary layer '{layer.name}' ({cls}) did not become a binary op: {reason}."
            )
        else:  # e.g. a full-precision classifier on binary inputs, by design
            notes.append(
                f"{layer.name} ({cls}): binary input, full-precision "
                "weights: runs as a float op, its sign as LceQuantize + LceDequantize"
            )
    return statuses, warnings


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
    that did not become an `LceBconv2d` gets a warning with the reason. The input and
    output types and the int8 QUANTIZE / DEQUANTIZE ops are in `edges` (`edge_report`).

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
    check_target(target)
    data = check_flatbuffer(data)
    model = parse_flatbuffer(data)
    flat = flat_layers(keras_model) if keras_model is not None else []
    scan = _Scan(
        known={layer.name for layer in flat} if keras_model is not None else None,
        model_name=keras_model.name if keras_model is not None else None,
        output_layers=list(getattr(keras_model, "output_names", None) or []),
    )
    builtin_names, type_names = builtin_op_names(), tensor_type_names()
    for graph_index, graph in enumerate(model.subgraphs or []):
        _scan_graph(scan, model, graph, graph_index, builtin_names, type_names)

    statuses, report_warnings, notes = [], [], []
    if keras_model is not None:
        match_bconvs(scan.bconvs, scan.hints, scan.dilations,
                     [layer for layer in flat if layer_kind(layer) == "conv2d"])
        statuses, report_warnings = _layer_statuses(flat, scan.bconvs, target, notes)
    else:
        for op, names_here in zip(scan.bconvs, scan.hints):
            op.layer = names_here[0] if names_here else None
    notes.extend(bconv_notes(scan.bconvs))
    return OpReport(dict(scan.counts), scan.bconvs, scan.float_ops, statuses,
                    report_warnings, notes, target, edge_report(model))


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


def bconv_notes(bconvs) -> list[str]:
    """Performance notes, one per kind of finding, naming the binary convs it applies to."""
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
