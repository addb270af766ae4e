"""LCE's conversion rules, seen from the Keras side: which layers are binary, which of
them LCE can turn into a binary convolution (`LceBconv2d`), and why one stays float."""

from __future__ import annotations

from larq_nobn.deploy.errors import DeployError

import numpy as np

__all__ = [
    "TARGETS",
    "check_target",
    "conv_signature",
    "flat_layers",
    "float_reason",
    "has_binary_weights",
    "is_binary_layer",
    "layer_kind",
]

TARGETS = ("arm", "xcore")

_QUANTIZER_ATTRS = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer",
                    "pointwise_quantizer")
_WEIGHT_QUANTIZER_ATTRS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


def check_target(target) -> str:
    """Returns `target` if it is one of `TARGETS`.

    # Raises
        DeployError: Another target.
    """
    if target not in TARGETS:
        raise DeployError(f"unknown target {target!r}; expected one of {TARGETS}.")
    return target


def _precision(quantizer):
    return getattr(quantizer, "precision", None) if quantizer is not None else None


def flat_layers(model) -> list:
    """Every layer of a model, nested models expanded (the nested model too)."""
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers") and isinstance(layer.layers, list):
            layers.extend(flat_layers(layer))
    return layers


def is_binary_layer(layer) -> bool:
    """A larq layer with a 1-bit input or weight quantizer (`precision == 1`)."""
    return any(_precision(getattr(layer, a, None)) == 1 for a in _QUANTIZER_ATTRS)


def has_binary_weights(layer) -> bool:
    """A larq layer with a 1-bit weight quantizer."""
    return any(_precision(getattr(layer, a, None)) == 1 for a in _WEIGHT_QUANTIZER_ATTRS)


def layer_kind(layer) -> str:
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


def conv_signature(layer):
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


def _kind_reason(layer, kind) -> str | None:
    """Why a layer of this kind cannot be a binary convolution at all."""
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
    return None


def _quantizer_reason(layer) -> str | None:
    """Why a 2D convolution's quantizers do not make it a binary convolution."""
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
    return None


def float_reason(layer, target) -> str:
    """Why a binary Keras layer did not become an LceBconv2d (LCE's conversion rules).

    # Arguments
        layer: The Keras layer.
        target: The conversion target (`"arm"` or `"xcore"`).

    # Returns
        The reason, one sentence without a final full stop.
    """
    reason = _kind_reason(layer, layer_kind(layer)) or _quantizer_reason(layer)
    if reason is not None:
        return reason
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
