"""Claims (docs/theory/finite_width.md), for one network of finite width d proportional to n:

(A) Single draws: the spectrum of one network's CK_1 follows the random-features law, the
    spectrum of K~^{1/2} G G^T K~^{1/2} / d (G Gaussian n x d), i.e. the generalised
    Marchenko-Pastur law with population eig(K~) and ratio n/d -- not eig(K~) itself.
(B) Finite width adds, even on average, b_L (1 1^T - I) to E_W[CK_L] for L >= 2:
    b_1 = 0, v_0 = 0, b_l = a1^2 b_{l-1} + (a2^2/2) v_{l-1} + (a2^2/4) kappa4 tau_{l-1}^4/d_{l-1},
    v_l = a1^4 v_{l-1} + tau_l^4 / d_l.

    python -m theory_checks.finite_width [--quick] [--max-n 4096]
"""
import time

import numpy as np

from theory_checks import _common as C

NAME = "finite_width"
W1_MAX = 0.02          # (A) W1(single draw, random-features law) at every n of the ladder
D_OVER_N = 1.0         # (A) width d = n
B_RTOL = 0.15          # (B) |mean off-diagonal shift - b_L| <= B_RTOL |b_L| + 3 SE
SINGLE_CONFIGS = [("relu", 1), ("erf", 1), ("binary", 1), ("ternary", 1), ("relu", 2),
                  ("relu", 3)]
B_CONFIGS = [("relu", 2, 32), ("relu", 2, 64), ("relu", 3, 64), ("abs", 2, 32)]


def single_draws(args):
    import jax

    from ntkcomp.equivalents import ck_equivalent
    from ntkcomp.kernels import conjugate_kernels
    from ntkcomp.spectral import (
        eigenvalues,
        random_features_density,
        random_features_spectrum,
        wasserstein1,
        wasserstein1_to_density,
    )

    ns = C.ladder(args)
    cols = ["n ladder", "W1 draw-vs-RF(K~) sampled", "W1 draw-vs-RF(E_W) sampled",
            "W1 draw-vs-RF fixed point", "W1 draw-vs-eig(K~) (naive)",
            "W1 RF-vs-RF (null)", "W1/mean",
            "top eig draw", "top eig RF"]
    C.header(NAME + " (A)", cols)
    table = C.Table(cols)
    plot_data = None
    for act, L in SINGLE_CONFIGS:
        w_s, w_e, w_fp, w_naive, w_rel, w_null = [], [], [], [], [], []
        for n in ns:
            s = C.sample("mixed", n, seed=args.seed)
            d = int(D_OVER_N * n)
            net = C.make_net(act, L, s, width=d)
            params = net.init(jax.random.PRNGKey(1000 + n), s.X.shape[1])
            ck = np.asarray(conjugate_kernels(net, params, s.X)[-1])
            e_draw = eigenvalues(ck)
            Kt = np.asarray(ck_equivalent(net, s))
            E = C.expected(net, s, ("E", act, L, "mixed", n, 0.5, args.seed,
                                    C.STEP_THRESHOLDS.get(act)))["ck"][-1]
            # two independent samples of the law: the first is the comparator, W1 between
            # the two is the null level (sampling fluctuation of one n x n spectrum)
            e_rf, e_rf2 = random_features_spectrum(Kt, d, key=jax.random.PRNGKey(7 + n),
                                                   draws=2)
            e_rfE = random_features_spectrum(E, d, key=jax.random.PRNGKey(7 + n))[0]
            eKt = eigenvalues(Kt)
            w_s.append(wasserstein1(e_draw, e_rf))
            w_e.append(wasserstein1(e_draw, e_rfE))
            w_naive.append(wasserstein1(e_draw, eKt))
            w_null.append(wasserstein1(e_rf, e_rf2))
            w_rel.append(w_s[-1] / float(np.mean(eKt)))
            if n == ns[-1]:
                g, f, atom = random_features_density(eKt, n / d)
                w_fp.append(wasserstein1_to_density(e_draw, g, f, atom=atom))
                if plot_data is None:
                    plot_data = (f"{act} L={L} n={n} d={d}", e_draw, g, f, eKt)
            else:
                w_fp.append(float("nan"))
        claim_rows = L == 1
        ok = bool(max(w_s) <= W1_MAX) if claim_rows else None
        why = "" if ok or ok is None else f"max W1 {max(w_s):.4f} > {W1_MAX}"
        if not claim_rows:
            why = "L >= 2: the one-layer law is only indicative (see notes)"
        top_rf = float(e_rf.max())
        table.add(C.Row(f"{act} L={L} d=n", {
            "n ladder": list(ns), "W1 draw-vs-RF(K~) sampled": w_s,
            "W1 draw-vs-RF(E_W) sampled": w_e, "W1 draw-vs-RF fixed point": w_fp[-1],
            "W1 draw-vs-eig(K~) (naive)": w_naive, "W1 RF-vs-RF (null)": w_null,
            "W1/mean": w_rel[-1],
            "top eig draw": float(e_draw.max()), "top eig RF": top_rf}, ok, why))
    return table, plot_data


