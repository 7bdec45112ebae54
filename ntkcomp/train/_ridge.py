"""Ridge regression readout in closed form (the frozen-hidden protocol's linear solve).

Given frozen features ``H: (n, d)`` (rows = samples) and targets ``Y: (n,)`` or ``(n, K)``::

    W = argmin ||H W + 1 b^T - Y||^2 + lam ||W||^2
      = (Hc^T Hc + lam I_d)^{-1} Hc^T Yc          (primal, used when d <= n)
      = Hc^T (Hc Hc^T + lam I_n)^{-1} Yc          (dual, used when d > n; same solution)

with ``Hc, Yc`` the column-centred features and targets and the unpenalised intercept
``b = mean(Y) - mean(H) W``. Both forms solve a symmetric positive-definite system by
Cholesky; ``lam > 0`` is required (``lam = 0`` would be the minimum-norm least squares,
ill-posed when d > n).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ntkcomp._validate import check_finite_array, check_positive

__all__ = ["RidgeModel", "ridge_fit", "ridge_predict"]


class RidgeModel(NamedTuple):
    """Linear readout ``f(H) = H @ W + b``. W: (d,) or (d, K); b: () or (K,)."""

    W: jax.Array
    b: jax.Array


@jax.jit
def _ridge_solve(H, Y, lam):
    n, d = H.shape
    h_mean = H.mean(axis=0)
    y_mean = Y.mean(axis=0)
    Hc = H - h_mean
    Yc = Y - y_mean
    if d <= n:
        G = Hc.T @ Hc + lam * jnp.eye(d, dtype=H.dtype)
        W = jsl.cho_solve(jsl.cho_factor(G, lower=True), Hc.T @ Yc)
    else:
        G = Hc @ Hc.T + lam * jnp.eye(n, dtype=H.dtype)
        W = Hc.T @ jsl.cho_solve(jsl.cho_factor(G, lower=True), Yc)
    return W, y_mean - h_mean @ W


def ridge_fit(H: jax.Array, Y: jax.Array, lam: float = 1e-3) -> RidgeModel:
    """Closed-form ridge regression of ``Y`` on ``H`` with an unpenalised intercept.

    Args:
      H: features ``(n, d)``.
      Y: targets ``(n,)`` or ``(n, K)`` (for classification, e.g. centred one-hot targets
        ``onehot - 1/K``).
      lam: ridge penalty, > 0.

    Returns:
      RidgeModel(W ``(d,)``/``(d, K)``, b ``()``/``(K,)``).

    Raises:
      ValueError: wrong shapes, NaN/Inf in ``H`` or ``Y``, or ``lam`` not finite and > 0.
    """
    H = jnp.asarray(H)
    Y = jnp.asarray(Y, H.dtype)
    if H.ndim != 2:
        raise ValueError(f"H must have shape (n, d), got {H.shape}")
    if Y.shape[0] != H.shape[0] or Y.ndim not in (1, 2):
        raise ValueError(f"Y must have shape (n,) or (n, K) with n = {H.shape[0]}, got {Y.shape}")
    check_finite_array("H", H)
    check_finite_array("Y", Y)
    check_positive("lam", lam)
    W, b = _ridge_solve(H, Y, jnp.asarray(lam, H.dtype))
    return RidgeModel(W, b)


def ridge_predict(model: RidgeModel, H: jax.Array) -> jax.Array:
    """Predictions of a ridge readout.

    Args:
      model: the :class:`RidgeModel`.
      H: ``(n, d)`` features.

    Returns:
      ``H @ W + b``: ``(n,)`` or ``(n, K)`` as ``model.W``.
    """
    return jnp.asarray(H) @ model.W + model.b
