"""Stochastic Lanczos quadrature (SLQ) spectral densities and the large-n ``spectrum`` entry point.

The empirical spectral measure of a symmetric ``K: (n, n)`` with eigenvalues lambda_i is
``mu = (1/n) sum_i delta_{lambda_i}``. For a Rademacher probe ``v`` (``||v||^2 = n``),
``E[v^T f(K) v]/n = int f dmu``, and ``k`` Lanczos steps from ``v`` give the Gauss rule
(nodes theta_j = Ritz values, weights tau_j = (first component of the Ritz vector)^2)
with ``v^T f(K) v / n ~= sum_j tau_j f(theta_j)``. Averaging over ``num_probes`` probes gives
the SLQ measure

    mu_SLQ = (1/num_probes) sum_probes sum_j tau_j delta_{theta_j}        (total mass 1).

Its error (Chen, Trogdon & Ubaru 2021): Wasserstein-1 distance
``W1(mu_SLQ, mu) <~ (lambda_max - lambda_min) * (C / k + 1/sqrt(n * num_probes))`` — the
first term from quadrature (small for k ~ 100), the second from Hutchinson sampling.
Isolated eigenvalues are found exactly (Ritz values converge to them), so spikes cost nothing.

``mu_SLQ`` is an atomic measure, so W1 to an exact spectrum is computed *exactly* from it
(:func:`wasserstein1_weighted`) — no binning; ``density`` on a grid (Gaussian-smoothed) is
for plotting only.

The ``spectrum`` entry point switches from dense ``eigvalsh`` to SLQ above
``LARGE_N_THRESHOLD`` -- except for Gram-only operators ``F F^T`` (conjugate kernels) with
``F: (n, D)``, ``D < n``, whose spectrum is computed exactly from the ``D x D`` Gram
(:func:`gram_spectrum`).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_choice, check_positive, check_positive_int
from ntkcomp.spectral.lanczos import as_operator, gauss_quadrature, lanczos, rademacher

__all__ = [
    "LARGE_N_THRESHOLD",
    "SpectralMeasure",
    "gram_spectrum",
    "slq_density",
    "slq_quadrature",
    "smoothed_density",
    "spectrum",
    "wasserstein1_weighted",
]


def _threshold_from_env(default: int = 4096) -> int:
    raw = os.environ.get("NTKCOMP_LARGE_N_THRESHOLD")
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("NTKCOMP_LARGE_N_THRESHOLD must be a positive integer (matrix size "
                         f"above which spectra use SLQ), got {raw!r}")
    return value


#: Above this size ``spectrum(..., method="auto")`` uses SLQ instead of dense ``eigvalsh``.
#: Dense eigvalsh costs O(n^3) flops and an n x n copy: the issue measured ~25 s (float64)
#: at n = 8000 on the 2-core development machine, i.e. ~1-3 s at n = 4096, where it is still
#: competitive with SLQ and exact; above it SLQ (O(n^2) per product with a stored kernel,
#: O(n d) matrix-free for a CK) wins quickly. See experiments/benchmarks/spectra_speed.py.
#: Default 4096; the environment variable ``NTKCOMP_LARGE_N_THRESHOLD`` (read at import)
#: overrides it -- e.g. to exercise the large-n path of ``ntkcomp spectrum`` at small n.
#: :func:`spectrum` reads this module attribute at call time (``threshold=None``).
LARGE_N_THRESHOLD = _threshold_from_env()


class SpectralMeasure(NamedTuple):
    """A spectral (probability) measure as weighted atoms, plus an optional plotting density.

    nodes (m,), weights (m,) summing to 1: the measure ``sum_j weights_j delta_{nodes_j}``.
    For the dense method ``nodes`` are the exact eigenvalues and ``weights = 1/n``.
    grid (g,), density (g,): a smoothed density for plots (may be None).
    method: "dense" | "gram" (exact, see :func:`gram_spectrum`) | "slq" | "kpm".  n: matrix size.  info: dict of method parameters.
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
    accurate in floating point (Greenbaum 1989; Knizhnerman 1996; Chen, Trogdon & Ubaru 2021 —
    lost orthogonality only duplicates converged Ritz values, splitting their weight), while
    full reorthogonalisation reads the ``k x n`` basis of every probe twice per step. Measured
    (n = 8192 Wishart kernel, 32 probes, 200 steps, float32 K, machine under load): W1/mean
    eigenvalue 3.05e-3 with and 3.01e-3 without reorthogonalisation, 149 s vs 45 s.
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


def _default_grid(nodes, num: int = 512):
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
        grid = _default_grid(nodes, bins or 512)
    grid = np.asarray(grid, float)
    if sigma is None:
        sigma = 2.0 * (grid[-1] - grid[0]) / max(len(grid) - 1, 1)
    check_positive("sigma", sigma)
    dens = smoothed_density(nodes, weights, grid, sigma)
    return SpectralMeasure(nodes, weights, grid, dens, "slq", n,
                           {"num_probes": num_probes, "num_steps": num_steps, "reorth": reorth,
                            "sigma": float(sigma)})


