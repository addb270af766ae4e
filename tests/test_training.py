"""Tests of `larq_nobn.training`: configs and recipes, distillation, the two-step weight
helpers, atomic checkpoints, graceful interruption, resume, seeds and tf.distribute.

Everything here uses tiny models and synthetic data (a few hundred 8x8 images), so the
module runs in well under a minute; the command line is tested in `test_cli.py`.
"""

import json
import math
import os
import signal

from larq_nobn import training
from larq_nobn.blocks import WEIGHT_DECAY_REGEX
from larq_nobn.training import (
    AtomicCheckpoint,
    Data,
    Distiller,
    GracefulInterrupt,
    TrainConfig,
    TrainingInterrupted,
    clone_with_real_weights,
    copy_weights_by_name,
    distillation_loss,
    read_checkpoint_state,
    save_checkpoint,
)
from larq_nobn.training.optim import EpochLinearDecay

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

SHAPE = (8, 8, 1)
CLASSES = 3


def tiny_model():
    """A BinaryNet-like toy: fp conv, BN, binary conv (binary input, weights), head."""
    inputs = tf.keras.Input(SHAPE)
    x = tf.keras.layers.Conv2D(4, 3, use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = lq.layers.QuantConv2D(
        8,
        3,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        name="bconv",
    )(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(CLASSES, name="classifier")(x)
    return tf.keras.Model(inputs, outputs, name="tiny")


def tiny_data(samples=96, batch_size=16, seed=0):
    """Learnable synthetic data: the class is given by the sign pattern of the mean."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(samples, *SHAPE)).astype("float32")
    labels = (images[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64")
    labels += (images[:, 4:].mean(axis=(1, 2, 3)) > 0.2).astype("int64")
    train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return Data(
        train=train,
        validation=None,
        test=train,
        input_shape=SHAPE,
        num_classes=CLASSES,
        steps_per_epoch=math.ceil(samples / batch_size),
    )


# --------------------------------------------------------------------------------------
# Configuration and recipes
# --------------------------------------------------------------------------------------
def test_config_json_round_trip():
    config = TrainConfig(
        model="resnet18",
        variant="abn_paper",
        norm="abn",
        epochs=7,
        seeds=[0, 1],
        schedule="cosine",
        agc_clip_factor="0.05",
        output="/tmp/x",
    )
    assert config.agc_clip_factor == 0.05
    again = TrainConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(config.to_json())["variant"] == "abn_paper"


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(model="vgg"), "binarynet, reactnet18, binary_resnet18, reactnet_a, resnet18"),
        (dict(norm="gn"), "bn, abn, bf, none"),
        (dict(schedule="step"), "constant, linear, linear_epoch, cosine"),
        (dict(epochs=0), "epochs"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(model="reactnet_a", width_multiplier=2.0), "binarynet, reactnet18"),
        (dict(variant="abn_paper"), "deprecated model 'resnet18' only"),
        (dict(model="reactnet18", variant="reactnet"), "'reactnet18' and 'binary_resnet18'"),
        (dict(agc_clip_factor=-0.1), "agc_clip_factor"),
        (dict(agc_clip_factor="sometimes"), "sometimes"),
        (dict(validation_split=1.0), "validation_split"),
        (dict(seeds=[1, 1]), "duplicates"),
        (dict(recipe="nope"), "abn_paper"),
        (dict(strategy="tpu"), "default, mirrored, multi_worker"),
        (dict(augment="yes"), "augment"),
        (dict(jit_compile=1), "jit_compile"),
        (dict(two_step=True, weights="real"), "two_step"),
        (dict(image_size=0), "`image_size` must be an integer >= 1, got 0"),
        (dict(image_size=31.5), "`image_size` must be an integer >= 1, got 31.5"),
        (dict(pad_values=0.5), "Unknown pad_values 0.5: accepted values are 1.0"),
    ],
)
def test_config_rejects_bad_values(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        TrainConfig(**changes)


def test_image_size_and_pad_values_reach_the_data_and_the_zoo():
    """`image_size=32` resizes Fashion-MNIST's 28x28 images for every split and the
    model is built for 32x32; `pad_values=0.0` reaches every binary convolution."""
    config = TrainConfig(image_size=32, pad_values=0, batch_size=8, max_train_samples=8,
                         max_test_samples=8, width_multiplier=0.0625)
    assert config.pad_values == 0.0 and isinstance(config.pad_values, float)
    inputs = training.load_data(config)
    assert inputs.input_shape == (32, 32, 1)
    for split in (inputs.train, inputs.test):
        images, _ = next(iter(split))
        assert tuple(images.shape) == (8, 32, 32, 1)
    model = training.build_model(config, inputs.input_shape, inputs.num_classes)
    assert model.input_shape == (None, 32, 32, 1)
    default = training.build_model(config.replace(pad_values=1.0), (32, 32, 1), 10)
    # the binary convolutions: padded with +1 by default (the float stem: zeros)
    binary = [i for i, layer in enumerate(default.layers)
              if getattr(layer, "pad_values", None) == 1.0]
    assert len(binary) >= 5  # at least BinaryNet's five binary 3x3 convolutions
    assert all(model.layers[i].pad_values == 0.0 for i in binary)
    # The memory check counts the resized images: 32^2 / 28^2 more input per batch.
    small, large = (training.estimate_memory(config.replace(image_size=size))
                    for size in (28, 32))
    assert large.activations > small.activations


def test_resnet18_width_multiplier_reaches_the_zoo():
    """ReActNet-18 at width 0.25: stage widths 64-128-256-512 become 16-32-64-128, and
    the run's metrics record the width (`resolved_width_multiplier`)."""
    config = TrainConfig(model="reactnet18", width_multiplier=0.25, norm="bn")
    assert config.resolved_width_multiplier == 0.25
    assert TrainConfig(model="reactnet18").resolved_width_multiplier is None
    model = training.build_model(config, (28, 28, 1), 10)
    widths = {
        layer.filters
        for layer in model.layers
        if isinstance(layer, lq.layers.QuantConv2D) and layer.kernel_size == (3, 3)
    }
    assert max(widths) == 128 and 16 in widths


def test_deprecated_resnet18_model_builds_the_new_builders_model():
    """`model="resnet18"` with a variant still trains, warning and naming the new
    model; it builds the same layers as the model that replaces it."""
    kwargs = dict(norm="abn", width_multiplier=0.125)
    new = training.build_model(TrainConfig(model="binary_resnet18", **kwargs), (32, 32, 3), 10)
    old_config = TrainConfig(model="resnet18", variant="abn_paper", **kwargs)
    with pytest.warns(FutureWarning, match=r"use zoo\.BinaryResNet18.*'binary_resnet18'"):
        old = training.build_model(old_config, (32, 32, 3), 10)
    assert [layer.name for layer in old.layers] == [layer.name for layer in new.layers]
    assert old.count_params() == new.count_params()
    assert any(layer.name == "head_tanh" for layer in new.layers)  # not ReActNet-18


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="colour"):
        TrainConfig.from_dict({"model": "binarynet", "colour": "red"})


def test_agc_defaults_on_for_bf_only():
    from larq_nobn.zoo import reactnet

    assert TrainConfig(norm="bn").resolved_agc_clip_factor == 0.0
    assert TrainConfig(norm="abn").resolved_agc_clip_factor == 0.0
    bf = TrainConfig(model="reactnet_a", norm="bf")
    assert bf.resolved_agc_clip_factor == reactnet.AGC_CLIP_FACTOR
    assert TrainConfig(norm="bf", agc_clip_factor="off").resolved_agc_clip_factor == 0.0
    assert TrainConfig(norm="bf", agc_clip_factor=0).resolved_agc_clip_factor == 0.0
    assert TrainConfig(norm="bn", agc_clip_factor=0.1).resolved_agc_clip_factor == 0.1


def test_make_optimizer_wraps_agc_and_excludes_head():
    from larq_nobn.optimizers import AGC

    model = tiny_model()
    plain = training.make_optimizer(TrainConfig(norm="bn"), 10, model)
    assert not isinstance(plain, AGC)
    clipped = training.make_optimizer(TrainConfig(norm="bf"), 10, model)
    assert isinstance(clipped, AGC)
    assert clipped.clip_factor == TrainConfig(norm="bf").resolved_agc_clip_factor
    # Huge gradients: every variable but the classifier's is clipped.
    variables = model.trainable_variables
    grads = [tf.ones_like(v) * 1e3 for v in variables]
    for grad, variable in clipped.clip_gradients(list(zip(grads, variables))):
        unchanged = np.allclose(tf.convert_to_tensor(grad).numpy(), 1e3)
        assert unchanged == variable.name.startswith("classifier/"), variable.name


def test_reference_linear_schedule_per_epoch():
    """LambdaLR(1 - epoch / epochs) stepped before each epoch (BNN_NoBN train.py):
    epoch e (0-based) trains at lr * (1 - (e + 1) / epochs)."""
    config = training.config_from_recipe("bnn_nobn_reactnet_a")
    steps = 5005  # ceil(1,281,167 / 256)
    schedule = training.make_learning_rate(config, 256 * steps, steps_per_epoch=steps)
    by_step = {
        0: 5e-4 * 255 / 256,  # epoch 0
        steps - 1: 5e-4 * 255 / 256,  # still epoch 0
        steps: 5e-4 * 254 / 256,  # epoch 1
        127 * steps: 2.5e-4,  # epoch 127: 1 - 128 / 256
        255 * steps - 1: 5e-4 / 256,  # last step of epoch 254
        255 * steps: 0.0,  # epoch 255, the last: lr 0
        256 * steps - 1: 0.0,
    }
    for step, expected in by_step.items():
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-6, abs=1e-12), step
    # steps_per_epoch defaults to total_steps // epochs.
    small = training.make_learning_rate(
        TrainConfig(learning_rate=0.1, schedule="linear_epoch", epochs=4), 20
    )
    np.testing.assert_allclose(
        [float(small(s)) for s in (0, 4, 5, 10, 15, 19)],
        [0.075, 0.075, 0.05, 0.025, 0.0, 0.0],
        atol=1e-8,
    )
    restored = tf.keras.optimizers.schedules.deserialize(
        tf.keras.optimizers.schedules.serialize(small)
    )
    assert isinstance(restored, EpochLinearDecay)
    assert (restored.steps_per_epoch, restored.epochs) == (5, 4)
    with pytest.raises(ValueError, match="steps_per_epoch.*0"):
        EpochLinearDecay(0.1, 0, 4)


