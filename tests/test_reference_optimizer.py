"""The optimizer step of the papers' reference code (issue 16, items 2 and 5, and (e)).

- `larq_nobn.optimizers.Adam` against a closed-form `torch.optim.Adam` in numpy
  (epsilon added after the bias correction), bare, inside `AGC`, under `tf.function`,
  `tf.distribute` and a `LossScaleOptimizer`, and through a `.keras` round trip.
- Its restart every `reset_every` steps (gushan/ABN re-creates Adam every epoch):
  zero moments and a fresh bias correction at each epoch start, exact resume from a
  mid-epoch checkpoint.
- (e) against the golden fixtures of the authors' code: the recipe's optimizer fed
  the reference's own gradients reproduces the reference's step (end to end, from
  the zoo's own gradients, every variant: tests/test_reference_equivalence.py).
"""

from larq_nobn.optimizers import AGC, Adam
from larq_nobn.training.config import TrainConfig, config_from_recipe
from larq_nobn.training.optim import ADAM_EPSILON, make_optimizer
from larq_nobn.zoo.reference_weights import (
    load_reference_weights,
    reference_parameters,
    to_reference_layout,
)

import numpy as np
import pytest
import tensorflow as tf
from reference.equivalence import ZOO_MODELS, load_fixture, recipe_optimizer, step_error

LR = 1e-3
EPS = 1e-8
# Per step: small gradients (near and below the epsilon scale) and one large one.
GRADS = np.array(
    [
        [1e-9, 3e-8, -2e-7, 0.5],
        [-2e-9, 1e-8, 4e-7, -0.25],
        [5e-9, -6e-8, 1e-7, 0.125],
        [3e-9, 2e-8, -1e-7, 0.3],
        [-1e-9, 5e-8, 2e-7, -0.1],
    ],
    np.float64,
)
W0 = np.array([0.5, -0.25, 1.0, 2.0], np.float64)


def adam_reference(grads, placement="torch", reset_every=None, lr=LR, eps=EPS):
    """The weights after each step of Adam in closed form (numpy, float64)."""
    w, m, v, out = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), []
    for i, g in enumerate(grads):
        t = i + 1 if reset_every is None else i % reset_every + 1
        if t == 1:
            m, v = np.zeros_like(W0), np.zeros_like(W0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        m_hat, c2 = m / (1 - 0.9**t), 1 - 0.999**t
        if placement == "torch":  # torch.optim.Adam
            w = w - lr * m_hat / (np.sqrt(v / c2) + eps)
        else:  # tf.keras.optimizers.Adam
            w = w - lr * np.sqrt(c2) / (1 - 0.9**t) * m / (np.sqrt(v) + eps)
        out.append(w.copy())
    return out


def _steps(optimizer, grads, loss_scaled=False):
    variable = tf.Variable(W0.astype(np.float32))

    @tf.function
    def step(g):
        if loss_scaled:  # as a loss-scaled training step computes the gradient
            (g,) = optimizer.get_unscaled_gradients([g * optimizer.loss_scale])
        optimizer.apply_gradients([(g, variable)])

    out = []
    for g in grads:
        step(tf.constant(g, tf.float32))
        out.append(variable.numpy().astype(np.float64))
    return out


def _assert_steps(got, expected):
    for step, (a, b) in enumerate(zip(got, expected), 1):
        # float32 weights: the rounding of w (|w| <= 2) and 1e-5 of the step.
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * LR + 5e-7, err_msg=step)


def test_torch_placement_is_torch_adam_steps_1_to_3():
    expected = adam_reference(GRADS[:3])
    _assert_steps(_steps(Adam(LR), GRADS[:3]), expected)
    # The small gradients' first steps differ between the placements by far more
    # than the tolerance (tf-keras' effective epsilon is ~32x larger at step 1).
    keras = adam_reference(GRADS[:3], placement="keras")
    assert np.abs(keras[0] - expected[0])[:3].min() > 1e-5
    _assert_steps(_steps(Adam(LR, epsilon_placement="keras"), GRADS[:3]), keras)


