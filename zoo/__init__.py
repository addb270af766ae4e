"""larq_nobn.zoo: BinaryNet, ResNet-18 and ReActNet-A in the norm variants
``bn``, ``abn``, ``bf`` and ``none``, and the registry of their names (`REGISTRY`)."""
from larq_nobn.zoo.binarynet import BinaryNet  # noqa: E402
from larq_nobn.zoo.reactnet import ReActNetA  # noqa: E402
from larq_nobn.zoo.registry import MODELS, NORMS, REGISTRY, ModelSpec, get_model  # noqa: E402
from larq_nobn.zoo.resnet import ResNet18  # noqa: E402

__all__ = [
    "MODELS",
    "NORMS",
    "REGISTRY",
    "BinaryNet",
    "ModelSpec",
    "ReActNetA",
    "ResNet18",
    "get_model",
]