def test_learning_rate_schedules():
    config = TrainConfig(learning_rate=0.1, schedule="linear")
    linear = training.make_learning_rate(config, 100)
    np.testing.assert_allclose(
        [float(linear(s)) for s in (0, 50, 100, 150)], [0.1, 0.05, 0.0, 0.0], atol=1e-7
    )
    cosine = training.make_learning_rate(config.replace(schedule="cosine"), 100)
    np.testing.assert_allclose(
        [float(cosine(s)) for s in (0, 50, 100)], [0.1, 0.05, 0.0], atol=1e-7
    )
    assert training.make_learning_rate(config.replace(schedule="constant"), 100) == 0.1


def test_recipes_are_valid_and_documented():
    assert {"abn_paper", "bnn_nobn_reactnet_a", "bnn_nobn_reactnet18_cifar"} <= set(
        training.RECIPES
    )
    for name, recipe in training.RECIPES.items():
        assert recipe.name == name
        assert len(recipe.description) > 80 and recipe.references
        for model in recipe.models:
            config = training.config_from_recipe(name, model=model)
            assert config.recipe == name and config.model == model
            assert TrainConfig.from_json(config.to_json()) == config

    abn = training.config_from_recipe("abn_paper")
    assert (abn.model, abn.width_multiplier, abn.batch_size, abn.epochs) == (
        "binarynet",
        3.0,
        256,
        200,
    )
    assert (abn.optimizer, abn.learning_rate, abn.schedule) == (
        "adam",
        1e-3,
        "constant",
    )
    # main_binary.py: seed_value = 2020; no weight decay in the default regime.
    assert (abn.seed, abn.weight_decay, abn.augment) == (2020, 0.0, True)
    resnet = training.config_from_recipe(
        "abn_paper", model="binary_resnet18", dataset="cifar100"
    )
    assert (resnet.variant, resnet.width_multiplier, resnet.dataset) == (
        None,
        None,
        "cifar100",
    )
    # The deprecated model name keeps its variant for one release.
    old = training.config_from_recipe("abn_paper", model="resnet18")
    assert (old.model, old.variant) == ("resnet18", "abn_paper")
    with pytest.raises(ValueError, match="binarynet, binary_resnet18, resnet18"):
        training.config_from_recipe("abn_paper", model="reactnet_a")

    # script/imagenet_reactnet_A_bf.sh: BS=256, Epoch=256, lr 5e-4, wd 1e-5, clip 0.02.
    reactnet = training.config_from_recipe("bnn_nobn_reactnet_a")
    assert reactnet.two_step and reactnet.norm == "bf"
    assert (reactnet.learning_rate, reactnet.schedule, reactnet.epochs) == (
        5e-4,
        "linear_epoch",
        256,
    )
    assert reactnet.batch_size == 256 and reactnet.distill_temperature == 1.0
    assert (reactnet.agc_clip_factor, reactnet.weight_decay) == (0.02, 1e-5)
    assert reactnet.weight_decay_pattern == WEIGHT_DECAY_REGEX
    # train.py argparse defaults: lr 1e-3, batch 512, 120 epochs, wd 0, clip 0.04.
    cifar = training.config_from_recipe("bnn_nobn_reactnet18_cifar")
    assert (cifar.learning_rate, cifar.batch_size, cifar.epochs) == (1e-3, 512, 120)
    assert (cifar.schedule, cifar.weight_decay, cifar.agc_clip_factor) == (
        "linear_epoch",
        0.0,
        0.04,
    )
    assert (cifar.model, cifar.variant, cifar.two_step) == ("reactnet18", None, True)
    old = training.config_from_recipe("bnn_nobn_reactnet18_cifar", model="resnet18")
    assert (old.variant, old.norm) == ("reactnet", "bf")
    # Explicit options win over the recipe.
    assert training.config_from_recipe("bnn_nobn_reactnet_a", epochs=2).epochs == 2
    with pytest.raises(ValueError, match="Unknown recipe"):
        training.config_from_recipe("imagenet_in_5_minutes")


