"""Where does the kurtosis-corrected equivalent lose at eps = 0.9 / 0.95? (diagnostic, no
PASS/FAIL)

``universality`` (A) FAILs for sparse ternary weights at eps >= 0.95 (and 0.9 at n = 256):
the corrected equivalent K~ (THEORY section 7, ``alpha_{1,3} T -> (a2^2/4)(2 T + kappa4
T_diag)``) stays ~(0.5-0.8) kappa4/p above its Gaussian-weight error. Split against the
exact expected layer maps (``ntkcomp.spectral.random_features_depth.expected_layer_maps``),
for one ReLU layer on the 'mixed' GMM (p = n/2), all relative operator norms divided by
``||E||`` (E = Monte Carlo E_W[CK_1] over ``--mc`` sparse ternary neurons):

* K~ (corrected / uncorrected) and the exact Gaussian, first-order (kappa4) and second-order
  (kappa6, kappa4^2) maps against E;
* the equivalent's Gaussian part against the exact Gaussian map (its O(n^-1/2) error, as
  for Gaussian weights);
* the equivalent's kappa4 term ``K~_corr - K~_nocorr`` against the exact first-order term
  ``F_1 - F_G`` (which also holds the ``kappa4 sum_k x_ik^4`` and ``sum_k x_ik^3 x_jk``
  parts the equivalent drops);
* the second-order term ``F_2 - F_1``;
* the shape of the kappa4-term mismatch (diagonal; top eigenvalues of its off-diagonal part).

    python -m theory_checks.diagnostics.kurtosis_equivalent_terms [--n 512] [--mc 800000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="samples (>= 64); p = n/2")
    ap.add_argument("--mc", type=int, default=800_000, help="Monte Carlo neurons (>= 8000)")
    args = ap.parse_args(argv)
    if args.n < 64:
        ap.error(f"--n must be >= 64, got {args.n}")
    if args.mc < 8000:
        ap.error(f"--mc must be >= 8000, got {args.mc}")
    import jax

    jax.config.update("jax_enable_x64", True)
    from ntkcomp.equivalents import ck_equivalent
    from ntkcomp.networks import weight_law
    from ntkcomp.spectral.random_features_depth import expected_layer_maps
    from theory_checks import _common as C
    from theory_checks.diagnostics.relu_sparse_layers import mc_layer_map

    t0 = time.time()
    s = C.sample("mixed", args.n, p_over_n=0.5, seed=0)
    X = np.asarray(s.X, np.float64)
    M = X @ X.T
    print(f"ReLU, L = 1, n = {args.n}, p = {X.shape[1]}, 'mixed' preset; relative operator "
          f"norms / ||E||, E = Monte Carlo over {args.mc} neurons")
    print("| eps | kappa4 | kappa4/p | MC noise (Frobenius) | K~ corr | K~ no-corr | F gauss | "
          "F 1st | F 2nd | K~ Gaussian part - F gauss | K~ kappa4 term - exact 1st-order "
          "term | 2nd-order term |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    shape = []
    for eps in (0.9, 0.95):
        law = weight_law("sparse_ternary", eps=eps)
        net = C.make_net("relu", 1, s, weights=law)
        Fg = np.asarray(expected_layer_maps(net, weight_kurtosis=False)[0](M))
        F1 = np.asarray(expected_layer_maps(net)[0](M, X))
        F2 = np.asarray(expected_layer_maps(net, edgeworth_order=2)[0](M, X))
        K0 = np.asarray(ck_equivalent(net, s, kurtosis=False))
        K1 = np.asarray(ck_equivalent(net, s, kurtosis=True))
        E, noise = mc_layer_map(net.activations[0], net.centers[0], X, eps, args.mc,
                                np.random.default_rng(7))
        nE = np.linalg.norm(E, 2)

        def r(A, nE=nE):
            return np.linalg.norm(A, 2) / nE

        print(f"| {eps} | {law.kappa4:.0f} | {law.kappa4 / X.shape[1]:.4f} | {noise:.1e} | "
              f"{r(K1 - E):.4f} | {r(K0 - E):.4f} | {r(Fg - E):.4f} | {r(F1 - E):.4f} | "
              f"{r(F2 - E):.4f} | {r(K0 - Fg):.4f} | {r((K1 - K0) - (F1 - Fg)):.4f} | "
              f"{r(F2 - F1):.4f} |")
        D = (K1 - K0) - (F1 - Fg)
        lam = np.linalg.eigvalsh(D - np.diag(np.diag(D))) / nE
        shape.append(f"| {eps} | {np.abs(np.diag(D)).max() / nE:.1e} | "
                     f"{', '.join(f'{x:+.4f}' for x in lam[::-1][:3])} ... "
                     f"{', '.join(f'{x:+.4f}' for x in lam[:2][::-1])} |")
    print("\nShape of the kappa4-term mismatch K~ kappa4 term - exact first-order term (relative to"
          " ||E||): largest diagonal entry; eigenvalues of its off-diagonal part, largest and"
          " smallest")
    print("| eps | max diagonal | off-diagonal eigenvalues |")
    print("|---|---|---|")
    print("\n".join(shape))
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
