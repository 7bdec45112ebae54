"""The compounded random-features law (ntkcomp.spectral.compounded_random_features_spectrum): THEORY
section 6 for deep networks. References: exact E_W kernels (expected_kernels), the one-layer
law (random_features_spectrum), a closed form for linear networks, and Monte Carlo over
independent network draws."""
import jax
import numpy as np
import pytest

import ntkcomp

ntkcomp.enable_x64()

from ntkcomp.activations import get  # noqa: E402 (after enable_x64)
from ntkcomp.kernels import expected_kernels  # noqa: E402
from ntkcomp.networks import MLP  # noqa: E402
from ntkcomp.spectral import random_features_spectrum, wasserstein1  # noqa: E402
from ntkcomp.spectral import (  # noqa: E402
    compounded_random_features_spectrum,
    expected_layer_maps,
)
from ntkcomp.spectral._random_features_depth import gaussian_features_gram  # noqa: E402


def _data(n, p, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, p)) / np.sqrt(p)
    return X, float(np.sqrt(np.mean(np.sum(X ** 2, 1))))


def _stack(name, L, tau0):
    """Step activations with thresholds proportional to each layer's input scale (the
    convention of theory_checks._common.STEP_THRESHOLDS); others as registered."""
    from ntkcomp.activations import moments

    if name != "ternary":
        return [get(name)] * L
    acts, tau = [], tau0
    for _ in range(L):
        a = get("ternary", s1=-0.6 * tau, s2=0.8 * tau, b_neg=1.0, b_pos=1.0)
        acts.append(a)
        tau = float(np.sqrt(moments(a, tau).var))
    return acts


def _draw_spectra(net, X, draws, seed0):
    out = []
    for r in range(draws):
        h = np.asarray(net.features(net.init(jax.random.PRNGKey(seed0 + r), X.shape[1]),
                                    X)[-1])
        out.append(np.linalg.eigvalsh(h @ h.T))
    return np.array(out)


@pytest.mark.parametrize("act", ["ternary", "erf", "relu"])
def test_layer_maps_compose_to_expected_kernels(act):
    # F_3(F_2(F_1(X X^T))) must be E_W[CK_3] of expected_kernels (same bivariate
    # expectations, composed on explicit Gram matrices): agreement to rounding (1e-12).
    X, tau0 = _data(40, 20)
    net = MLP([16, 16, 16], _stack(act, 3, tau0), tau0=tau0)
    E = expected_kernels(net, X)["ck"]
    M = X @ X.T
    for l, F in enumerate(expected_layer_maps(net)):
        M = F(M)
        np.testing.assert_allclose(M, np.asarray(E[l]), rtol=0, atol=1e-12)


def test_one_layer_reduces_to_random_features_law():
    # at L = 1 the compounded law is the one-layer law of THEORY section 6 with population
    # F_1(X X^T) = E_W[CK_1]: identical draws for the same key (exact equality)
    X, tau0 = _data(50, 25)
    net = MLP([30], _stack("ternary", 1, tau0), tau0=tau0)
    E1 = np.asarray(expected_kernels(net, X)["ck"][0])
    got = compounded_random_features_spectrum(X @ X.T, expected_layer_maps(net), [30],
                                              key=3, draws=2)
    ref = random_features_spectrum(E1, 30, key=3, draws=2)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13)


