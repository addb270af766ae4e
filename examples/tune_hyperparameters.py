"""Tune the learning rate and the AGC clip factor of a BN-free BinaryNet on
Fashion-MNIST with keras-tuner (a random search; one short training run per trial).

    python examples/tune_hyperparameters.py [--max-trials 10] [--output runs/tune_bf]

Run it again with --resume (and a larger --max-trials) to continue the search; the
trials that finished are not run again. The same search from the command line:

    larq-nobn tune --norm bf --search learning_rate agc_clip_factor --max-trials 10
"""

import argparse

import larq_nobn  # noqa: F401  (first: Keras 2)
from larq_nobn.training import TrainConfig
from larq_nobn.tuning import tune


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1, help="per trial")
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--max-test-samples", type=int, default=None)
    parser.add_argument("--output", default="runs/tune_bf")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    config = TrainConfig(
        model="binarynet",
        norm="bf",  # ScaledWS convolutions + adaptive gradient clipping, no BN
        width_multiplier=args.width_multiplier,
        epochs=args.epochs,
        max_train_samples=args.max_train_samples,
        max_test_samples=args.max_test_samples,
        output=args.output,
    )
    result = tune(
        config,
        tuner="random",
        max_trials=args.max_trials,
        params={"learning_rate": (1e-4, 1e-2), "agc_clip_factor": (0.005, 0.08)},
        resume=args.resume,
        verbose=0,
    )
    print(f"best val_accuracy: {result.best_score:.4f}")
    for name, value in result.best_values.items():
        print(f"best {name}: {value:.6g}")


if __name__ == "__main__":
    main()
