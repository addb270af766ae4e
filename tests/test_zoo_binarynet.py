"""Tests of larq_nobn.zoo.BinaryNet: weight counts, the variants, LCE conversion."""

import gzip
import math
import re
from pathlib import Path

import larq_nobn
from larq_nobn.zoo import BinaryNet, binarynet

import larq as lq
import larq_compute_engine as lce
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

NORMS = ("bn", "abn", "bf", "none")
FMNIST = Path("/usr/share/datasets/fashion-mnist")
TINY = 0.125  # 16-16-32-32-64-64 channels, dense 128-128


# --------------------------------------------------------------------------------------
# Independent expectations.


def expected_channels(w):
    """The documented rule, written out again: round half up to a multiple of 8, at
    least 8; above x1 only the stem and conv1-conv4 grow."""

    def c(x):
        return max(8, 8 * math.floor(x / 8 + 0.5))

    convs = [c(128 * w), c(128 * w), c(256 * w), c(256 * w), c(512 * w)]
    convs.append(c(512 * min(w, 1)))
    dense = [c(1024 * min(w, 1))] * 2
    return convs, dense


def expected_binary_weights(w, height=32, width=32):
    convs, dense = expected_channels(w)
    # conv1-conv5: 3x3 kernels from the previous layer's channels (the stem is fp).
    total = sum(9 * cin * cout for cin, cout in zip(convs[:-1], convs[1:]))
    flat = (height // 8) * (width // 8) * convs[-1]
    total += flat * dense[0] + dense[0] * dense[1]
    return total  # the classifier's weights are full precision


def binary_weight_count(model):
    """Weights whose `precision` is 1, as `larq.models.summary` counts them."""
    return sum(
        int(np.prod(w.shape))
        for layer in model.layers
        for w in layer.weights
        if getattr(w, "precision", 32) == 1
    )


def fmnist_images(n=32):
    """The first `n` Fashion-MNIST test images in [0, 1] (structured stand-ins, shifted
    bars and blobs, if the dataset is not installed)."""
    path = FMNIST / "t10k-images-idx3-ubyte.gz"
    if path.exists():
        with gzip.open(path) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
        return images[:n].astype("float32") / 255.0
    yy, xx = np.mgrid[:28, :28]
    images = [
        (np.abs(xx - 6 - i % 16) < 3 + i % 4) * 0.5
        + ((yy - 14) ** 2 + (xx - 14) ** 2 < 4 * i) * (0.3 + 0.02 * i)
        for i in range(n)
    ]
    return np.stack(images)[..., None].astype("float32")


# --------------------------------------------------------------------------------------
# Arguments.


@pytest.mark.parametrize("norm", ["BN", "batchnorm", "", None, "gn"])
def test_unknown_norm_lists_accepted_values(norm):
    with pytest.raises(ValueError) as info:
        BinaryNet(norm=norm, width_multiplier=TINY)
    for accepted in NORMS:
        assert repr(accepted) in str(info.value)


@pytest.mark.parametrize("width", [0, -1, -0.5, float("nan"), "1", None, True])
def test_bad_width_multiplier(width):
    with pytest.raises(ValueError, match="width_multiplier"):
        BinaryNet(width_multiplier=width)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pad_values=0.5), "pad_values"),
        (dict(pad_values=-1.0), "pad_values"),
        (dict(input_shape=(4, 4, 3)), "input_shape"),
        (dict(input_shape=(None, None, 3)), "input_shape"),
        (dict(input_shape=(32, 32)), "input_shape"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BinaryNet(width_multiplier=TINY, **kwargs)


# --------------------------------------------------------------------------------------
# Weight counts.


def test_expected_counts_formula_reproduces_the_published_numbers():
    assert expected_binary_weights(3) == 36_421_632
    assert expected_binary_weights(1) == 14_008_320
    assert expected_channels(3) == ([384, 384, 768, 768, 1536, 512], [1024, 1024])


@pytest.mark.parametrize("norm", NORMS)
def test_full_size_binary_weight_counts(norm):
    for width, count in ((3, 36_421_632), (1, 14_008_320)):
        model = BinaryNet(norm=norm, width_multiplier=width)
        assert binary_weight_count(model) == count
        assert lq.models.ModelProfile(model).weight_count(bitwidth=1) == count
        assert binarynet.binarynet_channels(width) == tuple(
            map(tuple, expected_channels(width))
        )
        del model
        tf.keras.backend.clear_session()


@pytest.mark.parametrize(
    "width, shape",
    [
        (0.5, (32, 32, 3)),
        (0.25, (32, 32, 3)),
        (0.125, (28, 28, 1)),
        (0.1, (28, 28, 1)),  # 12.8 -> 16, 25.6 -> 24, 51.2 -> 56, 102.4 -> 104
        (0.01, (32, 32, 3)),  # everything at the minimum of 8
        (1.5, (8, 8, 3)),  # above x1: conv5 stays 512, the dense layers 1024
        (2.7, (16, 16, 3)),
    ],
)
def test_width_rule_counts(width, shape):
    model = BinaryNet(norm="bn", input_shape=shape, width_multiplier=width)
    assert binary_weight_count(model) == expected_binary_weights(width, *shape[:2])
    convs, dense = expected_channels(width)
    names = ["stem_conv", "conv1", "conv2", "conv3", "conv4", "conv5", "dense1"]
    names.append("dense2")
    assert [model.get_layer(n).filters for n in names] == convs + dense


def test_documented_fractional_counts():
    assert expected_binary_weights(0.5) == 3_502_080 == 14_008_320 // 4
    assert expected_binary_weights(0.25) == 875_520 == 14_008_320 // 16
    assert expected_binary_weights(0.125) == 218_880


def test_larq_summary_counts_the_same(capsys):
    model = BinaryNet(norm="bf", input_shape=(32, 32, 3), width_multiplier=0.25)
    lq.models.summary(model)
    out = capsys.readouterr().out
    total = [line for line in out.splitlines() if line.strip("| ").startswith("Total ")]
    # The stats table's Total row: 1-bit weights first, then 32-bit ones.
    assert total and total[0].split()[2] == "875520", out


# --------------------------------------------------------------------------------------
# Variants.


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def test_variant_structure():
    models = {
        n: BinaryNet(norm=n, input_shape=(28, 28, 1), width_multiplier=TINY) for n in NORMS
    }
    BN, ABN = tf.keras.layers.BatchNormalization, larq_nobn.ABN
    binary = ["conv1", "conv2", "conv3", "conv4", "conv5", "dense1", "dense2"]
    # bn: a BN after the stem and each binary layer, plus the affine-free head BN.
    assert len(_layers_of(models["bn"], BN)) == 9
    assert not _layers_of(models["bn"], ABN)
    head = models["bn"].get_layer("classifier_norm")
    assert not head.center and not head.scale
    # abn: as gushan/ABN models/vgg_abn_cifar10_binary.py, 6 ABN (the stem and the 5
    # convs); the two dense layers keep BatchNorm1d and the head the affine-free BN.
    abn = _layers_of(models["abn"], ABN)
    assert [l.name for l in abn] == ["stem_norm"] + [f"norm{i}" for i in range(1, 6)]
    assert all(l.momentum == 0.1 for l in abn)  # moving = 0.1 old + 0.9 batch
    assert [l.name for l in _layers_of(models["abn"], BN)] == [
        "dense1_norm", "dense2_norm", "classifier_norm"
    ]
    # none and bf: no normalization layer at all.
    for norm in ("none", "bf"):
        assert not _layers_of(models[norm], BN) and not _layers_of(models[norm], ABN)
    assert len(models["none"].layers) == len(models["bn"].layers) - 9
    for norm in ("bn", "abn", "none"):
        for name in binary:
            layer = models[norm].get_layer(name)
            assert type(layer) is larq_nobn.layers.QuantConv2D
            assert layer.input_quantizer.precision == 1
            # binarized_modules.py Binarize: identity STE, latent weights not clipped.
            assert isinstance(layer.kernel_quantizer, lq.quantizers.SteSign)
            assert layer.kernel_quantizer.clip_value is None
            assert layer.kernel_constraint is None
            assert not layer.use_bias and layer.pad_values == 1.0
        # The reference's last layer: nn.Linear on the real-valued Hardtanh output.
        head = models[norm].get_layer("classifier")
        assert head.kernel_quantizer is None and head.input_quantizer is None
        tanh = models[norm].get_layer("dense2_tanh")
        assert isinstance(tanh, larq_nobn.layers.HardTanh)
        assert head.input is tanh.output
    for name in binary:
        layer = models["bf"].get_layer(name)
        assert isinstance(layer, larq_nobn.ScaledWSQuantConv2D)
        assert isinstance(layer.input_quantizer, larq_nobn.RSign)
        assert isinstance(layer.kernel_quantizer, larq_nobn.ChannelScaledSign)
    stem = models["bf"].get_layer("stem_conv")
    assert isinstance(stem, larq_nobn.ScaledWSQuantConv2D)
    assert stem.kernel_quantizer is None and stem.input_quantizer is None
    classifier = models["bf"].get_layer("classifier")
    assert isinstance(classifier, larq_nobn.ScaledWSQuantDense)
    assert isinstance(classifier.input_quantizer, larq_nobn.RSign)
    assert classifier.kernel_quantizer is None
    # bf: the thresholds of the signs after a max-pool start at the median of the
    # maximum of 4 standard normals (Phi(t)^4 = 1/2) times sqrt(2/pi); the others at 0.
    t = tf.math.ndtri(0.5**0.25).numpy() * math.sqrt(2 / math.pi)
    for name, start in zip(binary, [0, -t, 0, -t, 0, -t, 0]):
        threshold = models["bf"].get_layer(name).input_quantizer.threshold.numpy()
        np.testing.assert_allclose(threshold, start, atol=1e-3)


def test_pad_values():
    zero = BinaryNet(
        norm="bf", input_shape=(28, 28, 1), width_multiplier=TINY, pad_values=0.0
    )
    for name in ["conv1", "conv5", "dense1"]:
        assert zero.get_layer(name).pad_values == 0.0
    x = fmnist_images(4)
    one = BinaryNet(norm="bf", input_shape=(28, 28, 1), width_multiplier=TINY)
    one.set_weights(zero.get_weights())
    # Padding differs only at the border: same weights, different outputs.
    assert not np.allclose(one(x), zero(x))


@pytest.mark.parametrize("norm", NORMS)
def test_batch_dependence_in_training_mode(norm):
    """Without normalization layers a sample's output does not depend on the batch.

    The thresholds are moved off their initial values (`_randomize`): at exactly 0,
    a bf binary layer's output whose integer part is 0 is a float +-1e-8 whose sign
    depends on the summation order, which TensorFlow picks by batch size."""
    tf.keras.utils.set_random_seed(0)
    model = BinaryNet(norm=norm, input_shape=(28, 28, 1), width_multiplier=TINY)
    x = fmnist_images(8)
    _randomize(model, np.random.default_rng(2), x)
    batch = model(x, training=True).numpy()
    single = np.concatenate([model(x[i : i + 1], training=True) for i in range(8)])
    if norm in ("bf", "none"):
        np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-5)
    else:
        assert np.abs(batch - single).max() > 1e-2


