"""The compounded random-features law: the finite-width law for deep networks (L >= 2).

The one-layer law, ``eig(P^{1/2} G G^T P^{1/2} / d)``, is the law of one network's CK_1
(population ``P = K~_1``). In a deep network every hidden layer is a finite random-features
draw of its own: conditionally on the realised Gram ``CK_{l-1}``, layer l's features are
i.i.d. over its ``d_l`` neurons with covariance ``F_l(CK_{l-1})``, where ``F_l`` is the exact
expected-next-layer map (the bivariate Gaussian expectation of the activation applied to the
realised Gram, its diagonal from the realised norms). The compounded law samples every layer::

    M_0 = K0 (= X X^T),   P_l = F_l(M_{l-1}),   M_l = P_l^{1/2} G_l G_l^T P_l^{1/2} / d_l,

with independent standard Gaussian ``G_l`` (n x d_l). It is exact in distribution for linear
activations with Gaussian weights; at L = 1 it is the one-layer law with population
``F_1(K0) = E_W[CK_1]``.

Non-Gaussian weights (pass the inputs ``X``): the pre-activations ``g = H w`` of a layer with
input features ``H: (n, k)`` and i.i.d. weights of fourth cumulant ``kappa4`` are Gaussian
only as ``k -> inf``. The first Edgeworth term corrects the expected map: with
``E = E_G[(sigma(u) - m)(sigma(v) - m)]`` as a function of ``(Var u, Var v, Cov)`` and
Price's theorem,

    F^kappa(M, H)_ij = F(M)_ij + (kappa4/24) [ 4 A4_i d2E/dv1^2 + 8 (A3B1)_ij d2E/dv1 dc
                       + 6 (A2B2)_ij d2E/dc^2 + 8 (A1B3)_ij d2E/dv2 dc + 4 A4_j d2E/dv2^2 ]

with ``A4_i = sum_k H_ik^4``, ``(A3B1)_ij = sum_k H_ik^3 H_jk``, ``(A2B2)_ij = sum_k H_ik^2
H_jk^2``; derivatives by central finite differences (relative step ``FD_STEP``) of the same
bivariate map. The second order (``edgeworth_order=2``) adds the ``kappa6`` and ``kappa4^2``
terms (derivatives of order 3 and 4). The expansion is in ``kappa4 / k``: it needs many
non-zero weights per neuron.

See the theory page ``docs/theory/finite_width.md`` (section Compounded law) and
``docs/theory/universality.md`` (section Kurtosis corrections).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.activations import bivariate, moments
from ntkcomp._validate import check_positive_int, symmetric_float64
from ntkcomp.spectral._random_features import (
    psd_sqrt,
    random_features_spectrum,
    robust_eigh,
)

__all__ = [
    "FD_STEP",
    "compounded_random_features_spectrum",
    "edgeworth_correction",
    "edgeworth_second_order",
    "expected_layer_maps",
    "gaussian_features",
    "gaussian_features_gram",
]

#: relative step of the central differences in :func:`edgeworth_correction` (float64 closed
#: forms: truncation ~FD_STEP^2, rounding ~1e-16 / FD_STEP^2; both far below the correction).
FD_STEP = 1e-3
#: entries with |correlation| above this are differentiated at this correlation (the
#: finite-difference stencil must stay inside |rho| < 1).
_RHO_MAX = 0.99
#: relative step of the 5-point stencils of the second-order term (derivatives of order 3
#: and 4), used at this step and twice it and Richardson-extrapolated: truncation
#: ~FD_STEP2^4, rounding ~1e-16 / FD_STEP2^4 ~ 2e-7 relative. (A single 5-point stencil
#: at 1e-2 left ~5 % of the term at correlations ~0.9; at 1e-3 rounding dominated.)
FD_STEP2 = 5e-3
_RHO_MAX2 = 0.96   # +- 4 steps stay inside |rho| < 1
#: 5-point central weights on offsets -2..2 for derivatives of order 0..4
_STENCIL = (np.array([0.0, 0.0, 1.0, 0.0, 0.0]),
            np.array([1.0, -8.0, 0.0, 8.0, -1.0]) / 12.0,
            np.array([-1.0, 16.0, -30.0, 16.0, -1.0]) / 12.0,
            np.array([-1.0, 2.0, 0.0, -2.0, 1.0]) / 2.0,
            np.array([1.0, -4.0, 6.0, -4.0, 1.0]))


def expected_layer_maps(net, *, weight_kurtosis: bool = True,
                        edgeworth_order: int = 1) -> list:
    """The expected layer maps ``F_l`` of a network: input Gram to expected CK of layer l.

    For an ``ntkcomp.networks.MLP``, ``F_l(M)`` is the exact expected CK of layer l given the Gram matrix ``M`` (n x n) of its input,
    ``E[(sigma_l(u) - m_l)(sigma_l(v) - m_l)]`` with ``(u, v) ~ N(0, [[M_ii, M_ij],
    [M_ij, M_jj]])`` (``m_l = net.centers[l]``), diagonal from the 1-D moments at scale
    ``sqrt(M_ii)``: the same computation as :func:`ntkcomp.kernels.expected_kernels`, so
    ``F_L(... F_1(X X^T))`` is ``E_W[CK_L]``. Float64 NumPy in and out.

    Each map also accepts ``F_l(M, H)`` with ``H: (n, k)`` the layer's input features
    (``M = H H^T``): then, if ``weight_kurtosis`` and layer l's weight law has
    ``kappa4 != 0`` (or, at second order, ``kappa6 != 0``: sparse ternary eps = 2/3 has
    ``kappa4 = 0``, ``kappa6 = -6``), the first Edgeworth correction for the non-Gaussian
    weights is added
    (:func:`edgeworth_correction`, module docstring); ``edgeworth_order=2`` adds the
    second-order (``kappa6`` and ``kappa4^2``) term (:func:`edgeworth_second_order`).
    Without ``H``, or for Gaussian weights, the map is the Gaussian one. See the theory
    page ``docs/theory/finite_width.md`` (section Compounded law).

    Args:
        net: an ``ntkcomp.networks.MLP``.
        weight_kurtosis: add the Edgeworth correction for non-Gaussian weight laws.
        edgeworth_order: 1 or 2.

    Returns:
        ``[F_1, ..., F_L]``, callables ``F_l(M)`` or ``F_l(M, H)`` returning ``(n, n)``."""
    if edgeworth_order not in (1, 2) or isinstance(edgeworth_order, bool):
        raise ValueError(f"edgeworth_order must be 1 or 2, got {edgeworth_order!r}")
    if edgeworth_order == 2 and weight_kurtosis:
        for i, law in enumerate(net.weight_laws):
            if not np.isfinite(law.kappa6):
                raise ValueError(f"edgeworth_order=2 needs a finite sixth cumulant; layer "
                                 f"{i + 1}'s weight law {law!r} has none (student_t needs "
                                 f"nu > 6)")

    def make(act, center, kappa4, kappa6):
        def ck(v1, v2, c):
            return np.array(bivariate(act, jnp.asarray(v1), jnp.asarray(v2), jnp.asarray(c),
                                      center=center)[0], dtype=np.float64)

        def diag(v):
            mom = moments(act, jnp.sqrt(jnp.asarray(v)))
            return np.array(mom.var + (mom.mean - center) ** 2, dtype=np.float64)

        def F(M, H=None):
            M = symmetric_float64("M", M)
            v = np.diag(M).copy()
            if np.any(v <= 0):
                raise ValueError("M must have a positive diagonal (squared norms of the "
                                 f"layer's inputs), got min {float(v.min())}")
            out = ck(v[:, None], v[None, :], M)
            np.fill_diagonal(out, diag(v))
            if H is not None and weight_kurtosis and (kappa4 != 0.0 or kappa6 != 0.0):
                out = out + edgeworth_correction(ck, diag, M, H, kappa4, kappa6=kappa6,
                                                 order=edgeworth_order)
            return out
        return F

    return [make(a, float(m), float(law.kappa4),
                 float(law.kappa6) if edgeworth_order == 2 else 0.0)
            for a, m, law in zip(net.activations, net.centers, net.weight_laws)]


def edgeworth_correction(ck: Callable, diag: Callable, M, H, kappa4: float, *,
                         kappa6: float = 0.0, order: int = 1) -> np.ndarray:
    """Edgeworth correction ``(n, n)`` of an expected-next-layer map for i.i.d. symmetric
    weights of fourth cumulant ``kappa4`` and sixth ``kappa6`` (module docstring).

    Args:
      ck: ``ck(var1, var2, cov) -> E[(sigma(u) - m)(sigma(v) - m)]``, elementwise on
        broadcast float64 arrays.
      diag: ``diag(var) -> E[(sigma(u) - m)^2]`` for ``u ~ N(0, var)``, elementwise.
      M: ``(n, n)`` input Gram ``H H^T``.  H: ``(n, k)`` input features.
      kappa4: fourth cumulant of the standardised weight law.
      kappa6: sixth cumulant (used by ``order=2`` only).
      order: 1 (the ``kappa4`` term) or 2 (plus the ``kappa6`` and ``kappa4^2`` terms of
        :func:`edgeworth_second_order`).
    """
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    H = np.asarray(H, np.float64)
    M = np.asarray(M, np.float64)
    n = M.shape[0]
    if H.ndim != 2 or H.shape[0] != n:
        raise ValueError(f"H must have shape (n, k) with n = {n} rows (the rows of M), got "
                         f"{H.shape}")
    v = np.diag(M).copy()
    s12 = np.sqrt(v[:, None] * v[None, :])
    C = np.clip(M, -_RHO_MAX * s12, _RHO_MAX * s12)   # stencil inside |rho| < 1
    np.fill_diagonal(C, 0.0)                          # diagonal: 1-D path below
    hv, hc = FD_STEP * v[:, None], FD_STEP * s12

    def f(a, c):  # variances as (n, 1) / (1, n): per-sample coefficients stay O(n)
        return ck(v[:, None] * (1.0 + a), v[None, :], C + c * s12)

    f0 = f(0.0, 0.0)
    d_v1v1 = (f(FD_STEP, 0.0) - 2 * f0 + f(-FD_STEP, 0.0)) / hv ** 2
    d_cc = (f(0.0, FD_STEP) - 2 * f0 + f(0.0, -FD_STEP)) / hc ** 2
    d_v1c = (f(FD_STEP, FD_STEP) - f(FD_STEP, -FD_STEP) - f(-FD_STEP, FD_STEP)
             + f(-FD_STEP, -FD_STEP)) / (4 * hv * hc)
    H2 = H * H
    A4 = np.sum(H2 * H2, axis=1)
    A3B1 = (H2 * H) @ H.T
    half = 4 * A4[:, None] * d_v1v1 + 8 * A3B1 * d_v1c   # the (v2, c) terms are its transpose
    corr = (kappa4 / 24) * (half + half.T + 6 * (H2 @ H2.T) * d_cc)
    hd = FD_STEP * v
    d2 = (diag(v + hd) - 2 * diag(v) + diag(v - hd)) / hd ** 2
    np.fill_diagonal(corr, (kappa4 / 24) * A4 * 4 * d2)
    if order == 2:
        corr = corr + edgeworth_second_order(ck, diag, M, H, kappa4, kappa6)
    return corr


def _grid_derivatives(f: Callable, pairs, h1, h2) -> dict:
    """Mixed partials ``d^i/dx^i d^j/dy^j f`` at 0 for every ``(i, j)`` in ``pairs`` (each
    order <= 4) from values ``f(a, b)`` at ``a, b in {-2, ..., 2} * t`` (in units of the
    steps ``h1``, ``h2``; ``t = 1, 2``): 5-point central stencils at both steps, Richardson-
    extrapolated (``(4 D_1 - D_2) / 3``: every stencil's error is even in the step, leading
    ``h^2``). Each grid point is evaluated once (the two grids share 9) and accumulated on
    the fly (two arrays per pair in memory)."""
    weights = {}   # (a, b) offset -> [(t, pair, weight), ...]
    for t in (1, 2):
        for a in range(5):
            for b in range(5):
                for ij in pairs:
                    w = _STENCIL[ij[0]][a] * _STENCIL[ij[1]][b]
                    if w != 0.0:
                        weights.setdefault(((a - 2) * t, (b - 2) * t), []).append((t, ij, w))
    acc = {(t, ij): 0.0 for t in (1, 2) for ij in pairs}
    for (a, b), terms in weights.items():
        val = f(a, b)
        for t, ij, w in terms:
            acc[(t, ij)] = acc[(t, ij)] + w * val
    return {ij: (4.0 * acc[(1, ij)] / (h1 ** ij[0] * h2 ** ij[1])
                 - acc[(2, ij)] / ((2 * h1) ** ij[0] * (2 * h2) ** ij[1])) / 3.0
            for ij in pairs}


def edgeworth_second_order(ck: Callable, diag: Callable, M, H, kappa4: float,
                           kappa6: float) -> np.ndarray:
    """Second-order Edgeworth term ``(n, n)`` of an expected-next-layer map (arguments as
    in :func:`edgeworth_correction`).

    For ``g = H w`` with i.i.d. standardised symmetric weights, ``E[f(g_i) f(g_j)] =
    exp(kappa4 D_4 / 4! + kappa6 D_6 / 6! + ...) Phi |_{mu = 0}`` with ``Phi(mu) =
    E_G[f(mu_i + u) f(mu_j + v)]`` (the Gaussian map) and ``D_r = sum_k (H_ik d/dmu_i +
    H_jk d/dmu_j)^r``. The first-order term is ``kappa4 D_4 Phi / 24``; the second-order
    term, returned here, is ``kappa6 D_6 Phi / 720 + (kappa4 / 24)^2 D_4^2 Phi / 2`` (odd
    cumulants vanish; ``kappa8`` is third order). By Price's theorem ``d_i^R d_j^S Phi =
    2^a 2^b d^a/dv1^a d^b/dv2^b d^m/dc^m E`` (``m = min(R, S)``, ``R = 2a + m``,
    ``S = 2b + m``): derivatives of order 3 (``kappa6``) and 4 (``kappa4^2``) of the
    bivariate map ``E(v1, v2, c)``, here by 5-point central differences of relative steps
    ``FD_STEP2`` and ``2 FD_STEP2``, Richardson-extrapolated. Diagonal: ``kappa6 A6_i 8 E_3
    / 720 + (kappa4 / 24)^2 A4_i^2 16 E_4 / 2`` with ``E_q`` the q-th derivative of
    ``diag(v)`` and ``A6_i = sum_k H_ik^6``.
    """
    H = np.asarray(H, np.float64)
    M = np.asarray(M, np.float64)
    v = np.diag(M).copy()
    s12 = np.sqrt(v[:, None] * v[None, :])
    C = np.clip(M, -_RHO_MAX2 * s12, _RHO_MAX2 * s12)
    np.fill_diagonal(C, 0.0)

    def f(a, b):
        return ck(v[:, None] * (1.0 + a * FD_STEP2), v[None, :], C + b * FD_STEP2 * s12)

    # (a, m): a derivatives in var1, m in cov; var2's are transposes (E is symmetric)
    pairs = [(3, 0), (2, 1), (1, 2), (0, 3), (4, 0), (3, 1), (2, 2), (1, 3), (0, 4)]
    D = _grid_derivatives(f, pairs, FD_STEP2 * v[:, None], FD_STEP2 * s12)
    Hp = [np.ones_like(H)] + [H ** r for r in range(1, 7)]

    def S(r, q):  # (S_{r,q})_ij = sum_k H_ik^r H_jk^q
        return Hp[r] @ Hp[q].T

    def dab(R, Q):  # d_i^R d_j^Q Phi for R >= Q (R < Q: the transpose)
        return 2.0 ** ((R - Q) // 2) * D[((R - Q) // 2, Q)]

    # kappa6 D_6 / 720: r = 6, 5, 4 plus their transposes, r = 3 once
    half6 = sum(math.comb(6, r) * S(r, 6 - r) * dab(r, 6 - r) for r in (6, 5, 4))
    t6 = (kappa6 / 720) * (half6 + half6.T + math.comb(6, 3) * S(3, 3) * dab(3, 3))
    # (kappa4 / 24)^2 D_4^2 / 2 with D_4^2 = sum_R Q_R d_i^R d_j^(8-R),
    # Q_R = sum_{r + r' = R} C(4, r) C(4, r') S_{r,4-r} S_{r',4-r'}
    S4 = [S(r, 4 - r) for r in range(5)]

    def Q(R):
        return sum(math.comb(4, r) * math.comb(4, R - r) * S4[r] * S4[R - r]
                   for r in range(max(0, R - 4), min(4, R) + 1))

    half8 = sum(Q(R) * dab(R, 8 - R) for R in (8, 7, 6, 5))
    out = t6 + 0.5 * (kappa4 / 24) ** 2 * (half8 + half8.T + Q(4) * dab(4, 4))
    hd = FD_STEP2 * v   # diagonal: the same stencils in var only (order 0 in the 2nd variable)
    Dd = _grid_derivatives(lambda a, _: diag(v + a * hd), [(3, 0), (4, 0)], hd, 1.0)
    d3, d4 = Dd[(3, 0)], Dd[(4, 0)]
    A4, A6 = np.sum(Hp[4], axis=1), np.sum(Hp[6], axis=1)
    np.fill_diagonal(out, (kappa6 / 720) * A6 * 8 * d3
                     + 0.5 * (kappa4 / 24) ** 2 * A4 ** 2 * 16 * d4)
    return out


def gaussian_features(P, d: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, d)`` Gaussian features ``P^{1/2} G / sqrt(d)`` (``G`` standard Gaussian from
    ``rng``; PSD part of ``(P + P^T)/2``): their Gram is :func:`gaussian_features_gram`."""
    d = check_positive_int("d", d)
    A, _ = psd_sqrt(P)
    return A @ rng.standard_normal((A.shape[0], d)) / np.sqrt(d)


