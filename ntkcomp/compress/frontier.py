"""How far is "lossless"?  Single finite-width draws of compressed vs dense networks.

For given n, p, depth, activation and a tolerance, ``lossless_frontier`` measures on a grid
of widths d (all hidden layers of width d) and sparsities eps, for ONE draw of each network:

* ``w1_rel``: Wasserstein-1 distance between the CK_L spectra of the dense draw and of the
  compressed draw with the identity shift removed (eigenvalues minus delta), divided by
  the dense draw's mean eigenvalue (trace / n);
* ``alignment_gap``: |class alignment of the top eigenvector (dense) - (compressed)|.

They "agree" when ``w1_rel <= tol``. Reported: the smallest width at which they agree for
every eps <= eps_min of the grid (eps = 0 first), and per width the largest eps that agrees.

Prediction (THEORY sections 6-7): a single draw's spectrum follows the random-features law
of its own E_W kernel, ``K~^{1/2} G G^T K~^{1/2} / d`` (G Gaussian n x d). Using the CK_L
equivalents -- the compressed one with its sparse-ternary kurtosis term -- we sample that law
for both networks (same d) and report the same ``w1_rel`` between the two predicted spectra
(``predicted_w1_rel``). The kurtosis-free part of the difference comes only from delta: the
random-features law of ``K~ + delta I`` is not the shifted law of ``K~``.
"""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from ntkcomp._validate import check_positive, check_positive_int

__all__ = ["lossless_frontier"]


def lossless_frontier(n: int = 256, p: int | None = None, depth: int = 2,
                      activation: str = "relu", tol: float = 0.1,
                      widths: Sequence[int] = (128, 256, 512, 1024),
                      eps_grid: Sequence[float] = (0.0, 0.5, 0.9), *, preset: str = "mixed",
                      family: str = "ternary", k_max: int = 3, seed: int = 0,
                      predict: bool = True) -> dict:
    """Measure (and predict) single-draw agreement of compressed vs dense; JSON-able dict."""
    from ntkcomp.compress.core import check_eps, coefficient_comparison, compress
    from ntkcomp.data import gmm_preset
    from ntkcomp.equivalents import ck_equivalent
    from ntkcomp.kernels import conjugate_kernels
    from ntkcomp.networks import MLP, weight_law
    from ntkcomp.spectral import class_alignment, random_features_spectrum, wasserstein1

    n = check_positive_int("n", n)
    p = check_positive_int("p", p if p is not None else max(n // 2, 1))
    depth = check_positive_int("depth", depth)
    check_positive("tol", tol)
    widths = [check_positive_int("widths[i]", int(d)) for d in widths]
    eps_grid = check_eps(list(eps_grid), len(eps_grid)) if len(eps_grid) else []
    sample = gmm_preset(preset, p).sample(jax.random.PRNGKey(seed), n)
    X, labels = np.asarray(sample.X), np.asarray(sample.labels)
    tau0 = float(sample.stats.tau0)
    base = MLP([widths[0]] * depth, activation, tau0=tau0)
    design = compress(base, tau0, eps=0.0, family=family, k_max=k_max, seed=seed)
    acts = design.compressed.activations
    rows = []
    for d in widths:
        dense = MLP([d] * depth, activation, tau0=tau0)
        pd = dense.init(jax.random.PRNGKey(seed + 1000 + d), p)
        CKd = np.asarray(conjugate_kernels(dense, pd, X)[-1])
        ed, Vd = np.linalg.eigh(CKd)
        mean_d = float(np.mean(ed))
        al_d = float(class_alignment(Vd[:, -1], labels)[0])
        Kd_eq = np.asarray(ck_equivalent(dense, sample)) if predict else None
        rf_d = random_features_spectrum(Kd_eq, d, seed + 7)[0] if predict else None
        for e in eps_grid:
            comp = MLP([d] * depth, acts, weights=weight_law("sparse_ternary", eps=e),
                       tau0=tau0)
            delta = coefficient_comparison(dense, comp, tau0)["delta_ck"][-1]
            pc = comp.init(jax.random.PRNGKey(seed + 2000 + d), p)
            CKc = np.asarray(conjugate_kernels(comp, pc, X)[-1])
            ec, Vc = np.linalg.eigh(CKc)
            row = {"width": d, "eps": e, "identity_shift": delta,
                   "w1_rel": float(wasserstein1(ec - delta, ed)) / mean_d,
                   "alignment_dense": al_d,
                   "alignment_compressed": float(class_alignment(Vc[:, -1], labels)[0])}
            row["alignment_gap"] = abs(row["alignment_dense"] - row["alignment_compressed"])
            row["agree"] = bool(row["w1_rel"] <= tol)
            if predict:
                Kc_eq = np.asarray(ck_equivalent(comp, sample, kurtosis=True))
                rf_c = random_features_spectrum(Kc_eq, d, seed + 7)[0]
                row["predicted_w1_rel"] = float(wasserstein1(rf_c - delta, rf_d)) / float(
                    np.mean(rf_d))
            rows.append(row)
    agree = {(r["width"], r["eps"]): r["agree"] for r in rows}
    smallest = next((d for d in widths if agree.get((d, eps_grid[0]), False)), None) \
        if eps_grid else None
    largest_eps = {d: max([e for e in eps_grid if agree[(d, e)]], default=None) for d in widths}
    out = {"n": n, "p": p, "depth": depth, "activation": activation, "tol": tol,
           "preset": preset, "design": design.to_json(), "rows": rows,
           "smallest_width_agreeing_at_eps0": smallest,
           "largest_eps_agreeing_per_width": {str(k): v for k, v in largest_eps.items()}}
    if predict:
        pa = {(r["width"], r["eps"]): r["predicted_w1_rel"] <= tol for r in rows}
        out["predicted_smallest_width_at_eps0"] = next(
            (d for d in widths if pa.get((d, eps_grid[0]), False)), None) if eps_grid else None
    return out
