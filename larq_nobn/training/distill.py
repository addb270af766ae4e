"""Knowledge distillation: the soft cross-entropy loss, the `Distiller` model and the
input of a `keras.applications` teacher (`TeacherInput`)."""

from __future__ import annotations

from larq_nobn.training.config import is_number

import tensorflow as tf

__all__ = ["APPLICATION_PREPROCESSING", "Distiller", "TeacherInput", "distillation_loss"]

#: The `keras.applications` teachers and the `preprocess_input` mode of their family
#: (`"caffe"`: BGR minus the ImageNet mean; `"tf"`: `[-1, 1]`; `"torch"`: standardized).
APPLICATION_PREPROCESSING = {
    **{name: "caffe" for name in ("ResNet50", "ResNet101", "ResNet152", "VGG16", "VGG19")},
    **{
        name: "tf"
        for name in (
            "ResNet50V2", "ResNet101V2", "ResNet152V2", "MobileNet", "MobileNetV2",
            "InceptionV3", "InceptionResNetV2", "Xception",
        )
    },
    **{name: "torch" for name in ("DenseNet121", "DenseNet169", "DenseNet201")},
}


def distillation_loss(
    teacher_logits, student_logits, temperature=1.0, reduction="mean"
):
    """Soft cross-entropy of the student against the teacher at a temperature.

    `T^2 * -sum_c softmax(t / T)_c * log_softmax(s / T)_c` per sample (Hinton et al.;
    the `T^2` keeps gradient magnitudes comparable across temperatures, it is 1 at the
    papers' `T = 1`). It differs from the KL divergence only by the teacher's entropy,
    a constant for the student, so the gradients are the same.

    # Arguments
        teacher_logits: `(batch, classes)` logits of the teacher.
        student_logits: `(batch, classes)` logits of the student.
        temperature: Softmax temperature `T > 0`.
        reduction: `"mean"` over the batch, or `"none"` for the per-sample values.

    # Returns
        A scalar, or a `(batch,)` tensor with `reduction="none"`.

    # Raises
        ValueError: `temperature <= 0` or an unknown reduction.
    """
    if not is_number(temperature) or not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    if reduction not in ("mean", "none"):
        raise ValueError(f"`reduction` must be 'mean' or 'none', got {reduction!r}.")
    student_logits = tf.convert_to_tensor(student_logits)
    teacher_logits = tf.cast(tf.convert_to_tensor(teacher_logits), student_logits.dtype)
    teacher = tf.nn.softmax(tf.stop_gradient(teacher_logits) / temperature, axis=-1)
    log_student = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    per_sample = -tf.reduce_sum(teacher * log_student, axis=-1) * temperature**2
    return tf.reduce_mean(per_sample) if reduction == "mean" else per_sample


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class TeacherInput(tf.keras.layers.Layer):
    """The student's standardized images as a `keras.applications` teacher's input:
    the pixels in `[0, 255]` (`(x * std + mean) * 255`), then the application's own
    `preprocess_input` (e.g. ResNet50's caffe mode: BGR minus the ImageNet mean).

    # Arguments
        mean: Per-channel mean of the student's standardization (pixels in `[0, 1]`).
        std: Its per-channel standard deviation.
        mode: `"caffe"`, `"tf"` or `"torch"` (see `APPLICATION_PREPROCESSING`).
    """

    def __init__(self, mean, std, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf", "torch"):
            raise ValueError(
                f"Unknown preprocessing mode {mode!r}: accepted values are 'caffe', "
                "'tf', 'torch'."
            )
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        self.mode = mode

    def call(self, inputs):
        pixels = (inputs * tf.constant(self.std) + tf.constant(self.mean)) * 255.0
        return tf.keras.applications.imagenet_utils.preprocess_input(
            pixels, mode=self.mode, data_format="channels_last"
        )

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "mode": self.mode}


def _as_logits(outputs, from_logits):
    if from_logits:
        return outputs
    return tf.math.log(tf.clip_by_value(outputs, 1e-12, 1.0))


@tf.keras.utils.register_keras_serializable(package="larq_nobn")
class Distiller(tf.keras.Model):
    """Trains a student to match a frozen teacher (knowledge distillation).

    Loss: `alpha * distillation_loss(teacher, student, temperature) + (1 - alpha) *
    cross_entropy(labels, student)` plus the student's own losses (regularizers, the
    coupled weight decay). Evaluation and `predict` use the student alone; the reported
    validation/test `loss` is the student's cross-entropy with the labels. Compile it
    without a loss: `distiller.compile(optimizer, metrics=["accuracy"])`.

    # Arguments
        student: The model being trained.
        teacher: A trained classifier over the same classes; it is frozen
            (`trainable = False`) and run in inference mode.
        temperature: Softmax temperature of the distillation loss.
        alpha: Weight of the distillation loss, in `[0, 1]`.
        student_from_logits: Whether the student outputs logits (else probabilities).
        teacher_from_logits: Whether the teacher outputs logits (else probabilities,
            as `tf.keras.applications` models do by default).

    # References
        - [Distilling the Knowledge in a Neural Network](
          https://arxiv.org/abs/1503.02531)
        - [ReActNet](https://arxiv.org/abs/2003.03488) (distribution loss, T = 1)
    """

    def __init__(
        self,
        student,
        teacher,
        temperature=1.0,
        alpha=1.0,
        student_from_logits=True,
        teacher_from_logits=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(student, tf.keras.Model) or not isinstance(
            teacher, tf.keras.Model
        ):
            raise TypeError(
                f"`student` and `teacher` must be Keras models, got "
                f"{type(student).__name__} and {type(teacher).__name__}."
            )
        if not is_number(temperature) or not temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        if not is_number(alpha) or not 0 <= alpha <= 1:
            raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.student_from_logits = bool(student_from_logits)
        self.teacher_from_logits = bool(teacher_from_logits)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.distillation_tracker = tf.keras.metrics.Mean(name="distillation_loss")

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _hard_loss(self, y, y_pred):
        per_sample = tf.keras.losses.sparse_categorical_crossentropy(
            y, y_pred, from_logits=self.student_from_logits
        )
        return tf.nn.compute_average_loss(per_sample)

    def train_step(self, data):
        x, y = data[0], data[1]
        teacher_logits = _as_logits(
            self.teacher(x, training=False), self.teacher_from_logits
        )
        variables = self.student.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.student(x, training=True)
            student_logits = _as_logits(y_pred, self.student_from_logits)
            soft = tf.nn.compute_average_loss(
                distillation_loss(
                    teacher_logits, student_logits, self.temperature, reduction="none"
                )
            )
            loss = self.alpha * soft
            if self.alpha < 1:
                loss += (1 - self.alpha) * self._hard_loss(y, y_pred)
            if self.student.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        self.optimizer.minimize(loss, variables, tape=tape)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(loss * replicas)
        self.distillation_tracker.update_state(soft * replicas)
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data[0], data[1]
        y_pred = self.student(x, training=False)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(self._hard_loss(y, y_pred) * replicas)
        self.compiled_metrics.update_state(y, y_pred)
        return {
            m.name: m.result() for m in self.metrics if m.name != "distillation_loss"
        }

    def get_config(self):
        return {
            "name": self.name,
            "student": tf.keras.saving.serialize_keras_object(self.student),
            "teacher": tf.keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "student_from_logits": self.student_from_logits,
            "teacher_from_logits": self.teacher_from_logits,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = tf.keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


