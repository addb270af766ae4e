"""`larq-nobn import-weights`: weights trained with the authors' PyTorch code (gushan/ABN,
VITA-Group/BNN_NoBN) into the matching zoo model, saved as a `.keras` model that
`larq-nobn convert` takes; or BNN_NoBN's torchvision ResNet-34 teacher, saved as a
`.keras` model that `larq-nobn train --teacher` takes."""

from __future__ import annotations

from pathlib import Path

from larq_nobn import zoo
from larq_nobn.cli import argtypes
from larq_nobn.cli.common import examples_epilog, report_error
from larq_nobn.files import atomic_path
from larq_nobn.zoo.reference_import import reference_model
from larq_nobn.zoo.reference_weights import ARCHITECTURES, SUFFIXES

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "import-weights model_best.pth.tar --architecture binarynet --norm abn "
    "-o binarynet_abn.keras",
    "import-weights weights.npz --architecture reactnet18 --norm bf --stem cifar "
    "--num-classes 100 -o reactnet18_bf.keras",
    "import-weights resnet34_cifar10.pth.tar --architecture resnet34 -o teacher.keras",
)


def add_parser(subparsers):
    """Adds `import-weights` to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "import-weights",
        **examples_epilog(EXAMPLES),
        help="load a state_dict trained with the authors' PyTorch code into the zoo "
        "model and save it as .keras",
        description=(
            "Build the zoo model of a reference architecture (binary convolutions "
            "zero-padded, as in the references), load a state_dict trained with "
            "gushan/ABN or VITA-Group/BNN_NoBN into it and save it as a .keras model "
            "for larq-nobn convert (resnet34: BNN_NoBN's teacher, for larq-nobn train "
            "--teacher). The options must give the reference's widths, "
            "input size, classes and stem. Exit status: 0 ok, 2 bad input (missing, "
            "unexpected or mis-shaped parameters among it)."
        ),
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help=f"the state_dict: {', '.join(SUFFIXES)} (.pth needs PyTorch installed)",
    )
    parser.add_argument(
        "--architecture", required=True, choices=ARCHITECTURES,
        help="binarynet: gushan/ABN vgg_cifar10_binary / vgg_abn_cifar10_binary; "
        "resnet18_abn_paper: gushan/ABN resnet_binary / resnet_abn_binary (depth 18); "
        "reactnet18 / reactnet_a: BNN_NoBN Qaw_reactnet_18_* / Qaw_reactnet_A_*; "
        "resnet34: torchvision's resnet34, BNN_NoBN's distillation teacher (for "
        "--teacher; classes from fc.weight)",
    )
    parser.add_argument(
        "--norm", choices=zoo.NORMS, default="bn",
        help="the variant the weights were trained as (default: bn)",
    )
    parser.add_argument(
        "--width-multiplier", type=argtypes.number, metavar="W",
        help="the reference's width (default: the zoo builder's; BinaryNet: 3)",
    )
    parser.add_argument(
        "--input-shape", type=argtypes.positive_int, nargs=3,
        metavar=("HEIGHT", "WIDTH", "CHANNELS"),
        help="default: the zoo builder's (32 32 3; ReActNet-A: 224 224 3; ResNet-34: "
        "any height and width)",
    )
    parser.add_argument(
        "--num-classes", type=argtypes.positive_int, metavar="N",
        help="default: the zoo builder's (10; ReActNet-A: 1000; ResNet-34: the rows of "
        "fc.weight)",
    )
    parser.add_argument(
        "--stem", choices=("cifar", "imagenet"),
        help="reactnet18 only (BNN_NoBN's birealnet18 builds the imagenet stem unless "
        "called with imagenet=False); default: cifar up to 64x64 inputs",
    )
    parser.add_argument(
        "-o", "--output",
        help="the .keras model to write (default: SOURCE's name with .keras)",
    )
    return parser


def _output(args) -> Path:
    """The `.keras` path to write, checked before the model is built."""
    source = Path(args.source)
    if args.output:
        output = Path(args.output)
    else:
        name = source.name.removesuffix(".tar").rsplit(".", 1)[0]
        output = source.with_name(name + ".keras")
    if output.suffix != ".keras":
        raise ValueError(f"the output '{output}' must end with .keras.")
    if not output.parent.is_dir():
        raise ValueError(f"output directory does not exist: '{output.parent}'.")
    return output


def run(args) -> int:
    """Runs `larq-nobn import-weights` from parsed arguments; returns the exit status
    (2, one line on stderr, for bad input)."""
    try:
        output = _output(args)
        model = reference_model(
            args.source,
            architecture=args.architecture,
            norm=args.norm,
            input_shape=args.input_shape,
            num_classes=args.num_classes,
            width_multiplier=args.width_multiplier,
            stem=args.stem,
        )
        with atomic_path(output, suffix=".keras") as temporary:
            model.save(temporary)
    except (ValueError, FileNotFoundError, ImportError) as error:
        return report_error("import-weights", error)
    print(
        f"Loaded {args.source} into {model.name} ({model.count_params():,} parameters); "
        f"wrote {output}."
    )
    return 0
