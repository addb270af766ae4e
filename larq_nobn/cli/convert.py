"""`larq-nobn convert`: convert a Keras model to TFLite with LCE, report and verify."""

from __future__ import annotations

import sys
from pathlib import Path

from larq_nobn import deploy
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import arg_or_default, examples_epilog, report_error
from larq_nobn.deploy.conversion_rules import check_target
from larq_nobn.deploy.export import SPLIT_CHOICES
from larq_nobn.deploy.formats import KERAS_MODEL_KINDS
from larq_nobn.deploy.int8_edges import check_inference_type, check_int8_range
from larq_nobn.deploy.loading import model_format
from larq_nobn.deploy.saving import save_json

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "convert runs/default/model.keras -o model.tflite",
    "convert runs/bf/model.keras --verify-dataset fashion_mnist --json report.json",
    "convert runs/bf/model.keras --inference-input-type int8 --int8-range -3 3",
)


def add_parser(subparsers):
    """Adds `convert` to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "convert",
        **examples_epilog(EXAMPLES),
        help="convert a Keras model to an LCE .tflite with a report",
        description=(
            "Convert a Keras model with Larq Compute Engine and report the op histogram "
            "(binary convolutions, bitpacked outputs, float ops and their layers, "
            "binary layers that stay float and why), the input and output types and "
            "any int8 QUANTIZE / DEQUANTIZE ops, the size against the ideal size, "
            "and optionally the agreement of LCE's interpreter with Keras on real "
            "samples. Exit status: 0 ok, 1 verification below the threshold, 2 bad input."
        ),
    )
    parser.add_argument("model", help=f"the Keras model: {KERAS_MODEL_KINDS}")
    parser.add_argument("-o", "--output",
                        help="the .tflite to write (default: the model path with .tflite)")
    parser.add_argument("--target", choices=deploy.TARGETS, default="arm",
                        help="LCE target (default: arm, for Raspberry Pi and Android)")
    for edge in ("input", "output"):
        parser.add_argument(f"--inference-{edge}-type", choices=deploy.INFERENCE_TYPES,
                            default="float32",
                            help=f"type of the model {edge} (default: float32); int8 needs "
                            "quantization statistics: fake-quantization ops in the model "
                            "or --int8-range")
    parser.add_argument("--int8-range", type=argtypes.number, nargs=2,
                        metavar=("MIN", "MAX"),
                        help="default int8 range of every tensor without quantization "
                        "statistics (MIN <= 0 <= MAX; LCE's experimental_default_int8_range:"
                        " dummy quantization, for latency tests, outputs are not accurate)")
    parser.add_argument("--verify-dataset", metavar="NAME",
                        help="verify on NAME's test split (e.g. fashion_mnist) or an .npz "
                        "file with arrays x and y")
    parser.add_argument("--verify-samples", type=argtypes.positive_int, default=1000,
                        metavar="N", help="samples to verify on (default: 1000)")
    parser.add_argument("--verify-threshold", type=argtypes.fraction,
                        default=deploy.DEFAULT_AGREEMENT_THRESHOLD, metavar="FRACTION",
                        help="minimum top-1 agreement, exit status 1 below it "
                        f"(default: {deploy.DEFAULT_AGREEMENT_THRESHOLD})")
    parser.add_argument("--unsafe-load", action="store_true",
                        help="allow Lambda layers in the model file: runs its stored Python "
                        "code; only for files you trust")
    parser.add_argument("--no-abn-fusion", dest="abn_fusion", action="store_false",
                        help="convert the model as it is, without the exact export "
                        "rewrites (ABN before signs as thresholds, max-pools after "
                        "monotone norms, flatten + binary dense as one binary conv)")
    parser.add_argument("--split-intervals", choices=SPLIT_CHOICES,
                        default="auto",
                        help="ABN channels whose sign is -1 inside an interval: split into "
                        "two thresholds where that adds no 32-bit word to the next "
                        "binary layer (auto, default), wherever a binary conv produces "
                        "them (bitpacked: bitpacked outputs and no float op between "
                        "binary convs, as with BN, for more binary work), wherever "
                        "possible (always) or never (exact float comparisons)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    return parser


def _default_output(model_path: Path) -> Path:
    if model_path.is_dir():
        return model_path.parent / (model_path.name.rstrip("/") + ".tflite")
    return model_path.with_suffix(".tflite")


def _checked_options(args):
    """`(model_path, output, target, samples, threshold, dataset)` from `args`, checked
    before anything slow runs.

    # Raises
        DeployError: A missing or wrong kind of model file, an output that would
            overwrite it or lies in a missing directory, or a bad option value.
    """
    model_path = Path(args.model)
    if not model_path.exists():
        raise deploy.DeployError(f"model file not found: '{model_path}'.")
    model_format(model_path)  # a .tflite or a text file: say so before anything else
    output = Path(arg_or_default(args, "output", "") or _default_output(model_path))
    if output.resolve() == model_path.resolve():
        raise deploy.DeployError(f"the output '{output}' would overwrite the model.")
    target = arg_or_default(args, "target", "arm")
    samples = arg_or_default(args, "verify_samples", 1000)
    threshold = arg_or_default(args, "verify_threshold", deploy.DEFAULT_AGREEMENT_THRESHOLD)
    if not 0 < threshold <= 1:
        raise deploy.DeployError(f"--verify-threshold must be in (0, 1], got {threshold!r}.")
    dataset = arg_or_default(args, "verify_dataset")
    if dataset and (not isinstance(samples, int) or samples < 1):
        raise deploy.DeployError(f"--verify-samples must be >= 1, got {samples!r}.")
    check_target(target)
    if not output.parent.is_dir():
        raise deploy.DeployError(f"output directory does not exist: '{output.parent}'.")
    return model_path, output, target, samples, threshold, dataset


def _int8_options(args) -> dict:
    """The int8 keyword arguments of `deploy.convert` from `args`, checked.

    # Raises
        DeployError: An unknown type or a bad `--int8-range`.
    """
    return {
        "inference_input_type": check_inference_type(
            arg_or_default(args, "inference_input_type", "float32"),
            "--inference-input-type"),
        "inference_output_type": check_inference_type(
            arg_or_default(args, "inference_output_type", "float32"),
            "--inference-output-type"),
        "experimental_default_int8_range": check_int8_range(
            arg_or_default(args, "int8_range"), "--int8-range"),
    }


def _convert(args):
    """Converts (and verifies) as `args` say, writes the outputs; returns
    `(result, output, threshold)`."""
    model_path, output, target, samples, threshold, dataset = _checked_options(args)
    int8_options = _int8_options(args)
    model = deploy.load_keras_model(
        model_path, safe_mode=not arg_or_default(args, "unsafe_load", False)
    )
    if dataset:  # before the (slow) conversion, so that a bad dataset fails fast
        if isinstance(model.input_shape, list):
            raise deploy.DeployError("verification needs a model with one input.")
        x, y = deploy.load_verification_data(dataset, samples, model.input_shape[1:])
    split = arg_or_default(args, "split_intervals", "auto")
    result = deploy.convert(model, target, abn_fusion=arg_or_default(args, "abn_fusion", True),
                            split_intervals=split, **int8_options)
    if dataset:
        result.verify(x, y, threshold=threshold)
    result.save(output)
    json_path = arg_or_default(args, "json")
    if json_path:
        save_json(json_path, {"model": str(model_path), "output": str(output),
                              **result.to_dict()})
    return result, output, threshold


def run(args) -> int:
    """Runs `larq-nobn convert` from parsed arguments; returns the exit status.

    Prints the report on stdout. 0: converted (and verified, if asked); 1: agreement
    below `--verify-threshold`; 2: bad input (one line on stderr, no traceback).
    """
    try:
        result, output, threshold = _convert(args)
    except deploy.DeployError as error:
        return report_error("convert", error)
    print(result.to_text())
    print(f"Wrote {output} ({len(result.flatbuffer):,} bytes).")
    if result.verification is not None and not result.verification.passed:
        print(
            f"larq-nobn convert: verification failed: top-1 agreement "
            f"{result.verification.agreement:.2%} < {threshold:.2%}",
            file=sys.stderr,
        )
        return deploy.EXIT_VERIFICATION_FAILED
    return deploy.EXIT_OK
