"""Typed options of the equivalents: the weight-kurtosis correction and the formula variant."""
from __future__ import annotations

import enum

import numpy as np

DIAGONALS = ("theory", "exact")


class Kurtosis(enum.Enum):
    """Which weight-kurtosis correction an equivalent carries.

    See the theory page ``docs/theory/universality.md`` (section Kurtosis corrections).

    The members:

    - ``NONE`` (``"none"``): no correction (the Gaussian-weight equivalent).
    - ``THEORY`` (``"theory"``): the layer-1 ``alpha_diag T_diag`` block, i.e.
      ``alpha_{1,3} T -> (a2^2 / 4)(2 T + kappa4(W_1) T_diag)`` carried by ``a1^2``.
    - ``REALISED`` (``"realised"``): the first Edgeworth terms of the layer-1 weight law
      evaluated with the data's realised fourth moments (class-block means replaced by
      ``sum_k x_ik^2 x_jk^2``, the ``sum_k x_ik^3 x_jk`` term, the layer-1 mean and
      variance shifts and the slope shifts they cause in later layers).

    The strings ``"none"``, ``"theory"``, ``"realised"`` convert to the members. For one
    release the booleans of the former option also convert: ``False`` is ``NONE`` and
    ``True`` is ``THEORY``.
    """

    NONE = "none"
    THEORY = "theory"
    REALISED = "realised"

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, (bool, np.bool_)):
            return cls.THEORY if value else cls.NONE
        return None


class Variant(enum.Enum):
    """Which form of the equivalent's formulas is used.

    Members:
      STANDARD (``"standard"``): the equivalents of the theory page
        ``docs/theory/equivalents.md``.
      REFERENCE (``"reference"``): the identity coefficient of the paper's public
        reference code: ``tau_l^2 - alpha_{l,1} tau0^2 - alpha_{l,3} tau0^4`` for the CK and
        ``(kappa_L^2)^2 - beta_{L,1} tau0^2 - beta_{L,3} tau0^4`` for the NTK, whose
        ``kappa`` recursion starts at ``kappa_0^2 = tau0`` and evaluates each step at the
        layer's output scale (``kappa_l^2 = Var[sigma_l(tau_l xi)] + E[sigma_l'(tau_l
        xi)^2] kappa_{l-1}^2``). Everything else (``X X^T`` and low-rank parts) is the same.
        See the theory page ``docs/theory/equivalents.md`` (section Variants).
    """

    STANDARD = "standard"
    REFERENCE = "reference"


def as_kurtosis(value) -> Kurtosis:
    """``value`` as a :class:`Kurtosis` member.

    Raises:
      ValueError: ``value`` is not a member, one of ``"none"``, ``"theory"``,
        ``"realised"``, or a bool.
    """
    try:
        return Kurtosis(value)
    except ValueError:
        raise ValueError("kurtosis must be a Kurtosis member or one of 'none', 'theory', "
                         "'realised' (False and True are accepted for one release as 'none' "
                         f"and 'theory'), got {value!r}") from None


def as_variant(value) -> Variant:
    """``value`` as a :class:`Variant` member.

    Raises:
      ValueError: ``value`` is not a member, ``"standard"`` or ``"reference"``.
    """
    try:
        return Variant(value)
    except ValueError:
        raise ValueError("variant must be a Variant member or one of 'standard', "
                         f"'reference', got {value!r}") from None


def check_diagonal(value: str) -> str:
    """``value`` if it is ``"theory"`` or ``"exact"``.

    Raises:
      ValueError: any other value.
    """
    if value not in DIAGONALS:
        raise ValueError(f"diagonal must be one of {list(DIAGONALS)}, got {value!r}")
    return value
