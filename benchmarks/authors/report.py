"""The markdown of the side-by-side section (`benchmarks.authors.section`)."""

from __future__ import annotations

TITLE = "## The authors' code side by side"
RULE = ("Verdict rule: \"within seed noise\" when the Welch 95 % interval of zoo - "
        "authors (mean over seeds, Welch-Satterthwaite degrees of freedom) contains 0, "
        "\"outside seed noise\" when it does not, \"inconclusive\" with fewer than 2 seeds "
        "a side.")


def adaptation(section: dict) -> str:
    setup = section["setup"]
    commits = ", ".join(f"{name} `{commit[:12]}`" for name, commit
                        in zip(("gushan/ABN", "VITA-Group/BNN_NoBN"),
                               (setup["commits"]["abn"], setup["commits"]["nobn"])))
    return (
        "The authors' own PyTorch models (checkouts: " + commits + "; torch "
        f"{setup['torch']}, {setup['threads']} threads, `OMP_WAIT_POLICY=PASSIVE`), "
        "each trained by "
        "`benchmarks.authors.driver` with the recipe and seeds of the section-1 zoo run "
        "it mirrors (its `config.json`: epochs, batch, Adam with torch's epsilon "
        "placement, learning rate and schedule, weight decay, AGC clip factor, training "
        "subset) on the same pixels: Fashion-MNIST resized bilinearly to the zoo run's "
        "image size (column `image`; `32*` where the zoo ran at 28x28 and the authors' "
        "VGG needs a multiple of 8) and standardized by `larq_nobn.data.load`, exported "
        "once to an `.npz` that both sides read. Each "
        "epoch trains on a fresh seeded permutation (the first `max_train_samples`, "
        "rounded up to whole batches, when the plan sets it), so the subsets are drawn "
        "alike but not the very same images as the zoo's. Adapted at run time, never "
        "copied: every channel count divided by 1 / width (the zoo's width "
        "multiplier), 1 input channel instead of RGB (a patch of the layer classes' "
        "constructors; gushan/ABN's VGG binarizes the input of its first "
        "`BinarizeConv2d` unless it has 3 channels, so it gets the grey image as "
        "channel 0 of 3 with two zero channels, which computes what a 1-channel layer "
        "computes), gushan/ABN's VGG with `infl_ratio` 1 (the zoo's BinaryNet "
        "widths) and its flatten size set to the narrowed 4x4 map's. Loss: the "
        "negative log-likelihood of gushan/ABN's `LogSoftmax` output (equal to the "
        "`CrossEntropyLoss` their `main_binary.py` applies to it) and the cross-entropy "
        "of BNN_NoBN's logits; AGC: BNN_NoBN's own `agc.adaptive_clip_grad` on every "
        "parameter whose name lacks \"fc\", with the zoo run's clip factor. Test "
        "accuracy after every epoch; \"last\" is the final epoch's, \"best\" the "
        "highest. The authors' binary convolutions pad with 0; the zoo's with its "
        "run's `pad_values` (column `zoo pad`): each authors' run is set beside the "
        "zoo in its reference mode (`pad_values=0.0`, the same seed and recipe, "
        "trained for this section) and beside section 1's run (1.0, LCE's fast "
        "form). gushan/ABN's VGG first layer, built for 3 channels, is drawn as "
        "torch draws a 1-channel layer (U(+-1/3) from fan-in 9, not U(+-1/sqrt(27)) "
        "from 27), as the zoo's first layer on the grey image is."
    )


def forms(entry: dict) -> list[tuple]:
    """`(zoo pad, comparisons)` of a variant: the reference mode first (zero padding,
    as the authors' code) when it ran, then section 1's runs."""
    pad = "n/a" if entry["zoo_pad_values"] is None else entry["zoo_pad_values"]
    reference = [(0.0, entry["reference"])] if "reference" in entry else []
    return reference + [(pad, {epoch: entry[epoch] for epoch in ("last", "best")})]


def summary_rows(section: dict, pct) -> list[list]:
    rows = []
    for name, entry in section["variants"].items():
        label = f"{name} (`{entry['module']}`)"
        if not entry["seeds"]:
            rows.append([label, *[""] * 8, entry.get("error", "no zoo run")])
            continue
        for pad, comparisons in forms(entry):
            for epoch in ("last", "best"):
                result = comparisons[epoch]
                zoo, authors = result["zoo"], result["authors"]
                interval = result.get("interval")
                rows.append([
                    label, entry["width_multiplier"], entry["epochs"],
                    f"{entry['image_size']}{'' if entry['zoo_image_size'] else '*'}",
                    pad, epoch,
                    f"{pct(zoo['mean'])} +- {pct(zoo['std'])} ({zoo['n']})",
                    f"{pct(authors['mean'])} +- {pct(authors['std'])} ({authors['n']})",
                    "" if interval is None else
                    f"{pct(interval['diff'])} [{pct(interval['low'])}, "
                    f"{pct(interval['high'])}], df "
                    + ("n/a" if interval["df"] is None else f"{interval['df']:.1f}"),
                    f"**{result['verdict']}**" + (f" ({entry['error']})"
                                                  if entry.get("error") else ""),
                ])
    return rows


def seed_rows(section: dict, pct) -> list[list]:
    rows = []
    for name, entry in section["variants"].items():
        for run in entry["seeds"]:
            authors = run["authors"]
            seconds = sum(authors["epoch_seconds"]) / len(authors["epoch_seconds"])
            reference = run.get("zoo_reference")
            rows.append([name, run["seed"],
                         *([pct(reference["last"]), pct(reference["best"])]
                           if reference else ["", ""]),
                         pct(run["zoo"]["last"]), pct(run["zoo"]["best"]),
                         pct(authors["last"]), pct(authors["best"]), f"{seconds:.0f}",
                         "yes" if authors.get("cached") else "no"])
    return rows


def section(results: dict) -> list[str]:
    """The section's lines: a one-line note when it was skipped."""
    from benchmarks.report import pct, table

    entry = results["authors"]
    if "skipped" in entry:
        return [TITLE, "", entry["skipped"].capitalize(), ""]
    return [
        TITLE, "", adaptation(entry), "",
        "Test accuracy in %, mean +- sample std (seeds); zoo - authors with its 95 % "
        "interval. " + RULE, "",
        *table(["variant (authors' module)", "width", "epochs", "image", "zoo pad",
                "epoch", "zoo", "authors", "zoo - authors [95 % CI]", "verdict"],
               summary_rows(entry, pct)),
        *table(["variant", "seed", "zoo pad 0 last", "zoo pad 0 best", "zoo last",
                "zoo best", "authors last", "authors best", "authors s / epoch", "cached"],
               seed_rows(entry, pct)),
    ]
