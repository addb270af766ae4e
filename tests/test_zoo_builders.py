"""The zoo's builders: one keyword-only builder per network with the common arguments
in one order, their registry entries, and the deprecated calls of the previous release
(`zoo.ResNet18`, positional `BinaryNet` / `ReActNetA`), which warn and build the same
models as the new calls. Tiny models (width 1/16 - 1/8)."""

import inspect
import re
import warnings

import larq_nobn  # noqa: F401  (before TensorFlow: Keras 2)
from larq_nobn import zoo
from larq_nobn.zoo import deprecation, residual

import pytest
import tensorflow as tf

#: The common arguments, in the order of Keras Applications' and larq_zoo's keywords
#: after the zoo's own `norm` (written out here, not read from the zoo).
COMMON = (
    "norm",
    "input_shape",
    "input_tensor",
    "include_top",
    "weights",
    "pooling",
    "num_classes",
    "classifier_activation",
    "width_multiplier",
    "pad_values",
    "name",
)
OWN_OPTIONS = {
    "BinaryNet": ("binary_classifier_input", "clip_latent_weights", "init"),
    "ReActNetA": ("stride2_padding", "init"),
    "ReActNet18": ("stem", "float_shortcut", "beta_schedule", "stride2_padding", "init"),
    "BinaryResNet18": ("head_pool", "clip_latent_weights", "stride2_padding", "init"),
}
QUANTIZERS = ("input_quantizer", "kernel_quantizer", "kernel_constraint")
BUILDERS = (zoo.BinaryNet, zoo.ReActNetA, zoo.ReActNet18, zoo.BinaryResNet18)


def structure(model):
    """What must not change between an old and a new call: every layer's name, type
    and weight shapes and its quantizers' types, in order, and the parameter count."""
    layers = [
        (
            layer.name,
            type(layer).__name__,
            [tuple(w.shape) for w in layer.weights],
            [type(getattr(layer, q, None)).__name__ for q in QUANTIZERS],
            getattr(layer, "pad_values", None),
        )
        for layer in model.layers
    ]
    return layers, model.count_params()


def fresh(builder, *args, **kwargs):
    """`builder(*args, **kwargs)` with Keras' automatic names (`input_1`) reset, so
    that two builds of one architecture have the same layer names."""
    tf.keras.backend.clear_session()
    return builder(*args, **kwargs)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_keyword_only_with_the_common_arguments_in_one_order(builder):
    parameters = inspect.signature(builder).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert tuple(parameters) == COMMON + OWN_OPTIONS[builder.__name__]
    assert deprecation.COMMON_ARGUMENTS == COMMON
    assert parameters["norm"].default == "bn"


@pytest.mark.parametrize("builder", [zoo.ReActNet18, zoo.BinaryResNet18])
def test_new_builders_refuse_positional_arguments(builder):
    message = f"zoo.{builder.__name__}() takes keyword arguments only"
    with pytest.raises(TypeError, match=re.escape(message)):
        builder("bn")


def test_too_many_or_repeated_positional_arguments():
    with pytest.raises(TypeError, match=r"keyword arguments only.*7 positional"):
        zoo.BinaryNet("bn", (28, 28, 1), 10, 0.0625, 1.0, "net", False)
    with pytest.raises(TypeError, match="multiple values for argument 'norm'"):
        zoo.BinaryNet("bn", norm="bf")


@pytest.mark.parametrize(
    "builder, args, keywords",
    [
        # The previous release's orders: BinaryNet(norm, input_shape, num_classes,
        # width_multiplier, pad_values, name), ReActNetA(norm, input_shape,
        # num_classes, pad_values, width_multiplier, name).
        (
            zoo.BinaryNet,
            ("bf", (28, 28, 1), 5, 0.0625, 0.0, "old"),
            dict(norm="bf", input_shape=(28, 28, 1), num_classes=5,
                 width_multiplier=0.0625, pad_values=0.0, name="old"),
        ),
        (
            zoo.ReActNetA,
            ("bn", (32, 32, 3), 5, 0.0, 0.125),
            dict(norm="bn", input_shape=(32, 32, 3), num_classes=5, pad_values=0.0,
                 width_multiplier=0.125),
        ),
    ],
    ids=["BinaryNet", "ReActNetA"],
)
def test_positional_calls_of_the_previous_release_warn(builder, args, keywords):
    name = builder.__name__
    with pytest.warns(FutureWarning) as record:
        old = fresh(builder, *args)
    assert len(record) == 1
    text = str(record[0].message)
    assert f"Positional arguments to zoo.{name} are deprecated" in text
    assert f"zoo.{name}(norm={args[0]!r}, input_shape={args[1]!r}" in text
    assert "removed in the next release" in text
    assert record[0].filename == __file__  # points at the caller's line
    assert structure(old) == structure(fresh(builder, **keywords))
    assert old.output_shape == (None, 5)
    binary_3x3 = [
        layer for layer in old.layers
        if getattr(layer, "input_quantizer", None) is not None
        and getattr(layer, "kernel_size", None) == (3, 3)
    ]
    assert binary_3x3 and {layer.pad_values for layer in binary_3x3} == {0.0}


