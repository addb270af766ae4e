"""The zoo against golden fixtures of the authors' PyTorch code (issue 16), without torch.

The fixtures (tests/reference/fixtures, made by tests/reference/make_fixtures.py from
gushan/ABN and VITA-Group/BNN_NoBN) hold seeded weights under the reference's names, a
batch, and the reference's (a) eval output, (b) train output, (c) gradients, (d)
normalization statistics after one training forward and (e) update of one optimizer
step. Each zoo model is loaded with `load_reference_weights` and must agree within 1e-4
relative (of each tensor's largest entry).

Checked here, for every variant with the zoo in its reference form (`pad_values=0.0`;
stride-2 layers align as PyTorch by default): (a)-(d), gradients that are zero in theory
checked for being rounding noise instead (`ZERO_IN_THEORY`); (e) end to end, the
recipe's optimizer stepping on the zoo's own gradients; the binarized input of every
binary layer, layer by layer (eval and train forward). The ABN ResNet also at 34x34
(odd maps: a stride-2 stage on 17x17, the `AvgPool2d(8)` head on 9x9). The loader
round-trips every architecture it maps.
"""

import logging
import re
import sys

import larq_nobn.zoo as zoo
from larq_nobn.zoo.reference_weights import (
    ARCHITECTURES,
    load_reference_weights,
    read_reference_weights,
    reference_parameters,
    to_reference_layout,
)

import numpy as np
import pytest
from reference.equivalence import ZOO_MODELS, ZooRun, compare, load_fixture, stored_names

TOLERANCE = 1e-4
BINARYNETS = ["binarynet_bn", "binarynet_abn"]
# Round trips, one of each layout the loader maps: BinaryNet's folded biases and
# flatten order (bn: BN, abn: ABN), the ABN ResNet's skipped norm, ReActNet-18's BN
# and shortcut norms (CIFAR stem) and ScaledWS gains (ImageNet stem), ReActNet-A's
# concatenated 1x1 convolutions and norms.
ROUND_TRIPS = BINARYNETS + [
    "resnet18_abn_paper_abn", "reactnet18_bn_cifar", "reactnet18_bf_imagenet",
    "reactnet_a_bn",
]


@pytest.fixture(scope="module")
def results():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = compare(name, step=True)
        return cache[name]

    return get


def _weights(store):
    return {k[len("weight/"):]: v for k, v in store.items() if k.startswith("weight/")}


VARIANTS = sorted(ZOO_MODELS)


def base_variant(name):
    """The variant of a fixture at another input size (`<variant>_<N>px`)."""
    return re.sub(r"_\d+px$", "", name)


#: Reference gradients that are zero in theory, so both sides hold rounding noise
#: (about 1e-9 against entries up to 0.06-1.3) whose relative error means nothing;
#: each is checked to be that small in the fixture instead.
ZERO_IN_THEORY = {
    # The shortcut norm's shift is added to the block's sum, which a train-mode BN
    # (ABN) normalizes next: a constant per channel, removed by that normalization.
    "resnet18_abn_paper_bn": {
        "layer2.0.downsample.1.bias", "layer3.0.downsample.1.bias",
        # The classifier's bias, normalized away by the train-mode `bn3` after it.
        "fc.bias",
    },
    "resnet18_abn_paper_abn": {
        "layer2.0.downsample.1.beta", "layer3.0.downsample.1.beta", "fc.bias",
    },
    # Block 1's channel-doubling 1x1 convs have fan-in 2 at width 1/16: ScaledWS
    # standardizes two weights to exactly +-1, whose gradient is zero.
    "reactnet_a_bf": {
        "feature.1.binary_pw_down1.weight", "feature.1.binary_pw_down2.weight",
    },
}


def _largest_gradient(store, name):
    key = f"grad/{name}"
    if key in store:
        return float(np.abs(store[key]).max())
    return float(np.abs(store[f"{key}::values"]).max())


