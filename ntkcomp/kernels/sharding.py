"""Kernel rows sharded over a 1-D device mesh (``jax.sharding``; no hand-written comms).

The output rows (equivalently the rows of ``X``) are split evenly over the devices of a
1-D ``Mesh`` (default: all of ``jax.devices()``, axis name ``"rows"``); ``X2`` and the
parameters are replicated. Each device runs the single-device tiled kernel on its row
block against all of ``X2`` (``jax.shard_map``); the result is a global ``jax.Array``
with ``NamedSharding(mesh, P("rows", None))``. The symmetric shortcut is not used
(each device computes full rows), so the work per device is ``n1 * n2 / n_devices``.

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

from ntkcomp.kernels.empirical import Arch, _ck_jit, _ntk_jit, _prepare

__all__ = ["device_mesh", "sharded_conjugate_kernels", "sharded_empirical_ntk"]

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


@functools.lru_cache(maxsize=64)
def _sharded_fn(kind: str, arch: Arch, b1: int, b2: int, mesh: Mesh):
    """The jitted shard_map'ed kernel, built once per (kind, architecture, tiles, mesh)."""
    axis = mesh.axis_names[0]
    row_sharded = NamedSharding(mesh, P(axis, None))
    if kind == "ntk":
        def local(prm, xl, x2):
            return _ntk_jit(arch, prm, xl, x2, b1, b2, False)

        out_specs = P(axis, None)
        out_shardings = row_sharded
    else:
        def local(prm, xl, x2):
            return tuple(_ck_jit(arch, prm, xl, x2, b1, b2, False))

        out_specs = tuple(P(axis, None) for _ in range(arch.net.depth))
        out_shardings = tuple(row_sharded for _ in range(arch.net.depth))
    return jax.jit(_shard_map(local, mesh, (P(), P(axis, None), P()), out_specs),
                   out_shardings=out_shardings)


def _sharded(kind: str, net, params, X, X2, block_size, mesh):
    mesh = device_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must be 1-D, got axes {mesh.axis_names}")
    axis = mesh.axis_names[0]
    X, X2, b1, b2, symmetric = _prepare(net, params, X, X2, block_size, traced=True)
    if symmetric:
        X2 = X
        b2 = b1
    n1 = X.shape[0]
    ndev = mesh.size
    pad = (-n1) % ndev
    Xp = jnp.pad(X, ((0, pad), (0, 0))) if pad else X
    rows = Xp.shape[0] // ndev
    b1 = min(b1, rows)
    replicated = NamedSharding(mesh, P())
    row_sharded = NamedSharding(mesh, P(axis, None))
    Xp = jax.device_put(Xp, row_sharded)
    X2 = jax.device_put(X2, replicated)
    params = jax.device_put(params, replicated)

    f = _sharded_fn(kind, Arch(net), b1, b2, mesh)
    out = f(params, Xp, X2)
    if pad:
        out = jax.tree.map(lambda K: K[:n1], out)
    return out if kind == "ntk" else list(out)


def sharded_empirical_ntk(net, params: dict, X: Any, X2: Any = None, *,
                          block_size: int | None = None, mesh: Mesh | None = None) -> jax.Array:
    """:func:`empirical_ntk` with output rows sharded over ``mesh`` (default all devices).

    Returns an ``(n1, n2)`` global array sharded as ``P("rows", None)`` (when ``n1`` is
    a multiple of the device count; otherwise rows are padded, computed and dropped).
    """
    return _sharded("ntk", net, params, X, X2, block_size, mesh)


def sharded_conjugate_kernels(net, params: dict, X: Any, X2: Any = None, *,
                              block_size: int | None = None, mesh: Mesh | None = None) -> list:
    """:func:`conjugate_kernels` with output rows sharded over ``mesh``; list of L arrays."""
    return _sharded("ck", net, params, X, X2, block_size, mesh)
