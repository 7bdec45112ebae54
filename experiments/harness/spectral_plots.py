"""Spectral plot helpers (matplotlib, Agg backend; nothing is shown, figures are returned or saved).

* :func:`plot_spectrum`: eigenvalue histogram with predicted densities overlaid.
* :func:`plot_eigenvectors`: top eigenvectors, entries coloured by class.
"""
from __future__ import annotations

import io

import numpy as np

__all__ = ["plot_eigenvectors", "plot_spectrum", "save_figure"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_spectrum(eigs, densities=(), *, bins=80, ax=None, title=None, log_x=False,
                  label="empirical", clip_quantile=None):
    """Histogram of ``eigs`` (density scale) with overlaid predicted densities.

    ``densities``: iterable of ``(grid, density, label)`` (or ``(grid, density)``); an
    optional fourth item is the point-mass weight, drawn as text. ``clip_quantile`` (e.g.
    0.99) restricts the histogram range to the bulk (spikes are marked as ticks instead).
    Returns the matplotlib Axes.
    """
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    e = np.asarray(eigs, dtype=np.float64).ravel()
    hi = np.quantile(e, clip_quantile) if clip_quantile else e.max()
    bulk = e[e <= hi]
    ax.hist(bulk, bins=bins, density=True, alpha=0.45, color="C0", label=label)
    scale = bulk.size / e.size  # keep predicted densities on the same (total-mass) scale
    for i, item in enumerate(densities):
        g, f = np.asarray(item[0]), np.asarray(item[1])
        lab = item[2] if len(item) > 2 else f"predicted {i}"
        sel = g <= hi * 1.05
        ax.plot(g[sel], f[sel] / scale, color=f"C{i + 1}", lw=1.6, label=lab)
    if clip_quantile:
        for s in e[e > hi]:
            ax.axvline(s, color="k", lw=0.6, alpha=0.5)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_eigenvectors(eigvecs, labels, *, k=None, axes=None, title=None):
    """Entries of the top ``k`` eigenvectors (columns of ``eigvecs`` (n, k)) against the
    sample index, coloured by class. Returns the list of Axes."""
    plt = _plt()
    U = np.asarray(eigvecs, dtype=np.float64)
    U = U[:, None] if U.ndim == 1 else U
    k = U.shape[1] if k is None else min(k, U.shape[1])
    lab = np.asarray(labels).ravel()
    if axes is None:
        _, axes = plt.subplots(k, 1, figsize=(6, 1.6 * k), squeeze=False)
        axes = list(axes[:, 0])
    idx = np.arange(U.shape[0])
    for j in range(k):
        for ci, cls in enumerate(np.unique(lab)):
            sel = lab == cls
            axes[j].plot(idx[sel], U[sel, j], ".", ms=2, color=f"C{ci}", label=f"class {cls}")
        axes[j].set_ylabel(f"u{j + 1}", fontsize=8)
        axes[j].tick_params(labelsize=7)
    axes[0].legend(fontsize=6, markerscale=3, loc="upper right")
    if title:
        axes[0].set_title(title, fontsize=9)
    return axes


def save_figure(fig, path, dpi: int = 110) -> None:
    """Save ``fig`` as PNG atomically (via ntkcomp.io) and close it."""
    from ntkcomp.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    _plt().close(fig)
