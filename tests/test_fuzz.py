"""Property-based fuzzing (issue 8, item 5) over network descriptions and GMM configurations.

Invariants checked (hypothesis, derandomized so CI is reproducible; small max_examples so
the file runs in well under a minute on an idle machine):

- GMM statistics: T and T_diag are Gram matrices (of C_a in the trace inner product, of the
  diagonals of C_a) hence symmetric PSD; ``sum_a c_a t_a = 0``; ``tau0^2 = sum_a c_a tr C_a/p``;
  labels/J/V consistent.
- Empirical kernels of one network: every CK_l is symmetric PSD (a Gram matrix), and
  ``NTK - CK_L = sum_l CK_{l-1} o (Delta_l^T Delta_l)`` is PSD (Schur product theorem), so
  NTK >= CK_L in the PSD order.
- Exact weight-averaged kernels (E_W, via the bivariate map): symmetric PSD (expectations
  of Gram matrices) and E[NTK] >= E[CK_L].
- CK and NTK equivalents: finite and symmetric.
- Gaussian moments: finite for every registered activation at tau in [0.05, 20], var >= 0,
  ``s`` finite except for piecewise-constant activations, where it is +inf.

PSD tolerance: eigenvalues >= -1e-9 * max(1, ||K||_2) -- float64 rounding of an n x n
Gram matrix with n <= 16 is ~1e-15 * ||K||; 1e-9 leaves room for the quadrature/series
accuracy of the bivariate map (stated ~1e-10 relative) without hiding a real sign error,
which would be O(||K||).
"""
from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntkcomp import activations as A
from ntkcomp.data import GMM
from ntkcomp.networks import MLP, weight_law

PSD_TOL = 1e-9
# Each new network / shape compiles (jit), so keep the example counts small.
FUZZ = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_JIT = settings(FUZZ, max_examples=5)


def _assert_sym_psd(K, what):
    K = np.asarray(K, dtype=np.float64)
    assert np.all(np.isfinite(K)), f"{what} has NaN/Inf"
    scale = max(1.0, float(np.max(np.abs(K))) * K.shape[0])
    np.testing.assert_allclose(K, K.T, rtol=0, atol=1e-12 * scale, err_msg=f"{what} not symmetric")
    lam = np.linalg.eigvalsh((K + K.T) / 2)
    bound = PSD_TOL * max(1.0, float(np.max(np.abs(lam))))
    assert lam[0] >= -bound, f"{what} not PSD: min eigenvalue {lam[0]:.3e} < -{bound:.1e}"


# ---------------------------------------------------------------------------------------
# strategies
finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def activations(draw, allow_steps=True):
    names = ["relu", "tanh", "erf", "sin", "abs", "gelu", "swish", "softplus", "sigmoid",
             "leaky_relu"] + (["binary", "ternary"] if allow_steps else [])
    name = draw(st.sampled_from(names))
    if name == "leaky_relu":
        return A.get(name, slope=draw(st.floats(-0.5, 0.9, **finite)))
    if name == "binary":
        s1 = draw(st.floats(-2.0, 1.0, **finite))
        return A.get(name, s1=s1, s2=s1 + draw(st.floats(0.1, 2.0, **finite)), b=1.0)
    if name == "ternary":
        s1 = draw(st.floats(-2.0, 0.5, **finite))
        return A.get(name, s1=s1, s2=s1 + draw(st.floats(0.1, 2.0, **finite)),
                     b_neg=draw(st.floats(0.2, 2.0, **finite)), b_pos=1.0)
    return A.get(name)


@st.composite
def networks(draw, tau0=1.0, allow_steps=True, max_depth=3):
    depth = draw(st.integers(1, max_depth))
    widths = [draw(st.sampled_from([8, 16])) for _ in range(depth)]
    acts = [draw(activations(allow_steps)) for _ in range(depth)]
    law = draw(st.sampled_from(["gaussian", "rademacher", "sparse_ternary"]))
    laws = weight_law(law, eps=draw(st.sampled_from([0.0, 0.5, 0.9]))) \
        if law == "sparse_ternary" else law
    return MLP(widths, acts, weights=laws, tau0=tau0)


