"""Spectral toolkit.

Dense float64 path (this package's ``dense``, ``distances``, ``random_features``,
``plots``): eigenvalues, top eigenpairs, spectral densities, Wasserstein-1 / KS distances,
relative operator-norm error, spikes (isolated eigenvalues), class alignment of
eigenvectors, and the random-features (generalised Marchenko-Pastur) law of THEORY
section 6. Matrix-free methods for huge n (SLQ, KPM, Lanczos) live in ``slq``, ``kpm``,
``lanczos``, ``matfree`` and are re-exported below when present.
"""
from ntkcomp.spectral.dense import (
    class_alignment,
    class_indicators,
    eigenvalues,
    eigh_top,
    spectral_density,
    spikes,
    subspace_alignment,
)
from ntkcomp.spectral.distances import (
    density_quantiles,
    ks_distance,
    operator_norm,
    predicted_cdf,
    relative_operator_error,
    wasserstein1,
    wasserstein1_to_density,
)
from ntkcomp.spectral.random_features import (
    default_grid,
    marchenko_pastur_density,
    random_features_density,
    random_features_spectrum,
    stieltjes_companion,
    support_edge,
)

__all__ = [
    "class_alignment",
    "class_indicators",
    "default_grid",
    "density_quantiles",
    "eigenvalues",
    "eigh_top",
    "ks_distance",
    "marchenko_pastur_density",
    "operator_norm",
    "predicted_cdf",
    "random_features_density",
    "random_features_spectrum",
    "relative_operator_error",
    "spectral_density",
    "spikes",
    "stieltjes_companion",
    "subspace_alignment",
    "support_edge",
    "wasserstein1",
    "wasserstein1_to_density",
]

# --- matrix-free methods for large n (SLQ, KPM, Lanczos) and the finite-width law at depth ---
from ntkcomp.spectral import kpm as _kpm  # noqa: E402
from ntkcomp.spectral import lanczos as _lanczos  # noqa: E402
from ntkcomp.spectral import matfree as _matfree  # noqa: E402
from ntkcomp.spectral import random_features_depth as _rfd  # noqa: E402
from ntkcomp.spectral import slq as _slq  # noqa: E402

for _mod in (_slq, _kpm, _lanczos, _matfree, _rfd):
    for _sym in _mod.__all__:
        globals()[_sym] = getattr(_mod, _sym)
        __all__.append(_sym)
del _mod, _sym
