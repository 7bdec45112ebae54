"""Sparsify step: per-layer weight sparsities and the layer-1 weight-kurtosis budget.

Sparse ternary weights with sparsity ``eps`` have fourth cumulant
``kappa4 = 1/(1 - eps) - 3``. At layer 1 it adds a term to the kernel that moment matching
cannot remove; :func:`sparsify` predicts its size on data (``||Delta|| / ||K_dense||``,
:class:`~ntkcomp.equivalents.Kurtosis` ``theory`` or ``realised``) and, with a
:class:`~ntkcomp.compress.KurtosisBudget` tolerance, moves eps_1 to the nearest value whose
predicted loss meets it. Deeper layers keep the requested sparsity (their kurtosis enters
only the finite-width term).
See the theory page ``docs/theory/universality.md`` (section Kurtosis corrections).
"""
from __future__ import annotations

import dataclasses

from ntkcomp.compress._design import Design, build
from ntkcomp.compress._kurtosis import (RealisedKurtosisLoss, choose_eps1, choose_eps1_realised,
                                        eps_interval, eps_interval_realised,
                                        kurtosis_loss_per_unit, realised_kurtosis_loss,
                                        sparse_ternary_kappa4)
from ntkcomp.compress._options import KurtosisBudget, Target, layer_eps
from ntkcomp.equivalents import Kurtosis

__all__ = ["KurtosisPrediction", "Sparsity", "sparsify", "kurtosis_prediction",
           "check_sample"]


@dataclasses.dataclass(frozen=True)
class KurtosisPrediction:
    """Predicted layer-1 weight-kurtosis loss of a compression (JSON via :meth:`to_json`).

    Attributes:
      kernel: ``"ck_L"`` or ``"ntk"``. model: the ``Kurtosis`` value used.
      eps1_requested, eps1: layer-1 sparsity asked for and used. kappa4_layer1: at ``eps1``.
      tol: the budget (None: no adjustment).
      predicted_loss: ``||Delta|| / ||K_dense||`` at ``eps1`` (None without data).
      predicted_loss_at_requested_eps1: the same at ``eps1_requested``.
      eps1_interval_meeting_tol: ``[lo, hi]`` of layer-1 sparsities meeting ``tol``.
      c_diag_per_unit_kappa4, class_block_norm, dense_norm, loss_per_unit_kappa4, c_diag:
        the theory model's factors (``loss = loss_per_unit_kappa4 |kappa4|``).
      predicted_loss_theory: the theory model's loss (realised model only).
      linear_loss_per_unit_kappa4, quadratic_loss_per_unit_kappa4_sq: ``||A||``, ``||B||``
        over ``||K_dense||`` of the realised model ``Delta(k) = k A + k^2 B``.
    """
    kernel: str
    model: str
    eps1_requested: float
    eps1: float
    kappa4_layer1: float
    tol: float | None
    predicted_loss: float | None = None
    predicted_loss_at_requested_eps1: float | None = None
    eps1_interval_meeting_tol: tuple | None = None
    c_diag_per_unit_kappa4: float | None = None
    class_block_norm: float | None = None
    dense_norm: float | None = None
    loss_per_unit_kappa4: float | None = None
    c_diag: float | None = None
    predicted_loss_theory: float | None = None
    linear_loss_per_unit_kappa4: float | None = None
    quadratic_loss_per_unit_kappa4_sq: float | None = None

    def to_json(self) -> dict:
        """The report's ``kurtosis`` entry (keys of unset model-specific fields left out)."""
        head = ("kernel", "model", "eps1_requested", "eps1", "kappa4_layer1", "tol",
                "predicted_loss")
        out = {k: getattr(self, k) for k in head}
        if self.predicted_loss is None:
            out["note"] = "pass data= to compress() for the predicted loss"
            return out
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name not in head and (v is not None or f.name == "eps1_interval_meeting_tol"):
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