def test_gradient_norms_at_init():
    """Sari et al.: without normalization the weight gradients explode toward the
    input; with BN, and in the BN-free design, they stay about flat."""
    x = fmnist_images(32)
    y = np.arange(32) % 10
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "dense1", "dense2"]
    spread = {}
    for norm in ("bn", "bf", "none"):
        tf.keras.utils.set_random_seed(1)
        model = BinaryNet(norm=norm, input_shape=(28, 28, 1), width_multiplier=0.25)
        kernels = [model.get_layer(n).kernel.latent_variable for n in names]
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(y, logits, True)
            )
        norms = [float(tf.norm(g)) for g in tape.gradient(loss, kernels)]
        spread[norm] = norms[0] / norms[-1]  # first binary conv vs last binary dense
    assert spread["none"] > 300, spread
    assert 1 / 4 < spread["bn"] < 4, spread
    assert 1 / 4 < spread["bf"] < 4, spread


def test_agc_settings_match_the_classifier_only():
    model = BinaryNet(norm="bf", input_shape=(28, 28, 1), width_multiplier=TINY)
    names = [v.name for v in model.trainable_variables]
    matched = {n for n in names if re.search(binarynet.AGC_EXCLUDE, n)}
    classifier = model.get_layer("classifier")
    assert matched == {v.name for v in classifier.trainable_variables}
    assert {n.split("/")[1] for n in matched} >= {"kernel:0", "bias:0", "gain:0"}
    assert 0 < binarynet.AGC_CLIP_FACTOR < 1


