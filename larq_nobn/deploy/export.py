"""Exact, cheap LCE export (`prepare_for_lce`): ABN before a sign as thresholds,
max-pools moved after the norm, and flatten + binary dense folded into one binary
convolution, so that binary convolutions write bitpacked output.

The per-channel sign forms of ABN are in `larq_nobn.deploy.sign_forms`, the layers
that replace it in `larq_nobn.export_layers`, the editable graph in
`larq_nobn.deploy.export_graph`. `larq_nobn.deploy.convert` runs `prepare_for_lce`
unless `abn_fusion=False`.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

from larq_nobn.deploy.export_graph import (
    MAX_POOLS,
    ModelGraph,
    as_functional,
    is_sign_quantizer,
)
from larq_nobn.deploy.sign_forms import layer_sign_form
from larq_nobn.export_layers import SignAffine, SignInterval
from larq_nobn.layers import QuantConv2D
from larq_nobn.normalization import ABN

import larq as lq
import numpy as np
import tensorflow as tf

__all__ = [
    "ExportReport",
    "FoldedReshape",
    "LayerRewrite",
    "prepare_for_lce",
    "SPLIT_CHOICES",
    "check_split_intervals",
    "snap_to_integers",
]

logger = logging.getLogger(__name__)

#: Binary convolutions whose kernel may be reshaped or extended (no weight
#: standardization, which would see the change).
_PLAIN_CONVS = (lq.layers.QuantConv2D, QuantConv2D)


@dataclasses.dataclass
class LayerRewrite:
    """What the export did with one normalization layer.

    # Attributes
        layer: The layer's name.
        layer_class: Its class name.
        action: `"affine"` (replaced by `SignAffine`, fusable into a binary conv),
            `"split"` (its interval channels split into two thresholds each, then
            `"affine"`), `"comparisons"` (replaced by `SignInterval`), `"kept"`
            (unchanged: it feeds something other than signs).
        cases: Case -> channel count (see `larq_nobn.deploy.sign_forms`).
        reason: Why the layer was kept as it was, or why its pool was not moved.
        moved_pool: The max-pool moved from before the layer to after it.
        dropped: Sign-preserving layers removed between the layer and its signs.
        split: For `"split"`: `{"channels": n, "producer": ..., "consumer": ...}`, the
            binary convolutions that got `n` more output / input channels.
    """

    layer: str
    layer_class: str
    action: str
    cases: dict = dataclasses.field(default_factory=dict)
    reason: str | None = None
    moved_pool: str | None = None
    dropped: list = dataclasses.field(default_factory=list)
    split: dict | None = None

    def to_text(self) -> str:
        cases = ", ".join(f"{n} {c}" for c, n in sorted(self.cases.items()))
        line = f"  {self.layer} ({self.layer_class}): {self.action}"
        line += f" [{cases}]" if cases else ""
        if self.split:
            s = self.split
            line += (f"; {s['channels']} interval channels as two thresholds "
                     f"({s['producer']} +{s['channels']} outputs, {s['consumer']} "
                     f"+{s['channels']} inputs)")
        if self.moved_pool:
            line += f"; max-pool {self.moved_pool} moved after it"
        if self.dropped:
            line += f"; dropped {', '.join(self.dropped)}"
        if self.reason:
            line += f"; {self.reason}"
        return line


@dataclasses.dataclass
class FoldedReshape:
    """A `Reshape` to `(1, 1, h * w * c)` removed with the 1x1 binary convolutions that
    read it, which became `h x w` VALID convolutions (`kernel_size`)."""

    reshape: str
    convolutions: list
    kernel_size: list


@dataclasses.dataclass
class ExportReport:
    """The rewrites of `prepare_for_lce`: one `LayerRewrite` per normalization layer
    and the folded reshapes."""

    layers: list
    folded: list = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the export differs from the model."""
        return bool(self.folded) or any(
            r.action != "kept" or r.moved_pool or r.dropped for r in self.layers
        )

    def cases(self) -> dict:
        """Case -> channel count over every rewritten layer."""
        total = {}
        for rewrite in self.layers:
            for case, count in rewrite.cases.items():
                total[case] = total.get(case, 0) + count
        return total

    def to_dict(self) -> dict:
        return {
            "layers": [dataclasses.asdict(rewrite) for rewrite in self.layers],
            "cases": self.cases(),
            "moved_pools": [r.moved_pool for r in self.layers if r.moved_pool],
            "folded_reshapes": [dataclasses.asdict(f) for f in self.folded],
        }

    def to_text(self) -> str:
        lines = [f"LCE export: {len(self.layers)} normalization layers"]
        lines += [rewrite.to_text() for rewrite in self.layers]
        for f in self.folded:
            size = "x".join(map(str, f.kernel_size))
            lines.append(f"  {f.reshape} (Reshape) folded into {', '.join(f.convolutions)}"
                         f" as {size} VALID binary convolutions")
        return "\n".join(lines)


