"""larq_nobn.zoo: BinaryNet, ReActNet-18, the ABN paper's binary ResNet-18 and
ReActNet-A in the norm variants ``bn``, ``abn``, ``bf`` and ``none`` (``bn``, the
published architecture, by default), the registry of their names (`REGISTRY`) and
`preprocess_input`; `TorchvisionResNet34`, the real-valued teacher of BNN_NoBN's
distillation (`larq_nobn.zoo.teachers`).

Every builder takes keyword arguments only: those of Keras Applications and larq_zoo,
in the same order (`larq_nobn.zoo.deprecation.COMMON_ARGUMENTS`: `norm`,
`input_shape`, `input_tensor`, `include_top`, `weights`, `pooling`, `num_classes`,
`classifier_activation`, `width_multiplier`, `pad_values`, `name`; the real-valued
teacher lacks `norm` and `pad_values`), then its own options (see
`larq_nobn.zoo.common`). `ResNet18` is deprecated (one release): use
`ReActNet18` or `BinaryResNet18`."""
from larq_nobn.zoo.binary_resnet18 import BinaryResNet18  # noqa: E402
from larq_nobn.zoo.binarynet import BinaryNet  # noqa: E402
from larq_nobn.zoo.preprocessing import preprocess_input  # noqa: E402
from larq_nobn.zoo.reactnet import ReActNetA  # noqa: E402
from larq_nobn.zoo.reactnet18 import ReActNet18  # noqa: E402
from larq_nobn.zoo.reference_import import reference_model  # noqa: E402
from larq_nobn.zoo.reference_weights import load_reference_weights  # noqa: E402
from larq_nobn.zoo.registry import MODELS, NORMS, REGISTRY, ModelSpec, get_model  # noqa: E402
from larq_nobn.zoo.resnet import ResNet18  # noqa: E402
from larq_nobn.zoo.teachers import TorchvisionResNet34  # noqa: E402

__all__ = [
    "MODELS",
    "NORMS",
    "REGISTRY",
    "BinaryNet",
    "BinaryResNet18",
    "ModelSpec",
    "ReActNet18",
    "ReActNetA",
    "ResNet18",
    "TorchvisionResNet34",
    "get_model",
    "load_reference_weights",
    "preprocess_input",
    "reference_model",
]