def wasserstein1_weighted(x, wx, y, wy=None) -> float:
    """Exact W1 between the atomic measures ``sum wx_i delta_{x_i}`` and ``sum wy_j delta_{y_j}``.

    ``wy=None`` means uniform weights (an exact eigenvalue list). Weights are normalised to
    sum 1. W1 = int |F_x(t) - F_y(t)| dt, evaluated exactly between consecutive atoms.
    Absolute units (those of the eigenvalues): divide by a spectral scale yourself if wanted.
    """
    x = np.ravel(np.asarray(x, float))
    y = np.ravel(np.asarray(y, float))
    wx = np.ravel(np.asarray(wx, float))
    wy = np.full(y.shape, 1.0) if wy is None else np.ravel(np.asarray(wy, float))
    if x.shape != wx.shape or y.shape != wy.shape:
        raise ValueError("weights must have the same length as their atoms")
    wx = wx / wx.sum()
    wy = wy / wy.sum()
    pts = np.concatenate([x, y])
    mass = np.concatenate([wx, -wy])
    order = np.argsort(pts, kind="stable")
    pts, mass = pts[order], mass[order]
    diff = np.cumsum(mass)[:-1]  # F_x - F_y on [pts_i, pts_{i+1})
    return float(np.sum(np.abs(diff) * np.diff(pts)))


def _gram_width(op) -> int | None:
    """Total width ``D`` of a Gram-only operator ``K = sum_s G_s G_s^T`` (else None)."""
    from ntkcomp.spectral.matfree import FactorKernel

    if isinstance(op, FactorKernel) and not op.pairs:
        return int(sum(G.shape[1] for G in op.grams))
    return None


def gram_spectrum(op, *, grid=None, bins: int | None = None) -> SpectralMeasure:
    """Exact spectrum of a Gram-only operator ``K = F F^T`` (``F = [G_1 .. G_S]: (n, D)``, e.g.
    :func:`ntkcomp.spectral.matfree.ck_matvec`) without any ``n x n`` matrix.

    The nonzero eigenvalues of ``F F^T`` and of the small Gram ``F^T F (D x D)`` coincide,
    so the spectrum is ``eigvalsh(F^T F)`` (float64) plus ``n - D`` zeros (when ``D < n``):
    ``O(n D^2 + D^3)`` flops, ``n D + D^2`` memory. For a CK with ``n >> d_L`` this is exact
    *and* cheaper than SLQ/KPM, whose Hutchinson error relative to the mean eigenvalue grows
    like ``1/sqrt(d_L num_probes)`` there (measured n = 32768, d_L = 2048, 16 probes: W1/mean
    1.3e-2 for SLQ in 172 s vs exact in 37 s; experiments/benchmarks/spectra_speed.py).
    Returns a :class:`SpectralMeasure` with ``method="gram"``, ``nodes`` the ``n`` eigenvalues
    (ascending) and weights ``1/n``.
    """
    import scipy.linalg

    D = _gram_width(op)
    if D is None:
        raise ValueError("gram_spectrum needs a Gram-only operator (matfree.FactorKernel with "
                         f"grams and no Hadamard pairs, e.g. ck_matvec), got {type(op).__name__}")
    n = op.n
    F = np.concatenate([np.asarray(G, np.float64) for G in op.grams], axis=1)
    ev = scipy.linalg.eigvalsh(F.T @ F, overwrite_a=True, check_finite=False)
    del F
    if D > n:  # F^T F has D - n extra zeros
        ev = ev[-n:]
    ev = np.sort(np.concatenate([np.zeros(max(n - D, 0)), ev]))
    g = dens = None
    if grid is not None or bins is not None:
        g = np.asarray(grid, float) if grid is not None else _default_grid(ev, bins)
        dens = smoothed_density(ev, np.full(n, 1.0 / n), g, 2.0 * (g[-1] - g[0]) / max(len(g) - 1, 1))
    return SpectralMeasure(ev, np.full(n, 1.0 / n), g, dens, "gram", n, {"gram_width": D})


def _is_matrix(obj) -> bool:
    return hasattr(obj, "shape") and hasattr(obj, "ndim") and not callable(obj)


