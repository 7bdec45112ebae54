"""Large-n spectra (issue 7): KPM accuracy fixes, SLQ/KPM probe sharing, the large-n switch.

References are independent: the Gauss-rule exactness of SLQ for KPM's moments (two different
algorithms on the same probes), exact Chebyshev moments from numpy eigenvalues for the
Jackson smoothing error, dense numpy spectra for the large-n path of ``ntkcomp spectrum``.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.spectral import spectrum, wasserstein1
from ntkcomp.spectral._kpm import kpm_density, kpm_wasserstein1
from ntkcomp.spectral._lanczos import rademacher
from ntkcomp.spectral._operator import DenseOperator
from ntkcomp.spectral._slq import slq_quadrature


def materialized_kernel_matvec(K):
    return DenseOperator(jnp.asarray(K))


def wasserstein1_weighted(x, wx, y, wy=None):
    return wasserstein1(x, y, weights_a=wx, weights_b=wy)


def _wishart(n=600, d=240, spikes=(6.0, 4.0), seed=0):
    """``G G^T / d`` (n - d zero eigenvalues, a Marchenko-Pastur bulk) + two spikes."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, d))
    U, _ = np.linalg.qr(rng.standard_normal((n, len(spikes))))
    K = G @ G.T / d + U @ np.diag(spikes) @ U.T
    return 0.5 * (K + K.T)


@pytest.fixture(scope="module")
def spiked():
    K = _wishart()
    return K, np.linalg.eigvalsh(K)


def _chebyshev_moments_of(nodes, weights, bounds, N):
    c, h = 0.5 * (bounds[0] + bounds[1]), 0.5 * (bounds[1] - bounds[0])
    th = np.arccos(np.clip((np.ravel(nodes) - c) / h, -1, 1))
    return np.cos(np.outer(np.arange(N), th)) @ np.ravel(weights)


def test_slq_and_kpm_with_the_same_key_use_the_same_probes(spiked):
    # A k-step Gauss rule (full reorthogonalisation) integrates polynomials of degree <= 2k-1
    # exactly against the probe-weighted measure, so its Chebyshev moments of degree < 2k
    # must equal KPM's stochastic moments *if the probes are the same* (roundoff: 1e-9; with
    # different probes they would differ by the Hutchinson error ~ sqrt(2/(n m)) ~ 3e-2).
    K, ev = spiked
    n, m, k = K.shape[0], 4, 30
    key = jax.random.PRNGKey(21)
    bounds = (ev[0] - 0.1, ev[-1] + 0.1)
    op = materialized_kernel_matvec(K)
    nodes, weights = slq_quadrature(op, n, key, num_probes=m, num_steps=k, reorth=True)
    mu_slq = _chebyshev_moments_of(nodes, np.asarray(weights) / m, bounds, 2 * k)
    r = kpm_density(op, n, key, num_moments=2 * k, num_probes=m, bounds=bounds)
    np.testing.assert_allclose(r.info["moments"], mu_slq, atol=1e-9)
    # and the probes are the documented ones: Rademacher(key, (m, n))
    V = np.asarray(rademacher(key, (m, n)))
    A = (K - 0.5 * (bounds[0] + bounds[1]) * np.eye(n)) / (0.5 * (bounds[1] - bounds[0]))
    assert abs(r.info["moments"][1] - np.mean(np.sum(V * (V @ A), 1)) / n) < 1e-12


