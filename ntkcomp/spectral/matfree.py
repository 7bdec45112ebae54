"""Matrix-free and materialised kernel operators for large-n spectra (batch first).

Every operator here is a *pytree* with a ``__call__(v)`` computing ``K v`` for ``v: (n,)``
(``jax.vmap`` batches it over probe vectors into one ``K @ V``) and an attribute ``n``, so it
can be handed to :mod:`ntkcomp.spectral.lanczos`, :mod:`~ntkcomp.spectral.slq` and
:mod:`~ntkcomp.spectral.kpm` and crosses ``jit`` boundaries as an *argument* (never as a
multi-GB compile-time constant). ``K v`` is computed in the operator's dtype (``v`` is cast
to it and the result cast back), so a float32 kernel stays float32.

Operators
---------
* :class:`DenseKernel` -- a materialised ``K (n, n)`` (``materialized_kernel_matvec``):
  ``2 n^2`` flops and one pass over ``n^2`` stored entries per product (memory bound: a
  block of ``m`` probes costs about one pass).
* :class:`FactorKernel` -- ``K = sum_t (A_t A_t^T) o (B_t B_t^T) + sum_s G_s G_s^T`` from
  row-aligned factors (``o`` = Hadamard product). The NTK of THEORY section 2 is of this form:
  ``NTK = H_L H_L^T + sum_l (H_{l-1} H_{l-1}^T) o (Delta_l Delta_l^T)``, CK_l = ``H_l H_l^T``.
  Two ways to apply a Hadamard term without storing ``n x n``:

  - ``method="features"``: ``[(A A^T) o (B B^T)] v = rowsum((A M) o B)``,
    ``M = A^T diag(v) B`` (d_a x d_b): **4 n d_a d_b flops per vector**, memory ``d_a d_b``.
    (The Hadamard product of Grams is the Gram of row-wise Kronecker features of width
    ``d_a d_b``; this form never builds them.)
  - ``method="tiled"``: rows in tiles of ``block_size``; each tile
    ``(A_i A^T) o (B_i B^T)`` is formed (``2 b n (d_a + d_b)`` flops) and multiplied by ``v``:
    **2 n^2 (d_a + d_b) flops per call, shared by all vectors of a probe block**, memory
    ``O(b n)``.

  ``method="auto"`` picks the smaller per-vector cost given ``num_vectors`` (the probe block
  size): features iff ``4 n sum d_a d_b <= 2 n^2 sum (d_a + d_b) / num_vectors``. Plain
  Gram terms always use ``G (G^T v)`` (``4 n d``).

  Rule of thumb (documented in the benchmark): for many Lanczos/Chebyshev products the
  cheapest route for wide networks is to **materialise once** (``to_dense`` or
  ``ntkcomp.kernels.empirical_ntk``, ``O(n^2 sum d)`` once, then ``2 n^2`` per product),
  whenever ``n^2`` entries fit in memory (n = 32768: 4.3 GB in float32). Matrix-free
  operators are for when they do not (or for narrow layers, where "features" is cheap).
  CK spectra are always cheap matrix-free: ``4 n d`` per product.
* :class:`LowRankKernel` -- the equivalents ``c_lin X X^T + V M V^T + c_id I + b (1 1^T - I)
  + diag(dvec)``
  of THEORY sections 4-6 (``O(n (p + K))`` per product).

Sharding
--------
:func:`shard_rows` places every row-indexed array of an operator with
``NamedSharding(mesh, P("rows", ...))`` over a 1-D mesh (default all of ``jax.devices()``).
Nothing else changes: the Lanczos/KPM loops are ``jit``-compiled and XLA's SPMD partitioner
splits the products and inserts the reductions (dot products, ``A^T diag(v) B``) itself, so
the same code runs on 1 CPU, 8 virtual CPU devices (the test) or a GPU/TPU mesh.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.tree_util import register_pytree_node_class

from ntkcomp._validate import check_choice, check_positive_int

__all__ = [
    "DEFAULT_TILE",
    "MATERIALIZE_MAX_BYTES",
    "DenseKernel",
    "FactorKernel",
    "LowRankKernel",
    "ck_matvec",
    "equivalent_matvec",
    "gram_matvec",
    "materialize",
    "materialized_kernel_matvec",
    "ntk_factors",
    "ntk_matvec",
    "row_mesh",
    "shard_rows",
    "should_materialize",
]

#: default row-tile size of the tiled products (``b n`` floats of temporary per tile)
DEFAULT_TILE = 1024

#: largest kernel (bytes) that ``should_materialize`` allows to be stored (n = 32768 in float32
#: is 4 GiB; float64 8 GiB)
MATERIALIZE_MAX_BYTES = 8 * 1024 ** 3

_HI = lax.Precision.HIGHEST  # true float32 on accelerators (no TF32); no-op on CPU


def _dot_t(A, B):
    """``A @ B.T`` without forming ``B.T``."""
    return lax.dot_general(A, B, (((1,), (1,)), ((), ())), precision=_HI)


def _mm(A, B):
    return jnp.matmul(A, B, precision=_HI)


# --------------------------------------------------------------------------- operators
@register_pytree_node_class
class DenseKernel:
    """Materialised symmetric kernel ``K (n, n)``; ``op(v) = K v`` in ``K.dtype``."""

    def __init__(self, K):
        self.K = K

    @property
    def n(self) -> int:
        return self.K.shape[0]

    @property
    def dtype(self):
        return self.K.dtype

    def __call__(self, v):
        return _mm(self.K, v.astype(self.K.dtype)).astype(v.dtype)

    def to_dense(self):
        return self.K

    def diag(self):
        return jnp.diagonal(self.K)

    def tree_flatten(self):
        return (self.K,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


@register_pytree_node_class
class FactorKernel:
    """``K = sum_t (A_t A_t^T) o (B_t B_t^T) + sum_s G_s G_s^T`` from row factors.

    pairs: tuple of ``(A_t (n, d_a), B_t (n, d_b))``; grams: tuple of ``G_s (n, d_s)``.
    method: "features" | "tiled" (see module docstring); block_size: row tile (tiled only).

    Contiguous transposes ``G_s^T`` (and ``A_t^T`` for "features") are stored next to the
    factors: XLA:CPU computes ``G^T V`` (contracting the long n axis) ~8x faster from a
    stored ``(d, n)`` array than from ``G`` itself (measured n = 8192, d = 2048, 32 vectors).
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

    def __call__(self, v):
        v_in = v
        v = v.astype(self.dtype)
        out = self._features_mv(v) if self.method == "features" else self._tiled_mv(v)
        return out.astype(v_in.dtype)

    def to_dense(self):
        """Form ``K (n, n)`` tile by tile (peak memory ``n^2`` + one ``b x n`` tile)."""
        return jax.jit(lambda op: op._tiles(lambda T: T))(self)

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


