"""The bivariate normal orthant probability ``P(X > h, Y > k)`` (Genz 2004).

Used by the piecewise-constant families, whose bivariate map is a combination of such
probabilities. See the theory page ``docs/theory/moments.md`` (section Bivariate maps).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

__all__ = ["bvn_upper"]

_TWO_PI = 2.0 * math.pi


def _gl(n: int):
    """``n``-point Gauss-Legendre nodes and weights on [-1, 1]."""
    return np.polynomial.legendre.leggauss(n)


def _arcsine_part(hf, kf, r, n):
    """``(1/2pi) int_0^{asin r} exp(-(h^2 + k^2 - 2hk sin t)/(2 cos^2 t)) dt``, ``n``-point
    Gauss-Legendre."""
    x, w = _gl(n)
    A = jnp.arcsin(r)
    hs = (hf * hf + kf * kf) / 2.0
    hk = hf * kf
    acc = jnp.zeros(jnp.broadcast_shapes(hf.shape, kf.shape, r.shape), hf.dtype)
    for t, wt in zip((1.0 + x) / 2.0, w / 2.0):
        sn = jnp.sin(A * t)
        acc = acc + wt * jnp.exp((sn * hk - hs) / (1.0 - sn * sn))
    return acc * A / _TWO_PI


def _near_one_part(hf, k2, r):
    """Genz's integral for ``|r| >= 0.925`` (after reflecting ``k`` for ``r < 0``); 0 where
    ``|r| = 1``."""
    hk2 = hf * k2
    inner = jnp.abs(r) < 1.0
    rl = jnp.where((jnp.abs(r) < 0.925) | ~inner, 0.95, jnp.abs(r))   # safe where unused
    as_ = (1.0 - rl) * (1.0 + rl)
    a = jnp.sqrt(as_)
    bs = (hf - k2) ** 2
    c = (4.0 - hk2) / 8.0
    d = (12.0 - hk2) / 80.0
    asr = -(bs / as_ + hk2) / 2.0
    bvn = a * jnp.exp(asr) * (1.0 - c * (bs - as_) * (1.0 - d * bs) / 3.0 + c * d * as_ * as_)
    b = jnp.sqrt(bs)
    hk_ok = hk2 > -100.0
    e_hk = jnp.exp(jnp.where(hk_ok, -hk2 / 2.0, 0.0))
    corr = e_hk * math.sqrt(_TWO_PI) * ndtr(-b / a) * b * (1.0 - c * bs * (1.0 - d * bs) / 3.0)
    bvn = bvn - jnp.where(hk_ok, corr, 0.0)
    ah = a / 2.0
    acc = jnp.zeros_like(bvn)
    x20, w20 = _gl(20)
    for x, w in zip(np.concatenate([1.0 - x20[10:], 1.0 + x20[10:]]),
                    np.concatenate([w20[10:], w20[10:]])):
        xs = (ah * x) ** 2
        ex = -(bs / xs + hk2) / 2.0
        sp = 1.0 + c * xs * (1.0 + 5.0 * d * xs)
        rs = jnp.sqrt(1.0 - xs)
        ep = jnp.exp(-(hk2 / 2.0) * xs / (1.0 + rs) ** 2) / rs
        acc = acc + w * jnp.exp(jnp.maximum(ex, -700.0)) * (sp - ep)
    bvn = (ah * acc - bvn) / _TWO_PI
    return jnp.where(inner, bvn, 0.0)


@jax.jit
def bvn_upper(h, k, r):
    """``P(X > h, Y > k)`` for a standard bivariate normal ``(X, Y)`` with correlation ``r``.

    Genz, A. (2004), "Numerical computation of rectangular bivariate and trivariate normal
    and t probabilities", Statistics and Computing 14. For ``|r| < 0.925`` the arcsine
    integral ``Phi(-h) Phi(-k) + (1/2pi) int_0^{asin r} exp(-(h^2 + k^2 - 2hk sin t) /
    (2 cos^2 t)) dt`` (Gauss-Legendre with 6 / 12 / 20 nodes when ``max |r|`` is below
    0.3 / 0.75 / 0.925, chosen once for the whole array); for ``0.925 <= |r| < 1`` an
    expansion in ``sqrt(1 - r^2)`` plus a corrected integral (computed only when some entry
    needs it); ``|r| = 1`` exactly.

    Args:
      h, k: thresholds, broadcastable (e.g. ``(n, 1)`` and ``(1, n)``: the one-dimensional
        terms are evaluated on those shapes only); infinite values allowed.
      r: correlations in ``[-1, 1]`` (clipped), broadcastable with ``h`` and ``k``.

    Returns:
      The probabilities, of the broadcast shape, clipped to ``[0, 1]``.
    """
    h, k, r = (jnp.asarray(x) for x in (h, k, r))
    dtype = jnp.result_type(h, k, r, float)
    # Per-sample quantities stay on their own shapes (h: rows, k: columns for a kernel);
    # only the pairwise terms are computed on the broadcast shape.
    # Clipping to +-40 is exact for infinite arguments: Phi(-40) underflows to 0.
    hf = jnp.clip(h.astype(dtype), -40.0, 40.0)
    kf = jnp.clip(k.astype(dtype), -40.0, 40.0)
    r = jnp.clip(r.astype(dtype), -1.0, 1.0)
    shape = jnp.broadcast_shapes(hf.shape, kf.shape, r.shape)
    r = jnp.broadcast_to(r, shape)
    Ph, Pk = ndtr(-hf), ndtr(-kf)                      # P(X > h), P(Y > k)
    ar = jnp.abs(r)
    small = ar < 0.925

    # ---- |r| < 0.925 ------------------------------------------------------------------
    r_small = jnp.where(small, r, 0.0)
    rmax = jnp.max(jnp.abs(r_small)) if r_small.size else jnp.zeros((), dtype)
    tier = (rmax >= 0.3).astype(jnp.int32) + (rmax >= 0.75).astype(jnp.int32)
    p_small = jax.lax.switch(tier, [functools.partial(_arcsine_part, n=n) for n in (6, 12, 20)],
                             hf, kf, r_small) + Ph * Pk

    # ---- |r| = 1 exactly: P(X > max(h, k)) = min(Ph, Pk); P(h < X < -k) = max(0, Ph+Pk-1)
    p_one = jnp.where(r > 0, jnp.minimum(Ph, Pk), jnp.maximum(Ph + Pk - 1.0, 0.0))

    # ---- 0.925 <= |r| < 1 (only computed when some entry needs it) ----------------------
    def large(hf, kf, r):
        neg = r < 0
        k2 = jnp.where(neg, -kf, kf)
        bvn = _near_one_part(hf, k2, r)
        p_pos = bvn + ndtr(-jnp.maximum(hf, k2))
        L = jnp.where(hf < 0, ndtr(k2) - ndtr(hf), ndtr(-hf) - ndtr(-k2))
        p_neg = jnp.where(hf >= k2, -bvn, L - bvn)
        return jnp.where(neg, p_neg, p_pos)

    inner = ~small & (ar < 1.0)
    need = jnp.any(inner) if r.size else jnp.zeros((), bool)
    p_large = jax.lax.cond(need, large, lambda a, b, c: jnp.zeros(shape, dtype), hf, kf, r)
    p = jnp.where(small, p_small, jnp.where(inner, p_large, p_one))
    return jnp.clip(p, 0.0, 1.0)
