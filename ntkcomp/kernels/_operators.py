"""Matrix-free kernels of one network: the CK and the NTK as linear operators (batch first).

Every operator here is a pytree with ``shape == (n, n)``, ``matvec(v)`` computing ``K v`` for
``v: (n,)`` (``jax.vmap`` batches it over probe vectors into one ``K @ V``) and ``dense()``,
so ``ntkcomp.spectral`` takes it directly and passes it across ``jit`` boundaries as an
argument. ``K v`` is computed in the operator's dtype (``v`` is cast to it and back).

:class:`FactorKernel` holds ``K = sum_t (A_t A_t^T) o (B_t B_t^T) + sum_s G_s G_s^T`` from
row-aligned factors (``o`` = Hadamard product). The empirical NTK has this form,
``NTK = H_L H_L^T + sum_l (H_{l-1} H_{l-1}^T) o (Delta_l Delta_l^T)``, and ``CK_l = H_l H_l^T``
(see the theory page ``docs/theory/network.md``, section Kernels). A Hadamard term is applied
without storing ``n x n``:

* ``method="features"``: ``[(A A^T) o (B B^T)] v = rowsum((A M) o B)``, ``M = A^T diag(v) B``
  (``d_a x d_b``): ``4 n d_a d_b`` flops per vector, memory ``d_a d_b``;
* ``method="tiled"``: rows in tiles of ``block_size``; each tile ``(A_i A^T) o (B_i B^T)`` is
  formed and multiplied by the block of vectors: ``2 n^2 (d_a + d_b)`` flops per call, shared
  by all vectors of a probe block, memory ``O(b n)``.

Gram terms always use ``G (G^T v)`` (``4 n d`` flops). For many products with wide layers,
storing the kernel once can be cheaper (:meth:`FactorKernel.should_materialize`).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.tree_util import register_pytree_node_class

from ntkcomp._validate import check_choice, check_positive_int
from ntkcomp.kernels._signals import Arch, forward_backward

__all__ = ["DEFAULT_TILE", "MATERIALIZE_MAX_BYTES", "FactorKernel", "ck_operator",
           "ntk_operator"]

#: default row-tile size of the tiled products (``b n`` floats of temporary per tile)
DEFAULT_TILE = 1024
#: largest kernel (bytes) that :meth:`FactorKernel.should_materialize` allows to be stored
MATERIALIZE_MAX_BYTES = 8 * 1024 ** 3

_HI = lax.Precision.HIGHEST  # true float32 on accelerators (no TF32); no-op on CPU


def _dot_t(A, B):
    """``A @ B.T`` without forming ``B.T``."""
    return lax.dot_general(A, B, (((1,), (1,)), ((), ())), precision=_HI)


def _mm(A, B):
    return jnp.matmul(A, B, precision=_HI)


# --------------------------------------------------------------------------- operators
@register_pytree_node_class
class FactorKernel:
    """``K = sum_t (A_t A_t^T) o (B_t B_t^T) + sum_s G_s G_s^T`` from row factors.

    pairs: tuple of ``(A_t (n, d_a), B_t (n, d_b))``; grams: tuple of ``G_s (n, d_s)``.
    method: "features" | "tiled" (see module docstring); block_size: row tile (tiled only).

    Contiguous transposes ``G_s^T`` (and ``A_t^T`` for "features") are stored next to the
    factors (XLA:CPU contracts the long n axis much faster from a stored ``(d, n)`` array).
    Memory: the factors twice. Under ``vmap`` over m vectors, "features" holds an
    ``(m, n, d_b)`` temporary: batch probes accordingly (``probe_batch``).
    """

    def __init__(self, pairs: Sequence = (), grams: Sequence = (), *, method: str = "tiled",
                 block_size: int = DEFAULT_TILE):
        check_choice("method", method, ["features", "tiled"])
        self.pairs = tuple((jnp.asarray(A), jnp.asarray(B)) for A, B in pairs)
        self.grams = tuple(jnp.asarray(G) for G in grams)
        if not self.pairs and not self.grams:
            raise ValueError("FactorKernel needs at least one pair or gram factor")
        for i, F in enumerate([A for pr in self.pairs for A in pr] + list(self.grams)):
            if F.ndim != 2 or F.shape[0] != self._first().shape[0]:
                raise ValueError(f"factors must be 2-D with n = {self._first().shape[0]} rows, "
                                 f"factor {i} has shape {F.shape}")
        self.method = method
        self.block_size = int(block_size)
        # contiguous transposes (eager: materialised once, outside any jit)
        self.grams_t = tuple(jnp.asarray(G.T) for G in self.grams)
        self.pairs_t = tuple(jnp.asarray(A.T) for A, _ in self.pairs) if method == "features" else ()

    # -- pytree
    def tree_flatten(self):
        return ((self.pairs, self.grams, self.grams_t, self.pairs_t),
                (self.method, self.block_size))

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.pairs, obj.grams, obj.grams_t, obj.pairs_t = children
        obj.method, obj.block_size = aux
        return obj

    # -- shape
    def _first(self):
        return self.pairs[0][0] if self.pairs else self.grams[0]

    @property
    def n(self) -> int:
        return self._first().shape[0]

    @property
    def shape(self) -> tuple:
        return (self.n, self.n)

    @property
    def dtype(self):
        return self._first().dtype

    # -- products
    def _grams_mv(self, v):
        out = jnp.zeros_like(v)
        for G, Gt in zip(self.grams, self.grams_t):
            out = out + _mm(G, _mm(Gt, v))
        return out

    def _features_mv(self, v):
        out = self._grams_mv(v)
        for (A, B), At in zip(self.pairs, self.pairs_t):
            M = _mm(At, v[:, None] * B)  # (d_a, d_b) = A^T diag(v) B
            out = out + jnp.sum(_mm(A, M) * B, axis=1)
        return out

    def _tiles(self, fn):
        """Apply ``fn(tile_rows_of_K (b, n)) -> (b, ...)`` over row tiles; returns (n, ...)."""
        n, b = self.n, min(self.block_size, self.n)
        nb = -(-n // b)
        pad = nb * b - n

        def blocks(F):
            F = jnp.pad(F, ((0, pad), (0, 0))) if pad else F
            return F.reshape(nb, b, F.shape[1])

        xs = (tuple((blocks(A), blocks(B)) for A, B in self.pairs),
              tuple(blocks(G) for G in self.grams))

        def tile(x):
            prs, grs = x
            T = 0.0
            for (Ai, Bi), (A, B) in zip(prs, self.pairs):
                T = T + _dot_t(Ai, A) * _dot_t(Bi, B)
            for Gi, G in zip(grs, self.grams):
                T = T + _dot_t(Gi, G)
            return fn(T)

        out = lax.map(tile, xs)
        return out.reshape((nb * b,) + out.shape[2:])[:n]

    def _tiled_mv(self, v):
        if not self.pairs:
            return self._grams_mv(v)
        return self._tiles(lambda T: _mm(T, v))

    def matvec(self, v):
        """``K v`` for ``v: (n,)``, computed in the factors' dtype."""
        w = v.astype(self.dtype)
        out = self._features_mv(w) if self.method == "features" else self._tiled_mv(w)
        return out.astype(v.dtype)

    __call__ = matvec

    def dense(self):
        """Form ``K (n, n)`` tile by tile (peak memory ``n^2`` + one ``b x n`` tile)."""
        return _dense_jit(self)

    to_dense = dense

    def gram_factors(self) -> tuple | None:
        """``(G_1, ..., G_S)`` when ``K = sum_s G_s G_s^T`` (no Hadamard pairs), else None."""
        return None if self.pairs else self.grams

    def should_materialize(self, num_products: int, num_vectors: int = 1, *,
                           max_bytes: int = MATERIALIZE_MAX_BYTES) -> bool:
        """True when storing ``K`` once is cheaper than ``num_products`` matrix-free products
        on blocks of ``num_vectors`` vectors and its ``n^2`` entries fit in ``max_bytes``.

        Gram-only kernels are always cheaper matrix-free. Build cost ``2 n^2 sum dims`` plus
        ``2 n^2 num_vectors`` per product, against ``num_products * num_vectors *
        cost_per_vector``.
        """
        if not self.pairs:
            return False
        n = self.n
        if n * n * jnp.dtype(self.dtype).itemsize > max_bytes:
            return False
        dims = (sum(A.shape[1] + B.shape[1] for A, B in self.pairs)
                + sum(G.shape[1] for G in self.grams))
        dense = 2.0 * n * n * dims + num_products * 2.0 * n * n * num_vectors
        free = num_products * num_vectors * self.cost_per_vector(self.method, num_vectors)
        return dense < free

    def diag(self):
        d = 0.0
        for A, B in self.pairs:
            d = d + jnp.sum(A * A, 1) * jnp.sum(B * B, 1)
        for G in self.grams:
            d = d + jnp.sum(G * G, 1)
        return d

    def cost_per_vector(self, method: str, num_vectors: int = 1) -> float:
        """Flops of one product per vector (tiled Grams amortised over ``num_vectors``)."""
        return _cost_per_vector(self.n, self.pairs, self.grams, method, num_vectors)


