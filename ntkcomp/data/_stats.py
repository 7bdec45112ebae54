"""Statistics of a K-class Gaussian mixture used by the kernel equivalents.

See the theory page ``docs/theory/data.md`` (sections Data model, Statistics and tau0).

Conventions: batch first, ``X: (n, p)`` with rows ``x_i = (mu_a + z_i) / sqrt(p)``.
With ``C° = sum_a c_a C_a`` (c_a the class proportions):

- ``tau0 = sqrt(tr(C°) / p)``                                  scalar
- ``J``: ``(n, K)`` one-hot class matrix
- ``t_a = (tr(C_a)/p - tau0^2) * sqrt(p)``                      ``(K,)``
- ``T_ab = tr(C_a C_b) / p``                                    ``(K, K)``
- ``T_diag_ab = sum_k (C_a)_kk (C_b)_kk / p``                   ``(K, K)``
- ``phi_i = ||z_i||^2/p - tr(C_a)/p`` for ``x_i`` in class a    ``(n,)``
- ``V = [J / sqrt(p), phi]``                                    ``(n, K + 1)``

:class:`GMMStats` holds them (a JAX pytree: arrays are leaves, ``p`` is static).
:func:`estimate_stats` estimates them from labelled data (real data sets); its
:class:`Tau0Convention` option chooses how ``tau0`` is measured there.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_finite_array, check_positive_int

__all__ = ["GMMStats", "Tau0Convention", "estimate_stats", "estimate_stats_and_noise",
           "make_stats"]


class Tau0Convention(str, enum.Enum):
    """How :func:`estimate_stats` measures the data scale ``tau0`` of labelled data.

    See the theory page ``docs/theory/data.md`` (section tau0 on real data).

    ``MEAN_SQUARED_NORM`` (``"mean_squared_norm"``, the default): ``tau0^2 = mean_i
    ||x_i||^2``, the class means included (the reference code's ``estim_tau``), which is
    the scale every layer's input actually has. ``COVARIANCE_TRACE``
    (``"covariance_trace"``): ``tau0^2 = sum_a c_a tr(C_hat_a)/p``, the mixture model's
    definition, which leaves out ``||mu_a||^2/p`` (negligible only when the class means
    are of order one). In both cases ``t_a = (tr(C_hat_a)/p - tau0^2) sqrt(p)``.
    """

    MEAN_SQUARED_NORM = "mean_squared_norm"
    COVARIANCE_TRACE = "covariance_trace"


def _as_tau0_convention(value) -> Tau0Convention:
    try:
        return Tau0Convention(value)
    except ValueError:
        raise ValueError(f"tau0 must be one of {[c.value for c in Tau0Convention]}, "
                         f"got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class GMMStats:
    """Mixture statistics for one sample of size ``n`` (definitions in the module docstring).

    A JAX pytree: the arrays are leaves, ``p`` is static.

    Attributes:
      tau0: ``()`` the data scale.
      J: ``(n, K)`` one-hot class matrix.
      t: ``(K,)`` ``(tr(C_a)/p - tau0^2) sqrt(p)``.
      T: ``(K, K)`` ``tr(C_a C_b)/p``.
      T_diag: ``(K, K)`` ``sum_k (C_a)_kk (C_b)_kk / p``.
      phi: ``(n,)`` ``||z_i||^2/p - tr(C_a)/p``.
      V: ``(n, K + 1)`` ``[J / sqrt(p), phi]``.
      proportions: ``(K,)`` the ``c_a`` of ``C° = sum_a c_a C_a``.
      p: the dimension in the ``sqrt(p)`` scaling (static).
    """

    tau0: Any
    J: Any
    t: Any
    T: Any
    T_diag: Any
    phi: Any
    V: Any
    proportions: Any
    p: int = dataclasses.field(metadata={"static": True}, default=1)

    @property
    def n(self) -> int:
        """Number of samples (rows of ``J``)."""
        return int(self.J.shape[0])

    @property
    def K(self) -> int:
        """Number of classes."""
        return int(self.J.shape[1])

    @property
    def tau0_sq(self):
        """``tau0 ** 2`` (``tr(C°)/p`` for mixture draws)."""
        return self.tau0 ** 2

    def class_traces(self):
        """``tr(C_a)/p`` for each class, recovered as ``tau0^2 + t_a/sqrt(p)``, shape ``(K,)``."""
        return self.tau0 ** 2 + self.t / math.sqrt(self.p)


jax.tree_util.register_dataclass(
    GMMStats,
    data_fields=["tau0", "J", "t", "T", "T_diag", "phi", "V", "proportions"],
    meta_fields=["p"],
)


def make_stats(*, labels, K: int, p: int, proportions, traces, T, T_diag, sq_norms_noise,
               tau0_sq: float | None = None) -> GMMStats:
    """Assemble :class:`GMMStats` from per-class quantities.

    Computed in float64 NumPy, returned as JAX arrays of the default float dtype.

    Args:
      labels: ``(n,)`` ints in ``{0..K-1}``.
      K: number of classes.
      p: the dimension in the ``sqrt(p)`` scaling.
      proportions: ``(K,)`` c_a, used for ``C° = sum_a c_a C_a``.
      traces: ``(K,)`` ``tr(C_a)`` (not divided by p).
      T: ``(K, K)`` ``tr(C_a C_b)/p``.
      T_diag: ``(K, K)`` ``sum_k (C_a)_kk (C_b)_kk / p``.
      sq_norms_noise: ``(n,)`` ``||z_i||^2`` (not divided by p).
      tau0_sq: ``tau0^2``; default ``sum_a c_a tr(C_a)/p``.

    Returns:
      :class:`GMMStats` with ``t_a = (tr(C_a)/p - tau0^2) sqrt(p)``.
    """
    dt = jnp.result_type(float)
    lab = np.asarray(labels)
    proportions = np.asarray(proportions, dtype=np.float64)
    tr_p = np.asarray(traces, dtype=np.float64) / p
    if tau0_sq is None:
        tau0_sq = float(np.sum(proportions * tr_p))
    t = (tr_p - tau0_sq) * math.sqrt(p)
    J = (np.arange(K)[None, :] == lab[:, None]).astype(np.float64)
    phi = np.asarray(sq_norms_noise, dtype=np.float64) / p - tr_p[lab]
    V = np.concatenate([J / math.sqrt(p), phi[:, None]], axis=1)

    def f(a):
        return jnp.asarray(a, dtype=dt)

    return GMMStats(tau0=f(math.sqrt(tau0_sq)), J=f(J), t=f(t), T=f(T), T_diag=f(T_diag),
                    phi=f(phi), V=f(V), proportions=f(proportions), p=int(p))


def _check_labels(labels, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},) matching X, got {lab.shape}")
    if lab.dtype.kind == "f":
        if not np.all(np.isfinite(lab)) or not np.all(lab == np.round(lab)):
            raise ValueError("labels must be integers in {0..K-1}, got non-integer values")
        lab = lab.astype(np.int64)
    elif lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers in {{0..K-1}}, got dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError(f"labels must be integers in {{0..K-1}}, got minimum {lab.min()}")
    return lab.astype(np.int64)


def _check_X(X) -> np.ndarray:
    Xa = np.asarray(X)
    if Xa.ndim != 2:
        raise ValueError(f"X must have shape (n, p), got {tuple(np.shape(X))}")
    if Xa.shape[0] < 1 or Xa.shape[1] < 1:
        raise ValueError(f"X must have shape (n, p) with n >= 1 and p >= 1, got {Xa.shape}")
    check_finite_array("X", Xa)
    return np.asarray(Xa, dtype=np.float64)


def _sq_frobenius_cross(A, B, block: int = 2048):
    """``||A B^T||_F^2`` for ``A: (m, p)``, ``B: (k, p)``, forming at most ``block x k``."""
    total = 0.0
    for s in range(0, A.shape[0], block):
        G = A[s:s + block] @ B.T
        total += float(np.sum(G * G))
    return total


def estimate_stats(X, labels, p: int | None = None, *,
                   tau0: Tau0Convention | str = Tau0Convention.MEAN_SQUARED_NORM) -> GMMStats:
    """Estimate the mixture statistics from labelled data.

    See the theory page ``docs/theory/data.md`` (sections Statistics and tau0 on real data).
    Model: ``x_i = (mu_a + z_i)/sqrt(p)``. With ``n_a`` samples in class a,

    - ``mu_hat_a = sqrt(p) * mean_{i in a} x_i``; ``z_hat_i = sqrt(p) x_i - mu_hat_a``;
    - ``C_hat_a = Z_a^T Z_a / (n_a - 1)`` (unbiased sample covariance; never formed when
      ``p`` is large), so ``tr(C_hat_a) = ||Z_a||_F^2/(n_a - 1)``;
    - proportions ``c_a = n_a / n`` (the empirical ones);
    - ``tau0^2`` by the ``tau0`` convention (:class:`Tau0Convention`): ``mean_i ||x_i||^2``
      or ``sum_a c_a tr(C_hat_a)/p``; ``t_a = (tr(C_hat_a)/p - tau0^2) sqrt(p)``;
    - ``T_ab``, a != b: ``tr(C_hat_a C_hat_b)/p = ||Z_a Z_b^T||_F^2 / ((n_a-1)(n_b-1) p)``
      (unbiased: the classes are independent);
    - ``T_aa``: ``tr(C_a^2)`` with the Wishart bias removed,
      ``(||Z_a^T Z_a||_F^2 - ||Z_a||_F^4/m) / ((m+2)(m-1))``, ``m = n_a - 1`` (exactly
      unbiased for Gaussian data; the plug-in ``tr(C_hat^2)/p`` overshoots by about
      ``tr(C)^2/(m p)``, which is of order one when ``p ~ n``);
    - ``T_diag_ab = sum_k (C_hat_a)_kk (C_hat_b)_kk / p``, diagonal ``a = b`` terms multiplied
      by ``m/(m+2)`` (unbiased for Gaussian data);
    - ``phi_i = ||z_hat_i||^2/p - mean_{j in a} ||z_hat_j||^2/p`` (centred within each class,
      so ``sum_{i in a} phi_i = 0``, matching ``E[phi_i] = 0``).

    Args:
      X: ``(n, p_X)`` data, rows scaled like ``x_i`` above (``tau0`` of order one).
      labels: ``(n,)`` integers in ``{0..K-1}``; every class must have ``n_a >= 2``
        samples (K = max(labels) + 1).
      p: the dimension in the ``sqrt(p)`` scaling (default ``X.shape[1]``).
      tau0: a :class:`Tau0Convention` or its string value.

    Returns:
      :class:`GMMStats` with ``proportions = n_a/n``.

    Raises:
      ValueError: naming ``X``, ``labels``, ``p`` or ``tau0`` on bad input.
    """
    return estimate_stats_and_noise(X, labels, p, tau0=tau0)[0]


def estimate_stats_and_noise(X, labels, p: int | None = None, *,
                             tau0: Tau0Convention | str = Tau0Convention.MEAN_SQUARED_NORM):
    """:func:`estimate_stats` and the estimated noise.

    Args:
      X: ``(n, p_X)`` data. labels: ``(n,)``. p, tau0: as in :func:`estimate_stats`.

    Returns:
      ``(stats, Z_hat)``: :class:`GMMStats` and ``Z_hat: (n, p_X)`` with rows
      ``z_hat_i = sqrt(p) x_i - mu_hat_a``.

    Raises:
      ValueError: as :func:`estimate_stats`.
    """
    convention = _as_tau0_convention(tau0)
    X64 = _check_X(X)
    n, pX = X64.shape
    p = pX if p is None else check_positive_int("p", p)
    lab = _check_labels(labels, n)
    K = int(lab.max()) + 1
    counts = np.bincount(lab, minlength=K)
    if np.any(counts < 2):
        bad = [int(a) for a in np.nonzero(counts < 2)[0]]
        raise ValueError(
            f"labels must give every class 0..K-1 (K = {K}) at least 2 samples "
            f"(unbiased covariance estimates need n_a >= 2); classes {bad} have fewer")
    sp = math.sqrt(p)
    idx_of = [np.nonzero(lab == a)[0] for a in range(K)]
    mu_hat = np.stack([X64[idx].mean(axis=0) * sp for idx in idx_of])
    Z_full = X64 * sp - mu_hat[lab]
    Zs = [Z_full[idx] for idx in idx_of]
    traces, T, T_diag = _second_moments(Zs, counts, p)
    # phi: ||z_hat_i||^2 centred within its class (see docstring); make_stats subtracts
    # tr(C_hat_a), so the in-class mean is swapped in for it here.
    sqn = np.sum(Z_full * Z_full, axis=1)
    class_mean = np.array([sqn[idx].mean() for idx in idx_of])
    tau0_sq = None
    if convention is Tau0Convention.MEAN_SQUARED_NORM:
        tau0_sq = float(np.mean(np.sum(X64 * X64, axis=1)))
    stats = make_stats(labels=lab, K=K, p=p, proportions=counts / n, traces=traces,
                       T=T, T_diag=T_diag, sq_norms_noise=sqn - class_mean[lab] + traces[lab],
                       tau0_sq=tau0_sq)
    return stats, jnp.asarray(Z_full, dtype=jnp.result_type(float))


def _second_moments(Zs, counts, p):
    """``(tr(C_hat_a) (K,), T (K, K), T_diag (K, K))`` from the per-class noise ``Zs``.

    ``||Z_a Z_b^T||_F^2`` goes through the ``p x p`` matrices ``Z_a^T Z_a`` when ``p`` is at
    most the smallest class size, else through ``n_a x n_b`` Gram blocks.
    """
    K = len(Zs)
    m = (counts - 1).astype(np.float64)
    fro2 = np.array([np.sum(Z * Z) for Z in Zs])
    traces = fro2 / m
    diag = [np.sum(Z * Z, axis=0) / m[a] for a, Z in enumerate(Zs)]
    use_S = p <= int(counts.min())
    S = [Z.T @ Z for Z in Zs] if use_S else None

    def cross(a, b):
        return float(np.sum(S[a] * S[b])) if use_S else _sq_frobenius_cross(Zs[a], Zs[b])

    T = np.zeros((K, K))
    T_diag = np.zeros((K, K))
    for a in range(K):
        ma = m[a]
        A = cross(a, a)
        # Wishart-unbiased tr(C^2) (Gaussian); for n_a = 2 (m = 1) it is not defined and
        # the plain plug-in tr(C_hat^2) is used.
        trC2 = (A - fro2[a] ** 2 / ma) / ((ma + 2) * (ma - 1)) if ma > 1 else A / ma ** 2
        T[a, a] = float(trC2) / p
        T_diag[a, a] = float(np.sum(diag[a] ** 2)) * ma / (ma + 2) / p
        for b in range(a + 1, K):
            T[a, b] = T[b, a] = cross(a, b) / (ma * m[b] * p)
            T_diag[a, b] = T_diag[b, a] = float(np.sum(diag[a] * diag[b])) / p
    return traces, T, T_diag
