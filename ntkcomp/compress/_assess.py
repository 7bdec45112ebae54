"""Assess a compression: exact coefficient comparison, identity shift, E_W kernel difference.

The equivalents of the dense and the compressed network are compared through their
coefficients (:func:`ntkcomp.equivalents.coefficients`): when every layer's moments are
matched, the low-rank parts agree and the CK_L (or NTK) equivalents differ by
``delta I`` only, with ``delta`` the identity shift. :func:`kernel_differences` measures the
exact weight-averaged (infinite-width) kernels of both networks on data.
See the theory page ``docs/theory/compression.md`` (section Conditions).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ntkcomp.compress._options import Target
from ntkcomp.equivalents import coefficients
from ntkcomp._guards import check_report_finite
from ntkcomp.kernels import expected_kernels
from ntkcomp.spectral import operator_norm

__all__ = ["CoefficientComparison", "KernelDifferences", "Assessment", "coefficient_comparison",
           "kernel_differences", "assess"]


@dataclasses.dataclass(frozen=True)
class CoefficientComparison:
    """Coefficient-level comparison of the dense and compressed equivalents (exact).

    Attributes:
      delta_ck: ``(L,)`` identity shift of each CK_l equivalent,
        ``(tau_l^2 - alpha_{l,1} tau_0^2)_c - (same)_d``.
      alpha_rel_diff: ``(L,)`` ``max_k |alpha^c_{l,k} - alpha^d_{l,k}| / max_k |alpha^d_{l,k}|``
        over ``k = 1..3`` (the low-rank part).
      alpha_diag_dense, alpha_diag_compressed: ``(L,)`` weight-kurtosis coefficients.
      tau_dense, tau_compressed: ``(L,)`` the scales ``tau_l``.
      delta_ntk: identity shift of the NTK equivalent, ``(kappa_L^2 - beta_{L,1} tau_0^2)_c -
        (same)_d`` (a step network's autodiff NTK is its CK_L).
      beta_rel_diff: as ``alpha_rel_diff`` for ``beta_{L,1..3}``.
      kappa2_dense, kappa2_compressed: ``kappa_L^2``. tau_L_sq_dense: ``tau_L^2`` (dense).
    """
    delta_ck: tuple
    alpha_rel_diff: tuple
    alpha_diag_dense: tuple
    alpha_diag_compressed: tuple
    tau_dense: tuple
    tau_compressed: tuple
    delta_ntk: float
    beta_rel_diff: float
    kappa2_dense: float
    kappa2_compressed: float
    tau_L_sq_dense: float

    def identity_shift(self, target: Target | str) -> float:
        """The identity shift of the target kernel: ``delta_ck[-1]`` or ``delta_ntk``."""
        return self.delta_ntk if Target(target) is Target.NTK else self.delta_ck[-1]

    def to_json(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


def coefficient_comparison(dense, compressed, tau0: float) -> CoefficientComparison:
    """Exact coefficient-level comparison of two networks' equivalents at data scale ``tau0``.

    Args:
      dense, compressed: ``ntkcomp.networks.MLP`` descriptions of the same depth.
      tau0: the data scale, > 0.

    Returns:
      :class:`CoefficientComparison`.

    Raises:
      ValueError: when a coefficient is not finite.
    """
    cd, cc = coefficients(dense, tau0), coefficients(compressed, tau0)
    L = dense.depth
    t0sq = float(tau0) ** 2
    delta, rel = [], []
    for l in range(1, L + 1):
        idd = float(cd.tau[l]) ** 2 - float(cd.alpha[l, 0]) * t0sq
        idc = float(cc.tau[l]) ** 2 - float(cc.alpha[l, 0]) * t0sq
        ad, ac = np.asarray(cd.alpha[l, :3]), np.asarray(cc.alpha[l, :3])
        delta.append(idc - idd)
        rel.append(float(np.max(np.abs(ac - ad)) / np.max(np.abs(ad))))
    bd, bc = np.asarray(cd.beta[L]), np.asarray(cc.beta[L])

    def col(c, field):
        return tuple(float(v) for v in np.asarray(getattr(c, field))[1:L + 1])

    out = CoefficientComparison(
        delta_ck=tuple(delta), alpha_rel_diff=tuple(rel),
        alpha_diag_dense=col(cd, "alpha_diag"), alpha_diag_compressed=col(cc, "alpha_diag"),
        tau_dense=col(cd, "tau"), tau_compressed=col(cc, "tau"),
        delta_ntk=((float(cc.kappa2[L]) - float(bc[0]) * t0sq)
                   - (float(cd.kappa2[L]) - float(bd[0]) * t0sq)),
        beta_rel_diff=float(np.max(np.abs(bc - bd)) / np.max(np.abs(bd))),
        kappa2_dense=float(cd.kappa2[L]), kappa2_compressed=float(cc.kappa2[L]),
        tau_L_sq_dense=float(cd.tau[L]) ** 2)
    check_report_finite(out.to_json(), where="compress", name="coefficients")
    return out


@dataclasses.dataclass(frozen=True)
class KernelDifferences:
    """Relative operator-norm differences of the exact weight-averaged kernels.

    Attributes:
      ck_rel_diff, ntk_rel_diff: ``||K_c - delta I - K_d|| / ||K_d||`` for CK_L and the NTK
        (``delta`` the identity shift of that kernel).
      ck_rel_diff_raw, ntk_rel_diff_raw: the same without removing ``delta I``.
    """
    ck_rel_diff: float
    ntk_rel_diff: float
    ck_rel_diff_raw: float
    ntk_rel_diff_raw: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def kernel_differences(dense, compressed, X, coef: CoefficientComparison) -> KernelDifferences:
    """Compare the exact E_W CK_L and NTK of ``dense`` and ``compressed`` on ``X (n, p)``.

    Uses :func:`ntkcomp.kernels.expected_kernels` (infinite width, Gaussian
    pre-activations: blind to the weight law) and removes the identity shifts of ``coef``.
    Cost ``O(L n^2)`` bivariate evaluations and two operator norms per kernel.
    """
    Ed, Ec = expected_kernels(dense, X), expected_kernels(compressed, X)
    out = {}
    for kind, Kd, Kc, delta in (("ck", Ed["ck"][-1], Ec["ck"][-1], coef.delta_ck[-1]),
                                ("ntk", Ed["ntk"], Ec["ntk"], coef.delta_ntk)):
        Kd, Kc = np.asarray(Kd, np.float64), np.asarray(Kc, np.float64)
        nd = operator_norm(Kd)
        D = Kc - Kd
        out[kind] = (operator_norm(D - delta * np.eye(D.shape[0])) / nd, operator_norm(D) / nd)
    return KernelDifferences(ck_rel_diff=out["ck"][0], ntk_rel_diff=out["ntk"][0],
                             ck_rel_diff_raw=out["ck"][1], ntk_rel_diff_raw=out["ntk"][1])


@dataclasses.dataclass(frozen=True)
class Assessment:
    """Output of :func:`assess`.

    Attributes:
      coefficients: :class:`CoefficientComparison`.
      identity_shift: ``delta`` of the target kernel (CK_L or NTK).
      kernels: :class:`KernelDifferences` on the data, or None when no data was given.
    """
    coefficients: CoefficientComparison
    identity_shift: float
    kernels: KernelDifferences | None = None


def assess(dense, compressed, tau0: float, *, target: Target | str = Target.CK,
           X=None) -> Assessment:
    """Assess ``compressed`` against ``dense``: coefficients, identity shift and, with data
    ``X (n, p)``, the exact weight-averaged kernel differences.

    Args:
      dense, compressed: MLP descriptions of the same depth.
      tau0: data scale, > 0.
      target: the kernel whose identity shift is reported (``"ck"`` or ``"ntk"``).
      X: optional data ``(n, p)`` for :func:`kernel_differences`.

    Returns:
      :class:`Assessment`.
    """
    coef = coefficient_comparison(dense, compressed, float(tau0))
    kern = None if X is None else kernel_differences(dense, compressed, X, coef)
    return Assessment(coefficients=coef, identity_shift=float(coef.identity_shift(target)),
                      kernels=kern)