def _cost_per_vector(n, pairs, grams, method, num_vectors=1) -> float:
    g = sum(4.0 * n * G.shape[1] for G in grams)
    if method == "features":
        return g + sum(4.0 * n * A.shape[1] * B.shape[1] for A, B in pairs)
    if not pairs:
        return g
    tile = 2.0 * n * n * (sum(A.shape[1] + B.shape[1] for A, B in pairs)
                          + sum(G.shape[1] for G in grams))
    return tile / num_vectors + 2.0 * n * n


@jax.jit
def _dense_jit(op):
    return op._tiles(lambda T: T)


# --------------------------------------------------------------------------- constructors
def _check_layer(layer, L):
    if layer is None:
        return L
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer <= L:
        raise ValueError(f"layer must be an integer in [0, {L}] (or None for L), got {layer!r}")
    return int(layer)


@partial(jax.jit, static_argnames=("arch", "layer"))
def _features(arch, params, X, layer):
    return arch.net.preactivations_and_features(params, X)[1][layer]


@partial(jax.jit, static_argnames=("arch",))
def _signals(arch, params, X):
    return forward_backward(arch.net, params, X)


def ck_operator(net, params: dict, X, layer: int | None = None) -> FactorKernel:
    """Matrix-free conjugate kernel ``CK_l = H_l H_l^T`` of one network, as an operator.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: its parameters (their dtype is the computation dtype).
      X: ``(n, p)`` inputs.
      layer: 0..L (default L; 0 gives ``X X^T``).

    Returns:
      A Gram-only :class:`FactorKernel` of shape ``(n, n)``: one forward pass, then
      ``4 n d_l`` flops per product; ``ntkcomp.spectral.spectrum`` computes its spectrum
      exactly from the ``d_l x d_l`` Gram when ``d_l < n``.

    Raises:
      ValueError: a layer outside ``[0, L]``, bad params or X.
    """
    layer = _check_layer(layer, net.depth)
    net.check_params(params)
    net.check_input(params, X, "X")
    X = jnp.asarray(X, jnp.asarray(params["W"][0]).dtype)
    H = X if layer == 0 else _features(Arch(net), params, X, layer)
    return FactorKernel(grams=(H,))


