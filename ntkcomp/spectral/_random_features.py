"""The random-features law of one finite-width network (one hidden layer).

A single network of width ``d`` does not have the spectrum of its expected kernel ``K~``:
its CK is a sample covariance of ``d`` feature vectors with population covariance ``K~``,
so its spectrum follows (to leading order) that of::

    M = K~^{1/2} G G^T K~^{1/2} / d,      G: (n, d) i.i.d. N(0, 1),

a generalised Marchenko-Pastur law with population spectrum ``eig(K~)`` and ratio
``c = n / d``. Two forms are provided:

* :func:`random_features_spectrum`: sampled (exact finite-n law of M, any number of draws).
* :func:`random_features_density`: the deterministic limit from the Silverstein
  fixed-point equation. With ``m_(z)`` the Stieltjes transform of the companion
  ``G^T K~ G / d`` (d x d)::

      m_(z) = -1 / ( z - c * mean_i[ lambda_i / (1 + lambda_i m_(z)) ] ),   Im z > 0,

  and the density of M's eigenvalues is ``Im m_(x + i0) / (pi c)`` for ``x > 0``, plus a
  point mass ``1 - 1/c`` at 0 when ``c > 1`` (d < n). For ``K~ = I`` this is the classical
  Marchenko-Pastur law.
"""
from __future__ import annotations

import jax
import numpy as np
import scipy.linalg

from ntkcomp._validate import check_positive, check_positive_int, symmetric_float64

__all__ = [
    "default_grid",
    "marchenko_pastur_density",
    "psd_sqrt",
    "random_features_density",
    "random_features_spectrum",
    "robust_eigh",
    "stieltjes_companion",
    "support_edge",
]


def _eigh_with(solver, B, eigvals_only):
    if solver == "numpy":
        return np.linalg.eigvalsh(B) if eigvals_only else np.linalg.eigh(B)
    return scipy.linalg.eigh(B, eigvals_only=eigvals_only, driver=solver, check_finite=False)


def robust_eigh(A, *, eigvals_only: bool = False):
    """Symmetric eigendecomposition that does not die on a LAPACK failure.

    ``scipy.linalg.eigh``'s default driver (``evr``, MRRR) occasionally stops with
    ``LinAlgError: Internal Error.`` on large kernel matrices (reproduced: the dense ReLU
    CK_3 equivalent of compress_example at n = 2048, OpenBLAS 0.3.31: ``evr`` fails,
    ``evd`` and ``ev`` succeed; this killed ``compress_example --no-exact``). We try, in order: scipy ``evd`` (divide and
    conquer; also the fastest here), numpy (LAPACK ``syevd``), scipy ``ev`` (QR), scipy
    ``evr``; and, if all fail, the same on ``A / max|A|`` (rescaled back). ``A`` must be
    symmetric and finite (see :func:`ntkcomp._validate.symmetric_float64`). Returns ``w`` or ``(w, U)``,
    eigenvalues ascending."""
    A = np.asarray(A, dtype=np.float64)
    last = None
    scale = float(np.max(np.abs(A))) if A.size else 1.0
    for s in (1.0, scale if scale > 0 else 1.0):
        B = A / s if s != 1.0 else A
        for solver in ("evd", "numpy", "ev", "evr"):
            try:
                out = _eigh_with(solver, B, eigvals_only)
            except (np.linalg.LinAlgError, ValueError) as err:   # LAPACK "Internal Error"
                last = err
                continue
            if eigvals_only:
                w = np.asarray(out)
                if np.all(np.isfinite(w)):
                    return w * s
            else:
                w, U = out
                if np.all(np.isfinite(w)) and np.all(np.isfinite(U)):
                    return w * s, U
    raise np.linalg.LinAlgError(f"symmetric eigendecomposition failed with every LAPACK "
                                f"driver (last error: {last})")


def psd_sqrt(K):
    """``(K_+^{1/2}, eig(K_+))`` with ``K_+`` the PSD part of ``(K + K^T)/2`` (float64;
    negative eigenvalues -- rounding of a kernel that is PSD in exact arithmetic -- are
    clipped to 0). Robust to LAPACK driver failures (:func:`robust_eigh`)."""
    K = symmetric_float64("K_tilde", K)
    w, U = robust_eigh(K)
    w = np.clip(w, 0, None)
    return (U * np.sqrt(w)) @ U.T, w


