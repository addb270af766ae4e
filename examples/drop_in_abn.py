"""Drop-in ABN: take an existing larq BNN with BatchNormalization, swap every BN for
attention-based BN (`larq_nobn.replace_batch_norm`), and train both side by side on
Fashion-MNIST.

    python examples/drop_in_abn.py [--epochs 1] [--max-train-samples 60000]
"""

import argparse

import larq_nobn  # noqa: F401  (first: Keras 2)
from larq_nobn import data

import larq as lq
import tensorflow as tf

BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign",
              kernel_constraint="weight_clip", use_bias=False)


def small_bnn(width=32):
    """A plain larq BNN with BatchNormalization, as one would already have it."""
    return tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
        tf.keras.layers.BatchNormalization(),
        lq.layers.QuantConv2D(width, 3, padding="same", pad_values=1.0, **BINARY),
        tf.keras.layers.MaxPool2D(),
        tf.keras.layers.BatchNormalization(),
        lq.layers.QuantConv2D(2 * width, 3, padding="same", pad_values=1.0, **BINARY),
        tf.keras.layers.MaxPool2D(),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Flatten(),
        lq.layers.QuantDense(10, **BINARY),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Activation("softmax"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--max-test-samples", type=int, default=None)
    args = parser.parse_args(argv)

    train = data.load("fashion_mnist", "train", batch_size=args.batch_size,
                      training=True, seed=0)
    test = data.load("fashion_mnist", "test", batch_size=args.batch_size,
                     training=False)
    if args.max_train_samples:
        train = train.take(max(1, args.max_train_samples // args.batch_size))
    if args.max_test_samples:
        test = test.take(max(1, args.max_test_samples // args.batch_size))

    tf.keras.utils.set_random_seed(0)
    bn_model = small_bnn()
    abn_model = larq_nobn.replace_batch_norm(bn_model)  # same weights, ABN instead of BN
    lq.models.summary(abn_model)
    results = {}
    for name, model in [("bn", bn_model), ("abn", abn_model)]:
        tf.keras.utils.set_random_seed(0)
        model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(train, epochs=args.epochs, verbose=2)
        results[name] = model.evaluate(test, verbose=0)[1]
    for name, accuracy in results.items():
        print(f"{name}: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