# ======================================================================================
# Reshape + 1x1 binary convolution -> kxk binary convolution
# ======================================================================================
def _is_pointwise(layer) -> bool:
    """A plain binary-input 1x1, stride-1, ungrouped, channels-last convolution."""
    return (
        type(layer) in _PLAIN_CONVS
        and tuple(layer.kernel_size) == (1, 1)
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.groups == 1
        and layer.data_format == "channels_last"
        and is_sign_quantizer(layer.input_quantizer)
    )


def _fold_reshape(graph, name):
    """Folds `Reshape` `name` into its consumers if it maps `(h, w, c)` to
    `(1, 1, h * w * c)` and only 1x1 binary convolutions read it; returns a
    `FoldedReshape` or None."""
    layer = graph.layer(name)
    if type(layer) is not tf.keras.layers.Reshape or graph.single_input(name) is None:
        return None
    in_shape, out_shape = layer.input_shape, layer.output_shape
    if len(in_shape) != 4 or tuple(out_shape[1:3]) != (1, 1) or name in graph.outputs:
        return None
    consumers = graph.consumers(name)
    if not consumers or not all(
        _is_pointwise(graph.layer(c)) and graph.inputs(c) == [name] for c in consumers
    ):
        return None
    h, w, c = in_shape[1:]
    for conv in consumers:
        kernel, *rest = graph.weights(conv)
        kernel = kernel.reshape(h, w, c, kernel.shape[-1])  # flatten order h, w, c
        graph.edit(conv, [kernel, *rest], kernel_size=[h, w], padding="valid")
    graph.remove(name)
    return FoldedReshape(name, consumers, [h, w])


# ======================================================================================
# ABN interval channels -> two thresholds
# ======================================================================================
def _producer(graph, name):
    """`(conv, pool)`: the convolution whose output reaches `name` alone, possibly
    through a max-pool; `(None, None)` if there is none."""
    source = graph.single_input(name)
    pool = None
    if source is not None and isinstance(graph.layer(source), MAX_POOLS):
        if graph.only_consumer(source) != name:
            return None, None
        pool, source = source, graph.single_input(source)
    if source is None or graph.only_consumer(source) != (pool or name):
        return None, None
    layer = graph.layer(source)
    conv = isinstance(layer, tf.keras.layers.Conv2D) and not isinstance(
        layer, tf.keras.layers.Conv2DTranspose
    )
    return (source, pool) if conv and layer.groups == 1 else (None, None)