def test_tight_bounds_resolve_the_zero_point_mass():
    # Exact moments (no sampling): only Jackson smoothing. A point mass at t0 = cos(theta0)
    # is smeared over ~ (pi/N) sin(theta0) h; at the end of the interval with a relative
    # margin eps, sin(theta0) ~ sqrt(4 eps). 75 % zeros + bulk (the CK shape): a 10x tighter
    # margin must shrink W1 clearly (theory: the point-mass part by ~sqrt(10) = 3.2; the bulk
    # part is unchanged), and both stay below Jackson's bound pi h / N.
    rng = np.random.default_rng(3)
    n, d, N = 2000, 500, 300
    G = rng.standard_normal((n, d))
    lam = np.linalg.eigvalsh(G.T @ G / d)
    ev = np.sort(np.concatenate([np.zeros(n - d), np.maximum(lam, 0)]))
    w = ev[-1] - ev[0]
    out = {}
    for margin in (1e-2, 1e-3):
        b = (ev[0] - margin * w, ev[-1] + margin * w)
        mu = _chebyshev_moments_of(ev, np.full(n, 1 / n), b, N)
        out[margin] = kpm_wasserstein1(mu, b, ev, num_points=50_001)
        assert out[margin] <= np.pi * 0.5 * (b[1] - b[0]) / N
    assert out[1e-3] < 0.6 * out[1e-2], out


def test_kpm_density_default_bounds_contain_spectrum_and_meet_error_budget(spiked):
    # default bounds (Lanczos, 0.1 % margin) contain the spectrum (no warning) and the W1 is
    # within Jackson + Hutchinson: pi h / N + (b - a) sqrt(2 / (n m)) (see test_slq_kpm.py)
    K, ev = spiked
    n, N, m = K.shape[0], 300, 16
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = kpm_density(materialized_kernel_matvec(K), n, jax.random.PRNGKey(5),
                        num_moments=N, num_probes=m)
    lo, hi = r.info["bounds"]
    assert lo <= ev[0] and hi >= ev[-1]
    assert hi - lo <= (ev[-1] - ev[0]) * 1.01  # tight: the 0.1 % margin + Ritz residuals
    w = kpm_wasserstein1(r.info["moments"], (lo, hi), ev)
    assert w <= np.pi * 0.5 * (hi - lo) / N + (hi - lo) * np.sqrt(2 / (n * m))


def test_kpm_density_recovers_when_lanczos_bounds_are_too_tight(spiked):
    # 2 Lanczos steps cannot find the spikes at ~6 and ~4: the spectrum leaks out of the
    # Chebyshev interval, |mu_k| explodes; kpm_density must notice, warn, re-estimate the
    # bounds and end with a valid measure (moments bounded by 1, W1 within the budget).
    K, ev = spiked
    n, N, m = K.shape[0], 200, 8
    op = materialized_kernel_matvec(K)
    with pytest.warns(RuntimeWarning, match="re-estimating"):
        r = kpm_density(op, n, jax.random.PRNGKey(6), num_moments=N, num_probes=m,
                        bound_steps=2, bound_margin=1e-4)
    lo, hi = r.info["bounds"]
    assert lo <= ev[0] and hi >= ev[-1]
    assert np.max(np.abs(r.info["moments"])) <= 1 + 1e-6
    w = kpm_wasserstein1(r.info["moments"], (lo, hi), ev)
    assert w <= np.pi * 0.5 * (hi - lo) / N + (hi - lo) * np.sqrt(2 / (n * m))
    with pytest.raises(ValueError, match="bound_margin"):
        kpm_density(op, n, jax.random.PRNGKey(6), num_moments=N, bound_margin=0.0)


def test_spectrum_threshold_is_read_at_call_time(spiked, monkeypatch):
    K, ev = spiked
    n = K.shape[0]
    assert spectrum(K).method == "dense"
    monkeypatch.setenv("NTKCOMP_LARGE_N_THRESHOLD", str(n - 1))
    s = spectrum(K, num_steps=60, num_probes=8, key=jax.random.PRNGKey(7))
    assert s.method == "slq"
    width = ev[-1] - ev[0]
    # Gauss rule + Hutchinson bound (see test_slq_kpm.py)
    assert wasserstein1_weighted(s.nodes, s.weights, ev) <= (np.pi * width / 240
                                                             + width * np.sqrt(2 / (n * 8)))
    with pytest.raises(ValueError, match="threshold"):
        spectrum(K, threshold=0)


