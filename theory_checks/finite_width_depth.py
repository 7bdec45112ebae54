"""Question (docs/theory/finite_width.md, depth >= 2): one finite-width network's CK_L spectrum "
"against
random-features laws. The law of docs/theory/finite_width.md, eig(P^{1/2} G G^T P^{1/2} / d_L), is
stated for L = 1 (population P = K~_1). For L >= 2 every hidden layer adds its own
finite-width randomness, so applying it to the last layer only (P = K~_L or E_W[CK_L])
ignores the lower layers' spread. Comparators of one draw's CK_L spectrum:

  one-layer (K~)   : P = K~_L                            (docs/theory/finite_width.md applied to
  layer L)
  one-layer (E_W)  : P = E_W[CK_L] (exact infinite width)
  conditional      : P = F_L(CK_{L-1} of the same draw), F_L the exact expected-next-layer
                     map (bivariate Gaussian expectation on the realised Gram; its diagonal
                     uses the realised norms): tests the last layer alone
  compounded       : M_0 = X X^T; for l = 1..L: P_l = F_l(M_{l-1}),
                     M_l = P_l^{1/2} G_l G_l^T P_l^{1/2} / d_l (fresh Gaussian G_l): the
                     law with every layer's randomness (Gaussian surrogate features)
  null (draw-draw) : a second, independent network (same architecture)

Reading: a law is right when W1(draw, law sample) is at the null level W1(draw, draw').
(a) "bug: one-layer law applied to a deep network" predicts one-layer >> null and
compounded ~ null for all activations; (b) "step activations are special" predicts
compounded >> null for ternary only; (c) "threshold convention mismatch" predicts
conditional >> null for ternary (the last layer alone would already disagree).

    python -m theory_checks.finite_width_depth [--quick] [--max-n 1024] [--seeds 3] [--max-d 2048]
"""
from __future__ import annotations

import time

import numpy as np

from theory_checks import _common as C

NAME = "finite_width_depth"
ACTS = ("ternary", "relu", "erf")
DEPTHS = (1, 2, 3)
D_OVER_N = (1, 4)
PRESET = "mixed"
# Criterion for the compounded law (stated before the run): its W1 to a draw is within
# 1.5x the draw-to-draw null (mean over seeds) + 0.002 relative (sampling slack at n = 512
# with 3 seeds; the null's own seed-to-seed spread is ~30 %).
NULL_FACTOR = 1.5
NULL_SLACK = 0.002


def compounded_sample(maps, K0, widths, rng, return_all=False):
    """One sample of the compounded random-features law (as
    ``ntkcomp.spectral.compounded_random_features_spectrum``, but returning the Gram
    matrices M_1..M_L, for the norm diagnostics)."""
    M, out = np.asarray(K0, float), []
    for F, d in zip(maps, widths):
        P = F(M)
        lam, U = np.linalg.eigh(0.5 * (P + P.T))   # features P^{1/2} G / sqrt(d)
        A = (U * np.sqrt(np.clip(lam, 0.0, None))) @ U.T
        H = A @ rng.standard_normal((A.shape[0], d)) / np.sqrt(d)
        M = H @ H.T
        out.append(M)
    return out if return_all else out[-1]


def draw_grams(net, params, X):
    hs = net.features(params, X)
    return [np.asarray(h) @ np.asarray(h).T for h in hs]


