"""`BENCHMARKS.md` and `results.json` from the results of the sections."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.authors import cost as authors_cost
from benchmarks.authors import report as authors_report
from benchmarks.models import LABELS
from benchmarks.plan import MODEL_FIELDS


def finite_json(value, path="", dropped=None):
    """`value` with every non-finite float replaced by `None` (JSON has no NaN); the
    paths of the replaced ones are appended to `dropped`."""
    if isinstance(value, float) and not math.isfinite(value):
        if dropped is not None:
            dropped.append(path)
        return None
    if isinstance(value, dict):
        return {str(k): finite_json(v, f"{path}/{k}", dropped) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v, f"{path}/{i}", dropped) for i, v in enumerate(value)]
    return value


def write_json(results: dict, path: Path) -> list[str]:
    """Writes `results.json`; returns the paths of non-finite values written as null."""
    dropped: list[str] = []
    clean = finite_json(results, "", dropped)
    clean["non_finite_as_null"] = dropped
    path.write_text(json.dumps(clean, indent=1) + "\n")
    return dropped


def pct(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def count(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless `n` is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def scale(plan: dict) -> list[str]:
    """One line per section-1 model: width, epochs, seeds; then the images and subsets
    of every training run."""
    lines = []
    for model, norms in plan["grid"]:
        width, epochs = (plan[field] for field in MODEL_FIELDS[model])
        seeds = plan["seeds"] if model == "binarynet" else (
            plan["residual_seeds"] or plan["seeds"])
        lines.append(f"  - {LABELS.get(model, model)} x{width}: {count(epochs, 'epoch')}, "
                     f"{', '.join(norms)}, seeds {', '.join(map(str, seeds))}")
    size = plan["image_size"]
    lines.append(
        f"  - every run of sections 1 and 1b: Fashion-MNIST resized from 28x28 to "
        f"{size}x{size} (CIFAR's size, the papers'), batch 128, Adam 1e-3, no "
        f"augmentation; training images {plan['max_train_samples'] or 'all 60,000'} "
        "an epoch, test images "
        f"{plan['max_test_samples'] or 'all 10,000'}")
    return lines


def header(results: dict) -> list[str]:
    env = results["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    seconds = results["section_seconds"]
    # A run of several sections (section 1's runs that 1b reuses) counts once, as
    # its first use found it.
    distinct = {}
    for run in results["runs"]:
        distinct.setdefault(run["run_dir"], run)
    cached = [r for r in distinct.values() if r.get("cached")]
    return [
        "# Reproduction report",
        "",
        f"- Plan: `{results['plan']['name']}` (sizes in `results.json` under `plan`; "
        "budget arithmetic in `benchmarks/plan.py`)",
        "- Scale of section 1 (CPU sizes, far below the papers' full-width CIFAR runs):",
        *scale(results["plan"]),
        f"- Machine: {env['machine']}",
        f"- Versions: {versions}",
        f"- Command: `{env['command']}`",
        f"- Load average at start / end: {env['load_average_start'][0]:.2f} / "
        f"{env['load_average_end'][0]:.2f}",
        f"- Wall time: {sum(seconds.values()) / 60:.1f} min ("
        + ", ".join(f"{k} {v / 60:.1f}" for k, v in seconds.items()) + ")",
        f"- Training runs: {len(distinct)}, of which {len(cached)} read back from "
        "the run cache (trained by an earlier invocation with the same settings): "
        + (", ".join(Path(r["run_dir"]).name for r in cached) or "none"),
        "",
    ]


def claim_interval(c: dict) -> str:
    """A verdict's estimate and interval: accuracies in points (%), ratios plain."""
    if c.get("estimate") is None:
        return "n/a"
    show = pct if c.get("unit") == "accuracy" else (lambda v: f"{v:.3g}")
    text = show(c["estimate"])
    if "low" in c:
        low = "-inf" if c["low"] is None else show(c["low"])
        high = "inf" if c["high"] is None else show(c["high"])
        text += f" [{low}, {high}]"
    return text


def claim_df(c: dict) -> str:
    df = c.get("df")
    if df is None:
        return "n/a" if "df" in c else ""
    return ", ".join(str(d) for d in df) if isinstance(df, list) else f"{df:.1f}"


