"""Input validation helpers shared by the public API.

Every error names the offending parameter and the allowed values, and is raised
before any work starts (no half-written output). Validation runs on concrete
(Python / NumPy) values only; inside ``jit`` traced values are passed through.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def _is_traced(x: Any) -> bool:
    try:
        import jax

        return isinstance(x, jax.core.Tracer)
    except Exception:  # pragma: no cover
        return False


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``int(value)``; raise ValueError unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
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
