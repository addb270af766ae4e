"""BNN_NoBN's distillation teacher (issue 16): torchvision's ResNet-34 as
`zoo.TorchvisionResNet34`, loaded from a torchvision state dict, computes torchvision's
logits (golden fixture of tests/reference/make_teacher_fixture.py), and
`larq-nobn import-weights --architecture resnet34` writes a `.keras` teacher that
takes the student's input as it is, as BNN_NoBN's train.py feeds its teacher."""

from larq_nobn import cli, data, zoo
from larq_nobn.training import Distiller
from larq_nobn.training.distill import TeacherInput
from larq_nobn.training.models import load_teacher
from larq_nobn.training.recipes import RECIPES

import numpy as np
import pytest
import tensorflow as tf
from reference.equivalence import FIXTURES, load_fixture

FIXTURE = FIXTURES / "resnet34_teacher.npz"
# The fixture's model: torchvision's resnet34(num_classes=10), every width / 16.
WIDTH = 1 / 16


@pytest.fixture(scope="module")
def store():
    return load_fixture("resnet34_teacher")


def _nhwc(x):
    return x.astype(np.float32).transpose(0, 2, 3, 1)


def _relative_error(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def _weights(store):
    return {k[len("weight/"):]: v for k, v in store.items() if k.startswith("weight/")}


def test_weights_that_do_not_fit_fail_in_one_message(store):
    state = _weights(store)
    del state["layer3.5.bn2.running_var"]
    state["layer5.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    state["layer2.0.downsample.0.weight"] = state["layer2.0.downsample.0.weight"][:, :2]
    model = zoo.TorchvisionResNet34(num_classes=10, width_multiplier=WIDTH)
    with pytest.raises(ValueError) as error:
        zoo.load_reference_weights(model, state, architecture="resnet34")
    message = str(error.value)
    assert "1 missing: layer3.5.bn2.running_var" in message
    assert "1 unexpected: layer5.0.conv1.weight" in message
    assert (
        "1 mis-shaped: layer2.0.downsample.0.weight (8, 2, 1, 1) (the model needs "
        "(8, 4, 1, 1))" in message
    )
    with pytest.raises(ValueError, match="accepted: 'bn'"):
        zoo.reference_model(state, architecture="resnet34", norm="bf")
    del state["fc.weight"]
    with pytest.raises(ValueError, match="no 2-D 'fc.weight'"):
        zoo.reference_model(state, architecture="resnet34")


def test_imported_teacher_computes_torchvision_and_distils_as_bnn_nobn(store, tmp_path, capsys):
    path = tmp_path / "teacher.keras"
    code = cli.main(["import-weights", str(FIXTURE), "--architecture", "resnet34",
                     "--width-multiplier", str(WIDTH), "-o", str(path)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert f"wrote {path}" in out
    teacher = load_teacher(str(path))  # what --teacher teacher.keras loads
    assert teacher.input_shape == (None, None, None, 3)  # any size, as torchvision's
    assert teacher.output_shape == (None, 10)  # the rows of fc.weight
    # The student's normalized batch goes in as it is: no TeacherInput (caffe, ...).
    assert not any(isinstance(layer, TeacherInput) for layer in teacher.layers)
    # torchvision's eval-mode logits at 32x32 (even maps: the stride-2 layers pad
    # before as torch) and 45x37 (odd maps).
    for key in ("_odd", ""):
        logits = teacher(_nhwc(store[f"input{key}"]), training=False).numpy()
        assert _relative_error(logits, store[f"eval_output{key}"]) < 1e-4, key
    x, reference = _nhwc(store["input"]), store["eval_output"]

    # One distillation step: its loss is BNN_NoBN's DistributionLoss of the student's
    # logits against the torchvision teacher's (utils.py: -bmm(softmax(teacher),
    # log_softmax(student)), averaged over the batch), computed here in numpy.
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3))
    pooled = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    student = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(pooled))
    s = student(x).numpy().astype(np.float64)
    log_student = s - s.max(1, keepdims=True)
    log_student -= np.log(np.exp(log_student).sum(1, keepdims=True))
    t = np.exp(reference - reference.max(1, keepdims=True))
    expected = -((t / t.sum(1, keepdims=True)) * log_student).sum(1).mean()
    distiller = Distiller(student, teacher)  # T = 1, alpha = 1: train.py's kd
    distiller.compile(tf.keras.optimizers.SGD(0.0), metrics=["accuracy"])
    history = distiller.fit(x, np.zeros(len(x)), batch_size=len(x), verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "dataset, mean, std",
    [  # VITA-Group/BNN_NoBN dataset.py, cifar10_dataloaders / cifar100_dataloaders
        ("cifar10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        ("cifar100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    ],
)
def test_cifar_recipe_feeds_the_teacher_bnn_nobns_tensor(dataset, mean, std):
    # The teacher gets the student's batch, standardized as BNN_NoBN's loader does,
    # and the loss is DistributionLoss alone (T = 1, no label term).
    assert (data.info(dataset).mean, data.info(dataset).std) == (mean, std)
    settings = RECIPES["bnn_nobn_reactnet18_cifar"].settings(dataset=dataset)
    assert (settings["distill_temperature"], settings["distill_alpha"]) == (1.0, 1.0)