def b_term(args, configs=None, title=" (B)"):
    """Table (B): the mean off-diagonal finite-width shift vs b_L. ``configs``: entries
    ``(act, L, d)`` (Gaussian weights) or ``(act, L, d, (law, kwargs))``: Gaussian W_1 and
    ``law`` for W_2..W_L (its kappa4 enters b_l through the kappa4(W_l) tau_{l-1}^4/d_{l-1}
    term; W_1 stays Gaussian so the infinite-width reference E_W is unchanged)."""
    import jax

    from ntkcomp.equivalents import ck_equivalent, coefficients
    from ntkcomp.kernels import conjugate_kernels
    from ntkcomp.networks import weight_law
    from ntkcomp.spectral import relative_operator_error

    n = 256
    draws = 150 if args.quick else 500
    cols = ["d", "kappa4(W_l), l >= 2", "draws", "b_L theory",
            "mean offdiag shift (MC - E_inf)", "SE",
            "rel. err MC vs K~", "rel. err MC vs K~ + b term"]
    C.header(NAME + title, cols)
    table = C.Table(cols)
    for cfg in (B_CONFIGS if configs is None else configs):
        act, L, d = cfg[:3]
        lname, lkw = cfg[3] if len(cfg) > 3 else ("gaussian", {})
        law = weight_law(lname, **lkw)
        s = C.sample("mixed", n, seed=args.seed)
        net = C.make_net(act, L, s, width=d, weights=["gaussian"] + [law] * (L - 1))
        E_inf = C.expected(net, s, ("E", act, L, "mixed", n, 0.5, args.seed, None))["ck"][-1]
        off = ~np.eye(n, dtype=bool)
        acc = np.zeros((n, n))
        shifts = []
        for r in range(draws):  # independent networks; per-draw mean off-diagonal shift
            params = net.init(jax.random.PRNGKey(10_000 + r), s.X.shape[1])
            ck = np.asarray(conjugate_kernels(net, params, s.X)[-1])
            acc += ck
            shifts.append(float(np.mean((ck - E_inf)[off])))
        ck = acc / draws
        shift = float(np.mean(shifts))
        se = float(np.std(shifts, ddof=1) / np.sqrt(draws))
        b = float(coefficients(net, s.stats.tau0).b[L])
        ok = abs(shift - b) <= B_RTOL * abs(b) + 3 * se
        K0 = np.asarray(ck_equivalent(net, s))
        Kb = np.asarray(ck_equivalent(net, s, finite_width=True))
        wname = "" if lname == "gaussian" else " W_l>=2 " + lname + "".join(
            f"({k}={v})" for k, v in lkw.items())
        table.add(C.Row(f"{act} L={L} n={n}{wname}", {
            "d": d, "kappa4(W_l), l >= 2": float(law.kappa4), "draws": draws,
            "b_L theory": b, "mean offdiag shift (MC - E_inf)": shift,
            "SE": se, "rel. err MC vs K~": relative_operator_error(K0, ck),
            "rel. err MC vs K~ + b term": relative_operator_error(Kb, ck)}, bool(ok),
            "" if ok else f"|shift - b| = {abs(shift - b):.3g} > {B_RTOL}|b| + 3 SE"))
    return table


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv)
    t0 = time.time()
    tA, plot_data = single_draws(args)
    tB = b_term(args)
    figs = {}
    if plot_data is not None:
        import matplotlib.pyplot as plt

        from experiments.harness.spectral_plots import plot_spectrum

        cfg, e_draw, g, f, eKt = plot_data
        fig, ax = plt.subplots(figsize=(6, 4))
        from ntkcomp.spectral import spectral_density

        gk = np.linspace(0, np.quantile(e_draw, 0.99) * 1.1, 300)
        plot_spectrum(e_draw, [(g, f, "random-features law (fixed point)"),
                               (*spectral_density(eKt, grid=gk), "eig(K~) (KDE)")],
                      ax=ax, clip_quantile=0.99, label="one network CK", title=cfg)
        figs["single_draw"] = fig
    C.write_report(
        NAME, title="Finite width: single draws and the b_L term", args=args, started=t0,
        claim=__doc__.split("python -m")[0].strip(),
        criteria=(f"(A) L = 1 rows: PASS iff W1(single-draw spectrum, sampled random-features "
                  f"spectrum with population K~) <= {W1_MAX} at every n (d = n, p = n/2); L >= 2 "
                  "rows are information. (B) PASS iff |mean off-diagonal of (MC average of "
                  f"CK_L over draws - exact infinite-width E_W[CK_L]) - b_L| <= {B_RTOL} |b_L| "
                  "+ 3 SE (n = 256, small widths d)."),
        tables={"(A) single draws vs random-features law": tA, "(B) b_L term": tB},
        figures=figs, notes=NOTES)
    return C.exit_code([tA, tB])


NOTES = """
(A) W1 is absolute (eigenvalue units; the mean eigenvalue tau_1^2 is 0.2-0.6 here). The
naive column compares the single draw with eig(K~) directly: it does not shrink with n at
fixed d/n, which is why single draws must be compared with the random-features law.
For L >= 2 the population of layer L is itself random (it depends on the drawn lower
layers), so the one-layer law with population K~_L is only indicative.
(B) b_L is derived at leading order in 1/d and 1/p; at n = 256 (p = 128) the relative
corrections are O(p^{-1/2}).
Measured in the full run of 2026-11-22: the draw sits at 1.0-1.9x the null level at every
n; the erf n = 256 row exceeds 0.02 through the sampling floor (0.017) plus K~'s own
equivalence error (with the exact E_W as population W1 = 0.014). The kurtosis part of b_L
is checked by theory_checks.finite_width_kurtosis. Analysis appended to the report.
"""

if __name__ == "__main__":
    raise SystemExit(main())