# --------------------------------------------------------------------------------------
# Distillation
# --------------------------------------------------------------------------------------
def test_distillation_loss_hand_computed():
    # Teacher softmax([0, ln 3]) = [1/4, 3/4]; a uniform student has log-probs -ln 2.
    teacher = [[0.0, math.log(3.0)]]
    uniform = [[0.0, 0.0]]
    assert float(distillation_loss(teacher, uniform)) == pytest.approx(
        math.log(2), 1e-6
    )
    # Student == teacher: the soft cross-entropy is the teacher's entropy.
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # 0.562335
    assert float(distillation_loss(teacher, teacher)) == pytest.approx(entropy, 1e-6)
    # T = 2 against a uniform student: still ln 2 per sample, times T^2 = 4.
    assert float(distillation_loss(teacher, uniform, temperature=2.0)) == pytest.approx(
        4 * math.log(2), 1e-6
    )
    per_sample = distillation_loss(
        teacher + teacher, uniform + teacher, reduction="none"
    ).numpy()
    np.testing.assert_allclose(per_sample, [math.log(2), entropy], rtol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(teacher, uniform, temperature=0)


def test_distillation_loss_matches_numpy():
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(2, 5, 7)) * 3
    temperature = 3.0

    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    expected = -(np.exp(log_softmax(t / temperature)) * log_softmax(s / temperature))
    expected = expected.sum(axis=-1).mean() * temperature**2
    got = float(
        distillation_loss(t.astype("float32"), s.astype("float32"), temperature)
    )
    assert got == pytest.approx(expected, rel=1e-5)


