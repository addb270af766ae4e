"""Tests of larq_nobn.optimizers: adaptive gradient clipping (AGC) as a wrapper.

Expectations come from hand-computed vectors and an independent numpy implementation
(an explicit loop over units), never from the code under test.
"""

import os
import re

from larq_nobn import optimizers as agc_lib
from larq_nobn.optimizers import AGC

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

# --------------------------------------------------------------------------------------
# Independent numpy reference.


def np_agc(grad, weight, clip_factor, eps=1e-3, keep_axes=None):
    """AGC with an explicit loop over units; `keep_axes` index the units (None: one)."""
    grad = np.asarray(grad, np.float64)
    weight = np.asarray(weight, np.float64)
    keep_axes = [] if keep_axes is None else [a % grad.ndim for a in keep_axes]
    reduce_axes = [a for a in range(grad.ndim) if a not in keep_axes]
    order = keep_axes + reduce_axes
    g = np.transpose(grad, order)
    w = np.transpose(weight, order)
    n_units = int(np.prod([grad.shape[a] for a in keep_axes])) if keep_axes else 1
    g2 = g.reshape(n_units, -1).copy()
    w2 = w.reshape(n_units, -1)
    for i in range(n_units):
        w_norm = np.sqrt(np.sum(w2[i] ** 2))
        g_norm = np.sqrt(np.sum(g2[i] ** 2))
        max_norm = clip_factor * max(w_norm, eps)
        if g_norm >= max_norm:
            g2[i] = g2[i] * max_norm / max(g_norm, 1e-6)
    out = g2.reshape(g.shape)
    return np.transpose(out, np.argsort(order))


def keep_axes_for(shape, kind):
    """Axes that index the units, written from the Keras layouts, not from the code."""
    rank = len(shape)
    if rank <= 1:
        return None
    if kind == "depthwise":  # (kh, kw, in, multiplier)
        return [rank - 2, rank - 1]
    return [rank - 1]  # HWIO conv, (in, out) dense


def mixed_gradient(rng, shape, weight, clip_factor, keep_axes):
    """A gradient some of whose units exceed the AGC threshold and some do not."""
    grad = rng.normal(size=shape)
    if keep_axes is None:
        return grad * 10.0
    scale_shape = [shape[a] if a in keep_axes else 1 for a in range(len(shape))]
    return grad * 10.0 ** rng.uniform(-4, 1, size=scale_shape)


# --------------------------------------------------------------------------------------
# Hand vectors.


def sgd_step(make_sgd, weight, grad, **agc_kwargs):
    """Value of `weight` after one AGC(SGD(1.0)) step: weight - clipped gradient."""
    var = tf.Variable(np.asarray(weight, np.float32))
    AGC(make_sgd(), **agc_kwargs).apply_gradients([(tf.constant(grad, tf.float32), var)])
    return np.asarray(weight, np.float32) - var.numpy()


SGDS = {
    "sgd": lambda: tf.keras.optimizers.SGD(1.0),
    "legacy_sgd": lambda: tf.keras.optimizers.legacy.SGD(1.0),
}


def test_adaptive_clip_hand_vectors():
    clip = agc_lib.adaptive_clip
    np.testing.assert_allclose(
        clip([30.0, 40.0], [3.0, 4.0], 0.01).numpy(), [0.03, 0.04], rtol=1e-6
    )
    # Zero parameter: the threshold is clip_factor * eps = 1e-5.
    np.testing.assert_allclose(clip(0.5, 0.0, 0.01).numpy(), 1e-5, rtol=1e-6)
    np.testing.assert_allclose(clip([0.5], [0.0], 0.01).numpy(), [1e-5], rtol=1e-6)
    np.testing.assert_allclose(clip([-0.5], [0.0], 0.01).numpy(), [-1e-5], rtol=1e-6)
    # Below the threshold (norm 0.0223 < 0.05): unchanged, bit for bit.
    np.testing.assert_array_equal(
        clip([0.01, 0.02], [3.0, 4.0], 0.01).numpy(), np.float32([0.01, 0.02])
    )
    # Per-unit: the first output column is clipped, the second is not.
    w = np.array([[3.0, 1.0], [4.0, 0.0]], np.float32)
    g = np.array([[30.0, 0.001], [40.0, 0.002]], np.float32)
    out = clip(g, w, 0.01, axes=(0,)).numpy()
    np.testing.assert_allclose(out, [[0.03, 0.001], [0.04, 0.002]], rtol=1e-6)
    # dtype is preserved.
    assert clip(tf.constant([30.0, 40.0], tf.float16), [3.0, 4.0], 0.01).dtype == tf.float16


@pytest.mark.parametrize("kind", sorted(SGDS))
def test_hand_vectors_through_the_optimizer(kind):
    make = SGDS[kind]
    np.testing.assert_allclose(
        sgd_step(make, [3.0, 4.0], [30.0, 40.0], clip_factor=0.01), [0.03, 0.04], rtol=1e-5
    )
    np.testing.assert_allclose(sgd_step(make, 0.0, 0.5, clip_factor=0.01), 1e-5, rtol=1e-5)
    np.testing.assert_allclose(sgd_step(make, [0.0], [0.5]), [1e-5], rtol=1e-5)
    np.testing.assert_allclose(
        sgd_step(make, [3.0, 4.0], [0.01, 0.02], clip_factor=0.01), [0.01, 0.02], rtol=1e-5
    )


