"""Kernel rows sharded over all devices of all processes (``jax.sharding``, ``shard_map``).

The output rows (the rows of ``X``) are split evenly over the ``D`` devices of a 1-D mesh
(default: every device of every process, ``jax.devices()``, axis ``"rows"``); the result is a
global ``jax.Array`` with ``NamedSharding(mesh, P("rows", None))``. With several processes
(``jax.distributed.initialize``) every process calls the function with the same ``X`` and
parameters and gets the same global array, of which it holds its devices' rows; nothing
but JAX's own runtime moves data.

* Cross kernels (``X2`` given): ``X2`` and the parameters are replicated; each device runs
  the single-device tiled kernel on its row block against all of ``X2``: work ``n1 n2 / D``.
* Symmetric kernels (``X2 = None``): device ``k`` computes its row block against the column
  blocks ``k, k + 1, ..., k + floor(D/2)`` (cyclically) only, into a row-sharded ``Z`` with
  ``K = Z + Z^T``: the own diagonal block enters ``Z`` halved and, for even ``D``, so does the
  block at offset ``D/2`` (computed by both of its devices); XLA inserts the exchange of the
  transpose. Work per device ``(floor(D/2) + 1) / D`` of a full row block; memory up to three
  ``(n/D, n)`` arrays per device (pass ``X2=X`` for the full-row scheme when the output is
  what limits memory). Rounding differs from the one-device kernel only by the halving and
  re-adding (exact in binary floating point) and the tile order.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ntkcomp._mesh import device_mesh
from ntkcomp._validate import check_positive_int
from ntkcomp.kernels._memory import check_fits
from ntkcomp.kernels._signals import Arch, prepare
from ntkcomp.kernels._tiles import ck_jit, ntk_jit

__all__ = ["cyclic_offsets", "sharded_conjugate_kernels", "sharded_empirical_ntk"]


def _shard_map(f, mesh, in_specs, out_specs):
    return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)


def _local_kernels(kind: str, arch: Arch, prm, xa, xb, b1: int, b2: int,
                   symmetric: bool, signal_dtype: str | None) -> tuple:
    """The traced single-device kernels of ``kind`` as a tuple (``(NTK,)`` or the L CKs);
    ``symmetric``: ``xb`` is ignored (``xa`` against itself)."""
    xb = None if symmetric else xb
    if kind == "ntk":
        return (ntk_jit(arch, prm, xa, xb, b1, b2, symmetric, signal_dtype),)
    return tuple(ck_jit(arch, prm, xa, xb, b1, b2, symmetric, signal_dtype))


def _n_out(kind: str, arch: Arch) -> int:
    return 1 if kind == "ntk" else arch.net.depth


@partial(jax.jit, static_argnames=("kind", "arch", "b1", "b2", "mesh", "signal_dtype",
                                   "n1", "n2"))
def _cross(prm, xp, x2, *, kind: str, arch: Arch, b1: int, b2: int, mesh: Mesh,
           signal_dtype: str | None, n1: int, n2: int):
    """Cross kernels (a tuple): every device computes its row block against all of ``X2``;
    padded rows are dropped."""
    axis = mesh.axis_names[0]
    n_out = _n_out(kind, arch)

    def local(prm, xl, x2):
        return _local_kernels(kind, arch, prm, xl, x2, b1, b2, False, signal_dtype)

    Ks = _shard_map(local, mesh, (P(), P(axis, None), P()),
                    tuple(P(axis, None) for _ in range(n_out)))(prm, xp, x2)
    return tuple(_rows(K[:n1, :n2], mesh) for K in Ks)


def _rows(K, mesh):
    return jax.lax.with_sharding_constraint(K, NamedSharding(mesh, P(mesh.axis_names[0], None)))


def cyclic_offsets(n_devices: int) -> list[tuple[int, float]]:
    """``[(m, weight), ...]``: device ``k`` computes block ``(k, (k + m) mod D)`` and puts
    ``weight`` times it into ``Z`` (``K = Z + Z^T``). Every unordered pair of blocks then
    gets total weight 1 and every diagonal block 1/2 + 1/2."""
    D = check_positive_int("n_devices", n_devices)
    out = [(0, 0.5)]
    for m in range(1, D // 2 + 1):
        out.append((m, 0.5 if 2 * m == D else 1.0))
    return out


@partial(jax.jit, static_argnames=("kind", "arch", "b", "mesh", "signal_dtype", "n1"))
def _symmetric(prm, xp, *, kind: str, arch: Arch, b: int, mesh: Mesh,
               signal_dtype: str | None, n1: int):
    """``X (padded, row-sharded) -> K`` by the cyclic half-row scheme (module docstring)."""
    axis = mesh.axis_names[0]
    D = mesh.size
    offsets = cyclic_offsets(D)
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

    Zs = _shard_map(local, mesh, (P(), P(axis, None), P()),
                    tuple(P(axis, None) for _ in range(n_out)))(prm, xp, xp)
    return tuple(_rows((Z + Z.T)[:n1, :n1], mesh) for Z in Zs)


def _global(x, sharding):
    """The host array ``x`` (the same on every process) as a global array with ``sharding``."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _sharded(kind: str, net, params, X, X2, block_size, mesh, signal_dtype):
    mesh = device_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must be 1-D, got axes {mesh.axis_names}")
    axis = mesh.axis_names[0]
    X, X2, b1, b2, symmetric, signal_dtype = prepare(net, params, X, X2, block_size,
                                                     traced=True, signal_dtype=signal_dtype)
    n1 = X.shape[0]
    n2 = n1 if symmetric else X2.shape[0]
    ndev = mesh.size
    pad = (-n1) % ndev
    rows = (n1 + pad) // ndev
    check_fits(f"sharded {kind} kernel (rows per device)",
               (3 if symmetric else 1) * _n_out(kind, Arch(net)) * rows * (n2 + pad)
               * X.dtype.itemsize)
    Xp = np.pad(np.asarray(X), ((0, pad), (0, 0))) if pad else np.asarray(X)
    replicated = NamedSharding(mesh, P())
    Xp = _global(Xp, NamedSharding(mesh, P(axis, None)))
    params = jax.tree_util.tree_map(lambda a: _global(a, replicated), params)
    b1 = min(b1, rows)
    if symmetric:
        out = _symmetric(params, Xp, kind=kind, arch=Arch(net), b=b1, mesh=mesh,
                         signal_dtype=signal_dtype, n1=n1)
    else:
        out = _cross(params, Xp, _global(X2, replicated), kind=kind, arch=Arch(net), b1=b1,
                     b2=b2, mesh=mesh, signal_dtype=signal_dtype, n1=n1, n2=n2)
    return out[0] if kind == "ntk" else list(out)


