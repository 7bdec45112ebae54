"""Piecewise Gauss-Legendre quadrature: the generic moments of any activation.

Gaussian expectations ``E[g(xi)]``, ``xi ~ N(0, 1)``, are sums over panels of the xi-line
truncated to ``[-L, L]`` (``L >= 12``; the neglected Gaussian mass is below double
precision). The panel edges are:

* a fixed grid of unit width in xi (the Gaussian's own scale);
* a grid in ``t = tau xi``, i.e. at ``xi = t / tau`` (the activation's own scale): of unit
  width for ``|t| <= 8`` when ``tau <= 20``; for larger ``tau`` geometric, at ``t = 0`` and
  ``+-2^k`` up to ``|t| = 128``, which resolves both the transition and the exponentially
  decaying tail of a saturating activation (tanh, sigmoid, swish, softplus) at any scale;
* the breakpoints divided by ``tau`` (the integrand is smooth inside every panel), plus
  geometrically spaced points on both sides of each breakpoint (they resolve the fast
  Gaussian decay next to a far breakpoint).

Each panel carries ``n_nodes`` Gauss-Legendre nodes. Nodes and weights are smooth functions
of ``tau`` and the breakpoints, so ``jax.grad`` through a quadrature is the derivative of the
quadrature: moving panel ends give the Leibniz boundary terms, which makes gradients with
respect to the thresholds of step activations correct.

Limitation: an activation that oscillates on the t-scale beyond ``|t| = 8`` (sin, cos) is
under-resolved at large ``tau``; families with closed forms do not use this path. See the
theory page ``docs/theory/moments.md`` (sections Gaussian moments, Non-smooth activations).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ntkcomp.activations._types import Kind, Moments

__all__ = ["N_NODES", "gauss_nodes", "node_breakpoints", "quadrature_moments"]

N_NODES = 20          # Gauss-Legendre nodes per panel
XI_MAX = 12.0         # truncation of the xi-line (at least)
_CLIP = 40.0          # breakpoints beyond |xi| = 40 carry no representable mass
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_XI_GRID = tuple(np.linspace(-XI_MAX, XI_MAX, 25).tolist())
_T_GRID = tuple(np.linspace(-8.0, 8.0, 17).tolist())
_T_GEOMETRIC = (0.0,) + tuple(s * 2.0 ** k for k in range(8) for s in (-1.0, 1.0))
_TAU_GEOMETRIC = 20.0  # above this scale the t-grid is geometric (saturating tails)
_OFFSETS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0)


def _edges(tau, c):
    """Panel edges, shape ``S + (E,)``, sorted, in ``[-L, L]``; ``c``: breakpoints / tau."""
    dtype = tau.dtype
    xi_grid = jnp.asarray(_XI_GRID, dtype)
    t_grid = jnp.where(tau[..., None] > _TAU_GEOMETRIC, jnp.asarray(sorted(_T_GEOMETRIC), dtype),
                       jnp.asarray(_T_GRID, dtype))
    fixed = jnp.concatenate([
        jnp.broadcast_to(xi_grid, tau.shape + (xi_grid.size,)), t_grid / tau[..., None]], -1)
    if c.shape[-1] > 0:
        c = jnp.clip(c, -_CLIP, _CLIP)
        L = jnp.maximum(XI_MAX, jnp.max(jnp.abs(c), axis=-1) + 4.0)
        scale = 1.0 / (1.0 + jnp.abs(c))[..., None]
        offs = jnp.asarray(_OFFSETS + tuple(-o for o in _OFFSETS), dtype)
        near = (c[..., None] + offs * scale).reshape(c.shape[:-1] + (-1,))
        free = jnp.concatenate([fixed, near], -1)
        # A free edge that coincides with a breakpoint would make a zero-width panel whose
        # side of the jump is decided by rounding, and jax.grad w.r.t. the breakpoint would
        # then miss a Leibniz term. Free edges can sit anywhere: move such ones 1e-6 away.
        dist = jnp.min(jnp.abs(free[..., :, None] - c[..., None, :]), axis=-1)
        parts = [jnp.where(dist < 1e-9, free + 1e-6, free), c]
    else:
        L = jnp.full(tau.shape, XI_MAX, dtype)
        parts = [fixed]
    parts += [-L[..., None], L[..., None]]
    e = jnp.concatenate([jnp.broadcast_to(p, tau.shape + (p.shape[-1],)) for p in parts], -1)
    e = jnp.clip(e, -L[..., None], L[..., None])
    return jnp.sort(e, axis=-1)


def gauss_nodes(tau, breakpoints=None, n_nodes: int = N_NODES):
    """Nodes ``xi`` and weights ``w`` (Gaussian density included) for ``E[g(xi)]``.

    ``E[g(xi)] ~= sum(w * g(xi), -1)`` for ``g(xi) = f(tau * xi)`` with ``f`` smooth between
    its ``breakpoints``.

    Args:
      tau: array of shape ``S``, > 0: the scale the panels adapt to.
      breakpoints: ``(m,)`` breakpoints of ``f`` in t-space (None or empty: smooth ``f``).
      n_nodes: Gauss-Legendre nodes per panel.

    Returns:
      ``(xi, w)``, each of shape ``S + (N,)`` with ``N = n_nodes * (number of panels)``.
    """
    tau = jnp.asarray(tau)
    if not jnp.issubdtype(tau.dtype, jnp.floating):
        tau = tau.astype(jnp.result_type(float))
    if breakpoints is None:
        bp = jnp.zeros((0,), tau.dtype)
    else:
        bp = jnp.asarray(breakpoints, tau.dtype).reshape(-1)
    e = _edges(tau, bp / tau[..., None])
    a, b = e[..., :-1], e[..., 1:]
    half = 0.5 * (b - a)
    mid = 0.5 * (b + a)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    x = jnp.asarray(x, tau.dtype)
    w = jnp.asarray(w, tau.dtype)
    xi = mid[..., None] + half[..., None] * x          # S + (P, n)
    wt = half[..., None] * w * jnp.exp(-0.5 * xi * xi) * _INV_SQRT_2PI
    new = tau.shape + (-1,)
    return xi.reshape(new), wt.reshape(new)


def node_breakpoints(act):
    """Breakpoints that split the quadrature of ``act`` (None for a smooth activation)."""
    return None if act.kind == Kind.SMOOTH else act.breakpoints()


def quadrature_moments(act, tau, n_nodes: int = N_NODES) -> Moments:
    """Gaussian moments of any activation by piecewise Gauss-Legendre quadrature.

    Smooth activations use their derivatives directly; the others use Stein's lemma,
    ``E[f'(tau xi)] = E[xi f(tau xi)] / tau`` and
    ``E[f''(tau xi)] = E[(xi^2 - 1) f(tau xi)] / tau^2``, so kinks and jumps contribute
    their Dirac masses. See the theory page ``docs/theory/moments.md`` (section Non-smooth
    activations).

    Args:
      act: the activation (``act(t)``, ``act.derivative``, ``act.second_derivative``,
        ``act.breakpoints()``, ``act.kind``).
      tau: floating array of shape ``S``, > 0.
      n_nodes: Gauss-Legendre nodes per panel.

    Returns:
      :class:`Moments` with fields of shape ``S`` (``s = inf`` for piecewise constant).
    """
    xi, w = gauss_nodes(tau, node_breakpoints(act), n_nodes)     # S + (N,)
    t = tau[..., None] * xi
    f = act(t)
    mean = jnp.sum(w * f, -1)
    c = f - mean[..., None]
    var = jnp.sum(w * c * c, -1)
    if act.kind == Kind.SMOOTH:
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
        if act.kind == Kind.PIECEWISE_CONSTANT:
            s = jnp.full(tau.shape, jnp.inf, tau.dtype)
        else:
            d1 = act.derivative(t)
            s = jnp.sum(w * d1 * d1, -1)
    return Moments(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)
