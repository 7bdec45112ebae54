"""The relu family: relu, leaky_relu(slope) and abs, all of the form
``(1 - alpha) relu(t) + alpha t`` (``alpha = 0``, ``slope``, ``-1``), with closed forms.

Moments at scale ``tau`` (``phi0 = 1 / sqrt(2 pi)``, ``beta = 1 - alpha``):
``mean = beta tau phi0``, ``var = tau^2 (beta^2 (1/2 - 1/(2 pi)) + alpha^2 + alpha beta)``,
``a1 = beta / 2 + alpha``, ``a2 = beta phi0 / tau``, ``s = (1 + alpha^2) / 2``,
``q = 2 s - 2 mean beta phi0 / tau``.

Bivariate map (Cho and Saul's arc-cosine kernel, ``theta = arccos rho``):
``E[relu(u) relu(v)] = (sqrt(var1 var2 - cov^2) + (pi - theta) cov) / (2 pi)`` and
``E[1{u > 0} 1{v > 0}] = (pi - theta) / (2 pi)``; the linear part follows from
``E[relu(u) v] = cov / 2``. Supported input scales: ``[TAU_MIN, TAU_MAX]``. See the theory
page ``docs/theory/moments.md`` (sections Non-smooth activations, Bivariate maps).
"""
from __future__ import annotations

import math

import jax.numpy as jnp

from ntkcomp.activations._base import Activation
from ntkcomp.activations._types import GaussianPair, Kind, Moments

__all__ = ["Abs", "LeakyReLU", "ReLU"]

_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi


def relu_like_moments(alpha, tau) -> Moments:
    """Closed-form moments of ``(1 - alpha) relu(t) + alpha t`` at scale ``tau`` (shape S)."""
    beta = 1.0 - alpha
    mean = beta * tau * _PHI0
    var = tau ** 2 * (beta ** 2 * (0.5 - 1.0 / (2 * math.pi)) + alpha ** 2 + alpha * beta)
    a1 = 0.5 * beta + alpha + 0.0 * tau
    a2 = beta * _PHI0 / tau
    s = 0.5 * (1.0 + alpha ** 2) + 0.0 * tau
    q = 2.0 * s - 2.0 * mean * beta * _PHI0 / tau
    return Moments(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


def relu_like_bivariate(alpha, pair: GaussianPair):
    """Uncentred ``(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)])`` of
    ``(1 - alpha) relu(t) + alpha t`` (arc-cosine kernel)."""
    beta = 1.0 - alpha
    rho = pair.rho
    theta = jnp.arccos(rho)
    # sqrt(var1 var2 - cov^2) written through rho: the direct difference cancels
    # catastrophically near the diagonal (and XLA may contract it into an FMA)
    det = (jnp.sqrt(pair.var1) * jnp.sqrt(pair.var2)
           * jnp.sqrt(jnp.maximum((1.0 - rho) * (1.0 + rho), 0.0)))
    k_relu = (det + (math.pi - theta) * pair.cov) / _TWO_PI
    p_pos = (math.pi - theta) / _TWO_PI
    ss = beta * beta * k_relu + (alpha * beta + alpha * alpha) * pair.cov
    dd = beta * beta * p_pos + alpha * beta + alpha * alpha
    return ss, dd


class _ReluLike(Activation):
    """``(1 - alpha) relu(t) + alpha t``; subclasses define ``alpha(dtype)`` and sigma."""

    kind = Kind.PIECEWISE_SMOOTH

    def alpha(self, dtype):
        raise NotImplementedError

    def breakpoints(self):
        """The kink at 0."""
        return jnp.zeros((1,))

    def exact_moments(self, tau) -> Moments:
        """Closed-form moments (module docstring)."""
        return relu_like_moments(self.alpha(tau.dtype), tau)

    def exact_bivariate(self, pair: GaussianPair, center):
        """Arc-cosine kernel (module docstring), centred at ``center``."""
        ss, dd = relu_like_bivariate(self.alpha(pair.rho.dtype), pair)
        return self.centred(ss, pair, center), dd


class ReLU(_ReluLike):
    """``relu(t) = max(t, 0)``."""

    name = "relu"

    def alpha(self, dtype):
        return jnp.zeros((), dtype)

    def sigma(self, t):
        return jnp.maximum(t, 0.0)

    def dsigma(self, t):
        return (t > 0).astype(t.dtype)

    def exact_bivariate(self, pair: GaussianPair, center):
        ss, dd = relu_like_bivariate(0.0, pair)
        return self.centred(ss, pair, center), dd


class LeakyReLU(_ReluLike):
    """``leaky_relu(t) = t`` for ``t > 0``, ``slope * t`` otherwise (default slope 0.01)."""

    name = "leaky_relu"
    slope: float = 0.01

    def alpha(self, dtype):
        return jnp.asarray(self.slope, dtype)

    def sigma(self, t):
        return jnp.where(t > 0, t, self.slope * t)

    def dsigma(self, t):
        return jnp.where(t > 0, 1.0, self.slope) + 0.0 * t


class Abs(_ReluLike):
    """``abs(t) = |t|`` (``alpha = -1``)."""

    name = "abs"

    def alpha(self, dtype):
        return -jnp.ones((), dtype)

    def sigma(self, t):
        return jnp.abs(t)

    def dsigma(self, t):
        return jnp.sign(t)

    def exact_bivariate(self, pair: GaussianPair, center):
        ss, dd = relu_like_bivariate(-1.0, pair)
        return self.centred(ss, pair, center), dd
