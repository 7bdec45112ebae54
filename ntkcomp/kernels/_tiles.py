"""The tile engines of the empirical kernels (``docs/theory/network.md``, section Kernels).

The output is computed in tiles of ``block_size`` rows (and columns). Without ``X2`` the
kernel is symmetric and only the tiles on and above the diagonal are computed (then
mirrored; diagonal tiles are symmetrised exactly). Two engines share the tile math:

* the host engine (concrete inputs): a host loop over the tile pairs that calls two compiled
  programs, one computing a tile (its Gram products and Hadamard sum), the other writing it
  in place into the output (a donated buffer, ``dynamic_update_slice``); keeping the GEMMs in
  their own program avoids XLA fusing the Hadamard sum into the mirrored, transposed write.
* the traced engine (:func:`ntk_jit`, :func:`ck_jit`): the same computation as one traceable
  program (the tile loop unrolled up to ``STATIC_TILE_LIMIT`` tiles, a ``fori_loop`` above),
  for callers that are themselves traced (Monte Carlo draws, ``shard_map``).

Peak memory is about ``n1 n2`` (output) + ``(n1 + n2) (p + 2 sum_l d_l)`` (signals) +
``O(block_size^2 L)`` elements.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ntkcomp.kernels._signals import STATIC_TILE_LIMIT, dot_t, signals

__all__ = ["ck_jit", "eager_tiled", "features", "ntk_jit"]


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
        K = dot_t(hA[L], hB[L])
        for l in range(L):  # CK_{l} o (Delta_{l+1} Delta2_{l+1}^T)
            K = K + dot_t(hA[l], hB[l]) * dot_t(dA[l], dB[l])
        return (K,)

    return tile


def _ck_tile(L: int):
    def tile(A, B):
        return tuple(dot_t(A[l], B[l]) for l in range(1, L + 1))

    return tile


@partial(jax.jit, static_argnames=("arch", "b1", "b2", "symmetric", "signal_dtype"))
def ntk_jit(arch, params, X, X2, b1, b2, symmetric, signal_dtype=None):
    net = arch.net
    FA = signals("ntk", net, params, X, signal_dtype)
    FB = None if symmetric else signals("ntk", net, params, X2, signal_dtype)
    return _tiled(_ntk_tile(net.depth), FA, FB, b1, b2, 1)[0]


@partial(jax.jit, static_argnames=("arch", "b1", "b2", "symmetric", "signal_dtype"))
def ck_jit(arch, params, X, X2, b1, b2, symmetric, signal_dtype=None):
    net = arch.net
    FA = signals("ck", net, params, X, signal_dtype)
    FB = None if symmetric else signals("ck", net, params, X2, signal_dtype)
    return list(_tiled(_ck_tile(net.depth), FA, FB, b1, b2, net.depth))


# --------------------------------------------------------------------------- host engine
@partial(jax.jit, static_argnames=("kind", "L"))
def _tile_program(A, B, kind: str, L: int):
    """One tile ``(A_blocks, B_blocks) -> tuple of tiles`` (compiled per kind, L, shapes)."""
    return (_ntk_tile(L) if kind == "ntk" else _ck_tile(L))(A, B)


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


def eager_tiled(kind: str, L: int, n_out: int, FA: tuple, FB: tuple | None) -> tuple:
    """Host loop over tile pairs (see the module docstring); ``FA``/``FB`` are row blocks
    from :func:`_split_rows` (``FB = None``: symmetric). Returns ``n_out`` arrays."""
    tile = partial(_tile_program, kind=kind, L=L)
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
def features(kind, arch, params, X, b, signal_dtype=None):
    return _split_rows(signals(kind, arch.net, params, X, signal_dtype), b)