def run_config(act, L, n, d_over_n, seeds, *, p_over_n=0.5, data_seed=0):
    import jax

    from ntkcomp.equivalents import ck_equivalent
    from ntkcomp.spectral import eigenvalues, random_features_spectrum, wasserstein1
    from ntkcomp.spectral import expected_layer_maps

    s = C.sample(PRESET, n, p_over_n=p_over_n, seed=data_seed)
    d = int(d_over_n * n)
    net = C.make_net(act, L, s, width=d)
    X = np.asarray(s.X)
    maps = expected_layer_maps(net)
    Kt = np.asarray(ck_equivalent(net, s))
    E = C.expected(net, s, ("E", act, L, PRESET, n, p_over_n, data_seed,
                            C.STEP_THRESHOLDS.get(act)))["ck"][-1]
    draws = []
    for r in range(seeds + 1):   # seeds + 1 networks: the extra one is the null partner
        params = net.init(jax.random.PRNGKey(50_000 + 97 * r + n + L), X.shape[1])
        draws.append(draw_grams(net, params, s.X))
    eigs = [eigenvalues(g[-1]) for g in draws]
    res = {k: [] for k in ("one_Kt", "one_E", "cond", "comp", "null", "comp_null",
                            "diag_cv_draw", "diag_cv_comp")}
    mean_eig = float(np.mean(np.diag(E)))
    for r in range(seeds):
        e = eigs[r]
        rng = np.random.default_rng(1000 * r + 7 * L + n)
        key = jax.random.PRNGKey(3000 + r + n + L)
        res["one_Kt"].append(wasserstein1(e, random_features_spectrum(Kt, d, key)[0]))
        res["one_E"].append(wasserstein1(e, random_features_spectrum(E, d, key)[0]))
        if L >= 2:
            P = maps[-1](draws[r][-2])
            res["cond"].append(wasserstein1(e, random_features_spectrum(P, d, key)[0]))
            Ms = compounded_sample(maps, X @ X.T, [d] * L, rng, return_all=True)
            Ms2 = compounded_sample(maps, X @ X.T, [d] * L, rng)
            res["comp"].append(wasserstein1(e, eigenvalues(Ms[-1])))
            res["comp_null"].append(wasserstein1(eigenvalues(Ms[-1]), eigenvalues(Ms2)))
            # norm fluctuations of the layer below (input of the last layer): coefficient of
            # variation of the diagonal of CK_{L-1}, draw vs Gaussian surrogate
            dg, dc = np.diag(draws[r][-2]), np.diag(Ms[-2])
            res["diag_cv_draw"].append(float(np.std(dg) / np.mean(dg)))
            res["diag_cv_comp"].append(float(np.std(dc) / np.mean(dc)))
        res["null"].append(wasserstein1(e, eigs[r + 1]))
    out = {k: (float(np.mean(v)) / mean_eig if v and not k.startswith("diag") else
               (float(np.mean(v)) if v else float("nan"))) for k, v in res.items()}
    out["spread"] = {k: float(np.std(v) / mean_eig) for k, v in res.items()
                     if v and not k.startswith("diag")}
    out["mean_eig"] = mean_eig
    out["top_draw"] = float(np.mean([x.max() for x in eigs[:seeds]]))
    return out