# --------------------------------------------------------------------------------------
# Units and the numpy reference.

SHAPES = [
    ("conv/kernel", (3, 3, 4, 8), "conv"),
    ("dense/kernel", (16, 10), "dense"),
    ("dw/depthwise_kernel", (3, 3, 4, 2), "depthwise"),
    ("conv1d/depthwise_kernel", (5, 6, 3), "depthwise"),
    ("conv/bias", (8,), "vector"),
    ("scalar_gain", (), "vector"),
]


@pytest.mark.parametrize("clip_factor", [0.01, 0.2])
def test_matches_numpy_reference_on_random_shapes(clip_factor):
    rng = np.random.default_rng(42)
    variables, grads, expected = [], [], []
    n_clipped = n_kept = 0
    for name, shape, kind in SHAPES:
        weight = rng.normal(size=shape) * 0.1
        keep = keep_axes_for(shape, kind)
        grad = mixed_gradient(rng, shape, weight, clip_factor, keep)
        ref = np_agc(grad, weight.astype(np.float32), clip_factor, 1e-3, keep)
        if shape:
            changed = ~np.isclose(ref, grad)
            n_clipped += int(changed.any())
            n_kept += int((~changed).any())
        variables.append(tf.Variable(weight.astype(np.float32), name=name))
        grads.append(tf.constant(grad.astype(np.float32)))
        expected.append(ref)
    assert n_clipped and n_kept  # the data exercises both branches

    optimizer = AGC(tf.keras.optimizers.SGD(1.0), clip_factor=clip_factor)
    clipped = optimizer.clip_gradients(zip(grads, variables))
    for (g, v), ref in zip(clipped, expected):
        np.testing.assert_allclose(g.numpy(), ref, rtol=2e-5, atol=1e-9, err_msg=v.name)

    # The same through apply_gradients: the update is the clipped gradient.
    before = [v.numpy() for v in variables]
    optimizer.apply_gradients(zip(grads, variables))
    for v, b, ref in zip(variables, before, expected):
        np.testing.assert_allclose(b - v.numpy(), ref, rtol=1e-4, atol=1e-6, err_msg=v.name)


def test_default_unit_axes_for_keras_and_larq_layers():
    model = tf.keras.Sequential(
        [
            tf.keras.Input((8, 8, 3)),
            tf.keras.layers.Conv2D(4, 3, name="c"),
            tf.keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
            tf.keras.layers.SeparableConv2D(5, 1, name="sep"),
            lq.layers.QuantDepthwiseConv2D(1, depthwise_quantizer="ste_sign", name="qdw"),
            lq.layers.QuantConv2D(6, 1, kernel_quantizer="ste_sign", name="qc"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(3, name="d"),
        ]
    )
    axes = {w.name.split(":")[0]: agc_lib.default_unit_axes(w) for w in model.weights}
    assert axes["c/kernel"] == (0, 1, 2)
    assert axes["c/bias"] is None
    assert axes["dw/depthwise_kernel"] == (0, 1)
    assert axes["sep/depthwise_kernel"] == (0, 1)
    assert axes["sep/pointwise_kernel"] == (0, 1, 2)
    assert axes["qdw/depthwise_kernel"] == (0, 1)
    assert axes["qc/kernel"] == (0, 1, 2)
    assert axes["d/kernel"] == (0,)
    assert axes["d/bias"] is None


def test_sparse_embedding_gradients_are_clipped_per_token():
    embedding = tf.keras.layers.Embedding(10, 4, name="emb")
    embedding.build((None,))
    assert agc_lib.default_unit_axes(embedding.embeddings) == (1,)
    with tf.GradientTape() as tape:
        out = embedding(tf.constant([1, 3, 3, 7]))
        loss = tf.reduce_sum(out * tf.constant([[50.0], [1e-6], [1e-6], [-80.0]]))
    (grad,) = tape.gradient(loss, embedding.trainable_variables)
    assert isinstance(grad, tf.IndexedSlices)
    dense = tf.convert_to_tensor(grad).numpy()
    w0 = embedding.embeddings.numpy()
    expected = np_agc(dense, w0, 0.01, keep_axes=[0])
    assert not np.allclose(expected[1], dense[1]) and np.allclose(expected[3], dense[3])
    AGC(tf.keras.optimizers.SGD(1.0)).apply_gradients([(grad, embedding.embeddings)])
    np.testing.assert_allclose(w0 - embedding.embeddings.numpy(), expected, atol=1e-7)


def test_declared_unit_axes_and_unit_axes_callable():
    rng = np.random.default_rng(0)
    w = (rng.normal(size=(3, 3, 4, 2)) * 0.1).astype(np.float32)
    g = (rng.normal(size=(3, 3, 4, 2)) * 10).astype(np.float32)
    # A depthwise kernel under a name the default rule cannot recognise.
    var = tf.Variable(w, name="my_layer/kernel")
    plain = AGC(tf.keras.optimizers.SGD(1.0))
    (out, _), = plain.clip_gradients([(g, var)])
    np.testing.assert_allclose(out.numpy(), np_agc(g, w, 0.01, keep_axes=[3]), rtol=1e-5)

    assert agc_lib.set_unit_axes(var, (1, 0)) == (0, 1)
    assert agc_lib.default_unit_axes(var) == (0, 1)
    (out, _), = plain.clip_gradients([(g, var)])
    np.testing.assert_allclose(out.numpy(), np_agc(g, w, 0.01, keep_axes=[2, 3]), rtol=1e-5)

    # An optimizer-level callable wins; returning None falls back to the default.
    var2 = tf.Variable(w, name="other/kernel")
    whole = AGC(
        tf.keras.optimizers.SGD(1.0),
        unit_axes=lambda v: (0, 1, 2, 3) if "other" in v.name else None,
    )
    (o1, _), (o2, _) = whole.clip_gradients([(g, var2), (g, var)])
    np.testing.assert_allclose(o1.numpy(), np_agc(g, w, 0.01, keep_axes=None), rtol=1e-5)
    np.testing.assert_allclose(o2.numpy(), np_agc(g, w, 0.01, keep_axes=[2, 3]), rtol=1e-5)


def test_clips_relative_to_the_latent_weight_of_quantized_kernels():
    layer = lq.layers.QuantConv2D(
        4, 3, kernel_quantizer="ste_sign", input_quantizer="ste_sign", use_bias=False
    )
    layer.build((None, 6, 6, 2))
    rng = np.random.default_rng(1)
    latent = (rng.normal(size=(3, 3, 2, 4)) * 0.05).astype(np.float32)
    layer.kernel.assign(latent)
    grad = (rng.normal(size=latent.shape) * 0.05).astype(np.float32)
    expected = np_agc(grad, latent, 0.05, keep_axes=[3])
    binary = np.where(latent >= 0, 1.0, -1.0)
    assert not np.allclose(expected, np_agc(grad, binary, 0.05, keep_axes=[3]))
    optimizer = AGC(tf.keras.optimizers.SGD(1.0), clip_factor=0.05)
    # Even where larq reads kernels as their quantized values.
    with lq.context.quantized_scope(True):
        assert np.allclose(tf.convert_to_tensor(layer.kernel).numpy(), binary)
        (out, var), = optimizer.clip_gradients([(grad, layer.kernel)])
    assert var is layer.kernel
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)


