"""Predicted kurtosis loss of a sparse-ternary compression, and a kurtosis-aware layer-1 eps.

Theory model. With layer-1 weights of fourth cumulant ``kappa4``, the equivalent's
``alpha_{1,3} T`` becomes ``(a2^2/4)(2 T + kappa4 T_diag)``; the extra term propagates
through ``a1^2`` (CK) and through the beta recursion (NTK), so the compressed kernel gains
``Delta = c_diag (J / sqrt(p)) T_diag (J / sqrt(p))^T`` (``(n, n)``, rank at most K), with
``c_diag = alpha_diag_L`` (target ``ck``) or ``beta_diag_L`` (target ``ntk``) of the
compressed network, exactly linear in ``kappa4(W_1)``. Sparse ternary weights have
``kappa4(eps) = 1/(1 - eps) - 3`` (-2 at eps = 0, 0 at eps = 2/3). Moment matching cannot
remove ``Delta``.

The predicted kurtosis loss is ``||Delta|| / ||K_dense||`` (operator norms), with
``K_dense`` the dense network's CK_L (or NTK) equivalent. ``||Delta||`` is the top
eigenvalue of a K x K matrix, ``||K_dense||`` one Lanczos run on the matrix-free equivalent.
Because ``loss(eps) = g |kappa4(eps)|``, the layer-1 sparsities meeting a tolerance ``tol``
form the interval ``eps_1 in [1 - 1/(3 - tol/g), 1 - 1/(3 + tol/g)]`` (lower end clipped at
0).

Realised model (:func:`realised_kurtosis_loss`). ``Delta`` is the difference of the
compressed network's ``kurtosis="realised"`` equivalent (the data's realised fourth moments,
the layer-1 mean and variance shifts and the ``sum_k x_ik^3 x_jk`` term) and its
Gaussian-weight equivalent. It is exactly quadratic in ``kappa4(W_1)``,
``Delta(k) = k A + k^2 B``; ``A`` and ``B`` are read off two probe laws (kappa4 = +1, -1),
and the eps_1 interval is found numerically (first crossing of ``tol`` on each side of
``eps_1 = 2/3``, a bounded scan refined by bisection). Unlike the theory term it does not
vanish for odd activations (the compressed layer-1 step has ``a1 a3 != 0``).
See the theory page ``docs/theory/universality.md`` (sections Kurtosis corrections and
Realised kurtosis term).
"""
from __future__ import annotations

import math

import jax
import numpy as np

from ntkcomp._validate import check_choice
from ntkcomp.equivalents import coefficients, ck_equivalent, ntk_equivalent
from ntkcomp.networks import MLP, weight_law
from ntkcomp.spectral import operator_norm

__all__ = [
    "RealisedKurtosisLoss",
    "choose_eps1",
    "choose_eps1_realised",
    "eps_interval",
    "eps_interval_realised",
    "kurtosis_loss_per_unit",
    "realised_kurtosis_loss",
    "sparse_ternary_eps",
    "sparse_ternary_kappa4",
]

#: most ulp steps :func:`eps_interval` rounds its closed-form ends inwards
MAX_ROUNDING_STEPS = 256
#: most geometric steps of the realised interval's upper bracket (kappa4 up to 1e8)
KAPPA4_BRACKET_MAX = 1e8

# sparse ternary eps with kappa4 = +1: used to read off c_diag per unit kappa4(W_1)
_EPS_UNIT_KAPPA4 = 0.75


def sparse_ternary_kappa4(eps: float) -> float:
    """Fourth cumulant ``1/(1 - eps) - 3`` of the standardised sparse ternary law."""
    return 1.0 / (1.0 - float(eps)) - 3.0


def sparse_ternary_eps(kappa4: float) -> float:
    """Inverse of :func:`sparse_ternary_kappa4`: ``eps = 1 - 1/(3 + kappa4)``, kappa4 >= -2."""
    k = float(kappa4)
    if not k >= -2.0:
        raise ValueError(f"kappa4 must be >= -2 (sparse ternary, eps in [0, 1)), got {kappa4!r}")
    return 1.0 - 1.0 / (3.0 + k)


def _sym_norm_operator(apply, n: int) -> float:
    """``max |eig|`` of a symmetric ``(n, n)`` operator ``apply(V (n, m)) -> (n, m)``."""
    return operator_norm(lambda v: np.reshape(apply(np.reshape(v, (n, -1))), np.shape(v)),
                         n=n)


