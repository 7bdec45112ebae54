"""The :class:`Activation` base class: one object per family owns all of its maths.

A family is a subclass that sets the class attributes ``name`` and ``kind``, declares its
numeric parameters as annotated fields (with defaults, or without for required ones) and
implements ``sigma``. Everything else has a generic default that a family may override with
closed forms: ``dsigma`` / ``d2sigma`` (forward-mode autodiff),
``breakpoints`` (none), ``exact_moments`` (none: the moments then come from piecewise
Gauss-Legendre quadrature), ``exact_bivariate`` (none: the Mehler series) and
``tau_range`` (the supported input scales).

Every subclass becomes a frozen dataclass and a JAX pytree: the parameters are the leaves
(differentiable with ``jax.grad``, batchable with ``vmap``), the class is the static part.
See the theory page ``docs/theory/moments.md`` (sections Gaussian moments, Bivariate maps).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.activations._mehler import (N_TERMS, correlation, mehler_bivariate,
                                         mehler_error_bound)
from ntkcomp.activations._quadrature import N_NODES, quadrature_moments
from ntkcomp.activations._types import (GaussianPair, Kind, Moments, as_float,
                                        check_bivariate_inputs, check_tau, is_traced)

__all__ = ["TAU_MAX", "TAU_MIN", "Activation"]

#: Default supported input scales: finite moments and bivariate maps are guaranteed on
#: ``[TAU_MIN, TAU_MAX]`` for every built-in family (a family may narrow the range).
TAU_MIN = 1e-8
TAU_MAX = 1e8
_TINY = 1e-30
MOMENT_METHODS = ("auto", "closed_form", "quadrature")
BIVARIATE_METHODS = ("auto", "closed_form", "mehler")


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _as_param(name: str, value, vector: bool):
    """A concrete parameter as a validated float64 NumPy array; traced values pass through."""
    if is_traced(value):
        return value
    what = "a 1-D sequence of real numbers" if vector else "a real scalar"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if arr.ndim != (1 if vector else 0):
        raise ValueError(f"{name} must be {what}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    arr.flags.writeable = False
    return arr


class Activation:
    """An activation family with its parameters; a frozen dataclass and a JAX pytree.

    Subclass to define a family: set ``name`` (str) and ``kind`` (:class:`Kind`), annotate
    the numeric parameters as fields (a field named ``thresholds_`` is the parameter
    ``thresholds``: the trailing underscore avoids a clash with a method; a field without a
    default is a required parameter), list the 1-D ones in ``vector_params``, implement
    ``sigma(t)`` and optionally ``validate()``, the derivatives (``dsigma``, ``d2sigma``),
    ``breakpoints()``, ``tau_range()`` and the closed forms (``exact_moments``,
    ``exact_bivariate``). Instances are built with keyword parameters,
    e.g. ``type(get("leaky_relu"))(slope=0.2)``, with ``from_params``, or
    through :func:`ntkcomp.activations.get`.

    Attributes:
      name: the family's name (static).
      kind: its :class:`Kind` (static).
      params: ``dict`` of the numeric parameters by name (the pytree leaves).

    Calling ``act(t)`` evaluates ``sigma`` elementwise on any shape (jit / vmap / grad-able).
    """

    name = "activation"
    kind = Kind.SMOOTH
    vector_params: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        try:
            cls.kind = Kind(cls.kind)
        except ValueError:
            raise ValueError(f"kind must be one of {[k.value for k in Kind]}, got "
                             f"{cls.kind!r} (activation {cls.name!r})") from None
        dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)
        fields = dataclasses.fields(cls)
        cls._fields = tuple(sorted((_param_name(f.name), f.name) for f in fields))
        cls._required = tuple(sorted(_param_name(f.name) for f in fields
                                     if f.default is dataclasses.MISSING))
        jax.tree_util.register_pytree_node(cls, cls._flatten, cls._unflatten)

    @classmethod
    def from_params(cls, **params) -> Activation:
        """Build an instance from parameters named as in ``params`` (see the class
        docstring); ValueError for unknown or missing names and invalid values."""
        names = [p for p, _ in cls._fields]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"{unknown[0]} is not a parameter of activation {cls.name!r}; "
                             f"allowed parameters: {names}")
        missing = [p for p in cls._required if p not in params]
        if missing:
            raise ValueError(f"{missing[0]} is required for activation {cls.name!r}")
        return cls(**{attr: params[p] for p, attr in cls._fields if p in params})

    def __post_init__(self):
        for p, attr in self._fields:
            value = _as_param(p, getattr(self, attr), p in self.vector_params)
            object.__setattr__(self, attr, value)
        if not self.is_traced():
            self.validate()

    # ---- pytree, identity ----------------------------------------------------------------
    def _flatten(self):
        return tuple(getattr(self, attr) for _, attr in self._fields), None

    @classmethod
    def _unflatten(cls, aux, children):
        obj = object.__new__(cls)
        for (_, attr), v in zip(cls._fields, children):
            object.__setattr__(obj, attr, v)
        return obj

    def __reduce__(self):
        return (_rebuild, (type(self), self.params))

    @property
    def params(self) -> dict:
        """The numeric parameters by name (sorted): the pytree leaves."""
        return {p: getattr(self, attr) for p, attr in self._fields}

    def is_traced(self) -> bool:
        """True when some parameter is a JAX tracer (inside ``jit`` / ``grad``)."""
        return any(is_traced(v) for v in self.params.values())

    def _key(self):
        if self.is_traced():
            return None
        return (type(self), tuple((f, np.shape(v), np.asarray(v, np.float64).tobytes())
                                  for f, v in self.params.items()))

    def __hash__(self):
        key = self._key()
        return hash(key) if key is not None else id(self)

    def __eq__(self, other):
        if not isinstance(other, Activation):
            return NotImplemented
        k1, k2 = self._key(), other._key()
        if k1 is None or k2 is None:
            return self is other
        return k1 == k2

    def __repr__(self):
        ps = [f"{k}=<traced>" if is_traced(v) else f"{k}={np.asarray(v).tolist()!r}"
              for k, v in self.params.items()]
        return f"Activation({self.name!r}{', ' if ps else ''}{', '.join(ps)})"

    # ---- the function ----------------------------------------------------------------------
    def validate(self) -> None:
        """Check concrete parameter values; raise ValueError naming the parameter."""

    def sigma(self, t):
        """``sigma(t)`` elementwise on a floating array ``t`` (to be implemented)."""
        raise NotImplementedError(f"{type(self).__name__} must implement sigma(t)")

    def dsigma(self, t):
        """``sigma'(t)`` on a floating ``t`` (default: forward-mode autodiff of ``sigma``)."""
        return jax.jvp(self.sigma, (t,), (jnp.ones_like(t),))[1]

    def d2sigma(self, t):
        """``sigma''(t)`` on a floating ``t`` (default: forward-mode autodiff of ``dsigma``)."""
        return jax.jvp(self.dsigma, (t,), (jnp.ones_like(t),))[1]

    def __call__(self, t):
        """``sigma(t)`` elementwise; ``t`` any shape (integers are cast to float)."""
        return self.sigma(as_float(t))

    def derivative(self, t):
        """``sigma'(t)`` elementwise; ``t`` any shape (0 almost everywhere for piecewise
        constant: the autodiff convention)."""
        return self.dsigma(as_float(t))

    def second_derivative(self, t):
        """``sigma''(t)`` elementwise away from the breakpoints; ``t`` any shape."""
        return self.d2sigma(as_float(t))

    def breakpoints(self):
        """``(m,)`` kinks / jumps of ``sigma`` (empty for smooth families)."""
        return jnp.zeros((0,), dtype=jnp.result_type(float))

    def thresholds(self):
        """``(k-1,)`` thresholds; ValueError unless the kind is piecewise constant."""
        raise ValueError(f"thresholds() needs kind='piecewise_constant'; activation "
                         f"{self.name!r} has kind={str(self.kind)!r}")

    def levels(self):
        """``(k,)`` levels; ValueError unless the kind is piecewise constant."""
        raise ValueError(f"levels() needs kind='piecewise_constant'; activation "
                         f"{self.name!r} has kind={str(self.kind)!r}")

    def tau_range(self) -> tuple[float, float]:
        """``(tau_min, tau_max)``: the input scales on which the moments and bivariate
        maps are supported (finite). Default ``(TAU_MIN, TAU_MAX)``."""
        return TAU_MIN, TAU_MAX

    # ---- closed-form hooks -----------------------------------------------------------------
    def exact_moments(self, tau) -> Moments:
        """Closed-form :class:`Moments` at a floating ``tau`` of shape ``S`` (a family with
        closed forms overrides this; the default has none)."""
        raise NotImplementedError

    def exact_bivariate(self, pair: GaussianPair, center):
        """Closed-form ``(ck, dd)`` for the :class:`GaussianPair` ``pair``, on the broadcast
        shape (a family with closed forms overrides this; the default has none)."""
        raise NotImplementedError

    def has_closed_form(self, what: str = "moments") -> bool:
        """True when the family overrides ``exact_moments`` (``what="moments"``) or
        ``exact_bivariate`` (``what="bivariate"``) with closed forms."""
        hook = {"moments": "exact_moments", "bivariate": "exact_bivariate"}[what]
        return getattr(type(self), hook) is not getattr(Activation, hook)

    # ---- public maths ----------------------------------------------------------------------
    def moments(self, tau, *, method: str = "auto", n_nodes: int = N_NODES) -> Moments:
        """Gaussian moments at input scale ``tau``.

        Args:
          tau: array_like, any shape ``S``, within :meth:`tau_range` (checked when
            concrete). The input is ``tau * xi`` with ``xi ~ N(0, 1)``.
          method: ``"auto"`` (closed form when the family has one, else quadrature),
            ``"closed_form"`` or ``"quadrature"`` (piecewise Gauss-Legendre).
          n_nodes: Gauss-Legendre nodes per panel for the quadrature.

        Returns:
          :class:`Moments`, each field of shape ``S`` (``s = inf`` for piecewise constant).
          Pure JAX: jit-able and differentiable w.r.t. ``tau`` and the parameters.

        Raises:
          ValueError: for ``method`` not in the list above (or ``"closed_form"`` without a
            closed form), and ``tau`` non-numeric, NaN, Inf, <= 0 or outside
            :meth:`tau_range`.

        See the theory page ``docs/theory/moments.md`` (section Gaussian moments).
        """
        _check_choice("method", method, MOMENT_METHODS)
        lo, hi = self.tau_range()
        check_tau(tau, lo, hi, self.name)
        if method == "closed_form" and not self.has_closed_form("moments"):
            raise ValueError(f"method='closed_form' is not available for activation "
                             f"{self.name!r}; use method='quadrature' or 'auto'")
        quad = method == "quadrature" or not self.has_closed_form("moments")
        leaves = [jnp.asarray(v) for v in self.params.values()]
        dtype = jnp.result_type(jnp.asarray(tau), *leaves, float)
        if not jnp.issubdtype(dtype, jnp.floating):
            dtype = jnp.result_type(float)
        return _moments_jit(self, jnp.asarray(tau).astype(dtype), quad, int(n_nodes))

    def bivariate(self, var1, var2, cov, center=0.0, *, method: str = "auto",
                  n_terms: int = N_TERMS, n_nodes: int = N_NODES):
        """``(ck, dd) = (E[(sigma(u) - center)(sigma(v) - center)], E[sigma'(u) sigma'(v)])``.

        Args:
          var1, var2, cov, center: arrays broadcast together (e.g. ``(n, 1)``, ``(1, n)``,
            ``(n, n)``, scalar); ``(u, v)`` is a centred Gaussian pair with
            ``Var u = var1``, ``Var v = var2``, ``Cov(u, v) = cov``; ``center`` is usually
            ``moments(act, tau).mean``. ``sqrt(var)`` at most ``tau_range()[1]``.
          method: ``"auto"`` (closed form when the family has one, else the Mehler series),
            ``"closed_form"`` or ``"mehler"`` (the series; not for piecewise constant).
          n_terms: Mehler truncation ``K`` (error bound: :meth:`mehler_error_bound`).
          n_nodes: Gauss-Legendre nodes per panel for the Hermite coefficients.

        Returns:
          ``(ck, dd)`` of the broadcast shape; ``dd = 0`` for piecewise constant.

        Raises:
          ValueError: for a bad ``method`` or ``n_terms``, and inputs that are not finite,
            negative or too large variances, or ``cov^2 > var1 var2``.

        See the theory page ``docs/theory/moments.md`` (section Bivariate maps).
        """
        _check_choice("method", method, BIVARIATE_METHODS)
        check_bivariate_inputs(var1, var2, cov, center, self.tau_range()[1], self.name)
        closed = self.has_closed_form("bivariate")
        if method == "closed_form" and not closed:
            raise ValueError(f"method='closed_form' is not available for activation "
                             f"{self.name!r}")
        if method == "mehler" and self.kind == Kind.PIECEWISE_CONSTANT:
            raise ValueError("method='mehler' is not available for piecewise-constant "
                             "activations (use 'auto')")
        if isinstance(n_terms, bool) or int(n_terms) < 1:
            raise ValueError(f"n_terms must be an integer >= 1, got {n_terms!r}")
        series = method == "mehler" or not closed
        return _bivariate_jit(self, var1, var2, cov, center, series, int(n_terms),
                              int(n_nodes), _same_values(var1, var2))

    def mehler_error_bound(self, var1, var2, cov, *, n_terms: int = N_TERMS,
                           n_nodes: int = N_NODES):
        """Bounds on the Mehler truncation error of ``(ck, dd)``.

        ``|rho|^(K+1) sqrt(R(s1) R(s2))`` with ``R(s) = E[f(s xi)^2] - sum_{k<=K} a_k(s)^2``
        for ``f = sigma``, then ``sigma'`` (zero for polynomials of degree ``<= K``).

        Args:
          var1, var2, cov: as in :meth:`bivariate`.
          n_terms, n_nodes: as in :meth:`bivariate`.

        Returns:
          ``(bound_ck, bound_dd)`` of the broadcast shape.

        Raises:
          ValueError: for inputs rejected by :meth:`bivariate`.
        """
        check_bivariate_inputs(var1, var2, cov, 0.0, self.tau_range()[1], self.name)
        return _bound_jit(self, var1, var2, cov, int(n_terms), int(n_nodes))

    def centred(self, ss, pair: GaussianPair, center):
        """``ss - center (m1 + m2) + center^2``: the centred ``ck`` from the uncentred
        ``ss = E[sigma(u) sigma(v)]``, with ``m_i = E[sigma]`` at scale ``pair.s_i``."""
        if self.has_closed_form("moments"):
            m1, m2 = self.exact_moments(pair.s1).mean, self.exact_moments(pair.s2).mean
        else:
            m1 = quadrature_moments(self, pair.s1).mean
            m2 = quadrature_moments(self, pair.s2).mean
        return ss - center * (m1 + m2) + center * center


