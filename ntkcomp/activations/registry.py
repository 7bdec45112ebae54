"""Activation registry: :class:`Activation` pytrees, :func:`get`, :func:`register`, :func:`available`.

An :class:`Activation` is a JAX pytree whose leaves are its numeric parameters
(``params: dict[str, Array]``, differentiable with ``jax.grad``) and whose static aux
data are ``name`` and ``kind``. The behaviour (function, breakpoints, thresholds, levels)
is looked up by ``name`` in the registry, so an activation can be rebuilt from its
leaves inside ``jit`` / ``grad`` / ``vmap``.

Kinds
-----
``"smooth"``            sigma is C^2 (tanh, erf, sin, gelu, ...): breakpoints are empty.
``"piecewise_smooth"``  sigma is smooth between ``breakpoints()`` (kinks such as relu at 0).
``"piecewise_constant"`` sigma(t) = levels[j] on (thresholds[j-1], thresholds[j]]
                        (thresholds[-1] = -inf, thresholds[k-1] = +inf); sigma' = 0 a.e.
                        (the autodiff convention), breakpoints() = thresholds().

Built-in names (parameters and defaults)
-----------------------------------------
relu, leaky_relu(slope=0.01), abs, tanh, erf, sigmoid, sin, cos, gelu (exact, t*Phi(t)),
swish (t*sigmoid(t)), softplus (log(1+e^t)), polynomial(coeffs=(0, 1)) (sum_k coeffs[k] t^k),
quadratic (t^2), binary(s1=-1, s2=1, b=1) = b*(1{t<s1} + 1{t>s2}),
ternary(s1=-1, s2=1, b_neg=1, b_pos=1) = -b_neg*1{t<s1} + b_pos*1{t>s2},
k_level(thresholds, levels) (no defaults; len(levels) = len(thresholds) + 1).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf as _erf
from jax.scipy.special import ndtr as _ndtr

from ntkcomp._validate import _is_traced, check_choice

KINDS = ("smooth", "piecewise_smooth", "piecewise_constant")

__all__ = ["KINDS", "Activation", "available", "get", "register"]


# --------------------------------------------------------------------------------------
# Registry entries
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    kind: str
    factory: Callable[..., Callable] | None          # factory(**params) -> (t -> sigma(t))
    derivative: Callable[..., Callable] | None       # derivative(**params) -> (t -> sigma'(t))
    breakpoints: Callable[..., Any] | None           # breakpoints(**params) -> (m,)
    thresholds_levels: Callable[..., Any] | None     # (**params) -> ((k-1,), (k,))
    defaults: Mapping[str, Any]
    required: tuple[str, ...]
    validate: Callable[[dict], None] | None
    vector_params: tuple[str, ...] = ()              # params that are 1-D arrays


_REGISTRY: dict[str, _Spec] = {}


def available() -> list[str]:
    """Sorted list of registered activation names."""
    return sorted(_REGISTRY)


def register(name: str, factory: Callable[..., Callable] | None = None, *,
             kind: str = "smooth",
             derivative: Callable[..., Callable] | None = None,
             breakpoints: Callable[..., Any] | None = None,
             thresholds_levels: Callable[..., Any] | None = None,
             defaults: Mapping[str, Any] | None = None,
             required: tuple[str, ...] = (),
             validate: Callable[[dict], None] | None = None,
             vector_params: tuple[str, ...] = (),
             overwrite: bool = False) -> None:
    """Register a user activation under ``name``.

    Parameters
    ----------
    factory : ``factory(**params) -> f`` with ``f(t)`` the elementwise activation (pure JAX).
        Optional for ``kind="piecewise_constant"`` (then built from thresholds/levels).
    kind : one of ``"smooth"``, ``"piecewise_smooth"``, ``"piecewise_constant"``.
    derivative : optional ``derivative(**params) -> f'``; default: forward-mode autodiff.
    breakpoints : for ``"piecewise_smooth"``: ``breakpoints(**params) -> (m,)`` kinks/jumps
        (used to split quadrature). Required for that kind.
    thresholds_levels : for ``"piecewise_constant"``: ``(**params) -> (thresholds (k-1,),
        levels (k,))`` with sigma = levels[j] on (thresholds[j-1], thresholds[j]]. Required.
    defaults : default parameter values (scalars or 1-D sequences).
    required : parameter names without defaults that :func:`get` must receive.
    validate : optional ``validate(params)`` raising ValueError on bad concrete values.
    vector_params : names of parameters that are 1-D arrays (others must be scalars).
    overwrite : allow replacing an existing name.

    Moments of registered activations are computed by piecewise Gauss-Legendre quadrature
    (split at the breakpoints), see :func:`ntkcomp.activations.moments`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    check_choice("kind", kind, KINDS)
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"name {name!r} is already registered; pass overwrite=True to replace it")
    if kind == "piecewise_constant" and thresholds_levels is None:
        raise ValueError("thresholds_levels is required for kind='piecewise_constant'")
    if kind == "piecewise_smooth" and breakpoints is None:
        raise ValueError("breakpoints is required for kind='piecewise_smooth'")
    if kind != "piecewise_constant" and factory is None:
        raise ValueError(f"factory is required for kind={kind!r}")
    _REGISTRY[name] = _Spec(name=name, kind=kind, factory=factory, derivative=derivative,
                            breakpoints=breakpoints, thresholds_levels=thresholds_levels,
                            defaults=dict(defaults or {}), required=tuple(required),
                            validate=validate, vector_params=tuple(vector_params))


