"""Claim (docs/theory/universality.md): universality in the weight law, with a kurtosis correction.

(A) Averaged kernel: for i.i.d. first-layer weights of fourth cumulant kappa4,
    E_W[CK_1] ~ K~_1 with alpha_{1,3} T -> (a2^2/4)(2 T + kappa4 T_diag); without the
    correction sparse ternary weights at eps >= 0.9 show a spurious spike; with it the
    error returns to the Gaussian level.
(B) Spectral bulk: single-draw spectra of Gaussian, Rademacher and sparse ternary networks
    (eps up to 0.95) agree, W1 <= 0.015.

    python -m theory_checks.universality [--quick]
"""
import time

import numpy as np

from theory_checks import _common as C

NAME = "universality"
LAWS = [("gaussian", {}), ("rademacher", {}), ("sparse_ternary", {"eps": 0.5}),
        ("sparse_ternary", {"eps": 0.9}), ("sparse_ternary", {"eps": 0.95}),
        ("sparse_ternary", {"eps": 0.99})]
ACTS = ("relu",)
FEATURES = 65536        # (A) total random features averaged (d x draws) per law
GAUSS_FACTOR = 1.25     # (A) err with correction <= max(GAUSS_FACTOR err_gauss, err_gauss + 0.02)
W1_BULK_MAX = 0.015     # (B) W1(single draw, Gaussian single draw) for eps <= 0.95
EPS_BULK_MAX = 0.95


