"""Figure helpers shared by the CLI, ``experiments/`` and ``paper_figures/`` (matplotlib, Agg).

Spectral plots (``experiments.harness.spectral_plots``: histograms, eigenvectors) are used
as is; the helpers here cover what the CLI and paper figures need on top:

- :func:`spectra_panel`  overlaid eigenvalue histograms of several spectra on common bins
  (dense eigenvalues) or densities (SLQ/KPM measures), isolated spikes marked;
- :func:`eigvec_panel`   top eigenvectors of several kernels, sample index on x;
- :func:`loglog_fit`     log-log points with the fitted slope in the legend;
- :func:`accuracy_memory_panel`  accuracy (mean +- std) against memory in bits.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "COLORS",
    "accuracy_memory_panel",
    "eigvec_panel",
    "figure",
    "fit_slope",
    "loglog_fit",
    "spectra_panel",
]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.2, **kw):
    """A matplotlib figure (Agg backend) with a grid of axes (always a 2-D array)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, **kw)
    return fig, axes


def _as_eigs(x):
    """(atoms, weights, grid, density) of a SpectralMeasure, or eigenvalues array."""
    if hasattr(x, "nodes"):
        return (np.asarray(x.nodes, float), np.asarray(x.weights, float),
                None if x.grid is None else np.asarray(x.grid, float),
                None if x.density is None else np.asarray(x.density, float),
                getattr(x, "method", "dense"))
    e = np.asarray(x, float).ravel()
    return e, np.full(e.size, 1.0 / max(e.size, 1)), None, None, "dense"


def _bulk_range(all_eigs, q=0.98):
    """Range holding the bulk: up to a quantile-based edge, so spikes do not squash it."""
    lo = min(float(np.min(e)) for e in all_eigs)
    hi_q = max(float(np.quantile(e, q)) for e in all_eigs)
    hi = max(float(np.max(e)) for e in all_eigs)
    # if the top 2% is far from the bulk, cut there (the spikes are drawn as markers)
    hi_b = hi_q * 1.25 if hi > 2.0 * hi_q else hi
    return lo - 0.02 * (hi_b - lo), hi_b + 0.02 * (hi_b - lo)


def spectra_panel(ax, spectra: dict, *, bins: int = 60, title: str | None = None,
                  styles: dict | None = None, mark_spikes: bool = True, legend: bool = True):
    """Overlay spectra: ``spectra`` maps label -> eigenvalues ``(n,)`` or SpectralMeasure.

    Dense eigenvalues are drawn as step histograms (probability density) on common bins
    covering the bulk; eigenvalues beyond it (spikes) are drawn as ticks at the top with
    their value in the legend. SLQ/KPM measures with a density are drawn as lines.
    """
    styles = styles or {}
    parsed = {k: _as_eigs(v) for k, v in spectra.items()}
    lo, hi = _bulk_range([p[0] for p in parsed.values()])
    edges = np.linspace(lo, hi, bins + 1)
    for i, (label, (e, w, grid, dens, method)) in enumerate(parsed.items()):
        st = {"color": COLORS[i % len(COLORS)], **styles.get(label, {})}
        out = e[e > hi]
        lab = label
        if mark_spikes and out.size:
            lab = f"{label} (+{out.size} outlier{'s' * (out.size > 1)}, max {out.max():.3g})"
        if method != "dense" and dens is not None:
            ax.plot(grid, dens, label=lab, **st)
        else:
            ax.hist(e, bins=edges, weights=w / np.diff(edges)[0], histtype="step",
                    label=lab, **{"lw": 1.4, **st})
        if mark_spikes and out.size:
            ax.plot([hi] * out.size, np.zeros(out.size), marker=">", ls="none",
                    color=st["color"], ms=6, clip_on=False)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    return ax


def eigvec_panel(ax, vectors: dict, *, title: str | None = None, labels=None,
                 styles: dict | None = None):
    """Plot eigenvectors (label -> ``(n,)``) against the sample index, signs aligned to the
    first; optional class ``labels (n,)`` shade the class blocks; ``styles`` label -> kwargs."""
    styles = styles or {}
    ref = None
    for i, (label, v) in enumerate(vectors.items()):
        v = np.asarray(v, float)
        if ref is None:
            ref = v
        elif float(v @ ref) < 0:
            v = -v
        st = {"lw": 0.8, "alpha": 0.85, "color": COLORS[i % len(COLORS)],
              **styles.get(label, {})}
        ax.plot(v, label=label, **st)
    if labels is not None:
        labels = np.asarray(labels)
        for c in np.unique(labels)[1::2]:
            idx = np.flatnonzero(labels == c)
            ax.axvspan(idx.min(), idx.max(), color="0.9", zorder=0)
    ax.set_xlabel("sample index (sorted by class)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return ax


def fit_slope(x, y) -> tuple[float, float]:
    """Least-squares fit ``log y = slope log x + c``; returns ``(slope, c)``."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    A = np.stack([lx, np.ones_like(lx)], 1)
    (slope, c), *_ = np.linalg.lstsq(A, ly, rcond=None)
    return float(slope), float(c)


def loglog_fit(ax, x, y, *, label: str = "", color=None, yerr=None, marker="o"):
    """Log-log plot of ``y`` against ``x`` with the fitted line; returns the slope."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, c = fit_slope(x, y)
    ln = ax.errorbar(x, y, yerr=yerr, marker=marker, ls="none", color=color, capsize=2,
                     label=f"{label}: slope {slope:.2f}")
    col = ln[0].get_color()
    xx = np.geomspace(x.min(), x.max(), 20)
    ax.plot(xx, np.exp(c) * xx ** slope, ls="--", lw=1, color=col)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return slope


def _bits_label(x, _pos=None) -> str:
    """Tick label of a bit count: 2M, 500k, 1.5G, 300."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:g}{unit}"
    return f"{x:g}"


def accuracy_memory_panel(ax, rows: list[dict], *, title: str | None = None):
    """Accuracy against memory: ``rows`` are dicts with ``method``, ``bits``, ``acc_mean``,
    ``acc_std`` (one marker per method/point; lines join the points of each method)."""
    methods = []
    for r in rows:
        if r["method"] not in methods:
            methods.append(r["method"])
    markers = ["o", "s", "^", "v", "D", "x"]
    for i, m in enumerate(methods):
        rs = sorted([r for r in rows if r["method"] == m], key=lambda r: r["bits"])
        bits = np.array([r["bits"] for r in rs], float)
        acc = np.array([r["acc_mean"] for r in rs], float)
        std = np.array([r.get("acc_std", 0.0) for r in rs], float)
        ax.errorbar(bits, acc, yerr=std, marker=markers[i % len(markers)], capsize=2,
                    color=COLORS[i % len(COLORS)], label=m, lw=1)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    # labelled ticks at 1, 2, 5 x 10^k: a range of 1-2 decades gets several readable labels
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_bits_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("memory of the hidden layers (bits; k = 1e3, M = 1e6)")
    ax.set_ylabel("test accuracy")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return ax