def _spec(name: str) -> _Spec:
    if name not in _REGISTRY:
        raise ValueError(f"name must be one of {available()}, got {name!r}")
    return _REGISTRY[name]


def _as_param(pname: str, value: Any, vector: bool):
    """Concrete values -> float64 NumPy arrays (validated finite); traced values kept."""
    if _is_traced(value):
        arr = value
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{pname} must be a real number{' sequence' if vector else ''}, "
                             f"got {value!r}") from exc
    if not _is_traced(arr):
        if vector and arr.ndim != 1:
            raise ValueError(f"{pname} must be a 1-D sequence of numbers, got shape {arr.shape}")
        if not vector and arr.ndim != 0:
            raise ValueError(f"{pname} must be a scalar, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{pname} must be finite, got {value!r}")
    return arr


def get(name: str, **params) -> Activation:
    """Activation ``name`` with parameters ``params`` (missing ones take their defaults).

    Raises ValueError for an unknown name, unknown/missing parameters, NaN/Inf values,
    thresholds out of order, and levels/thresholds length mismatch.
    """
    spec = _spec(name)
    allowed = set(spec.defaults) | set(spec.required)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"{unknown[0]} is not a parameter of activation {name!r}; "
                         f"allowed parameters: {sorted(allowed)}")
    missing = [p for p in spec.required if p not in params]
    if missing:
        raise ValueError(f"{missing[0]} is required for activation {name!r}")
    merged = {**spec.defaults, **params}
    p = {k: _as_param(k, v, k in spec.vector_params) for k, v in sorted(merged.items())}
    if spec.validate is not None and not any(_is_traced(v) for v in p.values()):
        spec.validate(p)
    return Activation(name=name, kind=spec.kind, params=p)


# --------------------------------------------------------------------------------------
# The pytree
# --------------------------------------------------------------------------------------
def _jvp_derivative(f: Callable) -> Callable:
    """Elementwise derivative of an elementwise function by forward-mode autodiff."""
    def df(t):
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(jnp.result_type(float))
        return jax.jvp(f, (t,), (jnp.ones_like(t),))[1]
    return df