def random_features_spectrum(K_tilde, d: int, key, draws: int = 1) -> np.ndarray:
    """Eigenvalues of ``K~^{1/2} G G^T K~^{1/2} / d`` for independent Gaussian ``G: (n, d)``.

    See the theory page ``docs/theory/finite_width.md`` (section One-layer law).

    No square root of ``K~`` is formed (it would need a full ``n x n`` eigendecomposition
    with vectors): the nonzero eigenvalues are those of

    * ``d < n``:  ``G^T K~ G / d`` (d x d), padded with ``n - d`` zeros;
    * ``d >= n``: ``R^T K~ R`` with ``R R^T = G G^T / d`` (Cholesky, positive definite
      almost surely), which is similar to ``K~ G G^T / d``.

    Both are exact identities for the same ``G`` (the draws equal the square-root form to
    rounding). ``K~`` is symmetrised; it is assumed PSD (a kernel): negative eigenvalues of
    order rounding only move the output by that much, and outputs are clipped at 0.

    Args:
        K_tilde: ``(n, n)`` population kernel ``K~`` (symmetric PSD).
        d: the width, a positive integer.
        key: a JAX PRNG key or an int seed.
        draws: number of independent ``G``.

    Returns:
        ``(draws, n)`` float64 eigenvalues, ascending in each row.
    """
    d = check_positive_int("d", d)
    draws = check_positive_int("draws", draws)
    K = symmetric_float64("K_tilde", K_tilde)
    n = K.shape[0]
    if isinstance(key, (int, np.integer)):
        key = jax.random.PRNGKey(int(key))
    seed = np.asarray(jax.random.randint(key, (draws,), 0, 2 ** 31 - 1))
    out = np.empty((draws, n))
    for r in range(draws):
        G = np.random.default_rng(int(seed[r])).standard_normal((n, d))
        if d < n:  # nonzero eigenvalues from the d x d companion, zeros for the rest
            M = G.T @ (K @ G) / d
            ev = robust_eigh(0.5 * (M + M.T), eigvals_only=True)
            out[r] = np.sort(np.concatenate([np.zeros(n - d), np.clip(ev, 0, None)]))
        else:
            W = G @ G.T / d
            try:
                R = np.linalg.cholesky(0.5 * (W + W.T))
                M = R.T @ K @ R
                ev = robust_eigh(0.5 * (M + M.T), eigvals_only=True)
            except np.linalg.LinAlgError:   # W singular (d ~ n, rounding): square-root form
                S, _ = psd_sqrt(K)
                Y = S @ G / np.sqrt(d)
                ev = robust_eigh(Y @ Y.T, eigvals_only=True)
            out[r] = np.sort(np.clip(ev, 0, None))
    return out


def stieltjes_companion(eigs_K, ratio, z, *, iters: int = 200, newton: int = 60,
                        m0=None, weights=None) -> np.ndarray:
    """Solve ``m = -1/(z - ratio * mean(lam / (1 + lam m)))`` for ``Im z > 0`` (vectorised over
    ``z``): damped fixed-point iterations, then safeguarded Newton steps (kept in the upper
    half-plane, the branch of a Stieltjes transform). ``weights``: masses of ``eigs_K``
    (default uniform)."""
    lam = np.asarray(eigs_K, dtype=np.float64).ravel()[None, :]
    w = (np.full(lam.shape, 1.0 / lam.size) if weights is None
         else np.asarray(weights, dtype=np.float64).reshape(lam.shape))
    z = np.asarray(z, dtype=np.complex128)
    c = float(ratio)
    m = -1.0 / z if m0 is None else np.asarray(m0, dtype=np.complex128)
    for _ in range(iters):
        new = -1.0 / (z - c * np.sum(w * lam / (1.0 + lam * m[:, None]), axis=1))
        m = 0.5 * m + 0.5 * new
    for _ in range(newton):
        r = 1.0 + lam * m[:, None]
        s1 = np.sum(w * lam / r, axis=1)
        s2 = np.sum(w * lam ** 2 / r ** 2, axis=1)
        F = m * (z - c * s1) + 1.0
        dF = (z - c * s1) + m * c * s2
        step = F / dF
        cand = m - step
        ok = np.isfinite(cand) & (cand.imag >= 0)
        m = np.where(ok, cand, m)
    return m


