"""Figure 1: CK_L and NTK eigenvalue histograms, weight-averaged kernel vs its equivalent,
on the three GMM presets (means, covs, mixed).

    python -m paper_figures.fig1_spectra            # default: n = 1024, p = 512
    python -m paper_figures.fig1_spectra --full     # n = 8000, p = 4000, widths 2000,2000,1000

Curves per panel: the exact weight-averaged kernel E_W[K] (default sizes; by Monte Carlo over
``--draws`` networks with --full), the equivalent K~ (THEORY.md sections 4-5) and one
finite-width network (a single draw: Marchenko-Pastur-type spreading of K~, section 6),
with, for CK_L, one sample of the random-features law the single draw should follow (at
depth >= 2 the compounded law of ``ntkcomp.spectral.compounded_random_features_spectrum``; at depth 1
THEORY's eigenvalues of K~^{1/2} G G^T K~^{1/2} / d_L, G Gaussian n x d_L).
"""
from __future__ import annotations

from paper_figures import _common

NAME = "fig1_spectra"
PRESETS = ["means", "covs", "mixed"]
DEFAULT_COST = "about 1 CPU minute (3 points)"
FULL_COST = ("several CPU hours on 2 cores (3 points at n = 8000, 20 Monte"
             " Carlo networks each; extrapolated, never run); minutes on a GPU")


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--activation", default="relu", help="activation of every layer (relu)")
    args, t0 = _common.start(ap, argv)
    size = _common.sizes(args, {"n": 1024, "p": 512, "widths": [1024, 1024, 512], "draws": 0},
                         {"n": 8000, "p": 4000, "widths": [2000, 2000, 1000], "draws": 20})
    cfgs = [{"data": pr, **size, "K": 2, "activations": [args.activation], "seed": args.seed,
             "kinds": ["ck", "ntk"], "method": "auto", "exact": True} for pr in PRESETS]
    _common.check_points(cfgs)
    run = _common.run_dir_for(NAME, args, {"points": cfgs}, {"base": args.seed},
                              FULL_COST if args.full else DEFAULT_COST)
    from experiments.harness.definitions import spectral_equivalence

    res = _common.points(spectral_equivalence, cfgs, run, NAME, args)
    fig = plot(res, size)
    summary = {pr: {k: {kk: v for kk, v in r[k].items()} for k in ("ck", "ntk")}
               for pr, r in zip(PRESETS, res)}
    arrays = {f"{pr}_{k}": v for pr, r in zip(PRESETS, res) for k, v in r["_arrays"].items()}
    _common.finish(fig, run, NAME, args, {"presets": summary, "size": size}, arrays, t0=t0)
    nan = float("nan")
    for pr, r in zip(PRESETS, res):
        print(f"{pr:6s}  CK: E_W vs K~ rel.op {r['ck'].get('relop_expected_equiv', nan):.3f}"
              f"  NTK: {r['ntk'].get('relop_expected_equiv', nan):.3f}"
              f"  (W1 single draw vs K~: CK {r['ck']['w1_single_equiv']:.3g}, "
              f"NTK {r['ntk']['w1_single_equiv']:.3g}; CK vs {r['ck'].get('rf_law', '')} "
              f"random-features law {r['ck'].get('w1_single_rf', nan):.3g})")
    return 0


def plot(results, size):
    from experiments.harness.plots import figure, spectra_panel

    fig, axes = figure(2, len(results), width=4.3, height=3.3)
    for j, (pr, r) in enumerate(zip(PRESETS, results)):
        a = r["_arrays"]
        for i, (kind, name) in enumerate((("ck", "CK_L"), ("ntk", "NTK"))):
            sp = {}
            if f"{kind}_expected" in a:
                src = r[kind].get("expected_source", "exact")
                sp[f"E_W[{name}] ({src})"] = a[f"{kind}_expected"]
            sp["equivalent"] = a[f"{kind}_equiv"]
            sp["one network"] = a[f"{kind}_single"]
            rf_label = ("random-features law (compounded)"
                        if r[kind].get("rf_law") == "compounded" else "random-features law")
            if f"{kind}_rf" in a:     # THEORY section 6: the law of one finite-width draw
                sp[rf_label] = a[f"{kind}_rf"]
            rel = r[kind].get("relop_expected_equiv")
            title = f"{name}, preset '{pr}'" + (f"  (rel. err {rel:.3f})" if rel else "")
            spectra_panel(axes[i, j], sp, title=title,
                          styles={"one network": {"alpha": 0.45, "lw": 1.0},
                                  rf_label: {"ls": ":", "lw": 1.0}})
    _common.titled(fig, f"Eigenvalues: weight-averaged kernels vs equivalents (n = {size['n']}, "
                        f"p = {size['p']}, widths {size['widths']}, ReLU)")
    return fig


if __name__ == "__main__":
    raise SystemExit(_common.cli(main))
