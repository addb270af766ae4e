"""`larq-nobn benchmark`: time a converted model with LCE's interpreter on this host."""

from __future__ import annotations

from larq_nobn import deploy
from larq_nobn._startup_logs import tf_logs_shown
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import arg_or_default, examples_epilog, report_error
from larq_nobn.deploy.benchmarking import lce_interpreter
from larq_nobn.deploy.saving import save_json

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "benchmark model.tflite --threads 1 2 4",
    "benchmark model.tflite --keras-model runs/default/model.keras --json bench.json",
)


def add_parser(subparsers):
    """Adds `benchmark` to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "benchmark",
        **examples_epilog(EXAMPLES),
        help="time an LCE .tflite on this host (and its float baseline)",
        description=(
            "Time an LCE .tflite (batch 1) with LCE's interpreter on this host: median, "
            "p90 and min latency per thread count. With --keras-model the same network "
            "is also timed as a plain float TFLite model (speedup column). On x86 LCE "
            "runs portable kernels, not its optimized ARM ones. Exit status: 0 ok, "
            "2 bad input."
        ),
    )
    parser.add_argument("model", help="the LCE .tflite file")
    parser.add_argument("--threads", type=argtypes.positive_int, nargs="+", default=[1],
                        metavar="N", help="thread counts (default: 1)")
    parser.add_argument("--runs", type=argtypes.positive_int, default=50,
                        help="timed runs per model and thread count (default: 50)")
    parser.add_argument("--warmup", type=argtypes.non_negative_int, default=5,
                        help="untimed runs before them (default: 5)")
    parser.add_argument("--keras-model", metavar="PATH",
                        help="the Keras model the .tflite came from, for the float baseline")
    parser.add_argument("--unsafe-load", action="store_true",
                        help="allow a --keras-model with Lambda layers or other stored Python "
                        "code (runs it: only for files you trust)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's converter log lines (--keras-model)")
    return parser


def _baseline_model(args, flatbuffer):
    """The `--keras-model`, checked to take the .tflite's input shape (or `None`)."""
    if not arg_or_default(args, "keras_model"):
        return None
    keras_model = deploy.load_keras_model(
        args.keras_model, safe_mode=not arg_or_default(args, "unsafe_load", False)
    )
    expected = tuple(lce_interpreter(flatbuffer).input_shapes[0][1:])
    actual = tuple(keras_model.input_shape[1:])
    if expected != actual:
        raise deploy.DeployError(
            f"--keras-model takes inputs of shape {actual}, the .tflite {expected}: "
            "not the same network."
        )
    return keras_model


def run(args) -> int:
    """Runs `larq-nobn benchmark` from parsed arguments; returns the exit status.

    Prints the latency table on stdout. 0: ok; 2: bad input (one line on stderr).
    """
    try:
        flatbuffer = deploy.read_flatbuffer(args.model)
        with tf_logs_shown(arg_or_default(args, "verbose", False)):
            result = deploy.benchmark(
                flatbuffer,
                threads=tuple(arg_or_default(args, "threads", [1])),
                runs=arg_or_default(args, "runs", 50),
                warmup=arg_or_default(args, "warmup", 5),
                keras_model=_baseline_model(args, flatbuffer),
                progress=True,
            )
        json_path = arg_or_default(args, "json")
        if json_path:
            save_json(json_path, {"model": str(args.model), **result.to_dict()})
    except deploy.DeployError as error:
        if str(args.model) not in str(error) and "--keras-model" not in str(error):
            error = f"'{args.model}': {error}"
        return report_error("benchmark", error)
    print(result.to_text())
    return deploy.EXIT_OK