def default_grid(eigs_K, ratio, num: int = 800) -> np.ndarray:
    """A grid covering the support of the random-features law: uniform up to the largest
    bulk scale, refined around every population eigenvalue above the bulk."""
    lam = np.sort(np.clip(np.asarray(eigs_K, dtype=np.float64).ravel(), 0, None))
    c = float(ratio)
    top = lam[-1] * (1 + np.sqrt(c)) ** 2 * 1.1 + 1e-12
    q99 = lam[int(0.99 * (lam.size - 1))] * (1 + np.sqrt(c)) ** 2 * 1.2 + 1e-12
    lo = lam[0] * max(1 - np.sqrt(c), 0) ** 2 * 0.9
    g = [np.linspace(lo, q99, num)]
    for l in lam[lam > q99 / 1.2]:
        g.append(np.linspace(l * 0.5, l * (1 + np.sqrt(c)) ** 2 * 1.1, 80))
    g.append(np.linspace(q99, top, max(num // 4, 50)))
    if abs(c - 1.0) < 0.2 or lo <= 0:  # hard edge at 0 (density ~ x^{-1/2} when c ~ 1)
        g.append(np.geomspace(1e-7 * max(q99, 1e-300), max(q99, 1e-300) * 0.05, num // 4))
    g = np.unique(np.concatenate(g))
    return g[g > 0]


def _compress_population(lam, max_points):
    """(values, weights) of the population law: the 64 largest eigenvalues exactly, the rest
    as block means of ~equal counts, weighted by count (speed only; same mean, W1 change
    below the block spread / number of blocks)."""
    lam = np.sort(lam)
    if max_points is None or lam.size <= max_points:
        return lam, np.full(lam.size, 1.0 / lam.size)
    top, rest = lam[-64:], lam[:-64]
    blocks = np.array_split(rest, max_points - 64)
    vals = np.concatenate([[b.mean() for b in blocks], top])
    w = np.concatenate([[b.size for b in blocks], np.ones(top.size)]) / lam.size
    return vals, w


def random_features_density(eigs_of_K_tilde, ratio, grid=None, *, eta=None,
                            max_points: int | None = 384):
    """Predicted eigenvalue density of ``K~^{1/2} G G^T K~^{1/2}/d`` (generalised MP).

    Args:
      eigs_of_K_tilde: population eigenvalues (n,) (>= 0).
      ratio: ``c = n / d`` (> 0).
      grid: evaluation points (> 0); default :func:`default_grid`.
      eta: imaginary part of the final evaluation point (default ``1e-7 * scale``).
      max_points: the default grid's number of points (used when ``grid`` is None).

    Returns:
      ``(grid, density, atom)``: continuous density on ``grid`` (integrates to ``1 - atom``)
      and the point mass at 0, ``atom = max(0, 1 - 1/c)``.
    """
    check_positive("ratio", ratio)
    lam = np.clip(np.asarray(eigs_of_K_tilde, dtype=np.float64).ravel(), 0, None)
    if lam.size == 0:
        raise ValueError("eigs_of_K_tilde must be non-empty")
    c = float(ratio)
    grid = default_grid(lam, c) if grid is None else np.asarray(grid, dtype=np.float64)
    lam, wts = _compress_population(lam, max_points)
    scale = max(float(np.sum(wts * lam)), 1e-300)
    m = None
    for e in (1e-1, 1e-2, 1e-3):
        m = stieltjes_companion(lam, c, grid + 1j * e * scale, iters=40, newton=0, m0=m,
                                weights=wts)
    final_eta = 1e-7 * scale if eta is None else float(eta)
    m = stieltjes_companion(lam, c, grid + 1j * final_eta, iters=0, newton=40, m0=m,
                            weights=wts)
    dens = np.clip(m.imag, 0, None) / (np.pi * c)
    return grid, dens, max(0.0, 1.0 - 1.0 / c)


def marchenko_pastur_density(x, ratio, variance: float = 1.0):
    """Classical MP density (continuous part) for population ``variance * I``, ratio c."""
    c = float(ratio)
    x = np.asarray(x, dtype=np.float64)
    a, b = variance * (1 - np.sqrt(c)) ** 2, variance * (1 + np.sqrt(c)) ** 2
    inside = (x > a) & (x < b)
    out = np.zeros_like(x)
    out[inside] = np.sqrt((b - x[inside]) * (x[inside] - a)) / (2 * np.pi * c * variance
                                                                * x[inside])
    return out


def support_edge(grid, density, *, rel_tol: float = 1e-3, bulk_mass: float = 0.99) -> float:
    """Right edge of the bulk of a density.

    The largest grid point where the density exceeds ``rel_tol * max(density)``, within the
    smallest interval that holds ``bulk_mass`` of the mass (so isolated islands around
    spikes are excluded).

    Args:
        grid: ``(g,)`` increasing points.
        density: ``(g,)`` density values on ``grid``.
        rel_tol: threshold relative to the density's maximum.
        bulk_mass: the mass the bulk interval must hold, in (0, 1].

    Returns:
        The edge, a grid point."""
    g = np.asarray(grid, dtype=np.float64)
    f = np.asarray(density, dtype=np.float64)
    G = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(g))])
    G = G / G[-1]
    k_bulk = int(np.searchsorted(G, bulk_mass))
    above = np.nonzero(f[: k_bulk + 1] > rel_tol * f.max())[0]
    if above.size == 0:
        return float(g[k_bulk])
    k = above[-1]
    # continue while the density stays positive (end of the connected bulk component)
    while k + 1 < f.size and f[k + 1] > rel_tol * f.max():
        k += 1
    return float(g[k])