@pytest.mark.parametrize(
    "shape", [(28, 28, 1), (32, 32, 3), (64, 64, 3), (224, 224, 3)]
)
def test_input_shapes(shape):
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype("float32")
    for norm in ("bn", "bf"):
        model = BinaryNet(norm=norm, input_shape=shape, num_classes=7, width_multiplier=0.0625)
        y = model(x, training=False).numpy()
        assert y.shape == (2, 7) and np.isfinite(y).all()
        features = (shape[0] // 8) * (shape[1] // 8) * 32
        assert model.get_layer("flatten").output_shape == (None, 1, 1, features)


@pytest.mark.parametrize("norm", ["abn", "bf"])
def test_save_and_load(norm, tmp_path):
    model = BinaryNet(norm=norm, input_shape=(28, 28, 1), width_multiplier=0.0625)
    _randomize(model, np.random.default_rng(3), fmnist_images(16))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    x = fmnist_images(4)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------
# LCE.


def _randomize(model, rng, x):
    """Non-trivial normalization statistics, gains and thresholds: the moving statistics
    of every norm layer are set to the statistics of a real batch, then the means are
    moved by up to half a standard deviation, a fifth of the BN scales made negative
    (LCE must flip those channels' comparisons), and gains, betas and thresholds drawn
    at random. Without this the sign thresholds of an initial model sit exactly at 0,
    where a binary conv's integer output ties (see `test_lce_conversion`)."""
    norm_classes = (tf.keras.layers.BatchNormalization, larq_nobn.ABN)
    norms = [layer for layer in model.layers if isinstance(layer, norm_classes)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    for layer in norms:
        channels = layer.moving_mean.shape
        std = np.sqrt(layer.moving_variance.numpy())
        layer.moving_mean.assign_add(rng.uniform(-0.5, 0.5, channels) * std)
        layer.moving_variance.assign(
            layer.moving_variance * rng.uniform(0.7, 1.4, channels)
        )
        if getattr(layer, "gamma", None) is not None:
            sign = np.where(rng.uniform(size=channels) < 0.2, -1.0, 1.0)
            layer.gamma.assign(sign * rng.uniform(0.5, 1.5, channels))
        if getattr(layer, "beta", None) is not None:
            layer.beta.assign(rng.uniform(-0.3, 0.3, channels))
    for weight in model.weights:
        if weight.name.endswith("gain:0"):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape))
        elif weight.name.endswith("threshold:0"):
            weight.assign(weight + rng.uniform(-0.2, 0.2, weight.shape))
        elif weight.name.endswith("classifier/bias:0"):
            weight.assign(rng.uniform(-0.5, 0.5, weight.shape))


