"""The built-in families by name, and the module-level entry points.

``BUILTINS`` is an immutable name -> class mapping. A user family is a subclass of
:class:`Activation`; it is used by passing the instance (or the class) wherever an
activation is accepted, so no global registry is needed.
"""
from __future__ import annotations

import types

from ntkcomp.activations._base import Activation
from ntkcomp.activations._mehler import N_TERMS
from ntkcomp.activations._polynomial import Polynomial, Quadratic
from ntkcomp.activations._quadrature import N_NODES
from ntkcomp.activations._relu import Abs, LeakyReLU, ReLU
from ntkcomp.activations._smooth import GELU, Cos, Erf, Sigmoid, Sin, Softplus, Swish, Tanh
from ntkcomp.activations._steps import Binary, KLevel, Ternary
from ntkcomp.activations._types import Moments

__all__ = ["BUILTINS", "available", "bivariate", "get", "moments"]

BUILTINS = types.MappingProxyType({cls.name: cls for cls in (
    ReLU, LeakyReLU, Abs, Tanh, Erf, Sigmoid, Sin, Cos, GELU, Swish, Softplus,
    Polynomial, Quadratic, Binary, Ternary, KLevel)})


def available() -> list[str]:
    """Sorted names of the built-in activation families.

    Returns:
        The names, sorted; each is accepted by :func:`get`.
    """
    return sorted(BUILTINS)


def get(name, **params) -> Activation:
    """The activation ``name`` with parameters ``params`` (missing ones take defaults).

    Built-in families and their parameters (defaults): relu, leaky_relu (slope 0.01), abs,
    tanh, erf, sigmoid, sin, cos, gelu (exact, ``t Phi(t)``), swish, softplus, polynomial
    (coeffs ``(0, 1)``), quadratic, binary (s1 -1, s2 1, b 1), ternary (s1 -1, s2 1,
    b_neg 1, b_pos 1), k_level (thresholds and levels, both required).

    Args:
      name: a built-in name (see :func:`available`), an :class:`Activation` subclass (a
        user family, built with ``params``), or an :class:`Activation` instance (returned
        as is, or rebuilt with ``params`` replacing its parameters).
      params: numeric parameters: scalars, or 1-D sequences for vector parameters.

    Returns:
      The :class:`Activation`.

    Raises:
      ValueError: for an unknown name, unknown or missing parameters, NaN / Inf values,
        thresholds out of order, and levels / thresholds length mismatch.
    """
    if isinstance(name, Activation):
        return type(name).from_params(**{**name.params, **params}) if params else name
    if isinstance(name, type) and issubclass(name, Activation):
        return name.from_params(**params)
    if not isinstance(name, str) or name not in BUILTINS:
        raise ValueError(f"name must be one of {available()}, an Activation subclass or "
                         f"instance, got {name!r}")
    return BUILTINS[name].from_params(**params)


def _activation(act) -> Activation:
    if not isinstance(act, Activation):
        raise ValueError(f"act must be an ntkcomp.activations.Activation, got "
                         f"{type(act).__name__}")
    return act


def moments(act: Activation, tau, *, method: str = "auto", n_nodes: int = N_NODES) -> Moments:
    """Gaussian moments of ``act`` at input scale ``tau``: :meth:`Activation.moments`.

    Args:
      act: the :class:`Activation`.
      tau: array_like, any shape ``S``, within ``act.tau_range()``.
      method: ``"auto"``, ``"closed_form"`` or ``"quadrature"``.
      n_nodes: Gauss-Legendre nodes per panel for the quadrature.

    Returns:
      :class:`Moments` ``(mean, var, a1, a2, q, s)``, each of shape ``S``.

    Raises:
      ValueError: for a non-activation ``act`` and as :meth:`Activation.moments`.

    See the theory page ``docs/theory/moments.md`` (section Gaussian moments).
    """
    return _activation(act).moments(tau, method=method, n_nodes=n_nodes)


def bivariate(act: Activation, var1, var2, cov, center=0.0, *, method: str = "auto",
              n_terms: int = N_TERMS, n_nodes: int = N_NODES):
    """``(ck, dd) = (E[(sigma(u) - center)(sigma(v) - center)], E[sigma'(u) sigma'(v)])``.

    Args:
      act: the :class:`Activation`.
      var1: ``Var u`` of the centred Gaussian pair ``(u, v)`` (array, broadcastable).
      var2: ``Var v`` (broadcastable with ``var1``).
      cov: ``Cov(u, v)`` (broadcastable with ``var1``).
      center: the centring constant subtracted from ``sigma`` (broadcastable).
      method: ``"auto"``, ``"closed_form"`` or ``"mehler"``.
      n_terms: Mehler truncation order.
      n_nodes: Gauss-Legendre nodes per panel.

    Returns:
      ``(ck, dd)`` of the broadcast shape (:meth:`Activation.bivariate`).

    Raises:
      ValueError: for a non-activation ``act`` and as :meth:`Activation.bivariate`.

    See the theory page ``docs/theory/moments.md`` (section Bivariate maps).
    """
    return _activation(act).bivariate(var1, var2, cov, center, method=method,
                                      n_terms=n_terms, n_nodes=n_nodes)
