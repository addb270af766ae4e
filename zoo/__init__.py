"""larq_nobn.zoo: BinaryNet, ResNet-18 and ReActNet-A in the norm variants
``bn``, ``abn``, ``bf`` and ``none`` (``bn``, the published architecture, by default),
the registry of their names (`REGISTRY`) and `preprocess_input`.

Every model takes the keywords of Keras Applications and larq_zoo besides its own:
`input_shape`, `input_tensor`, `include_top`, `pooling`, `num_classes`,
`classifier_activation` and `weights` (see `larq_nobn.zoo.common`)."""
from larq_nobn.zoo.binarynet import BinaryNet  # noqa: E402
from larq_nobn.zoo.preprocessing import preprocess_input  # noqa: E402
from larq_nobn.zoo.reactnet import ReActNetA  # noqa: E402
from larq_nobn.zoo.reference_weights import load_reference_weights  # noqa: E402
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
    "load_reference_weights",
    "preprocess_input",
]