def gaussian_features_gram(P, d: int, rng: np.random.Generator) -> np.ndarray:
    """One sample of ``P^{1/2} G G^T P^{1/2} / d`` (G: (n, d) standard Gaussian from
    ``rng``): the Gram of ``d`` Gaussian features with covariance ``P`` (PSD part of
    ``(P + P^T)/2``)."""
    H = gaussian_features(P, d, rng)
    return H @ H.T


def compounded_random_features_spectrum(K0, layer_maps: Sequence[Callable], widths,
                                        key, draws: int = 1, *, X=None) -> np.ndarray:
    """Eigenvalues ``(draws, n)``, ascending, of ``M_L`` of the compounded law.

    See the theory page ``docs/theory/finite_width.md`` (section Compounded law).

    Args:
      K0: (n, n) Gram of the inputs (``X X^T``), symmetric PSD with positive diagonal; may be
        None when ``X`` is given.
      layer_maps: ``[F_1, ..., F_L]`` (e.g. :func:`expected_layer_maps`), each mapping an
        input Gram (n, n) to the population of the next layer's features (n, n).
      widths: ``[d_1, ..., d_L]``, positive integers, one per map.
      key: JAX PRNG key or int seed.
      draws: number of independent samples.
      X: optional ``(n, p)`` inputs with ``X X^T = K0``. When given, the sampler keeps the
        features and calls every map as ``F_l(M_{l-1}, H_{l-1})`` (``H_0 = X``, then the
        Gaussian surrogate features): the maps of :func:`expected_layer_maps` then add the
        weight-kurtosis (Edgeworth) correction for non-Gaussian weight laws (first order;
        maps made with ``edgeworth_order=2`` add the second-order term). For Gaussian
        weights the draws are those of the call without ``X`` (same key, same Gaussian
        numbers; equal to rounding).

    At L = 1 the result equals ``random_features_spectrum(F_1(K0), d_1, key, draws)``
    exactly (same key, same Gaussian draws).

    Returns:
      ``(draws, n)`` float64 eigenvalues, ascending in each row."""
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
    if X is not None:
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or not np.all(np.isfinite(X)):
            raise ValueError(f"X must be a finite (n, p) array, got shape {X.shape}")
        XXt = X @ X.T
        if K0 is None:
            K0 = XXt
        elif np.shape(K0) != XXt.shape or not np.allclose(
                np.asarray(K0, np.float64), XXt, rtol=1e-10,
                atol=1e-12 * float(np.max(np.abs(XXt)))):
            raise ValueError("K0 must equal X X^T when both are given (or pass K0=None)")
    elif K0 is None:
        raise ValueError("give K0 (the input Gram X X^T) or X")
    K0 = symmetric_float64("K0", K0)

    def apply(F, M, H):
        return F(M) if X is None else F(M, H)

    if isinstance(key, (int, np.integer)):
        key = jax.random.PRNGKey(int(key))
    if len(maps) == 1:
        return random_features_spectrum(apply(maps[0], K0, X), widths[0], key, draws)
    n = K0.shape[0]
    seeds = np.asarray(jax.random.randint(key, (draws,), 0, 2 ** 31 - 1))
    out = np.empty((draws, n))
    for r in range(draws):
        rng = np.random.default_rng(int(seeds[r]))
        M, H = K0, X
        for F, d in zip(maps[:-1], widths[:-1]):
            H = gaussian_features(apply(F, M, H), d, rng)
            M = H @ H.T
        P = apply(maps[-1], M, H)
        M = gaussian_features_gram(P, widths[-1], rng)
        out[r] = np.sort(np.clip(robust_eigh(0.5 * (M + M.T), eigvals_only=True), 0, None))
    return out
