"""Lanczos tridiagonalisation, Ritz pairs and spectral bounds from matrix-vector products only.

Everything here works on a symmetric operator ``K: (n, n)`` given as a *matvec*: a callable
``v (n,) -> K v (n,)``. Nothing of size ``n x n`` is ever formed by these routines.

Operators and ``jit``
---------------------
A matvec that is a pytree whose leaves are arrays (``jax.tree_util.Partial(f, K)``, or the
kernel operators of :mod:`ntkcomp.spectral.matfree`) is passed to the compiled loops as an
*argument*, so a multi-GB kernel is never baked into the compiled program as a constant. A
plain Python function is accepted too and treated as static (closures over big arrays then
become compile-time constants: fine for tests, wasteful at large n).

Batching over probes: several start vectors are processed together with ``jax.vmap``, so a
matvec ``K @ v`` becomes one ``K @ V`` with ``V: (n, m)`` (one pass over ``K`` per step for
all probes: the reason SLQ/KPM are cheap with a materialised kernel).

Conventions: ``alpha (k,)`` is the diagonal and ``beta (k-1,)`` the off-diagonal of the
Lanczos tridiagonal ``T_k = Q_k^T K Q_k``; ``Q_k`` has orthonormal *rows* ``q_0..q_{k-1}``
(shape ``(k, n)``), ``q_0 = v0 / ||v0||``.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.sparse.linalg import lobpcg_standard

from ntkcomp._validate import check_choice, check_positive_int
from ntkcomp._guards import check_eigenpairs_converged, warn_if_float32
from ntkcomp.spectral._dense import eigh_top
from ntkcomp.spectral._operator import as_operator, dense_of, operator_size

__all__ = [
    "EigenpairsResult",
    "LanczosResult",
    "estimate_spectral_bounds",
    "gauss_quadrature",
    "lanczos",
    "rademacher",
    "top_eigenpairs",
    "tridiag_eigh",
    "tridiagonal",
]


class LanczosResult(NamedTuple):
    """Output of :func:`lanczos` (leading batch axes if vmapped over start vectors).

    alpha: (..., k) diagonal of T_k.   beta: (..., k-1) off-diagonal of T_k.
    beta_last: (...,) the residual norm beta_k (``K Q_k^T = Q_k^T T_k + beta_k q_k e_k^T``).
    basis: (..., k, n) the Lanczos vectors (rows), or None when not requested.
    """

    alpha: jax.Array
    beta: jax.Array
    beta_last: jax.Array
    basis: Any = None


class EigenpairsResult(NamedTuple):
    """Top eigenpairs: ``values (k,)`` descending, ``vectors (n, k)`` orthonormal columns,
    ``residuals (k,)`` = ``||K u_i - theta_i u_i||`` (computed with one extra matvec each),
    ``converged (k,)`` bool: residual <= rtol * max|theta| (see
    :func:`ntkcomp._guards.check_eigenpairs_converged`; None when traced)."""

    values: jax.Array
    vectors: jax.Array
    residuals: jax.Array
    converged: Any = None


def rademacher(key: jax.Array, shape: tuple, dtype=None) -> jax.Array:
    """i.i.d. +-1 entries (the Hutchinson probe with the smallest variance for real K)."""
    dtype = dtype or jnp.zeros(()).dtype
    return jax.random.rademacher(key, shape, dtype=dtype)


def _lanczos_single(matvec, v0, k_steps: int, reorth: bool, return_basis: bool):
    """One Lanczos run from v0 (n,). Full reorthogonalisation = classical Gram-Schmidt twice
    against all previous vectors (CGS2), which keeps Q orthonormal to working precision.

    Breakdown (an invariant subspace is found, e.g. k > rank): when the new residual norm
    falls below ``sqrt(n) * 10 eps ||T||`` the next vector is set to 0, so every later
    alpha/beta is 0. The tridiagonal is then block-diagonal ``diag(T_j, 0)``: the extra zero
    Ritz values have zero first-component weight and do not change quadrature.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    q0 = v0 / jnp.linalg.norm(v0)
    keep = reorth or return_basis
    Q = jnp.zeros((k_steps if keep else 1, n), dtype)
    Q = Q.at[0].set(q0)

    def body(j, state):
        Q, alpha, beta, q_prev, q, b_prev, anorm = state
        w = matvec(q).astype(dtype)
        a = jnp.vdot(q, w)
        w = w - a * q - b_prev * q_prev
        if reorth:
            # rows j+1.. of Q are still zero, so projecting on all of Q is exact CGS2
            w = w - Q.T @ (Q @ w)
            w = w - Q.T @ (Q @ w)
        b = jnp.linalg.norm(w)
        anorm = jnp.maximum(anorm, jnp.sqrt(a * a + b * b + b_prev * b_prev))
        ok = b > 10.0 * eps * jnp.sqrt(n) * anorm
        q_next = jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0)
        b = jnp.where(ok, b, 0.0)
        alpha = alpha.at[j].set(a)
        beta = beta.at[j].set(b)
        if keep:
            Q = jax.lax.cond(j + 1 < k_steps, lambda Q: Q.at[j + 1].set(q_next), lambda Q: Q, Q)
        return Q, alpha, beta, q, q_next, b, anorm

    init = (Q, jnp.zeros(k_steps, dtype), jnp.zeros(k_steps, dtype), jnp.zeros_like(q0), q0,
            jnp.zeros((), dtype), jnp.zeros((), dtype))
    Q, alpha, beta, *_ = jax.lax.fori_loop(0, k_steps, body, init)
    return LanczosResult(alpha, beta[:-1], beta[-1], Q if return_basis else None)


