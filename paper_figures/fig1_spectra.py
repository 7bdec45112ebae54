"""Figure 1: CK_L and NTK eigenvalue histograms, weight-averaged kernel vs its equivalent,
on the three GMM presets (means, covs, mixed).

    python -m paper_figures.fig1_spectra                  # default: n = 1024, p = 512
    python -m paper_figures.fig1_spectra --full           # n = 8000, p = 4000, 2000,2000,1000
    python -m paper_figures.fig1_spectra --full --dry-run # configuration and time estimate

Curves per panel: the exact weight-averaged kernel E_W[K] (closed form,
``ntkcomp.kernels.expected_kernels``), the equivalent K~ (theory page
``docs/theory/equivalents.md``) and one finite-width network (a single draw:
Marchenko-Pastur-type spreading of K~, ``docs/theory/finite_width.md``), with, at the
default size, for CK_L, one sample of the random-features law the single draw should
follow (at depth >= 2 the compounded law of
``ntkcomp.spectral.compounded_random_features_spectrum``; at depth 1 the eigenvalues of
``K~^{1/2} G G^T K~^{1/2} / d_L``, G Gaussian n x d_L).

Sizes. ``--full`` uses the paper's data and network sizes: n = 8000 samples, p = 4000, three
hidden layers of widths [2000, 2000, 1000] (Gu et al., NeurIPS 2022; the reference code
github.com/Model-Compression/Lossless_Compression committed the spectra of that run under
``code/hist_return/small/GMM-mixed_8000_4000_none_rrr_[2000, 2000, 1000]``, the file name
giving n, p and the widths). The activation (ReLU in every layer) and the three presets are
this figure's choice. The default (n = 1024, p = 512, widths [1024, 1024, 512]) keeps p/n =
1/2.

How the paper size is computed (``paper_figures._full_size``): E_W[K] in closed form
(float64; no Monte Carlo), every density by stochastic Lanczos quadrature in float32 (20
probes x 100 steps) on the dense E_W[K], on the structured equivalent and on the single
draw's NTK operator; the single draw's CK_L exactly from its d_L x d_L Gram; relative
operator errors in float64 by ARPACK driving products on the device. No dense
eigendecomposition, no random-features curve (it needs one). Accuracy: see
``paper_figures/_full_size.py`` (float32 rounding about 1e-6 of the top eigenvalue, SLQ
sampling about 3e-3 of the spectral range in W1). Each preset is a resumable point.
"""
from __future__ import annotations

import numpy as np

from paper_figures import _common, _full_size

NAME = "fig1_spectra"
PRESETS = ["means", "covs", "mixed"]
DEFAULT_COST = "about 1 CPU minute (3 points)"


def full_cost(size: dict) -> str:
    """Time estimate of the paper-size path from its FLOP counts (3 presets)."""
    n, p, w = size["n"], size["p"], size["widths"]
    slq = 2 * n * n * _full_size.SLQ["num_probes"] * _full_size.SLQ["num_steps"]
    fwd = 2 * n * (p * w[0] + sum(a * b for a, b in zip(w, w[1:])))
    parts = {"Gram X X^T (3x)": 3 * 2 * n * n * p,
             "E_W entrywise maps": 200 * len(w) * n * n,
             "single-draw NTK": n * n * (p + 2 * sum(w)) + 2 * fwd,
             "SLQ (5 measures)": 5 * slq, "ARPACK norms": 4 * 300 * 2 * n * n}
    parts = {k: 3 * v for k, v in parts.items()}
    return _full_size.cost_model(parts, "3 presets")


