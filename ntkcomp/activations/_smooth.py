"""Smooth families: tanh, erf, sigmoid, sin, cos, gelu, swish, softplus.

Closed forms (``xi ~ N(0, 1)``, input ``tau xi``):

* erf: ``var = (2/pi) arcsin(2 tau^2 / (1 + 2 tau^2)) = (2/pi) arctan2(2 tau^2,
  sqrt(1 + 4 tau^2))`` (the second form has no cancellation near 1), ``a1 = 2 / sqrt(pi (1 + 2 tau^2))``,
  ``s = 4 / (pi sqrt(1 + 4 tau^2))``, ``q = 8 / (pi (1 + 2 tau^2) sqrt(1 + 4 tau^2))``,
  ``mean = a2 = 0``; bivariate (Williams' arcsine kernel)
  ``E[erf(u) erf(v)] = (2/pi) arcsin(2 cov / sqrt((1 + 2 var1)(1 + 2 var2)))`` and
  ``E[erf'(u) erf'(v)] = (4/pi) / sqrt(D)`` with
  ``D = (1 + 2 var1)(1 + 2 var2) - 4 cov^2 = 1 + 2 (var1 + var2) + 4 var1 var2 (1 - rho^2)``
  (the last form has no cancellation); the arcsine is evaluated as
  ``arctan2(2 cov, sqrt(D))``, exact also at large variances near ``rho = 1``.
* sin: ``var = (1 - e^(-2 tau^2)) / 2``, ``a1 = e^(-tau^2 / 2)``, ``s = (1 + e^(-2 tau^2)) / 2``,
  ``q = 2 e^(-2 tau^2)``; cos: ``mean = e^(-tau^2 / 2)``, ``var = (1 - e^(-tau^2))^2 / 2``,
  ``a2 = -e^(-tau^2 / 2)``, ``s = (1 - e^(-2 tau^2)) / 2``, ``q = 2 e^(-tau^2) - 2 e^(-2 tau^2)``;
  bivariate ``E[sin u sin v] = e^(-(var1 + var2)/2) sinh(cov)`` and
  ``E[cos u cos v] = e^(-(var1 + var2)/2) cosh(cov)``, evaluated as
  ``e^(|cov| - m) (1 -+ e^(-2 |cov|)) / 2`` with ``m = (var1 + var2) / 2 >= |cov|`` (no
  overflow at large variances).

tanh, sigmoid, gelu, swish and softplus use the generic quadrature and Mehler series; their
derivatives are written in forms whose autodiff stays finite for any ``t`` (tanh:
``sech^2 t = 4 e^(-2|t|) / (1 + e^(-2|t|))^2`` for ``|t| >= 20``). Supported input scales of every family here:
``[TAU_MIN, TAU_MAX]``. See the theory page ``docs/theory/moments.md`` (sections Gaussian
moments, Bivariate maps).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import erf as _erf
from jax.scipy.special import ndtr

from ntkcomp.activations._base import Activation
from ntkcomp.activations._types import GaussianPair, Kind, Moments

__all__ = ["GELU", "Cos", "Erf", "Sigmoid", "Sin", "Softplus", "Swish", "Tanh"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


_T_DIRECT = 20.0      # beyond |t| = 20, cosh(t)^3 overflows long before the Gaussian decays


def _split(t):
    """``(small, ts, tl)``: the mask ``|t| < 20`` and ``t`` made safe for each branch."""
    small = jnp.abs(t) < _T_DIRECT
    return small, jnp.where(small, t, 0.0), jnp.where(small, _T_DIRECT, t)


def _sech2_direct(t):
    return 1.0 / jnp.cosh(t) ** 2


def _sech2_far(t):
    e = jnp.exp(-2.0 * jnp.abs(t))
    return 4.0 * e / (1.0 + e) ** 2


def _sech2(t):
    """``1 / cosh(t)^2``, finite with finite derivatives of every order for any ``t``: the
    direct form for ``|t| < 20``, ``4 e^(-2|t|) / (1 + e^(-2|t|))^2`` beyond (where autodiff
    of the direct form gives ``inf / inf``)."""
    small, ts, tl = _split(t)
    return jnp.where(small, _sech2_direct(ts), _sech2_far(tl))


@jax.custom_jvp
def _tanh_d2(t):
    """The second derivative ``-2 tanh(t) sech^2(t)`` of tanh: the derivative of the direct
    form of ``sech^2`` for ``|t| < 20``, the overflow-free form beyond. Its own derivative,
    ``4 tanh^2 sech^2 - 2 sech^4``, uses the overflow-free ``sech^2``."""
    small = jnp.abs(t) < _T_DIRECT
    direct = jax.jvp(_sech2_direct, (t,), (jnp.ones_like(t),))[1]
    return jnp.where(small, direct, -2.0 * jnp.tanh(t) * _sech2(t))


@_tanh_d2.defjvp
def _tanh_d2_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    th, s2 = jnp.tanh(t), _sech2(t)
    return _tanh_d2(t), (4.0 * th * th * s2 - 2.0 * s2 * s2) * dt


class _Smooth(Activation):
    kind = Kind.SMOOTH


class Tanh(_Smooth):
    """``tanh(t)``."""

    name = "tanh"

    def sigma(self, t):
        return jnp.tanh(t)

    def dsigma(self, t):
        return _sech2(t)

    def d2sigma(self, t):
        return _tanh_d2(t)


class Erf(_Smooth):
    """``erf(t)``, with closed-form moments and bivariate map."""

    name = "erf"

    def sigma(self, t):
        return _erf(t)

    def dsigma(self, t):
        return (2.0 / math.sqrt(math.pi)) * jnp.exp(-t * t)

    def exact_moments(self, tau) -> Moments:
        t2 = tau * tau
        zero = 0.0 * tau
        var = (2.0 / math.pi) * jnp.arctan2(2.0 * t2, jnp.sqrt(1.0 + 4.0 * t2))
        a1 = 2.0 / jnp.sqrt(math.pi * (1.0 + 2.0 * t2))
        s = 4.0 / (math.pi * jnp.sqrt(1.0 + 4.0 * t2))
        q = 8.0 / (math.pi * (1.0 + 2.0 * t2) * jnp.sqrt(1.0 + 4.0 * t2))
        return Moments(mean=zero, var=var, a1=a1, a2=zero, q=q, s=s)

    def exact_bivariate(self, pair: GaussianPair, center):
        one_minus = jnp.maximum((1.0 - pair.rho) * (1.0 + pair.rho), 0.0)
        det = 1.0 + 2.0 * (pair.var1 + pair.var2) + 4.0 * pair.var1 * pair.var2 * one_minus
        ss = (2.0 / math.pi) * jnp.arctan2(2.0 * pair.cov, jnp.sqrt(det))
        dd = (4.0 / math.pi) / jnp.sqrt(det)
        return self.centred(ss, pair, center), dd


def _sinh_cosh_damped(pair: GaussianPair):
    """``(e^(-m) sinh(cov), e^(-m) cosh(cov))``, ``m = (var1 + var2) / 2 >= |cov|``."""
    c = jnp.abs(pair.cov)
    scale = 0.5 * jnp.exp(c - 0.5 * (pair.var1 + pair.var2))
    e2 = jnp.exp(-2.0 * c)
    return jnp.sign(pair.cov) * scale * -jnp.expm1(-2.0 * c), scale * (1.0 + e2)


class Sin(_Smooth):
    """``sin(t)``, with closed-form moments and bivariate map."""

    name = "sin"

    def sigma(self, t):
        return jnp.sin(t)

    def dsigma(self, t):
        return jnp.cos(t)

    def exact_moments(self, tau) -> Moments:
        t2 = tau * tau
        zero = 0.0 * tau
        e2 = jnp.exp(-2.0 * t2)
        return Moments(mean=zero, var=-0.5 * jnp.expm1(-2.0 * t2), a1=jnp.exp(-0.5 * t2),
                       a2=zero, q=2.0 * e2, s=0.5 * (1.0 + e2))

    def exact_bivariate(self, pair: GaussianPair, center):
        sh, ch = _sinh_cosh_damped(pair)
        return self.centred(sh, pair, center), ch


class Cos(_Smooth):
    """``cos(t)``, with closed-form moments and bivariate map."""

    name = "cos"

    def sigma(self, t):
        return jnp.cos(t)

    def dsigma(self, t):
        return -jnp.sin(t)

    def exact_moments(self, tau) -> Moments:
        t2 = tau * tau
        zero = 0.0 * tau
        e1 = jnp.exp(-t2)
        e2 = jnp.exp(-2.0 * t2)
        mean = jnp.exp(-0.5 * t2)
        return Moments(mean=mean, var=0.5 * jnp.expm1(-t2) ** 2, a1=zero, a2=-mean,
                       q=-2.0 * e1 * jnp.expm1(-t2), s=-0.5 * jnp.expm1(-2.0 * t2) + 0.0 * e2)

    def exact_bivariate(self, pair: GaussianPair, center):
        sh, ch = _sinh_cosh_damped(pair)
        return self.centred(ch, pair, center), sh


class Sigmoid(_Smooth):
    """``sigmoid(t) = 1 / (1 + e^(-t))``."""

    name = "sigmoid"

    def sigma(self, t):
        return jax.nn.sigmoid(t)

    def dsigma(self, t):
        return jax.nn.sigmoid(t) * jax.nn.sigmoid(-t)


class GELU(_Smooth):
    """``gelu(t) = t Phi(t)`` (the exact form, ``Phi`` the standard normal cdf)."""

    name = "gelu"

    def sigma(self, t):
        return t * ndtr(t)

    def dsigma(self, t):
        return ndtr(t) + t * jnp.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


class Swish(_Smooth):
    """``swish(t) = t sigmoid(t)``."""

    name = "swish"

    def sigma(self, t):
        return t * jax.nn.sigmoid(t)

    def dsigma(self, t):
        return jax.nn.sigmoid(t) * (1.0 + t * jax.nn.sigmoid(-t))


class Softplus(_Smooth):
    """``softplus(t) = log(1 + e^t)``."""

    name = "softplus"

    def sigma(self, t):
        return jax.nn.softplus(t)

    def dsigma(self, t):
        return jax.nn.sigmoid(t)