def _binary_consumer(graph, name):
    """The layer that alone reads `name`, possibly through a max-pool, if it is a plain
    sign-input convolution with a sign kernel and padding that pads signs with +1, or
    a sign-input `QuantDense` with a sign or float kernel."""
    consumer = graph.only_consumer(name)
    if consumer is not None and isinstance(graph.layer(consumer), MAX_POOLS):
        consumer = graph.only_consumer(consumer)
    if consumer is None:
        return None
    layer, config = graph.layer(consumer), graph.layer_config(consumer)
    if not is_sign_quantizer(getattr(layer, "input_quantizer", None)):
        return None
    if type(layer) is lq.layers.QuantDense:
        ok = layer.kernel_quantizer is None or is_sign_quantizer(layer.kernel_quantizer)
    else:
        ok = (
            type(layer) in _PLAIN_CONVS
            and layer.groups == 1
            and is_sign_quantizer(layer.kernel_quantizer)
            and (config["padding"] == "valid" or float(config.get("pad_values", 0)) == 1
                 or tuple(config["kernel_size"]) == (1, 1))
        )
    return consumer if ok else None


def _split_intervals(graph, name, form, integer):
    """Splits the interval channels of ABN `name` into two thresholds each (see
    `SignForm.split_weights`): the producing convolution gets a copy of each such
    output channel, the consuming binary layer the negated copy of its input weights
    and their sum as bias. Returns the `split` record or None.

    With binary weights the consumer's sums are integers and its outputs exactly
    equal; with float weights (a full-precision classifier) they are equal up to the
    float32 rounding of the reordered sum."""
    producer, _ = _producer(graph, name)
    consumer = _binary_consumer(graph, name)
    if producer is None or consumer is None:
        return None
    w, b, index, extra = form.split_weights()
    channels = len(w)
    weights = [
        np.concatenate([a, a[..., index]], -1) if a.ndim and a.shape[-1] == channels else a
        for a in graph.weights(producer)
    ]
    filters = graph.layer_config(producer)["filters"] + len(index)
    graph.edit(producer, weights, filters=filters)
    kernel, *bias = graph.weights(consumer)
    if graph.layer(consumer).kernel_quantizer is not None:
        kernel = np.where(kernel >= 0, 1.0, -1.0).astype(np.float32)  # sign(0) = +1
    twice = kernel[..., index, :]  # the input channel axis is -2 (conv and dense)
    bias = (bias[0] if bias else 0.0) + twice.sum(tuple(range(kernel.ndim - 1)))
    kernel = np.concatenate([kernel, -twice], -2)
    graph.edit(consumer, [kernel, bias.astype(np.float32)], use_bias=True)
    w = np.concatenate([w, np.ones(len(index), np.float32)])
    b = np.concatenate([b, extra])
    b = snap_to_integers(w, b) if integer is not None else b
    graph.replace(name, SignAffine(scale=w, offset=b, axis=-1, name=name))
    return {"channels": int(len(index)), "producer": producer, "consumer": consumer}


# ======================================================================================
# Normalization layers
# ======================================================================================
def _channel_axis(layer):
    axis = layer.axis
    return axis[0] if isinstance(axis, (list, tuple)) else axis


def _integer_bound(graph, name):
    """A half-integer above every `|x|` that `name` can read if every input of `name`
    is an integer: the output of a plain binary convolution (sign inputs, sign weights,
    no or an integer bias), possibly through a max-pool; else None."""
    source = graph.single_input(name)
    if source is not None and isinstance(graph.layer(source), MAX_POOLS):
        source = graph.single_input(source)
    if source is None:
        return None
    layer = graph.layer(source)
    if not (type(layer) in _PLAIN_CONVS and is_sign_quantizer(layer.input_quantizer)
            and is_sign_quantizer(layer.kernel_quantizer)):
        return None
    kernel, *bias = graph.weights(source)
    if not all(np.array_equal(a, np.round(a)) for a in bias):
        return None
    fan_in = int(np.prod(kernel.shape[:-1]))
    return fan_in + max((float(np.abs(a).max()) for a in bias if a.size), default=0) + 0.5


