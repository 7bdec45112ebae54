"""Named Gaussian-mixture settings (THEORY.md §1), for any number of classes K.

Classes are indexed ``a = 1..K`` as in THEORY.md; ``e_j`` is the j-th canonical basis
vector of R^p counted from 1 (array index ``j - 1``). All presets use scalar covariances
``C_a = s_a I`` (stored as ``(K,)``, no ``p x p`` matrix), so they scale to large p.

=================  ==================================  ======================================
name               means ``mu_a``                      covariances ``C_a``
=================  ==================================  ======================================
``means``          ``mean_norm * e_a``                 ``I``
``covs``           ``0``                               ``(1 + cov_scale * a / sqrt(p)) I``
``mixed``          ``mean_norm * e_a``                 ``(1 + cov_scale * a / sqrt(p)) I``
``official_mixed`` ``8 e_{8a}``                        ``(1 + 8 a / sqrt(p)) I``
=================  ==================================  ======================================

Defaults: ``mean_norm = 3`` (``||mu_a - mu_b|| = 3 sqrt(2)``, a clearly separable O(1)
signal), ``cov_scale = 4`` (``tr(C_a - C°)/sqrt(p) = O(1)``, THEORY's regime).
``official_mixed`` is the official experiment's setting (used there with ``n = 8000``,
``p = 4000``, widths ``[2000, 2000, 1000]``); it needs ``p >= 8K``.
Every preset accepts ``proportions`` (default uniform ``1/K``).
"""
from __future__ import annotations

import math

import numpy as np

from ntkcomp._validate import check_positive, check_positive_int
from ntkcomp.data.gmm import GMM

__all__ = ["PRESETS", "gmm_preset"]

PRESETS = ("means", "covs", "mixed", "official_mixed")


def _means_on_axes(K: int, p: int, norm: float, step: int) -> np.ndarray:
    M = np.zeros((K, p))
    for a in range(1, K + 1):
        M[a - 1, step * a - 1] = norm
    return M


def gmm_preset(name: str, p: int, K: int = 2, *, mean_norm: float = 3.0,
               cov_scale: float = 4.0, proportions=None) -> GMM:
    """Build a named :class:`GMM` (table in the module docstring).

    Args:
      name: one of ``"means"``, ``"covs"``, ``"mixed"``, ``"official_mixed"``.
      p: dimension (``p >= K``; ``p >= 8K`` for ``official_mixed``).
      K: number of classes (>= 1).
      mean_norm: ``||mu_a||`` for ``means``/``mixed`` (> 0).
      cov_scale: ``c'`` in ``C_a = (1 + c' a/sqrt(p)) I`` for ``covs``/``mixed`` (>= 0).
      proportions: class proportions ``(K,)`` (default uniform).
    Raises:
      ValueError naming the parameter (unknown name lists the allowed ones).
    """
    if name not in PRESETS:
        raise ValueError(f"name must be one of {list(PRESETS)}, got {name!r}")
    p = check_positive_int("p", p)
    K = check_positive_int("K", K)
    check_positive("mean_norm", mean_norm)
    check_positive("cov_scale", cov_scale, allow_zero=True)
    a = np.arange(1, K + 1, dtype=float)
    if name == "official_mixed":
        if p < 8 * K:
            raise ValueError(f"p must be >= 8K = {8 * K} for preset 'official_mixed' "
                             f"(means 8 e_{{8a}}), got {p}")
        return GMM(_means_on_axes(K, p, 8.0, 8), 1.0 + 8.0 * a / math.sqrt(p), proportions)
    if p < K:
        raise ValueError(f"p must be >= K = {K} for preset {name!r} (means on axes), got {p}")
    zeros = np.zeros((K, p))
    ones = np.ones(K)
    scaled = 1.0 + float(cov_scale) * a / math.sqrt(p)
    if name == "means":
        return GMM(_means_on_axes(K, p, float(mean_norm), 1), ones, proportions)
    if name == "covs":
        return GMM(zeros, scaled, proportions)
    return GMM(_means_on_axes(K, p, float(mean_norm), 1), scaled, proportions)
