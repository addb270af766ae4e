"""`larq-nobn recipes`: list the papers' training recipes."""

from __future__ import annotations

from larq_nobn import training
from larq_nobn.cli.common import examples_epilog

#: The example invocations that end `--help` (without the program name).
EXAMPLES = (
    "recipes",
    "train --recipe bnn_nobn_reactnet18_cifar --output runs/reactnet18",
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "recipes",
        **examples_epilog(EXAMPLES),
        help="list the papers' training recipes (for train --recipe)",
        description="List the recipes that `larq-nobn train --recipe NAME` applies.",
    )
    return parser


def run(args) -> int:
    """Runs `larq-nobn recipes`; returns the exit status."""
    for recipe in training.RECIPES.values():
        print(f"{recipe.name}\n  {recipe.description}")
        settings = ", ".join(f"{k}={v}" for k, v in recipe.overrides.items())
        print(f"  settings: {settings}")
        for model, extra in recipe.model_overrides.items():
            print(
                f"  with --model {model}: "
                + ", ".join(f"{k}={v}" for k, v in extra.items())
            )
        for reference in recipe.references:
            print(f"  reference: {reference}")
        print()
    return 0


