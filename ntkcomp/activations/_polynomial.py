"""Polynomial families: polynomial(coeffs) ``= sum_k coeffs[k] t^k`` and quadratic ``t^2``.

Everything is exact through the probabilists' Hermite expansion
``sigma(tau xi) = sum_j b_j He_j(xi)`` (``xi^k = sum_j M[k, j] He_j(xi)``): ``mean = b_0``,
``var = sum_{j>=1} j! b_j^2``, ``a1 = b_1 / tau``, ``a2 = 2 b_2 / tau^2``,
``s = sum_j j j! b_j^2 / tau^2`` and ``q = var'(tau) / tau``; the bivariate map is the
Mehler series, finite for a polynomial, hence exact. Supported input scales:
``[TAU_MIN, min(TAU_MAX, 10^(100 / degree))]`` (``tau^(2 degree)`` stays representable).
See the theory page ``docs/theory/moments.md`` (sections Hermite view, Bivariate maps).
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from ntkcomp.activations._base import TAU_MAX, TAU_MIN, Activation
from ntkcomp.activations._mehler import horner
from ntkcomp.activations._types import GaussianPair, Kind, Moments

__all__ = ["Polynomial", "Quadratic", "hermite_matrix"]


def hermite_matrix(deg: int) -> np.ndarray:
    """``M`` of shape ``(deg+1, deg+1)`` with ``xi^k = sum_j M[k, j] He_j(xi)``."""
    M = np.zeros((deg + 1, deg + 1))
    for k in range(deg + 1):
        for j in range(k % 2, k + 1, 2):
            r = (k - j) // 2
            M[k, j] = math.factorial(k) / (math.factorial(j) * math.factorial(r) * 2 ** r)
    return M


def polynomial_moments(coeffs, tau) -> Moments:
    """Closed-form moments of ``sum_k coeffs[k] t^k`` at scale ``tau`` (shape S)."""
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
    mean = b[..., 0]
    var = jnp.sum(fact[1:] * b[..., 1:] ** 2, -1)
    a1 = b[..., 1] / tau if deg >= 1 else 0.0 * tau
    a2 = 2.0 * b[..., 2] / tau ** 2 if deg >= 2 else 0.0 * tau
    s = jnp.sum(k * fact * b ** 2, -1) / tau ** 2
    q = 2.0 * jnp.sum((fact * b * db)[..., 1:], -1)
    return Moments(mean=mean, var=var, a1=a1, a2=a2, q=q, s=s)


def _normalised_hermite(coeffs, s):
    """Coefficients of ``p(s xi)`` on ``h_j = He_j / sqrt(j!)`` (exact), shape ``S + (deg+1,)``."""
    coeffs = jnp.asarray(coeffs, s.dtype)
    deg = coeffs.shape[0] - 1
    M = jnp.asarray(hermite_matrix(deg), s.dtype)
    k = jnp.arange(deg + 1, dtype=s.dtype)
    b = (coeffs * s[..., None] ** k) @ M
    sqf = jnp.asarray([math.sqrt(math.factorial(j)) for j in range(deg + 1)], s.dtype)
    return b * sqf


def polynomial_bivariate(coeffs, pair: GaussianPair, center):
    """Exact ``(ck, dd)`` of ``sum_k coeffs[k] t^k``: the finite Mehler series."""
    coeffs = jnp.asarray(coeffs, pair.rho.dtype)
    dcoeffs = coeffs[1:] * jnp.arange(1, coeffs.shape[0], dtype=pair.rho.dtype)
    if dcoeffs.shape[0] == 0:
        dcoeffs = jnp.zeros((1,), pair.rho.dtype)
    a1, a2 = _normalised_hermite(coeffs, pair.s1), _normalised_hermite(coeffs, pair.s2)
    b1, b2 = _normalised_hermite(dcoeffs, pair.s1), _normalised_hermite(dcoeffs, pair.s2)
    ck = horner(a1, a2, pair.rho) + (a1[..., 0] - center) * (a2[..., 0] - center)
    dd = horner(b1, b2, pair.rho) + b1[..., 0] * b2[..., 0]
    return ck, dd


class _PolynomialBase(Activation):
    """A polynomial ``sum_k c[k] t^k`` with ``c = self.coefficients()``."""

    kind = Kind.SMOOTH

    def coefficients(self):
        """The coefficients ``c``, lowest degree first."""
        raise NotImplementedError

    def sigma(self, t):
        c = jnp.asarray(self.coefficients())
        out = jnp.zeros_like(t) + c[-1]
        for k in range(c.shape[0] - 2, -1, -1):
            out = out * t + c[k]
        return out

    def tau_range(self) -> tuple[float, float]:
        deg = max(np.shape(self.coefficients())[0] - 1, 1)
        return TAU_MIN, min(TAU_MAX, 10.0 ** (100.0 / deg))

    def exact_moments(self, tau) -> Moments:
        return polynomial_moments(self.coefficients(), tau)

    def exact_bivariate(self, pair: GaussianPair, center):
        return polynomial_bivariate(self.coefficients(), pair, center)


class Polynomial(_PolynomialBase):
    """``polynomial(t) = sum_k coeffs[k] t^k`` (default ``coeffs = (0, 1)``: the identity)."""

    name = "polynomial"
    vector_params = ("coeffs",)
    coeffs: tuple = (0.0, 1.0)

    def validate(self) -> None:
        if np.asarray(self.coeffs).size < 1:
            raise ValueError("coeffs must have at least one entry")

    def coefficients(self):
        return self.coeffs


class Quadratic(_PolynomialBase):
    """``quadratic(t) = t^2``."""

    name = "quadratic"

    def coefficients(self):
        return np.array([0.0, 0.0, 1.0])

    def sigma(self, t):
        return t * t

    def dsigma(self, t):
        return 2.0 * t