def _dense_classifier(seed, name):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4,))
    outputs = tf.keras.layers.Dense(CLASSES, name=f"{name}_dense")(inputs)
    return tf.keras.Model(inputs, outputs, name=name)


def test_distiller_trains_one_step_and_round_trips(tmp_path):
    student = _dense_classifier(0, "student")
    teacher = _dense_classifier(1, "teacher")
    x = np.random.default_rng(2).normal(size=(8, 4)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    alpha, temperature = 0.75, 2.0
    # The loss of the first step is computed before the update: check it by hand.
    soft = float(distillation_loss(teacher(x), student(x), temperature))
    hard = float(
        tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(
                y, student(x), from_logits=True
            )
        )
    )
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]

    distiller = Distiller(student, teacher, temperature=temperature, alpha=alpha)
    distiller.compile(tf.keras.optimizers.SGD(0.1), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(
        alpha * soft + (1 - alpha) * hard, 1e-5
    )
    assert history.history["distillation_loss"][0] == pytest.approx(soft, 1e-5)
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(
        not np.allclose(b, a) for b, a in zip(student_before, student.get_weights())
    )
    np.testing.assert_allclose(
        distiller.predict(x, verbose=0), student.predict(x, verbose=0), rtol=1e-6
    )

    clone = Distiller.from_config(distiller.get_config())
    assert (clone.temperature, clone.alpha) == (temperature, alpha)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), distiller.predict(x, verbose=0)
    )
    with pytest.raises(ValueError, match="alpha"):
        Distiller(student, teacher, alpha=1.5)
    with pytest.raises(TypeError):
        Distiller(student, "teacher")


# --------------------------------------------------------------------------------------
# Two-step helpers
# --------------------------------------------------------------------------------------
def _conv_valid_3x3(x, w):
    """Reference VALID 3x3 convolution (NHWC, HWIO) in numpy."""
    n, h, width, _ = x.shape
    out = np.zeros((n, h - 2, width - 2, w.shape[-1]), np.float64)
    for i in range(h - 2):
        for j in range(width - 2):
            out[:, i, j] = np.einsum("nhwc,hwco->no", x[:, i : i + 3, j : j + 3], w)
    return out


