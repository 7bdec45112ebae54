"""Design step: match each dense layer's Gaussian moments with a quantized activation.

The CK/NTK equivalents depend on layer ``l`` only through ``(a1^2, a2^2, q)`` (hidden) and
``tau_L^2`` (last layer). Layer ``l`` of the compressed network is solved at the compressed
network's own input scale ``tau_{l-1}^c`` (propagated layer by layer) so that its moments
equal the dense layer's moments at the dense scale ``tau_{l-1}``: then every
``alpha_{l,k}`` (and ``beta_{l,k}``) of the two networks agree, and the CK_L equivalents
differ at most by ``delta I``. The hidden scales ``tau_l^c`` are free unless a
:class:`~ntkcomp.compress.HiddenScale` ratio fixes them; a k-level activation reaches at most
a fraction of its variance in Hermite degrees 1-2, so matching every ``tau_l`` needs many
levels and otherwise leaves an identity shift, reported exactly.

:func:`build` turns a design and per-layer sparsities into the compressed MLP (sparse
ternary weights, mean 0, variance 1).
See the theory page ``docs/theory/compression.md`` (section Design).
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp.compress._options import (Family, HiddenScale, SolverOptions, Target, layer_eps,
                                       parse_enum)
from ntkcomp.compress._solver import solve_fewest_levels, solve_layer
from ntkcomp.compress._targets import (FLOOR_FRAC, linear_fraction_bound,
                                       ntk_last_layer_target, target_from_activation)
from ntkcomp._validate import check_positive, check_positive_int
from ntkcomp.activations import Moments
from ntkcomp.equivalents import LayerCarry, coefficients, layer_step
from ntkcomp.networks import MLP, weight_law

__all__ = ["Design", "design", "build", "compressed_alpha"]


@dataclasses.dataclass(frozen=True)
class Design:
    """Output of :func:`design`: one solved activation per layer.

    Attributes:
      layers: ``(L,)`` :class:`~ntkcomp.compress.LayerSolution` per layer.
      taus: ``(L+1,)`` compressed scales ``tau_0^c .. tau_L^c`` propagated by the design.
      tau0: data scale. family, target, hidden, solver: the options used.
      levels_bound: :func:`linear_fraction_bound` of the dense network: the fewest levels any
        design needs to match ``alpha_{L,1}`` and ``tau_L``.
    """
    layers: tuple
    taus: tuple
    tau0: float
    family: Family
    target: Target
    hidden: HiddenScale
    solver: SolverOptions
    levels_bound: dict

    @property
    def feasible(self) -> bool:
        """Every layer met the solver tolerance on its matched quantities."""
        return all(s.feasible for s in self.layers)

    def activations(self) -> list:
        """The solved activations, layer 1 first."""
        return [s.activation() for s in self.layers]


def compressed_alpha(layers) -> np.ndarray:
    """``alpha_{l}`` ``(4,)`` after the solved ``layers`` (the CK recursion of
    :func:`ntkcomp.equivalents.layer_step` on their achieved moments)."""
    with jax.enable_x64(True):
        carry = LayerCarry.initial(jnp.asarray(1.0, jnp.float64))
        for s in layers:
            a = s.achieved
            m = Moments(*(jnp.asarray(a[k], jnp.float64)
                          for k in ("mean", "var", "a1", "a2", "q")), s=jnp.inf)
            carry = layer_step(carry, m, differentiable=False)
        return np.asarray(carry.alpha)


def _solve(t, tau_c, family, k, match_tau, solver, seed, linear=None):
    layer_solver = dataclasses.replace(solver, seed=seed)    # layer l starts from seed + l
    if family is Family.AUTO:
        return solve_fewest_levels(t, tau_c, match_tau=match_tau, solver=layer_solver,
                                   linear=linear)
    return solve_layer(t, tau_c, family=family.value, k=k, match_tau=match_tau,
                       solver=layer_solver, linear=linear)


def _layer(net, l, dense_coef, tau_c, family, k, target, hidden, solver, sols):
    t = target_from_activation(net.activations[l - 1], float(dense_coef.tau[l - 1]))
    seed = solver.seed + l
    if l == net.depth and target is Target.NTK:
        lin = ntk_last_layer_target(compressed_alpha(sols), np.asarray(dense_coef.beta[l]),
                                    float(dense_coef.kappa2[l]), FLOOR_FRAC)
        # start amplitudes from the moment target; the linear map defines the problem
        return _solve(t, tau_c, family, k, True, solver, seed, lin)
    if l == net.depth:
        return _solve(t, tau_c, family, k, True, solver, seed)
    if hidden.is_free:
        return _solve(t, tau_c, family, k, False, solver, seed)
    # the tau residual is relative to rho^2 tau_l^2 (target.tau_out_sq in the report)
    return _solve(t._replace(var=hidden.rho ** 2 * t.var), tau_c, family, k, True, solver, seed)


def design(net, tau0: float | None = None, *, family: Family | str = Family.TERNARY,
           levels: int | None = None, target: Target | str = Target.CK,
           hidden: HiddenScale | str | float = HiddenScale(),
           solver: SolverOptions = SolverOptions()) -> Design:
    """Match every layer of ``net`` with a quantized activation (moment matching).

    Args:
      net: dense ``ntkcomp.networks.MLP`` (its activations are the targets).
      tau0: data scale (default ``net.tau0``), > 0.
      family: :class:`~ntkcomp.compress.Family` or its string value.
      levels: number of levels for ``Family.K_LEVEL`` (an integer >= 2; required there).
      target: ``Target.CK`` (match the CK_l coefficients and ``tau_L``) or ``Target.NTK``
        (the last layer makes the compressed kernel match the dense NTK equivalent's
        ``beta_L`` and ``kappa_L``).
      hidden: :class:`~ntkcomp.compress.HiddenScale` or ``"free"`` / ``"match"`` / a ratio.
      solver: :class:`~ntkcomp.compress.SolverOptions`.

    Returns:
      :class:`Design` (infeasible layers are flagged, never silently accepted).

    Raises:
      ValueError: a bad option (named).
    """
    family = parse_enum(Family, "family", family)
    target = parse_enum(Target, "target", target)
    hidden = HiddenScale.parse(hidden)
    tau0 = float(net.tau0 if tau0 is None else tau0)
    check_positive("tau0", tau0)
    k = None
    if family is Family.K_LEVEL:
        if levels is None:
            raise ValueError("levels must be an integer >= 2 when family='k_level', got None")
        k = check_positive_int("levels", levels, minimum=2)
    dense_coef = coefficients(net, tau0)
    tau_c, sols, taus = tau0, [], [tau0]
    for l in range(1, net.depth + 1):
        sol = _layer(net, l, dense_coef, tau_c, family, k, target, hidden, solver, sols)
        sols.append(sol)
        tau_c = math.sqrt(sol.achieved["var"])
        taus.append(tau_c)
    bound = linear_fraction_bound(float(dense_coef.alpha[-1, 0]), tau0,
                                  float(dense_coef.tau[-1]), net.depth)
    return Design(layers=tuple(sols), taus=tuple(taus), tau0=tau0, family=family,
                  target=target, hidden=hidden, solver=solver, levels_bound=bound)


def build(net, design: Design, eps) -> MLP:
    """The compressed MLP: ``net``'s widths, the design's activations, sparse ternary weights.

    Args:
      net: the dense MLP the design was made for.
      design: :class:`Design` of ``net``.
      eps: per-layer sparsities (scalar or one per layer, each in ``[0, 1)``).

    Returns:
      ``ntkcomp.networks.MLP`` with ``weight_law("sparse_ternary", eps=eps_l)`` at layer l.
    """
    eps_l = layer_eps(eps, net.depth)
    if len(design.layers) != net.depth:
        raise ValueError(f"design has {len(design.layers)} layers, net has {net.depth}")
    laws = [weight_law("sparse_ternary", eps=e) for e in eps_l]
    return MLP(net.widths, design.activations(), weights=laws, tau0=design.tau0)