def test_torch_placement_inside_agc_distributed_and_mixed_precision(
    mirrored_strategy,
):
    expected = adam_reference(GRADS[:3])
    # AGC with a clip factor that never clips here: the step is Adam's.
    agc = AGC(Adam(LR), clip_factor=1e6)
    _assert_steps(_steps(agc, GRADS[:3]), expected)
    loss_scaled = tf.keras.mixed_precision.LossScaleOptimizer(
        AGC(Adam(LR), clip_factor=1e6), dynamic=False, initial_scale=1024.0
    )
    _assert_steps(_steps(loss_scaled, GRADS[:3], loss_scaled=True), expected)
    with mirrored_strategy.scope():
        variable = tf.Variable(W0.astype(np.float32))
        optimizer = AGC(Adam(LR), clip_factor=1e6)

    @tf.function
    def step(g):
        # Each of the 2 replicas contributes half: their sum is the gradient.
        def replica():
            optimizer.apply_gradients([(g / 2, variable)])

        mirrored_strategy.run(replica)

    got = []
    for g in GRADS[:3]:
        step(tf.constant(g, tf.float32))
        got.append(variable.numpy().astype(np.float64))
    _assert_steps(got, expected)


def test_keras_round_trip_needs_no_custom_objects(tmp_path):
    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="classifier")(inputs))
    optimizer = AGC(Adam(LR, epsilon_placement="torch", reset_every=3), clip_factor=0.1)
    model.compile(optimizer, loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    inner = loaded.optimizer.inner_optimizer
    assert type(inner) is Adam
    assert (inner.epsilon, inner.epsilon_placement, inner.reset_every) == (
        EPS, "torch", 3
    )
    assert int(loaded.optimizer.iterations.numpy()) == 1
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="epsilon_placement.*torch, keras.*'pytorch'"):
        Adam(epsilon_placement="pytorch")
    with pytest.raises(ValueError, match="reset_every.*0"):
        Adam(reset_every=0)
    with pytest.raises(ValueError, match="adam_epsilon_placement 'after'"):
        TrainConfig(adam_epsilon_placement="after")


# ---- restart every epoch (gushan/ABN re-creates Adam at every epoch) -----------------


def test_restart_zeroes_moments_and_bias_correction_each_epoch():
    optimizer = Adam(LR, reset_every=2)
    variable = tf.Variable(W0.astype(np.float32))
    got = []
    for i, g in enumerate(GRADS):
        optimizer.apply_gradients([(tf.constant(g, tf.float32), variable)])
        got.append(variable.numpy().astype(np.float64))
        if i % 2 == 1:  # the epoch's last step: the next one starts afresh
            assert int(optimizer.moment_step()) == 0
    _assert_steps(got, adam_reference(GRADS, reset_every=2))
    assert int(optimizer.iterations) == 5  # the step count keeps counting
    # The first step of epoch 3 (step 5) is a fresh Adam's first step from there.
    fresh = Adam(LR)
    start = tf.Variable(got[3].astype(np.float32))
    fresh.apply_gradients([(tf.constant(GRADS[4], tf.float32), start)])
    np.testing.assert_allclose(got[4], start.numpy(), rtol=0, atol=1e-7)
    for slots in ("_momentums", "_velocities"):
        np.testing.assert_array_equal(
            getattr(optimizer, slots)[0].numpy(), getattr(fresh, slots)[0].numpy()
        )
    # Without the restart the moments carry over: the steps differ.
    assert np.abs(adam_reference(GRADS)[4] - got[4]).max() > 1e-5


def test_restart_resumes_exactly_from_a_mid_epoch_checkpoint(tmp_path):
    def run(steps, restore=None):
        variable = tf.Variable(W0.astype(np.float32))
        optimizer = Adam(LR, reset_every=3)
        optimizer.build([variable])
        checkpoint = tf.train.Checkpoint(variable=variable, optimizer=optimizer)
        if restore:
            checkpoint.restore(restore).assert_consumed()
            assert int(optimizer.iterations) == 4 and int(optimizer.moment_step()) == 1
        for g in steps:
            optimizer.apply_gradients([(tf.constant(g, tf.float32), variable)])
        return variable, checkpoint

    uninterrupted, _ = run(GRADS)
    _, checkpoint = run(GRADS[:4])  # epoch 2, one step in
    path = checkpoint.save(str(tmp_path / "ckpt"))
    resumed, _ = run(GRADS[4:], restore=path)
    np.testing.assert_array_equal(resumed.numpy(), uninterrupted.numpy())


