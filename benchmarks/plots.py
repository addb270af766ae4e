"""The PNG plots of the report (matplotlib, Agg): accuracy curves (section 1),
gradient norms at initialization on a log scale (section 2), fraction of +1 over
training (section 3). Each function writes one file and returns its path."""

from __future__ import annotations

from pathlib import Path

from benchmarks.models import LABELS

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLORS = {"bn": "tab:blue", "abn": "tab:orange", "bf": "tab:green", "none": "tab:red"}


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def accuracy_curves(records: list[dict], path: Path) -> Path:
    """Test accuracy per epoch of every run, one panel per model, one colour per norm."""
    model_names = list(dict.fromkeys(r["model"] for r in records))
    figure, axes = plt.subplots(1, len(model_names), figsize=(5 * len(model_names), 3.6),
                                squeeze=False)
    for axis, model in zip(axes[0], model_names):
        seen = set()
        for run in (r for r in records if r["model"] == model):
            values = run["curves"].get("val_accuracy") or []
            label = None if run["norm"] in seen else run["norm"]
            seen.add(run["norm"])
            axis.plot(range(1, len(values) + 1), [100 * v for v in values], marker="o",
                      color=COLORS.get(run["norm"]), alpha=0.7, label=label)
        axis.set(title=f"{LABELS.get(model, model)} x{run['width_multiplier']}",
                 xlabel="epoch", ylabel="test accuracy (%)")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend()
    return _save(figure, path)


def gradient_norms(norms: dict, path: Path) -> Path:
    """Weight-gradient norm per layer at initialization, log scale."""
    figure, axes = plt.subplots(1, len(norms), figsize=(5 * len(norms), 3.6),
                                squeeze=False)
    for axis, (model, by_norm) in zip(axes[0], norms.items()):
        for norm, layers in by_norm.items():
            axis.semilogy(range(1, len(layers) + 1), list(layers.values()), marker=".",
                          color=COLORS.get(norm), label=norm)
        axis.set(title=f"{LABELS.get(model, model)} at init", xlabel="layer (input first)",
                 ylabel="weight-gradient L2 norm")
        axis.legend()
    return _save(figure, path)


def activation_balance(balance: dict, path: Path) -> Path:
    """Fraction of +1 per binary layer over training steps, one panel per norm."""
    figure, axes = plt.subplots(1, len(balance), figsize=(5 * len(balance), 3.6),
                                squeeze=False, sharey=True)
    for axis, (norm, result) in zip(axes[0], balance.items()):
        for layer, values in result["fractions"].items():
            axis.plot(result["steps"], values, label=layer)
        axis.axhline(0.5, color="gray", linestyle=":")
        axis.set(title=f"BinaryNet {norm}", xlabel="training step",
                 ylabel="fraction of +1", ylim=(0, 1))
        axis.legend(fontsize=6)
    return _save(figure, path)
