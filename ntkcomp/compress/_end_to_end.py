"""End-to-end design: match the FINAL kernel's coefficients, not every layer's moments.

Layer-wise matching (:mod:`ntkcomp.compress._design`) fixes (a1^2, a2^2, q^2) at every
layer, which (Hermite/Bessel argument) forbids matching tau_L with few levels.
But the CK_L equivalent only depends on ``(alpha_{L,1}, alpha_{L,2}, alpha_{L,3}, tau_L^2)``
(and, for sparse ternary weights, the layer-1 kurtosis coefficient ``alpha_diag_L``). The end-to-end design solves for all layers' activations jointly:

    unknowns: theta_1, ..., theta_L (each a family member, e.g. ternary: 4 per layer)
    forward:  tau_0 -> closed-form moments at tau_{l-1}^c -> alpha recursion, tau_l^c
    equations (target "ck"):  alpha^c_{L,k} = alpha^d_{L,k} (k = 1..3),  tau^c_L = tau^d_L,
              and (kurtosis_aware) alpha_diag^c_L = 0 (needs a2 = 0 at layer 1 when the
              layer-1 weights have kappa4 != 0; then K~_c = K~_d exactly even with the
              kurtosis term, whatever T_diag is)
    target "ntk": the right-hand sides are the dense NTK's beta_{L,1..3} and kappa_L^2 (the
              compressed step network's autodiff NTK is its CK_L).

Relative residuals: ``(x_c - x_d) / max(|x_d|, 1e-2 max_k |alpha^d_{L,k}|)`` for the alphas
and alpha_diag, ``(tau_c^2 - tau_d^2)/tau_d^2``. The hidden CK_l (l < L) are NOT matched by
this design (reported by ``coefficient_comparison``).
See the theory page ``docs/theory/compression.md`` (section Feasibility).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.compress._families import decode, family_moments, n_unknowns, step_moments
from ntkcomp.compress._lm import LM_ITERS, lm_generic, starts
from ntkcomp.equivalents import LayerCarry, layer_step

__all__ = ["e2e_forward", "solve_end_to_end", "E2E_NAMES"]

E2E_NAMES = ("alpha1", "alpha2", "alpha3", "tau_sq", "alpha_diag")


def _split(theta, sizes):
    out, i = [], 0
    for s in sizes:
        out.append(theta[i:i + s])
        i += s
    return out


def e2e_forward(theta, tau0, families, ks, kappa4_1):
    """Compressed-network coefficients from the stacked parameters ``theta``.

    Returns ``(alpha_L (4,), tau_L^2, alpha_diag_L, taus (L+1,))`` (the coefficient
    recursion :func:`ntkcomp.equivalents.layer_step` on the closed-form step moments)."""
    sizes = [n_unknowns(f, k) for f, k in zip(families, ks)]
    carry = LayerCarry.initial(jnp.asarray(tau0, theta.dtype))
    taus = [carry.tau]
    for l, (th, f, k) in enumerate(zip(_split(theta, sizes), families, ks)):
        m = family_moments(f, th, carry.tau, k)
        carry = layer_step(carry, m, kappa4=kappa4_1 if l == 0 else 0.0, first=l == 0,
                           differentiable=False)
        taus.append(carry.tau)
    return carry.alpha, taus[-1] ** 2, carry.alpha_diag, jnp.stack(taus)


def _residual(theta, tau0, values, scales, weights, families, ks, kappa4_1):
    a, t2, ad, _ = e2e_forward(theta, tau0, families, ks, kappa4_1)
    ach = jnp.stack([a[0], a[1], a[2], t2, ad])
    return weights * (ach - values) / scales


@functools.partial(jax.jit, static_argnames=("families", "ks", "iters"))
def _e2e_lm(thetas0, tau0, values, scales, weights, kappa4_1, *, families, ks, iters):
    fun = functools.partial(_residual, tau0=tau0, values=values, scales=scales,
                            weights=weights, families=families, ks=ks, kappa4_1=kappa4_1)
    return jax.vmap(lambda t: lm_generic(fun, t, iters))(thetas0)


@functools.partial(jax.jit, static_argnames=("families", "ks"))
def _e2e_eval(thetas, tau0, values, scales, kappa4_1, *, families, ks):
    w = jnp.ones(5, values.dtype)
    return jax.vmap(lambda t: _residual(t, tau0, values, scales, w, families, ks,
                                        kappa4_1))(thetas)


def solve_end_to_end(targets, dense_tau, tau0, values, *, families, ks=None, kappa4_1=0.0,
                     kurtosis_aware=True, tol=1e-10, n_starts=128, seed=0,
                     iters=2 * LM_ITERS, init=None):
    """Jointly solve all layers (see module docstring).

    Args:
      targets: per-layer dense :class:`MomentTarget` (only used to scale random starts).
      dense_tau: dense tau_{l-1} per layer (start scales). tau0: data scale.
      values: dense right-hand sides (alpha_{L,1..3} or beta_{L,1..3}, tau_L^2 or kappa_L^2).
      families / ks: per-layer family names and level counts (None unless k_level).
      kappa4_1: fourth cumulant of the layer-1 weights (sparse ternary: 1/(1-eps) - 3).
      kurtosis_aware: also require alpha_diag_L = 0 (exact match with the kurtosis term).
      init: optional stacked theta (e.g. the layer-wise solution) used as one extra start.
    Returns:
      dict with ``theta`` (stacked), per-layer ``thetas``, ``residuals`` (name -> float),
      ``feasible``, ``taus`` (compressed tau_0..tau_L), ``n_feasible_starts``.
    """
    L = len(families)
    ks = tuple(ks) if ks is not None else (None,) * L
    families = tuple(families)
    sizes = [n_unknowns(f, k) for f, k in zip(families, ks)]
    with jax.enable_x64(True):
        vals = np.asarray(list(values)[:4] + [0.0], dtype=np.float64)
        floor = 1e-2 * np.max(np.abs(vals[:3]))
        scales = np.maximum(np.abs(vals), floor)
        scales[3] = abs(vals[3])
        use_diag = bool(kurtosis_aware and kappa4_1 != 0.0)
        weights = np.array([1.0, 1.0, 1.0, 1.0, 1.0 if use_diag else 0.0])
        parts = [starts(f, k, t, float(tc), n_starts, seed + 17 * l)
                 for l, (f, k, t, tc) in enumerate(zip(families, ks, targets, dense_tau))]
        th0 = np.concatenate(parts, axis=1)
        if init is not None:
            th0[0] = np.asarray(init, dtype=np.float64)
        args = (jnp.asarray(tau0, jnp.float64), jnp.asarray(vals), jnp.asarray(scales))
        th, _ = _e2e_lm(jnp.asarray(th0), *args, jnp.asarray(weights),
                        jnp.asarray(float(kappa4_1)), families=families, ks=ks, iters=iters)
        r = np.asarray(_e2e_eval(th, *args, jnp.asarray(float(kappa4_1)), families=families,
                                 ks=ks))
        idx = [0, 1, 2, 3] + ([4] if use_diag else [])
        err = np.max(np.abs(r[:, idx]), axis=1)
        err = np.where(np.isfinite(err), err, np.inf)
        ok = err <= tol
        th = np.asarray(th)
        if np.any(ok):
            # best-conditioned feasible design: smallest max over layers of peak-to-rms
            ratios = []
            for t in th:
                worst, tau = 0.0, float(tau0)
                for tl, f, k in zip(_split(t, sizes), families, ks):
                    thr, lev = decode(f, jnp.asarray(tl), tau, k)
                    m = step_moments(thr, lev, tau)
                    worst = max(worst, float(jnp.max(jnp.abs(lev - m.mean)) / jnp.sqrt(m.var)))
                    tau = float(jnp.sqrt(m.var))
                ratios.append(worst)
            ratios = np.where(ok, np.nan_to_num(np.asarray(ratios), nan=np.inf), np.inf)
            best = int(np.argmin(ratios))
        else:
            best = int(np.argmin(err))
        _, _, _, taus = e2e_forward(jnp.asarray(th[best]), float(tau0), families, ks,
                                    float(kappa4_1))
        names = [E2E_NAMES[i] for i in idx]
        return {"theta": th[best], "thetas": _split(th[best], sizes),
                "residuals": {n: float(r[best, i]) for n, i in zip(names, idx)},
                "max_residual": float(err[best]), "feasible": bool(ok[best]),
                "taus": np.asarray(taus).tolist(), "n_feasible_starts": int(ok.sum()),
                "n_starts": int(n_starts), "kurtosis_aware": use_diag}
