"""Linear operators as values: the protocol every spectral function accepts.

A symmetric kernel ``K: (n, n)`` reaches the spectral functions as one of

* an array (NumPy, JAX, or anything ``np.asarray`` turns into an ``(n, n)`` matrix);
* a :class:`LinearOperator`: an object with ``shape == (n, n)`` and ``matvec(v)`` computing
  ``K v`` for ``v: (n,)`` (and, optionally, ``dense()`` returning ``K``);
* a plain callable ``v -> K v`` together with the size ``n``.

:func:`as_operator` turns any of them into a *pytree* callable ``v -> K v`` that the
compiled Lanczos / Chebyshev loops take as an argument: when the object is itself a pytree
whose leaves are arrays (a registered pytree class, an equinox module,
``jax.tree_util.Partial(f, K)``) its arrays stay runtime arguments, so a multi-GB kernel is
never baked into a compiled program; any other callable becomes static data of the program.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.tree_util import Partial, register_pytree_node_class

from ntkcomp._mesh import ROW_AXIS, device_mesh

__all__ = ["DenseOperator", "LinearOperator", "as_operator", "dense_of", "is_matrix",
           "operator_size", "shard_rows"]


@runtime_checkable
class LinearOperator(Protocol):
    """A symmetric linear map ``K: (n, n)`` given by its action on vectors.

    An implementation has a ``shape`` ``(n, n)`` and a method ``matvec(v)`` returning
    ``K v`` for ``v`` of shape ``(n,)`` (batched over probe vectors with ``jax.vmap``). An
    optional ``dense()`` returns the ``(n, n)`` matrix (used by the exact dense paths instead
    of ``n`` products).

    Attributes:
      shape: ``(n, n)``.
    """

    shape: tuple

    def matvec(self, v: jax.Array) -> jax.Array:
        """``K v`` for ``v: (n,)``."""


def _apply_matvec(op, v):
    return op.matvec(v)


@register_pytree_node_class
class DenseOperator:
    """Operator of a stored kernel ``K (n, n)``: ``matvec(v) = K v`` in ``K.dtype``.

    Args:
      K: ``(n, n)`` array (kept as is; rows may be sharded, see :func:`shard_rows`).
    """

    def __init__(self, K):
        self.K = K

    @property
    def shape(self) -> tuple:
        return tuple(self.K.shape)

    @property
    def n(self) -> int:
        return self.K.shape[0]

    @property
    def dtype(self):
        return self.K.dtype

    def matvec(self, v):
        out = jnp.matmul(self.K, v.astype(self.K.dtype), precision=lax.Precision.HIGHEST)
        return out.astype(v.dtype)

    __call__ = matvec

    def dense(self):
        return self.K

    def tree_flatten(self):
        return (self.K,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def is_matrix(obj: Any) -> bool:
    """True for array-likes (``ndim``/``shape``, or nested sequences) that are not operators."""
    if hasattr(obj, "matvec") or callable(obj):
        return False
    return hasattr(obj, "shape") or isinstance(obj, (list, tuple))


def operator_size(obj: Any, n: int | None = None) -> int:
    """The size ``n`` of a square matrix, a :class:`LinearOperator` or a callable (``n``).

    Raises:
      ValueError: a non-square matrix or shape, or a plain callable without ``n``.
    """
    shape = getattr(obj, "shape", None)
    if shape is None and isinstance(obj, (list, tuple)):
        shape = np.shape(obj)
    if shape is not None:
        shape = tuple(shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"the matrix or operator must be square (n, n), got shape {shape}")
        return int(shape[0])
    size = getattr(obj, "n", n)
    if size is None:
        raise ValueError("n is required when a matvec callable is given")
    return int(size)


def _all_array_leaves(obj) -> bool:
    leaves = jax.tree_util.tree_leaves(obj)
    return bool(leaves) and all(isinstance(x, (jax.Array, np.ndarray)) for x in leaves)


def as_operator(obj: Any) -> Callable:
    """A pytree callable ``v -> K v`` for an array, a :class:`LinearOperator` or a callable.

    Arrays become a :class:`DenseOperator`; operators whose pytree leaves are all arrays are
    wrapped so that those arrays stay arguments of the compiled loops; other callables become
    static. Raises ValueError for anything else.
    """
    if is_matrix(obj):
        K = jnp.asarray(obj)
        operator_size(K)
        return DenseOperator(K)
    if hasattr(obj, "matvec"):
        if _all_array_leaves(obj):
            return Partial(_apply_matvec, obj)
        return Partial(obj.matvec)
    if not callable(obj):
        raise ValueError("expected an (n, n) array, an operator with .matvec or a callable "
                         f"v -> K v, got {type(obj).__name__}")
    if isinstance(obj, Partial) or _all_array_leaves(obj):
        return obj
    return Partial(obj)


def dense_of(obj: Any, n: int, dtype=None) -> np.ndarray:
    """``K`` as a float64 ``(n, n)`` NumPy array: the array itself, ``obj.dense()`` (or
    ``to_dense()``) when the operator has it, else ``n`` products with the identity."""
    if is_matrix(obj):
        return np.asarray(obj, dtype=np.float64)
    for name in ("dense", "to_dense"):
        if callable(getattr(obj, name, None)):
            return np.asarray(getattr(obj, name)(), dtype=np.float64)
    dtype = dtype or jnp.zeros(()).dtype
    eye = jnp.eye(n, dtype=dtype)
    try:
        cols = jax.vmap(as_operator(obj), in_axes=1, out_axes=1)(eye)
    except jax.errors.JAXTypeError:
        if hasattr(obj, "matvec") or _all_array_leaves(obj):
            raise
        # a plain callable that needs concrete vectors: one product per column
        eye = np.asarray(eye)
        return np.stack([np.asarray(obj(eye[:, j]), np.float64) for j in range(n)], axis=1)
    return np.asarray(cols, dtype=np.float64)


def shard_rows(op, mesh: Mesh | None = None, axis_name: str = ROW_AXIS, *, n: int | None = None):
    """``op`` with every array whose leading axis is ``n`` sharded by rows over ``mesh``.

    Args:
      op: a pytree operator (leaves: arrays); stored transposes ``(d, n)`` are sharded by
        columns, other leaves replicated.
      mesh: a 1-D ``jax.sharding.Mesh`` (default: all of ``jax.devices()``, over every
        process of a ``jax.distributed`` run).
      axis_name: the mesh axis name when ``mesh`` is None.
      n: the size when ``op`` has no ``shape``/``n`` (e.g. a wrapped operator).
    Raises:
      ValueError: a mesh with several axes, or ``n`` not divisible by the number of devices.
    """
    mesh = device_mesh(axis_name=axis_name) if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must be 1-D, got axes {mesh.axis_names}")
    axis = mesh.axis_names[0]
    n = operator_size(op, n)
    if n % mesh.size:
        raise ValueError(f"n = {n} must be divisible by the number of devices {mesh.size}")

    def place(x):
        x = np.asarray(x)  # the same on every process of a jax.distributed run
        if x.ndim >= 1 and x.shape[0] == n:
            spec = P(axis, *([None] * (x.ndim - 1)))
        elif x.ndim == 2 and x.shape[1] == n:
            spec = P(None, axis)
        else:
            spec = P()
        return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec),
                                            lambda idx: x[idx])

    leaves, treedef = jax.tree_util.tree_flatten(op)
    return jax.tree_util.tree_unflatten(treedef, [place(x) for x in leaves])