def _graph(flatbuffer):
    """(op name, input tensor ids, output tensor ids) per operator, and tensor types."""
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    graph = model.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = code.CustomCode()
        if name is None:
            name = builtin[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        else:
            name = name.decode()
        ops.append((name, list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())))
    types = [graph.Tensors(i).Type() for i in range(graph.TensorsLength())]
    return ops, types


# Bitpacked (INT32) outputs: a binary conv writes them when the next op is the sign,
# with only constant multiplies / adds (the inference BN, a threshold) in between.
# conv2, conv4, dense1 (and in bf dense2) are followed by norm and sign; dense2 by the
# Hardtanh before the float classifier except in bf; conv1, conv3, conv5 by
# a max-pool first, which stays float (bn, bf) unless nothing else separates it from the
# sign ("none": LCE moves the sign before the pool and uses LceBMaxPool2d; conv5 is
# followed by the flatten reshape). ABN's sigmoid never fuses (abn: only dense1, with a
# plain BN). With pad_values=0.0 a 3x3 binary conv needs its input unpacked (a bit
# cannot hold the zero padding), so only the 1x1 dense layers pass bits.
BITPACKED = {
    ("bn", 1.0): 3, ("bf", 1.0): 4, ("none", 1.0): 5, ("abn", 1.0): 1, ("bf", 0.0): 2
}