@partial(jax.jit, static_argnames=("k_steps", "reorth", "return_basis"))
def _lanczos_batched(matvec, V0, k_steps, reorth, return_basis):
    return jax.vmap(lambda v: _lanczos_single(matvec, v, k_steps, reorth, return_basis))(V0)


def lanczos(matvec: Callable, n: int, k_steps: int, key: jax.Array | None = None, *,
            v0: jax.Array | None = None, reorth: bool = True, return_basis: bool = False,
            dtype=None) -> LanczosResult:
    """Run ``k_steps`` Lanczos steps on the symmetric operator ``matvec`` (``(n,) -> (n,)``).

    Start vector: ``v0`` if given — shape ``(n,)``, or ``(m, n)`` for ``m`` independent runs
    batched with vmap — else one Rademacher vector drawn from ``key``.
    ``reorth=True`` (default) does full reorthogonalisation (cost O(k n) per step, memory
    ``k n`` per start vector); ``reorth=False`` is the plain three-term recurrence (memory
    O(n); Ritz values may show "ghost" copies, but Gauss quadrature of smooth functions stays
    accurate — Paige/Knizhnerman).

    Returns :class:`LanczosResult`; with ``v0`` of shape ``(m, n)`` every field has a leading
    axis ``m``. jit-compatible (``n``, ``k_steps``, ``reorth``, ``return_basis`` static).
    """
    n = check_positive_int("n", n)
    k_steps = check_positive_int("k_steps", k_steps)
    if k_steps > n:
        raise ValueError(f"k_steps must be <= n = {n}, got {k_steps}")
    dtype = dtype or jnp.zeros(()).dtype
    if v0 is None:
        if key is None:
            raise ValueError("lanczos needs either key (random start) or v0")
        v0 = rademacher(key, (n,), dtype)
    v0 = jnp.asarray(v0)
    if v0.shape[-1] != n or v0.ndim not in (1, 2):
        raise ValueError(f"v0 must have shape ({n},) or (m, {n}), got {v0.shape}")
    single = v0.ndim == 1
    res = _lanczos_batched(as_operator(matvec), v0[None] if single else v0, k_steps,
                           bool(reorth), bool(return_basis))
    if single:
        res = jax.tree_util.tree_map(lambda x: x[0], res)
    return res


