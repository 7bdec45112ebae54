"""High-dimensional equivalents of the conjugate kernel and the NTK (THEORY.md sections 4-7).

``coefficients(net, tau0)`` gives the layer-wise alpha/beta/tau/kappa recursions;
``ck_equivalent`` / ``ntk_equivalent`` build the (n, n) equivalents from GMM statistics;
``ck_equivalent_matvec`` / ``ntk_equivalent_matvec`` apply them matrix-free in O(n (p + K)).
"""
from ntkcomp.equivalents._recursion import (
    STEP_CONVENTIONS,
    Coefficients,
    LayerCarry,
    coefficients,
    layer_step,
)
from ntkcomp.equivalents.matrices import (
    KURTOSIS_MODES,
    ck_equivalent,
    ck_equivalent_matvec,
    covariance_coefficients,
    cubic_coefficient,
    deep_slope_terms,
    equivalent_parts,
    exact_diagonal,
    kurtosis_mode,
    kurtosis_shifts,
    ntk_equivalent,
    ntk_equivalent_matvec,
    small_matrix,
)

__all__ = [
    "KURTOSIS_MODES",
    "STEP_CONVENTIONS",
    "Coefficients",
    "LayerCarry",
    "ck_equivalent",
    "ck_equivalent_matvec",
    "coefficients",
    "covariance_coefficients",
    "cubic_coefficient",
    "deep_slope_terms",
    "equivalent_parts",
    "exact_diagonal",
    "kurtosis_mode",
    "kurtosis_shifts",
    "layer_step",
    "ntk_equivalent",
    "ntk_equivalent_matvec",
    "small_matrix",
]
