"""Figure 3: spectra of the dense network vs its NTK-LC compression (CK_L), weight-averaged
and single draws.

    python -m paper_figures.fig3_compressed_spectra          # n = 1024, p = 512, L = 3 ReLU
    python -m paper_figures.fig3_compressed_spectra --full   # n = 8000, p = 4000, 2000,2000,1000

Panels: (a) weight-averaged CK_L: exact E_W of the dense and of the compressed network, and
the compressed one minus the identity shift delta reported by ``compress`` (THEORY.md
section 8); (b) Monte Carlo averages over finite-width draws, dense Gaussian vs sparse
ternary at the largest eps (which carries the kurtosis term of section 7), minus delta;
(c, d) one finite-width draw of each network at eps = 0.5 and eps = 0.9 (the nonzero
eigenvalues: a CK_L of width d_L < n has n - d_L exact zeros).
"""
from __future__ import annotations

import numpy as np

from paper_figures import _common

NAME = "fig3_compressed_spectra"
DEFAULT_COST = "about 1.5 CPU minutes (1 point)"
FULL_COST = ("several CPU hours on 2 cores (2 x 20 draws at n = 8000; extr"
             "apolated, never run)")


def point(cfg: dict) -> dict:
    """Spectra for one (data, network) configuration; arrays under ``_arrays``."""
    import jax
    import numpy as np

    from experiments.harness.accuracy import compressed_network
    from experiments.harness.pipeline import eig, load_data
    from ntkcomp.kernels import conjugate_kernels, expected_kernels, monte_carlo_kernels
    from ntkcomp.spectral import relative_operator_error, wasserstein1

    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=2, seed=cfg["seed"])
    X = data.train.X
    tau0 = float(data.train.stats.tau0)
    dense, res, _ = compressed_network(cfg["widths"], cfg["activations"], tau0, 0.0,
                                       cfg["family"], cfg["hidden_tau"])
    delta = float(res.identity_shift)
    out = {"delta": delta, "feasible": bool(res.feasible), "tau0": tau0,
           "families": [s.family for s in res.layers],
           "n_levels": [int(s.n_levels) for s in res.layers]}
    arrays = {}
    n = X.shape[0]
    if cfg["exact"]:
        Kd = np.asarray(expected_kernels(dense, X)["ck"][-1])
        Kc = np.asarray(expected_kernels(res.compressed, X)["ck"][-1])
        arrays["avg_dense"], arrays["avg_comp"] = eig(Kd), eig(Kc)
        out["relop_avg"] = relative_operator_error(Kc, Kd)
        out["relop_avg_shifted"] = relative_operator_error(Kc - delta * np.eye(n), Kd)
    key = jax.random.PRNGKey(cfg["seed"] + 11)
    eps_max = max(cfg["eps"])
    _, _, comp_max = compressed_network(cfg["widths"], cfg["activations"], tau0, eps_max,
                                        cfg["family"], cfg["hidden_tau"])
    if cfg["draws"] > 0:
        mc = monte_carlo_kernels(comp_max, X, key, cfg["draws"], progress=False)
        arrays["mc_comp"] = eig(mc["ck"][-1])
        mcd = monte_carlo_kernels(dense, X, jax.random.fold_in(key, 1), cfg["draws"],
                                  progress=False)
        arrays["mc_dense"] = eig(mcd["ck"][-1])
        out["w1_mc"] = wasserstein1(arrays["mc_comp"] - delta, arrays["mc_dense"])
    pd = dense.init(jax.random.PRNGKey(cfg["seed"] + 1), data.p)
    arrays["single_dense"] = eig(conjugate_kernels(dense, pd, X)[-1])
    for e in cfg["eps"]:
        _, _, comp = compressed_network(cfg["widths"], cfg["activations"], tau0, e,
                                        cfg["family"], cfg["hidden_tau"])
        pc = comp.init(jax.random.PRNGKey(cfg["seed"] + 2), data.p)
        ev = eig(conjugate_kernels(comp, pc, X)[-1])
        arrays[f"single_comp_{e}"] = ev
        out[f"w1_single_{e}"] = wasserstein1(ev, arrays["single_dense"])
    return {**out, "_arrays": arrays}


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--activation", default="relu")
    _common.add_compress_options(ap)
    args, t0 = _common.start(ap, argv)
    ht = args.hidden_tau
    size = _common.sizes(args, {"n": 1024, "p": 512, "widths": [1024, 1024, 512], "draws": 10,
                                "exact": True},
                         {"n": 8000, "p": 4000, "widths": [2000, 2000, 1000], "draws": 20,
                          "exact": False})
    cfg = {"data": "mixed", **size, "activations": [args.activation] * len(size["widths"]),
           "eps": [0.5, 0.9], "family": args.family, "hidden_tau": ht, "seed": args.seed}
    _common.check_points([cfg])
    run = _common.run_dir_for(NAME, args, cfg, {"base": args.seed},
                              FULL_COST if args.full else DEFAULT_COST)
    (res,) = _common.points(point, [cfg], run, NAME, args)
    fig = plot(res, cfg)
    _common.finish(fig, run, NAME, args, {k: v for k, v in res.items() if k != "_arrays"},
                   res["_arrays"], t0=t0)
    print({k: v for k, v in res.items() if k != "_arrays"})
    return 0


def _nonzero(ev, n, d_L):
    """The ``d_L`` largest eigenvalues of a finite-width CK_L (rank <= d_L < n): the other
    ``n - d_L`` are its exact null space and would hide the bulk's shape in a histogram."""
    ev = np.sort(np.asarray(ev, float))
    return ev[n - d_L:] if d_L < n else ev


def plot(res, cfg):
    from experiments.harness.plots import figure, spectra_panel

    a = res["_arrays"]
    d = res["delta"]
    n, d_L = int(cfg["n"]), int(cfg["widths"][-1])
    panels = []
    if "avg_dense" in a:
        lab = f"compressed - delta I (delta = {d:.3g})"
        rel = res.get("relop_avg_shifted")
        panels.append((f"(a) exact E_W[CK_L]; rel. op. diff after shift {rel:.3g}",
                       {"dense": a["avg_dense"], "compressed": a["avg_comp"],
                        lab: a["avg_comp"] - d}, {lab: {"ls": "--"}}))
    if "mc_comp" in a:
        lab = f"compressed eps = {max(cfg['eps'])}, - delta I"
        panels.append((f"({'ab'[len(panels)]}) mean of {cfg['draws']} finite-width draws; "
                       f"W1 {res.get('w1_mc', float('nan')):.3g}",
                       {"dense (Gaussian)": a["mc_dense"], lab: a["mc_comp"] - d}, {}))
    drop = f"; {n - d_L} zeros omitted" if d_L < n else ""
    for e in cfg["eps"]:
        tag = "abcd"[len(panels)]
        panels.append((f"({tag}) one draw each, eps = {e} (no shift{drop})",
                       {"dense": _nonzero(a["single_dense"], n, d_L),
                        f"compressed eps = {e}": _nonzero(a[f"single_comp_{e}"], n, d_L)},
                       {}))
    ncols = 2 if len(panels) > 2 else len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = figure(nrows, ncols, width=5.6, height=3.6)
    for ax, (title, sp, st) in zip(axes.ravel(), panels):
        spectra_panel(ax, sp, styles=st, title=title)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    _common.titled(fig, f"Dense vs NTK-LC compressed CK_L spectra (n = {cfg['n']}, widths "
                        f"{cfg['widths']}, layers {res['families']}, every layer "
                        f"feasible: {res['feasible']})")
    return fig


if __name__ == "__main__":
    raise SystemExit(_common.cli(main))
