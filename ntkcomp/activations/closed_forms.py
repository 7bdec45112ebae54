"""Closed-form Gaussian moments (THEORY.md section 3) at input scale tau, xi ~ N(0, 1).

Every function maps ``(params: dict of arrays, tau: array S) -> dict`` with keys
``mean, var, a1, a2, q, s`` (arrays of shape S). Notation: phi / Phi the standard normal
density / cdf, phi0 = phi(0) = 1/sqrt(2 pi).

Derivations used (all at t = tau*xi):
* Stein: E[f'(tau xi)] = E[xi f(tau xi)]/tau, E[f''(tau xi)] = E[(xi^2-1) f(tau xi)]/tau^2.
* d/dtau E[f(tau xi)] = tau E[f''(tau xi)], hence a2 = mean'(tau)/tau and
  q = E[((sigma - m)^2)''] = var'(tau)/tau (the m-derivative terms cancel).
* relu: mean = tau phi0, E[relu^2] = tau^2/2, a1 = 1/2, a2 = phi0/tau, s = 1/2,
  q = 1 - 1/pi.  leaky_relu(alpha) = (1-alpha) relu(t) + alpha t; abs = leaky_relu(-1).
* erf: var = (2/pi) arcsin(2 tau^2/(1+2 tau^2)), a1 = 2/sqrt(pi (1+2 tau^2)),
  s = 4/(pi sqrt(1+4 tau^2)), q = 8/(pi (1+2 tau^2) sqrt(1+4 tau^2)), mean = a2 = 0.
* sin: var = (1-e^{-2tau^2})/2, a1 = e^{-tau^2/2}, s = (1+e^{-2tau^2})/2, q = 2 e^{-2tau^2}.
* cos: mean = e^{-tau^2/2}, var = (1-e^{-tau^2})^2/2, a2 = -e^{-tau^2/2},
  s = (1-e^{-2tau^2})/2, q = 2e^{-tau^2} - 2e^{-2tau^2}.
* polynomial: expand sigma(tau xi) = sum_j b_j He_j(xi) (probabilists' Hermite);
  mean = b_0, var = sum_{j>=1} j! b_j^2, a1 = b_1/tau, a2 = 2 b_2/tau^2,
  s = sum_j j j! b_j^2 / tau^2, q = var'(tau)/tau.
* piecewise constant (levels l_0..l_{k-1}, thresholds theta_1..theta_{k-1}, jumps
  D_j = l_j - l_{j-1}, z_j = theta_j/tau): P_j = Phi(z_{j+1}) - Phi(z_j),
  mean = sum l_j P_j, var = sum P_j (l_j - m)^2, a1 = sum D_j phi(z_j)/tau,
  a2 = sum D_j z_j phi(z_j)/tau^2, q = sum [(l_j-m)^2 - (l_{j-1}-m)^2] z_j phi(z_j)/tau^2,
  s = +inf (sigma' is a sum of Dirac masses).
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

__all__ = ["CLOSED_FORMS", "hermite_matrix", "piecewise_constant_moments"]

_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)


def _phi(z):
    return jnp.exp(-0.5 * z * z) * _PHI0


def _relu_like(alpha, tau):
    """leaky relu (1-alpha) relu(t) + alpha t."""
    beta = 1.0 - alpha
    mean = beta * tau * _PHI0
    var = tau ** 2 * (beta ** 2 * (0.5 - 1.0 / (2 * math.pi)) + alpha ** 2 + alpha * beta)
    a1 = 0.5 * beta + alpha + 0.0 * tau
    a2 = beta * _PHI0 / tau
    s = 0.5 * (1.0 + alpha ** 2) + 0.0 * tau
    q = 2.0 * s - 2.0 * mean * beta * _PHI0 / tau
    return dict(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


def _relu(p, tau):
    return _relu_like(jnp.zeros((), tau.dtype), tau)


def _leaky_relu(p, tau):
    return _relu_like(jnp.asarray(p["slope"], tau.dtype), tau)


def _abs(p, tau):
    return _relu_like(-jnp.ones((), tau.dtype), tau)


def _erf(p, tau):
    t2 = tau * tau
    zero = 0.0 * tau
    var = (2.0 / math.pi) * jnp.arcsin(2.0 * t2 / (1.0 + 2.0 * t2))
    a1 = 2.0 / jnp.sqrt(math.pi * (1.0 + 2.0 * t2))
    s = 4.0 / (math.pi * jnp.sqrt(1.0 + 4.0 * t2))
    q = 8.0 / (math.pi * (1.0 + 2.0 * t2) * jnp.sqrt(1.0 + 4.0 * t2))
    return dict(mean=zero, var=var, a1=a1, a2=zero, q=q, s=s)


def _sin(p, tau):
    t2 = tau * tau
    zero = 0.0 * tau
    e2 = jnp.exp(-2.0 * t2)
    return dict(mean=zero, var=-0.5 * jnp.expm1(-2.0 * t2), a1=jnp.exp(-0.5 * t2), a2=zero,
                q=2.0 * e2, s=0.5 * (1.0 + e2))


def _cos(p, tau):
    t2 = tau * tau
    zero = 0.0 * tau
    e1 = jnp.exp(-t2)
    e2 = jnp.exp(-2.0 * t2)
    mean = jnp.exp(-0.5 * t2)
    return dict(mean=mean, var=0.5 * jnp.expm1(-t2) ** 2, a1=zero, a2=-mean,
                q=-2.0 * e1 * jnp.expm1(-t2), s=-0.5 * jnp.expm1(-2.0 * t2) + 0.0 * e2)


def hermite_matrix(deg: int) -> np.ndarray:
    """M (deg+1, deg+1) with xi^k = sum_j M[k, j] He_j(xi) (probabilists' Hermite)."""
    M = np.zeros((deg + 1, deg + 1))
    for k in range(deg + 1):
        for j in range(k % 2, k + 1, 2):
            r = (k - j) // 2
            M[k, j] = math.factorial(k) / (math.factorial(j) * math.factorial(r) * 2 ** r)
    return M


def _poly_from_coeffs(coeffs, tau):
    coeffs = jnp.asarray(coeffs, tau.dtype)
    deg = coeffs.shape[0] - 1
    M = jnp.asarray(hermite_matrix(deg), tau.dtype)
    k = jnp.arange(deg + 1, dtype=tau.dtype)
    fact = jnp.asarray([math.factorial(j) for j in range(deg + 1)], tau.dtype)
    tk = tau[..., None] ** k                               # S + (deg+1,)
    b = (coeffs * tk) @ M                                  # S + (deg+1,)  Hermite coeffs
    # d b_j / d tau / tau = sum_k k c_k tau^{k-2} M[k, j]
    tk2 = jnp.where(k >= 1, tau[..., None] ** (k - 2.0), 0.0)
    db = (coeffs * k * tk2) @ M
    jj = k
    mean = b[..., 0]
    var = jnp.sum(fact[1:] * b[..., 1:] ** 2, -1)
    a1 = b[..., 1] / tau if deg >= 1 else 0.0 * tau
    a2 = 2.0 * b[..., 2] / tau ** 2 if deg >= 2 else 0.0 * tau
    s = jnp.sum(jj * fact * b ** 2, -1) / tau ** 2
    q = 2.0 * jnp.sum((fact * b * db)[..., 1:], -1)
    return dict(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


def _polynomial(p, tau):
    return _poly_from_coeffs(p["coeffs"], tau)


def _quadratic(p, tau):
    return _poly_from_coeffs(np.array([0.0, 0.0, 1.0]), tau)


def piecewise_constant_moments(thresholds, levels, tau):
    """Closed-form moments of sigma = levels[j] on (thresholds[j-1], thresholds[j]]."""
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
    phz = _phi(z)
    a1 = jnp.sum(jumps * phz, -1) / tau
    a2 = jnp.sum(jumps * z * phz, -1) / tau ** 2
    q = jnp.sum(jnp.diff(dev2, axis=-1) * z * phz, -1) / tau ** 2
    s = jnp.full(tau.shape, jnp.inf, tau.dtype)
    return dict(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


CLOSED_FORMS = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "abs": _abs,
    "erf": _erf,
    "sin": _sin,
    "cos": _cos,
    "polynomial": _polynomial,
    "quadratic": _quadratic,
}