def spectrum_figure(act="ternary", L=3, n=512, d_over_n=1.0, seed=0):
    """Empirical CDFs (log eigenvalue axis) of one draw's CK_L spectrum, one sample of the
    one-layer law (population E_W[CK_L]) and one sample of the compounded law."""
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ntkcomp.spectral import random_features_spectrum, wasserstein1
    from ntkcomp.spectral import (
        compounded_random_features_spectrum,
        expected_layer_maps,
    )

    s = C.sample(PRESET, n, seed=seed)
    d = int(d_over_n * n)
    net = C.make_net(act, L, s, width=d)
    X = np.asarray(s.X)
    E = C.expected(net, s, ("E", act, L, PRESET, n, 0.5, seed,
                            C.STEP_THRESHOLDS.get(act)))["ck"][-1]
    g = draw_grams(net, net.init(jax.random.PRNGKey(77), X.shape[1]), s.X)[-1]
    e_draw = np.linalg.eigvalsh(g)
    e_one = random_features_spectrum(E, d, key=78)[0]
    e_comp = compounded_random_features_spectrum(X @ X.T, expected_layer_maps(net), [d] * L,
                                                 key=79)[0]
    m = float(np.mean(np.diag(E)))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    q = (np.arange(n) + 0.5) / n
    ax.plot(np.sort(e_draw), q, color="0.3", lw=2.5, alpha=0.5, label="one network CK_L")
    for e, lab, col in ((e_one, "one-layer law, population E_W[CK_L]", "C3"),
                        (e_comp, "compounded law (every layer)", "C0")):
        ax.plot(np.sort(e), q, color=col, lw=1.0,
                label=f"{lab}: W1/mean {wasserstein1(e_draw, e) / m:.3f}")
    ax.set_xscale("log")
    ax.set_xlim(left=1e-4 * m)
    ax.set_ylabel("fraction of eigenvalues below (empirical CDF)")
    ax.set_xlabel("eigenvalue")
    ax.set_title(f"{act} L={L}, n={n}, d={d}, p=n/2 ('{PRESET}'): single draw vs laws",
                 fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    ap = C.base_parser(__doc__, quick_help="n = 256 only, 2 seeds")
    ap.add_argument("--max-n", type=int, default=1024)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--acts", default=",".join(ACTS))
    ap.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    ap.add_argument("--d-over-n", default=",".join(map(str, D_OVER_N)))
    ap.add_argument("--max-d", type=int, default=2048,
                    help="skip configurations wider than this (CPU budget)")
    args = C.finish_args(ap, argv)
    if not args.quick and args.max_n < 512:
        ap.error(f"--max-n must be >= 512 (the ladder is n = 512, 1024), got {args.max_n}")
    if args.seeds < 1:
        ap.error(f"--seeds must be >= 1, got {args.seeds}")
    ns = (256,) if args.quick else tuple(n for n in (512, 1024) if n <= args.max_n)
    seeds = 2 if args.quick else args.seeds
    t0 = time.time()
    cols = ["W1/mean one-layer(K~)", "one-layer(E_W)", "conditional", "compounded",
            "null draw-draw", "null law-law", "compounded / null", "CV diag CK_{L-1} draw",
            "CV diag surrogate", "time"]
    C.header(NAME, cols)
    table = C.Table(cols)
    for act in args.acts.split(","):
        for L in map(int, args.depths.split(",")):
            for n in ns:
                for dn in map(float, args.d_over_n.split(",")):
                    if dn * n > args.max_d:
                        continue
                    t1 = time.time()
                    r = run_config(act, L, n, dn, seeds)
                    ratio = r["comp"] / r["null"] if L >= 2 else float("nan")
                    ok = (None if L == 1 else
                          bool(r["comp"] <= NULL_FACTOR * r["null"] + NULL_SLACK))
                    table.add(C.Row(f"{act} L={L} n={n} d={dn:g}n", {
                        "W1/mean one-layer(K~)": r["one_Kt"], "one-layer(E_W)": r["one_E"],
                        "conditional": r["cond"], "compounded": r["comp"],
                        "null draw-draw": r["null"], "null law-law": r["comp_null"],
                        "compounded / null": ratio,
                        "CV diag CK_{L-1} draw": r["diag_cv_draw"],
                        "CV diag surrogate": r["diag_cv_comp"],
                        "time": f"{time.time() - t1:.0f} s"}, ok))
    if not args.no_report:
        C.write_report(
            NAME, title="Finite width at depth: which random-features law a deep draw follows",
            args=args, started=t0, claim=__doc__.split("python -m")[0].strip(),
            criteria=(f"Information for the one-layer and conditional columns. Compounded law "
                      f"(L >= 2): PASS iff W1(draw, compounded sample) <= {NULL_FACTOR} x "
                      f"W1(draw, independent draw) + {NULL_SLACK} (relative, mean over seeds)."
                      f" W1 divided by the mean eigenvalue of E_W[CK_L]; {seeds} seeds; "
                      f"p = n/2, preset '{PRESET}', equal widths d."),
            tables={"W1 / mean eigenvalue (mean over seeds)": table}, notes=NOTES,
            figures={"spectrum": spectrum_figure()})
    return C.exit_code([table])


NOTES = """
All W1 are divided by the mean eigenvalue of E_W[CK_L] (tau_L^2). 'CV diag': coefficient of
variation of the diagonal of CK_{L-1} (per-sample squared norms of the last layer's input),
in the draw and in the compounded law's Gaussian surrogate.
"""

if __name__ == "__main__":
    raise SystemExit(main())
