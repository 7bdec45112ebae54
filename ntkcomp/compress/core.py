"""``compress``: replace a dense MLP by sparse ternary weights + quantized activations.

Design rule (THEORY.md section 8). The CK/NTK equivalents depend on layer l only through
``(a1^2, a2^2, q)`` (hidden) and ``tau_L^2`` (last layer). Layer l of the compressed network
is solved at the COMPRESSED network's own input scale ``tau_{l-1}^c`` (propagated layer by
layer) so that its moments equal the dense layer's moments at the dense scale
``tau_{l-1}``: then every alpha_{l,k} (and every beta_{l,k}) of the two networks agree and
the CK_L equivalents differ at most by ``delta I`` with
``delta = (tau_{L,c}^2 - alpha^c_{L,1} tau_0^2) - (tau_{L,d}^2 - alpha^d_{L,1} tau_0^2)``.

Hidden scales and the last-layer tau gap (measured; see the report of compress_example).
The hidden ``tau_l^c`` are free in this design: they only enter the identity terms of the
hidden CK_l and the next layer's input scale. But they are bounded below. By Bessel's
inequality in the Hermite basis, any activation at input scale ``tau`` has
``var >= a1^2 tau^2 + a2^2 tau^4 / 2``, with equality only for a quadratic polynomial, and a
k-level function reaches at most a fraction ``f_max(k) < 1`` of its variance in degrees 1-2
(binary 0.665 per THEORY; the solver measures 3..k levels). The dense ReLU puts 0.967 there
at every scale. With ``r_l = tau_l^c / tau_l^d`` and ``r_0 = 1`` (same data), matching
(a1^2, a2^2) exactly forces ``r_l^2 >= r_{l-1}^2 * 0.967 / f_max(k)``, so ``r_{L-1} >= 1``
unless ``f_max(k) > 0.967`` at every layer, and the last layer can then only match tau_L if
``f_max(k) >= 0.967 r_{L-1}^2``. Layer-wise matching therefore needs many levels (the solver
reports the residual left at each k) and otherwise leaves an identity shift delta,
reported exactly from the coefficients.

Weights: per layer ``weight_law("sparse_ternary", eps=eps_l)`` (mean 0, variance 1). The
output weights ``w`` stay Gaussian float32 (not compressed; counted in the memory report).
Sparse ternary weights have fourth cumulant ``1/(1-eps) - 3``: the layer-1 kurtosis term of
THEORY.md section 7 (``alpha_diag``) is NOT removed by moment matching and is reported.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from ntkcomp.guards import check_report_finite, warn_if_float32
from ntkcomp._validate import check_choice, check_in_range, check_positive, check_positive_int
from ntkcomp.compress.families import FAMILIES
from ntkcomp.compress.solver import solve_fewest_levels, solve_layer
from ntkcomp.compress.kurtosis import KURTOSIS_MODELS as _KURTOSIS_MODELS
from ntkcomp.compress.targets import (FLOOR_FRAC, linear_fraction_bound,
                                      ntk_last_layer_target, target_from_activation)

__all__ = ["compress", "CompressionResult", "coefficient_comparison", "check_eps"]

TARGETS = ("ck", "ntk")
FAMILY_CHOICES = (*FAMILIES, "auto")


def check_eps(eps: Any, depth: int) -> list[float]:
    """Per-layer sparsities: a scalar or a length-``depth`` list, each in [0, 1)."""
    if np.ndim(eps) == 0:
        vals = [eps] * depth
    else:
        vals = list(np.asarray(eps, dtype=float).ravel())
        if len(vals) != depth:
            raise ValueError(f"eps must be a scalar or a list of {depth} values (one per "
                             f"layer), got {len(vals)} values")
    out = []
    for i, e in enumerate(vals):
        if isinstance(e, bool) or not isinstance(e, (int, float, np.floating, np.integer)):
            raise ValueError(f"eps must be a number in [0, 1), got {e!r}")
        check_in_range("eps" if depth == 1 or np.ndim(eps) == 0 else f"eps[{i}]", float(e),
                       0.0, 1.0)
        out.append(float(e))
    return out


def _coef(net, tau0):
    from ntkcomp.equivalents import coefficients
    return coefficients(net, tau0)


def coefficient_comparison(dense, compressed, tau0: float) -> dict:
    """Exact coefficient-level comparison of the two networks' equivalents.

    Returns per layer ``l = 1..L``: the identity shift of the CK_l equivalent
    ``delta_ck[l] = (tau_l^2 - alpha_{l,1} tau_0^2)_c - (same)_d``, the difference of
    ``alpha_{l,1..3}`` relative to ``max_k |alpha^d_{l,k}|`` (the low-rank part; ~1e-15 when
    the moments match; odd activations have alpha_{l,2} = alpha_{l,3} = 0), the
    kurtosis coefficient ``alpha_diag`` of both (section 7); for the NTK (autodiff convention:
    a step network's NTK is its CK_L) the identity shift
    ``delta_ntk = (kappa_L^2 - beta_{L,1} tau_0^2)_c - (same)_d`` and the difference of
    ``beta_{L,1..3}`` relative to ``max_k |beta^d_{L,k}|``.
    """
    cd, cc = _coef(dense, tau0), _coef(compressed, tau0)
    L = dense.depth
    t0sq = float(tau0) ** 2
    out = {"delta_ck": [], "alpha_rel_diff": [], "alpha_diag_dense": [],
           "alpha_diag_compressed": [], "tau_dense": [], "tau_compressed": []}
    for l in range(1, L + 1):
        idd = float(cd.tau[l]) ** 2 - float(cd.alpha[l, 0]) * t0sq
        idc = float(cc.tau[l]) ** 2 - float(cc.alpha[l, 0]) * t0sq
        ad, ac = np.asarray(cd.alpha[l, :3]), np.asarray(cc.alpha[l, :3])
        out["delta_ck"].append(idc - idd)
        out["alpha_rel_diff"].append(float(np.max(np.abs(ac - ad)) / np.max(np.abs(ad))))
        out["alpha_diag_dense"].append(float(cd.alpha_diag[l]))
        out["alpha_diag_compressed"].append(float(cc.alpha_diag[l]))
        out["tau_dense"].append(float(cd.tau[l]))
        out["tau_compressed"].append(float(cc.tau[l]))
    bd, bc = np.asarray(cd.beta[L]), np.asarray(cc.beta[L])
    out["delta_ntk"] = ((float(cc.kappa2[L]) - float(bc[0]) * t0sq)
                        - (float(cd.kappa2[L]) - float(bd[0]) * t0sq))
    out["beta_rel_diff"] = float(np.max(np.abs(bc - bd)) / np.max(np.abs(bd)))
    out["kappa2_dense"] = float(cd.kappa2[L])
    out["kappa2_compressed"] = float(cc.kappa2[L])
    out["tau_L_sq_dense"] = float(cd.tau[L]) ** 2
    return out


@dataclasses.dataclass
class CompressionResult:
    """Output of :func:`compress`.

    Attributes:
      dense, compressed: ``ntkcomp.networks.MLP`` descriptions (same widths).
      tau0: data scale used. eps: per-layer sparsities. target: "ck" | "ntk".
      layers: per-layer :class:`~ntkcomp.compress.solver.LayerSolution`.
      feasible: every layer met ``tol`` on its matched quantities.
      hidden_tau: the hidden-scale rule used ("free" or a ratio rho).
      identity_shift: CK_L (target "ck") or NTK (target "ntk") identity shift delta, exact
        from the coefficients; ``coefficients``: :func:`coefficient_comparison`.
      memory: bit counts from the real packed format (None unless ``p`` was given).
      levels_bound: :func:`~ntkcomp.compress.targets.linear_fraction_bound` -- the fewest
        levels ANY design (layer-wise or joint) needs to match alpha_{L,1} and tau_L.
      kurtosis: :func:`~ntkcomp.compress.kurtosis.kurtosis_summary` -- layer-1 kappa4, the
        eps_1 requested and used, and (when ``data`` was given) ``predicted_loss``, the
        relative operator norm of the layer-1 kurtosis term of THEORY section 7 in the
        target kernel (CK_L or NTK) that moment matching cannot remove.
    """
    dense: Any
    compressed: Any
    tau0: float
    eps: list
    target: str
    layers: list
    feasible: bool
    hidden_tau: Any
    identity_shift: float
    coefficients: dict
    tol: float
    memory: dict | None = None
    taus_propagated: list | None = None
    levels_bound: dict | None = None
    kurtosis: dict | None = None

    @property
    def memory_factor(self) -> float | None:
        return None if self.memory is None else self.memory["memory_factor"]

    def layer_table(self) -> str:
        rows = ["layer  family    levels  feasible  max_resid   tau_in      residuals"]
        for i, s in enumerate(self.layers):
            res = " ".join(f"{k}={v:+.1e}" for k, v in s.residuals.items())
            rows.append(f"{i + 1:5d}  {s.family:8s}  {s.n_levels:6d}  {str(s.feasible):8s}  "
                        f"{s.max_residual:9.2e}  {s.tau_in:10.4g}  {res}")
        return "\n".join(rows)

    def to_json(self) -> dict:
        layers = []
        for i, s in enumerate(self.layers):
            d = s.to_json()
            d["layer"] = i + 1
            d["eps"] = self.eps[i]
            d["weight_law"] = {"name": "sparse_ternary", "eps": self.eps[i]}
            layers.append(d)
        return {
            "target": self.target, "tau0": self.tau0, "eps": self.eps, "tol": self.tol,
            "feasible": self.feasible, "hidden_tau": self.hidden_tau,
            "identity_shift": self.identity_shift, "layers": layers,
            "coefficients": self.coefficients,
            "memory": self.memory,
            "memory_factor": self.memory_factor, "levels_bound": self.levels_bound,
            "kurtosis": self.kurtosis,
            "dense": {"widths": list(self.dense.widths),
                      "activations": [a.name for a in self.dense.activations]},
            "compressed": {"widths": list(self.compressed.widths),
                           "activations": [a.name for a in self.compressed.activations],
                           "taus": list(self.compressed.taus)},
        }


def _solve(target, tau_c, family, k, match_tau, tol, seed, n_starts, k_max, linear=None):
    if family == "auto":
        return solve_fewest_levels(target, tau_c, match_tau=match_tau, tol=tol, k_max=k_max,
                                   seed=seed, n_starts=n_starts, linear=linear)
    return solve_layer(target, tau_c, family=family, k=k, match_tau=match_tau, tol=tol,
                       seed=seed, n_starts=n_starts, linear=linear)


def _alpha_from_solutions(sols, tau0):
    """alpha_{l} of the compressed network from the solved moments (CK recursion)."""
    a = np.array([1.0, 0.0, 0.0, 1.0])
    for s in sols:
        a1, a2, q = s.achieved["a1"], s.achieved["a2"], s.achieved["q"]
        a = np.array([a1 ** 2 * a[0], a1 ** 2 * a[1] + 0.25 * a2 ** 2 * a[3] ** 2,
                      a1 ** 2 * a[2] + 0.5 * a2 ** 2 * a[0] ** 2, 0.5 * q * a[3]])
    return a


def _design(net, tau0, dense_coef, family, k, target, rho, tol, seed, n_starts, k_max):
    L = net.depth
    tau_c = float(tau0)
    sols, taus = [], [tau_c]
    for l in range(1, L + 1):
        act = net.activations[l - 1]
        t = target_from_activation(act, float(dense_coef.tau[l - 1]))
        last = l == L
        if last and target == "ntk":
            lin = ntk_last_layer_target(_alpha_from_solutions(sols, tau0),
                                        np.asarray(dense_coef.beta[L]),
                                        float(dense_coef.kappa2[L]), FLOOR_FRAC)
            # start amplitudes from the moment target; the linear map defines the problem
            sol = _solve(t, tau_c, family, k, True, tol, seed + l, n_starts, k_max, lin)
        elif last:
            sol = _solve(t, tau_c, family, k, True, tol, seed + l, n_starts, k_max)
        elif rho == "free":
            sol = _solve(t, tau_c, family, k, False, tol, seed + l, n_starts, k_max)
        else:
            t_rho = t._replace(var=float(rho) ** 2 * t.var)
            # tau residual is w.r.t. rho^2 tau_l^2 (target.tau_out_sq in the report)
            sol = _solve(t_rho, tau_c, family, k, True, tol, seed + l, n_starts, k_max)
        sols.append(sol)
        tau_c = math.sqrt(sol.achieved["var"])
        taus.append(tau_c)
    return sols, taus


def compress(net, tau0: float | None = None, *, eps: Any = 0.0, family: str = "ternary",
             target: str = "ck", levels: int | None = None, hidden_tau: Any = "free",
             tol: float = 1e-10, seed: int = 0, n_starts: int = 64, k_max: int = 6,
             p: int | None = None, data: Any = None,
             kurtosis_tol: float | None = None,
             kurtosis_model: str = "theory") -> CompressionResult:
    """Compress a dense MLP description by moment matching (THEORY.md section 8).

    Args:
      net: dense ``ntkcomp.networks.MLP`` (its activations are the targets).
      tau0: data scale (default ``net.tau0``), > 0.
      eps: sparsity of the sparse ternary weights, scalar or one per layer, each in [0, 1).
      family: "ternary" (default) | "binary" | "k_level" (needs ``levels``) | "auto" (per
        layer the fewest levels meeting ``tol``: binary, ternary, then k = 4..k_max).
        Binary matches ReLU hidden layers exactly but with a large output variance, which
        inflates every later tau and the final identity shift (3-layer ReLU, n=128:
        delta = 0.72 vs tau_L^2 = 0.069, exact E_W CK_L difference after the shift 0.38);
        ternary keeps the hidden scales close (delta = 0.065, difference 0.19 at n=128,
        0.087 at n=512), hence the default.
      target: "ck" (match CK_l coefficients and tau_L) or "ntk" (make the compressed
        network's kernel -- its autodiff NTK is CK_L -- match the dense NTK equivalent's
        beta_L and kappa_L; see :func:`ntkcomp.compress.targets.ntk_last_layer_target`).
      levels: number of levels for family "k_level".
      hidden_tau: "free" (hidden layers match (a1^2, a2^2, q^2) only), "match" (hidden
        layers also match tau_l, so every CK_l has zero identity shift; needs many levels),
        or a ratio rho > 0 (hidden layers match tau_l^c = rho tau_l^d).
      tol: relative-residual tolerance of the feasibility verdict.
      seed, n_starts, k_max: solver settings (deterministic).
      p: input dimension; if given, ``memory`` is computed from a real packed draw.
      data: a ``GMMSample`` (``.X``, ``.stats`` with ``J``, ``T_diag``). If given, the
        report's ``kurtosis["predicted_loss"]`` states the loss the layer-1 weight kurtosis
        causes in the target kernel, ``||Delta|| / ||K_dense||`` (THEORY section 7; see
        :mod:`ntkcomp.compress.kurtosis`; e.g. 3-layer ReLU, "mixed" GMM, n = 2048:
        0.138 at eps = 0.9, 0.040 at eps = 0, 0 at eps = 2/3; 0 for tanh/erf). Predicted
        from the equivalent, no sampling; a RuntimeWarning is issued when it exceeds 0.1.
      kurtosis_tol: kurtosis-aware design (needs ``data``): replace the layer-1 sparsity
        by the value closest to the requested one whose predicted kurtosis loss is
        <= kurtosis_tol -- the LARGEST such eps_1 when the requested one is too sparse
        (kappa4 too large), the smallest when it is too dense (kappa4 < 0: sparser and
        cheaper). Deeper layers keep the requested eps (their kurtosis enters only the
        O(1/d) finite-width term). E.g. 3-layer ReLU, n = 2048, eps=0.9, kurtosis_tol=0.05 -> eps_1 = 0.819.
      kurtosis_model: which prediction ``predicted_loss`` and ``kurtosis_tol`` use:
        "theory" (default; THEORY section 7's class-block term, exactly linear in kappa4,
        zero for odd activations) or "realised" (the ``kurtosis="realised"`` equivalent:
        realised fourth moments, layer-1 mean / variance shifts and the ``x^3 x`` term,
        quadratic in kappa4; nonzero for odd activations, whose compressed layer-1 step
        has ``a1 a3 != 0`` -- see :mod:`ntkcomp.compress.kurtosis` for the Monte Carlo
        evidence). Needs ``data`` to matter; the report's ``kurtosis["model"]`` says which.
    Returns:
      :class:`CompressionResult`; infeasible layers are flagged (and a warning is issued),
      never silently accepted.
    """
    from ntkcomp.networks import MLP, weight_law

    check_choice("family", family, FAMILY_CHOICES)
    check_choice("target", target, TARGETS)
    if tau0 is None:
        tau0 = net.tau0
    check_positive("tau0", tau0)
    check_positive("tol", tol)
    # the LM solve runs in float64 regardless, but the compressed network's kernels are
    # then evaluated in JAX's default float: say so when float32 cannot honour tol
    warn_if_float32(tol, where="compress(tol)")
    n_starts = check_positive_int("n_starts", n_starts)
    k_max = check_positive_int("k_max", k_max, minimum=3)
    k = None
    if family == "k_level":
        if levels is None:
            raise ValueError("levels must be an integer >= 2 when family='k_level', got None")
        k = check_positive_int("levels", levels, minimum=2)
    eps_l = check_eps(eps, net.depth)
    if isinstance(hidden_tau, str):
        check_choice("hidden_tau", hidden_tau, ("free", "match"))
        rule = "free" if hidden_tau == "free" else 1.0
    else:
        check_positive("hidden_tau", hidden_tau)
        rule = float(hidden_tau)
    if p is not None:
        p = check_positive_int("p", p)
    check_choice("kurtosis_model", kurtosis_model, _KURTOSIS_MODELS)
    if kurtosis_tol is not None:
        check_positive("kurtosis_tol", kurtosis_tol)
        if data is None:
            raise ValueError("kurtosis_tol needs data= (a GMMSample with stats.J and "
                             "stats.T_diag) to predict the kurtosis loss; got data=None")
    if data is not None and not (hasattr(data, "X") and hasattr(data, "stats")):
        raise ValueError("data must be a GMMSample (with .X and .stats), got "
                         f"{type(data).__name__}")

    dense_coef = _coef(net, tau0)
    sols, taus = _design(net, tau0, dense_coef, family, k, target, rule, tol, seed,
                         n_starts, k_max)
    ok = all(s.feasible for s in sols)
    laws = [weight_law("sparse_ternary", eps=e) for e in eps_l]
    compressed = MLP(net.widths, [s.activation() for s in sols], weights=laws, tau0=float(tau0))
    from ntkcomp.compress import kurtosis as _kurt
    eps1_req = eps_l[0]
    unit = realised = None
    if data is not None:
        unit = _kurt.kurtosis_loss_per_unit(net, compressed, data, kind=target)
        if kurtosis_model == "realised":
            realised = _kurt.realised_kurtosis_loss(net, compressed, data, kind=target)
        if kurtosis_tol is not None:
            eps_l[0] = (_kurt.choose_eps1(eps1_req, unit["loss_per_unit_kappa4"],
                                          float(kurtosis_tol)) if realised is None else
                        _kurt.choose_eps1_realised(eps1_req, realised, float(kurtosis_tol)))
            laws[0] = weight_law("sparse_ternary", eps=eps_l[0])
            compressed = MLP(net.widths, [s.activation() for s in sols], weights=laws,
                             tau0=float(tau0))
    kurt = _kurt.kurtosis_summary(unit, eps1_req, eps_l[0],
                                  None if kurtosis_tol is None else float(kurtosis_tol),
                                  target, realised=realised)
    if kurt["predicted_loss"] is not None and kurt["predicted_loss"] > 0.1:
        warnings.warn(f"compress: the layer-1 weight kurtosis (eps_1={eps_l[0]:.4g}, kappa4="
                      f"{kurt['kappa4_layer1']:.3g}) is predicted to change the {target} "
                      f"kernel by {kurt['predicted_loss']:.3f} (relative operator norm); "
                      "use kurtosis_tol= or eps_1 nearer 2/3", RuntimeWarning, stacklevel=2)
    comp = coefficient_comparison(net, compressed, float(tau0))
    check_report_finite(comp, where="compress", name="coefficients")
    comp["tau_propagated_vs_mlp_max_abs"] = float(
        np.max(np.abs(np.asarray(taus) - np.asarray(compressed.taus))))
    shift = comp["delta_ntk"] if target == "ntk" else comp["delta_ck"][-1]
    if not ok:
        bad = [i + 1 for i, s in enumerate(sols) if not s.feasible]
        warnings.warn(f"compress: layers {bad} do not meet tol={tol} (best residuals in the "
                      f"report); the equivalents differ by identity shift {shift:.4g} and "
                      "possibly more", RuntimeWarning, stacklevel=2)
    res = CompressionResult(dense=net, compressed=compressed, tau0=float(tau0), eps=eps_l,
                            target=target, layers=sols, feasible=ok, hidden_tau=rule,
                            identity_shift=float(shift), coefficients=comp,
                            tol=float(tol), taus_propagated=taus,
                            levels_bound=linear_fraction_bound(
                                float(dense_coef.alpha[-1, 0]), float(tau0),
                                float(dense_coef.tau[-1]), net.depth),
                            kurtosis=kurt)
    if p is not None:
        from ntkcomp.compress.packing import memory_report
        res.memory = memory_report(compressed, p, seed=seed)
    return res
