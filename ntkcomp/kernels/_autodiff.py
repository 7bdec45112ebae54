"""Autodiff reference for the empirical NTK (tests only: forms the full Jacobian).

``ntk_autodiff(net, params, X, X2)`` flattens all parameters ``theta = (W_1..W_L, w)``,
builds the Jacobians ``J = df(X)/dtheta: (n1, P)`` and ``J2: (n2, P)`` with
``jax.jacrev`` and returns ``J J2^T``. Memory ``O((n1 + n2) P)``: small networks only.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ntkcomp.kernels._signals import Arch

__all__ = ["jacobian", "ntk_autodiff"]


@partial(jax.jit, static_argnums=0)
def _jacobian(arch, params: dict, X: jax.Array) -> jax.Array:
    net = arch.net
    theta, unravel = ravel_pytree(params)

    def f(th):
        prm = unravel(th)
        return net.preactivations_and_features(prm, X)[1][-1] @ prm["w"]

    return jax.jacrev(f)(theta)


def jacobian(net, params: dict, X: Any) -> jax.Array:
    """``df(X)/dtheta`` of shape ``(n, P)``, theta = ravel_pytree(params) (jax.jacrev)."""
    net.check_params(params)
    net.check_input(params, X)
    X = jnp.asarray(X, jnp.asarray(params["w"]).dtype)
    return _jacobian(Arch(net), params, X)


def ntk_autodiff(net, params: dict, X: Any, X2: Any = None) -> jax.Array:
    """Reference empirical NTK ``J(X) J(X2)^T`` via the full Jacobian (small networks only).

    Memory ``O(n P)`` for ``P`` parameters: a second implementation to test
    :func:`empirical_ntk` against, not for large sizes.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      params: its parameters.
      X: ``(n1, p)`` inputs.
      X2: ``(n2, p)`` inputs, or None (``X2 = X``).

    Returns:
      The ``(n1, n2)`` NTK in the parameters' dtype."""
    J1 = jacobian(net, params, X)
    J2 = J1 if X2 is None else jacobian(net, params, X2)
    return jnp.matmul(J1, J2.T, precision=jax.lax.Precision.HIGHEST)
