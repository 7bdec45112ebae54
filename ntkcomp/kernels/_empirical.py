"""Empirical kernels of one network: conjugate kernels per layer and the exact NTK.

Conventions (see the theory page ``docs/theory/network.md``, section Kernels; batch first): ``g_l = h_{l-1} @ W_l``,
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
Tiles and engines: :mod:`ntkcomp.kernels._tiles`; before the output is allocated its memory
is estimated and compared with the device's (:mod:`ntkcomp.kernels._memory`).
"""
from __future__ import annotations

from typing import Any

import jax

from ntkcomp.kernels._memory import check_fits
from ntkcomp.kernels._sharding import sharded_conjugate_kernels, sharded_empirical_ntk
from ntkcomp.kernels._signals import Arch, is_traced, prepare
from ntkcomp.kernels._tiles import ck_jit, eager_tiled, features, ntk_jit

__all__ = ["conjugate_kernels", "empirical_ntk", "kernels"]


def kernels(kind: str, net, params, X, X2, block_size, signal_dtype=None,
            max_bytes: int | None = None) -> tuple:
    """Single-device kernels of ``kind`` ("ntk": ``(NTK,)``; "ck": ``(CK_1, ..., CK_L)``):
    the traced engine under ``jit``/``vmap``, the host tile loop otherwise."""
    traced = is_traced(params, X, X2)
    X, X2, b1, b2, symmetric, signal_dtype = prepare(net, params, X, X2, block_size, traced,
                                                     signal_dtype)
    n1 = X.shape[0]
    n2 = n1 if symmetric else X2.shape[0]
    n_out = 1 if kind == "ntk" else net.depth
    if not traced:
        check_fits(f"{kind} kernel", n_out * n1 * n2 * X.dtype.itemsize, max_bytes)
    arch = Arch(net)
    if traced:
        out = (ntk_jit if kind == "ntk" else ck_jit)(arch, params, X, X2, b1, b2, symmetric,
                                                     signal_dtype)
        return (out,) if kind == "ntk" else tuple(out)
    # the CK features carry h_0 = X along; its tile skips it
    FA = features(kind, arch, params, X, b1, signal_dtype)
    FB = None if symmetric else features(kind, arch, params, X2, b2, signal_dtype)
    return eager_tiled(kind, net.depth, n_out, FA, FB)


def empirical_ntk(net, params: dict, X: Any, X2: Any = None, *, block_size: int | None = None,
                  sharded: bool = False, signal_dtype: Any = None,
                  max_bytes: int | None = None) -> jax.Array:
    """Exact empirical NTK ``sum_theta df(x_i)/dtheta df(x2_j)/dtheta`` of one network.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: ``net.init``'s pytree ``{"W": [...], "w": w}``; its dtype (float32 or
        float64) is the computation dtype.
      X: ``(n1, p)`` inputs.
      X2: ``(n2, p)`` inputs, or None (then ``X2 = X`` and only the tiles on and above the
        diagonal are computed).
      block_size: tile size in rows/columns (default: ``default_block_size`` of the host
        engine, ``TRACED_BLOCK_SIZE`` under ``jit``); extra memory ``O(block_size^2 L)``.
      sharded: distribute the output rows over all devices
        (:func:`ntkcomp.kernels.sharded_empirical_ntk`).
      signal_dtype: None (the parameters' dtype) or ``"float64"`` with float32 parameters:
        the forward/backward signals in float64, the Gram products in float32, so that a
        pre-activation within rounding of a jump of ``sigma`` or ``sigma'`` (ReLU, steps) is
        evaluated on the side its exact value is on. Needs ``ntkcomp.enable_x64()``; the
        output stays float32.
      max_bytes: memory limit for the output (default: the free memory of the device, or
        the host's available RAM on CPU); pass a larger value to override the check.

    Returns:
      ``(n1, n2)`` array ``CK_L + sum_l CK_(l-1) o (Delta_l Delta2_l^T)`` in the parameters'
      dtype.

    Raises:
      ValueError: wrong feature dimension, NaN/Inf in X, block_size < 1, bad params,
        signal_dtype other than None/float32/float64 or below the parameters' dtype,
        float64 without 64-bit JAX, or an output larger than the available memory (the
        message gives the estimate and the available memory).
    """
    if sharded:
        return sharded_empirical_ntk(net, params, X, X2, block_size=block_size,
                                     signal_dtype=signal_dtype)
    return kernels("ntk", net, params, X, X2, block_size, signal_dtype, max_bytes)[0]


def conjugate_kernels(net, params: dict, X: Any, X2: Any = None, *,
                      block_size: int | None = None, sharded: bool = False,
                      signal_dtype: Any = None, max_bytes: int | None = None) -> list:
    """Conjugate kernels ``[CK_1, ..., CK_L]``, ``CK_l = H_l H2_l^T`` each ``(n1, n2)``.

    Same dtype rules and errors as :func:`empirical_ntk`. See the theory page
    ``docs/theory/network.md`` (section Kernels).

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: ``net.init``'s pytree; its dtype is the computation dtype.
      X: ``(n1, p)`` inputs.
      X2: ``(n2, p)`` inputs, or None (then ``X2 = X``).
      block_size: tile size in rows/columns (as for :func:`empirical_ntk`).
      sharded: distribute the output rows over all devices
        (:func:`ntkcomp.kernels.sharded_conjugate_kernels`).
      signal_dtype: None or ``"float64"``: the features in float64 (it matters for step
        activations, whose features jump at their thresholds).
      max_bytes: memory limit for the outputs (as for :func:`empirical_ntk`).

    Returns:
      A list of ``L`` arrays of shape ``(n1, n2)``.

    Raises:
      ValueError: as :func:`empirical_ntk`.
    """
    if sharded:
        return sharded_conjugate_kernels(net, params, X, X2, block_size=block_size,
                                         signal_dtype=signal_dtype)
    return list(kernels("ck", net, params, X, X2, block_size, signal_dtype, max_bytes))
