"""Compression across eps and widths: memory factor, identity shift, and how far the
compressed network's kernels are from the dense ones (weight-averaged equivalents and one
finite-width draw), for a 3-layer ReLU network on the 'mixed' GMM.

    python -m experiments.compression_sweep            # n = 512, widths 256 ... 2048
    python -m experiments.compression_sweep --quick
"""
from __future__ import annotations

import sys

from experiments.harness import run_sweep_command

NAME = "compression_sweep"


def points(quick: bool):
    if quick:
        return [{"n": 96, "p": 48, "widths": [w, w], "eps": e, "family": "ternary",
                 "hidden_tau": 0.7, "seed": 0} for w in (32, 64) for e in (0.0, 0.9)]
    # n = 512: each point runs compress + the exact E_W spectral report (O(n^3) parts)
    return [{"n": 512, "p": 256, "widths": [w, w, w // 2], "eps": e, "seed": 0}
            for w in (256, 512, 1024, 2048) for e in (0.0, 0.5, 0.9, 0.95)]


def point(cfg):
    import numpy as np

    from experiments.harness.compression import compression_point
    from ntkcomp.spectral import wasserstein1

    r = compression_point({"data": "mixed", **cfg})
    a = r.pop("_arrays")
    r.pop("_figure", None)
    r["w1_single_draw"] = float(wasserstein1(a["ck_single_compressed"], a["ck_single_dense"]))
    keep = ("memory_factor", "identity_shift", "feasible", "ck_rel_diff_equiv",
            "ck_rel_diff_equiv_shifted", "ntk_rel_diff_equiv", "ntk_rel_diff_equiv_shifted",
            "w1_single_draw")
    return {k: (float(r[k]) if isinstance(r.get(k), (float, np.floating)) else r.get(k))
            for k in keep}


def summarize(ok):
    table = [{"width": c["widths"][0], "eps": c["eps"], **r} for c, r in ok]
    return table, figure(table)


def figure(table):
    """Memory factor against eps, and the single-draw CK_L spectral distance (W1, dense vs
    compressed) against width, one line per eps."""
    from experiments.harness.plots import COLORS
    from experiments.harness.plots import figure as new_figure

    if not table:
        return None
    eps = sorted({r["eps"] for r in table})
    widths = sorted({r["width"] for r in table})
    fig, axes = new_figure(1, 2, width=4.4, height=3.3)
    ax0, ax1 = axes[0]
    for j, w in enumerate(widths):
        rows = sorted((r for r in table if r["width"] == w), key=lambda r: r["eps"])
        ax0.plot([r["eps"] for r in rows], [r["memory_factor"] for r in rows], "o-",
                 color=COLORS[j % len(COLORS)], label=f"width {w}", ms=3)
    ax0.set_xlabel("eps (fraction of zero weights)")
    ax0.set_ylabel("memory factor (dense float32 / packed)")
    ax0.legend(fontsize=7, frameon=False)
    for i, e in enumerate(eps):
        rows = sorted((r for r in table if r["eps"] == e), key=lambda r: r["width"])
        ax1.plot([r["width"] for r in rows], [r["w1_single_draw"] for r in rows], "o-",
                 color=COLORS[i % len(COLORS)], label=f"eps = {e}", ms=3)
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(widths, [str(w) for w in widths])
    ax1.minorticks_off()
    ax1.set_xlabel("width d_1 (d_3 = d_1 / 2)")
    ax1.set_ylabel("W1(CK_L spectra), one draw each")
    ax1.legend(fontsize=7, frameon=False)
    shifts = sorted({round(float(r["identity_shift"]), 4) for r in table})
    fig.suptitle(f"NTK-LC compression sweep (identity shift delta: {shifts})", fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    """Run the sweep (``--help`` for the options); returns the exit status."""
    return run_sweep_command(NAME, point, points, summarize, argv, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
