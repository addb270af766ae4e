"""Weights trained with the authors' PyTorch code, loaded into the matching zoo model.

A user who trained with gushan/ABN or VITA-Group/BNN_NoBN on a GPU gets the same
network as a zoo model, ready for `larq-nobn convert`:

```python
model = larq_nobn.zoo.BinaryNet(norm="abn", input_shape=(32, 32, 3), num_classes=10,
                                width_multiplier=3, pad_values=0.0)
larq_nobn.zoo.load_reference_weights(model, "model_best.pth.tar",
                                     architecture="binarynet")
```

- `"binarynet"`: gushan/ABN `vgg_cifar10_binary` / `vgg_abn_cifar10_binary` ->
  `BinaryNet(norm="bn" / "abn", width_multiplier=3)`;
- `"resnet18_abn_paper"`: gushan/ABN `resnet_binary` / `resnet_abn_binary` (depth 18)
  -> `BinaryResNet18(norm="bn" / "abn")`;
- `"reactnet18"`: BNN_NoBN `Qaw_reactnet_18_bn` / `_bf` / `_none` ->
  `ReActNet18(norm="bn" / "bf" / "none", stem=...)`;
- `"reactnet_a"`: BNN_NoBN `Qaw_reactnet_A_bn` / `_bf` / `_none` ->
  `ReActNetA(norm="bn" / "bf" / "none")`;
- `"resnet34"`: torchvision's `resnet34` (BNN_NoBN's distillation teacher) ->
  `TorchvisionResNet34` (`larq_nobn.zoo.teachers`).

The zoo model must have the reference's widths, input size and stem (BNN_NoBN's
`birealnet18` builds the ImageNet stem unless called with `imagenet=False`).

# What is converted

- Convolution kernels `(out, in, kh, kw)` -> `(kh, kw, in, out)`; dense weights
  `(out, in)` -> `(in, out)` (or the `(1, 1, in, out)` kernel of BinaryNet's 1x1-conv
  dense layers). Where the reference flattens an NCHW map (BinaryNet's `view`, the
  ResNet head's `AvgPool2d(8)` on a map larger than 8x8), the input features of the
  next dense weight (and of the BN between them) are reordered from `(C, H, W)` to the
  `(H, W, C)` order of the zoo's NHWC flatten.
- BatchNorm `weight`, `bias`, `running_mean`, `running_var` -> `gamma`, `beta`,
  `moving_mean`, `moving_variance` (`num_batches_tracked` is ignored).
- gushan/ABN's `BatchNorm` (ABN): `beta` -> `beta`; its `gamma` is never used on 4-D
  inputs and is ignored. Its moving statistics are plain attributes, not buffers, so
  a `state_dict` checkpoint does not hold them: without `<module>.moving_mean` /
  `<module>.moving_var` entries they take the values the reference itself has after
  `load_state_dict`, 0 and 1 (logged as a warning: evaluation then differs from the
  one during the reference's training).
- The zoo has no bias before a normalization (the normalization removes it in
  training); a reference bias there (BinaryNet's convolutions, `dense2` and classifier)
  is folded into that normalization's moving mean (`moving_mean - bias`), which gives
  the same inference output.
- BNN_NoBN: the `LearnableBias` before a `BinaryActivation` (`move0`, `move11`,
  `move21`) is the `threshold` of the binary convolution's `RSign`; `move1` / `prelu` /
  `move2` (and `move12`... `move23`) are the zoo's `RPReLU` (`input_shift` = -bias, as
  the zoo subtracts it, `slope`, `output_shift`); ScaledWS `gain`s `(out, 1, 1, 1)` ->
  `(out,)`. ReActNet-A's channel-doubling blocks have two 1x1 convolutions
  (`binary_pw_down1`, `binary_pw_down2`) and BNs (`bn2_1`, `bn2_2`) whose outputs the
  reference concatenates; the zoo has one convolution and one BN with both halves.

Unused reference parameters (the last ABN-paper ResNet block's `bn2`, which the
reference builds but skips) are ignored. Any other name the model cannot take, any
parameter the model needs that is missing, and any shape that does not fit raise one
`ValueError` that counts each kind and names the first few, before anything is
assigned.

`.npz` files (numpy arrays under the reference's names) need nothing more; `.pth` and
`.pth.tar` files need PyTorch installed (read with `torch.load(weights_only=True)`; a
checkpoint's `state_dict` entry and `DataParallel`'s `module.` prefix are handled).

With `pad_values=0.0` (the reference's binary padding) and the default
`stride2_padding="symmetric"`, the loaded zoo model computes the reference's outputs,
gradients and normalization statistics (`tests/test_reference_equivalence.py`).

# References
    - gushan/ABN, models/vgg_cifar10_binary.py, vgg_abn_cifar10_binary.py,
      resnet_binary.py, resnet_abn_binary.py, ABN.py
    - VITA-Group/BNN_NoBN, models/Qaw_reactnet_18_*.py, Qaw_reactnet_A_*.py, layers.py,
      train.py (teacher: torchvision `models.resnet34`)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

from larq_nobn.checks import check_choice
from larq_nobn.normalization import ABN
from larq_nobn.zoo.teachers import torchvision_modules

import numpy as np
import tensorflow as tf

__all__ = [
    "ARCHITECTURES",
    "ReferenceParameter",
    "load_reference_weights",
    "read_reference_weights",
    "reference_parameters",
    "to_reference_layout",
]

logger = logging.getLogger(__name__)

#: The reference architectures `load_reference_weights` maps (see the module docstring).
ARCHITECTURES = ("binarynet", "resnet18_abn_paper", "reactnet18", "reactnet_a", "resnet34")

#: File endings `read_reference_weights` accepts.
SUFFIXES = (".npz", ".pth", ".pth.tar")

# BinaryNet: (reference index in `features`, zoo conv, reference index of its norm,
# zoo norm); the convolutions have a bias.
_BINARYNET_CONVS = (
    (0, "stem_conv", 1, "stem_norm"),
    (3, "conv1", 5, "norm1"),
    (7, "conv2", 8, "norm2"),
    (10, "conv3", 12, "norm3"),
    (14, "conv4", 15, "norm4"),
    (17, "conv5", 19, "norm5"),
)
# BinaryNet's classifier: (index of the linear layer, zoo layer, has bias, index of
# its norm, zoo norm).
_BINARYNET_DENSE = (
    (0, "dense1", False, 1, "dense1_norm"),
    (3, "dense2", True, 4, "dense2_norm"),
    (6, "classifier", True, 7, "classifier_norm"),
)
_ABN_PAPER_STAGES = 3
_ABN_PAPER_BLOCKS = 2


@dataclasses.dataclass(frozen=True)
class ReferenceParameter:
    """One reference parameter and the zoo variable it becomes.

    # Arguments
        name: The reference's name (`state_dict` key).
        layer: The zoo layer's name.
        weight: The zoo variable's name in that layer (`kernel`, `moving_mean`, ...).
        kind: `"conv"` (OIHW kernel), `"dense"` (`(out, in)` weight) or `"vector"`.
        features: `(C, H, W)` of the NCHW map the reference flattened into this
            parameter's input features (dense) or features (vector), else None.
        fold: Name of the reference bias subtracted from this moving mean, or None.
        optional: The reference may lack it (ABN moving statistics); `default` then.
        default: Value of an absent optional parameter.
        scale: Factor from the reference's value to the zoo's (-1 where the reference
            adds a shift the zoo subtracts).
        part: `(k, n)`: the reference parameter is the k-th of n equal slices of the
            zoo variable's last axis (ReActNet-A's two 1x1 convolutions of a
            channel-doubling block, concatenated in the zoo), else None.
    """

    name: str
    layer: str
    weight: str
    kind: str = "vector"
    features: tuple | None = None
    fold: str | None = None
    optional: bool = False
    default: float = 0.0
    scale: float = 1.0
    part: tuple | None = None

    def variable(self, model):
        """The zoo variable of `model` this parameter becomes."""
        layer = model.get_layer(self.layer)
        for variable in layer.weights:
            if variable.name.split("/")[-1].split(":")[0] == self.weight:
                return variable
        raise ValueError(f"Layer {self.layer!r} has no weight {self.weight!r}.")


def _flatten_permutation(features):
    """Index of the reference's (C, H, W) feature for each zoo (H, W, C) feature."""
    c, h, w = features
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def _part_shape(param, shape):
    """The shape of the slice of a zoo variable of `shape` that `param` fills."""
    if param.part is None:
        return tuple(shape)
    return tuple(shape[:-1]) + (shape[-1] // param.part[1],)


def _part_slice(param, shape):
    k, n = param.part
    width = shape[-1] // n
    return (Ellipsis, slice(k * width, (k + 1) * width))


def _to_zoo(param, value, shape):
    """The reference array `value` in the layout of a zoo variable (or, with
    `param.part`, of its slice) of `shape`."""
    shape = _part_shape(param, shape)
    value = np.asarray(value, np.float32) * np.float32(param.scale)
    if param.kind == "conv":
        return value.transpose(2, 3, 1, 0)
    if param.kind == "dense":
        value = value.T
        if param.features is not None:
            value = value[_flatten_permutation(param.features)]
        return value.reshape(shape)
    value = value.reshape(-1)
    if param.features is not None:
        value = value[_flatten_permutation(param.features)]
    return value.reshape(shape)


def _reference_shape(param, shape):
    """The shape a reference parameter must have for a zoo variable of `shape`."""
    shape = _part_shape(param, shape)
    if param.kind == "conv":
        kh, kw, cin, cout = shape
        return (cout, cin, kh, kw)
    if param.kind == "dense":
        return (shape[-1], int(np.prod(shape[:-1])))
    return None  # vectors: any shape with the right number of entries


def to_reference_layout(param, value):
    """A zoo array (a variable, its gradient) in the reference's layout of `param`.

    The inverse of the loader's conversion, for comparing with the reference. A folded
    moving mean comes back without the bias (add it to compare).

    # Arguments
        param: A `ReferenceParameter`.
        value: Array in the zoo variable's layout.

    # Returns
        The array in the reference's layout (vectors flat).
    """
    value = np.asarray(value)
    if param.part is not None:
        value = value[_part_slice(param, value.shape)]
    value = value / np.asarray(param.scale, value.dtype)
    if param.kind == "conv":
        return value.transpose(3, 2, 0, 1)
    if param.kind == "dense":
        value = value.reshape(-1, value.shape[-1])
        if param.features is not None:
            out = np.empty_like(value)
            out[_flatten_permutation(param.features)] = value
            value = out
        return value.T
    value = value.reshape(-1)
    if param.features is not None:
        out = np.empty_like(value)
        out[_flatten_permutation(param.features)] = value
        value = out
    return value


def _norm_parameters(model, prefix, layer_name, fold=None, features=None):
    """The reference parameters of the normalization `prefix` -> zoo `layer_name`,
    and the reference names that are ignored."""
    layer = model.get_layer(layer_name)
    vec = dict(features=features)
    if isinstance(layer, ABN):
        params = [
            ReferenceParameter(f"{prefix}.beta", layer_name, "beta", **vec),
            ReferenceParameter(
                f"{prefix}.moving_mean", layer_name, "moving_mean", fold=fold,
                optional=True, default=0.0, **vec,
            ),
            ReferenceParameter(
                f"{prefix}.moving_var", layer_name, "moving_variance", optional=True,
                default=1.0, **vec,
            ),
        ]
        return params, [f"{prefix}.gamma"]
    if not isinstance(layer, tf.keras.layers.BatchNormalization):
        raise ValueError(
            f"Layer {layer_name!r} is a {type(layer).__name__}, not the normalization "
            f"that reference module {prefix!r} needs (ABN or BatchNormalization)."
        )
    params = []
    if layer.scale:
        params.append(ReferenceParameter(f"{prefix}.weight", layer_name, "gamma", **vec))
    if layer.center:
        params.append(ReferenceParameter(f"{prefix}.bias", layer_name, "beta", **vec))
    params += [
        ReferenceParameter(
            f"{prefix}.running_mean", layer_name, "moving_mean", fold=fold, **vec
        ),
        ReferenceParameter(f"{prefix}.running_var", layer_name, "moving_variance", **vec),
    ]
    return params, [f"{prefix}.num_batches_tracked"]


def _binarynet(model):
    params, ignored = [], []
    for conv, zoo_conv, norm, zoo_norm in _BINARYNET_CONVS:
        params.append(
            ReferenceParameter(f"features.{conv}.weight", zoo_conv, "kernel", "conv")
        )
        bias = f"features.{conv}.bias"
        norms, skip = _norm_parameters(model, f"features.{norm}", zoo_norm, fold=bias)
        params += norms
        ignored += skip + [bias]  # folded, not loaded
    h, w, c = model.get_layer("flatten").input.shape[1:]
    features = (c, h, w)
    for dense, zoo_dense, has_bias, norm, zoo_norm in _BINARYNET_DENSE:
        bias = f"classifier.{dense}.bias" if has_bias else None
        params.append(
            ReferenceParameter(
                f"classifier.{dense}.weight", zoo_dense, "kernel", "dense",
                features=features,
            )
        )
        norms, skip = _norm_parameters(model, f"classifier.{norm}", zoo_norm, fold=bias)
        params += norms
        ignored += skip + ([bias] if bias else [])
        features = None
    return params, ignored


def _abn_paper_block(model, stage, block):
    prefix = f"layer{stage}.{block}"
    zoo = f"stage{stage}_block{block + 1}"
    last = stage == _ABN_PAPER_STAGES and block == _ABN_PAPER_BLOCKS - 1
    params, ignored = [], []
    for i in (1, 2):
        params.append(
            ReferenceParameter(f"{prefix}.conv{i}.weight", f"{zoo}_conv{i}", "kernel", "conv")
        )
    for i in (1, 2) if not last else (1,):
        norms, skip = _norm_parameters(model, f"{prefix}.bn{i}", f"{zoo}_norm{i}")
        params += norms
        ignored += skip
    if last:  # bn2: built by the reference but skipped (do_bntan=False); its kind
        # (BN or ABN) is that of the block's bn1
        skipped, skip = _norm_parameters(model, f"{prefix}.bn2", f"{zoo}_norm1")
        ignored += [p.name for p in skipped] + skip
    if stage > 1 and block == 0:
        params.append(
            ReferenceParameter(
                f"{prefix}.downsample.0.weight", f"{zoo}_shortcut_conv", "kernel", "conv"
            )
        )
        norms, skip = _norm_parameters(
            model, f"{prefix}.downsample.1", f"{zoo}_shortcut_norm"
        )
        params += norms
        ignored += skip
    return params, ignored


def _resnet18_abn_paper(model):
    params = [ReferenceParameter("conv1.weight", "stem_conv", "kernel", "conv")]
    params_norm, ignored = _norm_parameters(model, "bn1", "stem_norm")
    params += params_norm
    for stage in range(1, _ABN_PAPER_STAGES + 1):
        for block in range(_ABN_PAPER_BLOCKS):
            block_params, block_ignored = _abn_paper_block(model, stage, block)
            params += block_params
            ignored += block_ignored
    pooled = model.get_layer("avg_pool").output.shape[1:]
    features = None
    if len(pooled) == 3 and tuple(pooled[:2]) != (1, 1):
        features = (pooled[2], pooled[0], pooled[1])
    head, skip = _norm_parameters(model, "bn2", "head_norm", features=features)
    params += head + [
        ReferenceParameter("fc.weight", "classifier", "kernel", "dense", features=features),
        ReferenceParameter("fc.bias", "classifier", "bias"),
    ]
    logits, skip_logits = _norm_parameters(model, "bn3", "logits_norm")
    return params + logits, ignored + skip + skip_logits


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def _optional_norm(model, prefix, layer_name):
    """`_norm_parameters` where the zoo model has the layer (not `"bf"`, `"none"`)."""
    if not _has_layer(model, layer_name):
        return [], []
    return _norm_parameters(model, prefix, layer_name)


def _conv(model, prefix, layer_name, part=None):
    """A (binary or ScaledWS) convolution's kernel, and its gain if it has one."""
    params = [ReferenceParameter(f"{prefix}.weight", layer_name, "kernel", "conv",
                                 part=part)]
    if any(w.name.split("/")[-1].startswith("gain") for w in
           model.get_layer(layer_name).weights):
        params.append(ReferenceParameter(f"{prefix}.gain", layer_name, "gain", part=part))
    return params


def _rprelu(move_in, prelu, move_out, layer_name):
    """ReActNet's LearnableBias -> PReLU -> LearnableBias as the zoo's RPReLU (which
    subtracts its input shift)."""
    return [
        ReferenceParameter(f"{move_in}.bias", layer_name, "input_shift", scale=-1.0),
        ReferenceParameter(f"{prelu}.weight", layer_name, "slope"),
        ReferenceParameter(f"{move_out}.bias", layer_name, "output_shift"),
    ]


def _stem_and_classifier(model, conv, norm):
    params = _conv(model, conv, "stem_conv")
    norms, ignored = _optional_norm(model, norm, "stem_norm")
    params += norms + [
        ReferenceParameter("fc.weight", "classifier", "kernel", "dense"),
        ReferenceParameter("fc.bias", "classifier", "bias"),
    ]
    return params, ignored


def _reactnet18(model):
    params, ignored = _stem_and_classifier(model, "conv1", "bn1")
    for stage in range(1, 5):
        for block in range(4):
            ref, zoo = f"layer{stage}.{block}", f"stage{stage}_block{block + 1}"
            params.append(
                ReferenceParameter(f"{ref}.move0.bias", f"{zoo}_conv3x3", "threshold")
            )
            params += _conv(model, f"{ref}.binary_conv", f"{zoo}_conv3x3")
            norms, skip = _optional_norm(model, f"{ref}.bn1", f"{zoo}_norm")
            params += norms + _rprelu(
                f"{ref}.move1", f"{ref}.prelu", f"{ref}.move2", f"{zoo}_rprelu"
            )
            ignored += skip
            if stage > 1 and block == 0:
                params += _conv(model, f"{ref}.downsample.1", f"{zoo}_shortcut_conv")
                norms, skip = _optional_norm(
                    model, f"{ref}.downsample.2", f"{zoo}_shortcut_norm"
                )
                params += norms
                ignored += skip
    return params, ignored


def _reactnet_a_block(model, i):
    ref, zoo = f"feature.{i}", f"block{i}"
    params = [ReferenceParameter(f"{ref}.move11.bias", f"{zoo}_conv3x3", "threshold")]
    params += _conv(model, f"{ref}.binary_3x3", f"{zoo}_conv3x3")
    norms, ignored = _optional_norm(model, f"{ref}.bn1", f"{zoo}_norm1")
    params += norms + _rprelu(
        f"{ref}.move12", f"{ref}.prelu1", f"{ref}.move13", f"{zoo}_rprelu1"
    )
    params.append(ReferenceParameter(f"{ref}.move21.bias", f"{zoo}_conv1x1", "threshold"))
    kernel = model.get_layer(f"{zoo}_conv1x1").kernel
    if kernel.shape[-1] == kernel.shape[-2]:
        params += _conv(model, f"{ref}.binary_pw", f"{zoo}_conv1x1")
        norms, skip = _optional_norm(model, f"{ref}.bn2", f"{zoo}_norm2")
        params += norms
        ignored += skip
    else:  # channel doubling: two 1x1 convolutions, concatenated in the zoo
        for k in (1, 2):
            params += _conv(
                model, f"{ref}.binary_pw_down{k}", f"{zoo}_conv1x1", part=(k - 1, 2)
            )
            norms, skip = _optional_norm(model, f"{ref}.bn2_{k}", f"{zoo}_norm2")
            params += [dataclasses.replace(p, part=(k - 1, 2)) for p in norms]
            ignored += skip
    params += _rprelu(f"{ref}.move22", f"{ref}.prelu2", f"{ref}.move23", f"{zoo}_rprelu2")
    return params, ignored


def _reactnet_a(model):
    model.get_layer("block1_conv3x3")  # a ReActNet-A (raises for another model)
    params, ignored = _stem_and_classifier(model, "feature.0.conv1", "feature.0.bn1")
    i = 1
    while _has_layer(model, f"block{i}_conv3x3"):
        block_params, block_ignored = _reactnet_a_block(model, i)
        params += block_params
        ignored += block_ignored
        i += 1
    return params, ignored


def _resnet34(model):
    params, ignored = [], []
    for conv, zoo_conv, norm, zoo_norm in torchvision_modules():
        params.append(ReferenceParameter(f"{conv}.weight", zoo_conv, "kernel", "conv"))
        norms, skip = _norm_parameters(model, norm, zoo_norm)
        params += norms
        ignored += skip
    params += [
        ReferenceParameter("fc.weight", "classifier", "kernel", "dense"),
        ReferenceParameter("fc.bias", "classifier", "bias"),
    ]
    return params, ignored


_LAYOUTS = {
    "binarynet": _binarynet,
    "resnet18_abn_paper": _resnet18_abn_paper,
    "reactnet18": _reactnet18,
    "reactnet_a": _reactnet_a,
    "resnet34": _resnet34,
}


def reference_parameters(model, *, architecture):
    """The reference parameters of `architecture` and the zoo variables of `model`
    they become.

    # Arguments
        model: The zoo model (see `ARCHITECTURES` for which builder).
        architecture: One of `ARCHITECTURES`.

    # Returns
        A tuple `(parameters, ignored)`: a list of `ReferenceParameter`s, and the
        reference names that are accepted but not loaded (folded biases, unused ABN
        `gamma`s, `num_batches_tracked`, parameters the reference builds but skips).

    # Raises
        ValueError: for an unknown `architecture`, or a model whose layers do not
            have the names and kinds of that architecture's zoo model.
    """
    check_choice(architecture, ARCHITECTURES, "architecture")
    try:
        return _LAYOUTS[architecture](model)
    except ValueError as error:
        if "No such layer" not in str(error):
            raise
        raise ValueError(
            f"Model {model.name!r} is not the zoo model of reference architecture "
            f"{architecture!r}: {error}"
        ) from None


def _strip_prefix(state):
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"Reading {path!r} needs PyTorch (pip install torch), which is not "
            "installed; or save the state_dict as a .npz of numpy arrays where torch "
            "is: np.savez('weights.npz', **{k: v.numpy() for k, v in "
            "torch.load(path, map_location='cpu')['state_dict'].items()})."
        ) from None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{path!r} holds no state_dict (a {type(checkpoint).__name__}).")
    return {k: v.detach().cpu().numpy() for k, v in checkpoint.items()}