# --------------------------------------------------------------------------------------
# exclude.


@tf.keras.utils.register_keras_serializable(package="larq_nobn_tests")
def exclude_biases(variable):
    return "bias" in variable.name


def _tiny_model(name="m"):
    inputs = tf.keras.Input((4,))
    x = tf.keras.layers.Dense(3, name=f"{name}_hidden")(inputs)
    x = tf.keras.layers.Dense(2, name=f"{name}_head")(x)
    x = tf.keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return tf.keras.Model(inputs, x)


def test_exclude_regex_callable_and_helpers():
    model = _tiny_model("ex")
    rng = np.random.default_rng(0)
    grads = [
        tf.constant(rng.normal(size=v.shape).astype(np.float32) * 100)
        for v in model.trainable_variables
    ]

    def clipped_names(**kwargs):
        optimizer = AGC(tf.keras.optimizers.SGD(1.0), **kwargs)
        out = optimizer.clip_gradients(zip(grads, model.trainable_variables))
        return {
            v.name.split(":")[0]
            for (g, v), g0 in zip(out, grads)
            if not np.array_equal(g.numpy(), g0.numpy())
        }

    everything = {v.name.split(":")[0] for v in model.trainable_variables}
    assert clipped_names() == everything
    head_names = {"ex_head/kernel", "ex_head/bias"}
    assert clipped_names(exclude="ex_head/") == everything - head_names
    assert clipped_names(exclude=exclude_biases) == {
        "ex_hidden/kernel", "ex_head/kernel", "ex_bn/gamma", "ex_bn/beta"
    }
    head = agc_lib.exclude_head(model)
    assert clipped_names(exclude=head) == everything - head_names
    assert AGC.exclude_head(model) == head
    both = agc_lib.exclude_layers("ex_hidden", model.get_layer("ex_bn"))
    assert clipped_names(exclude=both) == head_names


def test_exclude_head_recurses_and_falls_back():
    inner = tf.keras.Sequential([tf.keras.layers.Dense(3, name="inner_head")], name="sub")
    inputs = tf.keras.Input((4,))
    outputs = inner(tf.keras.layers.Dense(4, name="outer_dense")(inputs))
    outputs = tf.keras.layers.BatchNormalization(name="bn_last")(outputs)
    model = tf.keras.Model(inputs, outputs)
    pattern = agc_lib.exclude_head(model)
    names = [v.name for v in model.trainable_variables if re.search(pattern, v.name)]
    assert sorted(names) == ["inner_head/bias:0", "inner_head/kernel:0"]
    # No Dense layer: the last layer with trainable weights (a 1x1 conv classifier).
    conv_model = tf.keras.Sequential(
        [
            tf.keras.Input((4, 4, 2)),
            tf.keras.layers.Conv2D(3, 1, name="body"),
            tf.keras.layers.Conv2D(5, 1, name="classifier"),
            tf.keras.layers.GlobalAveragePooling2D(),
        ]
    )
    assert agc_lib.exclude_head(conv_model) == agc_lib.exclude_layers("classifier")


