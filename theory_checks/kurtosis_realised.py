"""Claim (ntkcomp, beyond docs/theory/universality.md): the kurtosis-corrected CK equivalent with "
"the
REALISED fourth moments (``ck_equivalent(..., kurtosis="realised")``: the weight fourth
cumulant's term ``alpha_diag_l sum_k x_ik^2 x_jk^2`` instead of its class-block means
``alpha_diag_l (J T_diag J^T / p)_ij``; the ``kappa4 sum_k x_ik^3 x_jk`` term, which
the original statement drops and which is the leading one for step activations; and the per-sample
shifts
of the layer-1 feature means and variances, ``kappa4 sum_k x_ik^4`` terms; and
the terms of the same order linear in the covariance c_ij = x_i . x_j or in each sample's
variance deviation, ``covariance_coefficients``, and the slope shifts of the later layers,
``deep_slope_terms``; all carried through the later layers) is
as close to E_W[CK_L] for sparse ternary weights (eps = 0.9,
0.95) as the Gaussian-weight equivalent is to its own expected kernel, at depth L = 1, 2, 3,
for ReLU, abs and the ternary and binary step activations -- where the stated ``kappa4
T_diag`` correction (``kurtosis=True``) is not at eps = 0.95 (``universality`` (A),
``diagnostics/kurtosis_equivalent_terms``).

Reference E_W[CK_L] (infinite width; every layer sparse ternary): the layer-1 map with the
first- and second-order Edgeworth terms of the weight law given X
(``expected_layer_maps(net, edgeworth_order=2)``), then the exact Gaussian maps of layers
2..L (the weight law's cumulants enter a hidden layer's map only at order 1/d_{l-1}, zero at
infinite width). At L = 1 (n <= 1024) the reference is anchored to a Monte Carlo average
over 2^18 sparse ternary neurons (column "ref vs MC"). The NTK equivalent with
``kurtosis="realised"`` is checked at L = 1 against the Monte Carlo E_W[NTK] of the same
neurons (second table).

Ladder n = 256 ... 2048 (step activations: n <= 1024).

    python -m theory_checks.kurtosis_realised [--quick] [--max-n 2048]
"""
import time

import numpy as np

from theory_checks import _common as C

NAME = "kurtosis_realised"
# relu: a2 != 0, a3 = 0; abs: even (a1 = 0); ternary / binary: step activations with the
# checks' thresholds (a3 != 0: the kappa4 sum_k x_ik^3 x_jk term). Odd smooth activations
# (tanh, erf) have a2 = 0 and a3 coupled to a1: not in this ladder.
ACTS = ("relu", "abs", "ternary", "binary")
ACT_MAX_N = {"ternary": 1024, "binary": 1024}   # step maps' finite differences: n <= 1024
DEPTHS = (1, 2, 3)
EPS_CLAIM = (0.9, 0.95)
EPS_INFO = (0.99,)              # kappa4 / p = 97 / p >= 0.19 here: outside the claim
GAUSS_FACTOR = 1.25             # as universality (A): err <= max(1.25 floor, floor + 0.02)
GAUSS_SLACK = 0.02
MC_FEATURES = 2 ** 18
MC_MAX_N = 1024


