"""The initialization of the authors' PyTorch code, for the zoo builders' `init`.

Every zoo builder takes `init="reference"` (the default) or `init="keras"`:

- `"keras"`: the Keras defaults of each layer (Glorot-uniform kernels, zero biases).
- `"reference"`: the initialization of the reference code the model follows, drawn
  with Keras' own initializers (so a saved model loads without custom objects):

| reference (`scheme`) | binary conv / dense kernels                | other kernels, biases |
|----------------------|--------------------------------------------|-----------------------|
| `"bnn_nobn"`         | `bnn_nobn_uniform`: U(0, 1e-3)             | torch default         |
| `"binarynet_resnet"` | `binarynet_resnet_normal`: N(0, 2/fan_out) | torch default         |
| `"binarynet_vgg"`    | torch default                              | torch default         |

"torch default" is `torch_default_uniform` for kernels, U(-1/sqrt(fan_in),
1/sqrt(fan_in)) (`kaiming_uniform_(a=sqrt(5))` of `nn.Conv2d` / `nn.Linear`), and
`torch_bias_uniform` for biases, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the kernel's
fan-in. Batch normalization (gamma 1, beta 0), RPReLU (slope 0.25, shifts 0), RSign
thresholds (0) and ScaledWS gains (1) already start where the references start.

- `"bnn_nobn"`: VITA-Group/BNN_NoBN `layers.py`: `HardBinaryConv` and
  `HardBinaryScaledStdConv2d` (every binary conv of `Qaw_reactnet_18_*` and
  `Qaw_reactnet_A_*`, the 1x1 binary shortcut convs included) start at
  `torch.rand(shape) * 0.001`; the stem (`nn.Conv2d` / `ScaledStdConv2d`) and the
  classifier (`nn.Linear`) keep torch's defaults. The latent weights are all positive,
  so every binary kernel starts as +1 (times its scale).
- `"binarynet_resnet"`: gushan/ABN `models/resnet_binary.py` and
  `resnet_abn_binary.py` `init_model`: every `BinarizeConv2d` (the 1x1 downsample
  convs included) `normal_(0, sqrt(2 / n))` with `n = k * k * out_channels`;
  `nn.BatchNorm2d` gamma 1, beta 0; the stem `nn.Conv2d` and the classifier
  `nn.Linear` keep torch's defaults.
- `"binarynet_vgg"`: gushan/ABN `models/vgg_cifar10_binary.py` and
  `vgg_abn_cifar10_binary.py` have no init of their own: torch's defaults everywhere.

gushan/ABN's ABN layer (`models/ABN.py` `BatchNorm`) draws a gamma from U(0, 1) that its
4-D path (the only one the zoo's `ABN` layers take) never uses; `larq_nobn.ABN` has no
gamma by default, so there is nothing to match.

The zoo's `"bf"` variants of BinaryNet and the ABN ResNet have no reference code; they
take their architecture's scheme (ScaledWS standardizes the kernels anyway).
"""

from __future__ import annotations

import math

from larq_nobn._utils import leaf_layers
from larq_nobn.checks import check_choice

import tensorflow as tf

__all__ = [
    "INITS",
    "SCHEMES",
    "binarynet_resnet_normal",
    "bnn_nobn_uniform",
    "initializer",
    "reinitialize",
    "torch_bias_uniform",
    "torch_default_uniform",
]

#: The accepted values of the builders' `init` keyword.
INITS = ("reference", "keras")
#: The reference codes whose initialization `reinitialize` reproduces.
SCHEMES = ("bnn_nobn", "binarynet_resnet", "binarynet_vgg")

#: Upper bound of BNN_NoBN's binary latent weights (`torch.rand(shape) * 0.001`).
BNN_NOBN_MAXVAL = 1e-3


def torch_default_uniform():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch's default for `nn.Conv2d` and
    `nn.Linear` weights (`kaiming_uniform_(a=sqrt(5))`, gain sqrt(1/3)).

    # Returns
        A `VarianceScaling(1/3, "fan_in", "uniform")` initializer.
    """
    return tf.keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def torch_bias_uniform(fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the fan-in of the layer's kernel: torch's
    default for `nn.Conv2d` and `nn.Linear` biases.

    # Arguments
        fan_in: The kernel's fan-in (its size without the output axis).

    # Returns
        A `RandomUniform` initializer.
    """
    bound = 1.0 / math.sqrt(fan_in)
    return tf.keras.initializers.RandomUniform(-bound, bound)


def bnn_nobn_uniform():
    """U(0, 1e-3): VITA-Group/BNN_NoBN's binary conv weights,
    `torch.rand(shape) * 0.001`.

    # Returns
        A `RandomUniform(0, 1e-3)` initializer.
    """
    return tf.keras.initializers.RandomUniform(0.0, BNN_NOBN_MAXVAL)


def binarynet_resnet_normal():
    """N(0, 2 / fan_out), fan_out = k * k * out_channels: the binary convs of the
    BinaryNet.pytorch ResNet (gushan/ABN `init_model`).

    # Returns
        A `VarianceScaling(2, "fan_out", "untruncated_normal")` initializer.
    """
    return tf.keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


_BINARY_KERNEL = {
    "bnn_nobn": bnn_nobn_uniform,
    "binarynet_resnet": binarynet_resnet_normal,
    "binarynet_vgg": torch_default_uniform,
}


def initializer(init, scheme):
    """The model initialization a builder applies for its `init` keyword.

    # Arguments
        init: One of `INITS`.
        scheme: One of `SCHEMES`: the builder's reference code.

    # Returns
        `None` for `"keras"` (the layers' own initializers), else a function that
        re-initializes a model in place (`reinitialize` with `scheme`).

    # Raises
        ValueError: for an unknown `init` or `scheme`.
    """
    check_choice(init, INITS, "init")
    check_choice(scheme, SCHEMES, "scheme")
    if init == "keras":
        return None
    return lambda model: reinitialize(model, scheme)


def reinitialize(model, scheme):
    """Re-draw the weights of `model` as the reference code `scheme` initializes them.

    Binary layers (a `kernel_quantizer`) take the scheme's binary kernel initializer;
    other convolutions and dense layers `torch_default_uniform`, their biases
    `torch_bias_uniform`. Each layer's initializer attribute is set too, so its
    config (and a saved model) names what drew its weights. Other weights are left
    alone.

    # Arguments
        model: A built `tf.keras.Model`.
        scheme: One of `SCHEMES`.

    # Returns
        `model`.

    # Raises
        ValueError: for an unknown `scheme`.
    """
    check_choice(scheme, SCHEMES, "scheme")
    for layer in leaf_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        binary = getattr(layer, "kernel_quantizer", None) is not None
        make = _BINARY_KERNEL[scheme] if binary else torch_default_uniform
        layer.kernel_initializer = _draw(kernel, make())
        bias = getattr(layer, "bias", None)
        if bias is not None:
            fan_in = math.prod(kernel.shape[:-1])
            layer.bias_initializer = _draw(bias, torch_bias_uniform(fan_in))
    return model


def _draw(variable, init):
    """Assign `init(shape)` to `variable`; return `init`."""
    variable.assign(init(variable.shape, dtype=variable.dtype))
    return init
