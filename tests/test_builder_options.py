"""The zoo builders' reference-mode keywords from a training run (issue 16):
`TrainConfig.pad_values`, `stride2_padding` and `init`, `larq-nobn train --pad-values
--stride2-padding --init`, and `build_model` passing them to the builders that take
them."""

from larq_nobn import cli, training, zoo
from larq_nobn._utils import leaf_layers
from larq_nobn.cli.options import config_fields
from larq_nobn.training import TrainConfig
from larq_nobn.training.models import build_model

import numpy as np
import pytest


def test_registry_names_the_options_each_builder_takes():
    options = {name: spec.options for name, spec in zoo.REGISTRY.items()}
    assert options == {
        "binarynet": ("pad_values", "init"),  # no stride-2 layers
        "reactnet18": ("pad_values", "stride2_padding", "init"),
        "binary_resnet18": ("pad_values", "stride2_padding", "init"),
        "reactnet_a": ("pad_values", "stride2_padding", "init"),
        "resnet18": ("pad_values",),  # deprecated
    }


def test_config_round_trips_and_normalizes_the_options():
    config = TrainConfig(
        model="reactnet18", pad_values=0, stride2_padding="tf_same", init="keras"
    )
    assert config.pad_values == 0.0 and isinstance(config.pad_values, float)
    again = TrainConfig.from_json(config.to_json())
    assert again == config
    assert (again.pad_values, again.stride2_padding, again.init) == (
        0.0, "tf_same", "keras"
    )
    default = TrainConfig()
    assert (default.pad_values, default.stride2_padding, default.init) == (
        None, None, None
    )
    assert TrainConfig.from_json(default.to_json()) == default


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"pad_values": 0.5}, r"pad_values 0\.5.*1\.0.*0\.0"),
        ({"pad_values": True}, r"pad_values True"),
        ({"stride2_padding": "same"}, r"stride2_padding 'same'.*symmetric, tf_same"),
        ({"init": "glorot"}, r"init 'glorot'.*reference, keras"),
        (
            {"model": "binarynet", "stride2_padding": "symmetric"},
            r"`stride2_padding` applies to model\(s\) reactnet18, binary_resnet18, "
            r"reactnet_a only, not to 'binarynet' \(it has no stride-2 layers\)",
        ),
        (
            {"model": "resnet18", "init": "keras"},
            r"`init` applies to model\(s\) binarynet, reactnet18, binary_resnet18, "
            r"reactnet_a only, not to 'resnet18'",
        ),
    ],
)
def test_bad_options_are_named(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        TrainConfig(**{"model": "reactnet_a", **changes})


def _parse(*flags):
    args = cli.build_parser().parse_args(["train", *flags])
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in config_fields()})


def test_cli_sets_the_fields():
    config = _parse(
        "--model", "binary_resnet18", "--pad-values", "0", "--stride2-padding",
        "tf_same", "--init", "keras",
    )
    assert (config.pad_values, config.stride2_padding, config.init) == (
        0.0, "tf_same", "keras"
    )
    assert _parse("--pad-values", "1").pad_values == 1.0
    assert _parse().pad_values is None  # not given: the builder's default
    recipe = cli.train.recipe_config("abn_paper", {"pad_values": 0.0, "init": "keras"})
    assert (recipe.model, recipe.pad_values, recipe.init) == ("binarynet", 0.0, "keras")


def test_cli_errors_are_one_line(capsys):
    assert cli.main(["train", "--stride2-padding", "symmetric", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "stride2_padding" in err and "'binarynet'" in err and "reactnet18" in err
    assert cli.main(["train", "--pad-values", "2"]) == 2  # argparse: usage + 1 line
    err = capsys.readouterr().err
    assert "--pad-values: invalid choice: 2.0 (choose from 0.0, 1.0)" in err
    assert cli.main(["train", "--init", "glorot"]) == 2
    assert "invalid choice: 'glorot' (choose from 'reference', 'keras')" in (
        capsys.readouterr().err
    )


def _binary_convs(model):
    """The binary convolutions that pad (3x3; the 1x1 ones are "valid")."""
    return [
        layer for layer in leaf_layers(model)
        if getattr(layer, "kernel_quantizer", None) is not None
        and len(layer.kernel.shape) == 4 and layer.kernel.shape[0] > 1
    ]


def test_build_model_passes_the_options_to_the_builder():
    def build(**options):
        config = TrainConfig(
            model="reactnet18", norm="none", width_multiplier=1 / 16, **options
        )
        return _binary_convs(build_model(config, (16, 16, 3), 10))

    default = build()
    assert {c.pad_values for c in default} == {1.0}
    assert any(getattr(c, "symmetric_padding", False) for c in default)
    # BNN_NoBN's init: torch.rand(shape) * 0.001, all in [0, 0.001).
    kernels = np.concatenate([c.kernel.numpy().ravel() for c in default])
    assert kernels.min() >= 0 and kernels.max() < 1e-3
    changed = build(pad_values=0.0, stride2_padding="tf_same", init="keras")
    assert len(changed) == len(default)
    assert {c.pad_values for c in changed} == {0.0}
    assert not any(getattr(c, "symmetric_padding", False) for c in changed)
    kernels = np.concatenate([c.kernel.numpy().ravel() for c in changed])
    assert kernels.min() < 0 and np.abs(kernels).max() > 1e-2  # Glorot


def test_binarynet_takes_pad_values_and_init():
    config = TrainConfig(model="binarynet", pad_values=0.0, init="keras")
    convs = _binary_convs(build_model(config, (16, 16, 1), 10))
    assert convs and {c.pad_values for c in convs} == {0.0}
    assert training.STRIDE2_PADDINGS == ("symmetric", "tf_same")
