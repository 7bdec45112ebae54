"""Kernels of the MLP: empirical (one network), Monte Carlo averages, exact expectations.

* :func:`conjugate_kernels`, :func:`empirical_ntk`: exact kernels of one network, tiled and
  jit-compiled.
* :func:`ck_operator`, :func:`ntk_operator`: the same kernels as matrix-free linear operators
  (for ``ntkcomp.spectral`` at large n).
* :func:`monte_carlo_kernels`: averages over weight draws with standard errors;
  :func:`expected_kernels`: the exact infinite-width weight averages.
* :func:`sharded_empirical_ntk`, :func:`sharded_conjugate_kernels`: rows over all devices of
  all processes (``jax.distributed``).

See the theory page ``docs/theory/network.md`` (section Kernels).
"""
from ntkcomp.kernels._empirical import conjugate_kernels, empirical_ntk
from ntkcomp.kernels._expected import expected_kernels
from ntkcomp.kernels._monte_carlo import monte_carlo_kernels
from ntkcomp.kernels._operators import ck_operator, ntk_operator
from ntkcomp.kernels._sharding import sharded_conjugate_kernels, sharded_empirical_ntk

__all__ = [
    "ck_operator",
    "conjugate_kernels",
    "empirical_ntk",
    "expected_kernels",
    "monte_carlo_kernels",
    "ntk_operator",
    "sharded_conjugate_kernels",
    "sharded_empirical_ntk",
]