@jax.tree_util.register_pytree_node_class
class Activation:
    """An activation function with metadata; a JAX pytree (leaves: ``params``).

    Attributes
    ----------
    name : str (static)       registry name, e.g. ``"relu"``.
    kind : str (static)       ``"smooth" | "piecewise_smooth" | "piecewise_constant"``.
    params : dict[str, Array] numeric parameters (the pytree leaves; differentiable).

    Calling ``act(t)`` evaluates sigma elementwise (any shape; jit/vmap/grad-able).
    """

    __slots__ = ("kind", "name", "params")

    def __init__(self, name: str, kind: str, params: Mapping[str, Any]):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "params", dict(params))

    def __setattr__(self, key, value):  # frozen
        raise AttributeError("Activation is immutable; use ntkcomp.activations.get(...)")

    def __reduce__(self):  # pickle / copy.deepcopy (the frozen __setattr__ blocks the default)
        return (Activation, (self.name, self.kind, self.params))

    # pytree protocol ------------------------------------------------------------------
    def tree_flatten(self):
        keys = tuple(sorted(self.params))
        return tuple(self.params[k] for k in keys), (self.name, self.kind, keys)

    @classmethod
    def tree_unflatten(cls, aux, children):
        name, kind, keys = aux
        return cls(name, kind, dict(zip(keys, children)))

    # identity -------------------------------------------------------------------------
    def _key(self):
        items = []
        for k in sorted(self.params):
            v = self.params[k]
            if _is_traced(v):
                return None
            a = np.asarray(v, dtype=np.float64)
            items.append((k, a.shape, a.tobytes()))
        return (self.name, self.kind, tuple(items))

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
        ps = []
        for k in sorted(self.params):
            v = self.params[k]
            if _is_traced(v):
                ps.append(f"{k}=<traced>")
            else:
                a = np.asarray(v)
                ps.append(f"{k}={a.tolist()!r}")
        return f"Activation({self.name!r}{', ' if ps else ''}{', '.join(ps)})"

    # behaviour ------------------------------------------------------------------------
    @property
    def spec(self) -> _Spec:
        return _spec(self.name)

    def _p(self) -> dict:
        return {k: jnp.asarray(v) for k, v in self.params.items()}

    def __call__(self, t):
        """sigma(t), elementwise; ``t`` any shape."""
        spec = self.spec
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(jnp.result_type(float))
        if spec.factory is not None:
            return spec.factory(**self._p())(t)
        thr, lev = self.thresholds(), self.levels()
        return _piecewise_constant_eval(t, thr, lev)

    def derivative(self, t):
        """sigma'(t) elementwise (0 a.e. for piecewise-constant kinds: autodiff convention)."""
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(jnp.result_type(float))
        if self.kind == "piecewise_constant":
            dtype = jnp.result_type(t, *[jnp.asarray(v) for v in self.params.values()])
            return jnp.zeros(t.shape, dtype)
        spec = self.spec
        if spec.derivative is not None:
            return spec.derivative(**self._p())(t)
        return _jvp_derivative(self)(t)

    def second_derivative(self, t):
        """sigma''(t) elementwise, away from breakpoints (0 a.e. for piecewise constant)."""
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(jnp.result_type(float))
        if self.kind == "piecewise_constant":
            return self.derivative(t)
        return _jvp_derivative(self.derivative)(t)

    def breakpoints(self):
        """1-D array of kinks/jumps (empty for smooth; the thresholds for piecewise constant)."""
        spec = self.spec
        if self.kind == "piecewise_constant":
            return self.thresholds()
        if spec.breakpoints is None:
            return jnp.zeros((0,), dtype=jnp.result_type(float))
        return jnp.atleast_1d(jnp.asarray(spec.breakpoints(**self._p())))

    def thresholds(self):
        """(k-1,) increasing thresholds of a piecewise-constant activation."""
        if self.kind != "piecewise_constant":
            raise ValueError(f"thresholds() needs kind='piecewise_constant'; "
                             f"activation {self.name!r} has kind={self.kind!r}")
        return jnp.atleast_1d(jnp.asarray(self.spec.thresholds_levels(**self._p())[0]))

    def levels(self):
        """(k,) levels: sigma = levels[j] on (thresholds[j-1], thresholds[j]]."""
        if self.kind != "piecewise_constant":
            raise ValueError(f"levels() needs kind='piecewise_constant'; "
                             f"activation {self.name!r} has kind={self.kind!r}")
        return jnp.atleast_1d(jnp.asarray(self.spec.thresholds_levels(**self._p())[1]))


def _piecewise_constant_eval(t, thr, lev):
    """levels[0] + sum_j (levels[j+1]-levels[j]) 1{t > thr[j]}."""
    jumps = jnp.diff(lev)
    steps = (t[..., None] > thr).astype(jnp.result_type(t, lev))
    return lev[0] + jnp.sum(steps * jumps, axis=-1)


# --------------------------------------------------------------------------------------
# Built-ins
# --------------------------------------------------------------------------------------
_SQRT2 = float(np.sqrt(2.0))


def _check_order(params, names):
    vals = [float(np.asarray(params[n])) for n in names]
    for a, b, na, nb in zip(vals[:-1], vals[1:], names[:-1], names[1:]):
        if not a <= b:
            raise ValueError(f"thresholds out of order: need {na} <= {nb}, got {na}={a}, {nb}={b}")


