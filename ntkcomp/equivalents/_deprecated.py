"""Former names of the equivalents API, kept for one release (not in ``__all__``).

``ck_equivalent_matvec`` / ``ntk_equivalent_matvec`` return the structured kernel, which is
callable (``K(v) == K.matvec(v)``) and has ``.n`` and ``.dtype``; ``kurtosis_mode`` maps the
former option to ``None`` / ``"theory"`` / ``"realised"``.
"""
from __future__ import annotations

from ntkcomp.equivalents._build import ck_equivalent, exact_diagonal, ntk_equivalent
from ntkcomp.equivalents._kernel import EquivalentKernel
from ntkcomp.equivalents._options import Kurtosis, as_kurtosis


def ck_equivalent_matvec(net, stats, layer=None, **options) -> EquivalentKernel:
    """Deprecated: use :func:`ck_equivalent` (the kernel is callable, ``K(v) = K v``)."""
    return ck_equivalent(net, stats, layer, **options)


def ntk_equivalent_matvec(net, stats, **options) -> EquivalentKernel:
    """Deprecated: use :func:`ntk_equivalent` (the kernel is callable, ``K(v) = K v``)."""
    return ntk_equivalent(net, stats, **options)


def kurtosis_mode(kurtosis) -> str | None:
    """Deprecated: use ``Kurtosis(value)``. ``None`` for no correction, else the value."""
    k = as_kurtosis(kurtosis)
    return None if k is Kurtosis.NONE else k.value


__all__ = ["ck_equivalent_matvec", "exact_diagonal", "kurtosis_mode", "ntk_equivalent_matvec"]
