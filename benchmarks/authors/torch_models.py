"""Build the authors' PyTorch models from their checkouts, narrowed at run time.

The checkout's module is executed from its own path (`load_module`); every channel
count its layer classes are constructed with is then divided by `divider`
(`patch_widths`), as the zoo's `width_multiplier = 1 / divider` does. RGB inputs (3)
and the class count are left alone, or the input channels are replaced by
`input_channels` (1 for Fashion-MNIST). Nothing of the authors' code is copied: the
patch wraps their classes' constructors.

# References
    - gushan/ABN: `models/vgg_cifar10_binary.py`, `models/vgg_abn_cifar10_binary.py`,
      `models/resnet_binary.py`, `models/resnet_abn_binary.py`.
    - VITA-Group/BNN_NoBN: `models/Qaw_reactnet_18_{bn,bf,none}.py`,
      `models/Qaw_reactnet_A_{bn,bf,none}.py`, `agc.py`.
"""

import importlib.util
import sys
import types
from pathlib import Path

from torch import nn

NUM_CLASSES = 10

#: The constructor positions of each layer class that hold channel counts.
CHANNEL_ARGS = {
    "Conv2d": (0, 1), "BinarizeConv2d": (0, 1), "ScaledStdConv2d": (0, 1),
    "HardBinaryScaledStdConv2d": (0, 1), "HardBinaryConv": (0, 1),
    "Linear": (0, 1), "BinarizeLinear": (0, 1),
    "BatchNorm2d": (0,), "BatchNorm1d": (0,), "BatchNorm": (0,), "PReLU": (0,),
    "LearnableBias": (0,),
}


def stub_torchvision():
    """The reference models import `torchvision.transforms` only for data recipes."""
    if "torchvision" in sys.modules:
        return
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.transforms"] = tv.transforms


