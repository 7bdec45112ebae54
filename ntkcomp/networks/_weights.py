"""Weight laws: i.i.d. entries of mean 0 and variance 1.

See the theory pages ``docs/theory/network.md`` (section Weight laws) and
``docs/theory/universality.md`` (section Weight universality).

Every law is standardised (E[w] = 0, E[w^2] = 1); what distinguishes them in the
high-dimensional equivalents is the fourth cumulant ``kappa4 = E[w^4] - 3`` (``kappa6``, the
sixth, enters the second-order Edgeworth term of the expected layer maps):

=================  =====================================================  =================
name               law                                                    kappa4
=================  =====================================================  =================
gaussian           N(0, 1)                                                0
rademacher         +-1 with probability 1/2 each                          -2
sparse_ternary     0 w.p. eps, +-1/sqrt(1-eps) w.p. (1-eps)/2 each        1/(1-eps) - 3
sparse_gaussian    0 w.p. eps, N(0, 1/(1-eps)) w.p. 1-eps                 3/(1-eps) - 3
student_t          t_nu * sqrt((nu-2)/nu)  (nu > 4 for a finite kappa4)   6/(nu-4)
=================  =====================================================  =================

A :class:`WeightLaw` is a frozen, hashable description (usable as a static argument
of ``jax.jit``); ``law.sample(key, shape, dtype)`` draws an array.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp

from ntkcomp._validate import check_choice, check_in_range

_LAWS = ("gaussian", "rademacher", "sparse_ternary", "sparse_gaussian", "student_t")
_PARAMS = MappingProxyType({
    "gaussian": (),
    "rademacher": (),
    "sparse_ternary": ("eps",),
    "sparse_gaussian": ("eps",),
    "student_t": ("nu",),
})


@dataclasses.dataclass(frozen=True)
class WeightLaw:
    """A standardised (mean 0, variance 1) i.i.d. weight distribution.

    Attributes:
      name: one of ``WeightLaw.available()``.
      params: tuple of ``(parameter name, float value)`` pairs (hashable), e.g.
        ``(("eps", 0.9),)`` for ``sparse_ternary``.
    """

    name: str
    params: tuple = ()

    @staticmethod
    def available() -> tuple[str, ...]:
        """Names accepted by :func:`weight_law`."""
        return _LAWS

    def param(self, key: str) -> float:
        """The value of parameter ``key`` (``"eps"`` or ``"nu"``)."""
        return dict(self.params)[key]

    @property
    def kappa4(self) -> float:
        """Fourth cumulant ``E[w^4] - 3`` of the standardised law."""
        if self.name == "gaussian":
            return 0.0
        if self.name == "rademacher":
            return -2.0
        if self.name == "sparse_ternary":
            return 1.0 / (1.0 - self.param("eps")) - 3.0
        if self.name == "sparse_gaussian":
            return 3.0 / (1.0 - self.param("eps")) - 3.0
        if self.name == "student_t":
            return 6.0 / (self.param("nu") - 4.0)
        raise AssertionError(self.name)  # pragma: no cover

    @property
    def kappa6(self) -> float:
        """Sixth cumulant ``E[w^6] - 15 E[w^4] + 30`` of the standardised (symmetric) law;
        ``inf`` for ``student_t`` with ``nu <= 6`` (no sixth moment). Enters the
        second-order Edgeworth term of the expected layer maps
        (the Edgeworth correction of ``ntkcomp.spectral.expected_layer_maps``)."""
        if self.name == "gaussian":
            return 0.0
        if self.name == "rademacher":
            return 16.0   # E w^6 = E w^4 = 1
        if self.name in ("sparse_ternary", "sparse_gaussian"):
            r = 1.0 / (1.0 - self.param("eps"))
            m4, m6 = (r, r * r) if self.name == "sparse_ternary" else (3.0 * r, 15.0 * r * r)
            return m6 - 15.0 * m4 + 30.0
        if self.name == "student_t":
            nu = self.param("nu")
            if nu <= 6.0:
                return math.inf
            m4 = 3.0 * (nu - 2.0) / (nu - 4.0)
            m6 = 15.0 * (nu - 2.0) ** 2 / ((nu - 4.0) * (nu - 6.0))
            return m6 - 15.0 * m4 + 30.0
        raise AssertionError(self.name)  # pragma: no cover

    @property
    def density(self) -> float:
        """Fraction of non-zero entries (1 - eps for the sparse laws, 1 otherwise)."""
        if self.name in ("sparse_ternary", "sparse_gaussian"):
            return 1.0 - self.param("eps")
        return 1.0

    def sample(self, key: jax.Array, shape: tuple, dtype: Any = None) -> jax.Array:
        """Draw an array of i.i.d. entries of this law.

        Args:
          key: a ``jax.random`` key.
          shape: output shape, e.g. ``(d_in, d_out)``.
          dtype: floating dtype (default: JAX's default float).
        Returns:
          array of ``shape`` with entries of mean 0 and variance 1 (the first
          ``prod(shape)`` entries of a flat draw of bucketed length, see ``_bucket``).
        """
        if dtype is None:
            dtype = jnp.zeros(()).dtype
        shape = tuple(int(s) for s in shape)
        if (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                and str(jax.random.key_impl(key)) == jax.config.jax_default_prng_impl):
            key = jax.random.key_data(key)      # one compiled sampler for both key styles
        keep, scale, nu = 1.0, 1.0, None
        if self.name in ("sparse_ternary", "sparse_gaussian"):
            keep = 1.0 - self.param("eps")
            scale = math.sqrt(keep)
        elif self.name == "student_t":
            nu = self.param("nu")
            scale = math.sqrt((nu - 2.0) / nu)
        return _sample(self.name, nu, key, shape, jnp.dtype(dtype), keep, scale)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"weight_law({self.name!r}{', ' if args else ''}{args})"


def _bucket(size: int) -> int:
    """Sampling size: the next power of two >= size (at least 256).

    Draws are made as flat vectors of a bucketed length and cut to the requested shape,
    so one compiled sampler per (law, bucket, dtype) serves every shape in the bucket
    (compiling e.g. the Student-t gamma sampler for every layer shape is slow).
    """
    return max(256, 1 << max(0, size - 1).bit_length())


@partial(jax.jit, static_argnums=(0, 1, 3, 4))
def _sample(name: str, nu: float | None, key: jax.Array, shape: tuple, dtype: Any,
            keep: float, scale: float) -> jax.Array:
    """An array of ``shape`` of i.i.d. draws of the law ``name``: the first
    ``prod(shape)`` of ``_bucket(prod(shape))`` flat draws, so a stream depends on the
    size only through its bucket. ``keep`` (the probability of a non-zero entry, 1 - eps)
    and ``scale`` (the standardising factor) are traced: one compiled program serves every
    eps of a sparse law."""
    size = math.prod(shape)
    flat = _sample_flat(name, nu, key, _bucket(size), dtype, keep, scale)
    return flat[:size].reshape(shape)


def _sample_flat(name: str, nu: float | None, key: jax.Array, size: int, dtype: Any,
                 keep, scale) -> jax.Array:
    """``size`` flat i.i.d. draws of the law ``name`` (traced inside :func:`_sample`)."""
    shape = (size,)
    if name == "gaussian":
        return jax.random.normal(key, shape, dtype)
    if name == "rademacher":
        return jax.random.rademacher(key, shape, dtype)
    if name in ("sparse_ternary", "sparse_gaussian"):
        k_mask, k_val = jax.random.split(key)
        mask = jax.random.bernoulli(k_mask, keep, shape)
        if name == "sparse_ternary":
            val = jax.random.rademacher(k_val, shape, dtype)
        else:
            val = jax.random.normal(k_val, shape, dtype)
        return jnp.where(mask, val / scale.astype(dtype), jnp.zeros((), dtype))
    if name == "student_t":
        return jax.random.t(key, nu, shape, dtype) * scale.astype(dtype)
    raise AssertionError(name)  # pragma: no cover


def weight_law(name: str | WeightLaw, **params: float) -> WeightLaw:
    """Build a standardised weight law by name.

    Args:
      name: ``"gaussian"``, ``"rademacher"``, ``"sparse_ternary"`` (needs ``eps``),
        ``"sparse_gaussian"`` (needs ``eps``) or ``"student_t"`` (needs ``nu``);
        a :class:`WeightLaw` is returned unchanged.
      params: the law's parameters by keyword:
        ``eps`` (sparsity, the probability of a zero entry, in [0, 1)) or
        ``nu`` (Student-t degrees of freedom, > 4: a finite fourth cumulant).

    Returns:
      The :class:`WeightLaw` (hashable; usable as an ``MLP`` field).

    Raises:
      ValueError: unknown name, missing/unknown parameter, eps outside [0, 1), nu <= 4.
    """
    if isinstance(name, WeightLaw):
        if params:
            raise ValueError("weight_law: parameters cannot be given with a WeightLaw object")
        return name
    check_choice("weight law name", name, _LAWS)
    expected = _PARAMS[name]
    unknown = set(params) - set(expected)
    if unknown:
        raise ValueError(f"weight law {name!r} takes parameters {list(expected)}, "
                         f"got unknown {sorted(unknown)}")
    missing = [k for k in expected if k not in params]
    if missing:
        raise ValueError(f"weight law {name!r} needs parameter(s) {missing}")
    if "eps" in params:
        check_in_range("eps", params["eps"], 0.0, 1.0)
    if "nu" in params:
        nu = params["nu"]
        check_in_range("nu", nu, 4.0, math.inf, low_open=True, high_open=True)
    return WeightLaw(name, tuple((k, float(params[k])) for k in expected))