@pytest.mark.parametrize(
    "variant, builder, options, norm",
    [
        ("reactnet", zoo.ReActNet18, dict(float_shortcut=True), "bf"),
        ("abn_paper", zoo.BinaryResNet18, dict(head_pool="global", clip_latent_weights=True),
         "abn"),
    ],
)
def test_deprecated_resnet18_warns_and_builds_the_new_builders_model(
    variant, builder, options, norm
):
    registry_name = {"reactnet": "reactnet18", "abn_paper": "binary_resnet18"}[variant]
    expected_warning = (
        f"zoo.ResNet18 is deprecated: for variant={variant!r} use "
        f"zoo.{builder.__name__}(...) (keyword arguments only; model "
        f"{registry_name!r}"
    )
    new = builder(
        norm=norm, input_shape=(32, 32, 3), num_classes=10, width_multiplier=0.125,
        name=f"resnet18_{variant}_{norm}", **options,
    )
    # Positional, as the previous release took them (norm, input_shape, num_classes,
    # variant, stem, pad_values, width_multiplier).
    with pytest.warns(FutureWarning, match=re.escape(expected_warning)) as record:
        old = zoo.ResNet18(norm, (32, 32, 3), 10, variant, None, 1.0, 0.125, **options)
    assert record[0].filename == __file__
    assert "removed in the next release" in str(record[0].message)
    assert old.name == f"resnet18_{variant}_{norm}"  # the previous default name
    assert structure(old) == structure(new)
    # With keywords too.
    with pytest.warns(FutureWarning, match=re.escape(expected_warning)):
        again = zoo.ResNet18(
            norm=norm, variant=variant, width_multiplier=0.125, **options
        )
    assert structure(again) == structure(new)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(variant="resnet"), "'reactnet', 'abn_paper'"),
        (dict(variant="abn_paper", stem="imagenet"), "'cifar'"),
        (dict(head_pool="max"), "'reference', 'global'"),
        (dict(variant="abn_paper", beta_schedule="nf"), "'reference', 'expected_variance'"),
    ],
)
def test_deprecated_resnet18_checks_its_arguments_as_before(kwargs, fragment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(ValueError, match=re.escape(fragment)):
            zoo.ResNet18(width_multiplier=0.125, **kwargs)


def test_registry_has_one_entry_per_network():
    assert zoo.MODELS == (
        "binarynet", "reactnet18", "binary_resnet18", "reactnet_a", "resnet18"
    )
    builders = {name: zoo.get_model(name).builder for name in zoo.MODELS}
    assert builders == {
        "binarynet": zoo.BinaryNet,
        "reactnet18": zoo.ReActNet18,
        "binary_resnet18": zoo.BinaryResNet18,
        "reactnet_a": zoo.ReActNetA,
        "resnet18": zoo.ResNet18,
    }
    for name in ("binarynet", "reactnet18", "binary_resnet18", "reactnet_a"):
        spec = zoo.get_model(name)
        assert (spec.variants, spec.replaced_by) == ((), ())
        assert spec.norms == ("bn", "abn", "bf", "none")
    old = zoo.get_model("resnet18")
    assert old.variants == ("reactnet", "abn_paper")
    assert old.replaced_by == ("reactnet18", "binary_resnet18")
    for name in ("reactnet18", "binary_resnet18"):
        spec = zoo.get_model(name)
        assert (spec.agc_clip_factor, spec.agc_exclude) == (0.04, residual.CLASSIFIER_REGEX)


def test_classifier_regex_matches_the_dense_classifier_only():
    """`CLASSIFIER_REGEX` (moved from `larq_nobn.blocks` to the zoo): the kernel and
    bias of the layer `classifier`, under a scope or with Keras' suffix, nothing else."""
    for name in ("classifier/kernel:0", "classifier/bias:0", "outer/classifier_1/bias:0"):
        assert re.search(residual.CLASSIFIER_REGEX, name), name
    for name in ("classifier/gain:0", "my_classifier/kernel:0", "stem_conv/kernel:0",
                 "classifier_norm/gamma:0"):
        assert not re.search(residual.CLASSIFIER_REGEX, name), name
