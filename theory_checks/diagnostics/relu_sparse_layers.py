"""Where the ReLU, L = 2, eps = 0.95 row of ``weight_kurtosis_depth`` loses (diagnostic, no
PASS/FAIL).

That row's corrected compounded law is 1.6x the draw-to-draw null in W1. Split by layer
(n = 512, p = 256, d = n, sparse ternary weights eps = 0.95, the check's networks):

1. layer-1 map: the Gaussian map F(XX^T), the corrected map F(XX^T, X) (first order) and
   its second-order version (``edgeworth_order=2``: kappa6, kappa4^2 terms) against a Monte
   Carlo E_W1[CK_1] over ``--mc`` neurons (relative Frobenius / operator errors; the MC's
   own Frobenius noise from two independent halves);
2. layer-2 map given one draw's TRUE layer-1 features H1: the same against a Monte Carlo
   over layer-2 neurons, plus the spike direction ``1' (F - E) 1 / n``;
3. the conditional last-layer law (H1 fixed, layer 2 as Gaussian surrogate features with
   covariance F_2(H1 H1^T[, H1])) against each draw, with the matching null (the same H1,
   a fresh W2), over ``--seeds`` draws; and a "nonlinear surrogate" (ReLU features of
   GAUSSIAN weights on H1: mean = Gaussian map, non-Gaussian features) for the top
   eigenvalue;
4. the whole two-layer law against each draw with layer 2 from the second-order map and
   layer 1 sampled either from its TRUE law (ReLU of a fresh sparse W1 on X) or as the
   compounded law's Gaussian surrogate (covariance = the second-order layer-1 map): which
   of the two assumptions costs the W1.

    python -m theory_checks.diagnostics.relu_sparse_layers [--seeds 10] [--mc 1600000]
"""
from __future__ import annotations

import numpy as np

from theory_checks.diagnostics import diagnostic_args
from theory_checks.diagnostics.lattice_preactivations import sparse_ternary

N, EPS, L = 512, 0.95, 2


