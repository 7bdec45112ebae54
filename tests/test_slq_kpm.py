"""Lanczos, SLQ, KPM, top eigenpairs and the `spectrum` switch against numpy's eigh.

Test matrices (n ~ 1000) are Wishart-type kernels ``G G^T / d`` (d < n, so a point mass of
n - d zero eigenvalues, the hard case for density methods) plus two rank-one spikes: the
shape of a CK spectrum. Every reference is computed independently with numpy (dense eigh,
dense matrix powers / Chebyshev recursion).

Tolerances (justified where used):
* exactness statements (Gauss rule moments, Krylov relations, Chebyshev moments):
  float64 roundoff, 1e-10 relative;
* W1 bounds: Jackson's theorem. For a 1-Lipschitz f on an interval of half-width h, the best
  degree-q polynomial approximation error is <= pi h / (2 (q + 1)). A k-point Gauss rule is
  exact for degree 2k - 1, so W1(Gauss, measure) <= 2 * pi h / (2 * 2k) = pi (b - a) / (4k).
  Hutchinson sampling with m Rademacher probes: the CDF estimate F_hat(x) = mean_p
  v_p^T 1{K <= x} v_p / n has std <= sqrt(2 / (n m)) (Var of a Rademacher quadratic form
  of a projector P is 2(||P||_F^2 - sum P_ii^2)/n^2 <= 2 tr P / n^2), so
  E W1 <= (b - a) sqrt(2 / (n m)).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial

from ntkcomp.spectral import spectrum, top_eigenpairs, wasserstein1
from ntkcomp.spectral._kpm import (jackson_kernel, kpm_cdf, kpm_density, kpm_moments, kpm_pdf,
                                   kpm_wasserstein1)
from ntkcomp.spectral._lanczos import (estimate_spectral_bounds, gauss_quadrature, lanczos,
                                       rademacher, tridiagonal)
from ntkcomp.spectral._operator import DenseOperator
from ntkcomp.spectral._slq import slq_density, slq_quadrature
from ntkcomp.spectral._spectrum import DEFAULT_THRESHOLD as LARGE_N_THRESHOLD


def materialized_kernel_matvec(K):
    return DenseOperator(jnp.asarray(K))


def wasserstein1_weighted(x, wx, y, wy=None):
    return wasserstein1(x, y, weights_a=wx, weights_b=wy)


def _wishart_spiked(n=1000, d=400, spikes=(6.0, 4.0), seed=0):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, d))
    K = G @ G.T / d
    U, _ = np.linalg.qr(rng.standard_normal((n, len(spikes))))
    K = K + U @ np.diag(spikes) @ U.T
    return 0.5 * (K + K.T)


@pytest.fixture(scope="module")
def wishart():
    K = _wishart_spiked()
    ev, U = np.linalg.eigh(K)
    return K, ev, U


# --------------------------------------------------------------------------- Lanczos
def test_lanczos_krylov_relations(wishart):
    K, ev, _ = wishart
    n, k = K.shape[0], 30
    res = lanczos(materialized_kernel_matvec(K), n, k, jax.random.PRNGKey(0), return_basis=True)
    Q = np.asarray(res.basis)
    # full reorthogonalisation: Q orthonormal to roundoff
    assert np.abs(Q @ Q.T - np.eye(k)).max() < 1e-12
    # T_k = Q K Q^T computed densely by numpy
    T = np.asarray(tridiagonal(res.alpha, res.beta))
    assert np.abs(Q @ K @ Q.T - T).max() < 1e-10 * ev[-1]
    # q_0 is the normalised Rademacher start
    v = np.asarray(rademacher(jax.random.PRNGKey(0), (n,)))
    assert np.allclose(Q[0], v / np.linalg.norm(v), atol=1e-14)


def test_lanczos_without_reorth_matches_early_steps(wishart):
    K, ev, _ = wishart
    n = K.shape[0]
    a = lanczos(materialized_kernel_matvec(K), n, 8, jax.random.PRNGKey(1), reorth=True)
    b = lanczos(materialized_kernel_matvec(K), n, 8, jax.random.PRNGKey(1), reorth=False)
    # orthogonality is lost only gradually (after Ritz values converge): the first steps agree
    np.testing.assert_allclose(np.asarray(b.alpha), np.asarray(a.alpha), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(b.beta), np.asarray(a.beta), rtol=1e-8)


def test_gauss_rule_is_exact_for_polynomials(wishart):
    K, ev, _ = wishart
    n, k = K.shape[0], 12
    Ks = K / ev[-1]  # scale so moments are O(1)
    v = np.asarray(rademacher(jax.random.PRNGKey(2), (n,)))
    res = lanczos(materialized_kernel_matvec(Ks), n, k, v0=jnp.asarray(v))
    theta, tau = map(np.asarray, gauss_quadrature(res.alpha, res.beta))
    assert abs(tau.sum() - 1) < 1e-12
    w = v.copy()
    for j in range(2 * k):  # degree <= 2k-1 exact
        exact = v @ w / (v @ v)
        assert abs(np.sum(tau * theta ** j) - exact) < 1e-10 * max(abs(exact), 1e-3), j
        w = Ks @ w


def test_breakdown_low_rank_gives_exact_measure():
    # 5 distinct eigenvalues (with multiplicity): the Krylov space has dimension 5, so
    # k = 12 steps break down; the Gauss rule must still be the exact probe measure.
    rng = np.random.default_rng(3)
    n = 200
    lam = np.repeat([0.0, 0.5, 1.0, 2.0, 7.0], 40)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    K = (U * lam) @ U.T
    v = np.asarray(rademacher(jax.random.PRNGKey(4), (n,)))
    res = lanczos(materialized_kernel_matvec(K), n, 12, v0=jnp.asarray(v))
    theta, tau = map(np.asarray, gauss_quadrature(res.alpha, res.beta))
    assert np.all(np.isfinite(theta)) and np.all(np.isfinite(tau))
    pw = (U.T @ v) ** 2 / n
    assert wasserstein1_weighted(theta, tau, lam, pw) < 1e-8


def test_lanczos_validates_input():
    mv = Partial(lambda v: v)
    with pytest.raises(ValueError, match="k_steps"):
        lanczos(mv, 10, 11, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="n"):
        lanczos(mv, 0, 1, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="v0"):
        lanczos(mv, 10, 3, v0=jnp.ones(9))
    with pytest.raises(ValueError, match="operator"):
        lanczos("K", 3, 2, jax.random.PRNGKey(0))
    # an array is an operator too: the same run as through its DenseOperator
    a = lanczos(np.diag([1.0, 2.0, 3.0]), 3, 2, jax.random.PRNGKey(0))
    b = lanczos(materialized_kernel_matvec(np.diag([1.0, 2.0, 3.0])), 3, 2, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(a.alpha), np.asarray(b.alpha))


def test_lanczos_is_jittable():
    K = _wishart_spiked(n=200, d=80)
    op = materialized_kernel_matvec(K)
    f = jax.jit(lambda op, v: lanczos(op, 200, 10, v0=v).alpha)
    v = rademacher(jax.random.PRNGKey(0), (200,))
    np.testing.assert_allclose(np.asarray(f(op, v)),
                               np.asarray(lanczos(op, 200, 10, v0=v).alpha), rtol=1e-12)


# --------------------------------------------------------------------------- SLQ
@pytest.mark.parametrize("reorth", [True, False])
def test_slq_quadrature_per_probe_and_total_w1(wishart, reorth):
    # reorth=False (the SLQ default): the Gauss rule of the finite-precision recurrence must
    # satisfy the same bounds (loss of orthogonality only duplicates converged Ritz values)
    K, ev, U = wishart
    n, m, k = K.shape[0], 16, 60
    key = jax.random.PRNGKey(5)
    nodes, weights = map(np.asarray, slq_quadrature(materialized_kernel_matvec(K), n, key,
                                                    num_probes=m, num_steps=k, reorth=reorth))
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-12)
    width = ev[-1] - ev[0]
    # per probe: Gauss rule vs the exact probe measure sum_i (u_i.v)^2/n delta(lambda_i)
    V = np.asarray(rademacher(key, (m, n)))
    pw = (V @ U) ** 2 / n
    jackson = np.pi * width / (4 * k)
    for i in range(m):
        assert wasserstein1_weighted(nodes[i], weights[i], ev, pw[i]) <= jackson
    # averaged measure vs the uniform eigenvalue measure: Jackson + Hutchinson bounds
    total = wasserstein1_weighted(nodes.ravel(), weights.ravel() / m, ev)
    assert total <= jackson + width * np.sqrt(2 / (n * m))


def test_slq_density_recovers_spikes_and_point_mass(wishart):
    K, ev, _ = wishart
    n = K.shape[0]
    r = slq_density(materialized_kernel_matvec(K), n, jax.random.PRNGKey(6), num_probes=10,
                    num_steps=60)
    assert r.method == "slq" and abs(r.weights.sum() - 1) < 1e-12
    # the two spikes are isolated, so every probe's top Ritz values converge to them
    top = np.sort(r.nodes)[::-1]
    assert np.abs(top[0] - ev[-1]) / ev[-1] < 1e-8
    # the n - d = 600 zero eigenvalues: SLQ mass at |x| < 1e-6 estimates 600/1000 within
    # the Hutchinson std sqrt(2 * 0.6 / (n m)) = 0.011 (tolerance 4 sigma)
    mass0 = r.weights[np.abs(r.nodes) < 1e-6].sum()
    assert abs(mass0 - 0.6) < 4 * np.sqrt(2 * 0.6 / (n * 10))
    # the plotting density integrates to ~1 over its grid
    assert abs(np.trapezoid(r.density, r.grid) - 1) < 1e-2


def test_wasserstein1_weighted_matches_scipy():
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=50), rng.normal(1, 2, size=80)
    wx, wy = rng.random(50), rng.random(80)
    assert abs(wasserstein1_weighted(x, wx, y, wy) - wasserstein_distance(x, y, wx, wy)) < 1e-12
    assert abs(wasserstein1_weighted(x, np.ones(50), y) - wasserstein_distance(x, y)) < 1e-12


# --------------------------------------------------------------------------- KPM
def test_jackson_kernel_closed_form_values():
    g = jackson_kernel(10)
    assert abs(g[0] - 1) < 1e-14 and np.all(np.diff(g) < 0) and g[-1] > 0


def test_kpm_moments_match_dense_chebyshev(wishart):
    K, ev, _ = wishart
    n, N, m = K.shape[0], 41, 4
    lo, hi = -0.5, ev[-1] * 1.05
    key = jax.random.PRNGKey(8)
    mu = kpm_moments(materialized_kernel_matvec(K), n, key, num_moments=N, num_probes=m,
                     bounds=(lo, hi))
    # independent: the Chebyshev three-term recursion on the dense scaled matrix, same probes
    A = (K - 0.5 * (lo + hi) * np.eye(n)) / (0.5 * (hi - lo))
    V = np.asarray(rademacher(key, (m, n))).T
    t0, t1 = V, A @ V
    ref = [np.sum(V * t0) / (n * m), np.sum(V * t1) / (n * m)]
    for _ in range(2, N):
        t0, t1 = t1, 2 * A @ t1 - t0
        ref.append(np.sum(V * t1) / (n * m))
    np.testing.assert_allclose(mu, ref, atol=1e-10)


def test_kpm_w1_exact_moments_and_stochastic(wishart):
    K, ev, _ = wishart
    n, N, m = K.shape[0], 300, 16
    op = materialized_kernel_matvec(K)
    lo, hi = estimate_spectral_bounds(op, n, jax.random.PRNGKey(9))
    assert lo <= ev[0] and hi >= ev[-1]
    h = 0.5 * (hi - lo)
    # exact moments (from the eigenvalues): only the Jackson smoothing error, <= pi h / N
    t = (ev - 0.5 * (lo + hi)) / h
    mu_exact = np.cos(np.outer(np.arange(N), np.arccos(t))).mean(1)
    assert kpm_wasserstein1(mu_exact, (lo, hi), ev) <= np.pi * h / N
    # CDF / pdf consistency: F is the integral of rho
    x = np.linspace(lo, hi, 20001)
    F = kpm_cdf(mu_exact, (lo, hi), x)
    assert abs(F[0]) < 1e-12 and abs(F[-1] - 1) < 1e-12
    rho = kpm_pdf(mu_exact, (lo, hi), x[1:-1])
    Fi = np.concatenate([[0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x[1:-1]))])
    assert np.abs(Fi - (F[1:-1] - F[1])).max() < 2e-3  # trapezoid error near the 1/sqrt edges
    # stochastic: + Hutchinson term
    r = kpm_density(op, n, jax.random.PRNGKey(10), num_moments=N, num_probes=m, bounds=(lo, hi))
    w = kpm_wasserstein1(r.info["moments"], (lo, hi), ev)
    assert w <= np.pi * h / N + 2 * h * np.sqrt(2 / (n * m))
    # the atomic version (cells) agrees with the CDF integral up to the cell width
    assert abs(wasserstein1_weighted(r.nodes, r.weights, ev) - w) <= 2 * h / len(r.nodes) + 1e-3


# --------------------------------------------------------------------------- eigenpairs
@pytest.mark.parametrize("method,rtol", [("lanczos", 1e-10), ("lobpcg", 1e-6)])
def test_top_eigenpairs_spikes_and_vectors(wishart, method, rtol):
    # Lanczos: isolated spikes converge geometrically; 80 steps reach roundoff (1e-10).
    # LOBPCG (jax.experimental) stops at its default tolerance: 1e-6 relative.
    K, ev, U = wishart
    n = K.shape[0]
    r = top_eigenpairs(materialized_kernel_matvec(K), n, 2, jax.random.PRNGKey(11), method=method)
    vals, vecs = np.asarray(r.values), np.asarray(r.vectors)
    np.testing.assert_allclose(vals, ev[::-1][:2], rtol=rtol)
    align = np.abs(np.sum(vecs * U[:, ::-1][:, :2], 0))
    assert np.all(align > 1 - 10 * rtol)
    # residual certificate is consistent: ||K u - theta u|| computed by numpy
    res = np.linalg.norm(K @ vecs - vecs * vals, axis=0)
    np.testing.assert_allclose(np.asarray(r.residuals), res, atol=1e-10 * ev[-1])


def test_top_eigenpairs_smallest_and_errors(wishart):
    K, ev, _ = wishart
    n = K.shape[0]
    # smallest of a shifted matrix whose bottom is isolated: -K has spikes at the bottom
    r = top_eigenpairs(materialized_kernel_matvec(-K), n, 1, jax.random.PRNGKey(12),
                       which="smallest")
    assert abs(float(r.values[0]) + ev[-1]) < 1e-10 * ev[-1]
    with pytest.raises(ValueError, match="k"):
        top_eigenpairs(materialized_kernel_matvec(K), n, n + 1, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="method"):
        top_eigenpairs(materialized_kernel_matvec(K), n, 2, jax.random.PRNGKey(0), method="arpack")


# --------------------------------------------------------------------------- spectrum()
def test_spectrum_switches_at_threshold(wishart):
    K, ev, _ = wishart
    n = K.shape[0]
    assert LARGE_N_THRESHOLD == 4096
    d = spectrum(K)  # n = 1000 <= threshold: dense
    assert d.method == "dense"
    np.testing.assert_allclose(d.eigenvalues, ev, atol=1e-10 * ev[-1])
    s = spectrum(K, threshold=500, num_steps=60, num_probes=10, key=jax.random.PRNGKey(13))
    assert s.method == "slq" and s.eigenvalues is None
    width = ev[-1] - ev[0]
    assert wasserstein1_weighted(s.nodes, s.weights, ev) <= (np.pi * width / 240
                                                             + width * np.sqrt(2 / (n * 10)))
    # a matvec without n is refused; with n it works; a callable's dense path forms K
    op = materialized_kernel_matvec(K)
    with pytest.raises(ValueError, match="n"):
        spectrum(lambda v: K @ v)
    k = spectrum(op, method="kpm", num_moments=200, key=jax.random.PRNGKey(14))
    assert k.method == "kpm" and abs(k.weights.sum() - 1) < 1e-12
    small = _wishart_spiked(n=120, d=50)
    dd = spectrum(Partial(lambda v: jnp.asarray(small) @ v), 120, method="dense")
    np.testing.assert_allclose(dd.nodes, np.linalg.eigvalsh(small), atol=1e-10)
    with pytest.raises(ValueError, match="method"):
        spectrum(K, method="svd")