def _dense_norm(dense, data, kind: str) -> float:
    """``||K_dense||`` of the dense CK_L / NTK equivalent (matrix-free Lanczos)."""
    mv = ck_equivalent(dense, data) if kind == "ck" else ntk_equivalent(dense, data)
    return _sym_norm_operator(mv, int(mv.n))


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
    return operator_norm(Gh @ np.asarray(T_diag, dtype=np.float64) @ Gh)


def _c_diag_per_unit(compressed, tau0: float, kind: str) -> float:
    """``c_diag`` of ``compressed`` (its activations and widths) with kappa4(W_1) = 1."""
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
    # round inwards so that the ends themselves meet tol in floating point (a few ulps; the
    # loop is bounded and a failure is reported, never an endless search)
    for _ in range(MAX_ROUNDING_STEPS):
        if g * abs(sparse_ternary_kappa4(hi)) <= tol and (
                lo == 0.0 or g * abs(sparse_ternary_kappa4(lo)) <= tol):
            return lo, hi
        if g * abs(sparse_ternary_kappa4(hi)) > tol:
            hi = math.nextafter(hi, 0.0)
        if lo > 0.0 and g * abs(sparse_ternary_kappa4(lo)) > tol:
            lo = math.nextafter(lo, 1.0)
    raise RuntimeError(f"eps_interval(g={g!r}, tol={tol!r}): the interval ends did not meet "
                       f"tol within {MAX_ROUNDING_STEPS} rounding steps")


def choose_eps1(eps1: float, g: float, tol: float) -> float:
    """The layer-1 sparsity meeting ``g |kappa4| <= tol`` closest to the requested ``eps1``.

    Above the interval (too sparse, kappa4 too large) this is the LARGEST eps meeting tol;
    below it (eps1 < eps_lo, kappa4 too negative, e.g. ReLU at eps = 0 with a tight tol)
    it is ``eps_lo`` > eps1: sparser, hence also fewer bits, than requested."""
    if g * abs(sparse_ternary_kappa4(eps1)) <= tol:
        return float(eps1)
    lo, hi = eps_interval(g, tol)
    return float(min(max(float(eps1), lo), hi))


# --------------------------------------------------------------------------------------
# kurtosis_model="realised"
# --------------------------------------------------------------------------------------

def _with_layer1_law(net, law):
    return MLP(net.widths, list(net.activations), weights=[law] + list(net.weight_laws)[1:],
               tau0=float(net.tau0))


class RealisedKurtosisLoss:
    """``loss(kappa4) = ||k A + k^2 B|| / ||K_dense||`` with ``k = kappa4(W_1)`` (see the
    module docstring); build it with :func:`realised_kurtosis_loss`.

    Call it with a fourth cumulant (``loss(7.0)``) or use :meth:`at_eps` with a sparse
    ternary layer-1 sparsity. Attributes: ``kind``, ``n``, ``dense_norm`` (``||K_dense||``),
    ``linear_per_unit`` (``||A|| / ||K_dense||``), ``quadratic_per_unit``
    (``||B|| / ||K_dense||``), ``apply(V (n, m), k) -> Delta(k) V``.
    """

    def __init__(self, apply_A, apply_B, n: int, dense_norm: float, kind: str):
        self.kind, self.n, self.dense_norm = kind, int(n), float(dense_norm)
        self.apply = jax.jit(lambda V, k: k * apply_A(V) + (k * k) * apply_B(V))
        self.linear_per_unit = _sym_norm_operator(apply_A, self.n) / self.dense_norm
        self.quadratic_per_unit = _sym_norm_operator(apply_B, self.n) / self.dense_norm
        self._cache: dict = {}

    def __call__(self, kappa4: float) -> float:
        k = float(kappa4)
        if k == 0.0:
            return 0.0
        if k not in self._cache:
            self._cache[k] = _sym_norm_operator(lambda V: self.apply(V, k), self.n) \
                / self.dense_norm
        return self._cache[k]

    def at_eps(self, eps: float) -> float:
        """The loss of a sparse ternary layer 1 with sparsity ``eps``."""
        return self(sparse_ternary_kappa4(eps))