@pytest.mark.parametrize(
    "norm, pad_values", sorted(BITPACKED)
)
def test_lce_conversion(norm, pad_values):
    """Every binary layer becomes LceBconv2d and LCE's interpreter reproduces Keras.

    Tolerance: the binary convolutions are exact in both (integer popcounts in LCE,
    sums of +-a in float in Keras), the float ops (stem conv, norms, classifier) differ
    by rounding only, so the logits agree to ~1e-6 relative and top-1 is identical; a
    sign could only flip for a pre-activation within rounding error of its threshold,
    which non-trivial, random statistics make improbable. (With thresholds exactly at 0,
    as in an untrained bf model, a +-a sum whose integer part is 0 comes out as +-1e-8
    in float and as exactly 0, i.e. +1, in LCE, so the outputs would differ.)
    """
    tf.keras.utils.set_random_seed(0)
    model = BinaryNet(
        norm=norm, input_shape=(28, 28, 1), width_multiplier=TINY, pad_values=pad_values
    )
    x = fmnist_images(32)
    _randomize(model, np.random.default_rng(1), x)
    flatbuffer = lce.convert_keras_model(model)
    ops, types = _graph(flatbuffer)
    names = [op[0] for op in ops]
    assert names.count("LceBconv2d") == 7  # conv1-conv5, dense1, dense2
    assert names.count("CONV_2D") == 1  # the stem
    assert names.count("FULLY_CONNECTED") == 1  # the classifier
    assert "DEPTHWISE_CONV_2D" not in names

    bconvs = [op for op in ops if op[0] == "LceBconv2d"]
    bitpacked = [op for op in bconvs if types[op[2][0]] == schema.TensorType.INT32]
    assert len(bitpacked) == BITPACKED[norm, pad_values]
    if norm in ("bn", "bf"):
        # conv2 -> conv3, conv4 -> conv5 and dense1 -> dense2 pass bits directly, with
        # no float tensor or LceQuantize in between (only dense1 -> dense2 when padding
        # with zeros).
        producer = {out: op for op in ops for out in op[2]}
        direct = [
            op for op in bconvs if producer.get(op[1][0], ("",))[0] == "LceBconv2d"
        ]
        assert len(direct) == (3 if pad_values == 1.0 else 1)

    expected = model.predict(x, verbose=0)
    actual = Interpreter(flatbuffer).predict(x)
    np.testing.assert_array_equal(actual.argmax(1), expected.argmax(1))
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)
