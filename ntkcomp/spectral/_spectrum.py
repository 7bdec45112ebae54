"""``spectrum``: one entry point from a kernel (array or operator) to its spectral measure.

Dense ``eigvalsh`` up to ``threshold``; above it, for a Gram-only operator ``K = F F^T``
(``F: (n, D)``, a conjugate kernel) with ``D < n``, the exact eigenvalues from the ``D x D``
Gram; otherwise stochastic Lanczos quadrature (or KPM) from matrix-vector products.
The default threshold is ``DEFAULT_THRESHOLD``, or the environment variable
``NTKCOMP_LARGE_N_THRESHOLD`` when it is set (read at call time).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ntkcomp._validate import check_choice, check_positive_int
from ntkcomp.spectral._kpm import kpm_density
from ntkcomp.spectral._operator import (
    DenseOperator,
    as_operator,
    dense_of,
    is_matrix,
    operator_size,
    shard_rows,
)
from ntkcomp.spectral._slq import (
    SpectralMeasure,
    default_grid,
    gram_factors,
    gram_spectrum,
    slq_density,
    smoothed_density,
)

__all__ = ["DEFAULT_THRESHOLD", "default_threshold", "spectrum"]

#: matrix size above which ``spectrum(..., method="auto")`` leaves the dense eigensolver
DEFAULT_THRESHOLD = 4096
_ENV = "NTKCOMP_LARGE_N_THRESHOLD"
_METHODS = ("auto", "dense", "gram", "slq", "kpm")


def default_threshold() -> int:
    """``NTKCOMP_LARGE_N_THRESHOLD`` from the environment if set, else ``DEFAULT_THRESHOLD``.

    Raises:
      ValueError: the variable is set but not a positive integer.
    """
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return DEFAULT_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{_ENV} must be a positive integer (matrix size above which spectra "
                         f"use SLQ), got {raw!r}")
    return value


def _choose(method: str, n: int, threshold: int, grams) -> str:
    if method != "auto":
        return method
    if n <= threshold:
        return "dense"
    width = None if grams is None else sum(int(G.shape[1]) for G in grams)
    if width is not None and width < n and width <= threshold:
        return "gram"
    return "slq"


def _dense_measure(obj, n: int, grid, bins, dtype) -> SpectralMeasure:
    K = dense_of(obj, n, dtype)
    ev = scipy.linalg.eigvalsh(0.5 * (K + K.T))
    g = dens = None
    if grid is not None or bins is not None:
        g = np.asarray(grid, float) if grid is not None else default_grid(ev, bins)
        dens = smoothed_density(ev, np.full(n, 1.0 / n), g,
                                2.0 * (g[-1] - g[0]) / max(len(g) - 1, 1))
    return SpectralMeasure(ev, np.full(n, 1.0 / n), g, dens, "dense", n, {})


def _matrix_free(obj, method: str, num_steps: int, num_moments: int, num_probes: int,
                 materialize: bool | None):
    """The pytree operator used by SLQ/KPM (stored once when that is cheaper)."""
    if is_matrix(obj):
        return DenseOperator(jnp.asarray(obj))
    products = num_steps if method == "slq" else num_moments // 2 + 60
    if materialize is None:
        advisor = getattr(obj, "should_materialize", None)
        materialize = bool(advisor(products, num_probes)) if callable(advisor) else False
    if materialize:
        dense = getattr(obj, "dense", None) or getattr(obj, "to_dense", None)
        if dense is None:
            raise ValueError("materialize=True needs an operator with .dense()")
        return DenseOperator(dense())
    return as_operator(obj)


def spectrum(matrix_or_operator, n: int | None = None, *, method: str = "auto",
             key: jax.Array | None = None, num_probes: int = 20, num_steps: int = 100,
             num_moments: int = 500, grid=None, bins: int | None = None,
             threshold: int | None = None, materialize: bool | None = None,
             reorth: bool = False, mesh=None, dtype=None) -> SpectralMeasure:
    """Spectral measure of a symmetric kernel, dense below ``threshold``, matrix-free above.

    Args:
      matrix_or_operator: an ``(n, n)`` array, a ``LinearOperator`` (``shape``, ``matvec``,
        optional ``dense()``; e.g. ``ntkcomp.kernels.ntk_operator`` or a structured
        equivalent kernel) or a callable ``v -> K v`` (then ``n`` is required).
      n: the size for a plain callable.
      method: "auto" (dense if ``n <= threshold``; else "gram" for a Gram-only operator
        ``F F^T`` with ``F: (n, D)``, ``D < n`` and ``D <= threshold``; else "slq"), "dense",
        "gram", "slq" (stochastic Lanczos quadrature) or "kpm" (kernel polynomial method).
      key: PRNG key of the Hutchinson probes (default ``PRNGKey(0)``); the same key gives SLQ
        and KPM the same probes.
      num_probes: probes of SLQ/KPM; their sampling error in W1 is about
        ``(spectral range) / sqrt(n num_probes)``.
      num_steps: Lanczos steps per probe (SLQ; at most ``n``).
      num_moments: Chebyshev moments (KPM).
      grid, bins: plotting grid (or its number of points) of the smoothed ``density``.
      threshold: size above which "auto" leaves the dense solver (default
        :func:`default_threshold`).
      materialize: on the SLQ/KPM path, store an operator's kernel once (None: when the
        operator's ``should_materialize(products, num_vectors)`` says it is cheaper).
      reorth: full reorthogonalisation in SLQ.
      mesh: a 1-D ``jax.sharding.Mesh``: on the SLQ/KPM path the operator's row-indexed
        arrays are sharded over it (``n`` divisible by the number of devices); XLA
        partitions the products; same result up to the order of reductions.
      dtype: computation dtype of the matrix-free path (default JAX's default float).
    Returns:
      :class:`SpectralMeasure`; for "dense" and "gram" ``nodes`` are the exact eigenvalues
      (float64, ascending) with weights ``1/n``.
    Raises:
      ValueError: an unknown method, a non-square matrix, a callable without ``n``,
        "gram" for an operator that is not Gram-only, bad counts.
    """
    check_choice("method", method, list(_METHODS))
    n = check_positive_int("n", operator_size(matrix_or_operator, n))
    threshold = check_positive_int("threshold", default_threshold() if threshold is None
                                   else threshold)
    grams = None if is_matrix(matrix_or_operator) else gram_factors(matrix_or_operator)
    method = _choose(method, n, threshold, grams)
    if method == "gram":
        return gram_spectrum(matrix_or_operator, grid=grid, bins=bins)
    if method == "dense":
        return _dense_measure(matrix_or_operator, n, grid, bins, dtype)
    op = _matrix_free(matrix_or_operator, method, num_steps, num_moments, num_probes,
                      materialize)
    if mesh is not None:
        op = shard_rows(op, mesh, n=n)
    key = jax.random.PRNGKey(0) if key is None else key
    if method == "slq":
        return slq_density(op, n, key, num_probes=num_probes, num_steps=min(num_steps, n),
                           grid=grid, bins=bins, reorth=reorth, dtype=dtype)
    return kpm_density(op, n, key, num_moments=num_moments, num_probes=num_probes, grid=grid,
                       bins=bins, dtype=dtype)
