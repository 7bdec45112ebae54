"""Predicted kurtosis loss of a sparse-ternary compression, and a kurtosis-aware layer-1 eps.

THEORY.md section 7: with layer-1 weights of fourth cumulant ``kappa4``, the equivalent's
``alpha_{1,3} T`` becomes ``(a2^2/4)(2 T + kappa4 T_diag)``; the extra term propagates
through ``a1^2`` (CK) and through the beta recursion (NTK), so the compressed kernel gains

    Delta = c_diag * (J / sqrt(p)) T_diag (J / sqrt(p))^T,      (n, n), rank <= K

with ``c_diag = alpha_diag_L`` (target "ck") or ``beta_diag_L`` (target "ntk") of the
COMPRESSED network, exactly linear in ``kappa4(W_1)`` (all other layers enter only through
their activations, which do not depend on eps). Sparse ternary weights have
``kappa4(eps) = 1/(1 - eps) - 3`` (-2 at eps = 0, 0 at eps = 2/3, 7 at eps = 0.9).
Moment matching cannot remove Delta; it is the leading eps-dependence of the
weight-averaged kernel (Monte Carlo confirmation:
``experiments/results/compress_example/kurtosis_check``).

The **predicted kurtosis loss** is ``||Delta|| / ||K_dense||`` (operator norms), with
``K_dense`` the dense network's CK_L (or NTK) equivalent (Gaussian weights: no kurtosis
term). It is cheap: ``||Delta||`` is the top eigenvalue of a K x K matrix,
``||K_dense||`` one Lanczos run on the matrix-free equivalent (O(n p) per product). No
sampling. Because ``loss(eps) = g |kappa4(eps)|`` with ``g`` the loss per unit kappa4, the
set of layer-1 sparsities meeting a tolerance ``tol`` is the interval
``kappa4 in [-tol/g, tol/g]``, i.e. ``eps_1 in [1 - 1/(3 - tol/g), 1 - 1/(3 + tol/g)]``
(lower end clipped at 0).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "choose_eps1",
    "eps_interval",
    "kurtosis_loss_per_unit",
    "kurtosis_summary",
    "sparse_ternary_kappa4",
]

# sparse ternary eps with kappa4 = +1: used to read off c_diag per unit kappa4(W_1)
_EPS_UNIT_KAPPA4 = 0.75


def sparse_ternary_kappa4(eps: float) -> float:
    """Fourth cumulant ``1/(1 - eps) - 3`` of the standardised sparse ternary law."""
    return 1.0 / (1.0 - float(eps)) - 3.0


def _op_norm_sym(M) -> float:
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (M + M.T)))))


def _dense_norm(dense, data, kind: str) -> float:
    """``||K_dense||`` of the dense CK_L / NTK equivalent (matrix-free Lanczos)."""
    from ntkcomp.equivalents import ck_equivalent_matvec, ntk_equivalent_matvec

    mv = (ck_equivalent_matvec(dense, data) if kind == "ck"
          else ntk_equivalent_matvec(dense, data))
    n = int(mv.n)
    if n <= 64:
        K = np.asarray(mv(np.eye(n)))
        return _op_norm_sym(K)
    from scipy.sparse.linalg import LinearOperator, eigsh
    op = LinearOperator((n, n), matvec=lambda v: np.asarray(mv(np.asarray(v).ravel())),
                        dtype=np.float64)
    return float(np.max(np.abs(eigsh(op, k=1, which="LM", v0=np.ones(n), tol=1e-10,
                                     return_eigenvectors=False))))


def _class_block_norm(stats, p: int) -> float:
    """``||(J/sqrt(p)) T_diag (J/sqrt(p))^T||`` via the K x K matrix G^{1/2} T_diag G^{1/2},
    ``G = J^T J / p`` (same non-zero spectrum)."""
    T_diag = getattr(stats, "T_diag", None)
    if T_diag is None:
        raise ValueError("data.stats.T_diag is needed for the kurtosis prediction "
                         "(sum_k (C_a)_kk (C_b)_kk / p)")
    J = np.asarray(stats.J, dtype=np.float64)
    G = J.T @ J / float(p)
    w, U = np.linalg.eigh(0.5 * (G + G.T))
    Gh = (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T
    return _op_norm_sym(Gh @ np.asarray(T_diag, dtype=np.float64) @ Gh)


def _c_diag_per_unit(compressed, tau0: float, kind: str) -> float:
    """``c_diag`` of ``compressed`` (its activations and widths) with kappa4(W_1) = 1."""
    from ntkcomp.equivalents import coefficients
    from ntkcomp.networks import MLP, weight_law

    L = compressed.depth
    laws = [weight_law("sparse_ternary", eps=_EPS_UNIT_KAPPA4)] + \
        list(compressed.weight_laws)[1:]
    probe = MLP(compressed.widths, list(compressed.activations), weights=laws,
                tau0=float(tau0))
    c = coefficients(probe, float(tau0))
    k4 = float(c.kappa4[1])
    val = float(c.alpha_diag[L] if kind == "ck" else c.beta_diag[L])
    return val / k4


def kurtosis_loss_per_unit(dense, compressed, data, kind: str = "ck") -> dict:
    """Predicted kurtosis loss per unit ``|kappa4(W_1)|`` (see module docstring).

    Args:
      dense, compressed: MLP descriptions (same depth). data: GMMSample (``.X``, ``.stats``
        with ``J``, ``T_diag``, ``tau0``). kind: "ck" (CK_L) or "ntk".
    Returns dict: ``c_diag_per_unit_kappa4``, ``class_block_norm``
    (``||J T_diag J^T|| / p``), ``dense_norm`` (``||K_dense||``) and
    ``loss_per_unit_kappa4 = |c_diag_per_unit| * class_block_norm / dense_norm``.
    """
    st = data.stats
    p = int(getattr(st, "p", np.shape(data.X)[1]))
    tau0 = float(st.tau0)
    c1 = _c_diag_per_unit(compressed, tau0, kind)
    cb = _class_block_norm(st, p)
    dn = _dense_norm(dense, data, kind)
    return {"c_diag_per_unit_kappa4": c1, "class_block_norm": cb, "dense_norm": dn,
            "loss_per_unit_kappa4": abs(c1) * cb / dn}


def eps_interval(g: float, tol: float) -> tuple[float, float]:
    """Layer-1 sparsities ``[eps_lo, eps_hi]`` with ``g |kappa4(eps)| <= tol`` (``g >= 0``).

    ``g == 0`` (e.g. odd activations: a2 = 0 at layer 1) gives ``[0, 1)`` -> (0.0, 1.0)."""
    if g <= 0.0:
        return 0.0, 1.0
    b = tol / g
    lo = 0.0 if b >= 2.0 else 1.0 - 1.0 / (3.0 - b)
    hi = min(1.0 - 1.0 / (3.0 + b), math.nextafter(1.0, 0.0))
    # round inwards so that the ends themselves meet tol in floating point
    while g * abs(sparse_ternary_kappa4(hi)) > tol:
        hi = math.nextafter(hi, 0.0)
    while lo > 0.0 and g * abs(sparse_ternary_kappa4(lo)) > tol:
        lo = math.nextafter(lo, 1.0)
    return lo, hi


def choose_eps1(eps1: float, g: float, tol: float) -> float:
    """The layer-1 sparsity meeting ``g |kappa4| <= tol`` closest to the requested ``eps1``.

    Above the interval (too sparse, kappa4 too large) this is the LARGEST eps meeting tol;
    below it (eps1 < eps_lo, kappa4 too negative, e.g. ReLU at eps = 0 with a tight tol)
    it is ``eps_lo`` > eps1: sparser, hence also fewer bits, than requested."""
    if g * abs(sparse_ternary_kappa4(eps1)) <= tol:
        return float(eps1)
    lo, hi = eps_interval(g, tol)
    return float(min(max(float(eps1), lo), hi))


def kurtosis_summary(unit: dict | None, eps1_requested: float, eps1: float,
                     tol: float | None, kind: str) -> dict:
    """The ``kurtosis`` entry of a compression report (JSON-able)."""
    k4 = sparse_ternary_kappa4(eps1)
    out = {"kernel": "ck_L" if kind == "ck" else "ntk",
           "eps1_requested": float(eps1_requested), "eps1": float(eps1),
           "kappa4_layer1": k4, "tol": tol}
    if unit is None:
        out.update(predicted_loss=None, note="pass data= to compress() for the predicted loss")
        return out
    g = unit["loss_per_unit_kappa4"]
    out.update(unit)
    out["c_diag"] = unit["c_diag_per_unit_kappa4"] * k4
    out["predicted_loss"] = g * abs(k4)
    out["predicted_loss_at_requested_eps1"] = g * abs(sparse_ternary_kappa4(eps1_requested))
    out["eps1_interval_meeting_tol"] = list(eps_interval(g, tol)) if tol is not None else None
    return out