@register_pytree_node_class
class LowRankKernel:
    """``K = c_lin X X^T + V M V^T + c_id I + b (1 1^T - I) + diag(dvec)`` (the equivalents'
    structure, ``X (n, p)``, ``V (n, K+1)``, ``M (K+1, K+1)``, ``dvec (n,)``)."""

    def __init__(self, c_lin, X, V, M, c_id, b, dvec, Xt=None):
        self.c_lin, self.X, self.V, self.M = c_lin, X, V, M
        self.c_id, self.b, self.dvec = c_id, b, dvec
        self.Xt = jnp.asarray(X.T) if Xt is None else Xt  # contiguous (p, n): see FactorKernel

    def tree_flatten(self):
        return (self.c_lin, self.X, self.V, self.M, self.c_id, self.b, self.dvec, self.Xt), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def dtype(self):
        return self.X.dtype

    def __call__(self, v):
        w = v.astype(self.dtype)
        out = (self.c_lin * _mm(self.X, _mm(self.Xt, w))
               + _mm(self.V, _mm(self.M, _mm(self.V.T, w)))
               + (self.c_id - self.b + self.dvec) * w + self.b * jnp.sum(w))
        return out.astype(v.dtype)

    def to_dense(self):
        K = (self.c_lin * _dot_t(self.X, self.X) + _mm(_mm(self.V, self.M), self.V.T)
             + jnp.diag(self.c_id - self.b + self.dvec) + self.b)
        return 0.5 * (K + K.T)

    def diag(self):
        return (self.c_lin * jnp.sum(self.X * self.X, 1)
                + jnp.sum(_mm(self.V, self.M) * self.V, 1) + self.c_id + self.dvec)


