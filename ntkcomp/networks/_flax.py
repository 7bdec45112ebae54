"""The MLP as a ``flax.linen`` module (same forward pass, for training with optax).

Parameter names: ``W_0 .. W_{L-1}`` (shape ``(d_{l-1}, d_l)``, flax ``Dense.kernel``
layout) and ``w`` (``(d_L,)``). :func:`to_flax_variables` / :func:`from_flax_variables`
convert between ``MLP.init``'s pytree ``{"W": [...], "w": w}`` and flax variables, so
``net.as_flax().apply(to_flax_variables(params), X) == net.apply(params, X)``. flax is
imported only when :func:`flax_module` is called (it is an optional dependency).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def flax_module(net, dtype: Any = None):
    """A ``flax.linen.Module`` computing ``net``'s forward pass, ``X (n, p) -> (n,)``.

    ``f(X) = h_L @ w`` with ``h_l = (sigma_l(h_{l-1} @ W_l) - m_l) / sqrt(d_l)``. Its
    ``init`` draws ``W_l`` from the layer's weight law and ``w`` from ``N(0, 1)``, like
    ``MLP.init`` (not the same random numbers).

    Args:
      net: an ``ntkcomp.networks.MLP``.
      dtype: computation dtype (default: the input's).

    Raises:
      ImportError: flax is not installed.
    """
    import flax.linen as nn   # optional dependency, imported on use

    class FlaxMLP(nn.Module):
        """The flax view of an ``ntkcomp.networks.MLP``."""

        @nn.compact
        def __call__(self, X: jax.Array) -> jax.Array:
            dt = dtype or jnp.asarray(X).dtype
            h = jnp.asarray(X, dt)
            for l, (d, act, law, m) in enumerate(zip(net.widths, net.activations,
                                                     net.weight_laws, net.centers)):
                W = self.param(f"W_{l}", lambda k, shape, law=law: law.sample(k, shape, dt),
                               (h.shape[-1], d))
                g = h @ W
                h = (act(g) - jnp.asarray(m, g.dtype)) / jnp.sqrt(jnp.asarray(d, g.dtype))
            w = self.param("w", lambda k, shape: jax.random.normal(k, shape, dt),
                           (net.widths[-1],))
            return h @ w

    return FlaxMLP()


def to_flax_variables(params: dict) -> dict:
    """``{"W": [W_1..W_L], "w": w}`` -> ``{"params": {"W_0": W_1, ..., "w": w}}``."""
    inner = {f"W_{l}": W for l, W in enumerate(params["W"])}
    inner["w"] = params["w"]
    return {"params": inner}


def from_flax_variables(variables: dict) -> dict:
    """Inverse of :func:`to_flax_variables`: ``{"params": {...}}`` -> ``{"W": [...], "w": w}``."""
    inner = variables["params"]
    L = sum(1 for k in inner if k.startswith("W_"))
    return {"W": [inner[f"W_{l}"] for l in range(L)], "w": inner["w"]}