@pytest.mark.parametrize("name", VARIANTS)
def test_outputs_match_the_reference(results, name):
    result = results(name)
    assert result["eval"]["output"] < TOLERANCE  # (a)
    assert result["train"]["output"] < TOLERANCE  # (b)
    assert result["train"]["loss"] < TOLERANCE


@pytest.mark.parametrize("name", VARIANTS)
def test_gradients_match_the_reference(results, name):  # (c)
    result, store = results(name), load_fixture(name)
    # Every reference gradient but those of the biases the zoo folds into the moving
    # means (BinaryNet: a normalization follows each, so their gradient is zero up to
    # rounding, and the zoo has no variable for them).
    run = ZooRun(name)
    folded = {p.fold for p in run.params if p.fold is not None}
    assert set(result["grad"]) == set(stored_names(store, "grad")) - folded
    zero = ZERO_IN_THEORY.get(base_variant(name), set())
    assert zero <= set(result["grad"])
    largest = max(_largest_gradient(store, n) for n in result["grad"])
    for n in zero:
        assert _largest_gradient(store, n) < 1e-6 * largest, n
    checked = {n: e for n, e in result["grad"].items() if n not in zero}
    worst = max(checked, key=checked.get)
    assert checked[worst] < TOLERANCE, worst


@pytest.mark.parametrize("name", VARIANTS)
def test_moving_statistics_match_the_reference(results, name):  # (d)
    result, store = results(name), load_fixture(name)
    stats = result["stats"]
    # The ABN ResNet's last block builds an output norm that its forward skips (the
    # head's take its place); the zoo has none, and the step leaves the reference's as
    # loaded.
    skipped = set(stored_names(store, "stats")) - set(stats)
    names = {
        "resnet18_abn_paper_bn": {"running_mean", "running_var"},
        "resnet18_abn_paper_abn": {"moving_mean", "moving_var"},  # gushan/ABN's ABN
    }.get(base_variant(name), set())
    assert skipped == {f"layer3.1.bn2.{n}" for n in names}
    for n in skipped:
        np.testing.assert_array_equal(store[f"stats/{n}"], store[f"weight/{n}"])
    if not stats:  # bf and none: no normalization, and the fixture holds none
        assert not ZooRun(name).stats()
        return
    worst = max(stats, key=stats.get)
    assert stats[worst] < TOLERANCE, worst


#: (e) end to end inherits (c)'s error: Adam's first step lr * g / (|g| + eps) moves
#: by eps / (|g| + eps) times the relative error of g, and at the smallest gradients
#: compared (1e-6 to 1e-4, eps / |g| up to 1e-2) (c)'s error, up to 1e-4 of the
#: tensor's largest entry, is 1 % of g: up to 1e-4 of lr (worst seen: 3.6e-4 of the
#: largest step, ReActNet-A bf's stem; the recipe's optimizer on the reference's own
#: gradients agrees within 1e-4, tests/test_reference_optimizer.py).
STEP_TOLERANCE = 1e-3
#: At most this fraction of the stored update entries is left out (GRAD_FLOOR,
#: ADAM_FLOOR): gradients at rounding level, or ones Adam's epsilon makes sensitive.
MAX_EXCLUDED = 0.15


@pytest.mark.parametrize("name", VARIANTS)
def test_step_from_zoo_gradients_is_the_reference_step(results, name):  # (e)
    result, store = results(name), load_fixture(name)
    errors, excluded, kept = result["update"], result["excluded"], result["kept"]
    folded = {p.fold for p in ZooRun(name).params if p.fold is not None}
    assert set(errors) == set(stored_names(store, "update")) - folded
    # Gradients zero in theory are rounding noise: every entry is left out.
    for n in ZERO_IN_THEORY.get(base_variant(name), set()):
        assert kept[n] == 0, n
    total = sum(excluded.values()) + sum(kept.values())
    assert sum(excluded.values()) <= MAX_EXCLUDED * total
    checked = {n: e for n, e in errors.items() if kept[n]}
    assert len(checked) >= 0.8 * len(errors)
    worst = max(checked, key=checked.get)
    assert checked[worst] < STEP_TOLERANCE, worst