# --------------------------------------------------------------------------- constructors
def materialized_kernel_matvec(K, *, mesh: Mesh | None = None) -> DenseKernel:
    """Operator of a stored symmetric kernel ``K (n, n)`` (rows sharded over ``mesh`` if given)."""
    K = jnp.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square (n, n) matrix, got shape {K.shape}")
    op = DenseKernel(K)
    return shard_rows(op, mesh) if mesh is not None else op


def gram_matvec(A) -> FactorKernel:
    """Operator of ``A A^T`` for ``A (n, d)``: ``v -> A (A^T v)``, ``4 n d`` flops."""
    A = jnp.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"A must have shape (n, d), got {A.shape}")
    return FactorKernel(grams=(A,))


def _check_layer(layer, L):
    if layer is None:
        return L
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer <= L:
        raise ValueError(f"layer must be an integer in [0, {L}] (or None for L), got {layer!r}")
    return int(layer)


def ck_matvec(net, params: dict, X, layer: int | None = None, *,
              mesh: Mesh | None = None) -> FactorKernel:
    """Matrix-free conjugate kernel ``CK_l = H_l H_l^T`` (n, n) of one network on ``X (n, p)``.

    ``layer`` in 0..L (default L; 0 gives ``X X^T``). One forward pass (``O(n p d)``), then
    ``4 n d_l`` flops per product. Computed in the dtype of ``params``.
    """
    L = net.depth
    layer = _check_layer(layer, L)
    dtype = jnp.asarray(params["W"][0]).dtype
    X = jnp.asarray(X, dtype)
    if layer == 0:
        H = X
    else:
        H = jax.jit(lambda prm, X: net.preactivations_and_features(prm, X)[1][layer])(params, X)
    op = FactorKernel(grams=(H,))
    return shard_rows(op, mesh) if mesh is not None else op


def ntk_factors(net, params: dict, X):
    """Row factors of the NTK: ``(pairs, grams)`` with ``pairs = ((H_{l-1}, Delta_l))_{l=1..L}``
    and ``grams = (H_L,)``, so that ``NTK = H_L H_L^T + sum_l (H_{l-1} H_{l-1}^T) o
    (Delta_l Delta_l^T)`` (THEORY section 2; ``Delta_l = df/dg_l (n, d_l)`` from one backward
    pass, via ``ntkcomp.kernels.empirical.forward_backward``)."""
    from ntkcomp.kernels.empirical import forward_backward

    dtype = jnp.asarray(params["W"][0]).dtype
    X = jnp.asarray(X, dtype)
    hs, ds = jax.jit(lambda prm, X: forward_backward(net, prm, X))(params, X)
    pairs = tuple((hs[l], ds[l]) for l in range(net.depth))
    return pairs, (hs[-1],)


def ntk_matvec(net, params: dict, X, *, block_size: int | None = None, method: str = "auto",
               num_vectors: int = 1, mesh: Mesh | None = None) -> FactorKernel:
    """Matrix-free empirical NTK ``(n, n)`` of one network on ``X (n, p)`` (never stored).

    method: "features" (``4 n sum_l d_{l-1} d_l`` flops per vector), "tiled" (``2 n^2
    sum_l (d_{l-1} + d_l)`` per call, shared by the ``num_vectors`` vectors of a probe block)
    or "auto" (the cheaper per vector). block_size: row tile (default ``DEFAULT_TILE``).
    Computed in the dtype of ``params`` (cast them to float32 for speed at large n).
    """
    check_choice("method", method, ["auto", "features", "tiled"])
    num_vectors = check_positive_int("num_vectors", num_vectors)
    bs = check_positive_int("block_size", block_size or DEFAULT_TILE)
    pairs, grams = ntk_factors(net, params, X)
    if method == "auto":
        n = X.shape[0]
        method = ("features" if _cost_per_vector(n, pairs, grams, "features") <=
                  _cost_per_vector(n, pairs, grams, "tiled", num_vectors) else "tiled")
    op = FactorKernel(pairs, grams, method=method, block_size=bs)
    return shard_rows(op, mesh) if mesh is not None else op