def test_recipes_and_defaults_use_torch_adam():
    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="classifier")(inputs))

    def adam_of(config):
        optimizer = make_optimizer(config, 20, model, steps_per_epoch=5)
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        assert type(inner) is Adam and inner.epsilon == ADAM_EPSILON == EPS
        return inner.epsilon_placement, inner.reset_every

    assert adam_of(config_from_recipe("abn_paper")) == ("torch", 5)
    off = config_from_recipe("abn_paper", adam_reset_each_epoch=False)
    assert adam_of(off) == ("torch", None)
    for name in ("bnn_nobn_reactnet_a", "bnn_nobn_reactnet18_cifar"):
        assert adam_of(config_from_recipe(name)) == ("torch", None)
    assert adam_of(TrainConfig()) == ("torch", None)
    assert adam_of(TrainConfig(adam_epsilon_placement="keras")) == ("keras", None)


# ---- (e): the weights after one step against the authors' code ---------------------

TOLERANCE = 1e-4


def _step_from_reference_gradients(name, placement="torch"):
    """Relative step errors of the recipe's optimizer applied to the reference's own
    gradients (every variable whose gradients the fixture stores whole)."""
    store = load_fixture(name)
    build, architecture = ZOO_MODELS[name]
    weights = {k[7:]: v for k, v in store.items() if k.startswith("weight/")}
    model, as_gradients = build(), build()
    load_reference_weights(model, weights, architecture=architecture)
    grads = {k: store.get(f"grad/{k}", np.zeros_like(v)) for k, v in weights.items()}
    load_reference_weights(as_gradients, grads, architecture=architecture)
    params, _ = reference_parameters(model, architecture=architecture)
    whole = [p for p in params if f"grad/{p.name}" in store]
    sampled = {p.variable(model).ref() for p in params if p not in whole}
    pairs = [
        (tf.convert_to_tensor(g), v)
        for v, g in zip(model.trainable_variables, as_gradients.trainable_variables)
        if v.ref() not in sampled
    ]
    before = {p.name: p.variable(model).numpy() for p in params}
    recipe_optimizer(store, model, placement).apply_gradients(pairs)
    applied = {v.ref() for _, v in pairs}
    return {
        p.name: step_error(
            store, p,
            to_reference_layout(p, p.variable(model).numpy() - before[p.name]),
            weights[p.name],
        )
        for p in whole
        if p.variable(model).ref() in applied and f"update/{p.name}" in store
    }


@pytest.mark.parametrize(
    "name",
    ["binarynet_abn", "resnet18_abn_paper_bn", "reactnet_a_bf"],
)
def test_recipe_step_on_reference_gradients_is_the_reference_step(name):
    errors = _step_from_reference_gradients(name)
    assert len(errors) >= 13
    if name == "reactnet_a_bf":  # its (e) difference came from the gradients
        assert "feature.11.binary_pw.weight" in errors
    worst = {k: v for k, v in errors.items() if v > TOLERANCE}
    assert not worst, worst


def test_keras_placement_misses_the_reference_step():
    errors = _step_from_reference_gradients("binarynet_abn", placement="keras")
    assert max(errors.values()) > 100 * TOLERANCE


def test_cli_options_set_the_adam_fields():
    from larq_nobn.cli import build_parser
    from larq_nobn.cli.options import config_fields
    from larq_nobn.cli.train import recipe_config

    def config(*flags):
        args = build_parser().parse_args(["train", "--recipe", "abn_paper", *flags])
        explicit = {k: v for k, v in vars(args).items() if k in config_fields()}
        return recipe_config(explicit.pop("recipe"), explicit)

    assert config().adam_reset_each_epoch is True
    off = config("--no-adam-reset-each-epoch", "--adam-epsilon-placement", "keras")
    assert (off.adam_reset_each_epoch, off.adam_epsilon_placement) == (False, "keras")


def test_fit_restarts_the_recipes_adam_at_every_epoch_start():
    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="classifier")(inputs))
    optimizer = make_optimizer(
        config_from_recipe("abn_paper"), 6, model, steps_per_epoch=3
    )
    model.compile(optimizer, loss="mse")
    seen = []
    record = tf.keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(int(optimizer.moment_step())),
        on_train_batch_end=lambda batch, logs: seen.append(int(optimizer.moment_step())),
    )
    x, y = np.ones((12, 3), np.float32), np.ones((12, 2), np.float32)
    model.fit(x, y, batch_size=4, epochs=2, callbacks=[record], verbose=0)
    assert seen == [0, 1, 2, 0, 0, 1, 2, 0]  # epoch start, after batches 1, 2, 3
    assert int(optimizer.iterations) == 6