@st.composite
def gmms(draw):
    K = draw(st.integers(1, 3))
    p = draw(st.sampled_from([4, 8]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((K, p)) * draw(st.floats(0.0, 3.0, **finite))
    kind = draw(st.sampled_from(["scalar", "diagonal", "full", "low_rank"]))
    if kind == "scalar":
        covs = rng.uniform(0.2, 2.0, K)
    elif kind == "diagonal":
        covs = rng.uniform(0.0, 2.0, (K, p))  # zeros allowed: PSD, singular
    else:
        r = p if kind == "full" else max(1, p // 3)
        B = rng.standard_normal((K, p, r))
        covs = B @ np.swapaxes(B, 1, 2) / r  # singular for low rank
    w = rng.uniform(0.2, 1.0, K)
    return GMM(means, covs, w / w.sum())


# ---------------------------------------------------------------------------------------
@FUZZ
@given(g=gmms(), n=st.sampled_from([3, 12]), seed=st.integers(0, 1000))
def test_gmm_stats_invariants(g, n, seed):
    s = g.sample(jax.random.key(seed), n)
    st_ = s.stats
    _assert_sym_psd(st_.T, "T")
    _assert_sym_psd(st_.T_diag, "T_diag")
    c = np.asarray(st_.proportions)
    assert abs(float(np.dot(c, np.asarray(st_.t)))) < 1e-10 * max(1.0, math.sqrt(g.p))
    tr = np.array([np.trace(C) for C in (g.covs if g.covs.ndim == 3 else
                                         [np.diag(d) for d in g.cov_diagonals()])])
    np.testing.assert_allclose(float(st_.tau0) ** 2, np.dot(c, tr) / g.p, rtol=1e-12)
    lab = np.asarray(s.labels)
    assert np.bincount(lab, minlength=g.K).min() >= 1
    np.testing.assert_array_equal(np.argmax(np.asarray(st_.J), axis=1), lab)
    assert np.all(np.isfinite(np.asarray(st_.V))) and np.all(np.isfinite(np.asarray(s.X)))


@FUZZ_JIT
@given(data=st.data())
def test_empirical_kernels_psd_and_ntk_dominates_ck(data):
    from ntkcomp.kernels import conjugate_kernels, empirical_ntk

    g = data.draw(gmms())
    s = g.sample(jax.random.key(data.draw(st.integers(0, 99))), 12)
    tau0 = max(float(s.stats.tau0), 0.05)
    net = data.draw(networks(tau0=tau0))
    params = net.init(jax.random.key(data.draw(st.integers(0, 99))), g.p)
    cks = conjugate_kernels(net, params, s.X)
    assert len(cks) == net.depth
    for l, ck in enumerate(cks):
        _assert_sym_psd(ck, f"CK_{l + 1}")
    ntk = np.asarray(empirical_ntk(net, params, s.X))
    _assert_sym_psd(ntk, "NTK")
    _assert_sym_psd(ntk - np.asarray(cks[-1]), "NTK - CK_L")


@FUZZ_JIT
@given(data=st.data())
def test_expected_kernels_psd_and_ntk_dominates_ck(data):
    from ntkcomp.kernels import expected_kernels

    g = data.draw(gmms())
    s = g.sample(jax.random.key(data.draw(st.integers(0, 99))), 12)
    tau0 = max(float(s.stats.tau0), 0.05)
    net = data.draw(networks(tau0=tau0, max_depth=2))
    ek = expected_kernels(net, s.X)
    for l, ck in enumerate(ek["ck"]):
        _assert_sym_psd(ck, f"E[CK_{l + 1}]")
    _assert_sym_psd(ek["ntk"], "E[NTK]")
    _assert_sym_psd(np.asarray(ek["ntk"]) - np.asarray(ek["ck"][-1]), "E[NTK] - E[CK_L]")


@FUZZ_JIT
@given(data=st.data())
def test_equivalents_finite_and_symmetric(data):
    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent

    g = data.draw(gmms())
    s = g.sample(jax.random.key(data.draw(st.integers(0, 99))), 12)
    tau0 = float(s.stats.tau0)
    if tau0 <= 0.05:  # degenerate data (all-zero covariances) has no tau0 regime
        return
    net = data.draw(networks(tau0=tau0, allow_steps=True))
    for what, K in (("CK~", ck_equivalent(net, s)), ("NTK~", ntk_equivalent(net, s))):
        K = np.asarray(K)
        assert K.shape == (s.X.shape[0],) * 2
        assert np.all(np.isfinite(K)), f"{what} has NaN/Inf for {net.activations}"
        np.testing.assert_allclose(K, K.T, rtol=0, atol=1e-12 * max(1.0, np.abs(K).max()))


@FUZZ
@given(act=activations(), tau=st.floats(0.05, 20.0, **finite))
def test_moments_finite_where_they_should_be(act, tau):
    m = A.moments(act, tau)
    for field in ("mean", "var", "a1", "a2", "q"):
        v = float(getattr(m, field))
        assert math.isfinite(v), f"{act.name}: {field} = {v} at tau = {tau}"
    assert float(m.var) >= -1e-12
    if act.kind == "piecewise_constant":
        assert float(m.s) == math.inf
    else:
        assert math.isfinite(float(m.s)) and float(m.s) >= 0


@pytest.mark.parametrize("name", [n for n in A.available() if n != "k_level"])
def test_every_registered_activation_has_finite_moments(name):
    act = A.get(name)
    for tau in (0.05, 0.5, 1.0, 4.0, 20.0):
        m = A.moments(act, tau)
        vals = [float(getattr(m, f)) for f in ("mean", "var", "a1", "a2", "q")]
        assert all(math.isfinite(v) for v in vals), (name, tau, vals)
        assert (float(m.s) == math.inf) == (act.kind == "piecewise_constant"), (name, float(m.s))