def test_clone_with_real_weights_and_copy_back():
    def binary_model():
        inputs = tf.keras.Input((5, 5, 2))
        outputs = lq.layers.QuantConv2D(
            3,
            3,
            input_quantizer="ste_sign",
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
            use_bias=False,
            name="bconv",
        )(inputs)
        return tf.keras.Model(inputs, outputs)

    tf.keras.utils.set_random_seed(3)
    binary = binary_model()
    real = clone_with_real_weights(binary)
    layer = real.get_layer("bconv")
    assert layer.kernel_quantizer is None
    assert layer.input_quantizer is not None  # activations stay binary
    assert binary.get_layer("bconv").kernel_quantizer is not None  # original untouched

    x = np.random.default_rng(4).normal(size=(2, 5, 5, 2)).astype("float32")
    signs = np.where(x >= 0, 1.0, -1.0)
    assert copy_weights_by_name(binary, real) == 1
    kernel = binary.get_layer("bconv").get_weights()[0]
    np.testing.assert_allclose(
        real(x).numpy(), _conv_valid_3x3(signs, kernel), atol=1e-5
    )

    # Step 2: train the real model (here: change its weights), copy into a binary one.
    new_kernel = np.random.default_rng(5).uniform(-1, 1, kernel.shape).astype("float32")
    layer.set_weights([new_kernel])
    step2 = binary_model()
    copy_weights_by_name(real, step2)
    np.testing.assert_array_equal(step2.get_layer("bconv").get_weights()[0], new_kernel)
    expected = _conv_valid_3x3(signs, np.where(new_kernel >= 0, 1.0, -1.0))
    np.testing.assert_allclose(step2(x).numpy(), expected, atol=1e-5)

    other = tf.keras.Sequential(
        [tf.keras.layers.Dense(2, name="other", input_shape=(3,))]
    )
    with pytest.raises(ValueError, match="bconv"):
        copy_weights_by_name(other, step2)