def claim_row(c: dict) -> list:
    model = LABELS.get(c["model"], c["model"]) + f" x{c['width']}"
    return [
        c["claim"], model + (" (extension)" if c.get("extension") else ""),
        f"**{c['verdict']}**", claim_interval(c), claim_df(c),
        ", ".join(f"{norm} {n}" for norm, n in c.get("n", {}).items()),
        "" if c.get("p") is None else f"{c['p']:.3f}", c["rule"],
    ]


def claims_section(claims: list[dict]) -> list[str]:
    if not claims:
        return ["## Claims", "", "None: sections 1, 2 and 5 judge them, and none ran.", ""]
    header = ["claim", "model", "verdict", "estimate [95 % interval]", "df", "n", "p",
              "rule"]
    quotes = {c["quote"]: c["scope"] for c in claims if c.get("quote")}
    return [
        "## Claims", "",
        "Estimates of accuracies in % (differences in points), ratios plain; p is the "
        "one-sided p-value of the claimed direction.", "",
        *table(header, [claim_row(c) for c in claims]),
        "What the papers say, and what they tested it on:", "",
        *[f"- {quote} (their scope: {scope})" for quote, scope in quotes.items()], "",
    ]


def mean_std(mean, std) -> str:
    return f"{pct(mean)} +- {pct(std)}"


def accuracy_section(results: dict) -> list[str]:
    rows = []
    for entry in results["accuracy"]["summary"]:
        rows.append([
            LABELS.get(entry["model"], entry["model"]), entry["width_multiplier"],
            entry["norm"], mean_std(entry["mean"], entry["std"]),
            mean_std(entry["best_mean"], entry["best_std"]), entry["n"],
            ", ".join(str(e) for e in entry["best_epochs"]),
            ", ".join(pct(a) for a in entry["accuracies"]),
        ])
    return [
        "## 1. Accuracy on Fashion-MNIST",
        "",
        "Each model at the scale in the header (the widths, epochs and subsets are CPU "
        "sizes). bf trains with AGC (the zoo's clip factor). Test accuracy in %, mean "
        "+- sample std over seeds, of the last epoch and of the best epoch (the "
        "maximum over epochs of the test accuracy, what the references report).",
        "",
        *table(["model", "width", "norm", "last epoch", "best epoch", "seeds",
                "best epoch per seed", "last per seed"], rows),
        "![accuracy curves](" + results["plots"]["accuracy_curves"] + ")",
        "",
    ]


def interval(entry: dict) -> str:
    """`diff [low, high]` in points, with Welch's degrees of freedom."""
    df = "" if entry.get("df") is None else f", df {entry['df']:.1f}"
    return (f"{100 * entry['diff']:+.2f} [{100 * entry['low']:+.2f}, "
            f"{100 * entry['high']:+.2f}]{df}")


def padding_section(results: dict) -> list[str]:
    section = results["padding"]
    runs = results["runs"]
    rows = []
    for pad in (0.0, 1.0):
        mine = [r for r in runs if r.get("section") == "padding" and r["pad_values"] == pad]
        last = [r["test_accuracy"] for r in mine]
        best = [r["best_test_accuracy"] for r in mine]
        rows.append([f"{pad:.1f}", len(mine), ", ".join(pct(a) for a in last),
                     ", ".join(pct(a) for a in best)])
    return [
        "## 1b. Binary padding: the references' zeros against LCE's +1",
        "",
        f"{LABELS.get(section['model'], section['model'])} x{section['width']} "
        f"{section['norm']}, section 1's settings, with `pad_values=0.0` (the "
        "references') and `1.0` (the zoo's default, LCE's fast form; section 1's runs). "
        "Test accuracy in %. Difference 0.0 - 1.0 in points with Welch's 95 % interval: "
        f"last epoch {interval(section['difference']['last'])}; best epoch "
        f"{interval(section['difference']['best'])}.",
        "",
        *table(["pad_values", "seeds", "last epoch per seed", "best epoch per seed"], rows),
    ]


def gradients_section(results: dict) -> list[str]:
    rows = []
    for model, by_norm in results["gradients"]["norms"].items():
        for norm, layers in by_norm.items():
            values = list(layers.values())
            rows.append([LABELS.get(model, model), norm, f"{values[0]:.3g}",
                         f"{values[-1]:.3g}", f"{max(values):.3g}"])
    return [
        "## 2. Gradient norms at initialization",
        "",
        f"`larq_nobn.diagnostics.weight_gradient_norms` on one batch of "
        f"{results['gradients']['batch']} test images (training mode).",
        "",
        *table(["model", "norm", "first layer", "last layer", "max"], rows),
        "![gradient norms](" + results["plots"]["gradient_norms"] + ")",
        "",
    ]


