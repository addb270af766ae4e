"""Train a BN-free binary network (ScaledWS convs, RSign thresholds, fixed residual
scalars) with adaptive gradient clipping, next to the same network with BN deleted
("none"), which Sari et al. expect to fail to train: BinaryNet's stays at chance
accuracy in the reproduction report (BENCHMARKS.md section 1), while ReActNet-18's,
whose shortcuts carry the signal, trains far above chance.

    python examples/train_bn_free.py [--model binarynet|reactnet18] [--epochs 1]
"""

import argparse

import larq_nobn  # noqa: F401  (first: Keras 2)
from larq_nobn import data, zoo
from larq_nobn.optimizers import AGC

import tensorflow as tf

MODELS = ("binarynet", "reactnet18")


def build(model, norm):
    spec = zoo.get_model(model)
    net = spec.builder(norm=norm, input_shape=(28, 28, 1), num_classes=10,
                       width_multiplier=0.25)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    if norm == "bf":
        # The zoo's recommended AGC settings for the model's BN-free variant.
        optimizer = AGC(optimizer, clip_factor=spec.agc_clip_factor,
                        exclude=spec.agc_exclude)
    net.compile(optimizer,
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, default="binarynet")
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
    for norm in ("bf", "none"):
        tf.keras.utils.set_random_seed(0)
        model = build(args.model, norm)
        model.fit(train, epochs=args.epochs, verbose=2)
        loss, accuracy = model.evaluate(test, verbose=0)
        print(f"{args.model} {norm}: test accuracy {accuracy:.4f}, loss {loss:.4f}")


if __name__ == "__main__":
    main()