# --------------------------------------------------------------------------------------
# Every kind of optimizer.


def _binary_and_real_layers():
    tf.keras.utils.set_random_seed(3)
    binary = lq.layers.QuantDense(
        3, kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False
    )
    real = tf.keras.layers.Dense(2)
    binary.build((None, 4))
    real.build((None, 3))
    return binary.trainable_weights + real.trainable_weights


def _case_optimizer():
    return lq.optimizers.CaseOptimizer(
        (
            lq.optimizers.Bop.is_binary_variable,
            lq.optimizers.Bop(threshold=1e-6, gamma=0.1),
        ),
        default_optimizer=tf.keras.optimizers.legacy.Adam(0.01),
    )


OPTIMIZERS = {
    "sgd_momentum": lambda: tf.keras.optimizers.SGD(0.1, momentum=0.9),
    "adam": lambda: tf.keras.optimizers.Adam(0.01),
    "adamw": lambda: tf.keras.optimizers.AdamW(0.01, weight_decay=0.1),
    "legacy_adam": lambda: tf.keras.optimizers.legacy.Adam(0.01),
    "string_adam": lambda: "adam",
    "larq_case_bop": _case_optimizer,
}


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_wraps_every_kind_of_optimizer(kind):
    """Two AGC steps equal the bare optimizer fed numpy-clipped gradients."""
    make = OPTIMIZERS[kind]
    agc_vars = _binary_and_real_layers()
    ref_vars = _binary_and_real_layers()
    optimizer = AGC(make(), clip_factor=0.02)
    reference = tf.keras.optimizers.get(make())
    expected_type = (
        tf.keras.optimizers.legacy.Optimizer
        if isinstance(reference, tf.keras.optimizers.legacy.Optimizer)
        else tf.keras.optimizers.Optimizer
    )
    assert isinstance(optimizer, expected_type) and isinstance(optimizer, AGC)
    assert type(optimizer.inner_optimizer) is type(reference)
    rng = np.random.default_rng(7)
    for _ in range(2):
        grads = [rng.normal(size=v.shape).astype(np.float32) * 0.5 for v in agc_vars]
        clipped = [
            np_agc(g, v.numpy(), 0.02, keep_axes=[-1] if v.shape.rank > 1 else None)
            for g, v in zip(grads, ref_vars)
        ]
        assert any(not np.allclose(c, g) for c, g in zip(clipped, grads))
        optimizer.apply_gradients(zip(map(tf.constant, grads), agc_vars))
        reference.apply_gradients(
            zip([tf.constant(c.astype(np.float32)) for c in clipped], ref_vars)
        )
    for a, b in zip(agc_vars, ref_vars):
        np.testing.assert_allclose(
            a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.name
        )


# --------------------------------------------------------------------------------------
# Mixed precision, distribution, compilation.

LEGACY_OR_NEW = {
    "new": lambda lr: tf.keras.optimizers.SGD(lr),
    "legacy": lambda lr: tf.keras.optimizers.legacy.SGD(lr),
}


@pytest.mark.parametrize("kind", sorted(LEGACY_OR_NEW))
def test_inside_loss_scale_optimizer_clips_unscaled_gradients(kind):
    """Gradients below the threshold stay unchanged; the 2**12-scaled ones would not."""
    x = np.ones((2, 4), np.float32)
    y = np.full((2, 1), 3.9, np.float32)
    var = tf.Variable(np.ones((4, 1), np.float32))
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(
        AGC(LEGACY_OR_NEW[kind](0.1), clip_factor=1.0), dynamic=False, initial_scale=2**12
    )

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, var) - y) ** 2)
            scaled = optimizer.get_scaled_loss(loss)
        grads = optimizer.get_unscaled_gradients(tape.gradient(scaled, [var]))
        optimizer.apply_gradients(zip(grads, [var]))

    step()
    # d loss / d w_i = 2 * (4 - 3.9) = 0.2; unit norm 0.4 < 1.0 * ||w|| = 2: unchanged.
    np.testing.assert_allclose(var.numpy().ravel(), [0.98] * 4, rtol=1e-6)
    assert int(optimizer.iterations.numpy()) == 1


@pytest.mark.parametrize("kind", sorted(LEGACY_OR_NEW))
def test_mixed_float16_compile_wraps_agc_in_loss_scale_optimizer(kind):
    x = np.ones((2, 4), np.float32)
    y = np.full((2, 1), 3.9, np.float32)
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = tf.keras.Input((4,))
        dense = tf.keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
        model = tf.keras.Model(inputs, dense(inputs))
        model.compile(AGC(LEGACY_OR_NEW[kind](0.1), clip_factor=0.1), "mse")
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, AGC)
    model.train_on_batch(x, y)
    # Unscaled gradient 0.2 per weight (unit norm 0.4) clipped to 0.1 * ||w|| = 0.2,
    # i.e. 0.1 per weight: w = 1 - 0.1 * 0.1. Unclipped would give 0.98.
    np.testing.assert_allclose(dense.kernel.numpy().ravel(), [0.99] * 4, rtol=2e-4)


