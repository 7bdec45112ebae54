"""Moment targets: what a compressed layer must reproduce of the dense layer it replaces.

The CK/NTK equivalents depend on layer l only through ``(a1^2, a2^2, q)`` (hidden layers; q enters only through alpha_{l,4}^2, i.e. as q^2),
plus ``tau_l^2`` at the last layer (and ``s_l`` for the NTK's kappa). A :class:`MomentTarget`
holds the dense layer's moments at the DENSE network's input scale; the compressed layer is
designed at the COMPRESSED network's own input scale (see :mod:`ntkcomp.compress._solver`).

Relative residuals. For a matched quantity x (one of ``a1_sq = a1^2``, ``a2_sq = a2^2``,
``q_sq = q^2``, ``tau_sq = tau_out^2``) the solver's residual is
``(x_compressed - x_dense) / max(|x_dense|, floor_frac * natural_x)`` where the natural
scales are built from ``S = tau_out^2 / tau_in^2`` (dimension of a1^2):
``natural = (S, S / tau_in^2, S^2, tau_out^2)``. The floor only matters when a target is
(near) zero, e.g. a2 = 0 for odd activations (tanh, erf), where a pure relative residual is
undefined; it is recorded in every report.
See the theory page ``docs/theory/compression.md`` (section Design).
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from scipy.special import ndtr as _ndtr

from ntkcomp.activations import moments

QUANTITIES = ("a1_sq", "a2_sq", "q_sq", "tau_sq")
FLOOR_FRAC = 1e-2


class MomentTarget(NamedTuple):
    """Dense-layer moments (float64 scalars) at the dense input scale ``tau_in``.

    ``values`` order: (a1^2, a2^2, q^2, tau_out^2); ``scales`` are the residual denominators
    ``max(|value|, FLOOR_FRAC * natural)``; ``s`` = E[sigma'^2] (NTK only, may be inf).
    """
    a1: float
    a2: float
    q: float
    var: float
    s: float
    tau_in: float

    @property
    def values(self) -> np.ndarray:
        return np.array([self.a1 ** 2, self.a2 ** 2, self.q ** 2, self.var], dtype=np.float64)

    @property
    def natural(self) -> np.ndarray:
        S = self.var / self.tau_in ** 2
        return np.array([S, S / self.tau_in ** 2, S ** 2, self.var], dtype=np.float64)

    def scales(self, floor_frac: float = FLOOR_FRAC) -> np.ndarray:
        return np.maximum(np.abs(self.values), floor_frac * self.natural)

    def to_json(self) -> dict:
        return {"a1": self.a1, "a2": self.a2, "q": self.q, "tau_out_sq": self.var,
                "s": self.s if np.isfinite(self.s) else "inf", "tau_in": self.tau_in}


def target_from_activation(act, tau_in: float) -> MomentTarget:
    """The moment target of a dense activation (what a compressed layer must reproduce).

    Args:
      act: a dense activation (``ntkcomp.activations.get(name)``).
      tau_in: the dense layer's input scale, > 0.

    Returns:
      :class:`MomentTarget` with ``a1, a2, q, var, s`` of ``act`` at ``tau_in``
      (:func:`ntkcomp.activations.moments`), float64.
    """
    m = moments(act, jnp.asarray(float(tau_in), dtype=jnp.float64))
    return MomentTarget(a1=float(m.a1), a2=float(m.a2), q=float(m.q), var=float(m.var),
                        s=float(m.s), tau_in=float(tau_in))


def relative_residuals(achieved: np.ndarray, target: MomentTarget,
                       floor_frac: float = FLOOR_FRAC) -> dict:
    """``{name: (achieved - target)/scale}`` for the four quantities (floats)."""
    r = (np.asarray(achieved, dtype=np.float64) - target.values) / target.scales(floor_frac)
    return {k: float(v) for k, v in zip(QUANTITIES, r)}


class LinearTarget(NamedTuple):
    """General matching problem: ``M @ (a1^2, a2^2, q^2, tau_out^2) = values``.

    Entries 0-2 are the "primary" equations (matched exactly first), entry 3 the tau-like
    one (matched as closely as possible when it cannot be met jointly). ``names`` label the
    residuals in reports. Plain moment matching is ``M = I`` (:func:`moment_linear_target`).
    """
    M: np.ndarray
    values: np.ndarray
    scales: np.ndarray
    names: tuple


def moment_linear_target(target: MomentTarget, floor_frac: float = FLOOR_FRAC) -> LinearTarget:
    return LinearTarget(np.eye(4), target.values, target.scales(floor_frac), QUANTITIES)


def ntk_last_layer_target(alpha_prev, beta_dense, kappa2_dense: float,
                          floor_frac: float = FLOOR_FRAC) -> LinearTarget:
    """Last-layer equations making the compressed network's CK_L equivalent equal the DENSE
    NTK equivalent (target="ntk").

    A step-activation network's autodiff NTK is its CK_L (see the theory page
    ``docs/theory/compression.md``, section Target), so the
    compressed kernel is ``alpha_{L,1} X^T X + V A_L V^T + (tau_L^2 - alpha_{L,1} tau_0^2) I``
    and must equal ``beta_{L,1} X^T X + V B V^T + (kappa_L^2 - beta_{L,1} tau_0^2) I``:

        alpha_{L-1,1} a1^2                               = beta_{L,1}
        alpha_{L-1,2} a1^2 + (1/4) alpha_{L-1,4}^2 a2^2  = beta_{L,2}
        alpha_{L-1,3} a1^2 + (1/2) alpha_{L-1,1}^2 a2^2  = beta_{L,3}
        tau_L^2                                          = kappa_L^2

    Four equations in (a1^2, a2^2, tau_L^2): the first three over-determine (a1^2, a2^2), so
    the system is feasible only if the dense betas happen to be consistent; the solver
    reports the best residuals otherwise. ``alpha_prev`` = compressed alpha_{L-1} (4,).
    """
    a = np.asarray(alpha_prev, dtype=np.float64)
    M = np.array([[a[0], 0.0, 0.0, 0.0],
                  [a[1], 0.25 * a[3] ** 2, 0.0, 0.0],
                  [a[2], 0.5 * a[0] ** 2, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 1.0]])
    values = np.array([*np.asarray(beta_dense, dtype=np.float64)[:3], float(kappa2_dense)])
    scales = np.maximum(np.abs(values), floor_frac * np.max(np.abs(values[:3])))
    scales[3] = abs(values[3])
    return LinearTarget(M, values, scales, ("beta1", "beta2", "beta3", "kappa_sq"))


# --------------------------------------------------------------------------------------
# A necessary condition on the number of levels (exact, any design)
# --------------------------------------------------------------------------------------
def lloyd_max_linear_fraction(k: int, iters: int = 2000) -> float:
    """Largest ``corr(f(xi), xi)^2`` over functions ``f`` taking ``k`` values, xi ~ N(0,1).

    For a k-valued f, ``E[xi | f]`` is a k-cell quantizer of xi, so
    ``corr^2 <= ||E[xi | cells]||^2 = 1 - D`` with D the mean-squared distortion; the best
    cells are intervals (Lloyd-Max quantizer of the Gaussian). Computed by Lloyd's
    iterations with closed-form centroids (k = 2: 2/pi).
    """
    k = int(k)
    if k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    phi = lambda z: np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)  # noqa: E731
    t = np.linspace(-2.0, 2.0, k - 1) * (1.0 if k > 2 else 0.0)
    for _ in range(iters):
        edges = np.concatenate([[-np.inf], t, [np.inf]])
        P = np.diff(_ndtr(edges))
        c = (phi(edges[:-1]) - phi(edges[1:])) / P
        t_new = 0.5 * (c[:-1] + c[1:])
        if np.max(np.abs(t_new - t)) < 1e-15:
            t = t_new
            break
        t = t_new
    edges = np.concatenate([[-np.inf], t, [np.inf]])
    P = np.diff(_ndtr(edges))
    c = (phi(edges[:-1]) - phi(edges[1:])) / P
    return float(np.sum(P * c * c))  # = ||E[xi | cells]||^2


def linear_fraction_bound(alpha_L1: float, tau0: float, tau_L: float, depth: int,
                          k_max: int = 64) -> dict:
    """Fewest levels (same k at every layer) any design needs to match alpha_{L,1} AND tau_L.

    The CK_L equivalent's linear fraction telescopes over layers:
    ``F = alpha_{L,1} tau_0^2 / tau_L^2 = prod_l a1_l^2 tau_{l-1}^2 / tau_l^2 = prod_l f1_l``
    where ``f1_l = corr(sigma_l(tau_{l-1} xi), xi)^2``. A k-valued activation has
    ``f1 <= 1 - D_k`` (Lloyd-Max), so matching needs ``(1 - D_k)^L >= F_dense``. Returns
    F_dense, the per-k bound table (k = 2..8) and ``min_levels`` (None if > k_max).
    """
    F = float(alpha_L1) * float(tau0) ** 2 / float(tau_L) ** 2
    table = {}
    min_k = None
    for k in range(2, k_max + 1):
        f1 = lloyd_max_linear_fraction(k)
        if k <= 8:
            table[str(k)] = {"max_linear_fraction_per_layer": f1,
                             "max_linear_fraction_network": f1 ** depth}
        if min_k is None and f1 ** depth >= F:
            min_k = k
        if min_k is not None and k >= 8:
            break                       # the table (k <= 8) and min_levels are both known
    return {"dense_linear_fraction": F, "bound_by_levels": table,
            "min_levels_necessary": min_k}
