"""Value types and input checks shared by every activation family.

:class:`Kind` classifies an activation by its smoothness, :class:`Moments` holds its
Gaussian moments. The checks run on concrete values only (Python / NumPy); inside ``jit``
traced values pass through unchecked. See the theory page ``docs/theory/moments.md``
(section Gaussian moments).
"""
from __future__ import annotations

import enum
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GaussianPair", "Kind", "Moments", "as_float", "check_bivariate_inputs", "check_tau", "is_traced"]


class Kind(str, enum.Enum):
    """Smoothness class of an activation ``sigma``.

    ``SMOOTH``: ``sigma`` is twice continuously differentiable (tanh, erf, sin, gelu, ...);
    its breakpoints are empty. ``PIECEWISE_SMOOTH``: smooth between its breakpoints (kinks
    such as relu's at 0). ``PIECEWISE_CONSTANT``: ``sigma(t) = levels[j]`` on
    ``(thresholds[j-1], thresholds[j]]``, with ``sigma' = 0`` almost everywhere (the
    autodiff convention) and breakpoints equal to the thresholds.

    Members compare equal to their string values (``Kind.SMOOTH == "smooth"``).
    """

    SMOOTH = "smooth"
    PIECEWISE_SMOOTH = "piecewise_smooth"
    PIECEWISE_CONSTANT = "piecewise_constant"

    def __str__(self) -> str:
        return self.value


class Moments(NamedTuple):
    """Gaussian moments of ``sigma`` at input scale ``tau``; every field has the shape of ``tau``.

    With ``xi ~ N(0, 1)`` and every function evaluated at ``tau * xi``: ``mean = E[sigma]``,
    ``var = E[(sigma - mean)^2]``, ``a1 = E[sigma']``, ``a2 = E[sigma'']``,
    ``q = E[((sigma - mean)^2)'']`` and ``s = E[sigma'^2]`` (``+inf`` for piecewise-constant
    activations). Derivatives of non-smooth activations are distributional. See the theory
    page ``docs/theory/moments.md`` (section Gaussian moments).

    Attributes:
        mean: ``E[sigma(tau xi)]``.
        var: ``E[(sigma - mean)^2]``.
        a1: ``E[sigma']``.
        a2: ``E[sigma'']``.
        q: ``E[((sigma - mean)^2)'']``.
        s: ``E[sigma'^2]`` (``+inf`` for piecewise-constant activations).
    """

    mean: jax.Array
    var: jax.Array
    a1: jax.Array
    a2: jax.Array
    q: jax.Array
    s: jax.Array


class GaussianPair(NamedTuple):
    """A centred Gaussian pair ``(u, v)``: ``Var u = var1``, ``Var v = var2``,
    ``Cov(u, v) = cov``, standard deviations ``s1``, ``s2`` (at least ``1e-15``) and the
    correlation ``rho`` in ``[-1, 1]``; all arrays broadcast together."""

    var1: jax.Array
    var2: jax.Array
    cov: jax.Array
    s1: jax.Array
    s2: jax.Array
    rho: jax.Array


def is_traced(x: Any) -> bool:
    """True when ``x`` is a JAX tracer (an abstract value inside ``jit`` / ``grad``)."""
    return isinstance(x, jax.core.Tracer)


def as_float(t) -> jax.Array:
    """``jnp.asarray(t)``, cast to the default float dtype when it is not floating already."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.result_type(float))
    return t


def _concrete(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array, got {value!r}") from None
    return arr


def check_tau(tau: Any, lo: float, hi: float, what: str) -> None:
    """Raise ValueError unless every entry of a concrete ``tau`` is finite and in ``[lo, hi]``.

    Args:
      tau: input scale, any shape (skipped when traced).
      lo, hi: the supported range of ``what``.
      what: the activation's name, for the message.

    Raises:
      ValueError: naming ``tau``, for non-numeric, NaN, Inf, non-positive or out-of-range
        entries.
    """
    if is_traced(tau):
        return
    arr = _concrete("tau", tau)
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"tau must be finite and > 0, got {tau!r}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"tau must lie in [{lo:g}, {hi:g}] (the supported input scale of "
                         f"activation {what!r}), got values in [{arr.min():g}, {arr.max():g}]")


def check_bivariate_inputs(var1, var2, cov, center, hi: float, what: str) -> None:
    """Raise ValueError for bad concrete inputs of a bivariate map.

    Args:
      var1, var2, cov, center: the arrays of :func:`ntkcomp.activations.bivariate`.
      hi: the largest supported input scale; ``var1`` and ``var2`` must be ``<= hi^2``.
      what: the activation's name, for the message.

    Raises:
      ValueError: naming the argument, for non-finite entries, negative variances,
        variances above ``hi^2``, or ``cov^2 > var1 * var2`` (Cauchy-Schwarz).
    """
    for name, v in (("var1", var1), ("var2", var2), ("cov", cov), ("center", center)):
        if is_traced(v):
            continue
        arr = np.asarray(v)
        if arr.dtype.kind not in "fiu" or not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be a finite real array")
        if name in ("var1", "var2") and arr.size:
            if np.any(arr < 0):
                raise ValueError(f"{name} must be >= 0 (a variance), got min {arr.min()!r}")
            if np.any(arr > hi * hi):
                raise ValueError(f"{name} must be <= {hi * hi:g} (the supported input scale "
                                 f"of activation {what!r} squared), got max {arr.max()!r}")
    if not any(is_traced(v) for v in (var1, var2, cov)):
        v1, v2, c = np.asarray(var1), np.asarray(var2), np.asarray(cov)
        bad = np.abs(c) > np.sqrt(v1 * v2) * (1.0 + 1e-6) + 1e-12
        if np.any(bad):
            raise ValueError("cov must satisfy cov^2 <= var1 * var2 (Cauchy-Schwarz); "
                             f"violated at {int(np.count_nonzero(bad))} entries")