def _avg_ck(net, law, X, key, features, chunk=4096):
    """Monte Carlo E_W[CK_1] with ``features`` i.i.d. columns of ``law`` (one layer)."""
    import jax
    import jax.numpy as jnp

    act, m = net.activations[0], net.centers[0]
    Xj = jnp.asarray(X)
    acc = jnp.zeros((X.shape[0], X.shape[0]))
    for r in range(features // chunk):
        W = law.sample(jax.random.fold_in(key, r), (X.shape[1], chunk), Xj.dtype)
        H = act(Xj @ W) - m
        acc = acc + H @ H.T
    return np.asarray(acc / (chunk * (features // chunk)))


def _single_draw(net, law, X, key, d):
    import jax.numpy as jnp

    from ntkcomp.spectral import eigenvalues

    W = law.sample(key, (X.shape[1], d), jnp.asarray(X).dtype)
    H = (net.activations[0](jnp.asarray(X) @ W) - net.centers[0]) / np.sqrt(d)
    return eigenvalues(np.asarray(H @ H.T))


def main(argv=None) -> int:
    import jax

    from ntkcomp.equivalents import ck_equivalent
    from ntkcomp.networks import weight_law
    from ntkcomp.spectral import eigenvalues, relative_operator_error, wasserstein1

    args = C.parse_args(__doc__, argv)
    t0 = time.time()
    ns = C.ladder(args)
    ns = tuple(n for n in ns if n <= 1024)  # MC over 65536 features per law: n <= 1024
    features = FEATURES // (4 if args.quick else 1)
    cols = ["kappa4", "err no-corr", "err corr", "err realised", "err gauss (floor)",
            "top eig MC", "top eig K~ no-corr", "top eig K~ corr", "spike MC", "spike corr",
            "captured", "captured realised", "W1 bulk vs gauss draw",
            "W1 gauss-vs-gauss (null)"]
    C.header(NAME, cols)
    table = C.Table(cols)
    spectra, spikes = {}, {}
    for act in ACTS:
        for n in ns:
            s = C.sample("mixed", n, seed=args.seed)
            X = np.asarray(s.X)
            key = jax.random.PRNGKey(100 + n)
            base = C.make_net(act, 1, s)
            gauss = weight_law("gaussian")
            K_g = _avg_ck(base, gauss, X, jax.random.fold_in(key, 1), features)
            e_gauss_draw = _single_draw(base, gauss, X, jax.random.fold_in(key, 2), n)
            # null level of the bulk comparison: a second, independent Gaussian draw
            w1_null = wasserstein1(_single_draw(base, gauss, X, jax.random.fold_in(key, 3), n),
                                   e_gauss_draw)
            err_g = relative_operator_error(ck_equivalent(base, s), K_g)
            top_g_mc = float(eigenvalues(K_g)[-1])
            top_g_eq = float(eigenvalues(np.asarray(ck_equivalent(base, s)))[-1])
            for li, (lname, kw) in enumerate(LAWS):
                law = weight_law(lname, **kw)
                net = C.make_net(act, 1, s, weights=law)
                K_mc = K_g if lname == "gaussian" else _avg_ck(
                    net, law, X, jax.random.fold_in(key, 10 + li), features)
                K0 = np.asarray(ck_equivalent(net, s, kurtosis=False))
                K1 = np.asarray(ck_equivalent(net, s, kurtosis=True))
                # informative (not in the verdict, which tests the stated correction): the
                # realised fourth-moment term of ck_equivalent(kurtosis="realised")
                K2 = np.asarray(ck_equivalent(net, s, kurtosis="realised"))
                e0, e1 = relative_operator_error(K0, K_mc), relative_operator_error(K1, K_mc)
                e2 = relative_operator_error(K2, K_mc)
                e_draw = _single_draw(net, law, X, jax.random.fold_in(key, 20 + li), n)
                w1 = wasserstein1(e_draw, e_gauss_draw)
                eps = kw.get("eps", 0.0)
                okA = e1 <= max(GAUSS_FACTOR * err_g, err_g + 0.02)
                okB = (w1 <= W1_BULK_MAX) if eps <= EPS_BULK_MAX else True
                why = []
                if not okA:
                    why.append(f"err corr {e1:.3f} above Gaussian level {err_g:.3f}")
                if not okB:
                    why.append(f"bulk W1 {w1:.4f} > {W1_BULK_MAX}")
                name = lname + (f"(eps={eps})" if kw else "")
                top_mc, top1 = float(eigenvalues(K_mc)[-1]), float(eigenvalues(K1)[-1])
                # kurtosis spike of the top eigenvalue relative to the Gaussian-weight row at
                # the same n (removes the common MC bias and the equivalent's own error)
                spike_mc, spike_corr = top_mc - top_g_mc, top1 - top_g_eq
                spike_real = float(eigenvalues(K2)[-1]) - top_g_eq
                has_spike = abs(spike_mc) > 1e-12
                captured = spike_corr / spike_mc if has_spike else float("nan")
                captured_real = spike_real / spike_mc if has_spike else float("nan")
                if kw.get("eps", 0) >= 0.9:
                    spikes.setdefault(name, {"kappa4": float(law.kappa4)})[n] = (
                        spike_mc, spike_corr)
                table.add(C.Row(f"{act} n={n} {name}", {
                    "kappa4": float(law.kappa4), "err no-corr": e0, "err corr": e1,
                    "err realised": e2, "err gauss (floor)": err_g, "top eig MC": top_mc,
                    "top eig K~ no-corr": float(eigenvalues(K0)[-1]),
                    "top eig K~ corr": top1, "spike MC": spike_mc, "spike corr": spike_corr,
                    "captured": captured, "captured realised": captured_real,
                    "W1 bulk vs gauss draw": w1,
                    "W1 gauss-vs-gauss (null)": w1_null}, bool(okA and okB), "; ".join(why)))
                if act == ACTS[0] and n == ns[-1]:
                    spectra[name] = e_draw
    # remainder of the kurtosis spike not captured by the correction, vs n (p = n/2):
    # the neglected Edgeworth terms are O(kappa4 / sqrt(p)) relative to the spike
    cols_r = ["kappa4", "n ladder", "remainder (spike MC - spike corr)",
              "remainder / spike MC", "slope of remainder/spike vs n",
              "(remainder/spike) * sqrt(p) / kappa4"]
    C.header(NAME + " (remainder)", cols_r)
    rem_table = C.Table(cols_r)
    for name, d in spikes.items():
        nn = [n for n in ns if n in d]
        rem = [d[n][0] - d[n][1] for n in nn]
        frac = [r / d[n][0] for r, n in zip(rem, nn)]
        rem_table.add(C.Row(f"{ACTS[0]} {name}", {
            "kappa4": d["kappa4"], "n ladder": nn, "remainder (spike MC - spike corr)": rem,
            "remainder / spike MC": frac,
            "slope of remainder/spike vs n": C.loglog_slope(nn, np.abs(frac)),
            "(remainder/spike) * sqrt(p) / kappa4": [
                f * np.sqrt(n / 2) / d["kappa4"] for f, n in zip(frac, nn)]}, None))
    figs = {}
    if spikes:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for i, (name, d) in enumerate(spikes.items()):
            nn = [n for n in ns if n in d]
            ax.loglog(nn, [abs(1 - d[n][1] / d[n][0]) for n in nn], "o-", color=f"C{i}",
                      label=f"{name}, kappa4 = {d['kappa4']:.0f}")
        nn = np.asarray(ns, float)
        ax.loglog(nn, 0.3 * (nn / nn[0]) ** -0.5, "k--", lw=0.8, label="n^-1/2")
        ax.set_xlabel("n (p = n/2)")
        ax.set_ylabel("|1 - spike corr / spike MC|")
        ax.set_title("kurtosis spike not captured by the correction", fontsize=9)
        ax.legend(fontsize=7)
        figs["spike_remainder"] = fig
    if spectra:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for i, (name, e) in enumerate(spectra.items()):
            hi = np.quantile(e, 0.99)
            ax.hist(e[e <= hi], bins=60, density=True, histtype="step", color=f"C{i}",
                    label=name)
        ax.set_title(f"single-draw CK_1 spectra (bulk), {ACTS[0]}, n = d = {ns[-1]}",
                     fontsize=9)
        ax.legend(fontsize=7)
        figs["bulk"] = fig
    C.write_report(
        NAME, title="Universality in the weight law and the kurtosis correction", args=args,
        started=t0, claim=__doc__.split("python -m")[0].strip(),
        criteria=(f"(A) PASS iff the corrected error <= max({GAUSS_FACTOR} x, +0.02) the "
                  "Gaussian-weight error at the same n and Monte Carlo budget (the floor: MC "
                  f"noise of {features} averaged features + the O(n^-1/2) error of K~). "
                  f"(B) PASS iff W1(single-draw spectrum, Gaussian single draw) <= "
                  f"{W1_BULK_MAX} for eps <= {EPS_BULK_MAX} (d = n, p = n/2). L = 1 "
                  "(the correction enters at layer 1); 'mixed' preset. Columns 'err "
                  "realised' / 'captured realised' (ck_equivalent(kurtosis=\"realised\"), "
                  "the realised fourth-moment Gram and the kappa4 mean/variance shifts, "
                  "theory_checks/kurtosis_realised) are information, not in the verdict."),
        tables={"Ladder": table, "Kurtosis spike remainder vs n (information)": rem_table},
        figures=figs, notes=NOTES)
    return C.exit_code([table])


NOTES = """
Expected deviations at small p: the correction is the leading Edgeworth term in
kappa4/p (via kappa(u,u,v,v) = kappa4 sum_k x_ik^2 x_jk^2 ~ kappa4 T_diag/p). Terms of
relative order kappa4/p (e.g. kappa(u,u,u,u) = kappa4 sum_k x_ik^4 ~ 3 kappa4/p) are
neglected; with eps = 0.99 (kappa4 = 97) and p = n/2 <= 512 they are O(1): each neuron
sees only p(1 - eps) ~ 1-5 non-zero inputs and the CLT behind every equivalent fails.
Rows with kappa4/p not small are expected to FAIL; the claim is asymptotic in p.

The reference E_W[CK_1] for non-Gaussian weights has no closed form: it is a Monte Carlo
average over many i.i.d. feature columns, whose noise is the same for every law, so the
Gaussian row measures the floor. With scalar class covariances (all presets)
T_diag = T, so the correction multiplies alpha_{1,3} by (1 + kappa4/2); the unit test
tests/test_equivalents.py::test_quadratic_kurtosis_correction_exact_formula checks the
T_diag structure exactly with random diagonal covariances.

Measured in the full run of 2026-11-22 (n = 256 ... 1024): the corrected error's excess
over the Gaussian level is (0.47-0.81) kappa4/p for eps = 0.9 ... 0.99 and shrinks with p;
the FAIL analysis is appended to the report and summarised in theory_checks/README.md.
"""

if __name__ == "__main__":
    raise SystemExit(main())