def snap_to_integers(scale, offset):
    """Offsets of `x * scale + offset >= 0` (scale in {1, 0, -1}) moved halfway between
    integers, with the same signs for every integer `x`.

    LCE folds a binary convolution's `K - 2 * popcount` into its output transform and
    rounds `K * scale + offset` to float32, which moves a threshold by up to
    `K * 2**-24`: enough to flip the sign of an accumulator that lies that close to
    it. Half an integer away, no rounding of that size flips it.
    """
    snapped = np.select(
        [scale > 0, scale < 0], [0.5 - np.ceil(-offset), np.floor(offset) + 0.5], offset
    )
    return snapped.astype(np.float32)


#: `split_intervals` values of `prepare_for_lce` (and `larq-nobn convert
#: --split-intervals`).
SPLIT_CHOICES = ("auto", "bitpacked", "always", "never")

#: Channels per word of LCE's bitpacked activations.
_BITPACK_WORD = 32


#: Why a splittable layer was not split, per `split_intervals`.
_NOT_SPLIT = {
    "auto": "a split would add a 32-bit word per pixel to the next layer",
    "bitpacked": "a float layer produces it (its output is float either way)",
}


def check_split_intervals(split_intervals) -> str:
    """`split_intervals` checked: one of `SPLIT_CHOICES`. The booleans it took before
    still work, with a `FutureWarning` (shown to users, unlike a `DeprecationWarning`):
    `True` is `"always"`, `False` `"never"`.

    # Raises
        ValueError: any other value (the message names the accepted ones).
    """
    if isinstance(split_intervals, bool):
        replacement = "always" if split_intervals else "never"
        warnings.warn(
            f"split_intervals={split_intervals} is deprecated; use "
            f"split_intervals={replacement!r}.",
            FutureWarning,
            stacklevel=3,
        )
        return replacement
    if not isinstance(split_intervals, str) or split_intervals not in SPLIT_CHOICES:
        raise ValueError(
            f"split_intervals must be one of {', '.join(map(repr, SPLIT_CHOICES))}; got "
            f"{split_intervals!r}."
        )
    return split_intervals


