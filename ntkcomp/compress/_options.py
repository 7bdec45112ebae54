"""Typed options of the compression steps (small frozen values; strings convert).

Each option is an ``enum.Enum`` with string values or a frozen dataclass, so that
``Family("ternary")`` and ``Family.TERNARY`` are the same value and the public entry
:func:`ntkcomp.compress.compress` can accept the strings of its command-line form.
See the theory page ``docs/theory/compression.md`` (section Design).
"""
from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import numpy as np

from ntkcomp._validate import check_in_range, check_positive, check_positive_int
from ntkcomp.equivalents import Kurtosis

__all__ = ["Family", "Target", "HiddenScale", "SolverOptions",
           "KurtosisBudget", "layer_eps", "parse_enum"]


class Family(enum.Enum):
    """Quantized activation family: ``binary`` (2 levels), ``ternary`` (3), ``k_level``
    (``levels`` levels) or ``auto`` (per layer the fewest levels meeting the tolerance)."""
    BINARY = "binary"
    TERNARY = "ternary"
    K_LEVEL = "k_level"
    AUTO = "auto"


class Target(enum.Enum):
    """Kernel the design preserves: the conjugate kernel ``ck`` (CK_L) or the ``ntk``."""
    CK = "ck"
    NTK = "ntk"


def parse_enum(cls: type[enum.Enum], name: str, value: Any) -> enum.Enum:
    """``value`` as a member of ``cls`` (a member or its string value).

    Raises:
      ValueError: naming ``name`` and the allowed values when ``value`` is neither.
    """
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except (ValueError, TypeError):
        allowed = [m.value for m in cls]
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class HiddenScale:
    """Rule for the hidden layers' output scales ``tau_l^c`` (l < L).

    Attributes:
      rho: None for ``free`` (hidden layers match ``(a1^2, a2^2, q^2)`` only, ``tau_l^c``
        left free), else the ratio ``tau_l^c = rho tau_l^d`` that the hidden layers also
        match (``match`` is ``rho = 1``).
    """
    rho: float | None = None

    def __post_init__(self):
        if self.rho is not None:
            check_positive("hidden_tau", self.rho)
            object.__setattr__(self, "rho", float(self.rho))

    @classmethod
    def parse(cls, value: Any) -> HiddenScale:
        """``"free"``, ``"match"``, a ratio ``rho > 0`` (number or numeric string) or a
        :class:`HiddenScale`.

        Raises:
          ValueError: for any other value (names ``hidden_tau``).
        """
        if isinstance(value, HiddenScale):
            return value
        if isinstance(value, str):
            if value in ("free", "match"):
                return cls(None if value == "free" else 1.0)
            try:
                value = float(value)
            except ValueError:
                raise ValueError("hidden_tau must be 'free', 'match' or a ratio > 0, "
                                 f"got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating,
                                                             np.integer)):
            raise ValueError(f"hidden_tau must be 'free', 'match' or a ratio > 0, got {value!r}")
        return cls(float(value))

    @property
    def is_free(self) -> bool:
        return self.rho is None

    def to_json(self) -> str | float:
        """``"free"`` or the ratio rho (``match`` reads 1.0)."""
        return "free" if self.rho is None else self.rho


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """Settings of the per-layer moment-matching solve (deterministic for fixed values).

    Attributes:
      tol: relative-residual tolerance of the feasibility verdict, > 0.
      seed: seed of the random starts (layer ``l`` uses ``seed + l``).
      n_starts: Levenberg-Marquardt starts per solve, >= 1.
      k_max: most levels tried by ``Family.AUTO``, >= 3.
    """
    tol: float = 1e-10
    seed: int = 0
    n_starts: int = 64
    k_max: int = 6

    def __post_init__(self):
        check_positive("tol", self.tol)
        object.__setattr__(self, "tol", float(self.tol))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "n_starts", check_positive_int("n_starts", self.n_starts))
        object.__setattr__(self, "k_max", check_positive_int("k_max", self.k_max, minimum=3))


@dataclasses.dataclass(frozen=True)
class KurtosisBudget:
    """Kurtosis-aware layer-1 sparsity: move eps_1 to the nearest value whose predicted
    loss ``||Delta|| / ||K_dense||`` is at most ``tol`` (``tol=None``: predict only).

    Attributes:
      tol: the loss budget, > 0, or None (no adjustment).
      model: which prediction, ``ntkcomp.equivalents.Kurtosis.THEORY`` (class-block
        term, linear in kappa4) or ``Kurtosis.REALISED`` (realised fourth moments,
        quadratic in kappa4), or its string value ``"theory"`` / ``"realised"``.
    """
    tol: float | None = None
    model: Kurtosis = Kurtosis.THEORY

    def __post_init__(self):
        if self.tol is not None:
            if isinstance(self.tol, bool) or not math.isfinite(float(self.tol)):
                raise ValueError(f"kurtosis_tol must be a finite number > 0, got {self.tol!r}")
            check_positive("kurtosis_tol", self.tol)
            object.__setattr__(self, "tol", float(self.tol))
        model = self.model
        if not isinstance(model, (Kurtosis, str)) or model not in (
                Kurtosis.THEORY, Kurtosis.REALISED, "theory", "realised"):
            raise ValueError(f"kurtosis_model must be one of ['theory', 'realised'], "
                             f"got {model!r}")
        object.__setattr__(self, "model", Kurtosis(model))


def layer_eps(eps: Any, depth: int) -> list[float]:
    """Per-layer sparsities of the sparse ternary weights.

    Args:
      eps: a scalar or a length-``depth`` sequence, each in ``[0, 1)``.
      depth: number of layers, >= 1.

    Returns:
      ``depth`` floats, layer 1 first.

    Raises:
      ValueError: wrong length, a non-number or a value outside ``[0, 1)`` (names ``eps``
        or ``eps[i]``).
    """
    if np.ndim(eps) == 0:
        vals = [eps] * depth
    else:
        vals = list(np.asarray(eps, dtype=float).ravel())
        if len(vals) != depth:
            raise ValueError(f"eps must be a scalar or a list of {depth} values (one per "
                             f"layer), got {len(vals)} values")
    out = []
    for i, e in enumerate(vals):
        if isinstance(e, bool) or not isinstance(e, (int, float, np.floating, np.integer)):
            raise ValueError(f"eps must be a number in [0, 1), got {e!r}")
        check_in_range("eps" if depth == 1 or np.ndim(eps) == 0 else f"eps[{i}]", float(e),
                       0.0, 1.0)
        out.append(float(e))
    return out
