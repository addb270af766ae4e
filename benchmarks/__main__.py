"""The reproduction report: `python -m benchmarks` (or `make bench`) regenerates
`BENCHMARKS.md`, its plots (`benchmarks/plots/*.png`) and `benchmarks/results.json`.

Sections (one module each): 1 `accuracy` (+ `claims`), 2 `gradients`, 3 `balance`,
4 `cost`, 5 `batch_size`, 6 `inference`, 7 `recipes_table`. Sizes and the 2-hour
budget arithmetic: `benchmarks.plan`.

    python -m benchmarks                   # full report (~90 min from an empty cache)
    python -m benchmarks --quick           # < 10 min, into reports/bench-quick/
    python -m benchmarks --tiny --output DIR --runs-root DIR/runs   # the test's size

Training runs are cached in `--runs-root` (default `runs/bench`, see
`benchmarks.accuracy`): a run whose `metrics.json` exists is read back, and the report
says which were.
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
    plots,
    recipes_table,
    report,
)
from benchmarks.plan import PLANS


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
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
                        help="override the plan's BinaryNet epochs (3; 2 shortens "
                        "section 1 by a third)")
    parser.add_argument("--resnet-width", type=float, help="override ReActNet-18's width")
    parser.add_argument("--resnet-epochs", type=int, help="override ReActNet-18's epochs")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--verbose", type=int, default=2, help="Keras verbosity of runs")
    parser.set_defaults(plan="full")
    return parser.parse_args(argv)


def make_plan(args):
    plan = PLANS[args.plan]
    overrides = {
        "binarynet_epochs": args.binarynet_epochs,
        "resnet_width": args.resnet_width,
        "resnet_epochs": args.resnet_epochs,
        "seeds": tuple(args.seeds) if args.seeds else None,
    }
    return plan.replace(**{k: v for k, v in overrides.items() if v is not None})


def output_paths(args) -> dict:
    """`{"markdown", "json", "plots"}` paths."""
    if args.output is None and args.plan == "full":
        return {"markdown": Path("BENCHMARKS.md"), "json": Path("benchmarks/results.json"),
                "plots": Path("benchmarks/plots")}
    folder = args.output or Path("reports") / f"bench-{args.plan}"
    return {"markdown": folder / "BENCHMARKS.md", "json": folder / "results.json",
            "plots": folder / "plots"}


def run_sections(plan, runs_root: Path, verbose: int) -> tuple[dict, dict]:
    """Runs sections 1-7; returns `(results, seconds per section)`."""
    results, seconds = {}, {}

    def timed(name, function, *args):
        start = time.perf_counter()
        results[name] = function(*args)
        seconds[name] = time.perf_counter() - start
        print(f"[benchmarks] {name}: {seconds[name]:.0f} s", flush=True)

    timed("accuracy_runs", accuracy.run_grid, plan, runs_root, verbose)
    timed("gradients", gradients.run, plan)
    timed("activation_balance", balance.run, plan)
    timed("cost", cost.run, plan)
    timed("batch_size", batch_size.run, plan, runs_root, verbose)
    timed("inference", inference.run, plan, results["accuracy_runs"])
    timed("recipes", recipes_table.run, plan)
    return results, seconds


def assemble(plan, sections: dict, seconds: dict, env: dict) -> dict:
    """The one JSON object: `runs` plus a key per section."""
    runs = sections.pop("accuracy_runs")
    summary = accuracy.summarize(runs)
    verdicts = claims.accuracy_claims(summary) + sections["gradients"]["claims"]
    verdicts.append(sections["batch_size"]["claim"])
    env["load_average_end"] = list(os.getloadavg())
    return {
        "environment": env,
        "plan": {k: list(v) if isinstance(v, tuple) else v
                 for k, v in vars(plan).items()},
        "section_seconds": seconds,
        "runs": runs + sections["batch_size"].pop("runs"),
        "accuracy": {"summary": [
            {"model": m, "width_multiplier": w, "norm": n, **stats}
            for (m, w, n), stats in summary.items()
        ]},
        "claims": verdicts,
        **sections,
    }


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    env = environment.describe(sys.argv[1:] if argv is None else argv)
    plan = make_plan(args)
    paths = output_paths(args)
    paths["plots"].mkdir(parents=True, exist_ok=True)
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    sections, seconds = run_sections(plan, args.runs_root, args.verbose)
    results = assemble(plan, sections, seconds, env)
    base = paths["markdown"].parent.resolve()
    made = {
        "accuracy_curves": plots.accuracy_curves(
            [r for r in results["runs"] if r.get("section") != "batch_size"],
            paths["plots"] / "accuracy_curves.png"),
        "gradient_norms": plots.gradient_norms(
            results["gradients"]["norms"], paths["plots"] / "gradient_norms.png"),
        "activation_balance": plots.activation_balance(
            results["activation_balance"], paths["plots"] / "activation_balance.png"),
    }
    results["plots"] = {k: os.path.relpath(p.resolve(), base) for k, p in made.items()}
    report.write_json(results, paths["json"])
    paths["markdown"].write_text(report.markdown(results))
    print(f"[benchmarks] wrote {paths['markdown']}, {paths['json']}, {paths['plots']}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
