"""Empirical kernels of one network: conjugate kernels per layer and the exact NTK.

Conventions (THEORY.md section 2, batch first): ``g_l = h_{l-1} @ W_l``,
``h_l = (sigma_l(g_l) - m_l)/sqrt(d_l)``, ``f = h_L @ w``. Kernels between the rows of
``X: (n1, p)`` and ``X2: (n2, p)`` (``X2 = X`` by default):

    CK_0 = X X2^T,  CK_l = H_l H2_l^T                                  (n1, n2)
    NTK  = CK_L + sum_{l=1..L} CK_{l-1} o (Delta_l Delta2_l^T)

where ``o`` is the Hadamard product and ``Delta_l = df/dg_l: (n, d_l)`` comes from one
backward pass:

    Delta_L     = w o sigma_L'(g_L) / sqrt(d_L)
    Delta_{l-1} = (Delta_l @ W_l^T) o sigma_{l-1}'(g_{l-1}) / sqrt(d_{l-1}).

(The ``w`` term of the NTK is ``h_L . h2_L = CK_L``; the ``W_l`` term is
``sum_{a,b} h_{l-1,a} Delta_{l,b} h2_{l-1,a} Delta2_{l,b}``.) No Jacobian is formed.
For piecewise-constant activations ``sigma' = 0`` a.e. (the autodiff convention), so
the NTK equals ``CK_L``.

The output is computed in tiles of ``block_size`` rows (and columns). When ``X2`` is
omitted the kernel is symmetric and only the tiles on and above the diagonal are computed
(then mirrored; diagonal tiles are symmetrised exactly). Two engines share the tile math:

* the public functions (concrete inputs) run a host-side loop over the tile pairs that
  calls two compiled programs: one computes a tile (all its Gram products and the
  Hadamard sum, ``jax.jit``), the other writes it in place into the output (a donated
  buffer, ``dynamic_update_slice``). Keeping the GEMMs in their own program matters on
  CPU: measured (n = 8192, widths 1000 x 3, float32, 2048-row tiles, quiet 2-core
  machine) 4.7 s, against 7.9 s when the tile and the write are one program and 9.5 s
  for a single ``fori_loop`` program, where XLA fuses the Hadamard sum into both writes
  and recomputes it with a transposed (cache-hostile) access for the mirrored tile.
* ``_ntk_jit`` / ``_ck_jit`` are the same computation as one traceable program
  (the tile loop unrolled up to ``STATIC_TILE_LIMIT`` tiles, a ``fori_loop`` above) for
  callers that are themselves traced: Monte Carlo averages (``jax.jit`` over draws) and
  the sharded kernels (``shard_map``).

Mixed precision (``signal_dtype="float64"`` with float32 parameters): the signals are
computed in float64 and rounded to float32 for the Gram products, so activations with a
jump in ``sigma'`` (ReLU) or ``sigma`` (steps) are evaluated on the side of the jump that
the exact pre-activation is on (see :func:`empirical_ntk`).

Peak memory is about ``n1*n2`` (output) + ``(n1 + n2) * (p + 2 sum_l d_l)`` (forward and
backward signals) + ``O(block_size^2 * L)`` elements.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ntkcomp._validate import check_positive_int

__all__ = ["DEFAULT_BLOCK_SIZE", "conjugate_kernels", "default_block_size", "empirical_ntk",
           "forward_backward"]

#: default tile size (rows) of the tiled kernels; kernels with both sides <= this are one tile.
#: Largest default tile (see :func:`default_block_size`): 1024-row tiles ran 5-17% faster
#: than 2048-row ones at n = 16384 on the 2-core CPU; temporaries are
#: ``(2L + 1) * block_size^2`` elements (~30 MB in float32 for L = 3).
DEFAULT_BLOCK_SIZE = 1024
#: tile size of the traced engine used under ``jit``/``shard_map``: there
#: small tiles are faster (measured, loaded machine, n = 4096: b = 512 -> 2.3 s, 2048 -> 4.1 s).
TRACED_BLOCK_SIZE = 512
#: the traced engine unrolls its tile loop up to this many tiles (static slices, one
#: concatenation per output; measured n = 2048, widths 1000 x 3, float32, 512-row tiles:
#: 161 ms against 233 ms for the ``fori_loop``; the host engine takes 146 ms), and loops
#: above it (compile time and memory stay bounded: the unrolled program holds all tiles
#: next to the output).
STATIC_TILE_LIMIT = 64

_PRECISION = lax.Precision.HIGHEST  # true float32 on accelerators (no TF32); no-op on CPU


def _dot_t(A: jax.Array, B: jax.Array) -> jax.Array:
    """``A @ B.T`` for ``A: (m, k)``, ``B: (n, k)`` without materialising ``B.T``."""
    return lax.dot_general(A, B, (((1,), (1,)), ((), ())), precision=_PRECISION)


def forward_backward(net, params: dict, X: jax.Array):
    """Forward and backward signals of ``net`` on ``X: (n, p)``.

    Returns:
      ``(hs, deltas)``: ``hs = [h_0 = X, h_1, ..., h_L]`` with ``h_l: (n, d_l)``, and
      ``deltas = [Delta_1, ..., Delta_L]`` with ``Delta_l = df/dg_l: (n, d_l)``.
    """
    gs, hs = net.preactivations_and_features(params, X)
    L = net.depth
    dtype = gs[-1].dtype
    deltas = [None] * L
    d = params["w"] * net.activations[L - 1].derivative(gs[L - 1]) / jnp.sqrt(
        jnp.asarray(net.widths[L - 1], dtype))
    deltas[L - 1] = d
    for l in range(L - 1, 0, -1):  # python index l is layer l+1; W[l] = W_{l+1}
        back = lax.dot_general(d, params["W"][l], (((1,), (1,)), ((), ())), precision=_PRECISION)
        d = back * net.activations[l - 1].derivative(gs[l - 1]) / jnp.sqrt(
            jnp.asarray(net.widths[l - 1], dtype))
        deltas[l - 1] = d
    return hs, deltas


class Arch:
    """Static jit argument wrapping an MLP; equal/hash on ``net.forward_key`` (widths,
    activations, centers), so nets differing only in weight law or tau0 share compiled code."""

    __slots__ = ("net",)

    def __init__(self, net):
        self.net = net

    def __hash__(self) -> int:
        return hash(self.net.forward_key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Arch) and other.net.forward_key == self.net.forward_key


# --------------------------------------------------------------------------- tile engine
def _pad_rows(A: jax.Array, multiple: int) -> jax.Array:
    r = (-A.shape[0]) % multiple
    return A if r == 0 else jnp.pad(A, ((0, r), (0, 0)))


def _tiled(tile_fn: Callable, FA: Sequence[jax.Array], FB: Sequence[jax.Array] | None,
           b1: int, b2: int, n_out: int):
    """Evaluate ``tile_fn(A_rows, B_rows) -> tuple of (b1, b2) tiles`` over all tiles.

    ``FA``/``FB``: tuples of row-aligned feature arrays (rows = samples) of ``n1``/``n2``
    rows. ``FB is None`` means the symmetric case ``FB = FA``: only tiles ``j >= i`` are
    computed and mirrored; diagonal tiles are symmetrised. Returns a tuple of ``n_out``
    ``(n1, n2)`` arrays.
    """
    symmetric = FB is None
    n1 = FA[0].shape[0]
    if symmetric:
        FB, b2 = FA, b1
    n2 = FB[0].shape[0]
    nb1, nb2 = -(-n1 // b1), -(-n2 // b2)
    FA = tuple(_pad_rows(F, b1) for F in FA)
    FB = FA if symmetric else tuple(_pad_rows(F, b2) for F in FB)
    pairs = [(i, j) for i in range(nb1) for j in range(nb2) if not symmetric or j >= i]
    if len(pairs) <= STATIC_TILE_LIMIT:
        return _tiled_static(tile_fn, FA, FB, b1, b2, nb1, nb2, symmetric, n1, n2)
    I = jnp.asarray([p[0] for p in pairs], jnp.int32)
    J = jnp.asarray([p[1] for p in pairs], jnp.int32)
    dtype = jnp.result_type(*FA)
    outs0 = tuple(jnp.zeros((nb1 * b1, nb2 * b2), dtype) for _ in range(n_out))

    def body(k, outs):
        i, j = I[k], J[k]
        A = tuple(lax.dynamic_slice_in_dim(F, i * b1, b1, 0) for F in FA)
        B = tuple(lax.dynamic_slice_in_dim(F, j * b2, b2, 0) for F in FB)
        # Materialise each tile once: without the barrier XLA fuses the Hadamard sum into
        # both dynamic-update-slices and recomputes it for the mirrored (transposed) write,
        # reading every Gram tile with a cache-hostile stride.
        tiles = lax.optimization_barrier(tuple(tile_fn(A, B)))
        new = []
        for o, t in zip(outs, tiles):
            if symmetric:
                t = jnp.where(i == j, 0.5 * (t + t.T), t)
                o = lax.dynamic_update_slice(o, t, (i * b1, j * b2))
                o = lax.dynamic_update_slice(o, t.T, (j * b2, i * b1))
            else:
                o = lax.dynamic_update_slice(o, t, (i * b1, j * b2))
            new.append(o)
        return tuple(new)

    outs = lax.fori_loop(0, len(pairs), body, outs0)
    return tuple(o[:n1, :n2] for o in outs)


def _tiled_static(tile_fn, FA, FB, b1, b2, nb1, nb2, symmetric, n1, n2):
    """:func:`_tiled` with the tile loop unrolled (static slices, no loop-carried output):
    every tile is computed, then each output is assembled once by concatenation (mirrored
    tiles transposed, diagonal tiles symmetrised). Holds the tiles and the output at once
    (~1.6x the output's memory when symmetric); used up to ``STATIC_TILE_LIMIT`` tiles."""
    A = _split_rows(FA, b1)  # FA/FB are padded to whole blocks
    B = A if symmetric else _split_rows(FB, b2)
    T = {}
    for i in range(nb1):
        for j in range(i if symmetric else 0, nb2):
            tiles = tile_fn(A[i], B[j])
            T[i, j] = tuple(0.5 * (t + t.T) for t in tiles) if symmetric and i == j else tiles
    outs = []
    for k in range(len(T[0, 0])):
        rows = [jnp.concatenate([T[i, j][k] if not symmetric or j >= i else T[j, i][k].T
                                 for j in range(nb2)], axis=1) for i in range(nb1)]
        outs.append(jnp.concatenate(rows, axis=0)[:n1, :n2])
    return tuple(outs)


def _ntk_tile(L: int):
    def tile(A, B):
        hA, dA = A[: L + 1], A[L + 1:]
        hB, dB = B[: L + 1], B[L + 1:]
        K = _dot_t(hA[L], hB[L])
        for l in range(L):  # CK_{l} o (Delta_{l+1} Delta2_{l+1}^T)
            K = K + _dot_t(hA[l], hB[l]) * _dot_t(dA[l], dB[l])
        return (K,)

    return tile


def _ck_tile(L: int):
    def tile(A, B):
        return tuple(_dot_t(A[l], B[l]) for l in range(1, L + 1))

    return tile


def _signals(kind: str, net, params, X, signal_dtype: str | None) -> tuple:
    """Row-aligned signals of ``X: (n, p)`` as one tuple of ``(n, .)`` arrays: "ntk":
    ``(h_0, ..., h_L, Delta_1, ..., Delta_L)``, "ck": ``(h_0, ..., h_L)``. Computed in
    ``signal_dtype`` (None: the dtype of ``params``/``X``) and returned in ``X``'s dtype."""
    out_dtype = X.dtype
    if signal_dtype is not None:
        cast = partial(lax.convert_element_type, new_dtype=jnp.dtype(signal_dtype))
        params, X = jax.tree_util.tree_map(cast, params), cast(X)
    if kind == "ntk":
        hs, ds = forward_backward(net, params, X)
        out = tuple(hs) + tuple(ds)
    else:
        out = tuple(net.preactivations_and_features(params, X)[1])
    return tuple(f.astype(out_dtype) for f in out)  # a no-op without signal_dtype


@partial(jax.jit, static_argnames=("arch", "b1", "b2", "symmetric", "signal_dtype"))
def _ntk_jit(arch, params, X, X2, b1, b2, symmetric, signal_dtype=None):
    net = arch.net
    FA = _signals("ntk", net, params, X, signal_dtype)
    FB = None if symmetric else _signals("ntk", net, params, X2, signal_dtype)
    return _tiled(_ntk_tile(net.depth), FA, FB, b1, b2, 1)[0]


@partial(jax.jit, static_argnames=("arch", "b1", "b2", "symmetric", "signal_dtype"))
def _ck_jit(arch, params, X, X2, b1, b2, symmetric, signal_dtype=None):
    net = arch.net
    FA = _signals("ck", net, params, X, signal_dtype)
    FB = None if symmetric else _signals("ck", net, params, X2, signal_dtype)
    return list(_tiled(_ck_tile(net.depth), FA, FB, b1, b2, net.depth))


# --------------------------------------------------------------------------- eager tile engine
@functools.cache
def _tile_program(kind: str, L: int):
    """Compiled tile function ``(A_blocks, B_blocks) -> tuple of tiles`` (cached per kind, L)."""
    return jax.jit(_ntk_tile(L) if kind == "ntk" else _ck_tile(L))


@jax.jit
def _symmetrise(t: jax.Array) -> jax.Array:
    return 0.5 * (t + t.T)


@partial(jax.jit, donate_argnums=0, static_argnames=("mirror",))
def _put(out: jax.Array, t: jax.Array, r, c, mirror: bool) -> jax.Array:
    """Write tile ``t`` at ``(r, c)`` of ``out`` in place (and ``t.T`` at ``(c, r)``)."""
    out = lax.dynamic_update_slice(out, t, (r, c))
    if mirror:
        out = lax.dynamic_update_slice(out, t.T, (c, r))
    return out


def _split_rows(F: Sequence[jax.Array], b: int) -> tuple:
    """Split row-aligned arrays into row blocks ``(blocks_0, blocks_1, ...)`` of ``b`` rows
    each (the last ragged); ``blocks_k`` is a tuple with one slice per array.

    Called inside the feature programs so that the full-size signals are freed when the
    program returns and only the blocks stay alive (no second copy next to the output).
    """
    n = F[0].shape[0]
    return tuple(tuple(f[s:s + b] for f in F) for s in range(0, n, b))


def _eager_tiled(kind: str, L: int, n_out: int, FA: tuple, FB: tuple | None) -> tuple:
    """Host loop over tile pairs (see the module docstring); ``FA``/``FB`` are row blocks
    from :func:`_split_rows` (``FB = None``: symmetric). Returns ``n_out`` arrays."""
    tile = _tile_program(kind, L)
    symmetric = FB is None

    def with_starts(blocks):
        starts = [0]
        for blk in blocks:
            starts.append(starts[-1] + blk[0].shape[0])
        return list(zip(starts[:-1], blocks)), starts[-1]

    rows, n1 = with_starts(FA)
    cols, n2 = (rows, n1) if symmetric else with_starts(FB)
    dtype = FA[0][0].dtype
    outs = [jnp.zeros((n1, n2), dtype) for _ in range(n_out)]
    for a, (r, A) in enumerate(rows):
        for c_idx, (c, B) in enumerate(cols):
            if symmetric and c_idx < a:
                continue
            tiles = tile(A, B)
            for k in range(n_out):
                t = tiles[k]
                if symmetric and c_idx == a:
                    outs[k] = _put(outs[k], _symmetrise(t), r, c, mirror=False)
                else:
                    outs[k] = _put(outs[k], t, r, c, mirror=symmetric)
    return tuple(outs)


@partial(jax.jit, static_argnames=("kind", "arch", "b", "signal_dtype"))
def _features(kind, arch, params, X, b, signal_dtype=None):
    return _split_rows(_signals(kind, arch.net, params, X, signal_dtype), b)


def _is_traced(*xs) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


# --------------------------------------------------------------------------- public API
def default_block_size(n: int, symmetric: bool = True) -> int:
    """Tile size used when ``block_size=None`` (host engine).

    Below 1536 rows (symmetric) one tile is cheapest. Above, the kernel is cut into
    ``nb = max(4, ceil(n / DEFAULT_BLOCK_SIZE))`` row blocks, rounded up to a multiple of
    128 rows (GEMM-kernel friendly; odd sizes such as 683 ran ~25% below the GEMM rate):
    a symmetric kernel in ``nb`` blocks costs ``(nb + 1) / (2 nb)`` of the dense FLOPs, and
    ~1024-row tiles keep each tile's operands (``2 * 1024 * (p + 2 sum d)`` floats, ~55 MB
    for widths 1000 x 3) closer to cache than 2048-row ones. Measured on the 2-core
    machine (widths 1000 x 3, float32, block sizes interleaved in one process):
    n = 16384: 1024 -> 12.6 s, 2048 -> 15.2 s, 4096 -> 15.8 s (one run);
    768 -> 13.5, 1024 -> 14.4, 512 -> 14.7 s (another run: the host's speed drifts
    by ~15% between runs, so only within-run comparisons count). n = 2048: 256 ... 1024
    within 5% of each other (0.34-0.35 s), 2048 (one tile) 0.48 s.
    """
    if symmetric and n < 1536:
        return n
    if not symmetric:
        return min(n, DEFAULT_BLOCK_SIZE)
    nb = max(4, -(-n // DEFAULT_BLOCK_SIZE))
    b = -(-n // nb)
    return min(-(-b // 128) * 128, DEFAULT_BLOCK_SIZE)


def _check_signal_dtype(signal_dtype, dtype) -> str | None:
    """Canonical ``signal_dtype``: None when it adds nothing (unset, or equal to the
    computation dtype ``dtype``), else ``"float64"`` for float32 parameters."""
    if signal_dtype is None:
        return None
    try:
        sd = jnp.dtype(signal_dtype)
    except (TypeError, ValueError):
        sd = None
    if sd is None or sd.name not in ("float32", "float64"):
        raise ValueError(f"signal_dtype must be None, 'float32' or 'float64', got "
                         f"{signal_dtype!r}")
    if sd.itemsize < jnp.dtype(dtype).itemsize:
        raise ValueError(f"signal_dtype={sd.name} is below the parameters' dtype {dtype}; it "
                         f"may only raise the precision of the signals (None or float64)")
    if sd == jnp.dtype(dtype):
        return None
    if not jax.config.jax_enable_x64:
        raise ValueError("signal_dtype='float64' needs 64-bit JAX: call ntkcomp.enable_x64() "
                         "(float32 parameters and inputs stay float32)")
    return sd.name


def _prepare(net, params, X, X2, block_size, traced: bool, signal_dtype=None):
    """Validate inputs; ``traced``: the caller runs the traced engine. Returns
    ``(X, X2, b1, b2, symmetric, signal_dtype)`` (see :func:`_check_signal_dtype`)."""
    net.check_params(params)
    net.check_input(params, X, "X")
    dtype = jnp.asarray(params["W"][0]).dtype
    X = jnp.asarray(X, dtype)
    symmetric = X2 is None
    if not symmetric:
        net.check_input(params, X2, "X2")
        X2 = jnp.asarray(X2, dtype)
    n1 = X.shape[0]
    if block_size is None:
        block_size = TRACED_BLOCK_SIZE if traced else default_block_size(n1, symmetric)
    block_size = check_positive_int("block_size", block_size)
    n2 = n1 if symmetric else X2.shape[0]
    if symmetric:
        b1 = b2 = min(block_size, n1)
    else:
        b1, b2 = min(block_size, n1), min(block_size, n2)
    return X, X2, b1, b2, symmetric, _check_signal_dtype(signal_dtype, dtype)


def _kernels(kind: str, net, params, X, X2, block_size, signal_dtype=None) -> tuple:
    """Single-device kernels of ``kind`` ("ntk": ``(NTK,)``; "ck": ``(CK_1, ..., CK_L)``):
    the traced engine under ``jit``/``vmap``, the host tile loop otherwise."""
    traced = _is_traced(params, X, X2)
    X, X2, b1, b2, symmetric, signal_dtype = _prepare(net, params, X, X2, block_size, traced,
                                                      signal_dtype)
    arch = Arch(net)
    if traced:
        out = (_ntk_jit if kind == "ntk" else _ck_jit)(arch, params, X, X2, b1, b2, symmetric,
                                                       signal_dtype)
        return (out,) if kind == "ntk" else tuple(out)
    # the CK features carry h_0 = X along; its tile skips it
    FA = _features(kind, arch, params, X, b1, signal_dtype)
    FB = None if symmetric else _features(kind, arch, params, X2, b2, signal_dtype)
    return _eager_tiled(kind, net.depth, 1 if kind == "ntk" else net.depth, FA, FB)


def empirical_ntk(net, params: dict, X: Any, X2: Any = None, *, block_size: int | None = None,
                  sharded: bool = False, signal_dtype: Any = None) -> jax.Array:
    """Exact empirical NTK ``sum_theta df(x_i)/dtheta df(x2_j)/dtheta`` of one network.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: ``net.init``'s pytree ``{"W": [...], "w": w}``; its dtype (float32 or
        float64) is the computation dtype.
      X: ``(n1, p)`` inputs; X2: ``(n2, p)`` or None (then ``X2 = X`` and the symmetric
        structure is used: only tiles on and above the diagonal are computed).
      block_size: tile size in rows/columns (default :func:`default_block_size`, at most
        ``DEFAULT_BLOCK_SIZE`` = 2048, or ``TRACED_BLOCK_SIZE`` = 512 under ``jit``); peak
        memory beyond the output and the signals is ``O(block_size^2 * L)``.
      sharded: distribute output rows over ``jax.devices()`` (see ``kernels.sharding``).
      signal_dtype: None (default: the parameters' dtype) or ``"float64"`` for float32
        parameters: mixed precision -- the forward/backward signals (pre-activations,
        activation derivatives, ``Delta_l``) in float64, the Gram products in float32.
        For activations with a jump in ``sigma`` or ``sigma'`` (ReLU, steps) a float32
        pre-activation within rounding (~1e-7 of |g|) of a jump can land on the other
        side, which moves that sample's kernel row by O(1/d): measured at n = 2048,
        widths 1000 x 3, ReLU, 7 of 20 draws had a flip, max-entry errors 1.3e-5 .. 3.1e-3
        against float64 (1.2e-6 .. 1.5e-6 without; ``experiments/float32_relu_flips.py``).
        With float64 signals every draw stays at the Gram rounding (8e-7 .. 1.1e-6).
        Costs the float64 feature pass (O(n p d + n d^2), ~2x the float32 one; measured
        there 0.22 vs 0.155 s at n = 2048, 2.30 vs 1.92 s at n = 8192) and needs
        ``ntkcomp.enable_x64()``; the output stays float32.
    Returns:
      ``(n1, n2)`` array ``CK_L + sum_l CK_{l-1} o (Delta_l Delta2_l^T)``, in the
      parameters' dtype.
    Raises:
      ValueError: wrong feature dimension, NaN/Inf in X, block_size < 1, bad params,
        signal_dtype other than None/float32/float64 or below the parameters' dtype, or
        float64 without 64-bit JAX.
    """
    if sharded:
        from ntkcomp.kernels.sharding import sharded_empirical_ntk

        return sharded_empirical_ntk(net, params, X, X2, block_size=block_size,
                                     signal_dtype=signal_dtype)
    return _kernels("ntk", net, params, X, X2, block_size, signal_dtype)[0]


def conjugate_kernels(net, params: dict, X: Any, X2: Any = None, *,
                      block_size: int | None = None, sharded: bool = False,
                      signal_dtype: Any = None) -> list:
    """Conjugate kernels ``[CK_1, ..., CK_L]``, ``CK_l = H_l H2_l^T`` each ``(n1, n2)``.

    Same arguments as :func:`empirical_ntk` (tiled, jit-compiled, optional sharding);
    ``signal_dtype="float64"`` computes the features in float64 (it matters for step
    activations, whose features jump at their thresholds).
    """
    if sharded:
        from ntkcomp.kernels.sharding import sharded_conjugate_kernels

        return sharded_conjugate_kernels(net, params, X, X2, block_size=block_size,
                                         signal_dtype=signal_dtype)
    return list(_kernels("ck", net, params, X, X2, block_size, signal_dtype))
