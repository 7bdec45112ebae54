"""The centred, 1/sqrt(d)-scaled MLP (batch first).

See the theory page ``docs/theory/network.md`` (section Centred network)::

    h_0 = x                                     x: (p,)
    g_l = h_{l-1} @ W_l                         W_l: (d_{l-1}, d_l), entries mean 0 var 1
    h_l = (sigma_l(g_l) - m_l) / sqrt(d_l)      m_l = E[sigma_l(tau_{l-1} xi)]
    f(x) = h_L @ w                              w: (d_L,), N(0, 1) entries

``tau_0 = net.tau0`` is the input scale the centring is designed for (from data:
``stats.tau0``) and ``tau_l^2 = Var[sigma_l(tau_{l-1} xi)]`` (the moment recursion).

An :class:`MLP` is a frozen, hashable *description* (usable as a static argument of
``jax.jit``); parameters are a plain pytree ``{"W": [W_1, ..., W_L], "w": w}``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_finite_array, check_positive, check_positive_int, check_shape
from ntkcomp.activations import Activation, get, moments
from ntkcomp.config import default_float
from ntkcomp.networks._flax import flax_module, from_flax_variables, to_flax_variables
from ntkcomp.networks._weights import WeightLaw, weight_law

_GAUSSIAN = weight_law("gaussian")


def _as_activation(a: Any):
    if isinstance(a, str):
        return get(a)
    if isinstance(a, Activation):
        return a
    raise ValueError(f"activations must be names or Activation objects, got {a!r}")


def _activation_key(act) -> tuple:
    """A hashable key identifying an activation (name, kind and parameter values)."""
    params = getattr(act, "params", None) or {}
    items = []
    for k in sorted(params):
        v = np.asarray(params[k])
        items.append((k, v.shape, tuple(float(x) for x in v.ravel())))
    return (act.name, getattr(act, "kind", None), tuple(items))


def _per_layer(name: str, value: Any, depth: int, scalar_types: tuple) -> list:
    if isinstance(value, scalar_types):
        return [value] * depth
    try:
        value = list(value)
    except TypeError:
        raise ValueError(f"{name} must be one entry or a list of {depth} (one per layer), "
                         f"got {value!r}") from None
    if len(value) != depth:
        raise ValueError(f"{name} must be one entry or a list of {depth} (one per layer), "
                         f"got {len(value)}")
    return value


class MLP:
    """Frozen description of an L-layer centred MLP with scalar output.

    Args:
      widths: hidden widths ``(d_1, ..., d_L)``, each an integer >= 1.
      activations: an activation name (``"relu"``), an ``Activation``, or a per-layer list.
      weights: a weight-law name (``"gaussian"``), a ``WeightLaw`` (``weight_law(
        "sparse_ternary", eps=0.9)``), or a per-layer list of them.
      tau0: input scale ``tau_0`` (> 0) at which the centring ``m_1`` is computed.
      center: subtract ``m_l`` (default True); if False, ``m_l = 0``.

    Attributes:
      depth: the number of layers ``L``.
      widths: ``(d_1, ..., d_L)``.
      activations: tuple of ``L`` ``Activation`` objects.
      weight_laws: tuple of ``L`` :class:`WeightLaw` objects.
      tau0, center: as given.
      taus: ``(tau_0, ..., tau_L)``, ``tau_l^2 = Var[sigma_l(tau_{l-1} xi)]`` (floats).
      centers: ``(m_1, ..., m_L)``, ``m_l = E[sigma_l(tau_{l-1} xi)]`` (0 without centring).

    Raises:
      ValueError: a width that is not an integer >= 1, a per-layer list of the wrong
        length, an unknown activation or weight law, ``tau0 <= 0``, or a layer whose output
        variance at its input scale is not positive and finite.
    """

    __slots__ = (
        "_key",
        "activations",
        "center",
        "centers",
        "tau0",
        "taus",
        "weight_laws",
        "widths",
    )

    def __init__(self, widths: Sequence[int], activations: Any, weights: Any = "gaussian",
                 tau0: float = 1.0, center: bool = True):
        if isinstance(widths, (int, np.integer)):
            widths = [widths]
        widths = list(widths)
        if len(widths) == 0:
            raise ValueError("widths must be a non-empty list of integers >= 1, got []")
        widths = tuple(check_positive_int(f"widths[{i}]", d) for i, d in enumerate(widths))
        depth = len(widths)
        acts = _per_layer("activations", activations, depth, (str, Activation))
        acts = tuple(_as_activation(a) for a in acts)
        laws = _per_layer("weights", weights, depth, (str, WeightLaw))
        laws = tuple(weight_law(w) for w in laws)
        check_positive("tau0", tau0)
        tau0 = float(tau0)
        center = bool(center)

        taus = [tau0]
        centers = []
        for act in acts:
            mom = moments(act, jnp.asarray(taus[-1]))
            var = float(mom.var)
            if not (math.isfinite(var) and var > 0):
                raise ValueError(f"activation {act.name!r} has output variance {var} at "
                                 f"tau={taus[-1]}; the next layer's tau must be > 0")
            centers.append(float(mom.mean) if center else 0.0)
            taus.append(math.sqrt(var))

        s = object.__setattr__
        s(self, "widths", widths)
        s(self, "activations", acts)
        s(self, "weight_laws", laws)
        s(self, "tau0", tau0)
        s(self, "center", center)
        s(self, "taus", tuple(taus))
        s(self, "centers", tuple(centers))
        s(self, "_key", (widths, tuple(_activation_key(a) for a in acts), laws, tau0, center))

    # --- frozen / hashable -------------------------------------------------------------
    def __setattr__(self, name, value):
        raise AttributeError("MLP is frozen")

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other) -> bool:
        return isinstance(other, MLP) and self._key == other._key

    def __repr__(self) -> str:
        acts = [a.name for a in self.activations]
        laws = [repr(w) for w in self.weight_laws]
        return (f"MLP(widths={list(self.widths)}, activations={acts}, weights=[{', '.join(laws)}],"
                f" tau0={self.tau0}, center={self.center})")

    @property
    def depth(self) -> int:
        """The number of layers ``L``."""
        return len(self.widths)

    @property
    def forward_key(self) -> tuple:
        """Hashable key of everything the forward/backward pass depends on (widths,
        activations, centers) -- not the weight laws or tau0; kernels jit on it."""
        return (self.widths, self._key[1], self.centers)

    # --- parameters --------------------------------------------------------------------
    def init(self, key: jax.Array, p: int, dtype: Any = None) -> dict:
        """Draw parameters ``{"W": [W_1..W_L], "w": w}``.

        ``W_l: (d_{l-1}, d_l)`` with i.i.d. entries of the layer's weight law (mean 0,
        variance 1; ``d_0 = p``); ``w: (d_L,)`` standard Gaussian.
        """
        p = check_positive_int("p", p)
        if dtype is None:
            dtype = default_float()
        keys = jax.random.split(key, self.depth + 1)
        dims = (p, *self.widths)
        W = [law.sample(keys[l], (dims[l], dims[l + 1]), dtype)
             for l, law in enumerate(self.weight_laws)]
        w = _GAUSSIAN.sample(keys[-1], (self.widths[-1],), dtype)
        return {"W": W, "w": w}

    def check_params(self, params: dict) -> None:
        """Raise ValueError unless ``params`` matches this description's shapes and holds
        finite weights (NaN/Inf entries are named by their place in ``params``)."""
        if not isinstance(params, dict) or "W" not in params or "w" not in params:
            raise ValueError("params must be a dict {'W': [W_1..W_L], 'w': w} from net.init")
        W = params["W"]
        if len(W) != self.depth:
            raise ValueError(f"params['W'] must hold {self.depth} matrices, got {len(W)}")
        for l, Wl in enumerate(W):
            d_in = self.widths[l - 1] if l > 0 else None
            check_shape(f"params['W'][{l}]", Wl, (d_in, self.widths[l]))
            check_finite_array(f"params['W'][{l}]", Wl)
        check_shape("params['w']", params["w"], (self.widths[-1],))
        check_finite_array("params['w']", params["w"])

    def check_input(self, params: dict, X: Any, name: str = "X") -> None:
        """Raise ValueError unless X is finite with shape ``(n, p)``, p = params' input dim."""
        p = int(np.shape(params["W"][0])[0])
        if np.ndim(X) != 2:
            raise ValueError(f"{name} must have shape (n, {p}), got {tuple(np.shape(X))}")
        if np.shape(X)[1] != p:
            raise ValueError(f"{name} has feature dimension {np.shape(X)[1]} but the network "
                             f"expects p = {p}: {name} must have shape (n, {p})")
        check_finite_array(name, X)

    # --- forward pass ------------------------------------------------------------------
    def preactivations_and_features(self, params: dict, X: jax.Array):
        """Return ``(gs, hs)``: ``gs = [g_1..g_L]`` and ``hs = [h_0 = X, h_1..h_L]``, (n, d_l)."""
        h = X
        gs, hs = [], [X]
        for l, (act, m) in enumerate(zip(self.activations, self.centers)):
            W = params["W"][l]
            g = jnp.matmul(h, W, precision=jax.lax.Precision.HIGHEST)  # no TF32 on GPUs
            h = (act(g) - jnp.asarray(m, g.dtype)) / jnp.sqrt(jnp.asarray(self.widths[l], g.dtype))
            gs.append(g)
            hs.append(h)
        return gs, hs

    def features(self, params: dict, X: jax.Array) -> list:
        """Hidden representations ``[h_1, ..., h_L]``, each ``(n, d_l)``."""
        self.check_params(params)
        self.check_input(params, X)
        return self.preactivations_and_features(params, jnp.asarray(X))[1][1:]

    def apply(self, params: dict, X: jax.Array) -> jax.Array:
        """Network output ``f(X) = h_L @ w``, shape ``(n,)``."""
        self.check_params(params)
        self.check_input(params, X)
        hs = self.preactivations_and_features(params, jnp.asarray(X))[1]
        return hs[-1] @ params["w"]

    # --- flax --------------------------------------------------------------------------
    def as_flax(self, dtype: Any = None):
        """A ``flax.linen`` module with the same forward pass, ``X (n, p) -> (n,)``.

        Use :meth:`flax_variables` to load ``init``'s pytree:
        ``net.as_flax().apply(MLP.flax_variables(params), X) == net.apply(params, X)``.

        Raises:
          ImportError: flax is not installed (it is an optional dependency).
        """
        return flax_module(self, dtype)

    @staticmethod
    def flax_variables(params: dict) -> dict:
        """``{"W": [W_1..W_L], "w": w}`` -> ``{"params": {"W_0": W_1, ..., "w": w}}``."""
        return to_flax_variables(params)

    @staticmethod
    def params_from_flax(variables: dict) -> dict:
        """Inverse of :meth:`flax_variables`: ``{"params": {...}}`` -> ``{"W": [...], "w": w}``."""
        return from_flax_variables(variables)
