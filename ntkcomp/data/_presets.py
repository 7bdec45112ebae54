"""Named Gaussian-mixture settings, for any number of classes K.

See the theory page ``docs/theory/data.md`` (section Presets).

Classes are indexed ``a = 0..K-1`` (the array index of the class, as in the reference
code of Gu et al. 2022, ``code/utils/data_prepare.py``); ``e_j`` is the basis vector of
``R^p`` with array index ``j``. All presets use scalar covariances ``C_a = s_a I`` (stored
as ``(K,)``, no ``p x p`` matrix), so they scale to large p.

=========================  ==============================  ==================================
name                       means ``mu_a``                  covariances ``C_a``
=========================  ==============================  ==================================
``means``                  ``mean_norm * e_a``             ``I``
``covs``                   ``0``                           ``(1 + cov_scale (a+1)/sqrt(p)) I``
``mixed``                  ``mean_norm * e_a``             ``(1 + cov_scale (a+1)/sqrt(p)) I``
``official_mixed``         ``8 e_{8a}``                    ``(1 + 8 a / sqrt(p)) I``
``official_means_binary``  ``4 e_a - (4/K) sum_b e_b``     ``I``
=========================  ==============================  ==================================

``means``, ``covs`` and ``mixed`` are ntkcomp's own settings: ``mean_norm = 3`` by default
(``||mu_a - mu_b|| = 3 sqrt(2)``, a clearly separable signal of order one) and
``cov_scale = 4`` (``tr(C_a - C°)/sqrt(p)`` of order one, the regime of the theory).

The ``official_`` presets are the reference code's ``mixed`` and ``means_binary`` test
cases exactly: ``official_mixed`` (means ``8 e_1``, ``8 e_9``, covariances ``I`` and
``(1 + 8/sqrt(p)) I`` for K = 2 in one-based notation; needs ``p >= 8K - 7``) and
``official_means_binary`` (the means ``4 e_a`` centred over the classes, for K = 2 the
means ``+-(2 e_1 - 2 e_2)`` in one-based notation, ``C = I``). The reference's
spectra use ``n = 8000``, ``p = 4000``, widths ``[2000, 2000, 1000]``.
Every preset accepts ``proportions`` (default uniform ``1/K``).
"""
from __future__ import annotations

import enum
import math

import numpy as np

from ntkcomp._validate import check_positive, check_positive_int
from ntkcomp.data._gmm import GMM

__all__ = ["Preset", "gmm_preset"]


class Preset(str, enum.Enum):
    """Names of the built-in mixtures (table in the module docstring)."""

    MEANS = "means"
    COVS = "covs"
    MIXED = "mixed"
    OFFICIAL_MIXED = "official_mixed"
    OFFICIAL_MEANS_BINARY = "official_means_binary"


def _means_on_axes(K: int, p: int, norm: float, step: int) -> np.ndarray:
    """``(K, p)`` means ``norm * e_{step * a}``, ``a = 0..K-1``."""
    M = np.zeros((K, p))
    M[np.arange(K), step * np.arange(K)] = norm
    return M


def _as_preset(name) -> Preset:
    try:
        return Preset(name)
    except ValueError:
        raise ValueError(f"name must be one of {[m.value for m in Preset]}, got {name!r}") from None


def _min_dimension(preset: Preset, K: int) -> int:
    return 8 * (K - 1) + 1 if preset is Preset.OFFICIAL_MIXED else K


def gmm_preset(name, p: int, K: int = 2, *, mean_norm: float = 3.0,
               cov_scale: float = 4.0, proportions=None) -> GMM:
    """Build a named :class:`GMM` (table in the module docstring).

    Args:
      name: a :class:`Preset` or its string value (``"means"``, ``"covs"``, ``"mixed"``,
        ``"official_mixed"``, ``"official_means_binary"``).
      p: dimension, ``p >= K`` (``p >= 8K - 7`` for ``official_mixed``).
      K: number of classes, ``K >= 1``.
      mean_norm: ``||mu_a||`` for ``means`` and ``mixed``, ``> 0``.
      cov_scale: ``c'`` in ``C_a = (1 + c' (a+1)/sqrt(p)) I`` for ``covs`` and ``mixed``,
        ``>= 0``.
      proportions: class proportions ``(K,)`` (default uniform).

    Returns:
      :class:`GMM` with scalar covariances ``(K,)`` and means ``(K, p)``.

    Raises:
      ValueError: naming the parameter (an unknown ``name`` lists the allowed ones).
    """
    preset = _as_preset(name)
    p = check_positive_int("p", p)
    K = check_positive_int("K", K)
    check_positive("mean_norm", mean_norm)
    check_positive("cov_scale", cov_scale, allow_zero=True)
    p_min = _min_dimension(preset, K)
    if p < p_min:
        raise ValueError(f"p must be >= {p_min} for preset {preset.value!r} with K = {K} "
                         f"(means on the axes), got {p}")
    a = np.arange(K, dtype=float)
    if preset is Preset.OFFICIAL_MIXED:
        return GMM(_means_on_axes(K, p, 8.0, 8), 1.0 + 8.0 * a / math.sqrt(p), proportions)
    if preset is Preset.OFFICIAL_MEANS_BINARY:
        M = _means_on_axes(K, p, 4.0, 1)
        return GMM(M - M.mean(axis=0), np.ones(K), proportions)
    scaled = 1.0 + float(cov_scale) * (a + 1.0) / math.sqrt(p)
    if preset is Preset.MEANS:
        return GMM(_means_on_axes(K, p, float(mean_norm), 1), np.ones(K), proportions)
    if preset is Preset.COVS:
        return GMM(np.zeros((K, p)), scaled, proportions)
    return GMM(_means_on_axes(K, p, float(mean_norm), 1), scaled, proportions)