def test_linear_network_second_moment_closed_form():
    # Linear activation, Gaussian weights: the compounded law is the exact law of CK_2
    # (conditionally on layer 1 the features are exactly Gaussian). Closed form with
    # Wishart moments (t1 = tr K0, t2 = tr K0^2):
    #   E tr M_1^2 = (1 + 1/d) t2 + t1^2 / d,  E (tr M_1)^2 = t1^2 + 2 t2 / d,
    #   E tr M_2^2 = (1 + 1/d) E tr M_1^2 + E (tr M_1)^2 / d.
    # Both the compounded law and real network draws must match it within 4 standard
    # errors (Monte Carlo, 200 draws each: a false failure has probability < 1e-4); the
    # one-layer law (population E_W[CK_2] = K0) predicts E tr M^2 = E tr M_1^2, which is
    # many standard errors away (asserted, so the test discriminates the two laws).
    n, p, d, R = 48, 24, 32, 200
    X, _ = _data(n, p, seed=1)
    K0 = X @ X.T
    net = MLP([d, d], [get("polynomial")] * 2, tau0=1.0)   # identity, centre 0
    t1, t2 = np.trace(K0), np.trace(K0 @ K0)
    one = (1 + 1 / d) * t2 + t1 ** 2 / d
    two = (1 + 1 / d) * one + (t1 ** 2 + 2 * t2 / d) / d
    comp = (compounded_random_features_spectrum(K0, expected_layer_maps(net), [d, d], key=5,
                                                draws=R) ** 2).sum(1)
    draws = (_draw_spectra(net, X, R, 100) ** 2).sum(1)
    for s in (comp, draws):
        se = s.std(ddof=1) / np.sqrt(R)
        assert abs(s.mean() - two) <= 4 * se, (s.mean(), two, se)
        assert abs(s.mean() - one) > 8 * se       # the one-layer law is rejected


@pytest.mark.parametrize("act,ratio_max", [("ternary", 0.35), ("relu", 0.5)])
def test_compounded_law_matches_deep_draws(act, ratio_max):
    # L = 2, n = 64, d = 64: pooled spectra of 60 network draws vs 60 samples of each law,
    # W1 relative to the mean eigenvalue. The one-layer law (population E_W[CK_2]) misses
    # the first layer's spread (measured 0.13-0.18 here); the compounded law removes most of
    # it. Its residual is the non-Gaussian fourth moment of the hidden features (the
    # surrogate is Gaussian), a 1/d effect that pooling makes visible: measured ratio
    # W1(comp) / W1(one-layer) 0.08 (ternary), 0.24 (ReLU) with 150 draws, 0.11 / 0.21
    # with these 60. Bounds 0.35 / 0.5 leave room for the sampling noise of 60 draws (null
    # W1 between two sets of network draws ~0.01, i.e. < 0.1 in ratio units); the one-layer
    # W1 is asserted large (> 0.08) so that the comparison discriminates the two laws.
    n, p, d, R = 64, 32, 64, 60
    X, tau0 = _data(n, p, seed=2)
    net = MLP([d, d], _stack(act, 2, tau0), tau0=tau0)
    E = np.asarray(expected_kernels(net, X)["ck"][-1])
    scale = float(np.mean(np.diag(E)))
    nets = _draw_spectra(net, X, R, 500).ravel()
    comp = compounded_random_features_spectrum(X @ X.T, expected_layer_maps(net), [d, d],
                                               key=11, draws=R).ravel()
    one = random_features_spectrum(E, d, key=12, draws=R).ravel()
    w_comp = wasserstein1(np.sort(nets), np.sort(comp)) / scale
    w_one = wasserstein1(np.sort(nets), np.sort(one)) / scale
    assert w_one > 0.08, w_one
    assert w_comp <= ratio_max * w_one, (w_comp, w_one)


def test_gaussian_features_gram_mean():
    # E[P^{1/2} G G^T P^{1/2} / d] = P: Monte Carlo mean of 400 samples, entries within
    # 5 standard errors (entrywise variance (P_ii P_jj + P_ij^2) / d per sample)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    P = A @ A.T / 6
    d, R = 10, 400
    S = np.array([gaussian_features_gram(P, d, rng) for _ in range(R)])
    se = np.sqrt((np.outer(np.diag(P), np.diag(P)) + P ** 2) / d / R)
    assert np.all(np.abs(S.mean(0) - P) <= 5 * se)


