"""Gaussian moments of an activation at input scale tau (THEORY.md section 3).

``moments(act, tau) -> Moments(mean, var, a1, a2, q, s)`` with, for xi ~ N(0, 1) and all
functions evaluated at ``tau * xi``:

    mean = E[sigma]                  var = E[(sigma - mean)^2]    (= tau_out^2)
    a1   = E[sigma']                 a2  = E[sigma'']
    q    = E[((sigma - mean)^2)'']   s   = E[sigma'^2]   (+inf for piecewise constant)

Derivatives of non-smooth activations are distributional (kinks give Dirac masses in
sigma''); they are computed with Stein's lemma,
E[f'(tau xi)] = E[xi f(tau xi)]/tau and E[f''(tau xi)] = E[(xi^2 - 1) f(tau xi)]/tau^2.

Methods: ``"closed_form"`` (relu, leaky_relu, abs, erf, sin, cos, polynomial, quadratic and
every piecewise-constant activation), ``"quadrature"`` (piecewise Gauss-Legendre split at the
breakpoints, see :mod:`ntkcomp.activations.quadrature`; any activation), ``"auto"`` (closed
form when available, else quadrature). All are pure JAX: jit-able, vectorised over any
shape of ``tau``, and differentiable w.r.t. ``tau`` and ``act.params`` with ``jax.grad``.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ntkcomp._validate import _is_traced, check_choice, check_positive
from ntkcomp.activations.closed_forms import CLOSED_FORMS, piecewise_constant_moments
from ntkcomp.activations.quadrature import N_NODES, gauss_nodes
from ntkcomp.activations.registry import Activation

__all__ = ["Moments", "has_closed_form", "moments"]

METHODS = ("auto", "closed_form", "quadrature")


class Moments(NamedTuple):
    """Gaussian moments at scale tau; every field has the shape of ``tau``."""
    mean: jax.Array
    var: jax.Array
    a1: jax.Array
    a2: jax.Array
    q: jax.Array
    s: jax.Array


def has_closed_form(act: Activation) -> bool:
    """True when ``moments(act, tau, method="closed_form")`` is available."""
    return act.kind == "piecewise_constant" or act.name in CLOSED_FORMS


def _as_tau(tau, act):
    check_positive("tau", tau)
    tau = jnp.asarray(tau)
    leaves = [jnp.asarray(v) for v in act.params.values()]
    dtype = jnp.result_type(tau, *leaves, float) if leaves else jnp.result_type(tau, float)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return tau.astype(dtype)


def _validate_act(act):
    if not isinstance(act, Activation):
        raise ValueError(f"act must be an ntkcomp.activations.Activation, got {type(act).__name__}")
    spec = act.spec
    if spec.validate is not None and not any(_is_traced(v) for v in act.params.values()):
        import numpy as np
        spec.validate({k: np.asarray(v) for k, v in act.params.items()})


def _closed_form(act, tau):
    if act.kind == "piecewise_constant":
        return piecewise_constant_moments(act.thresholds(), act.levels(), tau)
    return CLOSED_FORMS[act.name](act._p(), tau)


def _quadrature(act, tau, n_nodes):
    bp = None if act.kind == "smooth" else act.breakpoints()
    xi, w = gauss_nodes(tau, bp, n_nodes)                  # S + (N,)
    tt = tau[..., None]
    t = tt * xi
    f = act(t)
    mean = jnp.sum(w * f, -1)
    c = f - mean[..., None]
    var = jnp.sum(w * c * c, -1)
    if act.kind == "smooth":
        d1 = act.derivative(t)
        d2 = act.second_derivative(t)
        a1 = jnp.sum(w * d1, -1)
        a2 = jnp.sum(w * d2, -1)
        s = jnp.sum(w * d1 * d1, -1)
        q = 2.0 * s + 2.0 * jnp.sum(w * c * d2, -1)
    else:
        h2 = xi * xi - 1.0
        a1 = jnp.sum(w * xi * c, -1) / tau
        a2 = jnp.sum(w * h2 * c, -1) / tau ** 2
        q = jnp.sum(w * h2 * c * c, -1) / tau ** 2
        if act.kind == "piecewise_constant":
            s = jnp.full(tau.shape, jnp.inf, tau.dtype)
        else:
            d1 = act.derivative(t)
            s = jnp.sum(w * d1 * d1, -1)
    return dict(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


def moments(act: Activation, tau, *, method: str = "auto", n_nodes: int = N_NODES) -> Moments:
    """Gaussian moments of ``act`` at input scale ``tau`` (any shape; > 0).

    Parameters
    ----------
    act : Activation (from :func:`ntkcomp.activations.get`).
    tau : array_like > 0, any shape S. The input is ``tau * xi`` with xi ~ N(0, 1).
    method : ``"auto"`` (closed form when one exists, else quadrature), ``"closed_form"``
        (ValueError if none), ``"quadrature"`` (piecewise Gauss-Legendre).
    n_nodes : Gauss-Legendre nodes per panel for the quadrature.

    Returns
    -------
    Moments(mean, var, a1, a2, q, s), each of shape S; ``s = inf`` for piecewise-constant
    activations. Raises ValueError for tau <= 0 or NaN and invalid activation parameters.
    """
    check_choice("method", method, METHODS)
    _validate_act(act)
    tau = _as_tau(tau, act)
    if method == "closed_form" and not has_closed_form(act):
        raise ValueError(f"method='closed_form' is not available for activation {act.name!r}; "
                         f"use method='quadrature' or 'auto'")
    use_quad = method == "quadrature" or (method == "auto" and not has_closed_form(act))
    return _moments_impl(act, tau, use_quad, int(n_nodes))


@functools.partial(jax.jit, static_argnames=("use_quad", "n_nodes"))
def _moments_impl(act, tau, use_quad, n_nodes):
    out = _quadrature(act, tau, n_nodes) if use_quad else _closed_form(act, tau)
    return Moments(**{k: jnp.broadcast_to(jnp.asarray(v, tau.dtype), tau.shape)
                      for k, v in out.items()})
