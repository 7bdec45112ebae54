"""The Mehler (Hermite) series: the generic bivariate map of any activation.

For a centred Gaussian pair ``(u, v)`` with standard deviations ``s1``, ``s2`` and
correlation ``rho``, ``E[f(u) g(v)] = sum_k a_k(s1) b_k(s2) rho^k`` with
``a_k(s) = E[f(s xi) h_k(xi)]`` and ``h_k = He_k / sqrt(k!)`` the normalised probabilists'
Hermite polynomials. The coefficients come from the piecewise quadrature of
:mod:`._quadrature` per sample; the series is truncated after ``n_terms``. By
Cauchy-Schwarz the truncation error is at most ``|rho|^(K+1) sqrt(R(s1) R(s2))`` with
``R(s) = E[f(s xi)^2] - sum_{k<=K} a_k(s)^2`` (:func:`mehler_error_bound`). The diagonal
``u = +-v`` takes an exact one-dimensional quadrature instead of the series.

Shapes and cost: the coefficients are computed on the shapes of ``s1`` and ``s2``
separately (``(n, 1)`` and ``(1, n)`` for an n x n kernel: ``O(n * nodes * K)``); the
pairwise work is an elementwise Horner loop over the broadcast shape (``O(n^2 K)`` flops,
``O(n^2)`` memory). See the theory page ``docs/theory/moments.md`` (sections Hermite view,
Bivariate maps).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ntkcomp.activations._quadrature import N_NODES, gauss_nodes, node_breakpoints

__all__ = ["N_TERMS", "correlation", "hermite_coefficients", "horner", "mehler_bivariate",
           "mehler_error_bound"]

N_TERMS = 96


def _coeff_block(fn, s, n_terms, breakpoints, n_nodes, unroll=4):
    """Hermite coefficients for a 1-D block of scales ``s (B,)`` -> ``(B, n_terms+1), (B,)``."""
    xi, w = gauss_nodes(s, breakpoints, n_nodes)           # (B, N)
    f = fn(s[:, None] * xi)
    wf = w * f
    second = jnp.sum(wf * f, -1)

    def step(carry, k0):
        h, h_prev = carry
        outs = []
        for j in range(unroll):
            kk = k0 * unroll + j
            outs.append(jnp.sum(wf * h, -1))
            h, h_prev = (xi * h - jnp.sqrt(kk) * h_prev) / jnp.sqrt(kk + 1.0), h
        return (h, h_prev), jnp.stack(outs)

    n_steps = -(-(n_terms + 1) // unroll)
    _, out = jax.lax.scan(step, (jnp.ones_like(xi), jnp.zeros_like(xi)),
                          jnp.arange(n_steps, dtype=xi.dtype))
    out = out.reshape(n_steps * unroll, s.shape[0])[: n_terms + 1]
    return out.T, second


def hermite_coefficients(fn, s, n_terms: int = N_TERMS, breakpoints=None,
                         n_nodes: int = N_NODES, block: int = 16):
    """``a_k(s) = E[fn(s xi) h_k(xi)]`` for ``k = 0..n_terms``, and ``E[fn(s xi)^2]``.

    Args:
      fn: elementwise function of ``t``.
      s: scales, any shape ``S`` (> 0).
      n_terms: last Hermite index ``K``.
      breakpoints: breakpoints of ``fn`` in t-space (None: smooth).
      n_nodes: Gauss-Legendre nodes per panel.
      block: scales processed together (the working set is ``O(block * nodes)``).

    Returns:
      ``(a, second)`` of shapes ``S + (n_terms + 1,)`` and ``S``.
    """
    s = jnp.asarray(s)
    shape = s.shape
    flat = s.reshape(-1)
    m = flat.shape[0]
    pad = (-m) % block
    flat = jnp.concatenate([flat, jnp.ones((pad,), flat.dtype)]) if pad else flat
    a, second = jax.lax.map(
        lambda sb: _coeff_block(fn, sb, n_terms, breakpoints, n_nodes),
        flat.reshape(-1, block))
    a = a.reshape(-1, n_terms + 1)[:m].reshape(shape + (n_terms + 1,))
    second = second.reshape(-1)[:m].reshape(shape)
    return a, second


def horner(a1, a2, rho, k0: int = 1):
    """``sum_{k >= k0} a1[..., k] a2[..., k] rho^k`` elementwise over the broadcast shape."""
    K = a1.shape[-1] - 1
    shape = jnp.broadcast_shapes(a1.shape[:-1], a2.shape[:-1], rho.shape)
    c1 = jnp.moveaxis(a1, -1, 0)
    c2 = jnp.moveaxis(a2, -1, 0)
    n = K - k0 + 1                       # terms k = K, K-1, ..., k0
    block = 8                            # unrolled inside the loop: one fused pass per block
    nb = n // block

    def body(i, acc):
        top = K - i * block
        for j in range(block):
            acc = (acc + c1[top - j] * c2[top - j]) * rho
        return acc

    acc = jax.lax.fori_loop(0, nb, body, jnp.zeros(shape, rho.dtype))
    for kk in range(K - nb * block, k0 - 1, -1):
        acc = (acc + c1[kk] * c2[kk]) * rho
    if k0 >= 1:
        acc = acc * rho ** (k0 - 1)
    return acc


def correlation(var1, var2, cov, s1, s2):
    """``rho = cov / (s1 s2)`` clipped to ``[-1, 1]``; exactly ``+-1`` on the diagonal
    (``var1 == var2 == |cov|``) and within 4 ulps of ``+-1`` (rounding, not information)."""
    rho = jnp.clip(cov / (s1 * s2), -1.0, 1.0)
    eps = 4.0 * jnp.finfo(rho.dtype).eps
    diag = (var1 == var2) & (jnp.abs(cov) == var1)
    snap = diag | (jnp.abs(rho) >= 1.0 - eps)
    return jnp.where(snap, jnp.sign(rho), rho)


def _diagonal(act, s1, bp, n_nodes, center, m1, m2):
    """Exact ``(ck, dd)`` at ``u = v`` and at ``u = -v`` by one-dimensional quadrature."""
    xi, w = gauss_nodes(s1, bp, n_nodes)
    t = s1[..., None] * xi
    f, fm = act(t), act(-t)
    g, gm = act.derivative(t), act.derivative(-t)
    cen = -center * (m1 + m2) + center * center
    return (jnp.sum(w * f * f, -1) + cen, jnp.sum(w * f * fm, -1) + cen,
            jnp.sum(w * g * g, -1), jnp.sum(w * g * gm, -1))


def mehler_bivariate(act, s1, s2, rho, center, n_terms: int = N_TERMS,
                     n_nodes: int = N_NODES, same: bool = False):
    """``(ck, dd)`` of any activation by the Mehler series (exact 1-D path on ``rho = +-1``).

    Args:
      act: the activation.
      s1, s2: standard deviations (> 0), broadcastable; ``rho``: correlation in [-1, 1].
      center: subtracted from ``sigma`` in ``ck``.
      n_terms: series truncation ``K``; n_nodes: Gauss-Legendre nodes per panel.
      same: ``s2`` holds ``s1``'s values (a symmetric kernel): the coefficients are shared.

    Returns:
      ``(ck, dd)`` of the broadcast shape.
    """
    bp = node_breakpoints(act)
    a1, _ = hermite_coefficients(act, s1, n_terms, bp, n_nodes)
    b1, _ = hermite_coefficients(act.derivative, s1, n_terms, bp, n_nodes)
    if same:
        a2 = a1.reshape(s2.shape + (n_terms + 1,))
        b2 = b1.reshape(s2.shape + (n_terms + 1,))
    else:
        a2, _ = hermite_coefficients(act, s2, n_terms, bp, n_nodes)
        b2, _ = hermite_coefficients(act.derivative, s2, n_terms, bp, n_nodes)
    m1, m2 = a1[..., 0], a2[..., 0]
    ck = horner(a1, a2, rho) + (m1 - center) * (m2 - center)
    dd = horner(b1, b2, rho) + b1[..., 0] * b2[..., 0]
    equal = jnp.abs(s1 - s2) <= 1e-13 * (s1 + s2)
    plus = equal & (rho >= 1.0 - 1e-13)
    minus = equal & (rho <= -1.0 + 1e-13)
    ck_p, ck_m, dd_p, dd_m = _diagonal(act, s1, bp, n_nodes, center, m1, m2)
    ck = jnp.where(plus, ck_p, jnp.where(minus, ck_m, ck))
    dd = jnp.where(plus, dd_p, jnp.where(minus, dd_m, dd))
    return ck, dd


def mehler_error_bound(act, s1, s2, rho, n_terms: int = N_TERMS, n_nodes: int = N_NODES):
    """Bounds ``|rho|^(K+1) sqrt(R(s1) R(s2))`` on the truncation error of ``(ck, dd)``.

    ``R(s) = E[f(s xi)^2] - sum_{k<=K} a_k(s)^2`` for ``f = sigma`` and then ``sigma'``.

    Returns:
      ``(bound_ck, bound_dd)`` of the broadcast shape of ``s1``, ``s2``, ``rho``.
    """
    bp = node_breakpoints(act)
    out = []
    for fn in (act, act.derivative):
        a1, m1 = hermite_coefficients(fn, s1, n_terms, bp, n_nodes)
        a2, m2 = hermite_coefficients(fn, s2, n_terms, bp, n_nodes)
        r1 = jnp.maximum(m1 - jnp.sum(a1 ** 2, -1), 0.0)
        r2 = jnp.maximum(m2 - jnp.sum(a2 ** 2, -1), 0.0)
        out.append(jnp.abs(rho) ** (n_terms + 1) * jnp.sqrt(r1 * r2))
    return tuple(out)
