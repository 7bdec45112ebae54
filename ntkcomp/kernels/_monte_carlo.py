"""Monte Carlo weight averages of the empirical kernels, with per-entry standard errors.

``monte_carlo_kernels(net, X, key, draws)`` draws ``draws`` independent parameter sets
``net.init(fold_in(key, t), p)``, computes ``[CK_1..CK_L]`` and the exact empirical NTK
of each, and returns their means and standard errors ``std / sqrt(draws)`` (Welford's
update, stable in float32 too). The means converge to ``expected_kernels`` at rate
``1/sqrt(draws)`` up to the finite-width bias (``docs/theory/finite_width.md``; zero at L = 1 with
Gaussian weights).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from tqdm.auto import tqdm

from ntkcomp._validate import check_positive_int
from ntkcomp.config import default_float
from ntkcomp.kernels._memory import check_fits
from ntkcomp.kernels._signals import Arch, prepare
from ntkcomp.kernels._tiles import ck_jit, ntk_jit

__all__ = ["monte_carlo_kernels"]


@partial(jax.jit, static_argnames=("net", "p", "b1", "b2", "symmetric", "signal_dtype"),
         donate_argnums=(0,))
def _step(state, key, t, net, p, X, X2, b1, b2, symmetric, signal_dtype):
    """One draw: kernels of ``net.init(fold_in(key, t))`` folded into (mean, M2)."""
    mean, M2 = state
    params = net.init(jax.random.fold_in(key, t), p, dtype=X.dtype)
    ks = list(ck_jit(Arch(net), params, X, X2, b1, b2, symmetric, signal_dtype))
    ks.append(ntk_jit(Arch(net), params, X, X2, b1, b2, symmetric, signal_dtype))
    k = (t + 1).astype(X.dtype)
    new_mean, new_M2 = [], []
    for x, mu, m2 in zip(ks, mean, M2):
        delta = x - mu
        mu = mu + delta / k
        new_mean.append(mu)
        new_M2.append(m2 + delta * (x - mu))
    return new_mean, new_M2


def monte_carlo_kernels(net, X: Any, key: jax.Array, draws: int, *, X2: Any = None,
                        progress: bool = True, block_size: int | None = None,
                        dtype: Any = None, signal_dtype: Any = None,
                        max_bytes: int | None = None) -> dict:
    """Average ``CK_1..CK_L`` and the empirical NTK over independent weight draws.

    Args:
      net: an ``ntkcomp.networks.MLP``.
      X: ``(n1, p)`` inputs.
      key: ``jax.random`` key; draw t uses ``fold_in(key, t)`` (reproducible).
      draws: number of independent networks (>= 1).
      X2: ``(n2, p)`` inputs, or None (``X2 = X``).
      progress: show a tqdm progress bar.
      block_size: tile size passed to the empirical kernels.
      dtype: computation dtype (default JAX's default float).
      signal_dtype: None or ``"float64"`` with ``dtype=float32``: float64 forward/backward
        signals, float32 Gram products (see :func:`ntkcomp.kernels.empirical_ntk`).
      max_bytes: memory limit of the mean/variance buffers (default: the device's available
        memory); pass a larger value to override the check.

    Returns:
      ``{"ck": [mean CK_l], "ntk": mean NTK, "ck_se": [...], "ntk_se": ...,
      "draws": draws}``; standard errors are ``sample std / sqrt(draws)`` per entry
      (NaN when draws == 1).
    """
    draws = check_positive_int("draws", draws)
    if dtype is None:
        dtype = default_float()
    if jnp.ndim(X) != 2:
        raise ValueError(f"X must have shape (n, p), got {tuple(jnp.shape(X))}")
    p = int(jnp.shape(X)[1])
    dummy = net.init(jax.random.PRNGKey(0), p, dtype=dtype)  # for validation only
    X, X2, b1, b2, symmetric, signal_dtype = prepare(net, dummy, X, X2, block_size,
                                                      traced=True, signal_dtype=signal_dtype)
    n1 = X.shape[0]
    n2 = n1 if symmetric else X2.shape[0]
    check_fits("Monte Carlo kernel buffers", 3 * (net.depth + 1) * n1 * n2
               * jnp.dtype(dtype).itemsize, max_bytes)
    zeros = [jnp.zeros((n1, n2), dtype) for _ in range(net.depth + 1)]
    state = (zeros, [jnp.zeros((n1, n2), dtype) for _ in range(net.depth + 1)])
    for t in tqdm(range(draws), disable=not progress, desc="monte_carlo_kernels",
                  unit="draw"):
        state = _step(state, key, jnp.asarray(t, jnp.int32), net, p, X, X2, b1, b2, symmetric,
                      signal_dtype)
    mean, M2 = state
    if draws > 1:
        se = [jnp.sqrt(m2 / (draws - 1) / draws) for m2 in M2]
    else:
        se = [jnp.full((n1, n2), jnp.nan, dtype) for _ in M2]
    return {"ck": mean[:-1], "ntk": mean[-1], "ck_se": se[:-1], "ntk_se": se[-1],
            "draws": draws}
