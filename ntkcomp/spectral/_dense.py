"""Dense float64 spectral tools: eigenvalues, top eigenpairs, densities, spikes, alignment.

All functions take concrete (NumPy or JAX) arrays and compute in float64 with
NumPy/SciPy LAPACK (symmetric ``eigh``), whatever JAX's precision setting is.
Eigenvalues are returned **ascending** by :func:`eigenvalues` and **descending** by
:func:`eigh_top` (public as ``top_eigenpairs(K, None, k, method="dense")``).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from ntkcomp._validate import check_positive_int, symmetric_float64
from ntkcomp.spectral._operator import dense_of, is_matrix, operator_size

__all__ = [
    "SYMMETRY_RTOL",
    "class_alignment",
    "class_indicators",
    "eigenvalues",
    "eigh_top",
    "spectral_density",
    "spikes",
    "subspace_alignment",
]


#: relative asymmetry ``max|K - K^T| / max|K|`` accepted as rounding by :func:`eigenvalues`
SYMMETRY_RTOL = 1e-6


def eigenvalues(K, *, symmetrize: bool = False) -> np.ndarray:
    """All eigenvalues of the symmetric matrix ``K``, ascending, float64.

    Args:
      K: ``(n, n)`` symmetric matrix (or a ``LinearOperator`` with ``dense()``/``matvec``).
      symmetrize: take the eigenvalues of ``(K + K^T)/2`` whatever the asymmetry of ``K``.
    Returns:
      ``(n,)`` eigenvalues, ascending.
    Raises:
      ValueError: ``K`` not square, non-finite, or (unless ``symmetrize``) not symmetric
        beyond rounding (``max|K - K^T| > SYMMETRY_RTOL * max|K|``).
    """
    A = dense_of(K, operator_size(K)) if not is_matrix(K) else np.asarray(K, np.float64)
    S = symmetric_float64("K", A)
    if not symmetrize:
        asym = float(np.max(np.abs(A - A.T), initial=0.0))
        scale = float(np.max(np.abs(A), initial=0.0))
        if asym > SYMMETRY_RTOL * scale:
            raise ValueError(f"K must be symmetric: max|K - K^T| = {asym:.3g} exceeds "
                             f"{SYMMETRY_RTOL:g} * max|K| = {SYMMETRY_RTOL * scale:.3g}; pass "
                             "symmetrize=True for the eigenvalues of (K + K^T)/2")
    # divide and conquer (LAPACK syevd): all eigenvalues, faster than the default MRRR here
    return scipy.linalg.eigh(S, eigvals_only=True, check_finite=False, driver="evd")


def eigh_top(K, k: int, which: str = "largest"):
    """The ``k`` largest (or smallest) eigenpairs of a symmetric matrix, by a dense solve.

    Args:
        K: ``(n, n)`` symmetric matrix.
        k: number of eigenpairs, ``1 <= k <= n``.
        which: ``"largest"`` or ``"smallest"``.

    Returns:
        ``(vals, vecs)``: ``vals (k,)`` (descending for ``"largest"``, ascending for
        ``"smallest"``) and the unit eigenvectors ``vecs (n, k)`` as columns."""
    K = symmetric_float64("K", K)
    n = K.shape[0]
    k = check_positive_int("k", k)
    if k > n:
        raise ValueError(f"k must be an integer in [1, n={n}], got {k}")
    idx = [n - k, n - 1] if which == "largest" else [0, k - 1]
    vals, vecs = scipy.linalg.eigh(K, subset_by_index=idx, check_finite=False)
    if which == "largest":
        vals, vecs = vals[::-1], vecs[:, ::-1]
    return vals.copy(), vecs.copy()


def spectral_density(eigs, bins=60, *, grid=None, bandwidth=None, range=None):
    """Empirical spectral density of ``eigs``.

    A histogram by default; a Gaussian-kernel estimate when ``grid`` is given.

    Args:
        eigs: ``(n,)`` eigenvalues.
        bins: number of histogram bins, or their edges.
        grid: ``(g,)`` evaluation points of the kernel estimate (None: histogram).
        bandwidth: kernel bandwidth (default: Silverman's rule).
        range: ``(lo, hi)`` of the histogram (default: the range of ``eigs``).

    Returns:
        ``(centers, density)`` for the histogram, with ``sum(density * widths) = 1``, or
        ``(grid, density)`` for the kernel estimate.
    """
    e = np.asarray(eigs, dtype=np.float64).ravel()
    if e.size == 0:
        raise ValueError("eigs must contain at least one eigenvalue")
    if grid is None:
        dens, edges = np.histogram(e, bins=bins, range=range, density=True)
        return 0.5 * (edges[1:] + edges[:-1]), dens
    grid = np.asarray(grid, dtype=np.float64)
    if bandwidth is None:
        sd = np.std(e)
        iqr = np.subtract(*np.percentile(e, [75, 25]))
        scale = min(sd, iqr / 1.349) if iqr > 0 else sd
        bandwidth = 0.9 * max(scale, 1e-12) * e.size ** (-0.2)
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    z = (grid[:, None] - e[None, :]) / bandwidth
    dens = np.exp(-0.5 * z ** 2).sum(1) / (e.size * bandwidth * np.sqrt(2 * np.pi))
    return grid, dens


def spikes(eigs, edge=None, *, k_max: int = 20, rtol: float = 0.02, gap_factor: float = 4.0):
    """Isolated eigenvalues above the bulk: returns them in descending order.

    Rule:
      * If the bulk ``edge`` is known (e.g. the right end of the support of a predicted
        density), spikes are the eigenvalues
        ``> edge * (1 + rtol)``.
      * Otherwise a gap rule: with ``lambda_1 >= ... >= lambda_n`` and the reference
        spacing ``s`` = the mean gap of ``lambda_{k_max+1} .. lambda_{k_max+11}`` (just
        below the candidates, near the bulk edge), the number of spikes is the largest
        ``j <= k_max`` whose gap ``lambda_j - lambda_{j+1} > gap_factor * max(s, gap of the
        next 10 candidates' median)``. Conservative: a spike merged into the bulk edge is
        not counted.

    Args:
        eigs: ``(n,)`` eigenvalues (any order).
        edge: the right edge of the bulk, or None for the gap rule.
        k_max: the largest number of spikes considered.
        rtol: relative margin above ``edge``.
        gap_factor: the factor of the gap rule.

    Returns:
        ``(k,)`` the spikes in descending order (``k`` may be 0).
    """
    e = np.sort(np.asarray(eigs, dtype=np.float64).ravel())[::-1]
    n = e.size
    if edge is not None:
        return e[e > float(edge) * (1.0 + rtol)]
    k_max = min(check_positive_int("k_max", k_max), max(n - 12, 0))
    if k_max <= 0:
        return e[:0]
    gaps = e[:-1] - e[1:]
    ref = float(np.mean(gaps[k_max:k_max + 10]))
    # the median gap among the candidates guards against a dense edge region
    med = float(np.median(gaps[:k_max]))
    thr = gap_factor * max(ref, min(med, ref * 10), 1e-15 * max(abs(e[0]), 1.0))
    big = np.nonzero(gaps[:k_max] > thr)[0]
    if big.size == 0:
        return e[:0]
    return e[: big[-1] + 1]


def class_indicators(labels_or_J, *, normalize: bool = True) -> np.ndarray:
    """One-hot class matrix ``J`` (n, K) from labels (n,) or J itself; with
    ``normalize`` each column is scaled to unit norm ``j_a / sqrt(n_a)``."""
    a = np.asarray(labels_or_J)
    if a.ndim == 1:
        classes = np.unique(a)
        J = (a[:, None] == classes[None, :]).astype(np.float64)
    elif a.ndim == 2:
        J = a.astype(np.float64)
    else:
        raise ValueError(f"labels must be (n,) labels or an (n, K) one-hot J, got {a.shape}")
    if normalize:
        nrm = np.linalg.norm(J, axis=0)
        J = J[:, nrm > 0] / nrm[nrm > 0]
    return J


def class_alignment(eigvecs, labels_or_J) -> np.ndarray:
    """Alignment of each eigenvector with the class indicators: ``||P_J u_k||^2`` in [0, 1].

    ``P_J`` projects on the span of the class indicators ``j_a`` (constant-per-class
    vectors). 1 means ``u_k`` is piecewise constant over classes; a random unit vector gives
    about ``K / n``.

    Args:
        eigvecs: ``(n, k)`` unit eigenvectors as columns (e.g. ``top_eigenpairs(...).vectors``), or
            one ``(n,)`` vector.
        labels_or_J: ``(n,)`` integer class labels, or the ``(n, K)`` indicator matrix.

    Returns:
        ``(k,)`` float64 alignments (``k = 1`` for a single vector).
    """
    U = np.asarray(eigvecs, dtype=np.float64)
    if U.ndim == 1:
        U = U[:, None]
    Q = class_indicators(labels_or_J)  # orthonormal columns (disjoint supports)
    if Q.shape[0] != U.shape[0]:
        raise ValueError(f"eigvecs has n={U.shape[0]} rows but labels describe {Q.shape[0]}")
    U = U / np.linalg.norm(U, axis=0, keepdims=True)
    return np.sum((Q.T @ U) ** 2, axis=0)


def subspace_alignment(U, U_ref) -> float:
    """``||U^T U_ref||_F^2 / k`` for two (n, k) orthonormal bases: 1 when the spans agree."""
    U = np.asarray(U, dtype=np.float64)
    R = np.asarray(U_ref, dtype=np.float64)
    if U.shape != R.shape:
        raise ValueError(f"U and U_ref must have the same shape, got {U.shape} and {R.shape}")
    U = U if U.ndim == 2 else U[:, None]
    R = R if R.ndim == 2 else R[:, None]
    return float(np.sum((U.T @ R) ** 2) / U.shape[1])