#: Binary layers that binarize their input, per reference architecture: BinaryNet's 5
#: binary convolutions and 2 binary dense layers (its first convolution and its last
#: dense layer take real inputs); the ABN ResNet's 3 stages of 2 blocks of 2 convs
#: and 2 downsample convs; ReActNet-18's 4 stages of 4 convs (its downsample convs
#: take the average-pooled real input); ReActNet-A's 13 blocks of a 3x3 conv and a
#: 1x1 conv, 2 1x1 convs in the 5 that double the channels.
BINARY_LAYERS = {
    "binarynet": 5 + 2, "resnet18_abn_paper": 3 * 2 * 2 + 2, "reactnet18": 4 * 4,
    "reactnet_a": 13 + 8 + 5 * 2,
}


@pytest.mark.parametrize("name", VARIANTS)
def test_binarized_activations_match_the_reference(results, name):
    # Every binary layer's binarized input (eval and train forward), layer by layer:
    # same shape, same count of +1 and the same signs entry by entry (SHA-256 of the
    # packed signs). make_fixtures keeps every value the reference binarizes
    # MARGIN away from 0, so there are no exact ties, and every sign must agree.
    count = BINARY_LAYERS[ZOO_MODELS[name][1]]
    for mode, signs in results(name)["signs"].items():
        assert not signs["differ"], (mode, signs["differ"])
        assert not signs["unmatched"], (mode, signs["unmatched"])
        assert len(signs["agree"]) == count, mode


def test_binarized_activations_are_compared_entry_by_entry():
    # A single flipped sign, with the count of +1 unchanged by a second flip, is
    # found: the comparison is not of counts only.
    from reference.equivalence import compare_signs

    run = ZooRun("resnet18_abn_paper_bn")
    signs = run.signs(False)
    layer = run.layer_of("layer2.0.conv1")
    flipped = signs[layer.name].copy()
    flat = flipped.reshape(-1)
    on, off = np.flatnonzero(flat)[0], np.flatnonzero(~flat)[0]
    flat[on], flat[off] = False, True
    run.signs = lambda training: {**signs, layer.name: flipped}
    result = compare_signs(run, training=False)
    assert result["differ"] == {
        "eval/layer2.0.conv1": "as many positive entries, elsewhere"
    }
    assert len(result["agree"]) == BINARY_LAYERS["resnet18_abn_paper"] - 1


def test_abn_resnet_head_keeps_the_unbiased_variance(results):
    # torch's BatchNorm1d (gushan/ABN `bn2`, `bn3`) averages the unbiased batch
    # variance into its running one; Keras' rank-2 normalization the biased one (8/7
    # smaller at batch 8). The checks above hold within 1e-4, so the head did not.
    stats = results("resnet18_abn_paper_bn")["stats"]
    assert {"bn2.running_var", "bn3.running_var"} <= set(stats)
    assert max(stats["bn2.running_var"], stats["bn3.running_var"]) < TOLERANCE


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_loading_round_trips_every_reference_parameter(name):
    store = load_fixture(name)
    run = ZooRun(name)
    weights = {k: v.astype(np.float32) for k, v in _weights(store).items()}
    params, ignored = reference_parameters(run.model, architecture=run.architecture)
    assert {p.name for p in params} | set(ignored) == set(weights)
    for p in params:
        value = to_reference_layout(p, run.variable(p).numpy())
        if p.fold is not None:
            value = value + weights[p.fold].reshape(-1)
        expected = weights[p.name]
        np.testing.assert_allclose(
            value, expected.reshape(value.shape), rtol=1e-6, atol=1e-6, err_msg=p.name
        )


def test_dense_weights_follow_the_reference_flatten_order():
    # BinaryNet flattens an NCHW 4x4 map in the reference, NHWC in the zoo: reference
    # input feature c * 16 + h * 4 + w is zoo feature (h * 4 + w) * C + c.
    run = ZooRun("binarynet_bn")
    kernel = run.model.get_layer("dense1").kernel.numpy()[0, 0]
    ref = run.weights["classifier.0.weight"]  # (64, 512)
    channels = kernel.shape[0] // 16
    c, h, w, out = 5, 2, 3, 7
    assert kernel[(h * 4 + w) * channels + c, out] == ref[out, c * 16 + h * 4 + w]