def mc_layer_map(act, center, H, eps, draws, rng, chunk=4000):
    """Monte Carlo ``E_w[(act(H w) - m)(act(H w) - m)^T]`` over ``draws`` sparse ternary
    neurons: ``(estimate, relative Frobenius noise)`` (noise from two independent halves)."""
    chunks = max(2, 2 * (draws // (2 * chunk)))   # an even number: two equal halves
    halves = [np.zeros((H.shape[0],) * 2), np.zeros((H.shape[0],) * 2)]
    for c in range(chunks):
        h = np.asarray(act(H @ sparse_ternary(rng, (H.shape[1], chunk), eps))) - center
        halves[c % 2] += h @ h.T
    total = chunks * chunk
    E = (halves[0] + halves[1]) / total
    # half means m0, m1: E = (m0 + m1)/2, so its noise is ||m0 - m1|| / 2 = ||h0 - h1|| / total
    return E, np.linalg.norm(halves[0] - halves[1]) / total / np.linalg.norm(E)


def _errors(F, E):
    D = F - E
    one = np.ones(E.shape[0]) / np.sqrt(E.shape[0])
    return (np.linalg.norm(D) / np.linalg.norm(E), np.linalg.norm(D, 2) / np.linalg.norm(E, 2),
            float(one @ D @ one), float(one @ E @ one))


def main(argv=None) -> int:
    args = diagnostic_args(__doc__.splitlines()[0], argv, {
        "seeds": (10, 2, "draws for part 3 (>= 2)"),
        "mc": (1_600_000, 8000, "Monte Carlo neurons (>= 8000)")})
    from ntkcomp.networks import weight_law
    from ntkcomp.spectral import eigenvalues, wasserstein1
    from ntkcomp.spectral.random_features_depth import (
        expected_layer_maps,
        gaussian_features,
        gaussian_features_gram,
    )
    from theory_checks import _common as C
    from theory_checks.weight_kurtosis_depth import draw_key

    s = C.sample("mixed", N, p_over_n=0.5, seed=0)
    net = C.make_net("relu", L, s, width=N, weights=weight_law("sparse_ternary", eps=EPS))
    X = np.asarray(s.X, np.float64)
    gauss, corr = expected_layer_maps(net, weight_kurtosis=False), expected_layer_maps(net)
    corr2 = expected_layer_maps(net, edgeworth_order=2)
    rng = np.random.default_rng(11)
    feats = [[np.asarray(h, np.float64)
              for h in net.features(net.init(draw_key(N, L, r), X.shape[1]), s.X)]
             for r in range(args.seeds)]

    print(f"ReLU L = {L}, n = {N}, p = {X.shape[1]}, d = {N}, sparse ternary eps = {EPS}")
    print("| layer map | vs Monte Carlo | rel. Frobenius | rel. operator | 1'(F - E)1/n "
          "(1'E1/n) |")
    print("|---|---|---|---|---|")
    E1, noise1 = mc_layer_map(net.activations[0], net.centers[0], X, EPS, args.mc, rng)
    M0 = X @ X.T
    for name, F in (("Gaussian", gauss[0](M0)), ("corrected", corr[0](M0, X)),
                    ("2nd order", corr2[0](M0, X))):
        f, o, sp, ref = _errors(np.asarray(F), E1)
        print(f"| 1, {name} | {args.mc} neurons (noise {noise1:.1e}) | {f:.3e} | {o:.3e} | "
              f"{sp:+.4f} ({ref:.4f}) |")
    H1 = feats[0][0]
    M1 = H1 @ H1.T
    E2, noise2 = mc_layer_map(net.activations[1], net.centers[1], H1, EPS, 2 * args.mc, rng)
    for name, F in (("Gaussian", gauss[1](M1)), ("corrected", corr[1](M1, H1)),
                    ("2nd order", corr2[1](M1, H1))):
        f, o, sp, ref = _errors(np.asarray(F), E2)
        print(f"| 2 given H1, {name} | {2 * args.mc} neurons (noise {noise2:.1e}) | {f:.3e} | "
              f"{o:.3e} | {sp:+.4f} ({ref:.4f}) |")

    a2, m2 = net.activations[1], float(net.centers[1])
    rows = {k: ([], []) for k in ("fresh W2 (null)", "Gaussian map", "corrected map",
                                  "2nd-order map", "ReLU of Gaussian weights")}
    draw_tops = []
    for r in range(args.seeds):
        H1, H2 = feats[r]
        e = eigenvalues(H2 @ H2.T)
        draw_tops.append(e.max())
        M1 = H1 @ H1.T
        Hb = (np.asarray(a2(H1 @ sparse_ternary(rng, (N, N), EPS))) - m2) / np.sqrt(N)
        Hg = (np.asarray(a2(H1 @ rng.standard_normal((N, N)))) - m2) / np.sqrt(N)
        laws = {"fresh W2 (null)": eigenvalues(Hb @ Hb.T),
                "Gaussian map": eigenvalues(gaussian_features_gram(
                    np.asarray(gauss[1](M1)), N, rng)),
                "corrected map": eigenvalues(gaussian_features_gram(
                    np.asarray(corr[1](M1, H1)), N, rng)),
                "2nd-order map": eigenvalues(gaussian_features_gram(
                    np.asarray(corr2[1](M1, H1)), N, rng)),
                "ReLU of Gaussian weights": eigenvalues(Hg @ Hg.T)}
        for k, lam in laws.items():
            rows[k][0].append(wasserstein1(e, lam) / e.mean())
            rows[k][1].append(lam.max())
    print(f"\nConditional last layer (true H1 of each draw), {args.seeds} draws; draws' top "
          f"eigenvalue {np.mean(draw_tops):.3f} +- {np.std(draw_tops):.3f}")
    print("| layer-2 law | W1 / mean eigenvalue | top eigenvalue |")
    print("|---|---|---|")
    for k, (w, t) in rows.items():
        print(f"| {k} | {np.mean(w):.4f} | {np.mean(t):.3f} +- {np.std(t):.3f} |")

    # 4. the whole two-layer law against each draw, layer 1 sampled two ways (own stream)
    from theory_checks.weight_kurtosis_depth import draw_spectra

    eigs = draw_spectra(net, s.X, N, L, args.seeds + 1)
    mean_eig = float(np.mean([e.mean() for e in eigs]))
    a1, m1 = net.activations[0], float(net.centers[0])
    rng4 = np.random.default_rng(123)
    P1 = np.asarray(corr2[0](M0, X))
    w4 = {"layer 1 from its true law (fresh sparse W1)": [],
          "layer 1 Gaussian surrogate (the compounded law)": [],
          "null (an independent network)": []}
    for r in range(args.seeds):
        H1t = (np.asarray(a1(X @ sparse_ternary(rng4, (X.shape[1], N), EPS))) - m1) / np.sqrt(N)
        H1s = gaussian_features(P1, N, rng4)
        for key, H in zip(list(w4)[:2], (H1t, H1s)):
            lam = eigenvalues(gaussian_features_gram(np.asarray(corr2[1](H @ H.T, H)), N, rng4))
            w4[key].append(wasserstein1(eigs[r], lam) / mean_eig)
        w4["null (an independent network)"].append(wasserstein1(eigs[r], eigs[r + 1]) / mean_eig)
    print(f"\nTwo-layer law, layer 2 from the 2nd-order map given the sampled layer 1, {args.seeds}"
          f" draws (W1 relative to the draws' mean eigenvalue; networks of weight_kurtosis_depth)")
    print("| layer 1 sampled as | W1 / mean eigenvalue |")
    print("|---|---|")
    for k, w in w4.items():
        print(f"| {k} | {np.mean(w):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