def test_threshold_environment_variable(monkeypatch):
    from ntkcomp.spectral._spectrum import DEFAULT_THRESHOLD, default_threshold

    monkeypatch.delenv("NTKCOMP_LARGE_N_THRESHOLD", raising=False)
    assert default_threshold() == DEFAULT_THRESHOLD == 4096
    monkeypatch.setenv("NTKCOMP_LARGE_N_THRESHOLD", "123")
    assert default_threshold() == 123
    monkeypatch.setenv("NTKCOMP_LARGE_N_THRESHOLD", "lots")
    with pytest.raises(ValueError, match="NTKCOMP_LARGE_N_THRESHOLD"):
        spectrum(np.eye(3))


def test_spectrum_command_pipeline_switches_to_large_n_path_above_threshold(monkeypatch):
    # the function behind `ntkcomp spectrum` (experiments_lib.definitions.spectral_equivalence)
    # with the threshold lowered below n: the NTK goes to SLQ, the CK (Gram of width 32 < n)
    # to the exact D x D Gram route; with the default threshold both are dense. References:
    # the dense eigenvalues of the same run. CK: exact up to roundoff (1e-9 of the top
    # eigenvalue); NTK: the Gauss + Hutchinson bound (20 probes, 100 steps: the defaults).
    from experiments.harness.definitions import spectral_equivalence

    cfg = {"data": "means", "n": 96, "p": 16, "K": 2, "widths": [32, 32],
           "activations": ["relu"], "kinds": ["ck", "ntk"], "exact": False, "seed": 0}
    dense = spectral_equivalence(cfg)
    assert dense["ck"]["method"] == "dense" and dense["ntk"]["method"] == "dense"
    monkeypatch.setenv("NTKCOMP_LARGE_N_THRESHOLD", "64")
    large = spectral_equivalence(cfg)
    assert large["large_n_threshold"] == 64
    assert large["ck"]["method"] == "gram" and large["ntk"]["method"] == "slq"
    a, d = large["_arrays"], dense["_arrays"]
    ev_ck = np.sort(np.asarray(d["ck_single"]))
    np.testing.assert_allclose(np.sort(a["ck_single"]), ev_ck, atol=1e-9 * ev_ck[-1])
    ev = np.sort(np.asarray(d["ntk_single"]))
    width = ev[-1] - ev[0]
    w1 = wasserstein1_weighted(a["ntk_single"], a["ntk_single_w"], ev)
    assert w1 <= np.pi * width / 400 + width * np.sqrt(2 / (96 * 20))


def test_gram_spectrum_is_exact_and_chosen_automatically():
    # CK-type operator F F^T with F = [G_1, G_2] (n = 200, D = 30 + 20): eigenvalues equal
    # numpy's eigvalsh of the dense n x n matrix (independent), float64 roundoff 1e-10.
    from ntkcomp.kernels._operators import FactorKernel

    rng = np.random.default_rng(8)
    n = 200
    G1, G2 = rng.standard_normal((n, 30)), rng.standard_normal((n, 20))
    op = FactorKernel(grams=(G1, G2))
    ref = np.linalg.eigvalsh(G1 @ G1.T + G2 @ G2.T)
    r = spectrum(op, threshold=100)
    assert r.method == "gram" and r.info["gram_width"] == 50
    np.testing.assert_allclose(r.eigenvalues, ref, atol=1e-10 * ref[-1])
    assert spectrum(op, threshold=400).method == "dense"
    # D >= n: no saving, the SLQ path; wide Gram D > n handled exactly when asked for
    wide = FactorKernel(grams=(rng.standard_normal((60, 80)),))
    assert spectrum(wide, threshold=50, num_steps=20, num_probes=2).method == "slq"
    Fw = np.asarray(wide.grams[0])
    np.testing.assert_allclose(spectrum(wide, method="gram").nodes, np.linalg.eigvalsh(Fw @ Fw.T),
                               atol=1e-10 * np.linalg.norm(Fw) ** 2)
    with pytest.raises(ValueError, match="gram"):
        spectrum(materialized_kernel_matvec(np.eye(4)), method="gram")