def spectrum(matvec_or_matrix, n: int | None = None, *, method: str = "auto",
             key: jax.Array | None = None, num_probes: int = 20, num_steps: int = 100,
             num_moments: int = 500, grid=None, bins: int | None = None,
             threshold: int | None = None, materialize: bool | None = None,
             reorth: bool = False, mesh=None, dtype=None) -> SpectralMeasure:
    """Spectrum of a symmetric kernel, dense below ``threshold`` and matrix-free above.

    matvec_or_matrix: an ``(n, n)`` array, a callable ``v -> K v`` (then ``n`` is required),
        or a matfree operator (:mod:`ntkcomp.spectral.matfree`, which has ``.n`` and, when
        materialisable, ``.to_dense()``).
    method: "auto" (dense if ``n <= threshold``; else, for a Gram-only operator such as a CK
        (``K = F F^T``, ``F: (n, D)``) with ``D < n`` and ``D <= threshold``, the exact
        :func:`gram_spectrum`; else "slq"), "dense", "gram", "slq" or "kpm".
    threshold: default (None) the module attribute ``LARGE_N_THRESHOLD`` at call time (4096,
        or ``NTKCOMP_LARGE_N_THRESHOLD`` from the environment).
    materialize: for a matrix-free NTK operator (``matfree.FactorKernel``) on the SLQ/KPM
        path, store the kernel once (``None``: when ``matfree.should_materialize`` says it is
        cheaper for the planned number of products and fits in ``MATERIALIZE_MAX_BYTES``).
    reorth: full reorthogonalisation in SLQ (see :func:`slq_quadrature`).
    num_probes: the Hutchinson error of SLQ and KPM is ``~ (spectral range) / sqrt(n
        num_probes)``; for W1 <= 1e-2 of the mean eigenvalue on a rank-deficient CK (75 %
        zeros) take ``n * num_probes >~ 2^19`` (experiments/benchmarks/spectra_speed.py); the
        default 20 suits n >~ 2^15. The same ``key`` gives SLQ and KPM the same probes.
    mesh: a 1-D ``jax.sharding.Mesh`` (e.g. ``matfree.row_mesh()`` over ``jax.devices()``):
        on the SLQ/KPM path the operator's row-indexed arrays (kernel rows or factors) are
        sharded over it (:func:`ntkcomp.spectral.matfree.shard_rows`; ``n`` divisible by the
        number of devices); the compiled loops are unchanged and XLA partitions the products.
        Same result as on one device up to the order of floating-point reductions.
    Returns a :class:`SpectralMeasure`; for "dense" ``nodes`` are the exact eigenvalues
    (float64, ascending) with weights 1/n.
    """
    check_choice("method", method, ["auto", "dense", "gram", "slq", "kpm"])
    is_mat = _is_matrix(matvec_or_matrix)
    if is_mat:
        K = matvec_or_matrix
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ValueError(f"matrix must be square (n, n), got shape {K.shape}")
        n = K.shape[0]
    else:
        n = getattr(matvec_or_matrix, "n", n)
        if n is None:
            raise ValueError("n is required when a matvec callable is given")
    n = check_positive_int("n", n)
    if threshold is None:
        threshold = LARGE_N_THRESHOLD
    threshold = check_positive_int("threshold", threshold)
    gram_D = None if is_mat else _gram_width(matvec_or_matrix)
    if method == "auto":
        if n <= threshold:
            method = "dense"
        elif gram_D is not None and gram_D < n and gram_D <= threshold:
            method = "gram"
        else:
            method = "slq"
    if method == "gram":
        if gram_D is None:
            raise ValueError("method='gram' needs a Gram-only operator (e.g. matfree.ck_matvec)")
        return gram_spectrum(matvec_or_matrix, grid=grid, bins=bins)
    if method == "dense":
        if is_mat:
            Kd = np.asarray(K, dtype=np.float64)
        elif hasattr(matvec_or_matrix, "to_dense"):
            Kd = np.asarray(matvec_or_matrix.to_dense(), dtype=np.float64)
        else:  # form K column by column through the matvec (n products)
            op = as_operator(matvec_or_matrix)
            Kd = np.asarray(jax.vmap(op, in_axes=1, out_axes=1)(jnp.eye(n, dtype=dtype)),
                            dtype=np.float64)
        import scipy.linalg

        ev = scipy.linalg.eigvalsh(0.5 * (Kd + Kd.T))
        dens = None
        g = None
        if grid is not None or bins is not None:
            g = np.asarray(grid, float) if grid is not None else _default_grid(ev, bins)
            sig = 2.0 * (g[-1] - g[0]) / max(len(g) - 1, 1)
            dens = smoothed_density(ev, np.full(n, 1.0 / n), g, sig)
        return SpectralMeasure(ev, np.full(n, 1.0 / n), g, dens, "dense", n, {})
    if key is None:
        key = jax.random.PRNGKey(0)
    if is_mat:
        from ntkcomp.spectral.matfree import materialized_kernel_matvec

        op = materialized_kernel_matvec(K)
    else:
        op = matvec_or_matrix
        from ntkcomp.spectral import matfree

        products = num_steps if method == "slq" else num_moments // 2 + 60
        if materialize is None:
            materialize = matfree.should_materialize(op, products, num_probes)
        if materialize:
            if not hasattr(op, "to_dense"):
                raise ValueError("materialize=True needs an operator with .to_dense()")
            op = matfree.DenseKernel(op.to_dense())
    if mesh is not None:
        from ntkcomp.spectral.matfree import shard_rows

        op = shard_rows(op, mesh)
    if method == "slq":
        return slq_density(op, n, key, num_probes=num_probes, num_steps=min(num_steps, n),
                           grid=grid, bins=bins, reorth=reorth, dtype=dtype)
    from ntkcomp.spectral.kpm import kpm_density

    return kpm_density(op, n, key, num_moments=num_moments, num_probes=num_probes, grid=grid,
                       bins=bins, dtype=dtype)
