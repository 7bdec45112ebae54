"""Moment-matching solver: jit-compiled Levenberg-Marquardt, vmapped over deterministic starts.

Problem (one layer). Given the dense layer's ``MomentTarget``
and the compressed network's own input scale ``tau_c``, find a quantized activation of a
family (binary / ternary / k_level, see :mod:`ntkcomp.compress._families`) whose closed-form
moments at ``tau_c`` reproduce the matched quantities

    hidden layer: (a1^2, a2^2, q^2)         last layer: (a1^2, a2^2, q^2, tau_out^2)

to a relative residual ``tol`` (max over the matched quantities).

Method (:mod:`ntkcomp.compress._lm`). Residual vector ``r(theta) = w * (m(theta, tau_c) - target) / scale`` (4 entries,
weights w select the matched quantities); Levenberg-Marquardt with Marquardt scaling,
Jacobian by ``jax.jacfwd`` of the closed-form moment map, a fixed number of iterations in
``lax.fori_loop``, ``vmap``-ed over ``n_starts`` seeded random starts (numpy RandomState(seed):
deterministic). When the tau target cannot be met exactly, a second stage puts a small weight
on tau (1e-3) and a third polishes the primary quantities alone, so the reported point matches
(a1^2, a2^2, q^2) exactly and leaves the smallest tau error found: that error becomes the
identity shift of the equivalent. See the theory page ``docs/theory/compression.md``
(section Design).

Verdict. ``feasible`` is True only if every matched relative residual is <= tol. An infeasible
solve is returned flagged (``feasible=False``, with the best residuals) and never silently:
``solve_layer(..., require_feasible=True)`` raises instead.
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkcomp._validate import check_choice, check_positive, check_positive_int
from ntkcomp.compress._families import (FAMILIES, activation_params, decode, n_levels,
                                        step_moments, to_activation)
from ntkcomp.compress._options import SolverOptions
from ntkcomp.compress._lm import (LM_ITERS, achieved, lm_solve, moment_residual, pick,
                                  starts)
from ntkcomp.compress._targets import (FLOOR_FRAC, LinearTarget, MomentTarget,
                                       moment_linear_target)
from ntkcomp._guards import ConvergenceWarning

__all__ = ["LayerSolution", "solve_layer", "solve_fewest_levels", "InfeasibleError"]

TAU_WEIGHT_STAGE2 = 1e-3


class InfeasibleError(ValueError):
    """Raised by ``solve_layer(..., require_feasible=True)`` when no start meets ``tol``."""


@dataclasses.dataclass
class LayerSolution:
    """Solved quantized activation for one layer.

    ``thresholds`` / ``levels`` are in the activation's own units (the layer's input is
    ``g ~ N(0, tau_c^2)``). ``residuals`` are relative (see targets.py) for all four
    quantities; ``matched`` lists those the verdict is about; ``feasible`` is True iff
    ``max |residuals[m]| <= tol`` over ``matched``. ``achieved`` holds the compressed
    activation's moments at ``tau_c`` (mean, var, a1, a2, q).
    """
    family: str
    n_levels: int
    theta: np.ndarray
    thresholds: np.ndarray
    levels: np.ndarray
    tau_in: float
    target: MomentTarget
    achieved: dict
    residuals: dict
    matched: tuple
    tol: float
    feasible: bool
    n_starts: int
    n_solved: int
    floor_frac: float = FLOOR_FRAC
    search: list = dataclasses.field(default_factory=list)
    lm_converged: bool = True
    lm_rel_gradient: float = 0.0

    @property
    def max_residual(self) -> float:
        return float(max((abs(self.residuals[m]) for m in self.matched), default=0.0))

    @property
    def primary_residual(self) -> float:
        return float(max(abs(v) for v in list(self.residuals.values())[:3]))

    def activation(self):
        """The :class:`ntkcomp.activations.Activation` of this solution."""
        return to_activation(self.family, self.thresholds, self.levels)

    def params(self) -> dict:
        return activation_params(self.family, self.thresholds, self.levels)

    def to_json(self) -> dict:
        return {
            "family": self.family, "n_levels": self.n_levels, "parameters": self.params(),
            "tau_in": self.tau_in, "target": self.target.to_json(), "achieved": self.achieved,
            "residuals": self.residuals, "matched": list(self.matched),
            "max_residual": self.max_residual, "tol": self.tol, "feasible": self.feasible,
            "n_starts": self.n_starts, "n_starts_meeting_primary_tol": self.n_solved,
            "residual_floor_frac": self.floor_frac, "search": self.search,
            "lm_converged": self.lm_converged, "lm_rel_gradient": self.lm_rel_gradient,
        }


def _solution(family, k, theta, tau_c, target, lin, matched, tol, n_starts, n_solved,
              floor_frac):
    theta = np.asarray(theta, dtype=np.float64)
    thr, lev = decode(family, jnp.asarray(theta), tau_c, k)
    thr = np.asarray(thr, dtype=np.float64)
    lev = np.asarray(lev, dtype=np.float64)
    m = step_moments(jnp.asarray(thr), jnp.asarray(lev), tau_c)
    ach = {"mean": float(m.mean), "var": float(m.var), "a1": float(m.a1), "a2": float(m.a2),
           "q": float(m.q), "s": "inf"}
    vals = np.array([float(m.a1) ** 2, float(m.a2) ** 2, float(m.q) ** 2, float(m.var)])
    r = (np.asarray(lin.M) @ vals - np.asarray(lin.values)) / np.asarray(lin.scales)
    res = {name: float(v) for name, v in zip(lin.names, r)}
    feas = bool(max(abs(res[q]) for q in matched) <= tol)
    return LayerSolution(family=family, n_levels=n_levels(family, k), theta=theta,
                         thresholds=thr, levels=lev, tau_in=float(tau_c), target=target,
                         achieved=ach, residuals=res, matched=tuple(matched), tol=float(tol),
                         feasible=feas, n_starts=n_starts, n_solved=n_solved,
                         floor_frac=floor_frac)


def solve_layer(target: MomentTarget, tau_c: float, *, family: str = "binary",
                k: int | None = None, match_tau: bool = False,
                solver: SolverOptions | None = None, iters: int = LM_ITERS,
                floor_frac: float = FLOOR_FRAC, require_feasible: bool = False,
                linear: LinearTarget | None = None) -> LayerSolution:
    """Match ``target`` with a ``family`` activation at input scale ``tau_c``.

    Args:
      target: dense moments (:func:`ntkcomp.compress.target_from_activation`).
      tau_c: the compressed network's input scale for this layer, > 0.
      family: ``"binary"``, ``"ternary"`` or ``"k_level"`` (then ``k`` levels).
      k: number of levels of ``k_level`` (an integer >= 2); ignored otherwise.
      match_tau: also match ``tau_out^2`` (the last layer).
      solver: :class:`~ntkcomp.compress.SolverOptions`: ``tol`` (feasibility threshold on
        the max relative residual of the matched quantities), ``n_starts``
        (Levenberg-Marquardt starts) and ``seed`` (of the starts; deterministic for fixed
        values); default ``SolverOptions()``.
      iters: Levenberg-Marquardt iterations per stage, >= 1.
      floor_frac: residual floor (see ``MomentTarget.scales``).
      require_feasible: raise :class:`InfeasibleError` instead of returning an infeasible
        solution.
      linear: a general ``LinearTarget`` (e.g. the NTK target of the last layer) replacing
        plain moment matching; ``target`` then only sets the amplitude of the starts.

    Returns:
      :class:`LayerSolution` (always flagged: ``feasible`` is False when ``tol`` is not met).

    Raises:
      ValueError: a bad argument (named). InfeasibleError: see ``require_feasible``.
    """
    check_choice("family", family, FAMILIES)
    if family == "k_level":
        k = check_positive_int("k", k, minimum=2)
    else:
        k = None
    check_positive("tau_c", tau_c)
    solver = SolverOptions() if solver is None else solver
    tol, n_starts, seed = solver.tol, solver.n_starts, solver.seed
    iters = check_positive_int("iters", iters)
    with jax.enable_x64(True):
        lin = linear if linear is not None else moment_linear_target(target, floor_frac)
        sol = _solve_layer_x64(target, lin, float(tau_c), family, k, match_tau, float(tol),
                               n_starts, int(seed), iters, float(floor_frac))
        _flag_lm_convergence(sol, lin, family, k, iters)
    if require_feasible and not sol.feasible:
        hint = "" if sol.lm_converged else (
            f" (LM did NOT converge in iters={iters}: relative gradient "
            f"{sol.lm_rel_gradient:.2g}; increase iters)")
        raise InfeasibleError(
            f"no {family} activation (k={k}) matches {list(sol.matched)} to tol={tol}: best "
            f"relative residuals {_fmt(sol.residuals)}{hint}")
    return sol


LM_GTOL = 1e-4


def _flag_lm_convergence(sol, lin, family, k, iters):
    """Numerical guard: tell LM non-convergence apart from infeasibility.

    A feasible solution, or one whose primary quantities (a1^2, a2^2, q^2) meet ``tol`` (the
    remaining tau error is the lexicographic optimum, handled by the staged solve), counts as
    converged. Otherwise the point must be stationary for the matched least-squares cost:
    ``||J^T r|| <= LM_GTOL * ||J||_F * ||r||`` (the cosine between r and the range of J; 0 at
    any local minimum). If not, ``lm_converged`` is set False and a
    :class:`ntkcomp._guards.ConvergenceWarning` is emitted (infeasibility may then be an
    artefact of too few iterations).
    """
    if sol.feasible or sol.primary_residual <= sol.tol:
        return
    w = jnp.asarray([1.0 if q in sol.matched else 0.0 for q in lin.names])
    fun = functools.partial(moment_residual, tau_c=jnp.asarray(sol.tau_in), M=jnp.asarray(lin.M),
                            values=jnp.asarray(lin.values), scales=jnp.asarray(lin.scales),
                            weights=w, family=family, k=k)
    theta = jnp.asarray(sol.theta)
    r = np.asarray(fun(theta))
    J = np.asarray(jax.jacfwd(fun)(theta))
    den = float(np.linalg.norm(J) * np.linalg.norm(r))
    g = float(np.linalg.norm(J.T @ r))
    rel = g / den if den > 0 and np.isfinite(den) else (0.0 if g == 0 else float("inf"))
    if not np.isfinite(rel):
        rel = float("inf")
    sol.lm_rel_gradient = rel
    sol.lm_converged = bool(rel <= LM_GTOL)
    if not sol.lm_converged:
        warnings.warn(
            f"solve_layer({family}, k={k}): Levenberg-Marquardt did not converge in "
            f"iters={iters} (relative gradient {rel:.2g} > {LM_GTOL:g}, best relative "
            f"residual {sol.max_residual:.3g}); the infeasible verdict may be due to too few "
            f"iterations", ConvergenceWarning, stacklevel=3)


def _solve_layer_x64(target, lin, tau_c, family, k, match_tau, tol, n_starts, seed, iters,
                     floor_frac):
    values = jnp.asarray(lin.values)
    scales = jnp.asarray(lin.scales)
    M = jnp.asarray(lin.M)
    w_primary = jnp.asarray([1.0, 1.0, 1.0, 0.0])
    w_all = jnp.asarray([1.0, 1.0, 1.0, 1.0])
    matched = tuple(lin.names) if match_tau else tuple(lin.names[:3])
    th0 = jnp.asarray(starts(family, k, target, tau_c, n_starts, seed))
    tc = jnp.asarray(tau_c)

    def run(thetas, w):
        return lm_solve(thetas, tc, M, values, scales, w, family=family, k=k, iters=iters)

    def rel(thetas):
        ach = np.asarray(achieved(thetas, tc, M, family=family, k=k))
        return (ach - np.asarray(values)) / np.asarray(scales)  # (n_starts, 4)

    th_a, _ = run(th0, w_all if match_tau else w_primary)
    r_a = rel(th_a)
    idx_m = [list(lin.names).index(q) for q in matched]
    err_a = np.max(np.abs(r_a[:, idx_m]), axis=1)
    err_a = np.where(np.isfinite(err_a), err_a, np.inf)
    if not match_tau:
        # primaries met by several branches: keep the one closest to the dense output scale
        # (smallest |log(var_c / var_d)|): the smallest identity shift, and the next layer
        # designed at the input scale nearest the dense one
        with np.errstate(all="ignore"):
            ratio = 1.0 + r_a[:, 3] * np.asarray(scales)[3] / np.asarray(values)[3]
            r4 = np.where(ratio > 0, np.abs(np.log(np.where(ratio > 0, ratio, 1.0))), np.inf)
        ok = err_a <= tol
        best = int(np.argmin(np.where(ok, r4, np.inf))) if np.any(ok) else int(np.argmin(err_a))
    if match_tau and np.min(err_a) <= tol:
        best = pick(np.asarray(th_a), err_a, tol, family, k, tau_c)
    if not match_tau or np.min(err_a) <= tol:
        n_ok = int(np.sum(np.max(np.abs(r_a[:, :3]), axis=1) <= tol))
        return _solution(family, k, th_a[best], tau_c, target, lin, matched, tol, n_starts,
                         n_ok, floor_frac)
    # tau not reachable jointly: lexicographic -- primaries exact, then the smallest tau error
    th_b, _ = run(th_a, jnp.asarray([1.0, 1.0, 1.0, TAU_WEIGHT_STAGE2]))
    th_c, _ = run(th_b, w_primary)
    cand = np.concatenate([np.asarray(th_a), np.asarray(th_c)])
    r = np.concatenate([r_a, rel(jnp.asarray(th_c))])
    prim = np.max(np.abs(r[:, :3]), axis=1)
    prim = np.where(np.isfinite(prim), prim, np.inf)
    tau_err = np.where(np.isfinite(r[:, 3]), np.abs(r[:, 3]), np.inf)
    ok = prim <= tol
    n_ok = int(np.sum(ok[n_starts:]))
    if np.any(ok):
        # smallest tau error; ties (within tol) broken by the peak-to-rms ratio
        t_best = np.min(np.where(ok, tau_err, np.inf))
        near = ok & (tau_err <= t_best + tol)
        best = pick(cand, np.where(near, 0.0, np.inf), tol, family, k, tau_c)
    else:
        best = int(np.argmin(prim + tau_err))
    return _solution(family, k, cand[best], tau_c, target, lin, matched, tol, n_starts, n_ok,
                     floor_frac)


def _family_sequence(k_max: int):
    seq = [("binary", None), ("ternary", None)]
    seq += [("k_level", k) for k in range(4, k_max + 1)]
    return seq


def solve_fewest_levels(target: MomentTarget, tau_c: float, *, match_tau: bool = False,
                        solver: SolverOptions | None = None, **kw: Any) -> LayerSolution:
    """``family="auto"``: the fewest levels meeting ``solver.tol`` (binary, ternary,
    k = 4..``solver.k_max``).

    Returns the first feasible solution; if none is feasible, among those matching the
    primary quantities to ``tol`` the one with the smallest max (tau) residual, else the
    smallest max residual (flagged infeasible). ``solution.search`` records every family tried with
    its best residuals -- the numerical answer to "how many levels are needed".
    """
    solver = SolverOptions() if solver is None else solver
    tol, k_max = solver.tol, solver.k_max
    search = []
    best = None
    for fam, k in _family_sequence(k_max):
        sol = solve_layer(target, tau_c, family=fam, k=k, match_tau=match_tau, solver=solver,
                          **kw)
        search.append({"family": fam, "n_levels": sol.n_levels, "feasible": sol.feasible,
                       "max_residual": sol.max_residual, "residuals": sol.residuals})
        if sol.feasible:
            sol.search = search
            return sol
        # infeasible: prefer exact primaries (pure identity shift), then the smallest residual
        key = (sol.primary_residual > tol, sol.max_residual)
        if best is None or key < (best.primary_residual > tol, best.max_residual):
            best = sol
    best.search = search
    return best


def _fmt(residuals: dict) -> str:
    """``{name: residual}`` with 3 significant digits (rounding-level values read as 0)."""
    return "{" + ", ".join(f"{k!r}: {0.0 if abs(v) < 1e-12 else v:.3g}"
                           for k, v in residuals.items()) + "}"
