"""Kernel polynomial method (KPM): Chebyshev moments of the spectral density, matrix-free.

With the spectrum of ``K: (n, n)`` inside ``[lo, hi]``, map ``t = (x - c)/h``
(``c = (lo + hi)/2``, ``h = (hi - lo)/2``) and expand the density of ``A = (K - c)/h`` on
``(-1, 1)`` in Chebyshev polynomials:

    rho_A(t) = [g_0 mu_0 + 2 sum_{k>=1} g_k mu_k T_k(t)] / (pi sqrt(1 - t^2)),
    mu_k = tr T_k(A) / n ~= (1/(n m)) sum_probes v^T T_k(A) v      (Rademacher v).

``g_k`` is the Jackson kernel (Weisse et al., Rev. Mod. Phys. 78, 275 (2006), eq. 71), which
makes the truncated expansion a positive smoothing of the true measure by a kernel of width
~ pi h / N (N = num_moments): W1(KPM, exact) ~ pi h / N plus Hutchinson noise
``~ h / sqrt(n m)``. Point masses (e.g. the n - d zero eigenvalues of a rank-d CK) are smeared
to that width, so KPM needs more moments than SLQ needs Lanczos steps for the same W1.

Error budget: the Jackson smoothing (a kernel of width ``~ pi/N`` in ``theta = arccos t``,
i.e. ``~ (pi h / N) sin(theta)`` in ``x``; mass near the ends of ``[lo, hi]`` is resolved much
better, so the bounds should be tight: a point mass at the lower end sits at
``t = -1 + 2 margin/(1 + 2 margin)`` and is smeared by ``~ pi h sqrt(4 margin) / N``) plus
Hutchinson sampling, shared with SLQ (both estimate the same probe-weighted measure; the CDF
has standard deviation ``~ sqrt(2 F (1 - F) / (n m))``, so W1 ~ ``range / sqrt(n m)``,
independent of N).

Safety: a measure on ``[-1, 1]`` has ``|mu_k| <= 1``; eigenvalues outside the Chebyshev
interval make ``T_k`` grow like ``cosh(k sqrt(2 eps))``. :func:`kpm_density` checks the
moments and, if ``max |mu_k| > 1 + 1e-2`` (bounds from Lanczos too tight), re-estimates the
bounds with 4x the Lanczos steps and 10x the margin and recomputes (at most twice, with a
warning).

Cost: N/2 matvecs per probe block (moments 2k and 2k+1 from ``v_k``, ``v_{k+1}``:
``mu_{2k} = 2 <v_k, v_k> - mu_0``, ``mu_{2k+1} = 2 <v_{k+1}, v_k> - mu_1``), memory O(n m).

The CDF has a closed form (``t = cos theta``):
``F(t) = g_0 mu_0 (pi - theta)/pi - (2/pi) sum_{k>=1} g_k mu_k sin(k theta)/k``,
used for exact-to-quadrature W1 against an eigenvalue list (:func:`kpm_wasserstein1`).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_choice, check_positive_int
from ntkcomp.spectral._lanczos import estimate_spectral_bounds, rademacher
from ntkcomp.spectral._operator import as_operator
from ntkcomp.spectral._slq import SpectralMeasure, default_grid

__all__ = [
    "jackson_kernel",
    "kpm_cdf",
    "kpm_density",
    "kpm_moments",
    "kpm_pdf",
    "kpm_wasserstein1",
]


def jackson_kernel(num_moments: int) -> np.ndarray:
    """Jackson damping factors ``g_k``, k = 0..N-1 (g_0 = 1, decreasing to ~0)."""
    N = check_positive_int("num_moments", num_moments)
    k = np.arange(N)
    a = np.pi / (N + 1)
    return ((N - k + 1) * np.cos(a * k) + np.sin(a * k) / np.tan(a)) / (N + 1)


@partial(jax.jit, static_argnames=("num_half",))
def _chebyshev_moments(op, V, c, h, num_half):
    """Stochastic Chebyshev moments for probes ``V (m, n)``; returns ``(2 * num_half,)``."""
    n = V.shape[1]
    A = jax.vmap(lambda v: (op(v).astype(v.dtype) - c * v) / h)
    dot = lambda a, b: jnp.sum(a * b) / (n * a.shape[0])
    v0 = V
    v1 = A(v0)
    mu0 = dot(v0, v0)
    mu1 = dot(v1, v0)
    mus = jnp.zeros(2 * num_half, V.dtype).at[0].set(mu0).at[1].set(mu1)

    def body(j, state):
        vprev, vcur, mus = state  # v_{j-1}, v_j
        vnext = 2.0 * A(vcur) - vprev
        mus = mus.at[2 * j].set(2.0 * dot(vcur, vcur) - mu0)
        mus = mus.at[2 * j + 1].set(2.0 * dot(vnext, vcur) - mu1)
        return vcur, vnext, mus

    _, _, mus = jax.lax.fori_loop(1, num_half, body, (v0, v1, mus))
    return mus


def kpm_moments(matvec: Callable, n: int, key: jax.Array, *, num_moments: int, num_probes: int,
                bounds: tuple[float, float], probe_batch: int | None = None,
                dtype=None) -> np.ndarray:
    """Normalised stochastic Chebyshev moments ``mu_k`` (k < num_moments) of ``(K - c)/h``.

    ``bounds = (lo, hi)`` must contain the spectrum (see
    :func:`estimate_spectral_bounds`). ``mu_0 = 1`` exactly.
    """
    n = check_positive_int("n", n)
    N = check_positive_int("num_moments", num_moments, minimum=2)
    m = check_positive_int("num_probes", num_probes)
    lo, hi = map(float, bounds)
    if not hi > lo:
        raise ValueError(f"bounds must satisfy lo < hi, got {bounds}")
    dtype = dtype or jnp.zeros(()).dtype
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    V = rademacher(key, (m, n), dtype)
    pb = min(probe_batch or m, m)
    op = as_operator(matvec)
    total = np.zeros(2 * ((N + 1) // 2))
    for s in range(0, m, pb):
        blk = V[s:s + pb]
        total += np.asarray(_chebyshev_moments(op, blk, c, h, (N + 1) // 2)) * blk.shape[0]
    return total[:N] / m


def _damped(moments, kernel: str) -> np.ndarray:
    """Damped moments ``g_k mu_k`` (Jackson ``g`` or none), float64 ``(N,)``."""
    check_choice("kernel", kernel, ["jackson", "none"])
    mu = np.asarray(moments, float)
    return (jackson_kernel(mu.size) if kernel == "jackson" else 1.0) * mu


def _theta(x, bounds):
    lo, hi = bounds
    t = np.clip((np.asarray(x, float) - 0.5 * (lo + hi)) / (0.5 * (hi - lo)), -1.0, 1.0)
    return np.arccos(t), t


def kpm_cdf(moments, bounds, x, *, kernel: str = "jackson") -> np.ndarray:
    """KPM cumulative distribution ``F(x)`` (closed form; 0 below ``lo``, 1 above ``hi``)."""
    gm = _damped(moments, kernel)
    N = gm.size
    th, _ = _theta(x, bounds)
    shape = np.shape(th)
    th = np.ravel(th)
    k = np.arange(1, N)
    coef = gm[1:] / k
    F = gm[0] * (np.pi - th) / np.pi
    step = max(1, 2_000_000 // max(N, 1))  # chunk over x: memory len(chunk) * N
    for s in range(0, th.size, step):
        F[s:s + step] -= (2 / np.pi) * (np.sin(np.outer(th[s:s + step], k)) * coef).sum(1)
    return F.reshape(shape)


def kpm_pdf(moments, bounds, x, *, kernel: str = "jackson") -> np.ndarray:
    """KPM density ``rho(x)`` in the units of ``x`` (0 outside ``(lo, hi)``)."""
    gm = _damped(moments, kernel)
    th, t = _theta(x, bounds)
    h = 0.5 * (bounds[1] - bounds[0])
    k = np.arange(1, gm.size)
    s = gm[0] + 2 * (np.cos(np.multiply.outer(th, k)) * gm[1:]).sum(-1)
    inside = np.abs(t) < 1
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(inside, s / (np.pi * np.sqrt(np.maximum(1 - t * t, 1e-300)) * h), 0.0)
    return rho


def kpm_density(matvec: Callable, n: int, key: jax.Array, *, num_moments: int = 500,
                num_probes: int = 20, bounds: tuple[float, float] | None = None,
                kernel: str = "jackson", grid=None, bins: int | None = None,
                num_cells: int | None = None, bound_steps: int = 60,
                bound_margin: float = 1e-3, probe_batch: int | None = None,
                dtype=None) -> SpectralMeasure:
    """Spectral density of ``K`` by KPM with Jackson damping.

    Probes: ``num_probes`` Rademacher vectors drawn from ``key`` exactly as
    :func:`ntkcomp.spectral._slq.slq_density` draws them, so SLQ and KPM called with the same
    key estimate the *same* probe-weighted measure (their difference is the method error).
    ``bounds`` default: :func:`estimate_spectral_bounds` (Lanczos, ``bound_steps`` steps from
    an independent start vector, ``jax.random.fold_in(key, 1)``; extreme Ritz values widened by
    their residual bounds and by ``bound_margin`` times the width -- tight bounds resolve
    mass near the ends, see the module docstring). If the moments reveal eigenvalues outside
    the interval (``max |mu_k| > 1.01``; impossible for a measure on it) the bounds are
    re-estimated with ``4 x`` the Lanczos steps and ``10 x`` the margin and the moments
    recomputed (at most twice; ``RuntimeWarning``).

    Returns a :class:`SpectralMeasure` with ``density`` on ``grid`` (default ``bins`` (512)
    points over the bounds) and an atomic version (``nodes`` = centres of ``num_cells``
    (default ``max(16384, 16 num_moments)``: the cell width adds at most half of it to W1)
    equal cells, ``weights`` = CDF increments,
    negative increments from sampling noise clipped to 0 and renormalised) for W1
    computations; ``info`` holds ``moments`` and ``bounds``.
    """
    n = check_positive_int("n", n)
    if not (isinstance(bound_margin, (int, float)) and 0 < bound_margin <= 1):
        raise ValueError(f"bound_margin must be a number in (0, 1], got {bound_margin!r}")
    user_bounds = bounds is not None
    if bounds is None:
        bounds = estimate_spectral_bounds(matvec, n, jax.random.fold_in(key, 1),
                                          num_steps=min(bound_steps, n), margin=bound_margin,
                                          dtype=dtype)
    steps = min(bound_steps, n)
    for attempt in range(3):
        mu = kpm_moments(matvec, n, key, num_moments=num_moments, num_probes=num_probes,
                         bounds=bounds, probe_batch=probe_batch, dtype=dtype)
        ok = bool(np.all(np.isfinite(mu))) and float(np.max(np.abs(mu))) <= 1.01
        if ok or user_bounds or attempt == 2:
            break
        steps, bound_margin = min(4 * steps, n), min(10 * bound_margin, 1.0)
        warnings.warn(f"kpm_density: Chebyshev moments exceed 1 in magnitude (spectrum outside "
                      f"the estimated bounds {tuple(map(float, bounds))}); re-estimating them "
                      f"with {steps} Lanczos steps and margin {bound_margin:g}",
                      RuntimeWarning, stacklevel=2)
        bounds = estimate_spectral_bounds(matvec, n, jax.random.fold_in(key, 2 + attempt),
                                          num_steps=steps, margin=bound_margin, dtype=dtype)
    if not (bool(np.all(np.isfinite(mu))) and float(np.max(np.abs(mu))) <= 1.01):
        warnings.warn("kpm_density: Chebyshev moments exceed 1 in magnitude: the spectrum is "
                      f"not inside bounds {tuple(map(float, bounds))}; the density is unreliable",
                      RuntimeWarning, stacklevel=2)
    lo, hi = bounds
    if grid is None:
        grid = default_grid(np.array([lo, hi]), bins or 512)
    grid = np.asarray(grid, float)
    dens = kpm_pdf(mu, bounds, grid, kernel=kernel)
    cells = num_cells or max(16384, 16 * num_moments)
    edges = np.linspace(lo, hi, cells + 1)
    w = np.diff(kpm_cdf(mu, bounds, edges, kernel=kernel))
    w = np.clip(w, 0.0, None)
    w = w / w.sum()
    nodes = 0.5 * (edges[1:] + edges[:-1])
    return SpectralMeasure(nodes, w, grid, dens, "kpm", n,
                           {"moments": mu, "bounds": (float(lo), float(hi)),
                            "num_moments": num_moments, "num_probes": num_probes,
                            "kernel": kernel, "bound_margin": bound_margin})


def kpm_wasserstein1(moments, bounds, eigenvalues, *, kernel: str = "jackson",
                     num_points: int = 20_001) -> float:
    """W1 = int |F_KPM - F_exact| dx between the KPM measure and exact eigenvalues (absolute
    units), by the trapezoid rule on ``num_points`` points over ``bounds`` ∪ eigenvalue range."""
    ev = np.sort(np.ravel(np.asarray(eigenvalues, float)))
    lo = min(bounds[0], ev[0])
    hi = max(bounds[1], ev[-1])
    x = np.linspace(lo, hi, num_points)
    Fk = kpm_cdf(moments, bounds, x, kernel=kernel)
    Fe = np.searchsorted(ev, x, side="right") / ev.size
    return float(np.trapezoid(np.abs(Fk - Fe), x))
