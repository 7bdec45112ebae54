"""Piecewise-constant families: binary, ternary and k_level, all with closed forms.

``sigma(t) = levels[j]`` on ``(thresholds[j-1], thresholds[j]]`` (``thresholds[-1] = -inf``,
``thresholds[k-1] = +inf``), i.e. ``sigma(t) = l_0 + sum_i D_i 1{t > theta_i}`` with jumps
``D_i = l_i - l_(i-1)``; ``sigma' = 0`` almost everywhere (the autodiff convention).

Moments (``z_j = theta_j / tau``, ``P_j = Phi(z_(j+1)) - Phi(z_j)``): ``mean = sum l_j P_j``,
``var = sum P_j (l_j - mean)^2``, ``a1 = sum D_j phi(z_j) / tau``,
``a2 = sum D_j z_j phi(z_j) / tau^2``,
``q = sum [(l_j - mean)^2 - (l_(j-1) - mean)^2] z_j phi(z_j) / tau^2`` and ``s = +inf``
(``sigma'`` is a sum of Dirac masses). The bivariate map ``ck`` combines orthant
probabilities ``P(u > theta_i, v > theta_j)`` (:func:`._bvn.bvn_upper`); ``dd = 0`` by the
autodiff convention (the distributional ``E[sigma'(u) sigma'(v)]`` is infinite on the
diagonal). Supported input scales: ``[TAU_MIN, TAU_MAX]``. See the theory page
``docs/theory/moments.md`` (sections Non-smooth activations, Bivariate maps).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from ntkcomp.activations._base import Activation
from ntkcomp.activations._bvn import bvn_upper
from ntkcomp.activations._types import GaussianPair, Kind, Moments

__all__ = ["Binary", "KLevel", "Ternary", "step_moments"]

_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)


def step_moments(thresholds, levels, tau) -> Moments:
    """Closed-form moments of the step function (module docstring) at ``tau`` (shape S)."""
    thr = jnp.asarray(thresholds, tau.dtype)
    lev = jnp.asarray(levels, tau.dtype)
    z = thr / tau[..., None]                               # S + (k-1,)
    inf = jnp.full(tau.shape + (1,), jnp.inf, tau.dtype)
    lo = jnp.concatenate([-inf, z], -1)                    # S + (k,)
    hi = jnp.concatenate([z, inf], -1)
    # P(lo < xi <= hi) without cancellation in either tail
    P = jnp.where(lo >= 0, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))
    mean = jnp.sum(P * lev, -1)
    dev2 = (lev - mean[..., None]) ** 2
    var = jnp.sum(P * dev2, -1)
    jumps = jnp.diff(lev)
    phz = jnp.exp(-0.5 * z * z) * _PHI0
    a1 = jnp.sum(jumps * phz, -1) / tau
    a2 = jnp.sum(jumps * z * phz, -1) / tau ** 2
    q = jnp.sum(jnp.diff(dev2, axis=-1) * z * phz, -1) / tau ** 2
    s = jnp.full(tau.shape, jnp.inf, tau.dtype)
    return Moments(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


def step_bivariate(thr, lev, pair: GaussianPair, center):
    """``ck = E[(sigma(u) - center)(sigma(v) - center)]`` of the step function, and ``dd = 0``."""
    jumps = jnp.diff(lev)
    l0 = lev[0] - center
    m = thr.shape[0]
    out = l0 * l0
    for i in range(m):
        out = out + l0 * jumps[i] * (ndtr(-thr[i] / pair.s1) + ndtr(-thr[i] / pair.s2))
    out = jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, pair.rho.shape))

    def term(p, acc):          # one compiled BVN body for all m^2 threshold pairs
        i, j = p // m, p % m
        return acc + jumps[i] * jumps[j] * bvn_upper(thr[i] / pair.s1, thr[j] / pair.s2,
                                                     pair.rho)

    out = jax.lax.fori_loop(0, m * m, term, out)
    return out, jnp.zeros_like(out)


class _Steps(Activation):
    """A step function given by ``thresholds()`` and ``levels()`` (to be implemented)."""

    kind = Kind.PIECEWISE_CONSTANT

    def sigma(self, t):
        thr, lev = self.thresholds(), self.levels()
        steps = (t[..., None] > thr).astype(jnp.result_type(t, lev))
        return lev[0] + jnp.sum(steps * jnp.diff(lev), axis=-1)

    def dsigma(self, t):
        dtype = jnp.result_type(t, *[jnp.asarray(v) for v in self.params.values()])
        return jnp.zeros(t.shape, dtype)

    def d2sigma(self, t):
        return self.dsigma(t)

    def breakpoints(self):
        """The thresholds."""
        return self.thresholds()

    def exact_moments(self, tau) -> Moments:
        return step_moments(self.thresholds(), self.levels(), tau)

    def exact_bivariate(self, pair: GaussianPair, center):
        return step_bivariate(self.thresholds(), self.levels(), pair, center)


def _check_order(s1, s2):
    a, b = float(np.asarray(s1)), float(np.asarray(s2))
    if not a <= b:
        raise ValueError(f"thresholds out of order: need s1 <= s2, got s1={a}, s2={b}")


class Binary(_Steps):
    """``binary(t) = b (1{t < s1} + 1{t > s2})`` (defaults ``s1 = -1``, ``s2 = 1``, ``b = 1``)."""

    name = "binary"
    s1: float = -1.0
    s2: float = 1.0
    b: float = 1.0

    def validate(self) -> None:
        _check_order(self.s1, self.s2)

    def sigma(self, t):
        return self.b * ((t < self.s1).astype(t.dtype) + (t > self.s2).astype(t.dtype))

    def thresholds(self):
        """``(s1, s2)``."""
        return jnp.stack([self.s1, self.s2])

    def levels(self):
        """``(b, 0, b)``."""
        return jnp.stack([self.b, 0.0 * self.b, self.b])


class Ternary(_Steps):
    """``ternary(t) = -b_neg 1{t < s1} + b_pos 1{t > s2}`` (defaults ``-1, 1, 1, 1``)."""

    name = "ternary"
    s1: float = -1.0
    s2: float = 1.0
    b_neg: float = 1.0
    b_pos: float = 1.0

    def validate(self) -> None:
        _check_order(self.s1, self.s2)

    def sigma(self, t):
        return (-self.b_neg * (t < self.s1).astype(t.dtype)
                + self.b_pos * (t > self.s2).astype(t.dtype))

    def thresholds(self):
        """``(s1, s2)``."""
        return jnp.stack([self.s1, self.s2])

    def levels(self):
        """``(-b_neg, 0, b_pos)``."""
        return jnp.stack([-self.b_neg, 0.0 * self.b_neg, self.b_pos])


class KLevel(_Steps):
    """``k_level(t) = levels[j]`` on ``(thresholds[j-1], thresholds[j]]`` (no defaults;
    ``len(levels) = len(thresholds) + 1``, thresholds non-decreasing)."""

    name = "k_level"
    vector_params = ("levels", "thresholds")
    thresholds_: tuple
    levels_: tuple

    def validate(self) -> None:
        thr, lev = np.asarray(self.thresholds_), np.asarray(self.levels_)
        if thr.size < 1:
            raise ValueError("thresholds must have at least one entry")
        if lev.size != thr.size + 1:
            raise ValueError(f"levels must have len(thresholds) + 1 = {thr.size + 1} "
                             f"entries, got {lev.size}")
        if np.any(np.diff(thr) < 0):
            raise ValueError(f"thresholds must be non-decreasing, got {thr.tolist()}")

    def thresholds(self):
        """The ``(k-1,)`` thresholds."""
        return jnp.atleast_1d(jnp.asarray(self.thresholds_))

    def levels(self):
        """The ``(k,)`` levels."""
        return jnp.atleast_1d(jnp.asarray(self.levels_))