def _split_is_free(graph, name, form):
    """Whether splitting `name`'s interval channels keeps the number of bitpacked
    32-bit words its binary consumer reads per pixel."""
    channels, extra = len(form.cases), int(np.sum(form.cases == "interval"))
    words = -(-channels // _BITPACK_WORD)
    return -(-(channels + extra) // _BITPACK_WORD) == words


def _comparisons(graph, name, form, axis, bound):
    """`SignInterval` for `form`. Where a binary convolution alone feeds `name`
    (integer sums, `|x| < bound`), possibly through a max-pool, the bounds become
    half-integers (`SignForm.integer_bounds`) and the upper one moves into that
    convolution's bias, which LCE fuses: one subtraction fewer, and every value exact
    in float32 (a per-channel shift commutes with the max-pool)."""
    producer, _ = _producer(graph, name)
    if (bound is None or producer is None or bound >= 2**22 or (form.flip < 0).any()
            or axis not in (-1, 3)):
        return SignInterval(lo=form.lo, hi=form.hi, flip=form.flip, axis=axis, name=name)
    lo, hi = form.integer_bounds(bound)
    kernel, *bias = graph.weights(producer)
    shifted = ((bias[0] if bias else 0.0) - hi).astype(np.float32)
    graph.edit(producer, [kernel, shifted], use_bias=True)
    return SignInterval(lo=lo - hi, hi=np.zeros_like(hi), flip=form.flip, axis=axis,
                        name=name)


def _rewrite_abn(graph, name, split_intervals):
    """Replaces ABN `name`, which reaches only signs; returns `(rewrite, monotone)`."""
    layer = graph.layer(name)
    form = layer_sign_form(layer)
    axis = _channel_axis(layer)
    rewrite = LayerRewrite(name, "ABN", "affine", cases=form.counts())
    integer = _integer_bound(graph, name)
    if form.affine:
        w, b = form.affine_weights()
        b = snap_to_integers(w, b) if integer is not None else b
        graph.replace(name, SignAffine(scale=w, offset=b, axis=axis, name=name))
        return rewrite, form.monotone
    worth_it = (
        split_intervals == "always"
        or (split_intervals == "bitpacked" and integer is not None)
        or (split_intervals == "auto" and _split_is_free(graph, name, form))
    )
    if worth_it and form.splittable and axis in (-1, 3):
        rewrite.split = _split_intervals(graph, name, form, integer)
        if rewrite.split:
            rewrite.action = "split"
            return rewrite, True
    if form.splittable and not worth_it:
        rewrite.reason = _NOT_SPLIT.get(split_intervals)
    graph.replace(name, _comparisons(graph, name, form, axis, integer))
    rewrite.action = "comparisons"
    return rewrite, False


def _rewrite_bn(graph, name):
    """Replaces BatchNormalization `name`, which reaches only signs, by its exact
    thresholds (`SignAffine`); returns `(rewrite, monotone)`."""
    layer = graph.layer(name)
    form = layer_sign_form(layer)
    w, b = form.affine_weights()
    b = snap_to_integers(w, b) if _integer_bound(graph, name) is not None else b
    graph.replace(name, SignAffine(scale=w, offset=b, axis=_channel_axis(layer), name=name))
    rewrite = LayerRewrite(name, type(layer).__name__, "affine", cases=form.counts())
    negative = int(np.sum(form.cases == "threshold_below"))
    if negative and isinstance(graph.layer(graph.single_input(name)), MAX_POOLS):
        rewrite.reason = (
            f"{negative} channels with gamma < 0 (a max-pool before them would become a "
            "min-pool): pool left in place"
        )
    return rewrite, form.monotone


def _rewrite_norm(graph, name, split_intervals):
    """Decides and applies the rewrite of normalization layer `name`; returns a
    `LayerRewrite` and whether the result is non-decreasing per channel."""
    kind = type(graph.layer(name)).__name__
    if graph.single_input(name) is None:
        why = "it is shared or has several inputs"
        return LayerRewrite(name, kind, "kept", reason=why), False
    reason, droppable = graph.sign_paths(name)
    if reason:
        why = f"not only followed by signs: {reason}"
        return LayerRewrite(name, kind, "kept", reason=why), False
    for dropped in droppable:
        graph.remove(dropped)
    if isinstance(graph.layer(name), ABN):
        rewrite, monotone = _rewrite_abn(graph, name, split_intervals)
    else:
        rewrite, monotone = _rewrite_bn(graph, name)
    rewrite.dropped = droppable
    return rewrite, monotone


def _move_pool(graph, name, rewrite):
    """Move a max-pool that sits right before norm `name` to right after it."""
    pool = graph.single_input(name)
    if not isinstance(graph.layer(pool), MAX_POOLS):
        return
    if graph.only_consumer(pool) != name:
        rewrite.reason = f"max-pool {pool} has other uses: left in place"
        return
    source = graph.single_input(pool)
    graph.rewire(name, pool)
    graph.set_input(name, source)
    graph.set_input(pool, name)
    rewrite.moved_pool = pool


def prepare_for_lce(model, *, move_pools=True, fold_reshapes=True,
                    split_intervals="auto"):
    """Rewrites a trained model into an inference-equivalent one that LCE converts with
    fewer float ops.

    - Each `Reshape` of an `(h, w, c)` map to `(1, 1, h * w * c)` read only by 1x1
      binary convolutions (BinaryNet's dense layers) is removed and those become
      `h x w` VALID convolutions with the kernel reshaped (the flatten order h, w, c is
      the kernel's), so that the sign before them stays fusable. With binary inputs
      and weights the sums are integers: the outputs are exactly equal.
    - Each `ABN` whose output reaches only binarizing signs (a larq layer's
      `input_quantizer` `ste_sign` / `approx_sign` / `swish_sign`), directly or through
      sign-preserving layers (`HardTanh` with `min < 0 <= max`, `Dropout`, linear/tanh
      `Activation`, which are dropped) and sign-commuting ones (max-pool, reshape,
      flatten), becomes `SignAffine` if every channel is a threshold or a constant
      (LCE fuses it into a preceding binary conv: bitpacked output). Otherwise, if its
      interval channels can be split (every other channel non-decreasing, a
      convolution before it and a plain binary convolution or a sign-input
      `QuantDense` after it, each possibly through a max-pool) and `split_intervals`
      asks for it, each interval channel becomes two thresholds
      (`SignForm.split_weights`): still `SignAffine`, with the convolution before it
      computing those channels twice and the one after it reading `[W, -W]` plus a
      bias. Else it becomes `SignInterval`: two subtractions and a maximum instead of
      LOGISTIC + MUL, or one subtraction and a maximum after a binary convolution,
      whose bias takes the other subtraction (exact on its integer sums). Every
      other ABN keeps its float graph.
    - A `BatchNormalization` that reaches only signs loses its sign-preserving layers
      and becomes `SignAffine` with its exact thresholds (`bn_sign_form`), which LCE
      fuses as it fuses the BN, but without rounding the thresholds itself.
    - A max-pool whose only use is such a norm, when the norm is non-decreasing per
      channel (BN with every gamma >= 0, an affine ABN whose channels are all
      `threshold`, `constant` or `constant_negative`, or a split ABN), moves after the
      norm: `sign(norm(maxpool(x))) = maxpool(sign(norm(x)))`, and LCE turns it into
      `LceBMaxPool2d` on the conv's bitpacked output. With a negative gamma the layer
      is left as it is.

    After a binary convolution (integer outputs) thresholds sit halfway between
    integers (`snap_to_integers`), so that LCE's float32 output transform cannot flip
    a sign. The binarized activations of the result equal the exact real-number ones
    of the original (see `larq_nobn.deploy.sign_forms`); the model outputs are
    unchanged (up to float32 rounding where a split feeds a float-weight layer).

    # Arguments
        model: A trained functional or Sequential `tf.keras.Model` (Sequential ones need
            known inputs).
        move_pools: Move max-pools after monotone norms.
        fold_reshapes: Fold reshapes to `(1, 1, features)` into the next binary
            convolutions.
        split_intervals: Split the interval channels of ABN: `"auto"` where the split
            adds no 32-bit word to the bitpacked input of the next layer (the
            channel count plus the interval channels stays within the same multiple
            of 32; on x86 a split that adds a word costs more than the float
            comparisons), `"bitpacked"` wherever a binary convolution produces
            them (its output becomes bitpacked, as with BN; after a float
            convolution the output is float anyway and the comparisons stay),
            `"always"` wherever possible, `"never"` never (the booleans `True` /
            `False` still mean `"always"` / `"never"`, deprecated).

    # Returns
        `(export_model, ExportReport)`; the export model shares no layers with `model`,
        or is `model` itself (functional) when nothing applies.

    # Raises
        TypeError: if `model` is not a `tf.keras.Model`.
        ValueError: for a model without known inputs or an unknown `split_intervals`.
    """
    split_intervals = check_split_intervals(split_intervals)
    graph = ModelGraph(as_functional(model))
    folded = [_fold_reshape(graph, name) for name in list(graph.entries) if fold_reshapes]
    rewrites = []
    for name in list(graph.entries):
        if not isinstance(graph.layer(name), (ABN, tf.keras.layers.BatchNormalization)):
            continue
        rewrite, monotone = _rewrite_norm(graph, name, split_intervals)
        if move_pools and monotone:
            _move_pool(graph, name, rewrite)
        rewrites.append(rewrite)
    report = ExportReport(rewrites, [f for f in folded if f is not None])
    export = graph.build() if report.changed else graph.model
    logger.info("%s", report.to_text())
    return export, report