def mc_layer1(net, law, X, features=MC_FEATURES, chunk=8192) -> dict:
    """Monte Carlo E_W over ``features`` i.i.d. layer-1 neurons of ``law`` (infinite-width
    limit of a one-hidden-layer network): ``{"ck": E[CK_1], "ntk": E[NTK]}`` (each (n, n);
    ``NTK = CK_1 + (X X^T) * E[sigma'(u_i) sigma'(u_j)]``, the convention of
    ``expected_kernels``), and ``"ck_noise"`` / ``"ntk_noise"``: half the relative operator
    distance between the averages over the even and the odd chunks (the estimate's noise)."""
    import jax
    import jax.numpy as jnp

    act, m = net.activations[0], net.centers[0]
    Xj = jnp.asarray(X)
    dact = jax.vmap(jax.vmap(jax.grad(act)))

    @jax.jit
    def grams(key):
        U = Xj @ law.sample(key, (X.shape[1], chunk), Xj.dtype)
        H, D = act(U) - m, dact(U)
        return H @ H.T, D @ D.T

    chunks = max(2, features // chunk)
    acc = [[0.0, 0.0], [0.0, 0.0]]                 # [half][ck, derivative]
    for r in range(chunks):
        for k, g in enumerate(grams(jax.random.PRNGKey(9_000 + r))):
            acc[r % 2][k] = acc[r % 2][k] + np.asarray(g)
    G = X @ X.T
    halves = [(a[0] / (chunk * n_h), G * a[1] / (chunk * n_h))
              for a, n_h in zip(acc, ((chunks + 1) // 2, chunks // 2))]
    ck = (acc[0][0] + acc[1][0]) / (chunk * chunks)
    ntk = ck + G * (acc[0][1] + acc[1][1]) / (chunk * chunks)
    op = lambda A: np.linalg.norm(A, 2)
    return {"ck": ck, "ntk": ntk,
            "ck_noise": op(halves[0][0] - halves[1][0]) / (2 * op(ck)),
            "ntk_noise": op(sum(halves[0]) - sum(halves[1])) / (2 * op(ntk))}


def reference_cks(net, X, L, *, layer1=None):
    """``[E_W[CK_1], ..., E_W[CK_L]]`` at infinite width: second-order Edgeworth layer-1 map
    given X, exact Gaussian maps after it (module docstring). ``layer1``: use this (n, n)
    layer-1 kernel instead (e.g. the reference's own with its diagonal put back to the
    Gaussian-weight one), so the Edgeworth map is evaluated once per network."""
    from ntkcomp.spectral import expected_layer_maps

    maps = expected_layer_maps(net, edgeworth_order=2)
    out = [maps[0](X @ X.T, X) if layer1 is None else layer1]
    for F in maps[1:L]:
        out.append(F(out[-1]))
    return out


def gaussian_layer1_diagonal(net, sample, K1):
    """``K1`` (n, n) with its diagonal (the per-sample feature variances) replaced by the
    Gaussian-weight one (the exact diagonal of the layer-1 equivalent, the 1-D moments at
    each sample's scale): what the layers above see of the kurtosis if only the off-diagonal
    is corrected, as in every equivalent."""
    from ntkcomp.equivalents import ck_equivalent

    out = np.array(K1, copy=True)
    exact = ck_equivalent(net, sample, 1, diagonal="exact")
    np.fill_diagonal(out, np.asarray(exact.diagonal()))
    return out


def _verdict(err, floor, eps):
    """``(passed, why)`` of one row: universality (A)'s criterion; eps outside EPS_CLAIM is
    information (``passed = None``)."""
    if eps not in EPS_CLAIM:
        return None, "kappa4/p outside the claim"
    bound = max(GAUSS_FACTOR * floor, floor + GAUSS_SLACK)
    return (True, "") if err <= bound else (False, f"err realised {err:.3f} > {bound:.3f}")


def main(argv=None) -> int:
    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.networks import weight_law
    from ntkcomp.spectral import relative_operator_error

    args = C.parse_args(__doc__, argv)
    t0 = time.time()
    ns = C.ladder(args)
    cols = ["kappa4", "kappa4/p", "err realised", "err corr (THEORY)", "err no-corr",
            "floor (Gaussian weights)", "ref vs MC", "layer-1 diagonal shift"]
    ntk_cols = ["kappa4", "err realised", "err corr (THEORY)", "err no-corr",
                "floor (Gaussian weights)", "MC noise"]
    C.header(NAME, cols)
    table, ntk_table = C.Table(cols), C.Table(ntk_cols)
    curves = {}
    for act in ACTS:
        for n in (n for n in ns if n <= ACT_MAX_N.get(act, ns[-1])):
            s = C.sample("mixed", n, seed=args.seed)
            X = np.asarray(s.X)
            p = X.shape[1]
            gnet = C.make_net(act, max(DEPTHS), s)
            E_g = C.expected(gnet, s, ("kurtosis_realised", act, n, args.seed))["ck"]
            floors = {L: relative_operator_error(ck_equivalent(gnet, s, L), E_g[L - 1])
                      for L in DEPTHS}
            gnet1 = C.make_net(act, 1, s)
            ntk_floor = relative_operator_error(
                ntk_equivalent(gnet1, s),
                C.expected(gnet1, s, ("kurtosis_realised", act, n, args.seed, 1))["ntk"])
            for eps in EPS_CLAIM + EPS_INFO:
                law = weight_law("sparse_ternary", eps=eps)
                net = C.make_net(act, max(DEPTHS), s, weights=law)
                refs = reference_cks(net, X, max(DEPTHS))
                try:
                    refs_gd = reference_cks(
                        net, X, max(DEPTHS), layer1=gaussian_layer1_diagonal(net, s, refs[0]))
                except ValueError:      # the Gaussian diagonal is below some corrected
                    refs_gd = None      # off-diagonal entries (Cauchy-Schwarz): no number
                mc = mc_layer1(net, law, X) if n <= MC_MAX_N else None
                anchor = (relative_operator_error(refs[0], mc["ck"]) if mc is not None
                          else float("nan"))
                if mc is not None:
                    net1 = C.make_net(act, 1, s, weights=law)
                    ntk_errs = {k: relative_operator_error(
                        ntk_equivalent(net1, s, kurtosis=k), mc["ntk"])
                        for k in ("realised", True, False)}
                    ntk_table.add(C.Row(f"{act} L=1 n={n} eps={eps}", {
                        "kappa4": float(law.kappa4), "err realised": ntk_errs["realised"],
                        "err corr (THEORY)": ntk_errs[True], "err no-corr": ntk_errs[False],
                        "floor (Gaussian weights)": ntk_floor, "MC noise": mc["ntk_noise"]},
                        *_verdict(ntk_errs["realised"], ntk_floor, eps)))
                for L in DEPTHS:
                    errs = {k: relative_operator_error(ck_equivalent(net, s, L, kurtosis=k),
                                                       refs[L - 1])
                            for k in ("realised", True, False)}
                    floor = floors[L]
                    table.add(C.Row(f"{act} L={L} n={n} eps={eps}", {
                        "kappa4": float(law.kappa4), "kappa4/p": float(law.kappa4) / p,
                        "err realised": errs["realised"], "err corr (THEORY)": errs[True],
                        "err no-corr": errs[False], "floor (Gaussian weights)": floor,
                        "ref vs MC": anchor if L == 1 else float("nan"),
                        "layer-1 diagonal shift": (relative_operator_error(refs_gd[L - 1],
                                                                           refs[L - 1])
                                                   if L >= 2 and refs_gd is not None
                                                   else float("nan"))},
                        *_verdict(errs["realised"], floor, eps)))
                    curves.setdefault(f"{act} L={L} eps={eps}", {})[n] = (
                        errs["realised"], errs[True], floor)
    figs = {"errors": _figure(curves, ns)} if len(ns) > 1 else {}
    C.write_report(
        NAME, title="Kurtosis correction with the realised fourth-moment Gram", args=args,
        started=t0, claim=__doc__.split("python -m")[0].strip(),
        criteria=(f"PASS iff err realised <= max({GAUSS_FACTOR} x floor, floor + "
                  f"{GAUSS_SLACK}) (universality (A)'s criterion), floor = the Gaussian-weight "
                  "equivalent's relative operator error against its exact E_W[CK_L] at the "
                  "same n and L (its O(n^-1/2) error). Errors are relative operator norms "
                  f"against the reference. eps in {list(EPS_CLAIM)}; eps = 0.99 rows are "
                  "information. 'mixed' preset, p = n/2. NTK table: the same criterion for "
                  "Theta~ of a one-hidden-layer network against a Monte Carlo E_W[NTK] over "
                  f"{MC_FEATURES} neurons (n <= {MC_MAX_N}); floor = the Gaussian-weight "
                  "Theta~ against its exact E_W[NTK]."),
        tables={"Ladder": table, "NTK, L = 1 (Monte Carlo reference)": ntk_table},
        figures=figs, notes=NOTES)
    return C.exit_code([table, ntk_table])


def _figure(curves, ns):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, eps in zip(axes, EPS_CLAIM):
        for i, (name, d) in enumerate((k, v) for k, v in curves.items()
                                      if k.endswith(f"eps={eps}")):
            nn = [n for n in ns if n in d]
            label = name.rsplit(" ", 1)[0]
            ax.loglog(nn, [d[n][0] for n in nn], "o-", color=f"C{i}", label=f"{label} realised")
            ax.loglog(nn, [d[n][1] for n in nn], "x--", color=f"C{i}", lw=0.8,
                      label=f"{label} T_diag")
            ax.loglog(nn, [d[n][2] for n in nn], ":", color=f"C{i}", lw=0.8)
        ax.set_title(f"sparse ternary eps = {eps} (dotted: Gaussian-weight floor)", fontsize=9)
        ax.set_xlabel("n (p = n/2)")
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xticks(list(ns), [str(n) for n in ns])
    axes[0].set_ylabel("relative operator error vs E_W[CK_L]")
    axes[1].legend(fontsize=6, ncol=2)
    return fig


NOTES = """
Why the realised Gram: the first Edgeworth term of E_W[(sigma(u_i) - m)(sigma(u_j) - m)] for
i.i.d. weights of fourth cumulant kappa4 holds kappa(u_i, u_i, u_j, u_j) = kappa4 sum_k
x_ik^2 x_jk^2 times E[sigma''(u_i) sigma''(v_j)] / 4 ~ a2^2 / 4. the stated correction replaces
sum_k x_ik^2 x_jk^2 by its class-block mean T_diag_ab / p. Each entry of that matrix has
O(p^-1/2) relative fluctuations, but with kappa4 / p not small the kappa4 term is a large part
of the kernel (0.37 of ||E|| at eps = 0.95, n = 512) and its fluctuation matrix has O(1)
operator norm relative to it: `diagnostics/kurtosis_equivalent_terms` measured 0.050 of ||E||
from realised -> class means. Keeping the realised matrix costs one more (n, p) Gram (the
equivalent's structured form gains p columns; matrix-free products O(n p + p^2)). The same
coefficient alpha_diag_l carries it through the later layers (a1^2 per layer) and into the
NTK (beta_diag_L); `tests/test_kurtosis_realised.py` checks the quadratic activation's exact
kernels (L = 1: the kappa4 terms are then exact; L = 2 through an exact quadratic layer),
the shifts against the cosine's exact Rademacher expectations (error ~ 1/p), matrix-free
products at every layer and for the NTK, and a Monte Carlo case.

Column "layer-1 diagonal shift" (L >= 2): relative operator distance between the reference
and the same reference with the layer-1 diagonal put back to its Gaussian-weight value (nan
where that diagonal is below some corrected off-diagonal entries). The weight kurtosis also
moves each sample's layer-1 feature variance, and its mean (first Edgeworth term of a
one-dimensional expectation: kappa4 sum_k x_ik^4 / 24 times a fourth derivative,
`ntkcomp.equivalents.kurtosis_shifts`); the stated equivalent has neither (its tau_1 and the
later layers' centring constants are the Gaussian ones), and the layers above see the
variance shift as a shift of every input norm. An even activation (abs: a1 = 0) responds
to little else: the stated kappa4 term vanishes from layer 2 on (alpha_diag_2 = a1^2
alpha_diag_1 = 0), so without the shifts the three equivalents coincide there. First run
(the realised Gram alone, no shifts): abs L = 2 / 3 FAILed at both n (n = 512, eps = 0.95:
0.498 against a floor of 0.280), ReLU passed everywhere; with the shifts (`kurtosis=
"realised"` as committed) see the table. The shifts enter the low-rank part through the
norm-deviation recursion (`_shift_terms` in ntkcomp/equivalents/matrices.py): the layer-l
norm deviation eta_l = (q_l / 2) eta_{l-1} (+ delta at l = 1), the layer-l mean deviation
zeta_l = (a2_l / 2) eta_{l-1} (+ mu at l = 1), R_l = a1_l^2 R_{l-1} + zeta_l zeta_l^T --
without shifts exactly the stated alpha_{l,2} recursion.

The kappa4 sum_k x_ik^3 x_jk term (`cubic_coefficient`): the first Edgeworth term
(kappa4 / 6) E[sigma^(3)(u_i)] E[sigma'(u_j)] sum_k x_ik^3 x_jk + transpose, coefficient
kappa4 a1 a3 / 6 with a3 = E[sigma^(3)] = 2 da1/d(tau^2), carried like alpha_diag. It is zero
for ReLU (a3 = 0, density derivative at the kink) and for even activations (a1 = 0), so it
did not show in the ReLU diagnostic (0.008 of ||E||), but a step activation with a2 ~ 0
(ternary thresholds -0.6 tau, 0.8 tau) has almost nothing else: without it the realised
correction and the stated equal the uncorrected equivalent there (ternary, n = 512, eps = 0.9:
0.107 against a floor of 0.072; with it 0.066).

The diagonal is left as the stated plus the variance shift (the exact per-sample diagonal is
`diagonal="exact"`, which does not include the kurtosis).
The terms of the first Edgeworth order whose entries are of the same
order (p^-3/2) as the x^3 x term (`ntkcomp.equivalents.covariance_coefficients`, with the
NTK's layer-1 derivative-kernel copies, and `deep_slope_terms`): the slope
shift kappa4 a1 a5 / 24 (s4_i + s4_j) c_ij, the covariance dependence of E[sigma''
sigma''], kappa4 a3^2 / 4 (J T_diag J^T / p) o X X^T, and each sample's own variance in the
Gram term's a2^2, kappa4 a2 a4 / 8 (Q Q^T) o (dv_i + dv_j). Against Monte Carlo kurtosis
EFFECTS (sparse minus Gaussian weights) they bring the projection coefficient of the effect
on the prediction from 0.66 to 1.02 (compressed tanh design, one layer), from 0.85 to 1.01
(compressed ReLU design), and the ReLU eps = 0.95 effect error from 0.040 to 0.020 of ||K||
(the Monte Carlo noise: 0.017). The TOTAL error against this check's reference grows for
ReLU (L = 1, n = 512, eps = 0.95: 0.016 -> 0.039, floor 0.042): the earlier form without these terms
cancelled part of the Gaussian-weight equivalent's own per-sample-variance error (the same
observation as a per-sample-scale experiment); it now sits at the Gaussian
level, which is what the claim asks for. The slope shifts that the layer-1 variance shift
causes in layers >= 2 (`deep_slope_terms`) bring the depth-3 tanh design's projection from
0.88 to 0.98; the layer-1 derivative kernel's terms bring a one-layer tanh NTK's from 0.67
to 0.94 (eps = 0.95, n = 512; effect error 0.027 -> 0.013, noise 0.009). Still dropped:
terms of higher order in c_ij, dv_i and kappa4.
The NTK gets the same terms through beta_diag_L
and S_l = R_l + a1_l^2 S_{l-1}, but not the shift of the derivative kernel E[sigma'(u)
sigma'(v)] (zero for ReLU and abs at first order: E[sigma'(u)] is 1/2 or 0 for every
symmetric law, and the kappa(u,u,v,v) term of the derivative kernel has E[sigma^(3)] = 0).
Its reference here is Monte Carlo at L = 1 only (table "NTK, L = 1"): a non-Gaussian
derivative map for deeper layers is not built.
"""


if __name__ == "__main__":
    raise SystemExit(main())