def kurtosis_prediction(unit: dict | None, eps1_requested: float, eps1: float,
                        tol: float | None, target: Target,
                        realised: RealisedKurtosisLoss | None = None) -> KurtosisPrediction:
    """Assemble a :class:`KurtosisPrediction` from the theory factors ``unit``
    (:func:`kurtosis_loss_per_unit`, None without data) and the optional realised loss."""
    k4 = sparse_ternary_kappa4(eps1)
    base = dict(kernel="ck_L" if target is Target.CK else "ntk",
                model=(Kurtosis.THEORY if realised is None else Kurtosis.REALISED).value,
                eps1_requested=float(eps1_requested), eps1=float(eps1), kappa4_layer1=k4,
                tol=tol)
    if unit is None:
        return KurtosisPrediction(**base)
    g = unit["loss_per_unit_kappa4"]
    theory = dict(c_diag_per_unit_kappa4=unit["c_diag_per_unit_kappa4"],
                  class_block_norm=unit["class_block_norm"], dense_norm=unit["dense_norm"],
                  loss_per_unit_kappa4=g, c_diag=unit["c_diag_per_unit_kappa4"] * k4)
    if realised is None:
        return KurtosisPrediction(
            **base, **theory, predicted_loss=g * abs(k4),
            predicted_loss_at_requested_eps1=g * abs(sparse_ternary_kappa4(eps1_requested)),
            eps1_interval_meeting_tol=None if tol is None else tuple(eps_interval(g, tol)),
            )
    return KurtosisPrediction(
        **base, **theory, predicted_loss=realised.at_eps(eps1),
        predicted_loss_at_requested_eps1=realised.at_eps(eps1_requested),
        eps1_interval_meeting_tol=(None if tol is None
                                   else tuple(eps_interval_realised(realised, tol))),
        predicted_loss_theory=g * abs(k4),
        linear_loss_per_unit_kappa4=realised.linear_per_unit,
        quadratic_loss_per_unit_kappa4_sq=realised.quadratic_per_unit)


def check_sample(data, budget: KurtosisBudget) -> None:
    """Raise ValueError unless ``data`` is None or a sample (``.X``, ``.stats``), and is
    given whenever ``budget.tol`` is set."""
    if budget.tol is not None and data is None:
        raise ValueError("kurtosis_tol needs data= (a GMMSample with stats.J and "
                         "stats.T_diag) to predict the kurtosis loss; got data=None")
    if data is not None and not (hasattr(data, "X") and hasattr(data, "stats")):
        raise ValueError("data must be a GMMSample (with .X and .stats), got "
                         f"{type(data).__name__}")


@dataclasses.dataclass(frozen=True)
class Sparsity:
    """Output of :func:`sparsify`.

    Attributes:
      eps_requested: ``(L,)`` the sparsities asked for. eps: ``(L,)`` those used (only
        ``eps[0]`` can differ, moved by the kurtosis budget).
      kurtosis: :class:`KurtosisPrediction`.
    """
    eps_requested: tuple
    eps: tuple
    kurtosis: KurtosisPrediction


def sparsify(net, design: Design, eps, *, budget: KurtosisBudget = KurtosisBudget(),
             data=None) -> Sparsity:
    """Per-layer sparsities of the compressed weights and the layer-1 kurtosis prediction.

    Args:
      net: the dense MLP.
      design: the :class:`~ntkcomp.compress.Design` of ``net``.
      eps: sparsity, scalar or one per layer, each in ``[0, 1)``.
      budget: :class:`~ntkcomp.compress.KurtosisBudget`; a ``tol`` needs ``data``.
      data: a ``GMMSample`` (``.X (n, p)``, ``.stats`` with ``J``, ``T_diag``, ``tau0``) for
        the prediction, or None (no prediction).

    Returns:
      :class:`Sparsity`.

    Raises:
      ValueError: bad ``eps``; ``budget.tol`` without ``data``; ``data`` not a sample.
    """
    eps_req = layer_eps(eps, net.depth)
    check_sample(data, budget)
    eps_used = list(eps_req)
    unit = realised = None
    if data is not None:
        compressed = build(net, design, eps_req)
        unit = kurtosis_loss_per_unit(net, compressed, data, kind=design.target.value)
        if budget.model is Kurtosis.REALISED:
            realised = realised_kurtosis_loss(net, compressed, data, kind=design.target.value)
        if budget.tol is not None:
            eps_used[0] = (choose_eps1(eps_req[0], unit["loss_per_unit_kappa4"], budget.tol)
                           if realised is None else
                           choose_eps1_realised(eps_req[0], realised, budget.tol))
    pred = kurtosis_prediction(unit, eps_req[0], eps_used[0], budget.tol, design.target,
                               realised=realised)
    return Sparsity(eps_requested=tuple(eps_req), eps=tuple(eps_used), kurtosis=pred)
