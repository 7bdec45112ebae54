"""Stochastic Lanczos quadrature (SLQ) and the exact Gram route for Gram-only operators.

The empirical spectral measure of a symmetric ``K: (n, n)`` with eigenvalues lambda_i is
``mu = (1/n) sum_i delta_{lambda_i}``. For a Rademacher probe ``v`` (``||v||^2 = n``),
``E[v^T f(K) v]/n = int f dmu``, and ``k`` Lanczos steps from ``v`` give the Gauss rule
(nodes theta_j = Ritz values, weights tau_j = (first component of the Ritz vector)^2)
with ``v^T f(K) v / n ~= sum_j tau_j f(theta_j)``. Averaging over ``num_probes`` probes gives
the SLQ measure ``mu_SLQ = (1/num_probes) sum_probes sum_j tau_j delta_{theta_j}`` (mass 1).

Its error (Chen, Trogdon & Ubaru 2021): Wasserstein-1 distance
``W1(mu_SLQ, mu) <~ (lambda_max - lambda_min) * (C / k + 1/sqrt(n * num_probes))``: the
first term from quadrature, the second from Hutchinson sampling. Isolated eigenvalues are
found exactly (Ritz values converge to them). ``mu_SLQ`` is atomic, so W1 to an exact
spectrum is computed exactly from it (``ntkcomp.spectral.wasserstein1`` with weights); the
Gaussian-smoothed ``density`` on a grid is for plotting only.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ntkcomp._validate import check_positive, check_positive_int
from ntkcomp.spectral._lanczos import gauss_quadrature, lanczos, rademacher
from ntkcomp.spectral._operator import as_operator

__all__ = ["SpectralMeasure", "default_grid", "gram_factors", "gram_spectrum", "slq_density",
           "slq_quadrature", "smoothed_density"]


class SpectralMeasure(NamedTuple):
    """A spectral (probability) measure as weighted atoms, plus an optional plotting density.

    The measure is ``sum_j weights_j delta_{nodes_j}``. For the dense method ``nodes`` are
    the exact eigenvalues and ``weights = 1/n``.

    Attributes:
        nodes: ``(m,)`` atom locations.
        weights: ``(m,)`` atom masses, summing to 1.
        grid: ``(g,)`` points of a smoothed density for plots, or None.
        density: ``(g,)`` the smoothed density on ``grid``, or None.
        method: ``"dense"``, ``"gram"`` (exact, see :func:`gram_spectrum`), ``"slq"`` or
            ``"kpm"``.
        n: the matrix size.
        info: dict of the method's parameters (probes, steps, ...), or None.
    """

    nodes: Any
    weights: Any
    grid: Any = None
    density: Any = None
    method: str = "slq"
    n: int = 0
    info: dict | None = None

    @property
    def eigenvalues(self):
        """Exact eigenvalues (ascending) for the "dense" and "gram" methods, else None."""
        return self.nodes if self.method in ("dense", "gram") else None


def slq_quadrature(matvec: Callable, n: int, key: jax.Array, *, num_probes: int = 20,
                   num_steps: int = 100, reorth: bool = False, probe_batch: int | None = None,
                   dtype=None) -> tuple[jax.Array, jax.Array]:
    """SLQ nodes and weights: ``(nodes (num_probes, k), weights (num_probes, k))``.

    ``weights`` of each probe sum to 1 (divide by ``num_probes`` for the averaged measure).
    Probes are Rademacher vectors drawn from ``key``; ``probe_batch`` of them (default all)
    are run together with vmap (memory ``probe_batch * k * n`` with ``reorth=True``).

    ``reorth`` defaults to False: the Gauss rule of the plain three-term recurrence stays
    accurate in floating point (Greenbaum 1989; Knizhnerman 1996; Chen, Trogdon & Ubaru 2021:
    lost orthogonality only duplicates converged Ritz values, splitting their weight), while
    full reorthogonalisation reads the ``k x n`` basis of every probe twice per step.
    """
    n = check_positive_int("n", n)
    num_probes = check_positive_int("num_probes", num_probes)
    num_steps = check_positive_int("num_steps", num_steps)
    if num_steps > n:
        raise ValueError(f"num_steps must be <= n = {n}, got {num_steps}")
    dtype = dtype or jnp.zeros(()).dtype
    probe_batch = min(check_positive_int("probe_batch", probe_batch or num_probes), num_probes)
    V = rademacher(key, (num_probes, n), dtype)
    op = as_operator(matvec)
    nodes, weights = [], []
    for s in range(0, num_probes, probe_batch):
        res = lanczos(op, n, num_steps, v0=V[s:s + probe_batch], reorth=reorth, dtype=dtype)
        th, w = gauss_quadrature(res.alpha, res.beta)
        nodes.append(th)
        weights.append(w)
    return jnp.concatenate(nodes), jnp.concatenate(weights)


def smoothed_density(nodes, weights, grid, sigma) -> np.ndarray:
    """Gaussian-smoothed density ``sum_j w_j N(x; node_j, sigma^2)`` on ``grid`` (for plots)."""
    x = np.asarray(grid, float)[:, None]
    t = np.ravel(np.asarray(nodes, float))[None, :]
    w = np.ravel(np.asarray(weights, float))[None, :]
    return (w * np.exp(-0.5 * ((x - t) / sigma) ** 2)).sum(1) / (sigma * np.sqrt(2 * np.pi))


def default_grid(nodes, num: int = 512):
    lo, hi = float(np.min(nodes)), float(np.max(nodes))
    pad = 0.05 * max(hi - lo, 1e-12)
    return np.linspace(lo - pad, hi + pad, num)


def slq_density(matvec: Callable, n: int, key: jax.Array, *, num_probes: int = 20,
                num_steps: int = 100, grid=None, bins: int | None = None,
                sigma: float | None = None, reorth: bool = False, probe_batch: int | None = None,
                dtype=None) -> SpectralMeasure:
    """Spectral density of ``K`` by stochastic Lanczos quadrature.

    Returns a :class:`SpectralMeasure` whose ``nodes``/``weights`` (flattened, weights summing
    to 1) are the SLQ measure — use them for W1 to an exact spectrum — and a plotting density
    on ``grid`` (default: ``bins`` (512) points spanning the nodes) smoothed with a Gaussian of
    width ``sigma`` (default 2 grid spacings).
    """
    nodes, weights = slq_quadrature(matvec, n, key, num_probes=num_probes, num_steps=num_steps,
                                    reorth=reorth, probe_batch=probe_batch, dtype=dtype)
    nodes = np.asarray(nodes).ravel()
    weights = np.asarray(weights).ravel() / num_probes
    if grid is None:
        grid = default_grid(nodes, bins or 512)
    grid = np.asarray(grid, float)
    if sigma is None:
        sigma = 2.0 * (grid[-1] - grid[0]) / max(len(grid) - 1, 1)
    check_positive("sigma", sigma)
    dens = smoothed_density(nodes, weights, grid, sigma)
    return SpectralMeasure(nodes, weights, grid, dens, "slq", n,
                           {"num_probes": num_probes, "num_steps": num_steps, "reorth": reorth,
                            "sigma": float(sigma)})


def gram_factors(op) -> tuple | None:
    """The factors ``(G_1, ..., G_S)`` of a Gram-only operator ``K = sum_s G_s G_s^T``
    (an operator with a ``gram_factors()`` method returning them, e.g.
    ``ntkcomp.kernels.ck_operator``), else None."""
    method = getattr(op, "gram_factors", None)
    return method() if callable(method) else None


def gram_spectrum(op, *, grid=None, bins: int | None = None) -> SpectralMeasure:
    """Exact spectrum of a Gram-only operator ``K = F F^T`` (``F = [G_1 .. G_S]: (n, D)``, e.g.
    ``ntkcomp.kernels.ck_operator``) without any ``n x n`` matrix.

    The nonzero eigenvalues of ``F F^T`` and of the small Gram ``F^T F (D x D)`` coincide,
    so the spectrum is ``eigvalsh(F^T F)`` (float64) plus ``n - D`` zeros (when ``D < n``):
    ``O(n D^2 + D^3)`` flops, ``n D + D^2`` memory. For a CK with ``n >> d_L`` this is exact
    and cheaper than SLQ/KPM, whose Hutchinson error relative to the mean eigenvalue grows
    like ``1/sqrt(d_L num_probes)`` there.
    Returns a :class:`SpectralMeasure` with ``method="gram"``, ``nodes`` the ``n`` eigenvalues
    (ascending) and weights ``1/n``.
    """
    grams = gram_factors(op)
    if grams is None:
        raise ValueError("method='gram' needs a Gram-only operator (one with gram_factors(), "
                         f"e.g. ntkcomp.kernels.ck_operator), got {type(op).__name__}")
    F = np.concatenate([np.asarray(G, np.float64) for G in grams], axis=1)
    n, D = F.shape
    ev = scipy.linalg.eigvalsh(F.T @ F, overwrite_a=True, check_finite=False)
    del F
    if D > n:  # F^T F has D - n extra zeros
        ev = ev[-n:]
    ev = np.sort(np.concatenate([np.zeros(max(n - D, 0)), ev]))
    g = dens = None
    if grid is not None or bins is not None:
        g = np.asarray(grid, float) if grid is not None else default_grid(ev, bins)
        dens = smoothed_density(ev, np.full(n, 1.0 / n), g, 2.0 * (g[-1] - g[0]) / max(len(g) - 1, 1))
    return SpectralMeasure(ev, np.full(n, 1.0 / n), g, dens, "gram", n, {"gram_width": D})
