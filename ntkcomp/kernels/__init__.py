"""Kernels of the MLP: empirical (one network), Monte Carlo averages, exact expectations.

- :func:`conjugate_kernels`, :func:`empirical_ntk`: exact, tiled, jit-compiled (empirical).
- :func:`ntk_autodiff`: Jacobian-based reference (tests only).
- :func:`monte_carlo_kernels`: averages over weight draws with standard errors.
- :func:`expected_kernels`: exact infinite-width E_W kernels via the bivariate map.
- :func:`sharded_empirical_ntk`, :func:`sharded_conjugate_kernels`: rows over a device mesh.
"""
from ntkcomp.kernels.autodiff import ntk_autodiff
from ntkcomp.kernels.empirical import conjugate_kernels, empirical_ntk, forward_backward
from ntkcomp.kernels.expected import expected_kernels
from ntkcomp.kernels.monte_carlo import monte_carlo_kernels
from ntkcomp.kernels.sharding import device_mesh, sharded_conjugate_kernels, sharded_empirical_ntk

__all__ = [
           "conjugate_kernels",
           "device_mesh",
           "empirical_ntk",
           "expected_kernels",
           "forward_backward",
           "monte_carlo_kernels",
           "ntk_autodiff",
           "sharded_conjugate_kernels",
           "sharded_empirical_ntk",
]