def test_bad_inputs():
    X, tau0 = _data(20, 10)
    maps = expected_layer_maps(MLP([8, 8], [get("erf")] * 2, tau0=tau0))
    with pytest.raises(ValueError, match="widths"):
        compounded_random_features_spectrum(X @ X.T, maps, [8], key=0)
    with pytest.raises(ValueError, match="widths"):
        compounded_random_features_spectrum(X @ X.T, maps, [8, 0], key=0)
    with pytest.raises(ValueError, match="layer_maps"):
        compounded_random_features_spectrum(X @ X.T, [], [], key=0)
    with pytest.raises(ValueError, match="draws"):
        compounded_random_features_spectrum(X @ X.T, maps, [8, 8], key=0, draws=0)
    with pytest.raises(ValueError, match="K0"):
        compounded_random_features_spectrum(np.ones((3, 4)), maps, [8, 8], key=0)
    with pytest.raises(ValueError, match="M must have a positive diagonal"):
        maps[0](np.zeros((3, 3)))


def test_predicted_single_draw_compounded_at_depth_one_is_the_exact_ck1_law():
    """``predicted_single_draw(law="compounded")`` at L = 1 must be W1 between one-layer
    random-features samples of the two networks' exact E_W[CK_1] (expected_kernels, an
    independent computation of the maps), same key: equal to rounding."""
    from experiments.compression import design_activations, predicted_single_draw
    from ntkcomp.compress import assess
    from ntkcomp.data import gmm_preset
    from ntkcomp.networks import weight_law

    n, p, d, seed = 48, 24, 64, 2
    pr = predicted_single_draw("relu", [d], n=n, p=p, depth=1, eps_grid=(0.0, 0.9),
                               seed=seed, k_max=3, law="both")
    sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(seed), n)
    X, tau0 = np.asarray(sample.X), float(sample.stats.tau0)
    dense = MLP([d], "relu", tau0=tau0)
    acts, _ = design_activations("relu", 1, tau0, "ck", "ternary", 3, seed)
    key = jax.random.PRNGKey(seed + 7)
    rf_d = random_features_spectrum(np.asarray(expected_kernels(dense, X)["ck"][0]), d, key)[0]
    for row, e in zip(pr["rows"], (0.0, 0.9)):
        comp = MLP([d], acts, weights=weight_law("sparse_ternary", eps=e), tau0=tau0)
        delta = float(assess(dense, comp, tau0).coefficients.delta_ck[-1])
        rf_c = random_features_spectrum(np.asarray(expected_kernels(comp, X)["ck"][0]), d,
                                        key)[0]
        want = float(wasserstein1(rf_c - delta, rf_d)) / float(np.mean(rf_d))
        assert row["ck_w1_rel_predicted_compounded"] == pytest.approx(want, rel=1e-8)
        assert "ck_w1_rel_predicted" in row        # law="both" keeps the one-layer column
    with pytest.raises(ValueError, match="law"):
        predicted_single_draw("relu", [d], n=n, p=p, depth=1, law="two_layer")


@pytest.mark.slow   # a three-layer design (minutes of solver and map compilations); the
# compounded prediction at depth 2 is checked in the default suite by
# tests/test_compress_cli_kurtosis_single_draw.py::
# test_single_draw_point_compounded_law_equals_predicted_single_draw
def test_predicted_single_draw_compounded_at_depth_three_is_finite():
    """At L = 3 the compounded prediction exists for every eps and is finite and
    non-negative; ``law="compounded"`` drops the one-layer column."""
    from experiments.compression import predicted_single_draw

    n, p, d, seed = 48, 24, 64, 2
    deep = predicted_single_draw("tanh", [d], n=n, p=p, depth=3, eps_grid=(0.5,), seed=seed,
                                 k_max=3, law="compounded")
    v = deep["rows"][0]["ck_w1_rel_predicted_compounded"]
    assert np.isfinite(v) and v >= 0 and "ck_w1_rel_predicted" not in deep["rows"][0]
