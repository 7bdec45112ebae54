"""Figure 3: spectra of the dense network vs its NTK-LC compression (CK_L), weight-averaged
and single draws.

    python -m paper_figures.fig3_compressed_spectra                  # n = 1024, p = 512
    python -m paper_figures.fig3_compressed_spectra --full           # n = 8000, p = 4000
    python -m paper_figures.fig3_compressed_spectra --full --dry-run # time estimate only

Panels: (a) weight-averaged CK_L: exact E_W of the dense and of the compressed network, and
the compressed one minus the identity shift delta reported by ``compress`` (theory page
``docs/theory/compression.md``); (b) Monte Carlo averages over finite-width draws, dense
Gaussian vs sparse ternary at the largest eps (which carries the kurtosis term of
``docs/theory/universality.md``), minus delta; (c, d) one finite-width draw of each network
at eps = 0.5 and eps = 0.9 (the nonzero eigenvalues: a CK_L of width d_L < n has n - d_L
exact zeros).

Sizes. ``--full`` uses the paper's data and network sizes: GMM 'mixed', n = 8000, p = 4000,
widths [2000, 2000, 1000] (Gu et al., NeurIPS 2022; the reference code
github.com/Model-Compression/Lossless_Compression names that run
``GMM-mixed_8000_4000_none_rrr_[2000, 2000, 1000]`` under ``code/hist_return/small/``, the
name giving n, p and the widths). ReLU in every layer, the sparsities eps = 0.5 and 0.9 and
the 20 Monte Carlo draws per network are this figure's choices (the Monte Carlo panel needs
an average over draws).

How the paper size is computed (``paper_figures._full_size``): exact E_W in closed form
(float64), the Monte Carlo averages as one float32 GEMM ``H_L H_L^T`` per draw accumulated
on the device (only CK_L, in chunks of draws), densities of dense kernels by stochastic
Lanczos quadrature in float32 (20 probes x 100 steps), single draws exactly from their
d_L x d_L Gram; relative operator errors in float64 by ARPACK driving products on the
device. No dense
eigendecomposition. Accuracy: see ``paper_figures/_full_size.py``.
"""
from __future__ import annotations

import numpy as np

from paper_figures import _common, _full_size

NAME = "fig3_compressed_spectra"
DEFAULT_COST = "about 1.5 CPU minutes (1 point)"


def full_cost(cfg: dict) -> str:
    """Time estimate of the paper-size path from its FLOP counts."""
    n, p, w, draws = cfg["n"], cfg["p"], cfg["widths"], cfg["draws"]
    fwd = 2 * n * (p * w[0] + sum(a * b for a, b in zip(w, w[1:])))
    slq = 2 * n * n * _full_size.SLQ["num_probes"] * _full_size.SLQ["num_steps"]
    parts = {"E_W (2 networks)": 2 * (2 * n * n * p + 200 * len(w) * n * n),
             "Monte Carlo (2 x draws)": 2 * draws * (fwd + 2 * n * n * w[-1]),
             "single draws": (1 + len(cfg["eps"])) * (fwd + 2 * n * w[-1] ** 2),
             "SLQ (4 measures)": 4 * slq, "ARPACK norms": 3 * 300 * 2 * n * n}
    return _full_size.cost_model(parts, "1 point")


