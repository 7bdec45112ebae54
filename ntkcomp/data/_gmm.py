"""K-class Gaussian mixture data model.

See the theory page ``docs/theory/data.md`` (section Data model).

A sample of class a is ``x_i = (mu_a + z_i)/sqrt(p)`` with ``z_i ~ N(0, C_a)``; data are
batch first, ``X: (n, p)``. :class:`GMM` validates its parameters and samples with a JAX
PRNG key; :meth:`GMM.sample` returns a :class:`GMMSample` carrying the exact model
statistics (:class:`~ntkcomp.data._stats.GMMStats`; ``phi`` from the sampled noise).

Covariances come in three forms (the cheapest one is kept; no ``p x p`` matrix is ever
built for the scalar and diagonal forms):

- ``(K,)``      scalar:   ``C_a = s_a I``
- ``(K, p)``    diagonal: ``C_a = diag(d_a)``
- ``(K, p, p)`` full:     sampled through ``C_a = U diag(lam) U^T`` (``eigh``, once, cached),
  ``z = U diag(sqrt(lam)) g``, which also handles singular PSD covariances.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_positive_int
from ntkcomp.data._stats import GMMStats, make_stats

__all__ = ["GMM", "GMMSample", "class_counts"]

#: relative tolerance for PSD / symmetry checks of covariance matrices
PSD_TOL = 1e-10


class GMMSample(NamedTuple):
    """One draw of ``n`` samples (a JAX pytree, as every NamedTuple).

    Attributes:
      X: ``(n, p)`` the samples ``x_i = (mu_a + z_i)/sqrt(p)``, one per row.
      labels: ``(n,)`` int class labels in ``0..K-1`` (sorted by class for GMM draws).
      stats: :class:`GMMStats` of the draw.
      Z: ``(n, p)`` the noise ``z_i`` (estimated for real data).
    """

    X: Any
    labels: Any
    stats: GMMStats
    Z: Any


def class_counts(proportions, n: int) -> np.ndarray:
    """Deterministic class counts summing to ``n``: ``round(c_a n)``, every class >= 1.

    Start from ``floor(c_a n + 1/2)`` (clipped to at least 1); while the total exceeds ``n``
    remove one sample from the class with the largest excess ``count_a - c_a n`` among
    classes with ``count_a > 1``; while it falls short add one to the class with the largest
    deficit ``c_a n - count_a``. Ties go to the lowest class index. Requires ``n >= K``.
    """
    c = np.asarray(proportions, dtype=float)
    K = c.shape[0]
    n = check_positive_int("n", n, minimum=K)
    target = c * n
    counts = np.maximum(np.floor(target + 0.5).astype(np.int64), 1)
    while counts.sum() > n:
        excess = np.where(counts > 1, counts - target, -np.inf)
        counts[int(np.argmax(excess))] -= 1
    while counts.sum() < n:
        counts[int(np.argmax(target - counts))] += 1
    return counts


def _as_float_array(name: str, value, ndim_ok) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}: {e}") from None
    if arr.ndim not in ndim_ok:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim_ok))} dimensions, "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; found {bad} NaN/Inf entries")
    return arr


@jax.tree_util.register_pytree_node_class
class GMM:
    """K-class Gaussian mixture ``x = (mu_a + z)/sqrt(p)``, ``z ~ N(0, C_a)`` w.p. ``c_a``.

    A JAX pytree: ``means``, ``covs``, ``proportions`` (and the sampling factors of full
    covariances) are leaves, the covariance form is static.

    Args:
      means: ``(K, p)`` class means ``mu_a`` (of order one in the theory's regime).
      covs: ``(K,)`` scalars, ``(K, p)`` diagonals or ``(K, p, p)`` symmetric PSD matrices.
      proportions: ``(K,)`` positive, summing to 1 (within 1e-8); default uniform.

    Raises:
      ValueError: naming ``means``, ``covs`` or ``proportions`` (shape, NaN/Inf, K >= 1,
        p >= 1, symmetry, PSD: eigenvalues >= -1e-10 * max(1, ||C_a||)).
    """

    def __init__(self, means, covs, proportions=None):
        means = _as_float_array("means", means, (2,))
        K, p = means.shape
        if K < 1:
            raise ValueError(f"means must have shape (K, p) with K >= 1 classes, got {means.shape}")
        if p < 1:
            raise ValueError(
                f"means must have shape (K, p) with dimension p >= 1, got {means.shape}")
        covs = _as_float_array("covs", covs, (1, 2, 3))
        kinds = {1: "scalar", 2: "diagonal", 3: "full"}
        kind = kinds[covs.ndim]
        expected = {1: (K,), 2: (K, p), 3: (K, p, p)}[covs.ndim]
        if covs.shape != expected:
            raise ValueError(
                f"covs must have shape (K,) scalar, (K, p) diagonal or (K, p, p) full with "
                f"K = {K}, p = {p} from means; got {covs.shape}")
        if kind in ("scalar", "diagonal"):
            if np.any(covs < 0):
                raise ValueError(f"covs must be positive semi-definite ({kind} entries >= 0), "
                                 f"got minimum {covs.min():.3g}")
        else:
            scale = np.maximum(1.0, np.max(np.abs(covs), axis=(1, 2)))
            asym = np.max(np.abs(covs - np.swapaxes(covs, 1, 2)), axis=(1, 2))
            if np.any(asym > PSD_TOL * scale * p):
                a = int(np.argmax(asym / scale))
                raise ValueError(f"covs must be symmetric; covs[{a}] differs from its transpose "
                                 f"by {asym[a]:.3g}")
            factors = []
            for a in range(K):
                lam, U = np.linalg.eigh(covs[a])  # once; reused for sampling
                if lam[0] < -PSD_TOL * max(1.0, float(np.max(np.abs(lam)))):
                    raise ValueError(f"covs must be positive semi-definite; covs[{a}] has "
                                     f"eigenvalue {lam[0]:.3g} < 0")
                factors.append(U * np.sqrt(np.clip(lam, 0.0, None))[None, :])
        if proportions is None:
            proportions = np.full(K, 1.0 / K)
        prop = _as_float_array("proportions", proportions, (1,))
        if prop.shape != (K,):
            raise ValueError(f"proportions must have shape (K,) = ({K},), got {prop.shape}")
        if np.any(prop <= 0):
            raise ValueError(f"proportions must be > 0 and sum to 1, got {prop.tolist()}")
        if abs(prop.sum() - 1.0) > 1e-8:
            raise ValueError(f"proportions must be > 0 and sum to 1 (within 1e-8), "
                             f"got sum {prop.sum():.10g}")
        self.means = means
        self.covs = covs
        self.proportions = prop / prop.sum()
        self.cov_kind = kind
        self._factors = np.stack(factors) if kind == "full" else None
        self._trace_stats = None

    # -- pytree -----------------------------------------------------------------------
    def tree_flatten(self):
        """Leaves ``(means, covs, proportions, factors)``; static: the covariance form."""
        return (self.means, self.covs, self.proportions, self._factors), self.cov_kind

    @classmethod
    def tree_unflatten(cls, cov_kind, leaves):
        """Rebuild without validation (leaves may be tracers)."""
        obj = object.__new__(cls)
        obj.means, obj.covs, obj.proportions, obj._factors = leaves
        obj.cov_kind = cov_kind
        obj._trace_stats = None
        return obj

    # -- shapes -----------------------------------------------------------------------
    @property
    def K(self) -> int:
        """Number of classes."""
        return int(self.means.shape[0])

    @property
    def p(self) -> int:
        """Dimension of the samples."""
        return int(self.means.shape[1])

    def __repr__(self) -> str:
        return (f"GMM(K={self.K}, p={self.p}, covs={self.cov_kind}, "
                f"proportions={np.round(self.proportions, 4).tolist()})")

    # -- exact model statistics -------------------------------------------------------
    def cov_diagonals(self) -> np.ndarray:
        """``(K, p)`` diagonals of the covariances."""
        if self.cov_kind == "scalar":
            return np.repeat(self.covs[:, None], self.p, axis=1)
        if self.cov_kind == "diagonal":
            return self.covs
        return np.diagonal(self.covs, axis1=1, axis2=2).copy()

    def trace_stats(self):
        """``(tr C_a (K,), tr(C_a C_b) (K,K), sum_k (C_a)_kk (C_b)_kk (K,K))``, not divided by p."""
        if self._trace_stats is None:
            p = self.p
            if self.cov_kind == "scalar":
                s = self.covs
                tr = s * p
                TT = np.outer(s, s) * p
                TD = TT
            elif self.cov_kind == "diagonal":
                d = self.covs
                tr = d.sum(axis=1)
                TT = d @ d.T
                TD = TT
            else:
                C = self.covs
                tr = np.trace(C, axis1=1, axis2=2)
                # tr(C_a C_b) = sum_ij (C_a)_ij (C_b)_ji = <C_a, C_b> for symmetric C.
                flat = C.reshape(self.K, -1)
                TT = flat @ flat.T
                d = self.cov_diagonals()
                TD = d @ d.T
            self._trace_stats = (tr, TT, TD)
        return self._trace_stats

    def tau0(self) -> float:
        """``sqrt(tr(C°)/p)`` with ``C° = sum_a c_a C_a``."""
        tr = self.trace_stats()[0]
        return float(math.sqrt(np.dot(self.proportions, tr) / self.p))

    def _noise_factors(self):
        """For full covariances: per class ``F_a = U_a diag(sqrt(lam_a))`` (``C_a = F F^T``)."""
        return self._factors

    # -- sampling ---------------------------------------------------------------------
    def class_counts(self, n: int) -> np.ndarray:
        """Deterministic class counts for ``n`` samples (see :func:`class_counts`)."""
        return class_counts(self.proportions, n)

    def sample(self, key, n: int) -> GMMSample:
        """Draw ``n`` samples: class a gets ``round(c_a n)`` rows (see :func:`class_counts`),
        labels sorted by class, ``x_i = (mu_a + z_i)/sqrt(p)``, ``z_i ~ N(0, C_a)``.

        Args:
          key: a JAX PRNG key (same key -> bitwise identical sample).
          n: number of samples, an integer >= K.
        Returns:
          :class:`GMMSample` ``(X (n,p), labels (n,), stats, Z (n,p))`` in the default float
          dtype (float64 when x64 is enabled).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < self.K:
            raise ValueError(f"n must be an integer >= K = {self.K} (at least one sample per "
                             f"class), got {n!r}")
        n = int(n)
        counts = self.class_counts(n)
        K, p = self.K, self.p
        labels_np = np.repeat(np.arange(K), counts)
        labels = jnp.asarray(labels_np, dtype=jnp.int32)
        dt = jnp.result_type(float)
        g = jax.random.normal(key, (n, p), dtype=dt)
        if self.cov_kind == "scalar":
            Z = g * jnp.sqrt(jnp.asarray(self.covs, dt))[labels][:, None]
        elif self.cov_kind == "diagonal":
            Z = g * jnp.sqrt(jnp.asarray(self.covs, dt))[labels]
        else:
            F = self._noise_factors()
            starts = np.concatenate([[0], np.cumsum(counts)])
            Z = jnp.concatenate([g[starts[a]:starts[a + 1]] @ jnp.asarray(F[a], dt).T
                                 for a in range(K)], axis=0)
        X = (jnp.asarray(self.means, dt)[labels] + Z) / math.sqrt(p)
        tr, TT, TD = self.trace_stats()
        stats = make_stats(labels=labels, K=K, p=p, proportions=self.proportions, traces=tr,
                           T=TT / p, T_diag=TD / p, sq_norms_noise=jnp.sum(Z * Z, axis=1))
        return GMMSample(X=X, labels=labels, stats=stats, Z=Z)

    def stats_for(self, labels, Z) -> GMMStats:
        """Exact statistics for given ``labels (n,)`` and noise ``Z (n, p)``."""
        labels = jnp.asarray(labels)
        tr, TT, TD = self.trace_stats()
        return make_stats(labels=labels, K=self.K, p=self.p, proportions=self.proportions,
                          traces=tr, T=TT / self.p, T_diag=TD / self.p,
                          sq_norms_noise=jnp.sum(jnp.asarray(Z) ** 2, axis=1))