def balance_section(results: dict) -> list[str]:
    rows = [[norm, f"{r['imbalance'][0]:.3f}", f"{r['imbalance'][-1]:.3f}", r["steps"][-1]]
            for norm, r in results["activation_balance"].items()]
    return [
        "## 3. Activation imbalance over training",
        "",
        "`larq_nobn.diagnostics.ActivationBalance` on 256 fixed test images; imbalance = "
        "mean over binary layers of |fraction of +1 - 0.5|.",
        "",
        *table(["norm", "imbalance at start", "at end", "steps"], rows),
        "![activation balance](" + results["plots"]["activation_balance"] + ")",
        "",
    ]


def cost_section(results: dict) -> list[str]:
    cost = results["cost"]
    setup = cost["setup"]
    columns = ("bn", "abn", "bf+agc", "bf", "none", "bn+xla", "larq")
    rows = []
    for model in (m for m in cost if m != "setup"):
        r = cost[model]
        rows.append([
            f"{LABELS[model]} x{r['width']}",
            *(f"{1e3 * r['seconds_per_step'][c]:.1f} ({r['ratio_to_bn'][c]:.2f})"
              if c in r["seconds_per_step"] else "" for c in columns),
            f"{100 * r['agc_share']:.1f} %", f"{100 * r['scaledws_share']:.1f} %",
        ])
    return [
        "## 4. Training cost",
        "",
        f"{setup['rounds']} interleaved rounds of {setup['steps_per_round']} steps, batch "
        f"{setup['batch_size']}, random {setup['image']} images: ms per step of the "
        "fastest round (median over rounds of the ratio to bn). bn+XLA: bn with "
        "`jit_compile=True`; larq: the bn BinaryNet written with larq's own layers. "
        "Shares are of the bf+AGC step.",
        "",
        *table(["model", "bn", "abn", "bf+AGC", "bf (no AGC)", "none", "bn+XLA", "larq",
                "AGC share", "ScaledWS share"], rows),
    ]


def batch_section(results: dict) -> list[str]:
    section, plan = results["batch_size"], results["plan"]
    claim = section["claim"]
    sizes = sorted({int(b) for by in section["accuracy"].values() for b in by})
    rows = []
    for norm, by_batch in section["accuracy"].items():
        by_batch = {int(b): by_seed for b, by_seed in by_batch.items()}
        cells = [", ".join(pct(a) for a in by_batch[b].values()) for b in sizes]
        drops = claim["drops"][norm]
        rows.append([norm, *cells, ", ".join(f"{100 * d:+.2f}" for d in drops)])
    rates = {int(b): lr for b, lr in section["learning_rates"].items()}
    return [
        "## 5. Batch-size independence",
        "",
        f"BinaryNet x{plan['binarynet_width']}, {count(plan['batch_epochs'], 'epoch')} at "
        f"each batch size on the same {plan['batch_train_samples'] or 60000} training images "
        f"({plan['image_size']}x{plan['image_size']}), seeds "
        f"{', '.join(map(str, plan['batch_seeds']))}; the learning rate scales with the "
        "batch (" + ", ".join(f"{rates[b]:g} at {b}" for b in sizes) + "), so every run "
        "takes the same epochs and moves its weights about as far (Adam's step is about "
        "the learning rate); what differs is the gradient noise and bn's batch "
        "statistics. Test accuracy in % per seed (last epoch); drop = large - small "
        "batch, in points.",
        "",
        *table(["norm", *(f"batch {b}" for b in sizes), "drop per seed"], rows),
        f"mean drop(bn) - mean drop(bf): {interval(claim['interval'])} points; verdict "
        f"**{claim['verdict']}** ({claim['rule']}).",
        "",
    ]


