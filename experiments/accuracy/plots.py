"""Accuracy against memory: one panel per (readout, task), error bars over seeds."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ntkcomp.io import atomic_write_bytes, atomic_write_json  # noqa: E402

__all__ = ["LABELS", "accuracy_memory", "png_bytes", "write_result"]

LABELS = {"dense": "dense (float32)", "ntk_lc": "NTK-LC (real packed bits)",
          "magnitude": "magnitude pruning", "random": "random sparsification"}
STYLE = {"dense": ("k", "s"), "ntk_lc": ("C3", "o"), "magnitude": ("C0", "^"),
         "random": ("C2", "v")}


def _panel(ax, summary, readout, title):
    for m in LABELS:
        rows = sorted((r for r in summary if r["method"] == m and r["readout"] == readout),
                      key=lambda r: r["bits"])
        if not rows:
            continue
        c, mk = STYLE[m]
        x = [r["bits"] for r in rows]
        y = [r["acc_mean"] for r in rows]
        ax.errorbar(x, y, yerr=[r["acc_std"] for r in rows], color=c, marker=mk, ms=4,
                    capsize=2, lw=1, label=LABELS[m])
        if m == "dense":
            ax.axhline(y[0], color=c, lw=0.6, ls=":")
        if m == "ntk_lc":
            ax.plot([r["paper_bits"] for r in rows], y, color=c, marker="o", mfc="none",
                    ls="--", lw=0.8, ms=4, label="NTK-LC, paper's (1 - eps) bits")
            for r in rows:
                ax.annotate(f"{r['eps']:g}", (r["bits"], r["acc_mean"]), fontsize=6,
                            textcoords="offset points", xytext=(3, -9))
    ax.set_xscale("log")
    ax.set_xlabel("bits of the hidden layers")
    ax.set_ylabel(f"test accuracy ({readout} readout)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)


def accuracy_memory(result: dict, title: str = ""):
    """Figure of a results dict ``{"tasks": {name: {"summary": [...]}}}``.

    Args:
        result: the JSON written by the MNIST or CIFAR-10 experiment.
        title: figure title.

    Returns:
        The matplotlib figure (rows: readouts; columns: tasks).
    """
    tasks = list(result["tasks"])
    readouts = sorted({r["readout"] for t in tasks for r in result["tasks"][t]["summary"]})
    fig, axes = plt.subplots(len(readouts), len(tasks), squeeze=False,
                             figsize=(5.2 * len(tasks), 3.6 * len(readouts)))
    for i, ro in enumerate(readouts):
        for j, t in enumerate(tasks):
            _panel(axes[i][j], result["tasks"][t]["summary"], ro, t)
    axes[0][0].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"{title}: frozen hidden layers, same memory for every sparse method "
                 "(labels: NTK-LC eps)", fontsize=9)
    fig.tight_layout()
    return fig


def png_bytes(fig) -> bytes:
    """``fig`` rendered as PNG (130 dpi); the figure is closed.

    Args:
        fig: a matplotlib figure.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    return buf.getvalue()


def write_result(path: Path, result: dict, fig) -> None:
    """Write ``result`` as ``path`` (JSON) and ``fig`` beside it (same name, ``.png``).

    The figure is rendered before anything is written; then the two files are replaced
    atomically one after the other, so a failed run leaves both previous files.

    Args:
        path: the result file (``.json``).
        result: JSON-able result.
        fig: its matplotlib figure (closed).
    """
    png = png_bytes(fig)
    atomic_write_json(path, result)
    atomic_write_bytes(Path(path).with_suffix(".png"), png)
