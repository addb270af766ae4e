"""Section 7, full-scale recipes: the papers' own numbers (REFERENCE.md section 1) next
to the `larq-nobn train --recipe ...` command that reproduces each on a GPU machine.
None of these has been run here (no CIFAR, Tiny ImageNet or ImageNet offline, and
each is hundreds of GPU-hours of epochs); the table says so per row."""

from __future__ import annotations

from larq_nobn.training import RECIPES

NOT_RUN = "not run here (needs the dataset and a GPU)"

#: (paper, model, dataset, reported top-1 or None if unverified, command).
ROWS = (
    ("BNN - BN = ?", "ReActNet-18 bf", "CIFAR-10", 92.08,
     "larq-nobn train --recipe bnn_nobn_reactnet18_cifar --dataset cifar10 "
     "--output runs/r18-c10"),
    ("BNN - BN = ?", "ReActNet-18 bf", "CIFAR-100", 68.34,
     "larq-nobn train --recipe bnn_nobn_reactnet18_cifar --dataset cifar100 "
     "--output runs/r18-c100"),
    ("BNN - BN = ?", "ReActNet-A bf", "ImageNet", 68.0,
     "larq-nobn train --recipe bnn_nobn_reactnet_a --teacher TEACHER.keras "
     "--data-dir DATA --output runs/ra-bf"),
    ("BNN - BN = ? (ReActNet)", "ReActNet-A bn", "ImageNet", 69.4,
     "larq-nobn train --recipe bnn_nobn_reactnet_a --norm bn --teacher TEACHER.keras "
     "--data-dir DATA --output runs/ra-bn"),
    ("BNN - BN = ?", "ReActNet-A none", "ImageNet", 34.1,
     "larq-nobn train --recipe bnn_nobn_reactnet_a --norm none --teacher TEACHER.keras "
     "--data-dir DATA --output runs/ra-none"),
)
ABN_DATASETS = (("CIFAR-10", "cifar10"), ("CIFAR-100", "cifar100"),
                ("TinyImageNet", "tiny_imagenet --data-dir DATA"))


def rows() -> list[dict]:
    """Every row of the table, the ABN paper's (numbers unread: `None`) included."""
    table = [
        {"paper": paper, "model": model, "dataset": dataset, "reported_top1": top1,
         "command": command, "run_here": NOT_RUN}
        for paper, model, dataset, top1, command in ROWS
    ]
    for model, flag, short in (("BinaryNet x3", "", "bnn"),
                               ("ResNet-18", " --model binary_resnet18", "r18")):
        for norm in ("abn", "bn"):
            for dataset, option in ABN_DATASETS:
                table.append({
                    "paper": "ABN (Gu et al.)",
                    "model": f"{model} {norm}",
                    "dataset": dataset,
                    "reported_top1": None,
                    "command": f"larq-nobn train --recipe abn_paper{flag} --norm {norm} "
                    f"--dataset {option} --seeds 0 1 2 3 4 "
                    f"--output runs/abn-{short}-{norm}-{option.split()[0]}",
                    "run_here": NOT_RUN,
                })
    return table


def run(plan=None) -> dict:
    """`{"rows": [...], "recipes": [recipe names]}`."""
    return {"rows": rows(), "recipes": sorted(RECIPES)}