def inference_section(results: dict) -> list[str]:
    section = results["inference"]
    setup = section["setup"]
    rows = []
    for name, entry in section["models"].items():
        flt = entry["float_latency_ms"]
        for kind, r in entry["conversions"].items():
            lat, check = r["latency_ms"], r["verification"]
            rows.append([
                name, kind, r["bconv"], r["bitpacked"], r["float_ops"],
                r["float_ops_between_bconvs"], f"{r['file_bytes']:,}",
                f"{r['size_ratio']:.2f}", f"{pct(check['agreement'])} / "
                f"{check['max_abs_diff']:.2g}", f"{lat['1']:.3f}", f"{lat['2']:.3f}",
                f"{flt['1']:.3f} / {flt['2']:.3f}",
                f"{r['speedup']['1']:.2f}x / {r['speedup']['2']:.2f}x",
            ])
    differ = [f"{name} {sum(v['differ'] for v in e['sign_differences'].values()):,} of "
              f"{sum(v['elements'] for v in e['sign_differences'].values()):,}"
              for name, e in section["models"].items() if e["sign_differences"]]
    ratios = [[model, kind, *(f"{by[str(t)]:.3f}" for t in setup["threads"])]
              for model, kinds in section["abn_over_bn"].items()
              for kind, by in kinds.items()]
    return [
        "## 6. Inference (LCE, host x86)",
        "",
        "Seed-0 model of every variant of section 1, converted without (`plain`) and with "
        "(`export`) `prepare_for_lce` (`split_intervals=\"auto\"`; abn also with "
        + ", ".join(f"`{name}` (`export_{name}`)" for name in setup["splits"])
        + "). Agreement: "
        f"top-1 of the LCE interpreter against Keras on {setup['verify_samples']} test "
        "images, and the largest logit difference. Latency: LCE interpreter, batch 1, "
        f"ms of the fastest of {setup['rounds']} interleaved rounds of "
        f"{setup['runs_per_round']} runs at 1 / 2 threads; vs float = float TFLite / LCE, "
        "median over rounds. x86 runs LCE's portable kernels, not its ARM ones.",
        "",
        *table(["model/norm", "export", "bconv", "bitpacked", "float ops",
                "float between bconvs", "bytes", "size / ideal", "agreement / max diff",
                "1 thr ms", "2 thr ms", "float ms", "vs float"], rows),
        "Binarized activations of the rewritten norm layers whose sign in Keras (float32) "
        "differs from the export's exact one (inputs within rounding of a threshold), on "
        "the same images: " + ("; ".join(differ) or "no layer rewritten") + ".",
        "",
        "abn / bn latency (median over rounds; each abn conversion against bn's `plain` "
        "or `export`):",
        "",
        *table(["model", "abn conversion",
                *(f"{t} thread{'s' if t > 1 else ''}" for t in setup["threads"])], ratios),
    ]


def pipelines_section(results: dict) -> list[str]:
    section = results["pipelines"]
    setup = section["setup"]
    rows = [[name, r["images"], f"{r['images_per_s']:,.0f}"]
            for name, r in section["pipelines"].items()]
    return [
        "## 7. Input pipelines",
        "",
        f"`larq_nobn.data.load`, batch {setup['batch_size']}, each pass consumed inside "
        f"TensorFlow; fastest of {setup['rounds']} interleaved passes. Fashion-MNIST: "
        f"{setup['fashion_mnist_batches'] or 'all'} batches a pass; Tiny ImageNet: "
        f"{setup['tiny_imagenet_images']} generated 64x64 JPEGs, with the in-memory cache "
        "(`train_cached`) and decoding every file each pass (`train_decode`).",
        "",
        *table(["pipeline", "images a pass", "images/s"], rows),
    ]


def recipes_section(results: dict) -> list[str]:
    rows = [[r["paper"], r["model"], r["dataset"],
             "unverified" if r["reported_top1"] is None else f"{r['reported_top1']:.2f}",
             f"`{r['command']}`", r["run_here"]]
            for r in results["recipes"]["rows"]]
    return [
        "## 8. Full-scale recipes",
        "",
        "The papers' top-1 (%) from REFERENCE.md and the command reproducing each on a "
        "GPU machine. Run here: only sections 1-7, on Fashion-MNIST and CPU.",
        "",
        *table(["paper", "model", "dataset", "reported", "command", "here"], rows),
    ]


#: `(results key, section)` in report order.
SECTIONS = (
    ("accuracy", accuracy_section),
    ("padding", padding_section),
    ("authors", authors_report.section),
    ("gradients", gradients_section),
    ("activation_balance", balance_section),
    ("cost", cost_section),
    ("batch_size", batch_section),
    ("inference", inference_section),
    ("pipelines", pipelines_section),
    ("recipes", recipes_section),
    ("authors_cost", authors_cost.markdown),
)


def markdown(results: dict) -> str:
    """The report of the sections in `results`."""
    lines = header(results) + claims_section(results["claims"])
    for key, section in SECTIONS:
        if key in results:
            lines += section(results)
    return "\n".join(lines) + "\n"
