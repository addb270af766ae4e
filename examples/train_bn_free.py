"""Train a BN-free binary network (ScaledWS convs, RSign thresholds, fixed residual
scalars) with adaptive gradient clipping, next to the same network with BN deleted
("none"), which Sari et al. show cannot train.

    python examples/train_bn_free.py [--model binarynet|resnet18] [--epochs 1]
"""

import argparse
import importlib

import larq_nobn  # noqa: F401  (first: Keras 2)
from larq_nobn import data, zoo
from larq_nobn.optimizers import AGC

import tensorflow as tf

MODELS = {"binarynet": ("BinaryNet", "binarynet", dict(width_multiplier=0.25)),
          "resnet18": ("ResNet18", "resnet", dict(width_multiplier=0.25))}


def build(model, norm):
    function, module, options = MODELS[model]
    net = getattr(zoo, function)(norm=norm, input_shape=(28, 28, 1), num_classes=10,
                                 **options)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    if norm == "bf":
        # The zoo module's recommended AGC settings for its BN-free variant.
        settings = importlib.import_module(f"larq_nobn.zoo.{module}")
        optimizer = AGC(optimizer, clip_factor=settings.AGC_CLIP_FACTOR,
                        exclude=settings.AGC_EXCLUDE)
    net.compile(optimizer,
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="binarynet")
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
