"""Levenberg-Marquardt multi-start for the moment-matching problems (jit, vmapped starts).

Residual vector ``r(theta) = w * (M @ m(theta, tau_c) - values) / scales`` with ``m`` the
closed-form moments ``(a1^2, a2^2, q^2, var)`` of a family member (see
:mod:`ntkcomp.compress._families`); Levenberg-Marquardt with Marquardt scaling, Jacobian by
``jax.jacfwd``, a fixed number of iterations in ``lax.fori_loop``, ``vmap``-ed over seeded
random starts (numpy ``RandomState(seed)``: deterministic). See the theory page
``docs/theory/compression.md`` (section Design).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.compress._families import decode, family_moments, n_unknowns, step_moments
from ntkcomp.compress._targets import MomentTarget

__all__ = ["LM_ITERS", "lm_generic", "lm_solve", "achieved", "starts", "pick",
           "moment_residual"]

LM_ITERS = 150


def moment_residual(theta, tau_c, M, values, scales, weights, family, k):
    m = family_moments(family, theta, tau_c, k)
    achieved = M @ jnp.stack([m.a1 ** 2, m.a2 ** 2, m.q ** 2, m.var])
    return weights * (achieved - values) / scales


def _lm_single(theta0, tau_c, M, values, scales, weights, family, k, iters):
    fun = functools.partial(moment_residual, tau_c=tau_c, M=M, values=values, scales=scales,
                            weights=weights, family=family, k=k)
    return lm_generic(fun, theta0, iters)


def lm_generic(fun, theta0, iters):
    """Levenberg-Marquardt on ``fun: (n,) -> (m,)`` from ``theta0`` for ``iters`` steps
    (Marquardt scaling, jacfwd Jacobian, step accepted only if the cost decreases).
    Returns ``(theta, cost)``; jit/vmap-able."""
    jac = jax.jacfwd(fun)

    def cost_of(r):
        c = jnp.sum(r * r)
        return jnp.where(jnp.isfinite(c), c, jnp.inf)

    r0 = fun(theta0)
    state0 = (theta0, r0, jac(theta0), cost_of(r0), jnp.asarray(1e-2, theta0.dtype))

    def body(_, state):
        theta, r, J, cost, lam = state
        A = J.T @ J
        g = J.T @ r
        d = jnp.diag(A)
        D = d + 1e-9 * jnp.max(d) + 1e-300
        step = jnp.linalg.solve(A + lam * jnp.diag(D), -g)
        step = jnp.where(jnp.all(jnp.isfinite(step)), step, jnp.zeros_like(step))
        new = theta + step
        r_new = fun(new)
        c_new = cost_of(r_new)
        accept = c_new < cost
        theta = jnp.where(accept, new, theta)
        r = jnp.where(accept, r_new, r)
        J = jax.lax.cond(accept, jac, lambda _: J, theta)
        cost = jnp.where(accept, c_new, cost)
        lam = jnp.clip(jnp.where(accept, lam * 0.3, lam * 5.0), 1e-15, 1e12)
        return theta, r, J, cost, lam

    theta, r, _, cost, _ = jax.lax.fori_loop(0, iters, body, state0)
    return theta, cost


@functools.partial(jax.jit, static_argnames=("family", "k", "iters"))
def lm_solve(thetas0, tau_c, M, values, scales, weights, *, family: str, k: int | None,
             iters: int = LM_ITERS):
    """Run LM from every row of ``thetas0 (n_starts, n_unknowns)``.

    The residual is ``weights * (M @ (a1^2, a2^2, q^2, var) - values) / scales`` with the
    closed-form moments at ``tau_c`` (``M`` = identity for plain moment matching).
    Returns ``(thetas (n_starts, n_unknowns), costs (n_starts,))`` where cost is the sum of
    squared weighted relative residuals. Pure function of its inputs (deterministic).
    """
    f = functools.partial(_lm_single, tau_c=tau_c, M=M, values=values, scales=scales,
                          weights=weights, family=family, k=k, iters=iters)
    return jax.vmap(f)(thetas0)


@functools.partial(jax.jit, static_argnames=("family", "k"))
def achieved(thetas, tau_c, M, *, family, k):
    def one(theta):
        m = family_moments(family, theta, tau_c, k)
        return M @ jnp.stack([m.a1 ** 2, m.a2 ** 2, m.q ** 2, m.var])
    return jax.vmap(one)(thetas)


def starts(family: str, k: int | None, target: MomentTarget, tau_c: float, n_starts: int,
            seed: int) -> np.ndarray:
    """Deterministic starts: thresholds z in [-3, 2] (units of tau_c), log-gaps in
    [log 0.05, log 3], jumps ~ amplitude * N(0, 1) with the amplitude that gives the target
    slope a1 at z ~ 0 (b ~ |a1| tau_c / phi(0))."""
    rng = np.random.RandomState(seed)
    nu = n_unknowns(family, k)
    a1_scale = np.sqrt(max(target.a1 ** 2, target.var / target.tau_in ** 2))
    amp = a1_scale * tau_c * np.sqrt(2 * np.pi)
    th = np.empty((n_starts, nu))
    th[:, 0] = rng.uniform(-3.0, 2.0, n_starts)
    n_gaps = {"binary": 1, "ternary": 1}.get(family, (k or 2) - 2)
    th[:, 1:1 + n_gaps] = rng.uniform(np.log(0.05), np.log(3.0), (n_starts, n_gaps))
    th[:, 1 + n_gaps:] = amp * rng.standard_normal((n_starts, nu - 1 - n_gaps))
    return th


@functools.partial(jax.jit, static_argnames=("family", "k"))
def _peak_to_rms_jit(thetas, tau_c, *, family, k):
    def one(th):
        thr, lev = decode(family, th, tau_c, k)
        m = step_moments(thr, lev, tau_c)
        return jnp.max(jnp.abs(lev - m.mean)) / jnp.sqrt(m.var)
    return jax.vmap(one)(thetas)


def _peak_to_rms(thetas, family, k, tau_c):
    return np.asarray(_peak_to_rms_jit(jnp.asarray(thetas), jnp.asarray(tau_c),
                                       family=family, k=k))


def pick(thetas, err, tol, family, k, tau_c):
    """Among starts meeting ``tol``, the best-conditioned activation: smallest peak-to-rms
    ratio max|level - mean| / sqrt(var) (rare far-tail levels make heavy-tailed features at
    finite width); if none meets ``tol``, the smallest error."""
    ok = err <= tol
    if not np.any(ok):
        return int(np.argmin(err))
    ratio = np.where(ok, _peak_to_rms(thetas, family, k, tau_c), np.inf)
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    return int(np.argmin(ratio))