def ntk_operator(net, params: dict, X, *, block_size: int | None = None,
                 method: str = "auto", num_vectors: int = 1) -> FactorKernel:
    """Matrix-free empirical NTK of one network on ``X: (n, p)``, as an operator.

    ``NTK = H_L H_L^T + sum_l (H_{l-1} H_{l-1}^T) o (Delta_l Delta_l^T)`` from one forward
    and backward pass; the ``n x n`` matrix is never stored.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: its parameters (their dtype is the computation dtype).
      X: ``(n, p)`` inputs.
      block_size: row tile of the "tiled" products (default ``DEFAULT_TILE``).
      method: "features" (``4 n sum_l d_{l-1} d_l`` flops per vector), "tiled"
        (``2 n^2 sum_l (d_{l-1} + d_l)`` per call, shared by a block of vectors) or "auto"
        (the cheaper per vector for blocks of ``num_vectors``).
      num_vectors: the probe block size "auto" plans for.

    Returns:
      A :class:`FactorKernel` of shape ``(n, n)``.

    Raises:
      ValueError: an unknown method, non-positive sizes, bad params or X.
    """
    check_choice("method", method, ["auto", "features", "tiled"])
    num_vectors = check_positive_int("num_vectors", num_vectors)
    bs = check_positive_int("block_size", block_size or DEFAULT_TILE)
    net.check_params(params)
    net.check_input(params, X, "X")
    X = jnp.asarray(X, jnp.asarray(params["W"][0]).dtype)
    hs, ds = _signals(Arch(net), params, X)
    pairs = tuple((hs[l], ds[l]) for l in range(net.depth))
    grams = (hs[-1],)
    if method == "auto":
        n = X.shape[0]
        method = ("features" if _cost_per_vector(n, pairs, grams, "features") <=
                  _cost_per_vector(n, pairs, grams, "tiled", num_vectors) else "tiled")
    return FactorKernel(pairs, grams, method=method, block_size=bs)