def _param_name(field_name: str) -> str:
    """The parameter name of a field: a trailing underscore (used where the name would
    clash with a method, e.g. ``thresholds``) is dropped."""
    return field_name[:-1] if field_name.endswith("_") else field_name


def _rebuild(cls, params):
    return cls.from_params(**params)


def _same_values(var1, var2) -> bool:
    """True when var2 holds exactly var1's values in the same order (e.g. ``d[:, None]`` and
    ``d[None, :]`` of a symmetric kernel), so the per-sample coefficients can be shared."""
    if is_traced(var1) or is_traced(var2) or np.size(var1) != np.size(var2):
        return False
    if np.size(var1) < 2:
        return False
    return bool(np.array_equal(np.ravel(np.asarray(var1)), np.ravel(np.asarray(var2))))


@functools.partial(jax.jit, static_argnames=("quad", "n_nodes"))
def _moments_jit(act, tau, quad, n_nodes):
    m = quadrature_moments(act, tau, n_nodes) if quad else act.exact_moments(tau)
    return Moments(*(jnp.broadcast_to(jnp.asarray(v, tau.dtype), tau.shape) for v in m))


def _pair(var1, var2, cov, center):
    dtype = jnp.result_type(var1, var2, cov, center, float)
    var1, var2, cov, center = (jnp.asarray(x, dtype) for x in (var1, var2, cov, center))
    s1 = jnp.sqrt(jnp.maximum(var1, _TINY))
    s2 = jnp.sqrt(jnp.maximum(var2, _TINY))
    return GaussianPair(var1, var2, cov, s1, s2, correlation(var1, var2, cov, s1, s2)), center


@functools.partial(jax.jit, static_argnames=("series", "n_terms", "n_nodes", "same"))
def _bivariate_jit(act, var1, var2, cov, center, series, n_terms, n_nodes, same):
    pair, center = _pair(var1, var2, cov, center)
    if series:
        return mehler_bivariate(act, pair.s1, pair.s2, pair.rho, center, n_terms, n_nodes,
                                same)
    return act.exact_bivariate(pair, center)


@functools.partial(jax.jit, static_argnames=("n_terms", "n_nodes"))
def _bound_jit(act, var1, var2, cov, n_terms, n_nodes):
    pair, _ = _pair(var1, var2, cov, 0.0)
    return mehler_error_bound(act, pair.s1, pair.s2, pair.rho, n_terms, n_nodes)