def sharded_empirical_ntk(net, params: dict, X: Any, X2: Any = None, *,
                          block_size: int | None = None, mesh: Mesh | None = None,
                          signal_dtype: Any = None) -> jax.Array:
    """:func:`ntkcomp.kernels.empirical_ntk` with its rows over all devices of all processes.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: its parameters (the same in every process).
      X: ``(n1, p)`` inputs (the same in every process).
      X2: ``(n2, p)`` inputs, or None (``X2 = X``).
      block_size: tile size (as for :func:`ntkcomp.kernels.empirical_ntk`).
      signal_dtype: None or ``"float64"`` (as for :func:`ntkcomp.kernels.empirical_ntk`).
      mesh: a 1-D ``jax.sharding.Mesh`` (default: every device of every process, axis
        ``"rows"``).

    Returns:
      The ``(n1, n2)`` NTK as a global ``jax.Array`` sharded as ``P("rows", None)`` (rows are
      padded to a multiple of the device count internally and dropped). Each process holds
      its devices' rows (``K.addressable_shards``); ``np.asarray(K)`` works in a single
      process, and ``jax.experimental.multihost_utils.process_allgather(K, tiled=True)``
      gives every process the whole matrix.

    Raises:
      ValueError: as ``empirical_ntk``; a mesh with several axes; rows per device larger
        than the available memory.

    Several processes (one per host, or several per host), with JAX's own runtime: start the
    same script on every host, each calling ``jax.distributed.initialize`` first::

        # on host i of N (i = 0 .. N-1); host 0's address is the coordinator
        python my_script.py   # which begins with:
        #   import jax
        #   jax.distributed.initialize(coordinator_address="HOST0:1234",
        #                              num_processes=N, process_id=i)
        #   K = ntkcomp.kernels.sharded_empirical_ntk(net, params, X)

    On clusters that JAX detects (SLURM, Open MPI, TPU pods) ``jax.distributed.initialize()``
    needs no arguments (e.g. ``srun --ntasks=N python my_script.py``). On CPU-only hosts
    enable the collectives first:
    ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``.
    """
    return _sharded("ntk", net, params, X, X2, block_size, mesh, signal_dtype)


def sharded_conjugate_kernels(net, params: dict, X: Any, X2: Any = None, *,
                              block_size: int | None = None, mesh: Mesh | None = None,
                              signal_dtype: Any = None) -> list:
    """:func:`ntkcomp.kernels.conjugate_kernels` with rows over all devices of all processes.

    Same launch and results as :func:`sharded_empirical_ntk`.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: its parameters (the same in every process).
      X: ``(n1, p)`` inputs (the same in every process).
      X2: ``(n2, p)`` inputs, or None (``X2 = X``).
      block_size: tile size (as for :func:`ntkcomp.kernels.empirical_ntk`).
      mesh: a 1-D ``jax.sharding.Mesh`` (default: every device of every process, axis
        ``"rows"``).
      signal_dtype: None or ``"float64"`` (as for :func:`ntkcomp.kernels.empirical_ntk`).

    Returns:
      A list of ``L`` global ``(n1, n2)`` arrays sharded as ``P("rows", None)``.

    Raises:
      ValueError: as :func:`sharded_empirical_ntk`.
    """
    return _sharded("ck", net, params, X, X2, block_size, mesh, signal_dtype)
