"""Checks shared by the zoo model tests (ReActNet-A, ResNet-18)."""

import collections

from larq_nobn import ABN
from tests.helpers import op_names

import larq as lq
import larq_compute_engine as lce
import numpy as np
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

NORMS = ("bn", "abn", "bf", "none")


def structured_images(n, shape, seed=0):
    """`n` images in [-1, 1] with structure a classifier can tell apart: oriented
    gratings of different frequencies and phases per channel, plus a bright square at a
    sample-dependent place and a little noise."""
    rng = np.random.RandomState(seed)
    h, w, c = shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    images = np.empty((n, h, w, c), np.float32)
    for i in range(n):
        for ch in range(c):
            angle = rng.uniform(0, np.pi)
            freq = rng.uniform(1, 6)
            phase = rng.uniform(0, 2 * np.pi)
            images[i, :, :, ch] = np.sin(
                2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase
            )
        top, left = rng.randint(0, h // 2), rng.randint(0, w // 2)
        images[i, top : top + h // 4, left : left + w // 4, :] = 1.0
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    return np.clip(images, -1, 1)


def binary_weight_count(model):
    """Weights whose `precision` is 1, counted as `larq.models.summary` does."""
    by_attribute = sum(
        w.shape.num_elements()
        for w in model.weights
        if getattr(w, "precision", 32) == 1
    )
    by_larq = lq.models.ModelProfile(model).weight_count(bitwidth=1)
    assert by_attribute == by_larq
    return by_larq


def norm_layer_counts(model):
    """Number of BatchNormalization and ABN layers."""
    counts = collections.Counter()
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            counts["bn"] += 1
        elif isinstance(layer, ABN):
            counts["abn"] += 1
    return counts


def binary_conv_layers(model):
    """Layers with a 1-bit kernel and a 1-bit input quantizer."""
    return [
        layer
        for layer in model.layers
        if getattr(getattr(layer, "kernel_quantizer", None), "precision", 32) == 1
        and getattr(getattr(layer, "input_quantizer", None), "precision", 32) == 1
    ]


def per_sample_deviation(model, x):
    """Largest |output(batch) - output(sample alone)| in training mode, relative to the
    output scale."""
    batch = model(x, training=True).numpy()
    single = np.concatenate(
        [model(x[i : i + 1], training=True).numpy() for i in range(len(x))]
    )
    return np.abs(batch - single).max() / (np.abs(single).max() + 1e-12)


def near_threshold_signs(model, x, rtol=1e-5):
    """For each sample of `x`, how many binarized inputs of `model`'s binary layers sit
    within `rtol` (relative to the layer's largest input) of their sign threshold:
    moving them by that much flips their sign. Float rounding differences between two
    engines (~1e-6 relative) can flip exactly these values."""
    probes = {}
    for layer in model.layers:
        quantizer = getattr(layer, "input_quantizer", None)
        if quantizer is not None and getattr(quantizer, "precision", None) == 1:
            probes[layer.name] = (layer.input, quantizer)
    features = tf.keras.Model(model.inputs, [t for t, _ in probes.values()])
    values = features.predict(x, verbose=0, batch_size=len(x))
    counts = np.zeros(len(x), dtype=int)
    for value, (_, quantizer) in zip(values, probes.values()):
        delta = rtol * np.abs(value).max()
        flips = quantizer(value + delta).numpy() != quantizer(value - delta).numpy()
        counts += flips.reshape(len(x), -1).sum(axis=1)
    return counts


def check_lce(model, x, expected_bconvs):
    """Convert `model` with LCE, check that it has `expected_bconvs` `LceBconv2d` ops
    (and no float `CONV_2D` but the full-precision convolutions) and that the LCE
    interpreter agrees with Keras inference on `x`.

    Tolerance: LCE computes a binary convolution as an integer popcount followed by the
    fused per-channel multiplier and bias (scale, gain, alpha, inference BN) or, before
    a sign, by a comparison with a per-channel threshold; Keras computes a float
    convolution followed by separate ops. So the values differ by float rounding
    (~1e-6 relative), and a value that lands within that distance of a sign threshold
    flips in one engine and not in the other. A batch makes ~10^6 sign decisions, so
    the odd flip is expected (seen: one sample of 16 with logits off by 5-15 % of their
    scale). Hence: the logits agree to 1e-4 of their scale for all but at most one
    sample in eight, and every sample that does not agree has a binarized input within
    1e-5 (relative) of its sign threshold in Keras (`near_threshold_signs`), the only
    values float rounding can flip; the samples that agree have the same top-1. A real
    mismatch (padding, a wrongly fused constant, a missing op) moves the logits of
    every sample and fails.

    # Returns
        The operator counts of the flatbuffer.
    """
    flatbuffer = lce.convert_keras_model(model)
    ops = collections.Counter(op_names(flatbuffer))
    assert ops["LceBconv2d"] == expected_bconvs, ops
    float_convs = sum(
        isinstance(layer, tf.keras.layers.Conv2D) for layer in model.layers
    ) - expected_bconvs
    assert ops["CONV_2D"] == float_convs, ops
    expected = model.predict(x, verbose=0, batch_size=len(x))
    actual = Interpreter(flatbuffer).predict(x)
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    assert scale > 0
    deviation = np.abs(actual - expected).max(axis=-1)
    close = deviation <= 1e-4 * scale
    assert close.sum() >= len(x) - max(1, len(x) // 8), deviation / scale
    near = near_threshold_signs(model, x)
    assert (near[~close] > 0).all(), (deviation / scale, near)
    tolerance = 1e-4 * scale
    assert_same_top1(actual[close], expected[close], tolerance)
    # The samples are told apart: the logits relative to the mean over the agreeing
    # samples differ between samples and pick the same class in both engines.
    centered = expected[close] - expected[close].mean(axis=0)
    assert np.abs(centered).max() > 1e-3 * scale
    assert_same_top1(actual[close] - actual[close].mean(axis=0), centered, 2 * tolerance)
    return ops


def assert_same_top1(actual, expected, tolerance):
    """Same argmax per row wherever `expected`'s top two are more than twice
    `tolerance` apart (closer ties may swap within the tolerance); most rows must be
    such clear decisions."""
    top2 = np.sort(expected, axis=-1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * tolerance
    assert clear.mean() >= 0.75, clear
    np.testing.assert_array_equal(actual[clear].argmax(-1), expected[clear].argmax(-1))