def main(argv=None) -> int:
    ap = _common.parser(NAME, __doc__.splitlines()[0])
    ap.add_argument("--activation", default="relu", help="activation of every layer (relu)")
    args, t0 = _common.start(ap, argv)
    if args.full:
        _common.reject(args, ["draws"], "--full uses the exact weight average (closed form)")
    size = _common.sizes(args, {"n": 1024, "p": 512, "widths": [1024, 1024, 512], "draws": 0},
                         {"n": 8000, "p": 4000, "widths": [2000, 2000, 1000]})
    cfgs = [{"data": pr, **size, "K": 2, "activations": [args.activation], "seed": args.seed,
             "kinds": ["ck", "ntk"], "method": "slq" if args.full else "auto", "exact": True}
            for pr in PRESETS]
    _common.check_points(cfgs)
    run = _common.run_dir_for(NAME, args, {"points": cfgs}, {"base": args.seed},
                              full_cost(size) if args.full else DEFAULT_COST)
    from experiments.harness.definitions import spectral_equivalence

    res = _common.points(full_point if args.full else spectral_equivalence, cfgs, run, NAME,
                         args)
    fig = plot(res, size)
    summary = {pr: {k: {kk: v for kk, v in r[k].items()} for k in ("ck", "ntk")}
               for pr, r in zip(PRESETS, res)}
    for pr, r in zip(PRESETS, res):
        if "seconds" in r:
            summary[pr]["seconds"] = r["seconds"]
    arrays = {f"{pr}_{k}": v for pr, r in zip(PRESETS, res) for k, v in r["_arrays"].items()}
    _common.finish(fig, run, NAME, args, {"presets": summary, "size": size}, arrays, t0=t0)
    nan = float("nan")
    for pr, r in zip(PRESETS, res):
        print(f"{pr:6s}  CK: E_W vs K~ rel.op {r['ck'].get('relop_expected_equiv', nan):.3f}"
              f"  NTK: {r['ntk'].get('relop_expected_equiv', nan):.3f}"
              f"  (W1 single draw vs K~: CK {r['ck']['w1_single_equiv']:.3g}, "
              f"NTK {r['ntk']['w1_single_equiv']:.3g}"
              + (f"; CK vs {r['ck'].get('rf_law', '')} random-features law "
                 f"{r['ck']['w1_single_rf']:.3g})" if "w1_single_rf" in r["ck"] else ")")
              + (f"  [{sum(r['seconds'].values()):.0f} s]" if "seconds" in r else ""))
    return 0


def full_point(cfg: dict) -> dict:
    """One preset at paper size (module docstring): exact E_W[K], equivalent and one
    network, densities by SLQ; the result has the keys of
    ``experiments.harness.definitions.spectral_equivalence`` used by :func:`plot`, plus
    ``seconds`` per step."""
    import jax.numpy as jnp

    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.kernels import ck_operator, expected_kernels, ntk_operator
    from ntkcomp.spectral import wasserstein1

    tick = _full_size.Timer()
    data, s, net, params, X32 = _full_size.paper_network(cfg)
    tick("data")
    E = expected_kernels(net, s.X)
    tick("expected_kernels")
    res = {"n": int(s.X.shape[0]), "p": data.p, "tau0": float(s.stats.tau0),
           "widths": list(cfg["widths"]), "path": "paper_size"}
    arrays = {"labels": np.asarray(s.labels)}
    for kind in ("ck", "ntk"):
        K_exp = E["ck"][-1] if kind == "ck" else E["ntk"]
        equiv = (ck_equivalent if kind == "ck" else ntk_equivalent)(net, s)
        tick(f"{kind}_equivalent")
        single = (ck_operator(net, params, X32) if kind == "ck"
                  else ntk_operator(net, params, X32))
        m = {"expected": _full_size.measure(K_exp, cfg["seed"] + 3),
             "equiv": _full_size.measure(equiv, cfg["seed"] + 7),
             "single": _full_size.measure(single, cfg["seed"] + 9,
                                          "gram" if kind == "ck" else "slq")}
        tick(f"{kind}_spectra")
        r = {"method": "slq", "expected_source": "exact",
             "relop_expected_equiv": _full_size.relative_error(jnp.asarray(equiv), K_exp),
             "w1_single_equiv": float(wasserstein1(m["single"], m["equiv"])),
             "w1_expected_equiv": float(wasserstein1(m["expected"], m["equiv"])),
             "top_expected": float(np.max(m["expected"].nodes)),
             "top_equiv": float(np.max(m["equiv"].nodes)),
             "top_single": float(np.max(m["single"].nodes))}
        tick(f"{kind}_errors")
        for part, meas in m.items():
            _full_size.store(arrays, f"{kind}_{part}", meas)
        res[kind] = r
        del K_exp, equiv, single
    return {**res, "seconds": tick.seconds, "_arrays": arrays}


def plot(results, size):
    from experiments.harness.plots import figure, spectra_panel

    fig, axes = figure(2, len(results), width=4.3, height=3.3)
    for j, (pr, r) in enumerate(zip(PRESETS, results)):
        a = r["_arrays"]
        for i, (kind, name) in enumerate((("ck", "CK_L"), ("ntk", "NTK"))):
            sp = {}
            if f"{kind}_expected" in a:
                src = r[kind].get("expected_source", "exact")
                sp[f"E_W[{name}] ({src})"] = _full_size.stored(a, f"{kind}_expected")
            sp["equivalent"] = _full_size.stored(a, f"{kind}_equiv")
            sp["one network"] = _full_size.stored(a, f"{kind}_single")
            rf_label = ("random-features law (compounded)"
                        if r[kind].get("rf_law") == "compounded" else "random-features law")
            if f"{kind}_rf" in a:     # the law of one finite-width draw (finite_width.md)
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
