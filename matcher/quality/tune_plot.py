"""The `matcher tune` plot: precision, recall and F1 against the threshold, with items per SME per week."""
from __future__ import annotations

from pathlib import Path

from matcher.quality.tune import TuneResult


def save_plot(result: TuneResult, path: Path) -> None:
    """Precision, recall and F1 against the threshold (chosen weights solid, configured ones dashed), with the
    expected items per SME per week on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    items_ax = ax.twinx()
    current = next((r.weights for r in result.rows if r.current), None)
    shown = [(result.chosen.weights, "-", "chosen weights")] if result.chosen else []
    if current and (not result.chosen or current != result.chosen.weights):
        shown.append((current, "--", "configured weights"))
    for weights, style, label in shown:
        rows = result.rows_for(weights)
        t = [r.threshold for r in rows]
        for metric, colour in (("precision", "tab:blue"), ("recall", "tab:orange"), ("f1", "tab:green")):
            ax.plot(t, [getattr(r, metric) for r in rows], style, color=colour, label=f"{metric} ({label})")
        items_ax.plot(t, [r.items_per_week for r in rows], style, color="tab:grey", label=f"items/SME/week ({label})")
    if result.target.minimum is not None:
        ax.axhline(result.target.minimum, color="tab:red", linewidth=0.8, label=f"target: {result.target}")
    if result.chosen:
        ax.axvline(result.chosen.threshold, color="black", linewidth=0.8, linestyle=":", label="chosen threshold")
    ax.set(xlabel="threshold (calibrated score)", ylabel="precision / recall / F1", ylim=(0, 1.02),
           title=f"matcher tune: {result.profiles} judged profiles")
    items_ax.set_ylabel("expected items per SME per week")
    lines = ax.get_legend_handles_labels()[0] + items_ax.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + items_ax.get_legend_handles_labels()[1]
    fig.legend(lines, labels, fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
