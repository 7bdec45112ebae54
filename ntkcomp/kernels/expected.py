"""Exact weight-averaged (infinite-width) kernels on given data, via the bivariate map.

For the MLP of THEORY.md section 2 (W_l entries of variance 1, no 1/sqrt(d) in W,
``h_l = (sigma_l(g_l) - m_l)/sqrt(d_l)``) in the limit d_1, ..., d_L -> infinity:

    Sigma_0 = X X2^T,  v_0 = ||x_i||^2,  v2_0 = ||x2_j||^2
    CK_l[i,j] = E[(sigma_l(u) - m_l)(sigma_l(v) - m_l)],
                (u, v) ~ N(0, [[v_{l-1,i}, Sigma_{l-1}[i,j]], [., v2_{l-1,j}]])
    dd_l[i,j] = E[sigma_l'(u) sigma_l'(v)]          (same Gaussian pair)
    Sigma_l = CK_l,  v_l = diag CK_l (computed as bivariate(v, v, v))

since ``g_l = h_{l-1} @ W_l`` has ``Cov(g_{l,k}(x), g_{l,k}(x2)) = h_{l-1}(x).h_{l-1}(x2)``
and ``h_l.h2_l = (1/d_l) sum_k (sigma(g_k) - m)(sigma(g2_k) - m)`` -> CK_l.
NTK: with ``P_l = lim Delta_l Delta2_l^T``, ``Delta_L = w o sigma_L'/sqrt(d_L)`` gives
``P_L = dd_L`` and ``Delta_{l-1} = (Delta_l W_l^T) o sigma'/sqrt(d_{l-1})`` gives
``P_{l-1} = P_l o dd_{l-1}``, so ``NTK = CK_L + sum_l CK_{l-1} o P_l``, i.e.

    Theta_0 = X X2^T,   Theta_l = CK_l + Theta_{l-1} o dd_l,   NTK = Theta_L.

On the diagonal this is kappa_l^2 = tau_l^2 + s_l kappa_{l-1}^2 (THEORY.md section 5).
For piecewise-constant activations ``dd = 0`` (autodiff convention) and NTK = CK_L.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from ntkcomp._validate import check_finite_array

__all__ = ["expected_kernels"]


def _check_X(net, X, name):
    if jnp.ndim(X) != 2:
        raise ValueError(f"{name} must have shape (n, p), got {tuple(jnp.shape(X))}")
    check_finite_array(name, X)


def expected_kernels(net, X: Any, X2: Any = None) -> dict:
    """Exact ``E_W`` kernels in the infinite-width limit.

    Args:
      net: an ``ntkcomp.networks.MLP`` (its activations, centers ``m_l``).
      X: ``(n1, p)``; X2: ``(n2, p)`` or None (``X2 = X``).
    Returns:
      ``{"ck": [CK_1, ..., CK_L], "ntk": NTK}``, each ``(n1, n2)``, in JAX's default float.
    Raises:
      ValueError: X not 2-D, NaN/Inf entries, or X2 with a different feature dimension.
    """
    from ntkcomp.activations import bivariate
    from ntkcomp.config import default_float

    dtype = default_float()
    _check_X(net, X, "X")
    X = jnp.asarray(X, dtype)
    if X2 is None:
        X2 = X
    else:
        _check_X(net, X2, "X2")
        X2 = jnp.asarray(X2, dtype)
        if X2.shape[1] != X.shape[1]:
            raise ValueError(f"X2 must have shape (n2, {X.shape[1]}) like X, got {X2.shape}")
    C = jnp.matmul(X, X2.T, precision="highest")
    v1 = jnp.sum(X * X, axis=1)
    v2 = jnp.sum(X2 * X2, axis=1)
    theta = C
    cks = []
    for act, m in zip(net.activations, net.centers):
        ck, dd = bivariate(act, v1[:, None], v2[None, :], C, center=m)
        v1 = bivariate(act, v1, v1, v1, center=m)[0]
        v2 = bivariate(act, v2, v2, v2, center=m)[0]
        theta = ck + theta * dd
        C = ck
        cks.append(ck)
    return {"ck": cks, "ntk": theta}