# --------------------------------------------------------------------------------------
# Checkpoints and interruption
# --------------------------------------------------------------------------------------
def _compiled_tiny():
    model = tiny_model()
    model.compile(
        tf.keras.optimizers.Adam(1e-3),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_atomic_checkpoint_survives_a_crash_before_replace(tmp_path, monkeypatch):
    path = str(tmp_path / "last.keras")
    model = _compiled_tiny()
    save_checkpoint(model, path, {"epoch": 1})
    saved = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1.0 for w in saved])

    def crash(src, dst):
        raise OSError("power failure between the temporary write and the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power failure"):
        save_checkpoint(model, path, {"epoch": 2})
    monkeypatch.undo()

    assert read_checkpoint_state(path)["epoch"] == 1
    restored = tf.keras.models.load_model(path)
    for expected, got in zip(saved, restored.get_weights()):
        np.testing.assert_array_equal(expected, got)
    assert os.listdir(tmp_path) == ["last.keras"]  # the temporary file is gone

    # A crash while writing (half a file) leaves the old checkpoint too.
    def half_write(filepath, *args, **kwargs):
        with open(filepath, "wb") as stream:
            stream.write(b"PK\x03\x04 truncated")
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(model, "save", half_write)
    with pytest.raises(RuntimeError):
        save_checkpoint(model, path, {"epoch": 3})
    assert read_checkpoint_state(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.keras"]

    with pytest.raises(ValueError, match="not a larq-nobn training checkpoint"):
        bad = tmp_path / "bad.keras"
        bad.write_bytes(b"nonsense")
        read_checkpoint_state(str(bad))


class _SendSignal(tf.keras.callbacks.Callback):
    def __init__(self, signum, epoch, batch):
        super().__init__()
        self.signum, self.at = signum, (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_graceful_interrupt_saves_mid_epoch_checkpoint(tmp_path, signum, code):
    data = tiny_data()  # 6 batches per epoch
    model = _compiled_tiny()
    checkpoint = AtomicCheckpoint(str(tmp_path), state={"seed": 0})
    interrupt = GracefulInterrupt(checkpoint, str(tmp_path))
    before = signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted) as caught:
        with interrupt.installed():
            model.fit(
                data.train,
                epochs=3,
                verbose=0,
                callbacks=[
                    checkpoint,
                    _SendSignal(signum, epoch=1, batch=2),
                    interrupt,
                ],
            )
    assert signal.getsignal(signum) is before  # handlers restored
    assert caught.value.exit_code == code
    assert "--resume" in str(caught.value)
    state = read_checkpoint_state(checkpoint.last_path)
    # Epoch 0 complete, then batches 0-2 of epoch 1: 6 + 3 optimizer steps.
    assert state["epoch"] == 1 and state["interrupted"]
    assert state["optimizer_iterations"] == data.steps_per_epoch + 3
    assert int(model.optimizer.iterations.numpy()) == data.steps_per_epoch + 3


# --------------------------------------------------------------------------------------
# Whole runs (train(), resume, seeds, two steps, mirrored)
# --------------------------------------------------------------------------------------
def _interrupt_at_step(monkeypatch, step, signum=signal.SIGINT):
    """Makes train() receive `signum` right after optimizer step `step`."""

    def send(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == step:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(training.EpochTimer, "on_train_batch_end", send, raising=False)


def test_train_interrupt_resume_and_extend(tmp_path, monkeypatch):
    data = tiny_data(samples=64)  # 4 steps per epoch
    steps = data.steps_per_epoch
    output = str(tmp_path / "run")
    config = TrainConfig(output=output, epochs=3, weight_decay=1e-3, seed=5)
    run = dict(model_fn=tiny_model, data=data, verbose=0, run_eagerly=True)

    # SIGINT after the 2nd batch of the 2nd epoch: checkpoint, TrainingInterrupted.
    _interrupt_at_step(monkeypatch, steps + 2)
    with pytest.raises(TrainingInterrupted) as caught:
        training.train(config, **run)
    monkeypatch.undo()
    assert caught.value.exit_code == 130
    checkpoint = os.path.join(output, "checkpoints", "last.keras")
    state = read_checkpoint_state(checkpoint)
    assert (state["epoch"], state["interrupted"]) == (1, True)
    assert state["optimizer_iterations"] == steps + 2
    assert state["config"] == config.to_dict() and state["seed"] == 5
    assert [r["epoch"] for r in training.read_log(os.path.join(output, "log.csv"))] == [
        0
    ]
    assert not os.path.exists(os.path.join(output, "metrics.json"))

    # Starting again into the same directory is refused; --resume continues.
    with pytest.raises(ValueError, match="--resume"):
        training.train(config, **run)
    with pytest.raises(ValueError, match="norm"):
        training.resume_config(output, norm="abn")
    metrics = training.train(training.resume_config(output), resume=True, **run)
    assert metrics["epochs"] == 3
    # The optimizer continued from the checkpoint's step: the rest of the 2nd epoch
    # (not the whole epoch again), then the 3rd.
    assert metrics["optimizer_iterations"] == 3 * steps
    rows = training.read_log(os.path.join(output, "log.csv"))
    assert [r["epoch"] for r in rows] == [0, 1, 2]

    for name in ("log.csv", "metrics.json", "model.keras", "curves.png", "config.json"):
        assert os.path.isfile(os.path.join(output, name)), name
    assert os.path.isdir(os.path.join(output, "tensorboard"))
    assert os.path.isfile(os.path.join(output, "checkpoints", "best.keras"))
    with open(os.path.join(output, "curves.png"), "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(output, "metrics.json")) as stream:
        written = json.load(stream)
    assert written["test_accuracy"] == metrics["test_accuracy"]
    assert (written["epochs"], written["seed"]) == (3, 5)
    # Validated on the test split: the last row is the final test pass, and the best
    # is the first epoch (1-based) with the largest of the three.
    accuracies = [r["val_accuracy"] for r in rows]
    assert written["test_accuracy"] == pytest.approx(accuracies[-1])
    assert written["best_test_accuracy"] == max(accuracies)
    assert written["best_epoch"] == accuracies.index(max(accuracies)) + 1
    assert written["params"]["binary"] == 3 * 3 * 4 * 8  # the one binary conv
    assert written["train_seconds"] == pytest.approx(
        sum(r["epoch_seconds"] for r in rows)
    )
    # The reported test metrics are those of the saved model.
    model = tf.keras.models.load_model(os.path.join(output, "model.keras"))
    model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    _, accuracy = model.evaluate(data.test, verbose=0)
    assert accuracy == pytest.approx(written["test_accuracy"], abs=1e-6)

    # A finished run can be extended: more epochs, same optimizer, the log continues.
    more = training.resume_config(output, epochs=4)
    assert more.seed == 5 and more.weight_decay == 1e-3
    metrics = training.train(more, resume=True, **run)
    assert metrics["epochs"] == 4
    assert metrics["optimizer_iterations"] == 4 * steps
    rows = training.read_log(os.path.join(output, "log.csv"))
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]


def _final_weights(output):
    model = tf.keras.models.load_model(os.path.join(output, "model.keras"))
    return model.get_weights()


def test_resume_mid_epoch_continues_at_the_exact_step(tmp_path, monkeypatch):
    """Interrupted after step 6 of 2 x 4 (batch 2 of epoch 1) and resumed, a run ends
    after 8 optimizer steps with the weights of the same run without interruption."""
    steps, epochs = 4, 2
    config = TrainConfig(epochs=epochs, seed=3, learning_rate=0.01)
    run = dict(model_fn=tiny_model, verbose=0, run_eagerly=True)

    straight = str(tmp_path / "straight")
    expected = training.train(
        config.replace(output=straight), data=tiny_data(samples=64), **run
    )
    assert expected["optimizer_iterations"] == epochs * steps

    output = str(tmp_path / "resumed")
    _interrupt_at_step(monkeypatch, steps + 2)
    with pytest.raises(TrainingInterrupted):
        training.train(config.replace(output=output), data=tiny_data(samples=64), **run)
    monkeypatch.undo()
    state = read_checkpoint_state(os.path.join(output, "checkpoints", "last.keras"))
    assert (state["epoch"], state["batch"]) == (1, 2)
    assert state["optimizer_iterations"] == steps + 2

    metrics = training.train(
        training.resume_config(output), resume=True, data=tiny_data(samples=64), **run
    )
    assert metrics["optimizer_iterations"] == epochs * steps
    restored = tf.keras.models.load_model(os.path.join(output, "model.keras"))
    assert int(restored.optimizer.iterations.numpy()) == epochs * steps
    for want, got in zip(_final_weights(straight), restored.get_weights()):
        np.testing.assert_array_equal(got, want)
    rows = training.read_log(os.path.join(output, "log.csv"))
    assert [row["epoch"] for row in rows] == [0, 1]


def test_two_step_schedule_with_distillation(tmp_path):
    """The BN-free ReActNet recipe in miniature: two steps, L2 in step 1 only, and
    knowledge distillation from a saved teacher."""
    data = tiny_data(samples=32)
    teacher_path = str(tmp_path / "teacher.keras")
    tiny_model().save(teacher_path)
    output = str(tmp_path / "two")
    config = TrainConfig(
        output=output, epochs=1, two_step=True, weight_decay=1e-4, teacher=teacher_path
    )
    metrics = training.train(
        config, model_fn=tiny_model, data=data, verbose=0, run_eagerly=True
    )
    assert metrics["epochs"] == 2 and metrics["step1"]["epochs"] == 1
    step1 = tf.keras.models.load_model(os.path.join(output, "step1", "model.keras"))
    step2 = tf.keras.models.load_model(os.path.join(output, "step2", "model.keras"))
    assert step1.get_layer("bconv").kernel_quantizer is None
    assert step1.get_layer("bconv").input_quantizer is not None
    assert step2.get_layer("bconv").kernel_quantizer is not None
    assert step2.name == "tiny"  # the student is saved, not the distiller
    with open(os.path.join(output, "step2", "config.json")) as stream:
        step2_config = json.load(stream)
    assert step2_config["weight_decay"] == 0.0
    assert step2_config["init_weights"].endswith(os.path.join("step1", "model.keras"))
    with open(os.path.join(output, "step1", "config.json")) as stream:
        assert json.load(stream)["weight_decay"] == 1e-4
    rows = training.read_log(os.path.join(output, "step1", "log.csv"))
    assert rows and "distillation_loss" in rows[0]
    assert os.path.isfile(os.path.join(output, "model.keras"))
    # Resuming the finished two-step run changes nothing.
    again = training.train(
        training.resume_config(output),
        resume=True,
        model_fn=tiny_model,
        data=data,
        verbose=0,
    )
    assert again["test_accuracy"] == metrics["test_accuracy"]


#: Dimensions the parameters of the reference's Qaw_reactnet_18_bf have, by the suffix
#: of the zoo variable playing their part: conv weights (out, in, kh, kw), ScaledWS
#: gains (out, 1, 1, 1), LearnableBias move0 / move1 / move2 (1, C, 1, 1); PReLU
#: weight (C,), fc.weight (classes, 512), fc.bias (classes,).
REFERENCE_NDIM = {
    "kernel": 4,
    "gain": 4,
    "threshold": 4,
    "input_shift": 4,
    "output_shift": 4,
    "slope": 1,
    "classifier/kernel": 2,
    "classifier/bias": 1,
}


def _reference_decays(name):
    """BNN_NoBN train.py: decay if p.ndimension() == 4 or 'conv' in the name (no
    2-D or 1-D parameter of the model has 'conv' in its name)."""
    key = name.split(":")[0]
    key = key if key.startswith("classifier/") else key.split("/")[-1]
    return REFERENCE_NDIM[key] == 4


def _reactnet18_bf_compiled(**fields):
    from larq_nobn.zoo import ReActNet18

    shape = (32, 32, 3)
    images = tf.data.Dataset.from_tensor_slices(
        (np.zeros((2, *shape), np.float32), np.zeros(2, np.int64))
    ).batch(2)
    data = Data(images, None, images, shape, 10, 1)
    config = TrainConfig(model="reactnet18", norm="bf", weight_decay=0.5, **fields)
    return training.compile_model(
        config,
        data,
        model_fn=lambda: ReActNet18(norm="bf", input_shape=shape, width_multiplier=0.125),
    )


def test_training_decays_what_the_reference_decays_after_the_clip():
    from larq_nobn.optimizers import AGC

    compiled = _reactnet18_bf_compiled()
    optimizer, student = compiled.optimizer, compiled.student
    assert isinstance(optimizer, AGC) and optimizer.coupled_weight_decay == 0.5
    assert not student.losses  # the decay is the optimizer's, not a loss term
    variables = student.trainable_variables
    for variable in variables:
        variable.assign(tf.ones_like(variable))
    zeros = [tf.zeros_like(v) for v in variables]
    decayed = {
        v.name: bool(np.any(tf.convert_to_tensor(g).numpy()))
        for g, v in optimizer.add_coupled_decay(zip(zeros, variables))
    }
    expected = {v.name: _reference_decays(v.name) for v in variables}
    assert decayed == expected
    # 88 decayed (stem 2, 16 blocks x 5, 3 downsamples x 2), 18 not (16 PReLU
    # slopes, the classifier's kernel and bias).
    assert sum(expected.values()) == 88 and len(expected) == 88 + 18


def test_training_without_agc_decays_the_same_variables_in_the_loss():
    compiled = _reactnet18_bf_compiled(agc_clip_factor="off")
    assert not hasattr(compiled.optimizer, "coupled_weight_decay")
    student = compiled.student
    reference = [v for v in student.trainable_variables if _reference_decays(v.name)]
    # L2 term 0.5 * wd * ||w||^2, gradient wd * w: torch's Adam(weight_decay=wd).
    expected = 0.25 * sum(float(np.sum(v.numpy() ** 2)) for v in reference)
    assert float(tf.add_n(student.losses)) == pytest.approx(expected, rel=1e-5)


def test_weight_decay_is_coupled_l2_on_matching_variables():
    model = tiny_model()
    variables = training.add_weight_decay(model, 0.01, r"kernel")
    assert sorted(v.name for v in variables) == [
        "bconv/kernel:0",
        "classifier/kernel:0",
        "stem/kernel:0",
    ]
    expected = 0.5 * 0.01 * sum(float(np.sum(v.numpy() ** 2)) for v in variables)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_mirrored_strategy_tiny_run(tmp_path, mirrored_strategy):
    """A BN-free (AGC) run on two logical CPUs, then a resume that restores the
    optimizer slots into mirrored variables."""
    assert mirrored_strategy.num_replicas_in_sync == 2
    data = tiny_data(samples=32)
    output = str(tmp_path / "mirrored")
    config = TrainConfig(output=output, epochs=1, strategy="mirrored", norm="bf")
    run = dict(
        model_fn=tiny_model,
        data=data,
        verbose=0,
        strategy=mirrored_strategy,
        run_eagerly=True,  # tracing under MirroredStrategy costs ~10 s on 2 cores
    )
    metrics = training.train(config, **run)
    assert metrics["epochs"] == 1 and metrics["agc_clip_factor"] > 0
    assert metrics["optimizer_iterations"] == data.steps_per_epoch
    assert np.isfinite(metrics["test_loss"])
    resumed = training.resume_config(output, epochs=2)
    metrics = training.train(resumed, resume=True, **run)
    assert metrics["epochs"] == 2
    assert metrics["optimizer_iterations"] == 2 * data.steps_per_epoch


def test_best_epoch_is_the_first_with_the_largest_value():
    from larq_nobn.training.rundir import best_epoch

    rows = [
        {"epoch": 0, "val_accuracy": 0.5},
        {"epoch": 1, "val_accuracy": 0.75},
        {"epoch": 2, "val_accuracy": 0.75},
        {"epoch": 3, "val_accuracy": 0.625},
    ]
    assert best_epoch(rows) == (0.75, 2)
    assert best_epoch(rows, "accuracy") == (None, None)
    # A resumed run's log may hold an empty cell (e.g. an interrupted epoch's row).
    assert best_epoch([{"epoch": 0, "val_accuracy": ""}, *rows[:1]]) == (0.5, 1)


def test_an_applications_teacher_gets_its_own_preprocessing(monkeypatch):
    from larq_nobn.training.distill import TeacherInput
    from larq_nobn.training.models import load_teacher

    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # CIFAR-10's
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.float32)
    student_input = (pixels / 255.0 - np.array(mean)) / np.array(std)
    # ResNet50's caffe mode from the raw pixels: BGR, minus the ImageNet BGR mean.
    caffe = pixels[..., ::-1] - np.array([103.939, 116.779, 123.68])
    layer = TeacherInput(mean, std, "caffe")
    np.testing.assert_allclose(layer(student_input.astype(np.float32)), caffe, atol=1e-3)
    assert TeacherInput.from_config(layer.get_config()).get_config() == layer.get_config()

    # load_teacher puts it in front of the application (no download: a stand-in).
    class Probe(tf.keras.layers.Layer):
        def call(self, x):
            return tf.reduce_mean(x, axis=(1, 2))

    def resnet50(weights):
        assert weights == "imagenet"
        inputs = tf.keras.Input((4, 4, 3))
        return tf.keras.Model(inputs, Probe()(inputs))

    monkeypatch.setattr(tf.keras.applications, "ResNet50", resnet50)
    teacher = load_teacher("keras.applications.ResNet50", mean, std)
    np.testing.assert_allclose(
        teacher(student_input.astype(np.float32)), caffe.mean(axis=(1, 2)), atol=1e-3
    )
    with pytest.raises(ValueError, match="no known preprocessing.*ResNet50"):
        load_teacher("keras.applications.EfficientNetB0", mean, std)
