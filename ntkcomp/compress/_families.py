"""Quantized activation families: their parametrisation and Gaussian moments.

A piecewise-constant activation with thresholds ``t_1 < ... < t_{k-1}`` and levels
``l_0, ..., l_{k-1}`` is the ``k_level`` activation of :mod:`ntkcomp.activations`; its
Gaussian moments (mean, var, a1, a2, q; ``s = +inf``) come from that activation's closed
forms (:func:`step_moments`; the formulas are on the theory page ``docs/theory/moments.md``,
section Non-smooth activations). This module adds the parametrisation the solver works on:
each family as a function of an unconstrained vector ``theta`` (theory page
``docs/theory/compression.md``, section Families):

``binary``   b (1{t < s1} + 1{t > s2}): two levels on three intervals, 3 unknowns
             (theta = (z1, log(z2 - z1), b)).
``ternary``  -b_neg 1{t < s1} + b_pos 1{t > s2}: three levels, 4 unknowns
             (theta = (z1, log(z2 - z1), b_neg, b_pos)); contains binary (b_neg = -b_pos).
``k_level``  k levels on k intervals, 2k - 2 unknowns (a constant offset of the levels is
             irrelevant after centring, so l_0 = 0): theta = (z1, log gaps (k-2), jumps (k-1)).

Everything is pure JAX (jit / vmap / jacfwd-able).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.activations import Moments, get

FAMILIES = ("binary", "ternary", "k_level")


@jax.jit
def step_moments(thresholds, levels, tau) -> Moments:
    """Gaussian moments of the step function with ``thresholds (k-1,)`` and ``levels (k,)``
    at input scale ``tau``: the closed forms of the ``k_level`` activation
    (:meth:`ntkcomp.activations.Activation.exact_moments`).

    ``thresholds`` are in the activation's own units (not divided by tau). Compiled, so the
    parameters are always traced: a non-finite value gives non-finite moments (which the
    solver's residuals reject) instead of the activation's ValueError. Differentiable in all
    three arguments (``jax.jacfwd`` of the solver's residual).
    """
    act = get("k_level", thresholds=thresholds, levels=levels)
    return act.exact_moments(jnp.asarray(tau))


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


def family_moments(family: str, theta, tau, k: int | None = None) -> Moments:
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
