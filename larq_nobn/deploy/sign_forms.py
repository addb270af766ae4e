"""The exact sign of ABN's inference function per channel: thresholds, intervals and
constants, solved in float64 and rounded outwards to float32.

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
float32 input the sign form gives the sign of the exact real-number `f(x)`; Keras' own
float32 evaluation of ABN can differ from it only for inputs within float32 rounding
of a threshold. `larq_nobn.deploy.export.prepare_for_lce` rewrites models with them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

__all__ = [
    "AFFINE_CASES",
    "CASES",
    "MONOTONE_CASES",
    "SILU_ARGMIN",
    "SILU_MIN",
    "SignForm",
    "abn_sign_form",
    "bn_sign_form",
    "layer_sign_form",
    "silu64",
    "silu_roots",
]

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

    @property
    def splittable(self) -> bool:
        """Whether every channel is `interval` or a non-decreasing affine case, so that
        `split_weights` applies."""
        return bool(np.isin(self.cases, MONOTONE_CASES + ("interval",)).all())

    def split_weights(self):
        """Two non-decreasing thresholds per `interval` channel, whose signs give the
        channel's sign linearly.

        For an interval channel, with `a = +1 iff x >= hi` and `b = +1 iff x > lo`
        (`lo < hi`), the sign is `a - b + 1`: `-1 - (-1) + 1 = 1` below the interval,
        `-1 - 1 + 1 = -1` inside, `1 - 1 + 1 = 1` above (and `1 - 1 + 1 = 1` for the
        padding value +1 of both). A binary convolution `W` of the signs therefore
        equals a binary convolution of `[a, b]` with weights `[W, -W]` plus the
        constant `sum W` over the interval channels.

        # Returns
            `(w, b, index, extra_offset)`, float32: `x * w + b >= 0` iff the sign is +1
            (for interval channels: iff `a` is +1); `index`, the interval channels
            (int64); `x + extra_offset >= 0` iff `b` is +1 for those channels.

        # Raises
            ValueError: for a form that is not `splittable`.
        """
        if not self.splittable:
            raise ValueError(
                f"Only interval and non-decreasing channels split: {self.counts()}."
            )
        interval = self.cases == "interval"
        index = np.flatnonzero(interval)
        affine = dataclasses.replace(
            self,
            cases=np.where(interval, "threshold", self.cases),
            lo=np.where(interval, -np.inf, self.lo).astype(np.float32),
        )
        w, b = affine.affine_weights()
        # x > lo  <=>  x >= the next float32 above lo.
        extra = -np.nextafter(self.lo[index], np.float32(np.inf)).astype(np.float32)
        return w, b, index, extra

    def integer_bounds(self, bound):
        """`(lo, hi)` for integer inputs `|x| < bound` (`bound` a half-integer below
        2**22): half-integers, infinities replaced by `-bound` / `bound`, with which
        `max(lo - x, x - hi) >= 0` gives the sign of every such `x`, and every value
        in it is exact in float32, also after shifting `x` and both bounds by `hi`.

        # Raises
            ValueError: for a `band` channel (`flip = -1`) or a `bound` that is not a
                half-integer below 2**22.
        """
        if (self.flip < 0).any():
            raise ValueError(f"Band channels have no integer bounds: {self.counts()}.")
        if not (bound % 1 == 0.5 and 0 < bound < 2**22):
            raise ValueError(f"bound must be a half-integer in (0, 2**22); got {bound}.")
        with np.errstate(invalid="ignore"):
            # -1 iff lo < x < hi  <=>  floor(lo) + 1 <= x <= ceil(hi) - 1.
            lo = np.clip(np.floor(self.lo.astype(np.float64)) + 0.5, -bound, bound)
            hi = np.clip(np.ceil(self.hi.astype(np.float64)) - 0.5, -bound, bound)
        return lo.astype(np.float32), hi.astype(np.float32)

    def evaluate(self, x):
        """The signs (+1.0 / -1.0) for float32 inputs `x` (channels last), in numpy."""
        x = np.asarray(x, np.float32)
        with np.errstate(invalid="ignore"):
            y = self.flip * np.maximum(self.lo - x, x - self.hi)
        return np.where(y >= 0, 1.0, -1.0).astype(np.float32)


def _float64_parameters(mean, variance, epsilon, beta, gamma):
    """`(mean, std, beta, scale)` in float64 from a norm layer's float32 values, with
    `beta = 0` / `scale = 1` where the layer has none."""
    mean = np.asarray(mean, np.float32).astype(np.float64)
    std = np.sqrt(
        (np.asarray(variance, np.float32) + np.float32(epsilon)).astype(np.float64)
    )
    n = mean.shape[0]
    beta = np.zeros(n) if beta is None else np.asarray(beta, np.float32).astype(np.float64)
    s = np.ones(n) if gamma is None else np.asarray(gamma, np.float32).astype(np.float64)
    return mean, std, beta, s


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
    mean, std, beta, s = _float64_parameters(mean, variance, epsilon, beta, gamma)
    n = mean.shape[0]
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


def bn_sign_form(mean, variance, epsilon, beta=None, gamma=None) -> SignForm:
    """The exact `SignForm` of BatchNormalization's inference function per channel.

    `gamma * (x - mean) / sqrt(var + eps) + beta >= 0` is `x >= c` (`threshold`) for
    `gamma > 0`, `x <= c` (`threshold_below`) for `gamma < 0` and a constant for
    `gamma = 0`, with `c = mean - beta * sqrt(var + eps) / gamma` solved in float64 and
    rounded outwards to float32, as for ABN.

    # Arguments
        mean, variance: The moving statistics (float32 arrays).
        epsilon: The layer's epsilon.
        beta: The offset, None for `center=False`.
        gamma: The scale, None for `scale=False`.

    # Returns
        A `SignForm` with one entry per channel.
    """
    mean, std, beta, s = _float64_parameters(mean, variance, epsilon, beta, gamma)
    n = mean.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(s != 0, mean - beta * std / s, 0.0)
    when = [s > 0, s < 0, beta >= 0]
    cases = np.select(
        when, ["threshold", "threshold_below", "constant"], "constant_negative"
    ).astype("<U17")
    inf = np.float32(np.inf)
    lo = np.select(when, [-inf, _down(root), inf], -inf).astype(np.float32)
    hi = np.select(when[:2], [_up(root), inf], inf).astype(np.float32)
    roots = np.stack([np.full(n, np.nan), np.where(s != 0, root, np.nan)], -1)
    return SignForm(cases, lo, hi, np.ones(n, np.float32), roots)


def layer_sign_form(layer) -> SignForm:
    """`abn_sign_form` of a built `larq_nobn.ABN` layer, or `bn_sign_form` of a built
    `tf.keras.layers.BatchNormalization`, from its current weights."""
    bn = isinstance(layer, tf.keras.layers.BatchNormalization)
    function = bn_sign_form if bn else abn_sign_form
    return function(
        layer.moving_mean.numpy(),
        layer.moving_variance.numpy(),
        layer.epsilon,
        beta=layer.beta.numpy() if layer.center else None,
        gamma=layer.gamma.numpy() if layer.scale else None,
    )