def tridiagonal(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Dense symmetric tridiagonal ``(..., k, k)`` from ``alpha (..., k)``, ``beta (..., k-1)``."""
    k = alpha.shape[-1]
    T = alpha[..., :, None] * jnp.eye(k, dtype=alpha.dtype)
    off = jnp.eye(k, k, 1, dtype=alpha.dtype)
    pad = jnp.concatenate([beta, jnp.zeros(beta.shape[:-1] + (1,), beta.dtype)], -1)
    T = T + pad[..., :, None] * off + pad[..., None, :] * off.T
    return T


def tridiag_eigh(alpha: jax.Array, beta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigen-decomposition of T_k: ``(theta (..., k) ascending, U (..., k, k) columns)``."""
    return jnp.linalg.eigh(tridiagonal(alpha, beta))


def gauss_quadrature(alpha: jax.Array, beta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Gauss quadrature rule of the Lanczos run: nodes ``theta (..., k)`` (Ritz values) and
    weights ``tau (..., k) = U[0, :]^2`` (sum to 1), so that for the start vector q_0
    ``q_0^T f(K) q_0 ~= sum_k tau_k f(theta_k)`` (exact for polynomials of degree <= 2k-1)."""
    theta, U = tridiag_eigh(alpha, beta)
    return theta, U[..., 0, :] ** 2


def estimate_spectral_bounds(matvec: Callable, n: int, key: jax.Array, *, num_steps: int = 40,
                             margin: float = 0.01, dtype=None) -> tuple[float, float]:
    """Interval ``[lo, hi]`` that contains the spectrum of ``K`` (heuristic but safe in practice).

    Lanczos (full reorth., ``num_steps`` steps from a Rademacher vector) gives extreme Ritz
    values theta_min, theta_max, which lie *inside* the spectrum and converge to its ends
    first. Each is widened by its residual bound ``beta_k |U[k-1, i]|`` (an eigenvalue lies
    within it) and then by ``margin`` times the interval width. Used by KPM, which needs the
    spectrum strictly inside the Chebyshev interval.
    """
    n = check_positive_int("n", n)
    num_steps = min(check_positive_int("num_steps", num_steps), n)
    res = lanczos(matvec, n, num_steps, key, reorth=True, dtype=dtype)
    theta, U = tridiag_eigh(res.alpha, res.beta)
    r = jnp.abs(res.beta_last * U[-1, :])
    lo = float(theta[0] - r[0])
    hi = float(theta[-1] + r[-1])
    width = max(hi - lo, 1e-12 * max(abs(hi), abs(lo), 1.0))
    return lo - margin * width, hi + margin * width


def _dense_eigenpairs(operator, n: int, k: int, which: str, tol) -> EigenpairsResult:
    """``method="dense"``: ``scipy.linalg.eigh`` of the materialised float64 matrix."""
    K = dense_of(operator, n)
    vals, U = eigh_top(K, k, which)
    resid = np.linalg.norm(K @ U - U * vals[None, :], axis=0)
    conv = check_eigenpairs_converged(vals, resid, rtol=tol, where="top_eigenpairs(dense)")
    return EigenpairsResult(vals, U, resid, conv)


def top_eigenpairs(operator, n: int | None, k: int, key: jax.Array | None = None, *,
                   num_steps: int | None = None, method: str = "lanczos",
                   which: str = "largest", tol: float | None = None,
                   dtype=None) -> EigenpairsResult:
    """The ``k`` largest (or smallest) eigenpairs of a symmetric matrix or operator.

    Args:
      operator: an ``(n, n)`` array, a ``LinearOperator`` (``shape``, ``matvec``) or a
        callable ``v -> K v``.
      n: the size (None: taken from the array or operator; required for a plain callable).
      k: number of eigenpairs, ``1 <= k <= n``.
      key: PRNG key of the start vector(s) (not used by "dense").
      num_steps: "lanczos": steps of one fully reorthogonalised run (default
        ``min(n, max(4 k, 80))``); "lobpcg": iterations (default 200).
      method: "lanczos" (Ritz pairs of the Lanczos tridiagonal; isolated eigenvalues
        converge geometrically in the gap ratio) or "lobpcg"
        (``jax.experimental.sparse.linalg.lobpcg_standard``, largest only, ``n >= 5 k``)
        or "dense" (``scipy.linalg.eigh`` of the float64 matrix: exact, ``O(n^3)``).
      which: "largest" or "smallest".
      tol: relative Ritz-residual tolerance of the ``converged`` verdict
        (``residual <= tol * max|theta|``; default 1e-6, at least 100 eps) and LOBPCG's
        tolerance.
      dtype: computation dtype (default JAX's default float).
    Returns:
      :class:`EigenpairsResult`: ``values (k,)`` (descending for "largest"), ``vectors (n, k)``,
      ``residuals (k,)`` = ``||K u - theta u||`` (``|theta - lambda| <= residual``),
      ``converged (k,)``.
    Raises:
      ValueError: k outside ``[1, n]``, an unknown method or which, lobpcg with
        ``which="smallest"`` or ``k > n / 5``, no ``key`` for "lanczos" / "lobpcg", a
        non-symmetric matrix for "dense".

    Unconverged pairs emit a ``ConvergenceWarning``; a ``tol`` below 1e-6 in float32 a
    ``PrecisionWarning``.
    """
    n = operator_size(operator, n)
    matvec = operator
    n = check_positive_int("n", n)
    k = check_positive_int("k", k)
    check_choice("method", method, ["lanczos", "lobpcg", "dense"])
    check_choice("which", which, ["largest", "smallest"])
    if k > n:
        raise ValueError(f"k must be <= n = {n}, got {k}")
    if method == "dense":
        return _dense_eigenpairs(operator, n, k, which, tol)
    if key is None:
        raise ValueError(f"key (a PRNG key) is required for method={method!r}")
    dtype = dtype or jnp.zeros(()).dtype
    warn_if_float32(tol, where="top_eigenpairs")
    op = as_operator(matvec)
    if method == "lobpcg":
        if which != "largest":
            raise ValueError("which must be 'largest' for method='lobpcg'")
        if 5 * k > n:
            raise ValueError(f"k must be <= n/5 = {n // 5} for method='lobpcg', got {k}")
        X0 = jax.random.normal(key, (n, k), dtype)
        theta, U, _ = lobpcg_standard(jax.vmap(op, in_axes=1, out_axes=1), X0,
                                      m=num_steps or 200, tol=tol)
    else:
        steps = min(n, num_steps or max(4 * k, 80))
        if steps < k:
            raise ValueError(f"num_steps must be >= k = {k}, got {steps}")
        res = lanczos(op, n, steps, key, reorth=True, return_basis=True, dtype=dtype)
        theta_all, S = tridiag_eigh(res.alpha, res.beta)
        idx = jnp.arange(steps - 1, steps - 1 - k, -1) if which == "largest" else jnp.arange(k)
        theta = theta_all[idx]
        U = res.basis.T @ S[:, idx]
    resid = jnp.linalg.norm(jax.vmap(op, in_axes=1, out_axes=1)(U) - U * theta[None, :], axis=0)
    # numerical guard: unconverged Ritz pairs are reported (ConvergenceWarning + flag)
    conv = check_eigenpairs_converged(theta, resid, rtol=tol, where=f"top_eigenpairs({method})")
    return EigenpairsResult(theta, U, resid, conv)