def realised_kurtosis_loss(dense, compressed, data, kind: str = "ck") -> RealisedKurtosisLoss:
    """Predicted layer-1 weight-kurtosis loss of ``compressed`` with ``kurtosis="realised"``.

    Args:
      dense, compressed: MLP descriptions (same depth); only ``compressed``'s activations
        and deeper weight laws matter for ``Delta`` (its layer-1 law is replaced by probes).
      data: GMMSample (``.X (n, p)``, ``.stats`` with ``J``, ``phi``, ``t``, ``tau0``).
      kind: "ck" (CK_L) or "ntk".
    Returns:
      :class:`RealisedKurtosisLoss` ``loss``, ``loss(kappa4) = ||Delta(kappa4)|| /
      ||K_dense||`` with ``Delta(k) = k A + k^2 B`` the realised equivalent of the
      compressed network with layer-1 fourth cumulant ``k`` minus its Gaussian-weight one.
    """
    check_choice("kind", kind, ["ck", "ntk"])
    mvf = ck_equivalent if kind == "ck" else ntk_equivalent

    def probe(k4):     # compressed net with a layer-1 law of fourth cumulant k4
        return _with_layer1_law(compressed, weight_law("sparse_ternary",
                                                       eps=sparse_ternary_eps(k4)))

    mv_p = mvf(probe(1.0), data, kurtosis="realised")
    mv_m = mvf(probe(-1.0), data, kurtosis="realised")
    mv_0 = mvf(compressed, data)            # Gaussian-weight equivalent (no kurtosis term)

    def apply_A(V):
        return 0.5 * (mv_p(V) - mv_m(V))

    def apply_B(V):
        return 0.5 * (mv_p(V) + mv_m(V)) - mv_0(V)

    n = int(mv_0.n)
    dn = _dense_norm(dense, data, kind)
    return RealisedKurtosisLoss(apply_A, apply_B, n, dn, kind)


def _first_crossing(f, tol: float, a: float, b: float, grid: int = 24) -> float | None:
    """Along the segment from ``a`` (``f(a) <= tol``) to ``b``: the last point before ``f``
    first exceeds ``tol`` on a ``grid``-point scan refined by bisection to ~1e-12; None if
    ``f <= tol`` at every scanned point (including ``b``)."""
    prev = a
    for j in range(1, grid + 1):
        x = a + (b - a) * j / grid
        if f(x) > tol:
            lo, hi = prev, x
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if f(mid) <= tol:
                    lo = mid
                else:
                    hi = mid
                if abs(hi - lo) <= 1e-12 * max(1.0, abs(lo)):
                    break
            return lo
        prev = x
    return None


def eps_interval_realised(loss: RealisedKurtosisLoss, tol: float) -> tuple[float, float]:
    """Layer-1 sparsities ``[eps_lo, eps_hi]`` around ``eps = 2/3`` (kappa4 = 0) on which the
    realised predicted loss stays ``<= tol``: the first crossings on either side (a scan
    refined by bisection; ``loss`` is continuous, ``0`` at kappa4 = 0). ``eps_lo = 0`` when
    no crossing occurs down to eps = 0; ``eps_hi`` is the largest float below 1 when none
    occurs up to kappa4 = 1e8."""
    f = loss.at_eps
    e0 = 2.0 / 3.0
    # upper side: bracket the crossing on a kappa4 scale that grows geometrically
    g = max(loss.linear_per_unit, 1e-300)
    k_end = max(tol / g, 1e-6)
    while loss(k_end) <= tol and k_end < KAPPA4_BRACKET_MAX:   # at most ~25 steps
        k_end *= 4.0
    hi = _first_crossing(f, tol, e0, sparse_ternary_eps(min(k_end, KAPPA4_BRACKET_MAX)))
    if hi is None:
        hi = math.nextafter(1.0, 0.0)
    lo = _first_crossing(f, tol, e0, 0.0)
    if lo is None:
        lo = 0.0
    return float(lo), float(hi)


def choose_eps1_realised(eps1: float, loss: RealisedKurtosisLoss, tol: float) -> float:
    """:func:`choose_eps1` with the realised loss: ``eps1`` itself if it meets ``tol``, else
    the nearest end of :func:`eps_interval_realised`."""
    if loss.at_eps(eps1) <= tol:
        return float(eps1)
    lo, hi = eps_interval_realised(loss, tol)
    return float(min(max(float(eps1), lo), hi))