def _dense_tanh_model(seed=1):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((6,))
    hidden = tf.keras.layers.Dense(5, activation="tanh")(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(hidden))


def _half_batch_gradients(model, x, y):
    """Gradients of the global-batch mse for each half of the batch (one replica's)."""
    halves = []
    for part in (slice(0, len(x) // 2), slice(len(x) // 2, len(x))):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x[part]) - y[part]) ** 2) / 2
        halves.append([g.numpy() for g in tape.gradient(loss, model.trainable_variables)])
    return halves


@pytest.mark.parametrize("kind", sorted(LEGACY_OR_NEW))
def test_mirrored_strategy_step_equals_single_device_step(kind, mirrored_strategy):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    lr, clip = 0.5, 0.01
    probe = _dense_tanh_model()
    initial = probe.get_weights()
    halves = _half_batch_gradients(probe, x, y)

    def keep(w):
        return [-1] if w.ndim > 1 else None

    # Single device, global batch 8: SGD on the clipped full-batch gradient.
    expected = [
        w - lr * np_agc(h0 + h1, w, clip, keep_axes=keep(w))
        for w, h0, h1 in zip(initial, *halves)
    ]
    # The wrong order, clipping each replica's gradient before the all-reduce.
    wrong = [
        w
        - lr * np_agc(h0, w, clip, keep_axes=keep(w))
        - lr * np_agc(h1, w, clip, keep_axes=keep(w))
        for w, h0, h1 in zip(initial, *halves)
    ]
    assert max(np.abs(a - b).max() for a, b in zip(expected, wrong)) > 1e-3

    assert mirrored_strategy.num_replicas_in_sync == 2
    with mirrored_strategy.scope():
        mirrored = _dense_tanh_model()
        mirrored.compile(AGC(LEGACY_OR_NEW[kind](lr), clip_factor=clip), "mse")
    mirrored.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(expected, mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_fit_with_jit_compile_equals_an_eager_loop():
    """XLA-compiled `fit` (AGC inside the compiled step) equals plain eager steps.

    (AGC under `tf.function` is also covered by the LossScaleOptimizer and the
    MirroredStrategy tests.)
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype(np.float32)
    y = rng.normal(size=(16, 3)).astype(np.float32)
    model = _dense_tanh_model()
    initial = model.get_weights()
    optimizer = AGC(tf.keras.optimizers.Adam(0.05), 0.01)
    for i in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x[8 * i : 8 * i + 8]) - y[8 * i : 8 * i + 8]) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    eager = model.get_weights()
    assert not np.allclose(eager[0], initial[0])

    jit_model = _dense_tanh_model()
    jit_model.compile(AGC(tf.keras.optimizers.Adam(0.05), 0.01), "mse", jit_compile=True)
    jit_model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(jit_model.optimizer.iterations.numpy()) == 2
    for a, b in zip(jit_model.get_weights(), eager):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# Serialization, saving, resuming.


def test_config_round_trip_and_registration():
    optimizer = AGC(
        tf.keras.optimizers.Adam(0.003, beta_1=0.8), clip_factor=0.02, eps=1e-4,
        exclude="head/",
    )
    assert tf.keras.utils.get_registered_name(type(optimizer)) == "larq_nobn>AGC"
    config = optimizer.get_config()
    assert config["clip_factor"] == 0.02 and config["eps"] == 1e-4
    restored = AGC.from_config(config)
    assert isinstance(restored, agc_lib.AGCOptimizer)
    assert isinstance(restored.inner_optimizer, tf.keras.optimizers.Adam)
    assert restored.inner_optimizer.beta_1 == pytest.approx(0.8)
    assert float(restored.learning_rate.numpy()) == pytest.approx(0.003)
    assert (restored.clip_factor, restored.eps, restored.exclude) == (0.02, 1e-4, "head/")

    legacy = AGC(lq.optimizers.Bop(threshold=1e-5), exclude=exclude_biases)
    serialized = tf.keras.optimizers.serialize(legacy)
    back = tf.keras.optimizers.deserialize(serialized)
    assert isinstance(back, agc_lib.LegacyAGCOptimizer)
    assert isinstance(back.inner_optimizer, lq.optimizers.Bop)
    assert float(back.threshold.numpy()) == pytest.approx(1e-5)  # hyperparameter proxy
    assert back.exclude is exclude_biases


def _resume_model():
    tf.keras.utils.set_random_seed(5)
    inputs = tf.keras.Input((6,))
    x = lq.layers.QuantDense(
        5, kernel_quantizer="ste_sign", input_quantizer="ste_sign",
        kernel_constraint="weight_clip", name="binary",
    )(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="head")(x))


@pytest.mark.parametrize(
    "kind,fmt",
    [("new", ".keras"), ("new", ".h5"), ("new", "savedmodel"), ("legacy", ".h5")],
)
def test_save_load_resume(kind, fmt, tmp_path):
    make = {
        "new": tf.keras.optimizers.Adam, "legacy": tf.keras.optimizers.legacy.Adam
    }[kind]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    model = _resume_model()
    model.compile(AGC(make(0.05), clip_factor=0.02, exclude="head/"), "mse")
    for _ in range(3):
        model.train_on_batch(x, y)
    path = str(tmp_path / ("model" + (fmt if fmt != "savedmodel" else "")))
    model.save(path)
    loaded = tf.keras.models.load_model(path)  # no custom_objects
    if fmt == "savedmodel":
        # Keras' SavedModel loader compiles a fresh optimizer; the state is in the
        # SavedModel's checkpoint (the AGC wrapper's checkpoint is the inner one's).
        status = loaded.load_weights(os.path.join(path, "variables", "variables"))
        status.expect_partial()  # the compiled metrics' state is not needed
    assert isinstance(loaded.optimizer, AGC)
    assert loaded.optimizer.exclude == "head/" and loaded.optimizer.clip_factor == 0.02
    assert int(loaded.optimizer.iterations.numpy()) == 3
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["new", "legacy"])
def test_checkpoint_is_interchangeable_with_the_bare_optimizer(kind, tmp_path):
    """AGC's checkpoint is the inner optimizer's: a bare one resumes from it."""
    make = {
        "new": tf.keras.optimizers.Adam, "legacy": tf.keras.optimizers.legacy.Adam
    }[kind]
    var = tf.Variable([1.0, -2.0, 3.0])
    optimizer = AGC(make(0.1))
    for g in ([0.3, -0.1, 0.2], [0.1, 0.1, -0.4]):
        optimizer.apply_gradients([(tf.constant(g), var)])
    prefix = tf.train.Checkpoint(var=var, opt=optimizer).save(str(tmp_path / "ckpt"))

    var2 = tf.Variable([0.0, 0.0, 0.0])
    bare = make(0.1)
    tf.train.Checkpoint(var=var2, opt=bare).restore(prefix)
    assert int(bare.iterations.numpy()) == 2
    # A gradient below the clipping threshold: identical updates iff the slots match.
    small = tf.constant([1e-3, -2e-3, 1e-3])
    optimizer.apply_gradients([(small, var)])
    bare.apply_gradients([(small, var2)])
    np.testing.assert_array_equal(var.numpy(), var2.numpy())
    fresh = tf.Variable([1.0, -2.0, 3.0])
    make(0.1).apply_gradients([(small, fresh)])
    assert not np.allclose(fresh.numpy(), var.numpy())


# --------------------------------------------------------------------------------------
# Proxies for Keras callbacks.


@pytest.mark.parametrize("kind", sorted(LEGACY_OR_NEW))
def test_learning_rate_and_iterations_proxy_for_callbacks(kind, tmp_path):
    optimizer = AGC(LEGACY_OR_NEW[kind](0.4))
    inner = optimizer.inner_optimizer
    optimizer.learning_rate = 0.2
    assert float(tf.keras.backend.get_value(inner.learning_rate)) == pytest.approx(0.2)
    assert float(tf.keras.backend.get_value(optimizer.lr)) == pytest.approx(0.2)
    model = _dense_tanh_model()
    model.compile(optimizer, "mse")
    x = np.zeros((4, 6), np.float32)
    y = np.zeros((4, 3), np.float32)
    history = model.fit(
        x, y, batch_size=2, epochs=2, verbose=0,
        callbacks=[
            tf.keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)),
            tf.keras.callbacks.TensorBoard(str(tmp_path), profile_batch=0),
        ],
    )
    assert history.history["lr"] == pytest.approx([0.1, 0.05])
    assert float(tf.keras.backend.get_value(inner.learning_rate)) == pytest.approx(0.05)
    assert optimizer.iterations is inner.iterations
    assert int(optimizer.iterations.numpy()) == 4
    assert os.listdir(tmp_path)


def test_each_api_reads_and_writes_the_wrapped_optimizer():
    var = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    legacy = AGC(tf.keras.optimizers.legacy.Adam(0.1))
    inner = legacy.inner_optimizer
    legacy.clipnorm = 2.5  # a settable attribute of the legacy API
    legacy.beta_1 = 0.5  # a hyperparameter, through `_hyper` / `_set_hyper`
    assert (inner.clipnorm, float(tf.keras.backend.get_value(inner.beta_1))) == (2.5, 0.5)
    legacy.apply_gradients([(tf.ones_like(var), var)])
    assert legacy.get_slot_names() == ["m", "v"]
    assert legacy.get_slot(var, "m") is inner.get_slot(var, "m")
    assert [id(w) for w in legacy.weights] == [id(w) for w in inner.weights] != []

    new = AGC(tf.keras.optimizers.Adam(0.1, use_ema=True))
    new.ema_momentum = 0.5  # a settable attribute of the current API
    assert new.inner_optimizer.ema_momentum == 0.5
    new.apply_gradients([(tf.ones_like(var), var)])
    assert [id(v) for v in new.variables] == [id(v) for v in new.inner_optimizer.variables]
    assert len(new.variables) > 1

    with pytest.raises(TypeError, match="LegacyAGCOptimizer wraps.*AGC\\(\\.\\.\\.\\)"):
        agc_lib.LegacyAGCOptimizer(tf.keras.optimizers.Adam())
    with pytest.raises(TypeError, match="AGCOptimizer wraps.*legacy"):
        agc_lib.AGCOptimizer(tf.keras.optimizers.legacy.Adam())


# --------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize("value", [0, -0.5, float("nan"), float("inf")])
@pytest.mark.parametrize("name", ["clip_factor", "eps"])
def test_rejects_non_positive_factors(name, value):
    with pytest.raises(ValueError, match=name) as info:
        AGC(tf.keras.optimizers.SGD(), **{name: value})
    assert repr(float(value)) in str(info.value)


def test_rejects_bad_arguments():
    with pytest.raises(TypeError, match="clip_factor.*'big'"):
        AGC("sgd", clip_factor="big")
    for bad in (42, tf.keras.layers.Dense(2), None):
        pattern = r"(?s)tf\.keras\.optimizers.*got .*" + type(bad).__name__
        with pytest.raises(TypeError, match=pattern):
            AGC(bad)
    with pytest.raises(ValueError, match="no_such_optimizer"):
        AGC("no_such_optimizer")
    lso = tf.keras.mixed_precision.LossScaleOptimizer(tf.keras.optimizers.SGD())
    with pytest.raises(TypeError, match="LossScaleOptimizer\\(AGC"):
        AGC(lso)
    with pytest.raises(TypeError, match="exclude.*3"):
        AGC("sgd", exclude=3)
    with pytest.raises(ValueError, match=r"regex.*'\('"):
        AGC("sgd", exclude="(")
    with pytest.raises(TypeError, match="unit_axes.*3"):
        AGC("sgd", unit_axes=3)
    var = tf.Variable(tf.zeros((2, 3)))
    with pytest.raises(ValueError, match="Axis 5"):
        agc_lib.set_unit_axes(var, (5,))
    with pytest.raises(TypeError, match="axes"):
        agc_lib.set_unit_axes(var, ("a",))
    with pytest.raises(ValueError, match="at least one"):
        agc_lib.exclude_layers()
    with pytest.raises(TypeError, match="3"):
        agc_lib.exclude_layers(3)
    with pytest.raises(TypeError, match="tf.keras.Model"):
        agc_lib.exclude_head("model")
    empty = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Flatten()])
    with pytest.raises(ValueError, match="no Dense layer"):
        agc_lib.exclude_head(empty)


def test_scaled_ws_gain_is_clipped_per_output_channel():
    # VITA-Group/BNN_NoBN: gain (out, 1, 1, 1), agc.py unitwise_norm over dims 1..3,
    # so each channel's gain is its own unit. Gains [1, 2], clip 0.1 -> max norms
    # 0.1 and 0.2; gradients [0.5, 0.05]: the first (|0.5| >= 0.1) becomes 0.1, the
    # second (|0.05| < 0.2) stays. (As one vector: max 0.1 * sqrt(5) = 0.2236 <
    # ||g|| = 0.5025, both would be scaled by 0.445.)
    import larq_nobn

    layer = larq_nobn.ScaledWSQuantConv2D(2, 1, use_bias=False)
    layer.build((None, 4, 4, 3))
    assert agc_lib.default_unit_axes(layer.gain) == ()
    layer.gain.assign([1.0, 2.0])
    grad = tf.constant([0.5, 0.05])
    AGC(tf.keras.optimizers.SGD(1.0), clip_factor=0.1).apply_gradients(
        [(grad, layer.gain)]
    )
    np.testing.assert_allclose(layer.gain.numpy(), [1.0 - 0.1, 2.0 - 0.05], rtol=1e-6)


# --------------------------------------------------------------------------------------
# Coupled weight decay after the clip (torch's Adam(weight_decay) after
# adaptive_clip_grad in VITA-Group/BNN_NoBN train.py).


@pytest.mark.parametrize("kind", sorted(LEGACY_OR_NEW))
def test_coupled_decay_is_added_after_the_clip(kind):
    clipped = tf.Variable([3.0, 4.0], name="a_gain")  # ||w|| = 5: max norm 0.5
    small = tf.Variable([1.0, 0.0], name="b_gain")  # max norm 0.1
    outside = tf.Variable([2.0, 0.0], name="c_slope")  # max norm 0.2, not decayed
    optimizer = AGC(
        LEGACY_OR_NEW[kind](1.0),
        clip_factor=0.1,
        coupled_weight_decay=0.1,
        decay_variables="gain",
    )
    grads = [[30.0, 40.0], [0.01, 0.0], [0.01, 0.0]]
    optimizer.apply_gradients(zip(map(tf.constant, grads), [clipped, small, outside]))
    # a: [30, 40] (norm 50) clipped to norm 0.5: [0.3, 0.4]; + 0.1 * [3, 4] = [0.6, 0.8].
    # (Decay clipped with the gradient, as an L2 loss term would be: [2.7, 3.6].)
    np.testing.assert_allclose(clipped.numpy(), [2.4, 3.2], rtol=1e-6)
    # b: 0.01 < 0.1, unclipped; + 0.1 * [1, 0] = [0.11, 0].
    np.testing.assert_allclose(small.numpy(), [0.89, 0.0], rtol=1e-6)
    # c: unclipped, no decay.
    np.testing.assert_allclose(outside.numpy(), [1.99, 0.0], rtol=1e-6)


def test_coupled_decay_of_excluded_and_quantized_variables():
    # Decay needs no clipping: an excluded variable is decayed when selected; a larq
    # quantized kernel decays its latent (full-precision) weight.
    layer = lq.layers.QuantDense(
        1, kernel_quantizer="ste_sign", use_bias=False, name="binary",
        kernel_initializer=tf.keras.initializers.Constant(0.5),
    )
    layer.build((None, 2))
    head = tf.Variable([2.0], name="head/bias")
    optimizer = AGC(
        tf.keras.optimizers.SGD(1.0), clip_factor=0.1, exclude="head/",
        coupled_weight_decay=0.2, decay_variables=None,
    )
    optimizer.apply_gradients(
        [(tf.constant([[0.0], [0.0]]), layer.kernel), (tf.constant([1.0]), head)]
    )
    np.testing.assert_allclose(layer.kernel.latent_variable.numpy(), [[0.4], [0.4]])
    np.testing.assert_allclose(head.numpy(), [2.0 - (1.0 + 0.4)], rtol=1e-6)


@pytest.mark.parametrize("kind", sorted(LEGACY_OR_NEW))
def test_coupled_decay_inside_loss_scale_optimizer_is_unscaled(kind):
    var = tf.Variable(np.ones((4, 1), np.float32), name="kernel")
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(
        AGC(LEGACY_OR_NEW[kind](0.1), clip_factor=1.0, coupled_weight_decay=0.5),
        dynamic=False,
        initial_scale=2**12,
    )
    x = np.ones((2, 4), np.float32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, var) - 3.9) ** 2)
            scaled = optimizer.get_scaled_loss(loss)
        grads = optimizer.get_unscaled_gradients(tape.gradient(scaled, [var]))
        optimizer.apply_gradients(zip(grads, [var]))

    step()
    # Gradient 0.2 per element (unclipped: 0.4 < 2) plus 0.5 * 1: 1 - 0.1 * 0.7.
    np.testing.assert_allclose(var.numpy().ravel(), [0.93] * 4, rtol=1e-6)


def test_mirrored_coupled_decay_is_added_once_after_the_all_reduce(mirrored_strategy):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    lr, clip, wd = 0.5, 0.01, 0.3
    probe = _dense_tanh_model()
    initial = probe.get_weights()
    halves = _half_batch_gradients(probe, x, y)
    kernels = [w.ndim == 2 for w in initial]  # decay_variables="kernel"
    expected = [
        w
        - lr
        * (np_agc(h0 + h1, w, clip, keep_axes=[-1] if w.ndim > 1 else None) + wd * w * k)
        for w, h0, h1, k in zip(initial, *halves, kernels)
    ]
    with mirrored_strategy.scope():
        mirrored = _dense_tanh_model()
        mirrored.compile(
            AGC(
                tf.keras.optimizers.SGD(lr),
                clip_factor=clip,
                coupled_weight_decay=wd,
                decay_variables="kernel",
            ),
            "mse",
        )
    mirrored.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(expected, mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_coupled_decay_config_round_trip_and_validation():
    optimizer = AGC(
        tf.keras.optimizers.Adam(1e-3),
        clip_factor=0.02,
        coupled_weight_decay=1e-5,
        decay_variables="kernel|gain",
    )
    config = tf.keras.optimizers.serialize(optimizer)
    restored = tf.keras.optimizers.deserialize(config)
    assert isinstance(restored, agc_lib.AGCOptimizer)
    assert (restored.coupled_weight_decay, restored.decay_variables) == (
        1e-5,
        "kernel|gain",
    )
    legacy = AGC(
        tf.keras.optimizers.legacy.SGD(0.1),
        coupled_weight_decay=0.5,
        decay_variables=exclude_biases,
    )
    back = AGC.from_config(legacy.get_config())
    assert isinstance(back, agc_lib.LegacyAGCOptimizer)
    assert back.coupled_weight_decay == 0.5 and back.decay_variables is exclude_biases
    # Configs written before the decay existed restore without it.
    old = optimizer.get_config()
    del old["coupled_weight_decay"], old["decay_variables"]
    assert AGC.from_config(old).coupled_weight_decay == 0.0
    with pytest.raises(ValueError, match="coupled_weight_decay.*-0.1"):
        AGC("adam", coupled_weight_decay=-0.1)
    with pytest.raises(TypeError, match="coupled_weight_decay"):
        AGC("adam", coupled_weight_decay="1e-5")
    with pytest.raises(ValueError, match="decay_variables.*not a valid regex"):
        AGC("adam", decay_variables="(")
    with pytest.raises(TypeError, match="decay_variables"):
        AGC("adam", decay_variables=3)
