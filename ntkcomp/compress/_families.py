"""Quantized activation families and their Gaussian moments in closed form.

A piecewise-constant activation with thresholds ``t_1 < ... < t_{k-1}`` and levels
``l_0, ..., l_{k-1}`` (``sigma = l_j`` between ``t_j`` and ``t_{j+1}``) has, at input scale
``tau`` (``z_j = t_j / tau``, ``phi`` the standard normal density, ``Phi`` its CDF,
``D_j = l_j - l_{j-1}`` the jump at ``t_j``; Stein's lemma, see the theory page
``docs/theory/compression.md`` (section Families))::

    mean = sum_j l_j (Phi(z_{j+1}) - Phi(z_j))
    var  = sum_j (l_j - mean)^2 (Phi(z_{j+1}) - Phi(z_j))          (= tau_out^2)
    a1   = E[sigma']  = (1/tau)   sum_j D_j phi(z_j)
    a2   = E[sigma''] = (1/tau^2) sum_j D_j z_j phi(z_j)
    q    = E[((sigma-mean)^2)''] = (1/tau^2) sum_j D'_j z_j phi(z_j),
           D'_j = (l_j - mean)^2 - (l_{j-1} - mean)^2
    s    = E[sigma'^2] = +inf  (sigma' is a sum of Dirac masses)

Families (the solver works on an unconstrained vector ``theta``):

``binary``   b (1{t < s1} + 1{t > s2}): two levels on three intervals, 3 unknowns
             (theta = (z1, log(z2 - z1), b)).
``ternary``  -b_neg 1{t < s1} + b_pos 1{t > s2}: three levels, 4 unknowns
             (theta = (z1, log(z2 - z1), b_neg, b_pos)); contains binary (b_neg = -b_pos).
``k_level``  k levels on k intervals, 2k - 2 unknowns (a constant offset of the levels is
             irrelevant after centring, so l_0 = 0): theta = (z1, log gaps (k-2), jumps (k-1)).

Everything is pure JAX (jit / vmap / jacfwd-able).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from ntkcomp.activations import get

FAMILIES = ("binary", "ternary", "k_level")
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class StepMoments(NamedTuple):
    """Gaussian moments of a piecewise-constant activation at one input scale."""
    mean: jnp.ndarray
    var: jnp.ndarray
    a1: jnp.ndarray
    a2: jnp.ndarray
    q: jnp.ndarray


def _phi(z):
    return _INV_SQRT_2PI * jnp.exp(-0.5 * z * z)


def step_moments(thresholds, levels, tau) -> StepMoments:
    """Closed-form moments of ``sigma`` with ``thresholds (k-1,)`` and ``levels (k,)`` at ``tau``.

    ``thresholds`` are in the activation's own units (not divided by tau). Exact up to
    rounding (erf and exp only); ``s`` is not returned because it is infinite.
    """
    thresholds = jnp.asarray(thresholds)
    levels = jnp.asarray(levels)
    z = thresholds / tau
    cdf = ndtr(z)
    probs = jnp.diff(jnp.concatenate([jnp.zeros((1,), cdf.dtype), cdf,
                                      jnp.ones((1,), cdf.dtype)]))
    mean = jnp.sum(levels * probs)
    centred = levels - mean
    var = jnp.sum(centred * centred * probs)
    jumps = jnp.diff(levels)
    jumps_sq = jnp.diff(centred * centred)
    dens = _phi(z)
    a1 = jnp.sum(jumps * dens) / tau
    a2 = jnp.sum(jumps * z * dens) / tau ** 2
    q = jnp.sum(jumps_sq * z * dens) / tau ** 2
    return StepMoments(mean, var, a1, a2, q)


def n_unknowns(family: str, k: int | None = None) -> int:
    """Number of free parameters of a family (k = number of levels for ``k_level``)."""
    if family == "binary":
        return 3
    if family == "ternary":
        return 4
    if family == "k_level":
        if k is None or k < 2:
            raise ValueError(f"k (number of levels) must be an integer >= 2, got {k!r}")
        return 2 * k - 2
    raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")


def n_levels(family: str, k: int | None = None) -> int:
    """Distinct output levels of a family (binary 2, ternary 3, k_level k)."""
    return {"binary": 2, "ternary": 3}.get(family, k)


def decode(family: str, theta, tau, k: int | None = None):
    """Map unconstrained ``theta`` to ``(thresholds, levels)`` in activation units at ``tau``.

    Thresholds are ``tau * z`` with ``z`` increasing by construction (positive gaps
    ``exp(.)``), so every ``theta`` is a valid activation.
    """
    theta = jnp.asarray(theta)
    if family == "binary":
        z = jnp.stack([theta[0], theta[0] + jnp.exp(theta[1])])
        lev = jnp.stack([theta[2], 0.0 * theta[2], theta[2]])
    elif family == "ternary":
        z = jnp.stack([theta[0], theta[0] + jnp.exp(theta[1])])
        lev = jnp.stack([-theta[2], 0.0 * theta[2], theta[3]])
    elif family == "k_level":
        gaps = jnp.exp(theta[1:k - 1])
        z = theta[0] + jnp.concatenate([jnp.zeros((1,), theta.dtype), jnp.cumsum(gaps)])
        lev = jnp.concatenate([jnp.zeros((1,), theta.dtype), jnp.cumsum(theta[k - 1:])])
    else:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    return tau * z, lev


def family_moments(family: str, theta, tau, k: int | None = None) -> StepMoments:
    """Moments of the family member ``theta`` at input scale ``tau``."""
    thr, lev = decode(family, theta, tau, k)
    return step_moments(thr, lev, tau)


def to_activation(family: str, thresholds, levels):
    """Build the :class:`ntkcomp.activations.Activation` for solved thresholds/levels.

    ``binary`` -> ``get("binary", s1, s2, b)`` with ``b = |b|`` (the moments that enter the
    equivalents -- a1^2, a2^2, q, var -- are even in b); ``ternary`` -> ``get("ternary", ...)``
    (amplitudes may have any sign: b_neg < 0 means the left level lies above zero);
    ``k_level`` -> ``get("k_level", thresholds, levels)``. Parameters are float64 numpy.
    """
    thr = np.asarray(thresholds, dtype=np.float64)
    lev = np.asarray(levels, dtype=np.float64)
    if family == "binary":
        return get("binary", s1=float(thr[0]), s2=float(thr[1]), b=float(abs(lev[0])))
    if family == "ternary":
        return get("ternary", s1=float(thr[0]), s2=float(thr[1]),
                   b_neg=float(-lev[0]), b_pos=float(lev[2]))
    return get("k_level", thresholds=thr, levels=lev)


def activation_params(family: str, thresholds, levels) -> dict:
    """JSON-able parameter dict in the activation registry's names."""
    thr = np.asarray(thresholds, dtype=np.float64)
    lev = np.asarray(levels, dtype=np.float64)
    if family == "binary":
        return {"s1": float(thr[0]), "s2": float(thr[1]), "b": float(abs(lev[0]))}
    if family == "ternary":
        return {"s1": float(thr[0]), "s2": float(thr[1]), "b_neg": float(-lev[0]),
                "b_pos": float(lev[2])}
    return {"thresholds": thr.tolist(), "levels": lev.tolist()}