def _validate_k_level(p):
    thr = np.asarray(p["thresholds"])
    lev = np.asarray(p["levels"])
    if thr.size < 1:
        raise ValueError("thresholds must have at least one entry")
    if lev.size != thr.size + 1:
        raise ValueError(f"levels must have len(thresholds) + 1 = {thr.size + 1} entries, "
                         f"got {lev.size}")
    if np.any(np.diff(thr) < 0):
        raise ValueError(f"thresholds must be non-decreasing, got {thr.tolist()}")


def _validate_polynomial(p):
    if np.asarray(p["coeffs"]).size < 1:
        raise ValueError("coeffs must have at least one entry")


def _poly_eval(coeffs):
    def f(t):
        out = jnp.zeros_like(t) + coeffs[-1]
        for k in range(coeffs.shape[0] - 2, -1, -1):
            out = out * t + coeffs[k]
        return out
    return f


def _register_builtins():
    register("relu", lambda: (lambda t: jnp.maximum(t, 0.0)), kind="piecewise_smooth",
             derivative=lambda: (lambda t: (t > 0).astype(t.dtype)),
             breakpoints=lambda: jnp.zeros((1,)))
    register("leaky_relu",
             lambda slope: (lambda t: jnp.where(t > 0, t, slope * t)),
             kind="piecewise_smooth", defaults={"slope": 0.01},
             derivative=lambda slope: (lambda t: jnp.where(t > 0, 1.0, slope) + 0.0 * t),
             breakpoints=lambda slope: jnp.zeros((1,)))
    register("abs", lambda: jnp.abs, kind="piecewise_smooth",
             derivative=lambda: jnp.sign, breakpoints=lambda: jnp.zeros((1,)))
    register("tanh", lambda: jnp.tanh,
             derivative=lambda: (lambda t: 1.0 / jnp.cosh(t) ** 2))
    register("erf", lambda: _erf,
             derivative=lambda: (lambda t: (2.0 / np.sqrt(np.pi)) * jnp.exp(-t * t)))
    register("sigmoid", lambda: jax.nn.sigmoid,
             derivative=lambda: (lambda t: jax.nn.sigmoid(t) * jax.nn.sigmoid(-t)))
    register("sin", lambda: jnp.sin, derivative=lambda: jnp.cos)
    register("cos", lambda: jnp.cos, derivative=lambda: (lambda t: -jnp.sin(t)))
    register("gelu", lambda: (lambda t: t * _ndtr(t)),
             derivative=lambda: (lambda t: _ndtr(t) + t * jnp.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)))
    register("swish", lambda: (lambda t: t * jax.nn.sigmoid(t)),
             derivative=lambda: (lambda t: jax.nn.sigmoid(t) * (1.0 + t * jax.nn.sigmoid(-t))))
    register("softplus", lambda: jax.nn.softplus, derivative=lambda: jax.nn.sigmoid)
    register("polynomial", lambda coeffs: _poly_eval(coeffs), defaults={"coeffs": (0.0, 1.0)},
             vector_params=("coeffs",), validate=_validate_polynomial)
    register("quadratic", lambda: (lambda t: t * t), derivative=lambda: (lambda t: 2.0 * t))

    register("binary",
             lambda s1, s2, b: (lambda t: b * ((t < s1).astype(t.dtype) + (t > s2).astype(t.dtype))),
             kind="piecewise_constant", defaults={"s1": -1.0, "s2": 1.0, "b": 1.0},
             thresholds_levels=lambda s1, s2, b: (jnp.stack([s1, s2]),
                                                  jnp.stack([b, 0.0 * b, b])),
             validate=lambda p: _check_order(p, ["s1", "s2"]))
    register("ternary",
             lambda s1, s2, b_neg, b_pos: (lambda t: -b_neg * (t < s1).astype(t.dtype)
                                           + b_pos * (t > s2).astype(t.dtype)),
             kind="piecewise_constant",
             defaults={"s1": -1.0, "s2": 1.0, "b_neg": 1.0, "b_pos": 1.0},
             thresholds_levels=lambda s1, s2, b_neg, b_pos: (
                 jnp.stack([s1, s2]), jnp.stack([-b_neg, 0.0 * b_neg, b_pos])),
             validate=lambda p: _check_order(p, ["s1", "s2"]))
    register("k_level", None, kind="piecewise_constant", required=("thresholds", "levels"),
             thresholds_levels=lambda thresholds, levels: (thresholds, levels),
             vector_params=("thresholds", "levels"), validate=_validate_k_level)


_register_builtins()
