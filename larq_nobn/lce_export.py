"""Exact, cheap LCE export: ABN before a sign as thresholds, max-pools moved after the
norm so that binary convolutions write bitpacked output.

At inference ABN is the fixed per-channel function
`f(x) = s * SiLU((x - mean) / sqrt(var + eps)) + beta` (`s = gamma` with `scale=True`,
else 1). Where its output only reaches binarizing signs, only `sign(f(x))` matters
(sign(0) = +1, as in larq and LCE), and per channel that is one of the `CASES`:

| case               | when (`t = -beta / s`, `m = min SiLU = -0.27846...`) | +1 iff       |
|--------------------|-----------------------------------------------------|--------------|
| `threshold`        | `s > 0`, `beta <= 0`                                 | `x >= c`     |
| `interval`         | `s > 0`, `0 < beta / s < -m`                         | not `c1 < x < c2` |
| `constant`         | `beta / s >= -m` (`s > 0`), `s = 0` and `beta >= 0`  | always       |
| `threshold_below`  | `s < 0`, `beta >= 0`                                 | `x <= c`     |
| `band`             | `s < 0`, `m < beta / |s| < 0`                        | `c1 <= x <= c2` |
| `constant_negative`| `s < 0`, `beta / |s| <= m`; `s = 0`, `beta < 0`      | never        |

The roots of SiLU are solved in float64 and rounded outwards to float32, so for every
float32 input the rewritten layer gives the sign of the exact real-number `f(x)`; Keras'
own float32 evaluation of ABN can differ from it only for inputs within float32 rounding
of a threshold. `prepare_for_lce` rewrites a model with these cases (see there).
"""

from __future__ import annotations

import dataclasses
import logging

from larq_nobn._utils import broadcast_channel
from larq_nobn.layers import HardTanh
from larq_nobn.normalization import ABN

import larq as lq
import numpy as np
import tensorflow as tf

__all__ = [
    "CASES",
    "SILU_MIN",
    "SILU_ARGMIN",
    "ExportReport",
    "LayerRewrite",
    "SignAffine",
    "SignForm",
    "SignInterval",
    "abn_sign_form",
    "prepare_for_lce",
    "silu_roots",
]

logger = logging.getLogger(__name__)

CASES = (
    "threshold",
    "interval",
    "constant",
    "threshold_below",
    "band",
    "constant_negative",
)
#: Cases an affine map `x * w + b` with `w` in {1, 0, -1} reproduces (LCE fuses it into
#: the preceding binary convolution); the others need `SignInterval`.
AFFINE_CASES = ("threshold", "constant", "threshold_below", "constant_negative")
#: Cases whose affine map is non-decreasing (a max-pool commutes with it).
MONOTONE_CASES = ("threshold", "constant", "constant_negative")


def _silu_argmin():
    # SiLU'(z) = 0  <=>  z = -(1 + e^z); the fixed-point iteration contracts (|e^z| < 0.3).
    z = -1.0
    for _ in range(100):
        z = -(1.0 + np.exp(z))
    return z


#: Where SiLU has its minimum: -1.2784645427610738.
SILU_ARGMIN = float(_silu_argmin())


def silu64(z):
    """SiLU `z * sigmoid(z)` in float64, without overflow for large `|z|`."""
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, z / (1.0 + e), z * e / (1.0 + e))


#: The minimum of SiLU: -0.27846454276107380.
SILU_MIN = float(silu64(SILU_ARGMIN))


def _bisect(f, lo, hi):
    """Vectorized bisection of an increasing `f` with `f(lo) < 0 <= f(hi)`, run until
    the float64 bracket cannot shrink; returns `(lo, hi)`, adjacent float64 values
    with `f(lo) < 0 <= f(hi)` (so `hi` is the root where `f` hits 0 exactly)."""
    lo, hi = np.array(lo, np.float64), np.array(hi, np.float64)
    for _ in range(2200):
        mid = 0.5 * (lo + hi)
        open_ = (mid > lo) & (mid < hi)
        if not open_.any():
            break
        up = f(mid) >= 0
        hi = np.where(open_ & up, mid, hi)
        lo = np.where(open_ & ~up, mid, lo)
    return lo, hi


