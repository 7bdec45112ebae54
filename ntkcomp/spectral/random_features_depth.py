"""The compounded random-features law: THEORY section 6 for deep networks (L >= 2).

The law of :mod:`ntkcomp.spectral.random_features`, eig(P^{1/2} G G^T P^{1/2} / d), is the
law of one network's CK_1 (population ``P = K~_1``). In a deep network every hidden layer
is a finite random-features draw of its own: conditionally on the realised Gram
``CK_{l-1}``, layer l's features are i.i.d. over its ``d_l`` neurons with covariance
``F_l(CK_{l-1})``, where ``F_l`` is the exact expected-next-layer map (the bivariate
Gaussian expectation of :func:`ntkcomp.activations.bivariate` applied to the realised Gram,
its diagonal from the realised norms). Applying the one-layer law to the last layer only,
with population ``K~_L`` or ``E_W[CK_L]``, ignores the spread added by layers 1..L-1 and
under-predicts the width of a deep draw's spectrum (measured: W1 / mean eigenvalue
0.05-0.29 for ReLU, erf and ternary at L = 2, 3, n = 512-1024, d = n and 4n, against a
draw-to-draw null of 0.007-0.024;
``theory_checks/reports/finite_width_depth.md``).

The compounded law samples every layer::

    M_0 = K0 (= X X^T),   P_l = F_l(M_{l-1}),   M_l = P_l^{1/2} G_l G_l^T P_l^{1/2} / d_l,

with independent standard Gaussian ``G_l`` (n x d_l): Gaussian surrogate features with the
right conditional covariance at every layer. It is exact in distribution for linear
activations with Gaussian weights; for nonlinear activations the features' non-Gaussian
fourth moments are not reproduced (a 1/d-order effect on the spectrum, below the sampling
noise of one draw in the checks). At L = 1 it is :func:`random_features_spectrum` with
population ``F_1(K0) = E_W[CK_1]``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np

from ntkcomp._validate import check_positive_int
from ntkcomp.spectral.random_features import (
    _as_symmetric,
    _psd_sqrt,
    random_features_spectrum,
    robust_eigh,
)

__all__ = [
    "compounded_random_features_spectrum",
    "expected_layer_maps",
    "gaussian_features_gram",
]


def expected_layer_maps(net) -> list:
    """``[F_1, ..., F_L]`` for an ``ntkcomp.networks.MLP``: ``F_l(M)`` is the exact expected
    CK of layer l given the Gram matrix ``M`` (n x n) of its input,
    ``E[(sigma_l(u) - m_l)(sigma_l(v) - m_l)]`` with ``(u, v) ~ N(0, [[M_ii, M_ij],
    [M_ij, M_jj]])`` (``m_l = net.centers[l]``), diagonal from the 1-D moments at scale
    ``sqrt(M_ii)``: the same computation as :func:`ntkcomp.kernels.expected_kernels`, so
    ``F_L(... F_1(X X^T))`` is ``E_W[CK_L]``. Float64 NumPy in and out."""
    import jax.numpy as jnp

    from ntkcomp.activations import bivariate, moments

    def make(act, center):
        def F(M):
            M = _as_symmetric(M, "M")
            v = np.diag(M).copy()
            if np.any(v <= 0):
                raise ValueError("M must have a positive diagonal (squared norms of the "
                                 f"layer's inputs), got min {float(v.min())}")
            ck, _ = bivariate(act, jnp.asarray(v[:, None]), jnp.asarray(v[None, :]),
                              jnp.asarray(M), center=center)
            ck = np.array(ck, dtype=np.float64)
            mom = moments(act, jnp.sqrt(jnp.asarray(v)))
            np.fill_diagonal(ck, np.asarray(mom.var + (mom.mean - center) ** 2))
            return ck
        return F

    return [make(a, float(m)) for a, m in zip(net.activations, net.centers)]


def gaussian_features_gram(P, d: int, rng: np.random.Generator) -> np.ndarray:
    """One sample of ``P^{1/2} G G^T P^{1/2} / d`` (G: (n, d) standard Gaussian from
    ``rng``): the Gram of ``d`` Gaussian features with covariance ``P`` (PSD part of
    ``(P + P^T)/2``)."""
    d = check_positive_int("d", d)
    A, _ = _psd_sqrt(P)
    Z = A @ rng.standard_normal((A.shape[0], d))
    return Z @ Z.T / d


def compounded_random_features_spectrum(K0, layer_maps: Sequence[Callable], widths,
                                        key, draws: int = 1) -> np.ndarray:
    """Eigenvalues ``(draws, n)``, ascending, of ``M_L`` of the compounded law (module
    docstring).

    Args:
      K0: (n, n) Gram of the inputs (``X X^T``), symmetric PSD with positive diagonal.
      layer_maps: ``[F_1, ..., F_L]`` (e.g. :func:`expected_layer_maps`), each mapping an
        input Gram (n, n) to the population of the next layer's features (n, n).
      widths: ``[d_1, ..., d_L]``, positive integers, one per map.
      key: JAX PRNG key or int seed.
      draws: number of independent samples.

    At L = 1 the result equals ``random_features_spectrum(F_1(K0), d_1, key, draws)``
    exactly (same key, same Gaussian draws)."""
    maps = list(layer_maps)
    widths = list(np.atleast_1d(widths)) if not isinstance(widths, (list, tuple)) else \
        list(widths)
    if len(maps) == 0:
        raise ValueError("layer_maps must hold at least one map (L >= 1), got 0")
    if len(widths) != len(maps):
        raise ValueError(f"widths must have one entry per layer map ({len(maps)}), got "
                         f"{len(widths)}")
    widths = [check_positive_int(f"widths[{i}]", d) for i, d in enumerate(widths)]
    draws = check_positive_int("draws", draws)
    K0 = _as_symmetric(K0, "K0")
    if isinstance(key, (int, np.integer)):
        key = jax.random.PRNGKey(int(key))
    if len(maps) == 1:
        return random_features_spectrum(maps[0](K0), widths[0], key, draws)
    n = K0.shape[0]
    seeds = np.asarray(jax.random.randint(key, (draws,), 0, 2 ** 31 - 1))
    out = np.empty((draws, n))
    for r in range(draws):
        rng = np.random.default_rng(int(seeds[r]))
        M = K0
        for F, d in zip(maps[:-1], widths[:-1]):
            M = gaussian_features_gram(F(M), d, rng)
        P = maps[-1](M)
        M = gaussian_features_gram(P, widths[-1], rng)
        out[r] = np.sort(np.clip(robust_eigh(0.5 * (M + M.T), eigvals_only=True), 0, None))
    return out
