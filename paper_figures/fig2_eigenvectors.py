"""Figure 2: top eigenvectors of the weight-averaged CK_L and NTK vs those of the equivalents.

    python -m paper_figures.fig2_eigenvectors          # n = 1024, p = 512, preset mixed
    python -m paper_figures.fig2_eigenvectors --full   # n = 8000, p = 4000 (MC average)

The top eigenvectors carry the class information (piecewise constant over the classes in
the limit): each panel overlays the j-th eigenvector of E_W[K], of K~ and of one network,
samples sorted by class; the legend gives |<u_EW, u_equiv>| and the class alignment.
"""
from __future__ import annotations

from paper_figures import _common

NAME = "fig2_eigenvectors"
TOP_K = 2
DEFAULT_COST = "about 1 CPU minute (1 point)"
FULL_COST = ("several CPU hours on 2 cores (n = 8000, 20 Monte Carlo netwo"
             "rks, dense eigenvectors; extrapolated, never run)")


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--data", default="mixed", help="GMM preset (mixed)")
    ap.add_argument("--activation", default="relu")
    args, t0 = _common.start(ap, argv)
    size = _common.sizes(args, {"n": 1024, "p": 512, "widths": [1024, 1024, 512], "draws": 0,
                                "method": "auto"},
                         {"n": 8000, "p": 4000, "widths": [2000, 2000, 1000], "draws": 20,
                          "method": "dense"})
    cfg = {"data": args.data, **size, "K": 2, "activations": [args.activation],
           "seed": args.seed, "kinds": ["ck", "ntk"], "exact": not args.full, "top_k": TOP_K}
    _common.check_points([cfg])
    run = _common.run_dir_for(NAME, args, cfg, {"base": args.seed},
                              FULL_COST if args.full else DEFAULT_COST)
    from experiments.harness.definitions import spectral_equivalence

    (res,) = _common.points(spectral_equivalence, [cfg], run, NAME, args)
    fig = plot(res, size)
    out = {k: {kk: vv for kk, vv in res[k].items()} for k in ("ck", "ntk")}
    _common.finish(fig, run, NAME, args, {"result": out, "size": size}, res["_arrays"], t0=t0)
    for k in ("ck", "ntk"):
        print(f"{k.upper():3s} |<u_EW, u_equiv>| = {res[k].get('vec_overlap_expected_equiv')}, "
              f"class alignment E_W {res[k].get('class_alignment_expected')}, "
              f"equiv {res[k].get('class_alignment_equiv')}")
    return 0


def plot(res, size):
    import numpy as np

    from experiments.harness.plots import eigvec_panel, figure

    a = res["_arrays"]
    labels = np.asarray(a["labels"])
    fig, axes = figure(2, TOP_K, width=5.0, height=3.0)
    for i, (kind, name) in enumerate((("ck", "CK_L"), ("ntk", "NTK"))):
        ov = res[kind].get("vec_overlap_expected_equiv", [np.nan] * TOP_K)
        for j in range(TOP_K):
            vecs = {}
            if f"{kind}_vecs_single" in a:     # drawn first, behind the others
                vecs["one network"] = a[f"{kind}_vecs_single"][:, j]
            vecs[f"E_W[{name}]"] = a[f"{kind}_vecs_expected"][:, j]
            vecs[f"equivalent (overlap {ov[j]:.3f})"] = a[f"{kind}_vecs_equiv"][:, j]
            styles = {"one network": {"color": "0.6", "alpha": 0.5, "lw": 0.6},
                        f"E_W[{name}]": {"color": "#1f77b4", "lw": 1.0},
                        f"equivalent (overlap {ov[j]:.3f})": {"color": "#d62728", "lw": 0.8,
                                                            "alpha": 0.8}}
            eigvec_panel(axes[i, j], vecs, labels=labels, styles=styles,
                         title=f"{name}: eigenvector {j + 1}")
    _common.titled(fig, f"Top eigenvectors (n = {size['n']}, p = {size['p']}, preset mixed; "
                        f"class 2 shaded)")
    return fig


if __name__ == "__main__":
    raise SystemExit(_common.cli(main))
