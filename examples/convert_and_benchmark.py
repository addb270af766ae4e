"""Convert a zoo model to a TFLite flatbuffer with Larq Compute Engine, check the
conversion report (binary ops, bitpacked outputs, size), verify the LCE interpreter
against Keras on real Fashion-MNIST samples and time it on this host.

    python examples/convert_and_benchmark.py [--norm bf] [--output model.tflite]

For the device itself (Raspberry Pi, Android) see examples/deploy/README.md.
"""

import argparse

import larq_nobn  # noqa: F401  (first: Keras 2)
from larq_nobn import data, deploy, zoo
from larq_nobn.blocks import NORMS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norm", choices=NORMS, default="bf")
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--output", default="model.tflite")
    args = parser.parse_args(argv)

    model = zoo.BinaryNet(norm=args.norm, input_shape=(28, 28, 1), num_classes=10,
                          width_multiplier=args.width_multiplier)
    result = deploy.convert(model)  # target "arm": Raspberry Pi 4 / Android arm64
    print(result.to_text())
    result.save(args.output)

    images, labels = [], []
    for x, y in data.load("fashion_mnist", "test", batch_size=args.samples,
                          training=False).take(1):
        images, labels = x.numpy(), y.numpy()
    verification = deploy.verify(result.flatbuffer, model, images, labels)
    print(verification.to_text())
    timing = deploy.benchmark(result.flatbuffer, keras_model=model, threads=(1,),
                              runs=args.runs, warmup=2)
    print(timing.to_text())
    return 0 if verification.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
