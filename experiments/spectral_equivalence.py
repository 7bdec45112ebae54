"""Spectral equivalence across activations, depths and data presets.

For every (activation, depth, preset) a dense network's exact weight-averaged CK_L and NTK
are compared with their equivalents: relative operator-norm error and W1 between spectra,
plus W1 of one finite-width draw (``experiments.harness.definitions.spectral_equivalence``).

    python -m experiments.spectral_equivalence            # n = 512, p = 256, width 512
    python -m experiments.spectral_equivalence --quick    # n = 128
"""
from __future__ import annotations

import sys

from experiments.harness import run_sweep_command

NAME = "spectral_equivalence"
ACTS = ["relu", "tanh", "erf", "sin", "binary", "ternary"]
DEPTHS = [1, 2, 3]
PRESETS = ["means", "covs", "mixed"]
# step activations get thresholds proportional to each layer's input scale tau_{l-1}
# (experiments.harness.pipeline.STEP_THRESHOLDS): with the fixed default thresholds
# (-1, 1) tau_l collapses by layer 3 (binary tau_3 = 6e-4, ||E_W[CK_3]|| = 3e-6 on "mixed")
# and the depth-3 comparison is meaningless (relative errors 0.7-0.98 in the first sweep)
STEP = ("binary", "ternary")


def points(quick: bool):
    # n = 512 keeps the 54 points (exact E_W kernels, O(n^2 L) bivariate integrals each)
    # near 30 CPU minutes; theory_checks/ covers the n-ladders up to 4096
    n, p, w = (128, 64, 128) if quick else (512, 256, 512)
    acts = ACTS[:2] if quick else ACTS
    return [{"data": pr, "n": n, "p": p, "K": 2, "widths": [w] * L, "activations": [a],
             "seed": 0, "kinds": ["ck", "ntk"], "method": "auto", "exact": True,
             **({"step_thresholds": "scaled"} if a in STEP else {})}
            for a in acts for L in DEPTHS for pr in PRESETS]


def point(cfg):
    from experiments.harness.definitions import spectral_equivalence

    r = spectral_equivalence(cfg)
    r.pop("_arrays")
    return r


def summarize(ok):
    table = [{"activation": c["activations"][0], "L": len(c["widths"]), "preset": c["data"],
              "tau_L": r["taus"][-1], "ck_norm_expected": r["ck"].get("top_expected"),
              "ck_relop": r["ck"].get("relop_expected_equiv"),
              "ntk_relop": r["ntk"].get("relop_expected_equiv"),
              "ck_w1_single": r["ck"]["w1_single_equiv"],
              "ck_w1_single_rf": r["ck"].get("w1_single_rf")} for c, r in ok]
    return table, figure(table)


def figure(table):
    """Per preset: relative operator-norm error of the CK_L (solid) and NTK (dashed)
    equivalents against the exact E_W kernel, per activation, against depth."""
    from experiments.harness.plots import COLORS
    from experiments.harness.plots import figure as new_figure

    presets = [p for p in PRESETS if any(r["preset"] == p for r in table)]
    acts = [a for a in ACTS if any(r["activation"] == a for r in table)]
    if not presets:
        return None
    fig, axes = new_figure(1, len(presets), width=3.8, height=3.2)
    for ax, pr in zip(axes[0], presets):
        for i, a in enumerate(acts):
            rows = sorted((r for r in table if r["preset"] == pr and r["activation"] == a),
                          key=lambda r: r["L"])
            Ls = [r["L"] for r in rows]
            ax.plot(Ls, [r["ck_relop"] for r in rows], "o-", color=COLORS[i % len(COLORS)],
                    label=a, ms=3)
            ax.plot(Ls, [r["ntk_relop"] for r in rows], "s--", color=COLORS[i % len(COLORS)],
                    ms=3)
        ax.set_xticks(DEPTHS)
        ax.set_xlabel("depth L")
        ax.set_ylabel("||E_W K - K~|| / ||E_W K||")
        ax.set_title(f"preset '{pr}' (solid CK_L, dashed NTK)", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    """Run the sweep (``--help`` for the options); returns the exit status."""
    return run_sweep_command(NAME, point, points, summarize, argv, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