def test_abn_moving_statistics_outside_the_state_dict_default_like_the_reference(
    caplog,
):
    # gushan/ABN's BatchNorm keeps moving_mean / moving_var as plain attributes, so a
    # state_dict lacks them; the reference then starts from 0 and 1.
    run = ZooRun("binarynet_abn")
    weights = {k: v for k, v in _weights(run.store).items() if "moving_" not in k}
    with caplog.at_level(logging.WARNING):
        load_reference_weights(run.model, weights, architecture="binarynet")
    assert "features.1.moving_mean" in caplog.text
    norm = run.model.get_layer("stem_norm")
    bias = weights["features.0.bias"].astype(np.float32)
    np.testing.assert_allclose(norm.moving_mean.numpy(), -bias)  # 0 - folded bias
    np.testing.assert_allclose(norm.moving_variance.numpy(), 1.0)


def test_one_error_names_every_missing_unexpected_and_misshaped_parameter():
    model = zoo.BinaryNet(
        norm="bn", input_shape=(32, 32, 3), width_multiplier=1 / 16, pad_values=0.0
    )
    kernel = model.get_layer("conv2").kernel.numpy().copy()
    weights = _weights(load_fixture("binarynet_bn"))
    del weights["features.3.weight"], weights["classifier.4.running_var"]
    weights["features.99.weight"] = np.zeros(3)
    weights["features.7.weight"] = np.zeros((16, 8, 5, 5))
    weights["classifier.6.weight"] = np.zeros((10, 65))
    weights["features.0.bias"] = np.zeros(5)  # folded into stem_norm's moving mean
    with pytest.raises(ValueError) as info:
        load_reference_weights(model, weights, architecture="binarynet")
    message = str(info.value)
    for part in (
        "2 missing: classifier.4.running_var, features.3.weight",
        "1 unexpected: features.99.weight",
        "3 mis-shaped: ",
        "features.0.bias (5,) (the model needs 8 entries)",
        "features.7.weight (16, 8, 5, 5) (the model needs (16, 8, 3, 3))",
        "classifier.6.weight (10, 65) (the model needs (10, 64))",
    ):
        assert part in message
    np.testing.assert_array_equal(model.get_layer("conv2").kernel.numpy(), kernel)


def test_npz_files_and_their_errors(tmp_path):
    weights = _weights(load_fixture("binarynet_bn"))
    path = tmp_path / "vgg.npz"
    np.savez(path, **{f"module.{k}": v for k, v in weights.items()})  # DataParallel
    read = read_reference_weights(path)
    assert set(read) == set(weights)
    model = zoo.BinaryNet(
        norm="bn", input_shape=(32, 32, 3), width_multiplier=1 / 16, pad_values=0.0
    )
    load_reference_weights(model, path, architecture="binarynet")
    np.testing.assert_array_equal(
        model.get_layer("classifier_norm").moving_variance.numpy(),
        weights["classifier.7.running_var"].astype(np.float32),
    )
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        read_reference_weights(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"'.*vgg\.h5'.*\.npz, \.pth, \.pth\.tar"):
        read_reference_weights(tmp_path / "vgg.h5")
    with pytest.raises(ValueError, match="architecture.*binarynet"):
        load_reference_weights(model, path, architecture="vgg")
    for other in set(ARCHITECTURES) - {"binarynet"}:
        with pytest.raises(ValueError, match=f"not the zoo model of .*'{other}'"):
            load_reference_weights(model, path, architecture=other)


def test_pth_files_need_torch(tmp_path, monkeypatch):
    path = tmp_path / "model_best.pth.tar"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # as where torch is not installed
    with pytest.raises(ImportError, match="needs PyTorch"):
        read_reference_weights(path)
