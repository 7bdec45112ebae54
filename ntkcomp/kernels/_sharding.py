"""Kernel rows sharded over a 1-D device mesh (``jax.sharding``; no hand-written comms).

The output rows (equivalently the rows of ``X``) are split evenly over the ``D`` devices
of a 1-D ``Mesh`` (default: all of ``jax.devices()``, axis name ``"rows"``); the result is
a global ``jax.Array`` with ``NamedSharding(mesh, P("rows", None))``.

* Cross kernels (``X2`` given): ``X2`` and the parameters are replicated; each device runs
  the single-device tiled kernel on its row block against all of ``X2``
  (``jax.shard_map``): work per device ``n1 * n2 / D``.
* Symmetric kernels (``X2 = None``): device ``k`` computes its row block against the
  column blocks ``k, k + 1, ..., k + floor(D/2)`` (cyclically) only, into a row-sharded
  ``Z`` with ``K = Z + Z^T``: the own diagonal block enters ``Z`` halved and, for even
  ``D``, so does the block at offset ``D/2`` (which both of its devices compute). The
  transpose is left to XLA (``jit`` with sharding annotations inserts the all-to-all; no
  hand-written communication). Work per device ``(floor(D/2) + 1) / D`` of a full row
  block -- about half for large ``D`` (5/8 for ``D = 8``), the same saving as the
  single-device symmetric tiles -- and each device runs the forward/backward pass on
  only those ``floor(D/2) + 1`` blocks instead of all of ``X``. Memory: up to three
  ``(n/D, n)`` output-sized arrays per device at the end (``Z``, its transposed
  exchange, ``K``) instead of one -- pass ``X2=X`` for the full-row scheme when the
  output itself is what limits memory. Rounding differs from
  the one-device kernel only by the halving and re-adding (exact in binary floating
  point) and the tile order.

On one host with several CPU "devices" (``XLA_FLAGS=--xla_force_host_platform_device_count=8``
set before importing jax) this is how the tests check it; on a GPU/TPU pod the same code
spreads the kernel over all accelerators.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ntkcomp._validate import check_positive_int
from ntkcomp.kernels._empirical import Arch, _ck_jit, _ntk_jit, _prepare

__all__ = ["cyclic_offsets", "device_mesh", "sharded_conjugate_kernels", "sharded_empirical_ntk"]

AXIS = "rows"


def device_mesh(devices: Sequence | None = None, axis_name: str = AXIS) -> Mesh:
    """A 1-D mesh over ``devices`` (default ``jax.devices()``) with one named axis."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must be a non-empty list of jax devices")
    return Mesh(np.array(devices), (axis_name,))


def _shard_map(f, mesh, in_specs, out_specs):
    if hasattr(jax, "shard_map"):
        try:
            return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                                 check_vma=False)
        except TypeError:  # older signature
            return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs)
    from jax.experimental.shard_map import shard_map  # jax < 0.6

    return shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)


def _local_kernels(kind: str, arch: Arch, prm, xa, xb, b1: int, b2: int,
                   symmetric: bool, signal_dtype: str | None) -> tuple:
    """The traced single-device kernels of ``kind`` as a tuple (``(NTK,)`` or the L CKs);
    ``symmetric``: ``xb`` is ignored (``xa`` against itself)."""
    xb = None if symmetric else xb
    if kind == "ntk":
        return (_ntk_jit(arch, prm, xa, xb, b1, b2, symmetric, signal_dtype),)
    return tuple(_ck_jit(arch, prm, xa, xb, b1, b2, symmetric, signal_dtype))


def _n_out(kind: str, arch: Arch) -> int:
    return 1 if kind == "ntk" else arch.net.depth


@functools.lru_cache(maxsize=64)
def _sharded_fn(kind: str, arch: Arch, b1: int, b2: int, mesh: Mesh,
                signal_dtype: str | None):
    """The jitted shard_map'ed cross kernels (a tuple), built once per (kind, architecture,
    tiles, mesh): every device computes its row block against all of ``X2``."""
    axis = mesh.axis_names[0]
    row_sharded = NamedSharding(mesh, P(axis, None))
    n_out = _n_out(kind, arch)

    def local(prm, xl, x2):
        return _local_kernels(kind, arch, prm, xl, x2, b1, b2, False, signal_dtype)

    return jax.jit(_shard_map(local, mesh, (P(), P(axis, None), P()),
                              tuple(P(axis, None) for _ in range(n_out))),
                   out_shardings=tuple(row_sharded for _ in range(n_out)))