def load_file(name, path, package=None):
    """Executes the Python file `path` as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if package:
        module.__package__ = package
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_module(repo, root, name):
    """Module `models/<name>.py` of a checkout: `repo` is `"abn"` (gushan/ABN, loaded
    as a package without its `__init__`, which imports alexnet) or `"nobn"`
    (BNN_NoBN, whose models import the checkout's `layers.py`). A fresh module per
    call, so patches of one build never leak into the next."""
    root = Path(root)
    if repo == "abn":
        stub_torchvision()
        if "abnref" not in sys.modules:
            package = types.ModuleType("abnref")
            package.__path__ = [str(root / "models")]
            sys.modules["abnref"] = package
        return load_file(f"abnref.{name}", root / "models" / f"{name}.py", "abnref")
    if repo != "nobn":
        raise ValueError(f"repo must be 'abn' or 'nobn', got {repo!r}.")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return load_file(f"nobnref_{name}", root / "models" / f"{name}.py")


def scaled_class(cls, divider, positions, input_channels=3):
    """Subclass of `cls` whose channel arguments at `positions` are divided by
    `divider` (3, the RGB input, becomes `input_channels`; the class count stays)."""

    def scale(c):
        if not isinstance(c, int) or c == NUM_CLASSES:
            return c
        if c == 3:
            return input_channels
        if c % divider:
            raise ValueError(f"{cls.__name__}: {c} channels not divisible by {divider}")
        return c // divider

    def __init__(self, *args, **kwargs):
        args = [scale(a) if i in positions else a for i, a in enumerate(args)]
        super(sub, self).__init__(*args, **kwargs)

    sub = type(cls.__name__, (cls,), {"__init__": __init__})
    return sub


def patch_widths(module, divider, input_channels=3):
    """Divide the channel counts of every layer `module` constructs by `divider`."""
    proxy = types.SimpleNamespace(**{k: getattr(nn, k) for k in dir(nn) if k[0] != "_"})
    for name, positions in CHANNEL_ARGS.items():
        if hasattr(nn, name):
            setattr(proxy, name,
                    scaled_class(getattr(nn, name), divider, positions, input_channels))
        if name in vars(module) and isinstance(vars(module)[name], type):
            setattr(module, name, scaled_class(vars(module)[name], divider, positions,
                                               input_channels))
    module.nn = proxy


def model_channels(file, channels):
    """The input channels to build `models/<file>.py` with for `channels`-channel
    images. gushan/ABN's `BinarizeConv2d` binarizes its input unless it has exactly 3
    channels (`input.size(1) != 3`), so its VGG's first layer keeps a grey image real
    only as channel 0 of 3 with the other two zero (`pad_channels`): that computes
    what a 1-channel first layer computes, and the zero channels' weights get no
    gradient. Other models take `channels` as they are."""
    return 3 if file.startswith("vgg") and channels < 3 else channels


def init_as_channels(model, channels):
    """Re-draws the first convolution of `model` as torch draws one with `channels`
    input channels (`nn.Conv2d`'s default, U(+-1/sqrt(fan_in)) for kernel and bias,
    fan-in `channels x k x k`), the weights of its other input channels zero.

    For gushan/ABN's VGG built with 3 input channels for a grey image
    (`model_channels`): torch would draw its first layer with fan-in 27, a 1-channel
    layer (and the zoo's `init="reference"`) with fan-in 9, a sqrt(3) wider range. The
    first layer's weights are binarized, so the range sets how far Adam's steps must
    take a weight to flip its sign."""
    import torch

    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    fresh = nn.Conv2d(channels, conv.out_channels, conv.kernel_size,
                      bias=conv.bias is not None)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :channels] = fresh.weight
        if conv.bias is not None:
            conv.bias.copy_(fresh.bias)
    return model


def pad_channels(images, channels):
    """NCHW `images` with zero channels appended up to `channels`."""
    import torch

    missing = channels - images.shape[1]
    if missing <= 0:
        return images
    zeros = images.new_zeros((images.shape[0], missing, *images.shape[2:]))
    return torch.cat([images, zeros], dim=1)


def agc_parameters(model):
    """The parameters BNN_NoBN's `train.py` clips with AGC: every one whose name lacks
    "fc" (the classifier)."""
    return [p for name, p in model.named_parameters() if "fc" not in name]


def adam_groups(model, weight_decay):
    """BNN_NoBN `train.py`'s Adam parameter groups: `weight_decay` on every parameter
    of rank 4 or whose name holds "conv", none on the others (empty groups dropped)."""
    decayed = [p for n, p in model.named_parameters() if p.ndimension() == 4 or "conv" in n]
    ids = {id(p) for p in decayed}
    others = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": others}, {"params": decayed, "weight_decay": weight_decay}]
    return [group for group in groups if group["params"]]


def build(repo, root, file, factory, kwargs, divider, *, input_channels=3, size=32,
          num_classes=NUM_CLASSES, init_channels=None):
    """The reference model `factory(**kwargs)` of `models/<file>.py`, with every channel
    count divided by `divider` and `input_channels` input channels; with
    `init_channels`, its first convolution drawn as one of that many input channels
    (`init_as_channels`).

    gushan/ABN's VGG widens its first five convs by `infl_ratio` (3) and flattens with
    `view(-1, 512 * (input_size // 8) ** 2)`: the ratio is set to 1 (the zoo's
    BinaryNet has Courbariaux et al.'s widths) and the view's `input_size` is chosen so
    that `512 * k ** 2` is the size of the narrowed map of a `size` x `size` input
    (`size` must be a multiple of 8)."""
    module = load_module(repo, root, file)
    patch_widths(module, divider, input_channels)
    if not file.startswith("vgg"):
        return getattr(module, factory)(num_classes=num_classes, **kwargs)
    cls = [v for v in vars(module).values() if isinstance(v, type)
           and issubclass(v, nn.Module) and v.__name__.startswith("VGG")][0]
    cls.infl_ratio = property(lambda self: 1, lambda self, value: None)
    model = getattr(module, factory)(num_classes=num_classes, input_size=size)
    if init_channels is not None:
        init_as_channels(model, init_channels)
    flat = (512 // divider) * (size // 8) ** 2
    model.input_size = 8 * int(round((flat / 512) ** 0.5))
    if 512 * (model.input_size // 8) ** 2 != flat:
        raise ValueError(f"no VGG view size fits {size}x{size} at divider {divider}.")
    return model