def read_reference_weights(source):
    """The arrays of a reference checkpoint, by the reference's parameter names.

    # Arguments
        source: A mapping of names to arrays, or the path of a `.npz` (numpy arrays;
            keys may carry a `weight/` prefix, as the golden fixtures do) or of a
            `.pth` / `.pth.tar` (needs PyTorch).

    # Returns
        A dict of names to numpy arrays (`DataParallel`'s `module.` prefix removed).

    # Raises
        FileNotFoundError: No file at `source`.
        ValueError: for another file ending.
        ImportError: a `.pth` file without PyTorch installed.
    """
    if isinstance(source, Mapping):
        return _strip_prefix({k: np.asarray(v) for k, v in source.items()})
    path = os.fspath(source)
    if not path.endswith(SUFFIXES):
        raise ValueError(
            f"Unknown reference weights file {path!r}: accepted endings are "
            f"{', '.join(SUFFIXES)}."
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"No reference weights file at {path!r}.")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            keys = [k for k in data.files if k.startswith("weight/")]
            state = (
                {k[len("weight/"):]: data[k] for k in keys}
                if keys else {k: data[k] for k in data.files}
            )
        return _strip_prefix(state)
    return _strip_prefix(_read_torch(path))


def _check(model, params, ignored, state):
    """Every problem of `state` for `params`, as one message (empty if none)."""
    expected = {p.name for p in params} | set(ignored)
    missing = sorted(p.name for p in params if p.name not in state and not p.optional)
    unexpected = sorted(set(state) - expected)
    shapes = []
    for p in params:
        shape = tuple(p.variable(model).shape)
        size = int(np.prod(_part_shape(p, shape)))
        if p.fold in state and np.size(state[p.fold]) != size:  # a folded bias
            got = tuple(np.shape(state[p.fold]))
            shapes.append(f"{p.fold} {got} (the model needs {size} entries)")
        if p.name not in state:
            continue
        want = _reference_shape(p, shape)
        got = tuple(np.shape(state[p.name]))
        if (want is not None and got != want) or (
            want is None and int(np.prod(got)) != size
        ):
            wanted = want if want is not None else f"{size} entries"
            shapes.append(f"{p.name} {got} (the model needs {wanted})")
    problems = [
        f"{len(names)} {what}: {_first(names, separator)}"
        for what, names, separator in (
            ("missing", missing, ", "),
            ("unexpected", unexpected, ", "),
            ("mis-shaped", shapes, "; "),
        )
        if names
    ]
    return "; ".join(problems)


