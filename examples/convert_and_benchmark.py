"""Convert a trained BNN to a TFLite flatbuffer with Larq Compute Engine, check the
conversion report (binary ops, bitpacked outputs, size), verify the LCE interpreter
against Keras on real Fashion-MNIST test images and time it on this host.

    # a model trained by `larq-nobn train` (make run writes runs/default/model.keras)
    python examples/convert_and_benchmark.py --model runs/default/model.keras
    # or: build a small zoo BinaryNet and train it for a few hundred steps first
    python examples/convert_and_benchmark.py --norm bf --train-steps 300

Verification compares a *trained* network: in a freshly initialized BN-free model every
RSign threshold is exactly 0 and a binary convolution's integer output of 0 is computed
as +-1e-8 by Keras' float convolution but as exactly 0 by LCE's popcount, so the two
engines take different signs; training moves the thresholds off those ties.

For the device itself (Raspberry Pi, Android) see examples/deploy/README.md.
"""

import argparse

import larq_nobn  # noqa: F401  (first: Keras 2)
from larq_nobn import AGC, data, deploy, zoo
from larq_nobn.blocks import NORMS
from larq_nobn.zoo import binarynet

import tensorflow as tf


def train_small_binarynet(norm, width_multiplier, steps, seed=0):
    """A zoo BinaryNet trained for `steps` batches of 128 Fashion-MNIST images (Adam
    1e-3; the BN-free variant inside AGC with the zoo's recommended settings)."""
    tf.keras.utils.set_random_seed(seed)
    model = zoo.BinaryNet(norm=norm, input_shape=(28, 28, 1), num_classes=10,
                          width_multiplier=width_multiplier)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    if norm == "bf":
        optimizer = AGC(optimizer, clip_factor=binarynet.AGC_CLIP_FACTOR,
                        exclude=binarynet.AGC_EXCLUDE)
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    train = data.load("fashion_mnist", "train", batch_size=128, training=True,
                      repeat=True, seed=seed)
    model.fit(train, epochs=1, steps_per_epoch=steps, verbose=2)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved Keras model (default: train one)")
    parser.add_argument("--norm", choices=NORMS, default="bf")
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--samples", type=int, default=1000,
                        help="Fashion-MNIST test images to verify on")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--output", default="model.tflite")
    args = parser.parse_args(argv)

    if args.model:
        model = deploy.load_keras_model(args.model)  # safe mode: no Lambda code
    else:
        model = train_small_binarynet(args.norm, args.width_multiplier,
                                      args.train_steps)
    result = deploy.convert(model)  # target "arm": Raspberry Pi 4 / Android arm64
    print(result.to_text())
    result.save(args.output)

    images, labels = deploy.load_verification_data(
        "fashion_mnist", args.samples, model.input_shape[1:])
    verification = deploy.verify(result.flatbuffer, model, images, labels)
    print(verification.to_text())
    timing = deploy.benchmark(result.flatbuffer, keras_model=model, threads=(1,),
                              runs=args.runs, warmup=2)
    print(timing.to_text())
    return 0 if verification.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
