"""Signals of one network for its kernels: forward/backward passes, input checks, tile sizes.

Conventions (see the theory page ``docs/theory/network.md``, section Kernels; batch first):
``g_l = h_{l-1} @ W_l``, ``h_l = (sigma_l(g_l) - m_l)/sqrt(d_l)``, ``f = h_L @ w``; the
backward signals ``Delta_l = df/dg_l: (n, d_l)`` are

    Delta_L     = w o sigma_L'(g_L) / sqrt(d_L)
    Delta_{l-1} = (Delta_l @ W_l^T) o sigma_{l-1}'(g_{l-1}) / sqrt(d_{l-1}).

Tile sizes: the host engine uses :func:`default_block_size` (capped by the memory of the
device, :func:`ntkcomp.kernels._memory.tile_cap`), the traced engine ``TRACED_BLOCK_SIZE``.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ntkcomp._validate import check_positive_int
from ntkcomp.kernels._memory import tile_cap

__all__ = ["DEFAULT_BLOCK_SIZE", "STATIC_TILE_LIMIT", "TRACED_BLOCK_SIZE", "Arch",
           "default_block_size", "dot_t", "forward_backward", "is_traced", "prepare",
           "signals"]

#: largest default tile (rows) of the host engine; kernels below ``1536`` rows are one tile.
DEFAULT_BLOCK_SIZE = 1024
#: tile size of the traced engine (under ``jit``/``shard_map``), where small tiles are faster.
TRACED_BLOCK_SIZE = 512
#: the traced engine unrolls its tile loop up to this many tiles and loops above it.
STATIC_TILE_LIMIT = 64

_PRECISION = lax.Precision.HIGHEST  # true float32 on accelerators (no TF32); no-op on CPU


def dot_t(A: jax.Array, B: jax.Array) -> jax.Array:
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



def signals(kind: str, net, params, X, signal_dtype: str | None) -> tuple:
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


def is_traced(*xs) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


def default_block_size(n: int, symmetric: bool = True, *, itemsize: int = 4,
                       factors: int = 7) -> int:
    """Tile size of the host engine when ``block_size=None``.

    A symmetric kernel below 1536 rows is one tile. Above, it is cut into
    ``nb = max(4, ceil(n / DEFAULT_BLOCK_SIZE))`` row blocks, rounded up to a multiple of 128
    rows (GEMM friendly): a symmetric kernel in ``nb`` blocks costs ``(nb + 1) / (2 nb)`` of the
    dense flops. The result never exceeds the device's tile budget
    (:func:`ntkcomp.kernels._memory.tile_cap` with ``factors`` tile-sized temporaries of
    ``itemsize`` bytes).

    Args:
      n: rows of the kernel; symmetric: ``X2 is None``.
      itemsize: bytes per element; factors: tile-sized temporaries (``2 L + 1`` for the NTK).
    Returns:
      The tile size in rows, ``1 <= b <= n``.
    """
    cap = tile_cap(itemsize, factors)
    if symmetric and n < 1536:
        return max(1, min(n, cap))
    if not symmetric:
        return max(1, min(n, DEFAULT_BLOCK_SIZE, cap))
    nb = max(4, -(-n // DEFAULT_BLOCK_SIZE))
    b = -(-n // nb)
    return max(1, min(-(-b // 128) * 128, DEFAULT_BLOCK_SIZE, cap))


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



def prepare(net, params, X, X2, block_size, traced: bool, signal_dtype=None):
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
        block_size = TRACED_BLOCK_SIZE if traced else default_block_size(n1, symmetric, itemsize=jnp.dtype(dtype).itemsize,
                                        factors=2 * net.depth + 1)
    block_size = check_positive_int("block_size", block_size)
    n2 = n1 if symmetric else X2.shape[0]
    if symmetric:
        b1 = b2 = min(block_size, n1)
    else:
        b1, b2 = min(block_size, n1), min(block_size, n2)
    return X, X2, b1, b2, symmetric, _check_signal_dtype(signal_dtype, dtype)
