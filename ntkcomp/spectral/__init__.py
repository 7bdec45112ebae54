"""Spectra of kernel matrices and operators.

Every function that takes a kernel accepts an ``(n, n)`` array or a linear operator
(:class:`LinearOperator`: ``shape`` and ``matvec``, e.g. ``ntkcomp.kernels.ntk_operator`` or a
structured equivalent kernel), or a callable ``v -> K v`` with ``n``.

* :func:`spectrum`: the spectral measure (dense eigenvalues, exact Gram route, stochastic
  Lanczos quadrature or KPM); :func:`eigenvalues`, :func:`top_eigenpairs`.
* distances: :func:`wasserstein1`, :func:`wasserstein1_to_density`, :func:`operator_norm`,
  :func:`relative_operator_error`; structure: :func:`spectral_density`, :func:`spikes`,
  :func:`class_alignment`.
* finite-width laws: :func:`random_features_spectrum`, :func:`random_features_density`
  (one layer), :func:`compounded_random_features_spectrum` with
  :func:`expected_layer_maps` (deep networks). See the theory page
  ``docs/theory/finite_width.md``.
"""
from ntkcomp.spectral._dense import (
    class_alignment,
    eigenvalues,
    spectral_density,
    spikes,
)
from ntkcomp.spectral._distances import (
    operator_norm,
    relative_operator_error,
    wasserstein1,
    wasserstein1_to_density,
)
from ntkcomp.spectral._lanczos import top_eigenpairs
from ntkcomp.spectral._operator import LinearOperator
from ntkcomp.spectral._random_features import (
    random_features_density,
    random_features_spectrum,
)
from ntkcomp.spectral._random_features_depth import (
    compounded_random_features_spectrum,
    expected_layer_maps,
)
from ntkcomp.spectral._slq import SpectralMeasure
from ntkcomp.spectral._spectrum import spectrum

__all__ = [
    "LinearOperator",
    "SpectralMeasure",
    "class_alignment",
    "compounded_random_features_spectrum",
    "eigenvalues",
    "expected_layer_maps",
    "operator_norm",
    "random_features_density",
    "random_features_spectrum",
    "relative_operator_error",
    "spectral_density",
    "spectrum",
    "spikes",
    "top_eigenpairs",
    "wasserstein1",
    "wasserstein1_to_density",
]
