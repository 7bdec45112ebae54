"""The structured equivalent kernel: scalars, low-rank parts, a diagonal and the data."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_HIGHEST = lax.Precision.HIGHEST


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EquivalentKernel:
    """An ``(n, n)`` equivalent kernel held in structured form (a pytree of arrays)::

        K = c_lin X X^T + V M V^T + (c_id - b) I_n + b 1 1^T + diag(dvec)

    A linear operator value: ``matvec`` costs ``O(n (p + r))`` per vector, ``dense()``
    builds the matrix with one ``(n, p + r) x (p + r, n)`` product (the cost of one
    ``X @ X.T``) plus one elementwise pass. ``np.asarray(kernel)`` (and ``jnp.asarray``)
    is the dense ``(n, n)`` matrix.

    Attributes:
      c_lin: ``()`` coefficient of the data Gram matrix ``X X^T``.
      X: ``(n, p)`` the data, one sample per row.
      V: ``(n, r)`` the low-rank factor (``[J / sqrt(p), phi]`` with ``r = K + 1`` for the
        plain equivalents; wider with ``Kurtosis.REALISED``).
      M: ``(r, r)`` the symmetric middle matrix of the low-rank part.
      c_id: ``()`` coefficient of the identity.
      b: ``()`` the constant off-diagonal shift (finite width; 0 otherwise).
      dvec: ``(n,)`` per-sample diagonal correction (0 for the formula's diagonal).
    """

    c_lin: Any
    X: Any
    V: Any
    M: Any
    c_id: Any
    b: Any
    dvec: Any

    @property
    def n(self) -> int:
        """The number of samples ``n``."""
        return int(self.X.shape[0])

    @property
    def shape(self) -> tuple:
        """``(n, n)``."""
        return (self.n, self.n)

    @property
    def ndim(self) -> int:
        """2."""
        return 2

    @property
    def dtype(self):
        """The dtype of :meth:`dense` and :meth:`matvec`."""
        return jnp.result_type(self.X, self.V, self.M, self.c_lin, self.c_id)

    def dense(self) -> jax.Array:
        """The symmetric ``(n, n)`` matrix ``K`` (one GEMM; compiled once per shape)."""
        return _dense(self)

    def matvec(self, v) -> jax.Array:
        """``K v`` for ``v`` of shape ``(n,)`` or ``(n, m)``, without forming ``K``."""
        return _matvec(self, jnp.asarray(v))

    __call__ = matvec

    def __matmul__(self, v) -> jax.Array:
        return self.matvec(v)

    def diagonal(self) -> jax.Array:
        """The diagonal of ``K``, shape ``(n,)``, in ``O(n (p + r^2))``."""
        return _diagonal(self)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.asarray(self.dense())
        return out if dtype is None else out.astype(dtype)

    def __jax_array__(self) -> jax.Array:
        return self.dense()


@jax.jit
def _dense(k: EquivalentKernel) -> jax.Array:
    dt = k.dtype
    X = k.X.astype(dt)
    V = k.V.astype(dt)
    Z1 = jnp.concatenate([k.c_lin.astype(dt) * X, jnp.matmul(V, k.M.astype(dt))], axis=1)
    Z2 = jnp.concatenate([X, V], axis=1)
    K = lax.dot_general(Z1, Z2, (((1,), (1,)), ((), ())), precision=_HIGHEST)
    n = K.shape[0]
    eye = lax.broadcasted_iota(jnp.int32, (n, n), 0) == lax.broadcasted_iota(jnp.int32,
                                                                              (n, n), 1)
    d = (k.c_id - k.b + k.dvec).astype(dt)
    return 0.5 * (K + K.T) + k.b.astype(dt) + jnp.where(eye, d[:, None], 0)


@jax.jit
def _matvec(k: EquivalentKernel, v: jax.Array) -> jax.Array:
    dt = jnp.result_type(k.dtype, v.dtype)
    w = (v[:, None] if v.ndim == 1 else v).astype(dt)
    X, V = k.X.astype(dt), k.V.astype(dt)
    mm = lambda a, b: jnp.matmul(a, b, precision=_HIGHEST)
    out = (k.c_lin * mm(X, mm(X.T, w)) + mm(V, mm(k.M.astype(dt), mm(V.T, w)))
           + (k.c_id - k.b + k.dvec)[:, None] * w + k.b * jnp.sum(w, axis=0, keepdims=True))
    return out[:, 0] if v.ndim == 1 else out


@jax.jit
def _diagonal(k: EquivalentKernel) -> jax.Array:
    dt = k.dtype
    X, V = k.X.astype(dt), k.V.astype(dt)
    low = jnp.einsum("ik,kl,il->i", V, k.M.astype(dt), V, precision=_HIGHEST)
    return k.c_lin * jnp.sum(X * X, axis=1) + low + k.c_id + k.dvec


def class_t_diag(st) -> jax.Array:
    """``stats.T_diag`` ``(K, K)``, ``sum_k (C_a)_kk (C_b)_kk / p``.

    Raises:
      ValueError: the statistics carry no ``T_diag``.
    """
    T_diag = getattr(st, "T_diag", None)
    if T_diag is None:
        raise ValueError("kurtosis needs stats.T_diag (sum_k (C_a)_kk (C_b)_kk / p)")
    return jnp.asarray(T_diag)


def small_matrix(c2, c3, st, c_diag=None) -> jax.Array:
    """The ``(K+1, K+1)`` middle matrix of ``V = [J / sqrt(p), phi]``::

        [[c2 t t^T + c3 T (+ c_diag T_diag),  c2 t],
         [c2 t^T,                             c2  ]]

    ``c_diag`` is None for no ``T_diag`` block. ``st``: statistics with ``t (K,)``,
    ``T (K, K)`` (and ``T_diag (K, K)`` when ``c_diag`` is given).
    """
    t = jnp.asarray(st.t)
    top = c2 * jnp.outer(t, t) + c3 * jnp.asarray(st.T)
    if c_diag is not None:
        top = top + c_diag * class_t_diag(st)
    col = (c2 * t)[:, None]
    return jnp.block([[top, col], [col.T, jnp.reshape(c2, (1, 1))]])