def full_point(cfg: dict) -> dict:
    """Paper-size spectra (module docstring); same result keys as :func:`point`, plus
    ``seconds`` per step."""
    import jax
    import jax.numpy as jnp

    from experiments.harness.accuracy import compressed_network
    from experiments.harness.pipeline import load_data
    from ntkcomp.kernels import ck_operator, expected_kernels
    from ntkcomp.spectral import wasserstein1

    tick = _full_size.Timer()
    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=2, seed=cfg["seed"])
    X = data.train.X
    X32 = jnp.asarray(X, jnp.float32)
    tau0 = float(data.train.stats.tau0)
    net = lambda e: compressed_network(cfg["widths"], cfg["activations"], tau0, e,  # noqa
                                       cfg["family"], cfg["hidden_tau"])
    dense, res, _ = net(0.0)
    delta = float(res.identity_shift)
    out = {"delta": delta, "feasible": bool(res.feasible), "tau0": tau0,
           "families": [s.family for s in res.layers],
           "n_levels": [int(s.n_levels) for s in res.layers], "path": "paper_size"}
    arrays = {}
    tick("design")
    Kd = expected_kernels(dense, X)["ck"][-1]
    Kc = expected_kernels(res.compressed, X)["ck"][-1]
    tick("expected_kernels")
    _full_size.store(arrays, "avg_dense", _full_size.measure(Kd, cfg["seed"] + 3))
    _full_size.store(arrays, "avg_comp", _full_size.measure(Kc, cfg["seed"] + 3))
    tick("expected_spectra")
    out["relop_avg"] = _full_size.relative_error(Kc, Kd)
    Kc = Kc - delta * jnp.eye(Kc.shape[0], dtype=Kc.dtype)
    out["relop_avg_shifted"] = _full_size.relative_error(Kc, Kd)
    del Kc, Kd
    tick("expected_errors")
    key = jax.random.PRNGKey(cfg["seed"] + 11)
    if cfg["draws"] > 0:
        comp_max = net(max(cfg["eps"]))[2]
        for name, model, k in (("mc_comp", comp_max, key),
                               ("mc_dense", dense, jax.random.fold_in(key, 1))):
            K = _full_size.mc_ck(model, X32, k, cfg["draws"])
            _full_size.store(arrays, name, _full_size.measure(K, cfg["seed"] + 5))
            del K
        out["w1_mc"] = wasserstein1(_full_size.shifted(_full_size.stored(arrays, "mc_comp"),
                                                       delta),
                                    _full_size.stored(arrays, "mc_dense"))
        tick("monte_carlo")
    pd = dense.init(jax.random.PRNGKey(cfg["seed"] + 1), data.p, dtype=jnp.float32)
    arrays["single_dense"] = np.asarray(
        _full_size.measure(ck_operator(dense, pd, X32), 0, "gram").nodes)
    for e in cfg["eps"]:
        comp = net(e)[2]
        pc = comp.init(jax.random.PRNGKey(cfg["seed"] + 2), data.p, dtype=jnp.float32)
        ev = np.asarray(_full_size.measure(ck_operator(comp, pc, X32), 0, "gram").nodes)
        arrays[f"single_comp_{e}"] = ev
        out[f"w1_single_{e}"] = wasserstein1(ev, arrays["single_dense"])
    tick("single_draws")
    return {**out, "seconds": tick.seconds, "_arrays": arrays}


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
                          "exact": True, "path": "paper_size"})
    cfg = {"data": "mixed", **size, "activations": [args.activation] * len(size["widths"]),
           "eps": [0.5, 0.9], "family": args.family, "hidden_tau": ht, "seed": args.seed}
    _common.check_points([cfg])
    run = _common.run_dir_for(NAME, args, cfg, {"base": args.seed},
                              full_cost(cfg) if args.full else DEFAULT_COST)
    (res,) = _common.points(full_point if args.full else point, [cfg], run, NAME, args)
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
    avg = {k: _full_size.stored(a, k) for k in ("avg_dense", "avg_comp", "mc_dense", "mc_comp")
           if k in a}
    n, d_L = int(cfg["n"]), int(cfg["widths"][-1])
    panels = []
    if "avg_dense" in a:
        lab = f"compressed - delta I (delta = {d:.3g})"
        rel = res.get("relop_avg_shifted")
        panels.append((f"(a) exact E_W[CK_L]; rel. op. diff after shift {rel:.3g}",
                       {"dense": avg["avg_dense"], "compressed": avg["avg_comp"],
                        lab: _full_size.shifted(avg["avg_comp"], d)}, {lab: {"ls": "--"}}))
    if "mc_comp" in a:
        lab = f"compressed eps = {max(cfg['eps'])}, - delta I"
        panels.append((f"({'ab'[len(panels)]}) mean of {cfg['draws']} finite-width draws; "
                       f"W1 {res.get('w1_mc', float('nan')):.3g}",
                       {"dense (Gaussian)": avg["mc_dense"],
                        lab: _full_size.shifted(avg["mc_comp"], d)}, {}))
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
