"""High-dimensional equivalents of the conjugate kernel and the NTK.

See the theory page ``docs/theory/equivalents.md``.

- :func:`coefficients` runs the layer recursion :func:`layer_step` (one pure step on a
  :class:`LayerCarry`) over a network and returns the per-layer :class:`Coefficients`.
- :func:`ck_equivalent` / :func:`ntk_equivalent` return an :class:`EquivalentKernel`, the
  ``(n, n)`` equivalent in structured form (``.dense()``, ``.matvec(v)``, ``np.asarray``).
- :class:`Kurtosis` selects the weight-kurtosis correction; :class:`Variant` the standard
  formulas or those of the paper's public reference code.
"""
from ntkcomp.equivalents._build import ck_equivalent, ntk_equivalent
from ntkcomp.equivalents._kernel import EquivalentKernel
from ntkcomp.equivalents._options import Kurtosis, Variant
from ntkcomp.equivalents._recursion import Coefficients, LayerCarry, coefficients, layer_step

__all__ = [
    "Coefficients",
    "EquivalentKernel",
    "Kurtosis",
    "LayerCarry",
    "Variant",
    "ck_equivalent",
    "coefficients",
    "layer_step",
    "ntk_equivalent",
]