def equivalent_matvec(net, stats, kind: str = "ck", layer: int | None = None, *, X=None,
                      **kwargs) -> LowRankKernel:
    """Matrix-free equivalent kernel (``kind`` "ck" -> K~_l, "ntk" -> Theta~), ``O(n (p + K))``
    per product, from ``ntkcomp.equivalents.equivalent_parts`` (same arguments/keywords)."""
    check_choice("kind", kind, ["ck", "ntk"])
    from ntkcomp.equivalents.matrices import equivalent_parts

    parts = tuple(equivalent_parts(net, stats, kind, layer, X=X, **kwargs))
    c_lin, Xe, V, M, c_id, b = parts[:6]
    dt = Xe.dtype
    n = Xe.shape[0]
    # parts[6] (when present) is a per-sample diagonal correction ``dvec (n,)``
    dvec = jnp.broadcast_to(jnp.asarray(parts[6] if len(parts) > 6 else 0.0, dt), (n,))
    return LowRankKernel(jnp.asarray(c_lin, dt), Xe, jnp.asarray(V, dt), jnp.asarray(M, dt),
                         jnp.asarray(c_id, dt), jnp.asarray(b, dt), dvec)


def should_materialize(op, num_products: int, num_vectors: int = 1, *,
                       max_bytes: int = MATERIALIZE_MAX_BYTES) -> bool:
    """True when forming ``op`` densely once is cheaper than ``num_products`` matrix-free
    products on blocks of ``num_vectors`` vectors, and ``n^2`` entries fit in ``max_bytes``.

    Only :class:`FactorKernel` with Hadamard pairs (the NTK) qualifies: Gram-only and
    low-rank operators are always cheaper matrix-free. Build cost ``2 n^2 sum dims`` (tiles)
    + ``2 n^2 num_vectors`` per product, vs ``num_products * num_vectors * cost_per_vector``.
    """
    if not isinstance(op, FactorKernel) or not op.pairs:
        return False
    n = op.n
    if n * n * jnp.dtype(op.dtype).itemsize > max_bytes:
        return False
    dims = sum(A.shape[1] + B.shape[1] for A, B in op.pairs) + sum(G.shape[1] for G in op.grams)
    dense = 2.0 * n * n * dims + num_products * 2.0 * n * n * num_vectors
    free = num_products * num_vectors * op.cost_per_vector(op.method, num_vectors)
    return dense < free


def materialize(op, *, dtype=None):
    """Dense ``K (n, n)`` of an operator (``op.to_dense()``), optionally cast to ``dtype``."""
    K = op.to_dense()
    return K if dtype is None else K.astype(dtype)


# --------------------------------------------------------------------------- sharding
def row_mesh(devices: Sequence | None = None, axis_name: str = "rows") -> Mesh:
    """1-D mesh over ``devices`` (default ``jax.devices()``) with axis ``axis_name``."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must be a non-empty list of jax devices")
    return Mesh(np.array(devices), (axis_name,))


def shard_rows(op, mesh: Mesh | None = None):
    """Return ``op`` with every array whose leading axis is ``n`` sharded by rows over ``mesh``
    (stored transposes ``(d, n)``: by columns).

    Other leaves (the small ``M`` of a LowRankKernel, scalars) are replicated. Requires
    ``n`` divisible by the number of devices (ValueError otherwise).
    """
    mesh = row_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must be 1-D, got axes {mesh.axis_names}")
    axis = mesh.axis_names[0]
    n = op.n
    if n % mesh.size:
        raise ValueError(f"n = {n} must be divisible by the number of devices {mesh.size}")

    def place(x):
        x = jnp.asarray(x)
        if x.ndim >= 1 and x.shape[0] == n:  # row factors, kernels, vectors
            spec = P(axis, *([None] * (x.ndim - 1)))
        elif x.ndim == 2 and x.shape[1] == n:  # stored transposes (d, n)
            spec = P(None, axis)
        else:
            spec = P()
        return jax.device_put(x, NamedSharding(mesh, spec))

    leaves, treedef = jax.tree_util.tree_flatten(op)
    # LowRankKernel.M is (K+1, K+1): never n rows unless n == K+1 (tiny; harmless either way)
    return jax.tree_util.tree_unflatten(treedef, [place(x) for x in leaves])