def _first(names, separator, shown=5):
    """The first `shown` of `names` joined, with how many more there are."""
    more = f"{separator}... ({len(names) - shown} more)" if len(names) > shown else ""
    return separator.join(names[:shown]) + more


def load_reference_weights(model, source, *, architecture):
    """Load weights trained with the authors' PyTorch code into a zoo model.

    See the module docstring for the conversions. The model must be the zoo model of
    `architecture` at the reference's widths and input size, e.g.
    `BinaryNet(norm=norm, width_multiplier=3, pad_values=0.0)` for
    gushan/ABN's `vgg_cifar10_binary` (`"bn"`) or `vgg_abn_cifar10_binary` (`"abn"`).

    # Arguments
        model: The zoo model to load into (changed in place).
        source: A mapping of reference names to arrays, or a `.npz`, `.pth` or
            `.pth.tar` file (see `read_reference_weights`).
        architecture: One of `ARCHITECTURES`.

    # Returns
        `model`.

    # Raises
        ValueError: for an unknown `architecture` or file ending, a model that is not
            that architecture's, or, in one message, missing,
            unexpected and mis-shaped parameters, with their counts and the first
            few names of each (nothing is assigned then).
        FileNotFoundError: No file at `source`.
        ImportError: a `.pth` file without PyTorch installed.
    """
    params, ignored = reference_parameters(model, architecture=architecture)
    state = read_reference_weights(source)
    problems = _check(model, params, ignored, state)
    if problems:
        name = source if not isinstance(source, Mapping) else "the given state dict"
        raise ValueError(
            f"Reference weights {name!s} do not fit {model.name!r} "
            f"({architecture}): {problems}."
        )
    absent = [p.name for p in params if p.name not in state]
    if absent:
        logger.warning(
            "%s not in the reference weights: set to the reference's initial values "
            "(gushan/ABN keeps ABN moving statistics outside its state_dict).",
            ", ".join(absent),
        )
    values = {}
    for p in params:
        variable = p.variable(model)
        shape = tuple(variable.shape)
        if p.name in state:
            value = _to_zoo(p, state[p.name], shape)
        else:
            value = np.full(_part_shape(p, shape), p.default, np.float32)
        if p.fold is not None and p.fold in state:
            value = value - _to_zoo(p, state[p.fold], shape)
        if p.part is None:
            values[variable.ref()] = (variable, value)
        else:
            full = values.setdefault(
                variable.ref(), (variable, np.zeros(shape, np.float32))
            )[1]
            full[_part_slice(p, shape)] = value
    for variable, value in values.values():
        variable.assign(value)
    return model
