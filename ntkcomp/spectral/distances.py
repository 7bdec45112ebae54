"""Distances between spectra and between kernel matrices (float64, NumPy/SciPy)."""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

__all__ = [
    "density_quantiles",
    "ks_distance",
    "operator_norm",
    "predicted_cdf",
    "relative_operator_error",
    "wasserstein1",
    "wasserstein1_to_density",
]


def _vec(x, name):
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be a non-empty finite array")
    return x


def wasserstein1(eigs_a, eigs_b) -> float:
    """Wasserstein-1 distance between the empirical spectral measures (mass 1/n each):
    ``int |F_a(x) - F_b(x)| dx``; for equal sizes ``mean |sort(a) - sort(b)|``. Absolute
    (same units as the eigenvalues)."""
    a, b = np.sort(_vec(eigs_a, "eigs_a")), np.sort(_vec(eigs_b, "eigs_b"))
    if a.size == b.size:
        return float(np.mean(np.abs(a - b)))
    x = np.sort(np.concatenate([a, b]))
    Fa = np.searchsorted(a, x[:-1], side="right") / a.size
    Fb = np.searchsorted(b, x[:-1], side="right") / b.size
    return float(np.sum(np.abs(Fa - Fb) * np.diff(x)))


def ks_distance(eigs_a, eigs_b) -> float:
    """Kolmogorov-Smirnov distance ``sup_x |F_a(x) - F_b(x)|`` of two empirical spectra."""
    a, b = np.sort(_vec(eigs_a, "eigs_a")), np.sort(_vec(eigs_b, "eigs_b"))
    x = np.concatenate([a, b])
    Fa = np.searchsorted(a, x, side="right") / a.size
    Fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.max(np.abs(Fa - Fb)))


def operator_norm(K) -> float:
    """Spectral norm of a symmetric matrix (largest |eigenvalue|), float64."""
    K = np.asarray(K, dtype=np.float64)
    K = 0.5 * (K + K.T)
    n = K.shape[0]
    if n <= 600:
        return float(np.max(np.abs(scipy.linalg.eigh(K, eigvals_only=True))))
    v = scipy.sparse.linalg.eigsh(K, k=1, which="LM", return_eigenvectors=False, tol=1e-10)
    return float(np.abs(v[0]))


def relative_operator_error(K, K_ref) -> float:
    """``||K - K_ref||_2 / ||K_ref||_2`` (symmetric matrices, float64)."""
    K = np.asarray(K, dtype=np.float64)
    R = np.asarray(K_ref, dtype=np.float64)
    if K.shape != R.shape:
        raise ValueError(f"K and K_ref must have the same shape, got {K.shape} and {R.shape}")
    return operator_norm(K - R) / operator_norm(R)


def _continuous_cdf(grid, density):
    g = _vec(grid, "grid")
    f = np.clip(np.asarray(density, dtype=np.float64).ravel(), 0, None)
    if f.shape != g.shape or np.any(np.diff(g) <= 0):
        raise ValueError("grid must be strictly increasing and have the shape of density")
    G = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(g))])
    if G[-1] <= 0:
        raise ValueError("density must have positive mass on grid")
    return g, G / G[-1]


def _check_atom(atom):
    if not 0.0 <= atom < 1.0:
        raise ValueError(f"atom must lie in [0, 1), got {atom}")


def predicted_cdf(x, grid, density, *, atom: float = 0.0, atom_at: float = 0.0):
    """CDF at ``x`` of ``(1 - atom) * density (normalised on grid) + atom * delta(atom_at)``."""
    _check_atom(atom)
    g, G = _continuous_cdf(grid, density)
    x = np.asarray(x, dtype=np.float64)
    return (1.0 - atom) * np.interp(x, g, G, left=0.0, right=1.0) + atom * (x >= atom_at)


def density_quantiles(grid, density, m: int, *, atom: float = 0.0, atom_at: float = 0.0):
    """``m`` quantiles ``F^{-1}((i - 1/2)/m)`` of the law with density ``density`` on the
    increasing ``grid`` (trapezoid-integrated, renormalised to mass ``1 - atom``) plus a
    point mass ``atom`` at ``atom_at``."""
    _check_atom(atom)
    g, G = _continuous_cdf(grid, density)
    u = (np.arange(m) + 0.5) / m
    Fa = (1.0 - atom) * np.interp(atom_at, g, G, left=0.0, right=1.0)
    in_atom = (u >= Fa) & (u < Fa + atom)
    v = np.where(u >= Fa + atom, u - atom, u) / (1.0 - atom)
    keep = np.concatenate([[True], np.diff(G) > 0])
    q = np.interp(np.clip(v, 0, 1), G[keep], g[keep])
    return np.where(in_atom, atom_at, q)


def wasserstein1_to_density(eigs, grid, density, *, atom: float = 0.0,
                            atom_at: float = 0.0) -> float:
    """W1 between an empirical spectrum and a predicted law (density on ``grid`` plus an
    optional point mass ``atom`` at ``atom_at``): ``int |F_emp - F_pred| dx``."""
    e = np.sort(_vec(eigs, "eigs"))
    g = _vec(grid, "grid")
    x = np.unique(np.concatenate([e, g, [atom_at] if atom > 0 else []]))
    mid = 0.5 * (x[1:] + x[:-1])
    Fp = predicted_cdf(mid, grid, density, atom=atom, atom_at=atom_at)
    Fe = np.searchsorted(e, mid, side="right") / e.size
    return float(np.sum(np.abs(Fe - Fp) * np.diff(x)))
