"""Exact weight-averaged (infinite-width) kernels on given data, via the bivariate map.

For the MLP (see the theory page ``docs/theory/network.md``, section Kernels) (W_l entries of variance 1, no 1/sqrt(d) in W,
``h_l = (sigma_l(g_l) - m_l)/sqrt(d_l)``) in the limit d_1, ..., d_L -> infinity:

    Sigma_0 = X X2^T,  v_0 = ||x_i||^2,  v2_0 = ||x2_j||^2
    CK_l[i,j] = E[(sigma_l(u) - m_l)(sigma_l(v) - m_l)],
                (u, v) ~ N(0, [[v_{l-1,i}, Sigma_{l-1}[i,j]], [., v2_{l-1,j}]])
    dd_l[i,j] = E[sigma_l'(u) sigma_l'(v)]          (same Gaussian pair)
    Sigma_l = CK_l,  v_l = diag CK_l (from the 1-D moments at scale sqrt(v_{l-1}))

since ``g_l = h_{l-1} @ W_l`` has ``Cov(g_{l,k}(x), g_{l,k}(x2)) = h_{l-1}(x).h_{l-1}(x2)``
and ``h_l.h2_l = (1/d_l) sum_k (sigma(g_k) - m)(sigma(g2_k) - m)`` -> CK_l.
NTK: with ``P_l = lim Delta_l Delta2_l^T``, ``Delta_L = w o sigma_L'/sqrt(d_L)`` gives
``P_L = dd_L`` and ``Delta_{l-1} = (Delta_l W_l^T) o sigma'/sqrt(d_{l-1})`` gives
``P_{l-1} = P_l o dd_{l-1}``, so ``NTK = CK_L + sum_l CK_{l-1} o P_l``, i.e.

    Theta_0 = X X2^T,   Theta_l = CK_l + Theta_{l-1} o dd_l,   NTK = Theta_L.

On the diagonal this is ``kappa_l^2 = tau_l^2 + s_l kappa_{l-1}^2`` (``docs/theory/equivalents.md``).
For piecewise-constant activations ``dd = 0`` (autodiff convention) and NTK = CK_L.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from ntkcomp._guards import check_finite
from ntkcomp._validate import check_data
from ntkcomp.activations import bivariate, moments
from ntkcomp.config import default_float
from ntkcomp.kernels._memory import check_fits

__all__ = ["expected_kernels"]


def _check_X(net, X, name):
    if jnp.ndim(X) != 2:
        raise ValueError(f"{name} must have shape (n, p), got {tuple(jnp.shape(X))}")
    check_data(name, X)  # NaN/Inf entries, or entries whose Gram would overflow


def expected_kernels(net, X: Any, X2: Any = None, *, max_bytes: int | None = None) -> dict:
    """Exact ``E_W`` kernels in the infinite-width limit.

    Args:
      net: an ``ntkcomp.networks.MLP`` (its activations, centers ``m_l``).
      X: ``(n1, p)`` inputs.
      X2: ``(n2, p)`` inputs, or None (``X2 = X``).
      max_bytes: memory limit of the estimate (default: the device's available memory).

    Returns:
      ``{"ck": [CK_1, ..., CK_L], "ntk": NTK}``, each ``(n1, n2)``, in JAX's default float.

    Raises:
      ValueError: X not 2-D, NaN/Inf entries, X2 with a different feature dimension, or
        kernels larger than the available memory (estimate and limit in the message).
    """
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
    symmetric = X2 is X
    # the L CKs, the NTK, and about six (n1, n2) temporaries of the bivariate map
    check_fits("expected kernels", (net.depth + 7) * X.shape[0] * X2.shape[0]
               * jnp.dtype(dtype).itemsize, max_bytes)
    C = jnp.matmul(X, X2.T, precision="highest")
    v1 = jnp.sum(X * X, axis=1)
    v2 = v1 if symmetric else jnp.sum(X2 * X2, axis=1)
    if symmetric:
        C = _set_diagonal(C, v1)
    theta = C
    cks = []
    for act, m in zip(net.activations, net.centers):
        ck, dd = bivariate(act, v1[:, None], v2[None, :], C, center=m)
        v1, s1 = _one_point(act, v1, m)
        v2, _s2 = (v1, s1) if symmetric else _one_point(act, v2, m)
        if symmetric:  # rho = 1 exactly: use the 1-D values (no sqrt singularity)
            ck = _set_diagonal(ck, v1)
            dd = _set_diagonal(dd, s1)
        theta = ck + theta * dd
        C = ck
        cks.append(ck)
    for l, ck in enumerate(cks):
        check_finite(f"CK_{l + 1}", ck, where="expected_kernels")
    check_finite("NTK", theta, where="expected_kernels")
    return {"ck": cks, "ntk": theta}


def _set_diagonal(A, d):
    i = jnp.arange(A.shape[0])
    return A.at[i, i].set(d)


def _one_point(act, v, m):
    """Diagonal values at Var u = v: ``E[(sigma(u) - m)^2] = var + (mean - m)^2`` and
    ``E[sigma'(u)^2] = s`` (0 for piecewise-constant sigma, the autodiff convention),
    from the 1-D Gaussian moments (exact quadrature; avoids rho = 1 in the 2-D map)."""

    mom = moments(act, jnp.sqrt(v))
    ck = mom.var + (mom.mean - m) ** 2
    s = jnp.zeros_like(v) if act.kind == "piecewise_constant" else mom.s
    return ck, s