def cyclic_offsets(n_devices: int) -> list[tuple[int, float]]:
    """``[(m, weight), ...]``: device ``k`` computes block ``(k, (k + m) mod D)`` and puts
    ``weight`` times it into ``Z`` (``K = Z + Z^T``). Every unordered pair of blocks then
    gets total weight 1 and every diagonal block 1/2 + 1/2."""
    D = check_positive_int("n_devices", n_devices)
    out = [(0, 0.5)]
    for m in range(1, D // 2 + 1):
        out.append((m, 0.5 if 2 * m == D else 1.0))
    return out


@functools.lru_cache(maxsize=64)
def _symmetric_fn(kind: str, arch: Arch, b: int, mesh: Mesh, signal_dtype: str | None):
    """jitted ``X (padded, row-sharded) -> K`` by the cyclic half-row scheme (module doc)."""
    axis = mesh.axis_names[0]
    D = mesh.size
    offsets = cyclic_offsets(D)
    row_sharded = NamedSharding(mesh, P(axis, None))
    n_out = _n_out(kind, arch)

    def local(prm, xl, xfull):
        r = xl.shape[0]
        k = jax.lax.axis_index(axis)
        Z = [jnp.zeros((r, D * r), xl.dtype) for _ in range(n_out)]
        for m, w in offsets:
            j = ((k + m) % D).astype(jnp.int32)
            xj = jax.lax.dynamic_slice_in_dim(xfull, j * r, r, 0)
            blocks = _local_kernels(kind, arch, prm, xl, xj, b, b, m == 0, signal_dtype)
            Z = [jax.lax.dynamic_update_slice(z, w * t, (jnp.int32(0), j * r))
                 for z, t in zip(Z, blocks)]
        return tuple(Z)

    def full(prm, xp):
        Zs = _shard_map(local, mesh, (P(), P(axis, None), P()),
                        tuple(P(axis, None) for _ in range(n_out)))(prm, xp, xp)
        return tuple(jax.lax.with_sharding_constraint(Z + Z.T, row_sharded) for Z in Zs)

    return jax.jit(full, out_shardings=tuple(row_sharded for _ in range(n_out)))


def _sharded(kind: str, net, params, X, X2, block_size, mesh, signal_dtype):
    mesh = device_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must be 1-D, got axes {mesh.axis_names}")
    axis = mesh.axis_names[0]
    X, X2, b1, b2, symmetric, signal_dtype = _prepare(net, params, X, X2, block_size,
                                                      traced=True, signal_dtype=signal_dtype)
    n1 = X.shape[0]
    ndev = mesh.size
    pad = (-n1) % ndev
    Xp = jnp.pad(X, ((0, pad), (0, 0))) if pad else X
    rows = Xp.shape[0] // ndev
    b1 = min(b1, rows)
    replicated = NamedSharding(mesh, P())
    row_sharded = NamedSharding(mesh, P(axis, None))
    Xp = jax.device_put(Xp, row_sharded)
    params = jax.device_put(params, replicated)
    if symmetric:
        out = _symmetric_fn(kind, Arch(net), b1, mesh, signal_dtype)(params, Xp)
    else:
        X2 = jax.device_put(X2, replicated)
        out = _sharded_fn(kind, Arch(net), b1, b2, mesh, signal_dtype)(params, Xp, X2)
    if pad:  # padded rows (and, symmetric, columns) are dropped
        n2 = n1 if symmetric else X2.shape[0]
        out = tuple(K[:n1, :n2] for K in out)
    return out[0] if kind == "ntk" else list(out)


def sharded_empirical_ntk(net, params: dict, X: Any, X2: Any = None, *,
                          block_size: int | None = None, mesh: Mesh | None = None,
                          signal_dtype: Any = None) -> jax.Array:
    """:func:`empirical_ntk` with output rows sharded over ``mesh`` (default all devices).

    Returns an ``(n1, n2)`` global array sharded as ``P("rows", None)`` (when ``n1`` is
    a multiple of the device count; otherwise rows are padded, computed and dropped).
    """
    return _sharded("ntk", net, params, X, X2, block_size, mesh, signal_dtype)


def sharded_conjugate_kernels(net, params: dict, X: Any, X2: Any = None, *,
                              block_size: int | None = None, mesh: Mesh | None = None,
                              signal_dtype: Any = None) -> list:
    """:func:`conjugate_kernels` with output rows sharded over ``mesh``; list of L arrays."""
    return _sharded("ck", net, params, X, X2, block_size, mesh, signal_dtype)
