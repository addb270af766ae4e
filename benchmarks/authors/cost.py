"""Section `authors_cost`: the training step time of the zoo against the authors' own
PyTorch code, at the same width, batch, image size and thread count.

Pairs (zoo model and norm; the authors' module):

- BinaryNet bn / abn: gushan/ABN `vgg_cifar10_binary` / `vgg_abn_cifar10_binary`;
- ResNet-18 bn / abn: gushan/ABN `resnet_binary` / `resnet_abn_binary` (depth 18,
  CIFAR-10), the zoo's `binary_resnet18`;
- ReActNet-18 bn / bf: VITA-Group/BNN_NoBN `Qaw_reactnet_18_bn` / `_bf`
  (`birealnet18(imagenet=False)`, the CIFAR stem), the zoo's `reactnet18`.

The authors' models are narrowed at run time by `1 / width`
(`benchmarks.authors.torch_models`). Both sides train on a fixed random batch of
`authors_cost_batch` RGB images of `authors_cost_image` pixels a side (the papers'
CIFAR input; the values do not change the cost) with Adam (lr 1e-3, no weight decay)
and, for `bf`, AGC with the zoo's clip factor, the classifier excluded (BNN_NoBN:
every parameter named "fc"). A step is forward, loss, backward and the optimizer
step.

Each framework runs in its own worker process, started once: the zoo's
(`zoo_worker`, this interpreter, TensorFlow with `authors_cost_threads` intra-op
threads and 1 inter-op thread) and the authors' (`torch_worker`, `--torch-python`,
`torch.set_num_threads(authors_cost_threads)`, 1 inter-op thread, `TORCH_ENV`). Per pair,
`timing.alternating`: after 2 untimed steps each, `authors_cost_rounds` rounds of
`authors_cost_repeats` steps of the authors' model, then as many of the zoo's; only one
process computes at a time. Reported: each side's fastest round and the median over
rounds of the per-round ratio zoo / authors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import timing
from benchmarks.authors import TORCH_ENV, checks
from benchmarks.models import LABELS

LEARNING_RATE = 1e-3
WARMUP = 2
#: `{pair: (zoo model, norm, plan width field, (repository, module, factory, kwargs))}`.
PAIRS = {
    "binarynet_bn": ("binarynet", "bn", "authors_cost_binarynet_width",
                     ("abn", "vgg_cifar10_binary", "vgg_cifar10_binary", {})),
    "binarynet_abn": ("binarynet", "abn", "authors_cost_binarynet_width",
                      ("abn", "vgg_abn_cifar10_binary", "vgg_abn_cifar10_binary", {})),
    "resnet18_bn": ("binary_resnet18", "bn", "authors_cost_resnet18_width",
                    ("abn", "resnet_binary", "resnet_binary",
                     {"depth": 18, "dataset": "cifar10"})),
    "resnet18_abn": ("binary_resnet18", "abn", "authors_cost_resnet18_width",
                     ("abn", "resnet_abn_binary", "resnet_abn_binary",
                      {"depth": 18, "dataset": "cifar10"})),
    "reactnet18_bn": ("reactnet18", "bn", "authors_cost_reactnet18_width",
                      ("nobn", "Qaw_reactnet_18_bn", "birealnet18", {"imagenet": False})),
    "reactnet18_bf": ("reactnet18", "bf", "authors_cost_reactnet18_width",
                      ("nobn", "Qaw_reactnet_18_bf", "birealnet18", {"imagenet": False})),
}
HERE = Path(__file__).resolve().parent


def check_checkouts(abn_checkout, nobn_checkout, torch_python) -> None:
    """Checks `--abn-checkout`, `--nobn-checkout` (every module of `PAIRS`, and
    BNN_NoBN's `agc.py`) and `--torch-python`.

    # Raises
        checks.AuthorsError: one line naming the option, the path and what is wrong.
    """
    for repo, path in (("abn", abn_checkout), ("nobn", nobn_checkout)):
        modules = {pair[3][1] for pair in PAIRS.values() if pair[3][0] == repo}
        checks.check_checkout(path, repo, sorted(modules))
    if torch_python is None:
        raise checks.AuthorsError("--torch-python is needed: an interpreter with torch.")
    checks.check_torch(torch_python)


def specs(plan, pair: str, abn_checkout, nobn_checkout) -> tuple[dict, dict]:
    """`(zoo spec, authors spec)` of `pair` for the workers' `make_step`."""
    model, norm, width_field, (repo, file, factory, kwargs) = PAIRS[pair]
    width = getattr(plan, width_field)
    from larq_nobn.training import zoo_agc_settings

    agc = zoo_agc_settings(model)[0] if norm == "bf" else None
    common = dict(batch=plan.authors_cost_batch, size=plan.authors_cost_image,
                  learning_rate=LEARNING_RATE, agc=agc)
    zoo = dict(model=model, norm=norm, width=width, **common)
    root = abn_checkout if repo == "abn" else nobn_checkout
    authors = dict(repo=repo, root=str(root), file=file, factory=factory, kwargs=kwargs,
                   divider=checks.divider(width), **common)
    return zoo, authors


def workers(torch_python, threads: int):
    """The zoo's and the authors' worker processes (`timing.Worker`)."""
    root = str(HERE.parents[1])
    zoo = timing.Worker([sys.executable, "-m", "benchmarks.authors.zoo_worker",
                         str(threads)], "zoo", env={"PYTHONPATH": root})
    authors = timing.Worker([str(torch_python), str(HERE / "torch_worker.py"),
                             str(threads)], "torch", env=TORCH_ENV)
    return zoo, authors


def run(plan, abn_checkout, nobn_checkout, torch_python) -> dict:
    """`{"setup": {...}, pair: {"width", "zoo_s", "authors_s", "ratio", "rounds_s"}}`:
    the fastest round of each side (seconds per step) and the median ratio zoo /
    authors, per pair of `PAIRS`."""
    check_checkouts(abn_checkout, nobn_checkout, torch_python)
    result = {"setup": {
        "batch_size": plan.authors_cost_batch,
        "image": [plan.authors_cost_image, plan.authors_cost_image, 3],
        "rounds": plan.authors_cost_rounds,
        "steps_per_round": plan.authors_cost_repeats,
        "threads": plan.authors_cost_threads,
        "torch_env": TORCH_ENV,
    }}
    zoo, authors = workers(torch_python, plan.authors_cost_threads)
    with zoo, authors:
        for pair in PAIRS:
            zoo_spec, authors_spec = specs(plan, pair, abn_checkout, nobn_checkout)
            authors.build(pair, authors_spec)
            zoo.build(pair, zoo_spec)
            times = timing.alternating(
                {"authors": (authors, pair), "zoo": (zoo, pair)},
                plan.authors_cost_rounds, plan.authors_cost_repeats, WARMUP,
                baseline="authors",
            )
            result[pair] = {
                "width": zoo_spec["width"],
                "zoo_s": times["zoo"]["fastest_s"],
                "authors_s": times["authors"]["fastest_s"],
                "ratio": times["zoo"]["ratio"],
                "rounds_s": {side: t["rounds_s"] for side, t in times.items()},
            }
    return result


def markdown(results: dict) -> list[str]:
    """The report's section: a row per pair."""
    cost = results["authors_cost"]
    setup = cost["setup"]
    rows = []
    for pair in (p for p in cost if p != "setup"):
        r = cost[pair]
        model, norm = PAIRS[pair][:2]
        rows.append(f"| {LABELS[model]} | {norm} | {r['width']:g} | "
                    f"{1000 * r['zoo_s']:.1f} | {1000 * r['authors_s']:.1f} | "
                    f"{r['ratio']:.2f} |")
    return [
        "## Training cost against the authors' code",
        "",
        f"Seconds per training step (forward, backward, Adam; AGC for bf) of the zoo "
        f"(TensorFlow) and of the authors' PyTorch models narrowed to the same width, "
        f"batch {setup['batch_size']} of {'x'.join(map(str, setup['image']))} random "
        f"images, {setup['threads']} threads each (torch's OpenMP threads waiting "
        f"passively: `TORCH_ENV`), in two worker processes that take "
        f"turns: the fastest of {setup['rounds']} rounds of "
        f"{setup['steps_per_round']} steps per side, and the median over rounds of the "
        "per-round ratio zoo / authors (`benchmarks.authors.cost`).",
        "",
        "| model | norm | width | zoo ms | authors ms | zoo / authors |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]
