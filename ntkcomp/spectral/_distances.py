"""Distances between spectra and between kernel matrices (float64, NumPy/SciPy)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from ntkcomp.spectral._operator import DenseOperator, as_operator, dense_of, is_matrix, operator_size

__all__ = [
    "DENSE_NORM_MAX",
    "density_quantiles",
    "ks_distance",
    "operator_norm",
    "predicted_cdf",
    "relative_operator_error",
    "wasserstein1",
    "wasserstein1_to_density",
]

#: largest ``n`` whose operator norm is computed by a dense eigensolver
DENSE_NORM_MAX = 600


def _vec(x, name):
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be a non-empty finite array")
    return x


def _atoms(x, w, name):
    """``(atoms, weights)`` of an eigenvalue list or a measure with ``nodes``/``weights``."""
    if hasattr(x, "nodes") and hasattr(x, "weights"):
        if w is not None:
            raise ValueError(f"weights_{name} must be None when {name} is a SpectralMeasure")
        x, w = x.nodes, x.weights
    x = _vec(x, name)
    if w is None:
        return x, None
    w = np.ravel(np.asarray(w, dtype=np.float64))
    if w.shape != x.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights_{name} must be finite, >= 0, with positive sum and one "
                         f"entry per atom of {name} ({x.size}), got shape {w.shape}")
    return x, w / w.sum()


def wasserstein1(a, b, *, weights_a=None, weights_b=None) -> float:
    """Wasserstein-1 distance ``int |F_a(x) - F_b(x)| dx`` between two spectral measures.

    Args:
      a, b: eigenvalue lists (mass ``1/n`` each), or measures with ``nodes``/``weights``
        (a :class:`SpectralMeasure`: SLQ/KPM atoms).
      weights_a, weights_b: optional non-negative atom weights for eigenvalue lists
        (normalised to sum 1).
    Returns:
      The distance, in the units of the eigenvalues (exact for atomic measures: no binning).
    Raises:
      ValueError: empty or non-finite input, or weights of the wrong shape.
    """
    x, wx = _atoms(a, weights_a, "a")
    y, wy = _atoms(b, weights_b, "b")
    if wx is None and wy is None and x.size == y.size:
        return float(np.mean(np.abs(np.sort(x) - np.sort(y))))
    wx = np.full(x.size, 1.0 / x.size) if wx is None else wx
    wy = np.full(y.size, 1.0 / y.size) if wy is None else wy
    pts = np.concatenate([x, y])
    mass = np.concatenate([wx, -wy])
    order = np.argsort(pts, kind="stable")
    pts, mass = pts[order], mass[order]
    diff = np.cumsum(mass)[:-1]  # F_a - F_b on [pts_i, pts_(i+1))
    return float(np.sum(np.abs(diff) * np.diff(pts)))


def ks_distance(eigs_a, eigs_b) -> float:
    """Kolmogorov-Smirnov distance ``sup_x |F_a(x) - F_b(x)|`` of two empirical spectra."""
    a, b = np.sort(_vec(eigs_a, "eigs_a")), np.sort(_vec(eigs_b, "eigs_b"))
    x = np.concatenate([a, b])
    Fa = np.searchsorted(a, x, side="right") / a.size
    Fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.max(np.abs(Fa - Fb)))


def _eager_matvec(obj):
    """``v -> K v`` on concrete vectors: jit-compiled for array-leaf pytree operators, the
    callable itself (called eagerly, NumPy in and out allowed) otherwise."""
    op = as_operator(obj)
    if hasattr(obj, "matvec") and not isinstance(op, DenseOperator):
        fn = jax.jit(lambda op, v: op(v))
        return lambda v: np.asarray(fn(op, jnp.asarray(v)))
    if isinstance(op, DenseOperator):
        return lambda v: np.asarray(op.K, np.float64) @ v
    return obj.matvec if hasattr(obj, "matvec") else obj


def operator_norm(A, n: int | None = None, *, dense_max: int = DENSE_NORM_MAX) -> float:
    """Spectral norm ``max |eigenvalue|`` of a symmetric matrix or operator, in float64.

    Args:
      A: an ``(n, n)`` array (symmetrised as ``(A + A^T)/2``), a ``LinearOperator``
        (``shape``, ``matvec``) or a callable ``v -> A v`` (then ``n`` is required).
      n: the size for a plain callable.
      dense_max: up to this ``n`` the norm is exact from a dense symmetric eigensolver
        (an operator is formed by ``n`` products or its ``dense()``); above it, implicitly
        restarted Lanczos (ARPACK ``eigsh``, largest magnitude, relative tolerance 1e-10)
        from products only.
    Returns:
      ``||A||_2`` as a float.
    Raises:
      ValueError: a non-square or non-finite matrix, or a callable without ``n``.
    """
    size = operator_size(A, n)
    if is_matrix(A):
        K = np.asarray(A, dtype=np.float64)
        if not np.all(np.isfinite(K)):
            raise ValueError("A must be finite (NaN/Inf entries)")
        K = 0.5 * (K + K.T)
        if size <= dense_max:
            return float(np.max(np.abs(scipy.linalg.eigh(K, eigvals_only=True, driver="evd"))))
        v = scipy.sparse.linalg.eigsh(K, k=1, which="LM", return_eigenvectors=False, tol=1e-10)
        return float(np.abs(v[0]))
    if size <= dense_max:
        K = dense_of(A, size, jnp.float64 if jax.config.jax_enable_x64 else None)
        return operator_norm(K, dense_max=dense_max)
    mv = _eager_matvec(A)
    lin = scipy.sparse.linalg.LinearOperator(
        (size, size), matvec=lambda v: np.asarray(mv(np.ravel(v)), np.float64), dtype=np.float64)
    v = scipy.sparse.linalg.eigsh(lin, k=1, which="LM", return_eigenvectors=False, tol=1e-10)
    return float(np.abs(v[0]))


def relative_operator_error(K, K_ref, n: int | None = None) -> float:
    """``||K - K_ref||_2 / ||K_ref||_2`` for symmetric matrices or operators (float64).

    Args:
      K: ``(n, n)`` array, ``LinearOperator`` or callable (with ``n``).
      K_ref: the reference, of the same kinds.
      n: the size when both are plain callables.

    Returns:
      The relative spectral-norm error, a Python float.

    Raises:
      ValueError: shapes differ, or :func:`operator_norm`'s conditions.
    """
    if is_matrix(K) and is_matrix(K_ref):
        A = np.asarray(K, dtype=np.float64)
        R = np.asarray(K_ref, dtype=np.float64)
        if A.shape != R.shape:
            raise ValueError(f"K and K_ref must have the same shape, got {A.shape} and "
                             f"{R.shape}")
        return operator_norm(A - R) / operator_norm(R)
    size = operator_size(K_ref, n)
    if operator_size(K, size) != size:
        raise ValueError(f"K and K_ref must have the same size n = {size}")
    a, r = _eager_matvec(K), _eager_matvec(K_ref)

    def diff(v):
        return np.asarray(a(v), np.float64) - np.asarray(r(v), np.float64)

    return operator_norm(diff, size) / operator_norm(K_ref, size)


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
    """W1 between an empirical spectrum and a predicted law: ``int |F_emp - F_pred| dx``.

    Args:
        eigs: ``(n,)`` empirical eigenvalues.
        grid: ``(g,)`` increasing points of the predicted density.
        density: ``(g,)`` the predicted continuous density (mass ``1 - atom``).
        atom: mass of the predicted point mass.
        atom_at: location of the point mass.

    Returns:
        The Wasserstein-1 distance, a Python float."""
    e = np.sort(_vec(eigs, "eigs"))
    g = _vec(grid, "grid")
    x = np.unique(np.concatenate([e, g, [atom_at] if atom > 0 else []]))
    mid = 0.5 * (x[1:] + x[:-1])
    Fp = predicted_cdf(mid, grid, density, atom=atom, atom_at=atom_at)
    Fe = np.searchsorted(e, mid, side="right") / e.size
    return float(np.sum(np.abs(Fe - Fp) * np.diff(x)))