def silu_roots(t):
    """The solutions of `SiLU(z) = t` in float64, per element of `t`.

    # Arguments
        t: Array of targets, each above `SILU_MIN`.

    # Returns
        `(left, right)`: the root on the decreasing branch (`z < SILU_ARGMIN`, NaN where
        `t >= 0`, which has none) and the one on the increasing branch.

    # Raises
        ValueError: for a target at or below `SILU_MIN`.
    """
    t = np.asarray(t, np.float64)
    if np.any(t <= SILU_MIN):
        raise ValueError(f"SiLU(z) = t needs t > {SILU_MIN}, got {t[t <= SILU_MIN]}.")
    a = np.full(t.shape, SILU_ARGMIN)
    _, right = _bisect(lambda z: silu64(z) - t, a, 2.0 * np.maximum(t, 0.0) + 2.0)
    # SiLU(z) -> 0- for z -> -inf; below -800 it is -0.0 in float64.
    left, _ = _bisect(lambda z: t - silu64(z), np.full(t.shape, -800.0), a)
    # SiLU(0) = 0 exactly; the bisection would stop at a subnormal where SiLU underflows.
    return np.where(t < 0, left, np.nan), np.where(t == 0, 0.0, right)


def _up(c):
    """Smallest float32 >= c (per element; c float64)."""
    c32 = c.astype(np.float32)
    return np.where(c32 < c, np.nextafter(c32, np.float32(np.inf)), c32)


def _down(c):
    """Largest float32 <= c."""
    c32 = c.astype(np.float32)
    return np.where(c32 > c, np.nextafter(c32, np.float32(-np.inf)), c32)


