"""Input validation helpers shared by the public API (core-internal).

Every error names the offending parameter and the allowed values, and is raised before any
work starts (no half-written output). Validation runs on concrete (Python / NumPy / JAX)
values only; inside ``jit`` traced values are passed through unchecked.

Dtype policy of the public entry points:

- Data and weights (arrays, :func:`check_data`): real floating arrays keep their dtype;
  integer and boolean arrays are cast to JAX's default float (float32, or float64 after
  ``ntkcomp.enable_x64()``); complex, string, object and date arrays are refused; NaN or
  Inf entries are refused, naming the argument and the count; entries so large that
  ``X @ X.T`` would overflow the dtype are refused with the largest magnitude allowed.
- Real scalar parameters (:func:`as_float`): Python, NumPy or 0-d array integers and
  floats are converted to a Python float; booleans, complex numbers and strings are
  refused, and so are NaN and Inf.
- Integer parameters (:func:`check_positive_int`): Python integers, NumPy integers and 0-d
  integer arrays (NumPy or JAX, e.g. ``jnp.int32(3)``) are converted to a Python int;
  booleans, floats (even integral ones such as ``2.0``) and strings are refused.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _is_traced(x: Any) -> bool:
    """True for a JAX tracer (inside ``jit``/``grad``): its values cannot be checked."""
    return isinstance(x, jax.core.Tracer)


def _integer(value: Any) -> int | None:
    """``int(value)`` for an integer scalar (Python, NumPy, 0-d integer array), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0 \
            and np.dtype(value.dtype).kind in "iu":
        return int(value)
    return None


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as a Python int; raise ValueError (naming ``name``) unless it is an
    integer scalar (see the dtype policy) >= ``minimum``."""
    as_int = _integer(value)
    if as_int is None:
        kind = type(value).__name__
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} ({kind})")
    if as_int < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return as_int


def as_float(name: str, value: Any) -> float:
    """Return a real scalar ``value`` as a finite Python float.

    Raises:
        ValueError: ``value`` is a boolean, complex, string, non-scalar or NaN/Inf (the
            message names ``name``).
    """
    arr = np.asarray(value) if not _is_traced(value) else None
    if arr is None or isinstance(value, (bool, np.bool_)) or arr.ndim != 0 \
            or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real number, got {value!r}")
    out = float(arr)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def check_data(name: str, value: Any, *, ndim: int | None = 2) -> Any:
    """Validate a data or weight array under the dtype policy and return it as an array.

    Args:
        name: the argument's name, used in every message.
        value: array-like (NumPy or JAX); traced values are returned unchanged.
        ndim: required number of dimensions (None: any).

    Returns:
        ``value`` as a JAX array: floating dtypes kept, integer/bool cast to JAX's default
        float.

    Raises:
        ValueError: wrong ``ndim``; complex/string/object dtype; NaN or Inf entries; entries
            whose squares summed over the last axis would overflow the dtype.
    """
    if _is_traced(value):
        return value
    arr = np.asarray(value)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    dtype = jnp.result_type(float) if arr.dtype.kind in "biu" else \
        jax.dtypes.canonicalize_dtype(arr.dtype)
    check_finite_array(name, arr)
    if arr.size:
        width = arr.shape[-1] if arr.ndim else 1
        limit = math.sqrt(float(np.finfo(dtype).max) / max(width, 1))
        big = float(np.max(np.abs(arr)))
        if big > limit:
            raise ValueError(f"{name} has entries up to {big:.3g}: its Gram products would "
                             f"overflow {np.dtype(dtype).name} (largest magnitude allowed "
                             f"{limit:.3g} for {width} features)")
    return jnp.asarray(value, dtype)


def _as_float_array(name: str, value: Any, what: str) -> np.ndarray:
    """``np.asarray(value, float)``, with a ValueError naming ``name`` if it is not numeric."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    """Raise ValueError unless every entry of ``value`` is finite and > 0 (>= 0 if allowed)."""
    if _is_traced(value):
        return value
    bound = ">= 0" if allow_zero else "> 0"
    arr = _as_float_array(name, value, f"a real number {bound}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    ok = arr >= 0 if allow_zero else arr > 0
    if not np.all(ok):
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def check_in_range(name: str, value: Any, low: float, high: float, *,
                   low_open: bool = False, high_open: bool = True) -> Any:
    """Raise ValueError unless ``low (<|<=) value (<|<=) high`` entrywise (default [low, high))."""
    if _is_traced(value):
        return value
    arr = _as_float_array(name, value, f"a real number in [{low}, {high}]")
    lo_ok = arr > low if low_open else arr >= low
    hi_ok = arr < high if high_open else arr <= high
    if not (np.all(np.isfinite(arr)) and np.all(lo_ok) and np.all(hi_ok)):
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{hb}, got {value!r}")
    return value


def check_finite_array(name: str, value: Any) -> Any:
    """Raise ValueError if a concrete array is not real numeric (complex, strings, objects)
    or contains NaN or Inf."""
    if _is_traced(value):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind in "cSUOMm":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; found {bad} NaN/Inf entries")
    return value


def symmetric_float64(name: str, K: Any) -> np.ndarray:
    """float64 copy ``(K + K^T) / 2`` of a square ``(n, n)`` matrix ``K``; ValueError (naming
    ``name``) if ``K`` is not square or has NaN/Inf entries."""
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {K.shape}")
    check_finite_array(name, K)
    return 0.5 * (K + K.T)


def check_shape(name: str, value: Any, expected: tuple) -> Any:
    """Check ``value.shape`` against ``expected`` (``None`` matches any size)."""
    shape = tuple(np.shape(value))
    if len(shape) != len(expected) or any(e is not None and e != s
                                          for e, s in zip(expected, shape)):
        exp = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} must have shape {exp}, got {shape}")
    return value


def check_choice(name: str, value: Any, allowed) -> Any:
    """Raise ValueError unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def isclose_one(x: float, tol: float = 1e-8) -> bool:
    return math.isclose(float(x), 1.0, rel_tol=0.0, abs_tol=tol)
