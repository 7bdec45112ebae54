"""Numerical guards: precision warnings, finiteness checks, eigen-solver convergence.

Small pure helpers used at the public entry points so that a numerical problem is said,
never silently propagated (core-internal):

- :func:`warn_if_float32` -- JAX runs in float32 (``ntkcomp.x64_enabled()`` False)
  while the caller asks for a relative accuracy float32 cannot deliver.
  Threshold :data:`FLOAT32_MIN_REL_ACCURACY` = 1e-6: float32 machine epsilon is
  2^-23 ~ 1.19e-7 (unit roundoff 6e-8); any reduction or solve accumulates at least a few
  ulps (sums of n terms: ~sqrt(n) ulps for random rounding, a matvec/Lanczos step more), so
  ~8 eps ~ 1e-6 is the smallest relative accuracy one can honestly request in float32.
- :func:`check_finite` / :func:`check_report_finite` -- raise :class:`NonFiniteError`
  naming the quantity (the key path in a report dict) when a number that must be finite is
  NaN or +-Inf. String values (e.g. ``"inf"`` for the Lipschitz constant ``s`` of a
  piecewise-constant activation) and keys listed in ``allow_inf`` are left alone.
- :func:`ritz_residuals` / :func:`check_eigenpairs_converged` -- Ritz residual norms
  ``||A u - theta u||`` and a convergence verdict with a :class:`ConvergenceWarning`.
  For a symmetric A and unit u, some eigenvalue lies within ``||A u - theta u||`` of theta
  (Kahan/Weyl bound), so ``residual <= rtol * max|theta|`` certifies each Ritz value to
  relative accuracy rtol (w.r.t. the operator scale).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Iterable

import numpy as np

from ntkcomp import config
from ntkcomp._validate import _is_traced

__all__ = ["PrecisionWarning", "ConvergenceWarning", "NonFiniteError",
           "FLOAT32_MIN_REL_ACCURACY", "warn_if_float32", "check_finite",
           "check_report_finite", "ritz_residuals", "check_eigenpairs_converged"]

#: float32 eps (1.19e-7) times a safety factor ~8 (see module docstring).
FLOAT32_MIN_REL_ACCURACY = 1e-6

#: default relative Ritz-residual tolerance (w.r.t. max |theta|) for eigenpair convergence.
EIG_RTOL = 1e-6


class PrecisionWarning(UserWarning):
    """A requested accuracy cannot be met in the current (float32) precision."""


class ConvergenceWarning(UserWarning):
    """An iterative solver (Lanczos, LM, ...) stopped before converging."""


class NonFiniteError(ValueError, FloatingPointError):
    """A result that must be finite contains NaN or Inf."""


def warn_if_float32(required_rel_accuracy: float, *, where: str,
                    threshold: float = FLOAT32_MIN_REL_ACCURACY) -> bool:
    """Warn (:class:`PrecisionWarning`) when JAX is in float32 and ``required_rel_accuracy``
    (a relative tolerance the caller asked for) is below ``threshold`` (default 1e-6).

    Returns True when a warning was emitted. ``where`` names the entry point in the message.
    """
    if required_rel_accuracy is None or _is_traced(required_rel_accuracy):
        return False
    acc = float(required_rel_accuracy)
    if config.x64_enabled() or not (acc < threshold):
        return False
    warnings.warn(
        f"{where}: requested relative accuracy {acc:g} is below what float32 can deliver "
        f"(~{threshold:g}; eps = 1.2e-7); enable float64 with ntkcomp.enable_x64() or "
        f"JAX_ENABLE_X64=1", PrecisionWarning, stacklevel=3)
    return True


def check_finite(name: str, value: Any, *, where: str = "", allow_inf: bool = False) -> Any:
    """Return ``value`` unchanged; raise :class:`NonFiniteError` naming ``name`` if it (a
    number or array) contains NaN (or +-Inf unless ``allow_inf``). Traced values pass."""
    if value is None or isinstance(value, (str, bytes, bool)) or _is_traced(value):
        return value
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return value
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if np.any(bad):
        n_nan = int(np.sum(np.isnan(arr)))
        n_inf = int(np.sum(np.isinf(arr)))
        loc = f"{where}: " if where else ""
        raise NonFiniteError(
            f"{loc}{name} is not finite ({n_nan} NaN, {n_inf} Inf of {arr.size} entries); "
            f"refusing to put it in a report")
    return value


def check_report_finite(report: Any, *, where: str = "", name: str = "report",
                        allow_inf: Iterable[str] = ()) -> Any:
    """Recursively :func:`check_finite` every number in a (nested) dict / list / array report.

    The error names the key path (``report['layers'][1]['residuals']['q']``). Keys whose own
    name is in ``allow_inf`` may be +-Inf (never NaN); strings such as ``"inf"`` pass.

    Args:
        report: nested dicts, lists, tuples, arrays and numbers.
        where: context prefixed to the error message (e.g. the command).
        name: the name of the root in the key path of the message.
        allow_inf: dict keys under which infinite (not NaN) values are allowed.

    Returns:
        ``report``, unchanged.

    Raises:
        NonFiniteError: a number that is NaN, or infinite outside ``allow_inf`` (a
            ``ValueError``).
    """
    allow = frozenset(allow_inf)

    def walk(obj, path, inf_ok):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{path}[{k!r}]", inf_ok or k in allow)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]", inf_ok)
        elif isinstance(obj, (int, float, np.number, np.ndarray)) or hasattr(obj, "__array__"):
            check_finite(path, obj, where=where, allow_inf=inf_ok)

    walk(report, name, False)
    return report


def ritz_residuals(matvec: Callable, eigvals: Any, eigvecs: Any) -> np.ndarray:
    """``||A u_i - theta_i u_i||_2`` for each column ``u_i`` of ``eigvecs (n, k)`` and
    ``theta_i = eigvals[i]`` (``matvec: (n,) -> (n,)``). Returns ``(k,)`` float64."""
    V = np.asarray(eigvecs, dtype=np.float64)
    th = np.asarray(eigvals, dtype=np.float64).reshape(-1)
    if V.ndim == 1:
        V = V[:, None]
    out = np.empty(V.shape[1])
    for i in range(V.shape[1]):
        Av = np.asarray(matvec(V[:, i]), dtype=np.float64)
        out[i] = float(np.linalg.norm(Av - th[i] * V[:, i]))
    return out


def check_eigenpairs_converged(eigvals: Any, residuals: Any, *, rtol: float | None = None,
                               where: str = "eigensolver", scale: float | None = None,
                               warn: bool = True) -> np.ndarray:
    """Convergence verdict per Ritz pair: ``residual_i <= rtol * scale`` with ``scale``
    the operator scale (default ``max |theta|``; ``rtol`` default :data:`EIG_RTOL`, raised
    to 100 eps of the dtype of ``eigvals``). NaN residuals count as not converged.

    Emits one :class:`ConvergenceWarning` naming the unconverged pairs (unless ``warn`` is
    False) and returns the boolean array ``converged (k,)``. Traced inputs: returns None.
    """
    if _is_traced(eigvals) or _is_traced(residuals):
        return None
    th = np.asarray(eigvals)
    eps = np.finfo(th.dtype).eps if np.issubdtype(th.dtype, np.floating) else 2.2e-16
    rtol = max(EIG_RTOL if rtol is None else float(rtol), 100 * float(eps))
    th = th.astype(np.float64).reshape(-1)
    r = np.asarray(residuals, dtype=np.float64).reshape(-1)
    sc = float(np.max(np.abs(th))) if scale is None else float(scale)
    if not math.isfinite(sc) or sc == 0.0:
        sc = 1.0
    ok = np.isfinite(r) & (r <= rtol * sc)
    if warn and not np.all(ok):
        bad = np.flatnonzero(~ok)
        warnings.warn(
            f"{where}: {bad.size} of {ok.size} eigenpairs not converged (Ritz residual "
            f"||Au - theta u|| > {rtol:g} * {sc:.3g} for indices {bad.tolist()}, max "
            f"residual {np.nanmax(r):.3g}); increase num_steps", ConvergenceWarning,
            stacklevel=3)
    return ok
