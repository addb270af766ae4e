"""The reproduction report: `python -m benchmarks` (or `make bench`) regenerates
`BENCHMARKS.md`, its plots (`benchmarks/plots/*.png`) and `benchmarks/results.json`.

Sections (one module each): 1 `accuracy` (+ `claims`), 1b `padding` (binary padding
with 0 against +1), `authors` (the authors' PyTorch models trained beside section 1:
`benchmarks.authors.section`; a one-line note without the checkouts), 2 `gradients`,
3 `balance`, 4 `cost`, 5 `batch_size`, 6 `inference`, 7 `pipelines`, 8 `recipes`
(`recipes_table`), and, given the authors' checkouts (`--abn-checkout`,
`--nobn-checkout`, `--torch-python`), `authors_cost` (`benchmarks.authors.cost`).
Every timing goes through `benchmarks.timing.interleaved`. Sizes and the budget
arithmetic: `benchmarks.plan`.

    python -m benchmarks                   # full report (budget: benchmarks.plan)
    python -m benchmarks cost inference    # named sections only, into reports/
    python -m benchmarks --quick           # < 10 min, into reports/bench-quick/
    python -m benchmarks --tiny --output DIR --runs-root DIR/runs   # the test's size
    python -m benchmarks --abn-checkout ABN --nobn-checkout NOBN --torch-python PY

Training runs are cached in `--runs-root` (default `runs/bench`, see
`benchmarks.accuracy`): a run whose `metrics.json` exists is read back, and the report
says which were. `inference` converts section 1's models, so naming it runs
`accuracy` too (from the cache where it can).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import larq_nobn  # noqa: F401  (Keras 2 before TensorFlow)
from benchmarks import (
    accuracy,
    balance,
    batch_size,
    claims,
    cost,
    environment,
    gradients,
    inference,
    padding,
    pipelines,
    plots,
    recipes_table,
    report,
)
from benchmarks.authors import cost as authors_cost
from benchmarks.authors import section as authors
from benchmarks.plan import NORMS, PLANS

#: `{section: (results key, runner(plan, runs_root, verbose, results))}`, in report order.
SECTIONS = {
    "accuracy": ("accuracy_runs", lambda plan, root, verbose, _: accuracy.run_grid(
        plan, root, verbose)),
    "padding": ("padding", lambda plan, root, verbose, _: padding.run(plan, root, verbose)),
    "authors": ("authors", lambda plan, root, verbose, results, **options: authors.run(
        plan, root, results["accuracy_runs"], verbose=verbose, **options)),
    "gradients": ("gradients", lambda plan, *_: gradients.run(plan)),
    "balance": ("activation_balance", lambda plan, *_: balance.run(plan)),
    "cost": ("cost", lambda plan, *_: cost.run(plan)),
    "batch_size": ("batch_size", lambda plan, root, verbose, _: batch_size.run(
        plan, root, verbose)),
    "inference": ("inference", lambda plan, root, verbose, results: inference.run(
        plan, results["accuracy_runs"])),
    "pipelines": ("pipelines", lambda plan, *_: pipelines.run(plan)),
    "recipes": ("recipes", lambda plan, *_: recipes_table.run(plan)),
    "authors_cost": ("authors_cost", lambda plan, root, verbose, results, **paths:
                     authors_cost.run(plan, **paths)),
}
#: Sections run against the authors' code only when named or when both checkouts are
#: given (`authors` always runs: without them it is a one-line note).
AUTHOR_SECTIONS = ("authors_cost",)
#: `checkouts` keys, the options' destinations.
CHECKOUT_OPTIONS = ("abn_checkout", "nobn_checkout", "torch_python")
#: Sections whose input another section produces.
NEEDS = {"inference": ("accuracy",), "authors": ("accuracy",)}


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help="sections to run (default: all): " + ", ".join(SECTIONS))
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="plan", const="quick",
                      help="tiny sample counts, 1 epoch, small widths, 2 seeds (<10 min)")
    size.add_argument("--tiny", action="store_const", dest="plan", const="tiny",
                      help="smaller still, 1 seed (the test suite's size)")
    parser.add_argument("--output", type=Path,
                        help="folder for BENCHMARKS.md, plots/ and results.json (default: "
                        "the repository root and benchmarks/ for the full report, "
                        "reports/bench-<plan>/ otherwise)")
    parser.add_argument("--runs-root", type=Path, default=accuracy.ROOT,
                        help=f"run cache (default {accuracy.ROOT})")
    parser.add_argument("--binarynet-epochs", type=int,
                        help="override the plan's BinaryNet epochs (full plan: 3)")
    parser.add_argument("--resnet-width", type=float, help="override ReActNet-18's width")
    parser.add_argument("--resnet-epochs", type=int, help="override ReActNet-18's epochs")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--norms", nargs="+", choices=NORMS,
                        help="override the norm variants")
    parser.add_argument("--verbose", type=int, default=2, help="Keras verbosity of runs")
    code = parser.add_argument_group("the authors' code (sections authors, authors_cost)")
    code.add_argument("--abn-checkout", type=Path, help="a gushan/ABN checkout")
    code.add_argument("--nobn-checkout", type=Path, help="a VITA-Group/BNN_NoBN checkout")
    code.add_argument("--torch-python", type=Path, default=Path(sys.executable),
                      help="an interpreter with torch (default: this one)")
    code.add_argument("--authors-timeout", type=int, default=authors.TIMEOUT,
                      help=f"seconds one authors' run may take (default {authors.TIMEOUT})")
    parser.set_defaults(plan="full")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(map(repr, unknown))}; accepted: "
                     + ", ".join(SECTIONS))
    with_authors = args.abn_checkout is not None and args.nobn_checkout is not None
    args.sections = selected(args.sections, with_authors)
    check_authors(parser, args)
    return args


def check_authors(parser, args):
    """Both checkouts or neither; when an authors' section runs, usable checkouts and
    torch."""
    given = [args.abn_checkout is not None, args.nobn_checkout is not None]
    if any(given) and not all(given):
        parser.error("--abn-checkout and --nobn-checkout go together; got only "
                     + ("--abn-checkout" if given[0] else "--nobn-checkout"))
    try:
        if all(given) and "authors" in args.sections:
            authors.check_checkout(args.abn_checkout, "abn")
            authors.check_checkout(args.nobn_checkout, "nobn")
            authors.check_torch(args.torch_python)
        if any(name in AUTHOR_SECTIONS for name in args.sections):
            authors_cost.check_checkouts(**checkouts(args))
    except (authors.AuthorsError, ValueError) as error:
        parser.error(str(error))


def checkouts(args) -> dict:
    """The checkout options as keyword arguments."""
    return {key: getattr(args, key) for key in CHECKOUT_OPTIONS}


def selected(names, with_authors: bool = False) -> list[str]:
    """The sections to run, in report order: `names` (all when empty, the authors'
    sections only `with_authors`) and what they need."""
    default = [n for n in SECTIONS if with_authors or n not in AUTHOR_SECTIONS]
    wanted = set(names or default)
    wanted |= {need for name in list(wanted) for need in NEEDS.get(name, ())}
    return [name for name in SECTIONS if name in wanted]


def make_plan(args):
    plan = PLANS[args.plan]
    overrides = {
        "binarynet_epochs": args.binarynet_epochs,
        "resnet_width": args.resnet_width,
        "resnet_epochs": args.resnet_epochs,
        "seeds": tuple(args.seeds) if args.seeds else None,
        "norms": tuple(args.norms) if args.norms else None,
    }
    return plan.replace(**{k: v for k, v in overrides.items() if v is not None})


def output_paths(args) -> dict:
    """`{"markdown", "json", "plots"}` paths: the committed report for the full plan
    with every section, `reports/bench-<plan>[-<sections>]/` otherwise."""
    whole = set(SECTIONS) - set(AUTHOR_SECTIONS) <= set(args.sections)
    if args.output is None and args.plan == "full" and whole:
        return {"markdown": Path("BENCHMARKS.md"), "json": Path("benchmarks/results.json"),
                "plots": Path("benchmarks/plots")}
    name = f"bench-{args.plan}" + ("" if whole else "-" + "-".join(args.sections))
    folder = args.output or Path("reports") / name
    return {"markdown": folder / "BENCHMARKS.md", "json": folder / "results.json",
            "plots": folder / "plots"}


def run_sections(names, plan, runs_root: Path, verbose: int,
                 options: dict | None = None) -> tuple[dict, dict]:
    """Runs the sections `names` in order; returns `(results, seconds per section)`,
    both keyed by the sections' results keys. `options`: `{section: keyword
    arguments}` of the sections that take some (the authors' sections)."""
    results, seconds = {}, {}
    for name in names:
        key, runner = SECTIONS[name]
        start = time.perf_counter()
        results[key] = runner(plan, runs_root, verbose, results,
                              **(options or {}).get(name, {}))
        seconds[key] = time.perf_counter() - start
        print(f"[benchmarks] {name}: {seconds[key]:.0f} s", flush=True)
    return results, seconds


def assemble(plan, sections: dict, seconds: dict, env: dict) -> dict:
    """The one JSON object: `runs` (sections 1 and 5), `claims` and a key per section."""
    runs = sections.pop("accuracy_runs", [])
    verdicts = claims.accuracy_claims(accuracy.summarize(runs))
    if "gradients" in sections:
        verdicts += sections["gradients"]["claims"]
    if "batch_size" in sections:
        verdicts.append(sections["batch_size"]["claim"])
    for name in ("padding", "batch_size"):  # their runs join `runs`, tagged `section`
        if name in sections:
            runs = runs + sections[name].pop("runs")
    env["load_average_end"] = list(os.getloadavg())
    results = {
        "environment": env,
        "plan": {k: list(v) if isinstance(v, tuple) else v
                 for k, v in vars(plan).items()},
        "section_seconds": seconds,
        "runs": runs,
        "claims": verdicts,
        **sections,
    }
    summary = accuracy.summarize([r for r in runs if "section" not in r])
    if summary:
        results["accuracy"] = {"summary": [
            {"model": m, "width_multiplier": w, "norm": n, **stats}
            for (m, w, n), stats in summary.items()
        ]}
    return results


def make_plots(results: dict, folder: Path, base: Path) -> dict:
    """The plots of the sections in `results`; `{name: path relative to base}`."""
    sources = {
        "accuracy_curves": ("accuracy", plots.accuracy_curves, lambda: [
            r for r in results["runs"] if "section" not in r]),
        "gradient_norms": ("gradients", plots.gradient_norms,
                           lambda: results["gradients"]["norms"]),
        "activation_balance": ("activation_balance", plots.activation_balance,
                               lambda: results["activation_balance"]),
    }
    made = {}
    for name, (key, plot, data) in sources.items():
        if key in results:
            path = plot(data(), folder / f"{name}.png")
            made[name] = os.path.relpath(path.resolve(), base)
    return made


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    env = environment.describe(sys.argv[1:] if argv is None else argv)
    plan = make_plan(args)
    paths = output_paths(args)
    paths["plots"].mkdir(parents=True, exist_ok=True)
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    paths_given = checkouts(args)
    options = {"authors": dict(paths_given, timeout=args.authors_timeout),
               "authors_cost": paths_given}
    sections, seconds = run_sections(args.sections, plan, args.runs_root, args.verbose,
                                     options)
    results = assemble(plan, sections, seconds, env)
    results["plots"] = make_plots(results, paths["plots"], paths["markdown"].parent.resolve())
    report.write_json(results, paths["json"])
    paths["markdown"].write_text(report.markdown(results))
    print(f"[benchmarks] wrote {paths['markdown']}, {paths['json']}, {paths['plots']}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