@dataclasses.dataclass
class SignForm:
    """The sign of a per-channel function, as `CASES` and float32 bounds.

    For float32 inputs `x`, `sign(f(x))` is `+1` iff `flip * max(lo - x, x - hi) >= 0`
    (`-1` exactly inside the open interval `(lo, hi)`, or outside the closed one with
    `flip = -1`; infinite bounds give thresholds and constants).

    # Attributes
        cases: Per channel, one of `CASES`.
        lo, hi: float32 bounds.
        flip: float32, +1 or -1 per channel.
        roots: float64 thresholds in input units before rounding, NaN where unused
            (shape `(channels, 2)`).
    """

    cases: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    flip: np.ndarray
    roots: np.ndarray

    def counts(self) -> dict:
        """Case -> number of channels, for every case present."""
        names, counts = np.unique(self.cases, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

    @property
    def affine(self) -> bool:
        """Whether every channel is a threshold or a constant."""
        return bool(np.isin(self.cases, AFFINE_CASES).all())

    @property
    def monotone(self) -> bool:
        """Whether the affine form is non-decreasing in every channel."""
        return bool(np.isin(self.cases, MONOTONE_CASES).all())

    def affine_weights(self):
        """`(w, b)`, float32: `x * w + b >= 0` iff the sign is +1 (affine forms only)."""
        if not self.affine:
            raise ValueError(f"Not every channel is affine: {self.counts()}.")
        w = np.select(
            [self.cases == "threshold", self.cases == "threshold_below"], [1.0, -1.0], 0.0
        ).astype(np.float32)
        b = np.select(
            [
                self.cases == "threshold",
                self.cases == "threshold_below",
                self.cases == "constant",
            ],
            [-self.hi, self.lo, np.float32(1.0)],
            np.float32(-1.0),
        ).astype(np.float32)
        return w, b

    def evaluate(self, x):
        """The signs (+1.0 / -1.0) for float32 inputs `x` (channels last), in numpy."""
        x = np.asarray(x, np.float32)
        with np.errstate(invalid="ignore"):
            y = self.flip * np.maximum(self.lo - x, x - self.hi)
        return np.where(y >= 0, 1.0, -1.0).astype(np.float32)


def abn_sign_form(mean, variance, epsilon, beta=None, gamma=None) -> SignForm:
    """The exact `SignForm` of ABN's inference function per channel.

    # Arguments
        mean, variance: The moving statistics (float32 arrays).
        epsilon: ABN's epsilon.
        beta: The offset, None for `center=False`.
        gamma: The scale, None for `scale=False`.

    # Returns
        A `SignForm` with one entry per channel.
    """
    mean = np.asarray(mean, np.float32).astype(np.float64)
    std = np.sqrt(
        (np.asarray(variance, np.float32) + np.float32(epsilon)).astype(np.float64)
    )
    n = mean.shape[0]
    beta = np.zeros(n) if beta is None else np.asarray(beta, np.float32).astype(np.float64)
    s = np.ones(n) if gamma is None else np.asarray(gamma, np.float32).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # +1 iff SiLU(z) >= t (s > 0) or SiLU(z) <= t (s < 0).
        t = np.where(s != 0, -beta / s, 0.0)
    solvable = (s != 0) & (t > SILU_MIN)
    left, right = silu_roots(np.where(solvable, t, 0.0))
    x1, x2 = mean + left * std, mean + right * std
    pos, neg = s > 0, s < 0
    cases = np.select(
        [
            pos & (t >= 0),
            pos & solvable,
            neg & (t >= 0),
            neg & solvable,
            (s == 0) & (beta < 0),
            neg,
        ],
        ["threshold", "interval", "threshold_below", "band", "constant_negative",
         "constant_negative"],
        "constant",
    ).astype("<U17")
    inf = np.float32(np.inf)
    lo = np.full(n, inf, np.float32)
    hi = np.full(n, inf, np.float32)
    flip = np.where(cases == "band", np.float32(-1), np.float32(1)).astype(np.float32)
    rules = {
        "threshold": (-inf, _up(x2)),
        "interval": (_down(x1), _up(x2)),
        "threshold_below": (_down(x2), inf),
        "band": (_up(x1), _down(x2)),
        "constant_negative": (-inf, inf),
    }
    for case, (case_lo, case_hi) in rules.items():
        where = cases == case
        lo = np.where(where, case_lo, lo).astype(np.float32)
        hi = np.where(where, case_hi, hi).astype(np.float32)
    # Intervals / bands that hold no float32 are constants.
    empty_interval = (cases == "interval") & (
        np.nextafter(lo, inf) >= hi
    )
    empty_band = (cases == "band") & (lo > hi)
    cases[empty_interval] = "constant"
    lo[empty_interval], hi[empty_interval] = inf, inf
    cases[empty_band] = "constant_negative"
    lo[empty_band], hi[empty_band], flip[empty_band] = -inf, inf, 1.0
    roots = np.stack(
        [np.where(np.isin(cases, ("interval", "band")), x1, np.nan),
         np.where(np.isin(cases, ("constant", "constant_negative")), np.nan, x2)], -1
    )
    return SignForm(cases, lo, hi, flip, roots)


def _abn_form(layer) -> SignForm:
    return abn_sign_form(
        layer.moving_mean.numpy(),
        layer.moving_variance.numpy(),
        layer.epsilon,
        beta=layer.beta.numpy() if layer.center else None,
        gamma=layer.gamma.numpy() if layer.scale else None,
    )


class _ChannelConstants(tf.keras.layers.Layer):
    """Base of the export layers: per-channel float32 constants kept in the config."""

    _constants = ()

    def __init__(self, axis=-1, **kwargs):
        values = {name: kwargs.pop(name) for name in self._constants}
        super().__init__(**kwargs)
        self.axis = axis
        for name, value in values.items():
            setattr(self, name, [float(v) for v in np.asarray(value).ravel()])

    def channel(self, name, rank):
        vector = tf.constant(np.asarray(getattr(self, name), np.float32))
        return broadcast_channel(vector, rank, self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {**super().get_config(), "axis": self.axis}
        config.update({name: list(getattr(self, name)) for name in self._constants})
        return config


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class SignAffine(_ChannelConstants):
    """`x * scale + offset` per channel: the export form of a normalization whose sign
    is a threshold or a constant in every channel. LCE folds it into the output
    multiplier and bias of a preceding binary convolution (bitpacked output where a
    sign follows).

    # Arguments
        scale, offset: Per-channel sequences of floats.
        axis: The channel axis.
    """

    _constants = ("scale", "offset")

    def call(self, inputs):
        rank = inputs.shape.rank
        return inputs * self.channel("scale", rank) + self.channel("offset", rank)


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class SignInterval(_ChannelConstants):
    """`flip * max(lo - x, x - hi)` per channel: negative exactly inside `(lo, hi)`
    (outside `[lo, hi]` where `flip = -1`), with exact signs for float32 inputs.

    # Arguments
        lo, hi: Per-channel sequences of floats (may be infinite).
        flip: Per-channel +1.0 / -1.0.
        axis: The channel axis.
    """

    _constants = ("lo", "hi", "flip")

    def call(self, inputs):
        rank = inputs.shape.rank
        y = tf.maximum(self.channel("lo", rank) - inputs, inputs - self.channel("hi", rank))
        if any(f < 0 for f in self.flip):
            y = y * self.channel("flip", rank)
        return y


# ======================================================================================
# The report
# ======================================================================================
@dataclasses.dataclass
class LayerRewrite:
    """What the export did with one normalization layer.

    # Attributes
        layer: The layer's name.
        layer_class: Its class name.
        action: `"affine"` (replaced by `SignAffine`, fusable into a binary conv),
            `"comparisons"` (replaced by `SignInterval`), `"kept"` (unchanged; a
            `BatchNormalization` that feeds signs is kept and may still move a pool).
        cases: Case -> channel count (ABN only).
        reason: Why the layer was kept as it was, or why its pool was not moved.
        moved_pool: The max-pool moved from before the layer to after it.
        dropped: Sign-preserving layers removed between the layer and its signs.
    """

    layer: str
    layer_class: str
    action: str
    cases: dict = dataclasses.field(default_factory=dict)
    reason: str | None = None
    moved_pool: str | None = None
    dropped: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ExportReport:
    """The rewrites of `prepare_for_lce`, one `LayerRewrite` per normalization layer."""

    layers: list

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
        }

    def to_text(self) -> str:
        lines = [f"LCE export: {len(self.layers)} normalization layers"]
        for r in self.layers:
            cases = ", ".join(f"{n} {c}" for c, n in sorted(r.cases.items()))
            line = f"  {r.layer} ({r.layer_class}): {r.action}"
            line += f" [{cases}]" if cases else ""
            if r.moved_pool:
                line += f"; max-pool {r.moved_pool} moved after it"
            if r.dropped:
                line += f"; dropped {', '.join(r.dropped)}"
            if r.reason:
                line += f"; {r.reason}"
            lines.append(line)
        return "\n".join(lines)


# ======================================================================================
# The graph
# ======================================================================================
_SIGN_QUANTIZERS = (lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign)
_SIGN_FUNCTIONS = (lq.quantizers.ste_sign, lq.quantizers.approx_sign, lq.quantizers.swish_sign)
_SIGN_ACTIVATIONS = ("linear", "tanh", "hard_tanh")
#: Layers between a norm and a sign that keep the sign of every element and are dropped.
_DROPPABLE = (HardTanh, tf.keras.layers.Dropout, tf.keras.layers.Activation)
#: Layers between a norm and a sign that commute with the sign and are kept.
_STRUCTURAL = (
    tf.keras.layers.MaxPooling1D,
    tf.keras.layers.MaxPooling2D,
    tf.keras.layers.MaxPooling3D,
    tf.keras.layers.Reshape,
    tf.keras.layers.Flatten,
)


def is_sign_quantizer(quantizer) -> bool:
    """Whether `quantizer` is a plain binarizing sign (larq's `ste_sign`, `approx_sign`
    or `swish_sign`, as class, instance, function or name)."""
    if isinstance(quantizer, str):
        return quantizer in ("ste_sign", "approx_sign", "swish_sign")
    return isinstance(quantizer, _SIGN_QUANTIZERS) or quantizer in _SIGN_FUNCTIONS


def _sign_preserving(layer) -> bool:
    """Whether `sign(layer(x)) == sign(x)` elementwise (sign(0) = +1)."""
    if isinstance(layer, HardTanh):
        return layer.min_value < 0.0 <= layer.max_value
    if isinstance(layer, tf.keras.layers.Activation):
        name = getattr(layer.activation, "__name__", str(layer.activation))
        return name in _SIGN_ACTIVATIONS
    return isinstance(layer, tf.keras.layers.Dropout)


class _Graph:
    """The layer graph of a functional model config (single-node layers only)."""

    def __init__(self, model):
        self.model = model
        self.config = model.get_config()
        self.entries = {entry["name"]: entry for entry in self.config["layers"]}
        self.outputs = {ref[0] for ref in self.config["output_layers"]}

    def layer(self, name):
        return self.model.get_layer(name)

    def inputs(self, name):
        nodes = self.entries[name]["inbound_nodes"]
        return [ref[0] for ref in nodes[0]] if len(nodes) == 1 else None

    def consumers(self, name):
        found = []
        for other, entry in self.entries.items():
            for node in entry["inbound_nodes"]:
                found += [other for ref in node if ref[0] == name]
        return found

    def rewire(self, old, new):
        """Make every consumer of `old` (and the model outputs) read `new`."""
        for entry in self.entries.values():
            for node in entry["inbound_nodes"]:
                for ref in node:
                    if ref[0] == old:
                        ref[0], ref[1], ref[2] = new, 0, 0
        for ref in self.config["output_layers"]:
            if ref[0] == old:
                ref[0], ref[1], ref[2] = new, 0, 0
        self.outputs = {ref[0] for ref in self.config["output_layers"]}

    def set_input(self, name, source):
        self.entries[name]["inbound_nodes"] = [[[source, 0, 0, {}]]]

    def remove(self, name):
        (source,) = self.inputs(name)
        self.rewire(name, source)
        del self.entries[name]

    def sign_paths(self, name):
        """`(reason, droppable)`: reason is None when every use of `name`'s output ends
        in a binarizing sign, through sign-preserving or sign-commuting layers."""
        if name in self.outputs:
            return "it is a model output", []
        droppable = []
        for consumer in self.consumers(name):
            layer = self.layer(consumer)
            if self.inputs(consumer) != [name]:
                return f"it feeds {consumer} ({type(layer).__name__})", []
            if is_sign_quantizer(getattr(layer, "input_quantizer", None)):
                continue
            sign_preserving = isinstance(layer, _DROPPABLE) and _sign_preserving(layer)
            if not (sign_preserving or isinstance(layer, _STRUCTURAL)):
                return f"it feeds {consumer} ({type(layer).__name__})", []
            reason, more = self.sign_paths(consumer)
            if reason:
                return reason, []
            droppable += ([consumer] if sign_preserving else []) + more
        return None, droppable

    def build(self):
        """A new model from the edited config (layers in topological order)."""
        order, seen = [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            for node in self.entries[name]["inbound_nodes"]:
                for ref in node:
                    visit(ref[0])
            order.append(self.entries[name])

        for name in self.entries:
            visit(name)
        config = dict(self.config, layers=order)
        custom = {"SignAffine": SignAffine, "SignInterval": SignInterval}
        return tf.keras.Model.from_config(config, custom_objects=custom)


def _as_functional(model):
    if not isinstance(model, tf.keras.Model):
        raise TypeError(f"`model` must be a tf.keras.Model, got {type(model).__name__}.")
    if isinstance(model, tf.keras.Sequential) or not getattr(
        model, "_is_graph_network", False
    ):
        if not model.built or not model.inputs:
            raise ValueError(
                f"Model '{model.name}' needs known inputs (a functional model, or a "
                "Sequential model built with an Input) to be exported."
            )
        return tf.keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def _channel_axis(layer):
    axis = layer.axis
    return axis[0] if isinstance(axis, (list, tuple)) else axis


def _bn_monotone(layer):
    """`(monotone, reason)` of a BatchNormalization at inference."""
    if not layer.scale:
        return True, None
    negative = int(np.sum(layer.gamma.numpy() < 0))
    if negative:
        return False, (
            f"{negative} channels with gamma < 0 (a max-pool before them would become a "
            "min-pool): pool left in place"
        )
    return True, None


def _rewrite_norm(graph, name, replacements):
    """Decide the rewrite of normalization layer `name`; edits `graph`, returns a
    `LayerRewrite` and the layer's monotonicity."""
    layer = graph.layer(name)
    kind = type(layer).__name__
    if graph.inputs(name) is None or len(graph.inputs(name)) != 1:
        why = "it is shared or has several inputs"
        return LayerRewrite(name, kind, "kept", reason=why), False
    reason, droppable = graph.sign_paths(name)
    if reason:
        why = f"not only followed by signs: {reason}"
        return LayerRewrite(name, kind, "kept", reason=why), False
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        monotone, why = _bn_monotone(layer)
        pooled = isinstance(graph.layer(graph.inputs(name)[0]), _STRUCTURAL[:3])
        why = why if pooled else None
        return LayerRewrite(name, kind, "kept", reason=why, dropped=droppable), monotone
    form = _abn_form(layer)
    axis = _channel_axis(layer)
    if form.affine:
        w, b = form.affine_weights()
        new = SignAffine(scale=w, offset=b, axis=axis, name=name)
        action = "affine"
    else:
        new = SignInterval(lo=form.lo, hi=form.hi, flip=form.flip, axis=axis, name=name)
        action = "comparisons"
    entry = graph.entries[name]
    entry.update(
        class_name=type(new).__name__,
        config=new.get_config(),
        module=None,
        registered_name=f"larq_nobn>{type(new).__name__}",
    )
    entry.pop("build_config", None)
    replacements.add(name)
    rewrite = LayerRewrite(name, kind, action, cases=form.counts(), dropped=droppable)
    return rewrite, form.monotone and form.affine


def _move_pool(graph, name, rewrite):
    """Move a max-pool that sits right before norm `name` to right after it."""
    (pool,) = graph.inputs(name)
    if not isinstance(graph.layer(pool), _STRUCTURAL[:3]):
        return
    if graph.consumers(pool) != [name] or pool in graph.outputs:
        rewrite.reason = f"max-pool {pool} has other uses: left in place"
        return
    (source,) = graph.inputs(pool)
    graph.rewire(name, pool)
    graph.set_input(name, source)
    graph.set_input(pool, name)
    rewrite.moved_pool = pool


def _copy_weights(old, new, replacements):
    for layer in new.layers:
        if layer.name in replacements or not layer.weights:
            continue
        layer.set_weights(old.get_layer(layer.name).get_weights())


def prepare_for_lce(model, *, move_pools=True):
    """Rewrites a trained model into an inference-equivalent one that LCE converts with
    fewer float ops.

    - Each `ABN` whose output reaches only binarizing signs (a larq layer's
      `input_quantizer` `ste_sign` / `approx_sign` / `swish_sign`), directly or through
      sign-preserving layers (`HardTanh` with `min < 0 <= max`, `Dropout`, linear/tanh
      `Activation`, which are dropped) and sign-commuting ones (max-pool, reshape,
      flatten), becomes `SignAffine` if every channel is a threshold or a constant
      (LCE fuses it into a preceding binary conv: bitpacked output), else `SignInterval`
      (two subtractions and a maximum instead of LOGISTIC + MUL). Every other ABN keeps
      its float graph.
    - A `BatchNormalization` that reaches only signs loses its sign-preserving layers.
    - A max-pool whose only use is such a norm, when the norm is non-decreasing per
      channel (BN with every gamma >= 0, or an ABN whose channels are all `threshold`,
      `constant` or `constant_negative`), moves after the norm: `norm(maxpool(x)) =
      maxpool(norm(x))`, and LCE turns `sign(maxpool(.))` into `LceBMaxPool2d` on the
      conv's bitpacked output. With a negative gamma the layer is left as it is.

    The binarized activations of the result equal the exact real-number ones of the
    original (see `abn_sign_form`); the model outputs are unchanged.

    # Arguments
        model: A trained functional or Sequential `tf.keras.Model` (Sequential ones need
            known inputs).
        move_pools: Move max-pools after monotone norms.

    # Returns
        `(export_model, ExportReport)`; the export model shares no layers with `model`.

    # Raises
        TypeError: if `model` is not a `tf.keras.Model`.
        ValueError: for a model without known inputs.
    """
    functional = _as_functional(model)
    graph = _Graph(functional)
    replacements, rewrites = set(), []
    norms = (ABN, tf.keras.layers.BatchNormalization)
    for name in list(graph.entries):
        if not isinstance(graph.layer(name), norms):
            continue
        rewrite, monotone = _rewrite_norm(graph, name, replacements)
        for dropped in rewrite.dropped:
            graph.remove(dropped)
        if move_pools and monotone:
            _move_pool(graph, name, rewrite)
        rewrites.append(rewrite)
    export = graph.build()
    _copy_weights(functional, export, replacements)
    report = ExportReport(rewrites)
    logger.info("%s", report.to_text())
    return export, report
