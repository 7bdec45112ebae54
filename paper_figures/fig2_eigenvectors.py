"""Figure 2: top eigenvectors of the weight-averaged CK_L and NTK vs those of the equivalents.

    python -m paper_figures.fig2_eigenvectors                  # n = 1024, p = 512, mixed
    python -m paper_figures.fig2_eigenvectors --full           # n = 8000, p = 4000
    python -m paper_figures.fig2_eigenvectors --full --dry-run # time estimate only

The top eigenvectors carry the class information (piecewise constant over the classes in
the limit): each panel overlays the j-th eigenvector of E_W[K], of K~ and of one network,
samples sorted by class; the legend gives |<u_EW, u_equiv>| and the class alignment.

Sizes. ``--full`` uses the paper's data and network sizes: n = 8000, p = 4000, widths [2000,
2000, 1000] (Gu et al., NeurIPS 2022; the reference code
github.com/Model-Compression/Lossless_Compression draws the leading eigenvectors of its
kernel and of the equivalent in ``code/spectral_characteristics/plot_eigen.py`` for its run
``GMM-mixed_8000_4000_none_rrr_[2000, 2000, 1000]``, the name giving n, p and the widths);
ReLU in every layer is this figure's choice.

How the paper size is computed: E_W[K] in closed form (float64,
``ntkcomp.kernels.expected_kernels``), the top eigenvectors of E_W[K], of the structured
equivalent and of the single draw's kernel operator by fully reorthogonalised Lanczos
(``ntkcomp.spectral.top_eigenpairs``, float64; Ritz residuals and convergence flags in
the results; the single draw in float32, whose rounding, about 1e-6 of the top eigenvalue,
is far below the eigen-gaps of the class spikes). No dense eigendecomposition.
"""
from __future__ import annotations

import numpy as np

from paper_figures import _common, _full_size

NAME = "fig2_eigenvectors"
TOP_K = 2
DEFAULT_COST = "about 1 CPU minute (1 point)"


def full_cost(cfg: dict) -> str:
    """Time estimate of the paper-size path from its FLOP counts."""
    n, p, w = cfg["n"], cfg["p"], cfg["widths"]
    fwd = 2 * n * (p * w[0] + sum(a * b for a, b in zip(w, w[1:])))
    steps = max(4 * TOP_K, 80)
    parts = {"Gram X X^T (3x)": 3 * 2 * n * n * p, "E_W entrywise maps": 200 * len(w) * n * n,
             "single-draw NTK": n * n * (p + 2 * sum(w)) + 2 * fwd,
             "Lanczos (6 runs)": 6 * steps * (2 * n * n + 4 * n * steps)}
    return _full_size.cost_model(parts, "1 point")


def full_point(cfg: dict) -> dict:
    """Top eigenvectors at paper size (module docstring); the keys of
    ``experiments.harness.definitions.spectral_equivalence`` used by :func:`plot`."""
    import jax
    import jax.numpy as jnp

    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.kernels import ck_operator, expected_kernels, ntk_operator
    from ntkcomp.spectral import class_alignment, top_eigenpairs

    tick = _full_size.Timer()
    data, s, net, params, X32 = _full_size.paper_network(cfg)
    E = expected_kernels(net, s.X)
    tick("expected_kernels")
    k, key = cfg["top_k"], jax.random.PRNGKey(cfg["seed"] + 13)
    res = {"n": int(s.X.shape[0]), "p": data.p, "path": "paper_size"}
    arrays = {"labels": np.asarray(s.labels)}
    for kind in ("ck", "ntk"):
        ops = {"expected": E["ck"][-1] if kind == "ck" else E["ntk"],
               "equiv": (ck_equivalent if kind == "ck" else ntk_equivalent)(net, s),
               "single": (ck_operator(net, params, X32) if kind == "ck"
                          else ntk_operator(net, params, X32))}
        r = {}
        for part, op in ops.items():
            dt = jnp.float32 if part == "single" else None
            ep = top_eigenpairs(op, None, k, key, dtype=dt)
            arrays[f"{kind}_vecs_{part}"] = np.asarray(ep.vectors, np.float64)
            r[f"values_{part}"] = np.asarray(ep.values, np.float64).tolist()
            r[f"residuals_{part}"] = np.asarray(ep.residuals, np.float64).tolist()
            r[f"converged_{part}"] = np.asarray(ep.converged).tolist()
        U_exp, U_eq = arrays[f"{kind}_vecs_expected"], arrays[f"{kind}_vecs_equiv"]
        r["vec_overlap_expected_equiv"] = [float(abs(U_exp[:, j] @ U_eq[:, j]))
                                           for j in range(k)]
        r["class_alignment_expected"] = class_alignment(U_exp, s.labels).tolist()
        r["class_alignment_equiv"] = class_alignment(U_eq, s.labels).tolist()
        res[kind] = r
        tick(f"{kind}_eigenvectors")
    return {**res, "seconds": tick.seconds, "_arrays": arrays}


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--data", default="mixed", help="GMM preset (mixed)")
    ap.add_argument("--activation", default="relu")
    args, t0 = _common.start(ap, argv)
    if args.full:
        _common.reject(args, ["draws"], "--full uses the exact weight average (closed form)")
    size = _common.sizes(args, {"n": 1024, "p": 512, "widths": [1024, 1024, 512], "draws": 0,
                                "method": "auto"},
                         {"n": 8000, "p": 4000, "widths": [2000, 2000, 1000],
                          "method": "lanczos"})
    cfg = {"data": args.data, **size, "K": 2, "activations": [args.activation],
           "seed": args.seed, "kinds": ["ck", "ntk"], "exact": True, "top_k": TOP_K}
    _common.check_points([cfg])
    run = _common.run_dir_for(NAME, args, cfg, {"base": args.seed},
                              full_cost(cfg) if args.full else DEFAULT_COST)
    from experiments.harness.definitions import spectral_equivalence

    (res,) = _common.points(full_point if args.full else spectral_equivalence, [cfg], run,
                            NAME, args)
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
