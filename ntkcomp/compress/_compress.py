"""``compress``: replace a dense MLP by sparse ternary weights and quantized activations.

The steps, each usable on its own: :func:`~ntkcomp.compress.design` (match every layer's
Gaussian moments) -> :func:`~ntkcomp.compress.sparsify` (per-layer sparsities and the
layer-1 kurtosis budget) -> :func:`~ntkcomp.compress.build` (the compressed MLP) ->
:func:`~ntkcomp.compress.assess` (identity shift, coefficient differences) -> pack
(``ntkcomp.compress.packing.memory_report``: bits of a real packed draw).
See the theory page ``docs/theory/compression.md`` (section Design).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ntkcomp.compress._assess import Assessment, CoefficientComparison, assess
from ntkcomp.compress._design import Design, build, design
from ntkcomp.compress._options import (Family, HiddenScale, KurtosisBudget, SolverOptions,
                                       Target, layer_eps, parse_enum)
from ntkcomp.compress._sparsify import KurtosisPrediction, Sparsity, check_sample, sparsify
from ntkcomp.compress.packing import memory_report
from ntkcomp._validate import check_positive_int
from ntkcomp._guards import warn_if_float32

__all__ = ["CompressionResult", "compress", "KURTOSIS_WARNING_LOSS"]

#: predicted kurtosis loss above which :func:`compress` warns
KURTOSIS_WARNING_LOSS = 0.1


@dataclasses.dataclass(frozen=True)
class CompressionResult:
    """Output of :func:`compress`: the results of every step.

    Attributes:
      dense, compressed: ``ntkcomp.networks.MLP`` descriptions (same widths).
      design: :class:`~ntkcomp.compress.Design` (per-layer solutions, options).
      sparsity: :class:`~ntkcomp.compress.Sparsity` (eps used, kurtosis prediction).
      assessment: :class:`~ntkcomp.compress.Assessment` (coefficients, identity shift).
      memory: bit counts of a real packed draw (None unless ``p`` was given).
    """
    dense: Any
    compressed: Any
    design: Design
    sparsity: Sparsity
    assessment: Assessment
    memory: dict | None = None

    tau0 = property(lambda self: self.design.tau0, doc="data scale")
    layers = property(lambda self: list(self.design.layers), doc="per-layer LayerSolution")
    feasible = property(lambda self: self.design.feasible, doc="every layer met tol")
    target = property(lambda self: self.design.target.value, doc='"ck" or "ntk"')
    tol = property(lambda self: self.design.solver.tol, doc="solver tolerance")
    hidden_tau = property(lambda self: self.design.hidden.to_json(), doc='"free" or rho')
    levels_bound = property(lambda self: self.design.levels_bound, doc="fewest levels bound")
    taus_propagated = property(lambda self: list(self.design.taus), doc="tau_0..tau_L (c)")
    eps = property(lambda self: list(self.sparsity.eps), doc="per-layer sparsities used")
    identity_shift = property(lambda self: self.assessment.identity_shift,
                              doc="identity shift delta of the target kernel")

    @property
    def coefficients(self) -> CoefficientComparison:
        return self.assessment.coefficients

    @property
    def kurtosis(self) -> KurtosisPrediction:
        return self.sparsity.kurtosis

    @property
    def memory_factor(self) -> float | None:
        return None if self.memory is None else self.memory["memory_factor"]

    def layer_table(self) -> str:
        """Plain-text table: one row per layer (family, levels, verdict, residuals)."""
        rows = ["layer  family    levels  feasible  max_resid   tau_in      residuals"]
        for i, s in enumerate(self.layers):
            res = " ".join(f"{k}={v:+.1e}" for k, v in s.residuals.items())
            rows.append(f"{i + 1:5d}  {s.family:8s}  {s.n_levels:6d}  {str(s.feasible):8s}  "
                        f"{s.max_residual:9.2e}  {s.tau_in:10.4g}  {res}")
        return "\n".join(rows)

    def to_json(self) -> dict:
        """JSON-able report (``memory_factor``, ``layers[*].feasible``, ``identity_shift``...)."""
        layers = []
        for i, s in enumerate(self.layers):
            d = s.to_json()
            d.update(layer=i + 1, eps=self.eps[i],
                     weight_law={"name": "sparse_ternary", "eps": self.eps[i]})
            layers.append(d)
        coef = self.coefficients.to_json()
        coef["tau_propagated_vs_mlp_max_abs"] = float(np.max(np.abs(
            np.asarray(self.taus_propagated) - np.asarray(self.compressed.taus))))
        return {
            "target": self.target, "tau0": self.tau0, "eps": self.eps, "tol": self.tol,
            "feasible": self.feasible, "hidden_tau": self.hidden_tau,
            "identity_shift": self.identity_shift, "layers": layers, "coefficients": coef,
            "memory": self.memory, "memory_factor": self.memory_factor,
            "levels_bound": self.levels_bound, "kurtosis": self.kurtosis.to_json(),
            "dense": {"widths": list(self.dense.widths),
                      "activations": [a.name for a in self.dense.activations]},
            "compressed": {"widths": list(self.compressed.widths),
                           "activations": [a.name for a in self.compressed.activations],
                           "taus": list(self.compressed.taus)},
        }


def _warn(res: CompressionResult) -> None:
    k = res.kurtosis
    if k.predicted_loss is not None and k.predicted_loss > KURTOSIS_WARNING_LOSS:
        warnings.warn(f"compress: the layer-1 weight kurtosis (eps_1={k.eps1:.4g}, kappa4="
                      f"{k.kappa4_layer1:.3g}) is predicted to change the {res.target} kernel "
                      f"by {k.predicted_loss:.3f} (relative operator norm); use "
                      "kurtosis=KurtosisBudget(tol) or eps_1 nearer 2/3", RuntimeWarning, stacklevel=3)
    if not res.feasible:
        bad = [i + 1 for i, s in enumerate(res.layers) if not s.feasible]
        warnings.warn(f"compress: layers {bad} do not meet tol={res.tol} (best residuals in "
                      f"the report); the equivalents differ by identity shift "
                      f"{res.identity_shift:.4g} and possibly more", RuntimeWarning,
                      stacklevel=3)


def compress(net, tau0: float | None = None, *, eps: Any = 0.0,
             family: Family | str = "ternary", target: Target | str = "ck",
             levels: int | None = None, hidden_tau: HiddenScale | str | float = "free",
             solver: SolverOptions | None = None, kurtosis: KurtosisBudget | None = None,
             data: Any = None, p: int | None = None) -> CompressionResult:
    """Compress a dense MLP by moment matching: design, sparsify, build, assess, pack.

    Args:
      net: dense ``ntkcomp.networks.MLP`` (its activations are the targets).
      tau0: data scale (default ``net.tau0``), > 0.
      eps: sparsity of the sparse ternary weights, scalar or one per layer, in ``[0, 1)``.
      family: :class:`~ntkcomp.compress.Family` (or ``"ternary"``, ``"binary"``,
        ``"k_level"`` with ``levels``, ``"auto"``).
      target: :class:`~ntkcomp.compress.Target` (or ``"ck"``, ``"ntk"``).
      levels: number of levels for ``k_level``.
      hidden_tau: :class:`~ntkcomp.compress.HiddenScale` (or ``"free"``, ``"match"``, rho).
      solver: :class:`~ntkcomp.compress.SolverOptions` (tolerance ``tol``, ``seed`` of the
        starts and of the packed draw, ``n_starts`` per layer, ``k_max`` most levels tried
        by ``family="auto"``); default ``SolverOptions()``.
      kurtosis: :class:`~ntkcomp.compress.KurtosisBudget` (loss budget ``tol``, needs
        ``data``, and the prediction ``model``); default ``KurtosisBudget()`` (predict only).
      data: a ``GMMSample``; if given, the kurtosis prediction is computed (a
        RuntimeWarning when it exceeds ``KURTOSIS_WARNING_LOSS``).
      p: input dimension; if given, ``memory`` is counted from a real packed draw.

    Returns:
      :class:`CompressionResult`; infeasible layers are flagged and warned about.

    Raises:
      ValueError: a bad option, naming it and its allowed values or range.
    """
    family = parse_enum(Family, "family", family)
    target = parse_enum(Target, "target", target)
    solver = SolverOptions() if solver is None else solver
    budget = KurtosisBudget() if kurtosis is None else kurtosis
    if not isinstance(solver, SolverOptions):
        raise ValueError(f"solver must be a SolverOptions, got {solver!r}")
    if not isinstance(budget, KurtosisBudget):
        raise ValueError(f"kurtosis must be a KurtosisBudget, got {budget!r}")
    # the solve runs in float64, the compressed network's kernels in JAX's default float
    warn_if_float32(solver.tol, where="compress(tol)")
    if family is Family.K_LEVEL and levels is None:
        raise ValueError("levels must be an integer >= 2 when family='k_level', got None")
    layer_eps(eps, net.depth)
    hidden = HiddenScale.parse(hidden_tau)
    p = None if p is None else check_positive_int("p", p)
    check_sample(data, budget)
    d = design(net, tau0, family=family, levels=levels, target=target, hidden=hidden,
               solver=solver)
    sp = sparsify(net, d, eps, budget=budget, data=data)
    compressed = build(net, d, sp.eps)
    res = CompressionResult(dense=net, compressed=compressed, design=d, sparsity=sp,
                            assessment=assess(net, compressed, d.tau0, target=target),
                            memory=None if p is None else memory_report(compressed, p,
                                                                        seed=solver.seed))
    _warn(res)
    return res
