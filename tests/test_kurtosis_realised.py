"""``kurtosis="realised"`` (ntkcomp.equivalents, beyond THEORY section 7): the weight
fourth-cumulant term with the realised ``sum_k x_ik^2 x_jk^2`` instead of its class-block
means ``T_diag / p``, plus the per-sample mean / variance shifts of the layer-1 features
(``kurtosis_shifts``) carried through the layers.

References (none calls ntkcomp.equivalents):
* the quadratic activation, whose expected CK is an exact polynomial in the moments of the
  weights up to order 4 (``kappa4`` enters exactly as ``kappa4 sum_k x_ik^2 x_jk^2`` off the
  diagonal and ``kappa4 sum_k x_ik^4`` on it), at L = 1 and, through the exact Gaussian
  layer-2 map of a quadratic layer, at L = 2;
* the cosine with Rademacher weights, whose expectations are exact products of cosines;
* the first-order Edgeworth map ``expected_layer_maps`` (bivariate closed forms and finite
  differences; a second implementation of the same expansion) for a step activation;
* a Monte Carlo average over 2^17 (n = 256) or 2^18 (n = 512, -m slow) sparse ternary
  first-layer neurons (ReLU; CK and NTK),
  and the exact Gaussian-weight kernels ``expected_kernels`` for the floor.
"""
import jax
import numpy as np
import pytest

from ntkcomp.data import GMM, gmm_preset
import ntkcomp.equivalents._realised as eq_realised
from ntkcomp.equivalents import ck_equivalent, coefficients, ntk_equivalent
from ntkcomp.equivalents._realised import kurtosis_shifts
from ntkcomp.kernels import expected_kernels
from ntkcomp.networks import MLP, weight_law
from ntkcomp.spectral import relative_operator_error
from ntkcomp.spectral import expected_layer_maps
from theory_checks.kurtosis_realised import mc_layer1  # Monte Carlo E_W[CK_1], E_W[NTK]


def _diag_cov_sample(n=256, p=256, seed=5):
    rng = np.random.default_rng(11)
    diag_covs = rng.uniform(0.3, 2.5, size=(2, p))      # T_diag != T
    means = np.zeros((2, p))
    means[1, :3] = 1.0
    return GMM(means, diag_covs).sample(jax.random.PRNGKey(seed), n)


def _quadratic_layer1(X, m1, k4):
    """Exact E_W[CK_1] (n, n) of sigma(t) = t^2 centred at m1, i.i.d. weights of unit
    variance and fourth cumulant k4: (|x_i|^2 - m1)(|x_j|^2 - m1) + 2 (x_i.x_j)^2
    + k4 sum_k x_ik^2 x_jk^2 for all i, j (moments of w up to order 4)."""
    Q = X ** 2
    nrm = np.sum(Q, 1) - m1
    return np.outer(nrm, nrm) + 2 * (X @ X.T) ** 2 + k4 * Q @ Q.T


def _offdiag(A):
    A = np.asarray(A)
    return A - np.diag(np.diag(A))


def test_realised_quadratic_kappa4_term_is_exact_off_the_diagonal():
    # sigma(t) = t^2 centred at tau0^2, L = 1, i.i.d. weights of unit variance and fourth
    # cumulant k4: E_w[(u^2 - m)(v^2 - m)] = (|x_i|^2 - m)(|x_j|^2 - m) + 2 (x_i.x_j)^2
    # + k4 sum_k x_ik^2 x_jk^2, exactly. With kurtosis="realised" the k4 part of the
    # equivalent is exact off the diagonal, so the equivalent's off-diagonal error is the
    # Gaussian-weight equivalent's error against the Gaussian-weight kernel, to rounding.
    s = _diag_cov_sample()
    X = np.asarray(s.X, dtype=np.float64)
    tau0 = float(s.stats.tau0)
    law = weight_law("sparse_ternary", eps=0.9)
    k4 = float(law.kappa4)
    net = MLP([64], ["quadratic"], weights=law, tau0=tau0)
    gauss = _quadratic_layer1(X, tau0 ** 2, 0.0)
    exact = _quadratic_layer1(X, tau0 ** 2, k4)
    K_r = np.asarray(ck_equivalent(net, s, kurtosis="realised"))
    K_t = np.asarray(ck_equivalent(net, s, kurtosis=True))
    K_0 = np.asarray(ck_equivalent(net, s, kurtosis=False))
    scale = np.abs(exact).max()
    np.testing.assert_allclose(_offdiag(K_r - exact) / scale, _offdiag(K_0 - gauss) / scale,
                               atol=1e-12)
    # the diagonal is the formula's (kurtosis=True) plus the variance shift, which is exact
    # here: E[(u^2 - m)^2] gains kappa4 sum_k x_ik^4 (E u^4 = 3 v^2 + kappa4 sum_k x_ik^4)
    np.testing.assert_allclose(np.diag(K_r), np.diag(K_t) + k4 * np.sum(X ** 4, 1), rtol=1e-12)
    # and the k4 term's class-block means were the larger part of kurtosis=True's error here
    assert relative_operator_error(K_r, exact) < relative_operator_error(K_t, exact)


def test_realised_quadratic_depth_two_exact():
    # Two quadratic layers, layer 1 sparse ternary, layer 2 Gaussian, infinite width: with
    # K1 the exact layer-1 kernel above, E[CK_2]_ij = (K1_ii - m2)(K1_jj - m2) + 2 K1_ij^2
    # for all i, j (Gaussian layer-2 weights). a1 = 0 for the quadratic, so THEORY's
    # correction vanishes at layer 2 (alpha_diag_2 = a1^2 alpha_diag_1 = 0) and the kurtosis
    # reaches layer 2 only through the layer-1 variance shift kappa4 sum_k x_ik^4. Measured:
    # realised 0.339 / 0.305 (eps = 0.9 / 0.95), kurtosis=True 0.477 / 0.679, the
    # Gaussian-weight network's own equivalent error 0.354 (its O(p^-1/2) floor).
    s = _diag_cov_sample()
    X = np.asarray(s.X, dtype=np.float64)
    tau0 = float(s.stats.tau0)

    def exact(net, k4):
        K1 = _quadratic_layer1(X, float(net.centers[0]), k4)
        d, m2 = np.diag(K1), float(net.centers[1])
        return np.outer(d - m2, d - m2) + 2 * K1 ** 2

    gnet = MLP([64, 64], ["quadratic"] * 2, weights="gaussian", tau0=tau0)
    floor = relative_operator_error(ck_equivalent(gnet, s, kurtosis="realised"), exact(gnet, 0))
    for eps in (0.9, 0.95):
        law = weight_law("sparse_ternary", eps=eps)
        net = MLP([64, 64], ["quadratic"] * 2, weights=[law, "gaussian"], tau0=tau0)
        K2 = exact(net, float(law.kappa4))
        err_r = relative_operator_error(ck_equivalent(net, s, kurtosis="realised"), K2)
        err_t = relative_operator_error(ck_equivalent(net, s, kurtosis=True), K2)
        assert err_r <= 1.1 * floor, (eps, err_r, floor)
        assert err_t > 1.3 * err_r, (eps, err_t, err_r)


def test_kurtosis_shifts_cosine_rademacher_exact():
    # Rademacher weights: E cos(w.x) = prod_k cos(x_k) and E cos(2 w.x) = prod_k cos(2 x_k)
    # exactly, so the mean shift and the variance shift of (cos(u) - c) are known in closed
    # form. Rows of norm tau0 = 1 (the shifts are evaluated at the common scale). The
    # first Edgeworth term leaves O(p^-2) of an O(p^-1) shift: relative error ~ 1/p.
    errs = []
    ps = (64, 128, 256)
    for p in ps:
        X = np.random.default_rng(1).standard_normal((50, p))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        net = MLP([8], ["cos"], weights="rademacher", tau0=1.0)
        c = float(net.centers[0])
        mu, delta = (np.asarray(a) for a in kurtosis_shifts(net, X, tau0=1.0))
        Ec, Ec2 = np.prod(np.cos(X), 1), np.prod(np.cos(2 * X), 1)
        ex_mu = Ec - np.exp(-0.5)
        second = lambda e1, e2: 0.5 + 0.5 * e2 - 2 * c * e1 + c * c   # E (cos u - c)^2
        ex_delta = second(Ec, Ec2) - second(np.exp(-0.5), np.exp(-2.0))
        errs.append((np.abs(mu - ex_mu).max() / np.abs(ex_mu).max(),
                     np.abs(delta - ex_delta).max() / np.abs(ex_delta).max()))
    errs = np.asarray(errs)
    assert errs[-1, 0] < 0.02 and errs[-1, 1] < 0.1, errs       # measured 0.008 / 0.065
    slopes = np.polyfit(np.log(ps), np.log(errs), 1)[0]
    assert np.all(slopes < -0.8), slopes                        # measured -0.98 / -0.85


def test_realised_gaussian_weights_change_nothing_and_matvec_agrees():
    # kappa4 = 0: the realised Gram's coefficient and both shifts vanish, so the equivalent
    # is kurtosis=False's exactly; with kappa4 != 0 the matrix-free products agree with the
    # dense matrices at every layer and for the NTK.
    s = _diag_cov_sample(n=96, p=64)
    v = np.random.default_rng(0).standard_normal((96, 2))
    for acts in (("relu",), ("relu", "tanh"), ("abs", "relu", "erf")):
        L = len(acts)
        gnet = MLP([48] * L, list(acts), weights="gaussian", tau0=float(s.stats.tau0))
        np.testing.assert_allclose(ck_equivalent(gnet, s, kurtosis="realised"),
                                   ck_equivalent(gnet, s), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ntk_equivalent(gnet, s, kurtosis="realised"),
                                   ntk_equivalent(gnet, s), rtol=1e-13, atol=1e-15)
        law = weight_law("sparse_ternary", eps=0.8)
        net = MLP([48] * L, list(acts), weights=[law] + ["gaussian"] * (L - 1),
                  tau0=float(s.stats.tau0))
        assert abs(float(coefficients(net, float(s.stats.tau0)).alpha_diag[1])) > 0
        for layer in range(L + 1):
            K = np.asarray(ck_equivalent(net, s, layer, kurtosis="realised"))
            np.testing.assert_allclose(
                np.asarray(ck_equivalent(net, s, layer, kurtosis="realised").matvec(v)), K @ v,
                rtol=1e-11, atol=1e-13 * np.abs(K).max())
        N = np.asarray(ntk_equivalent(net, s, kurtosis="realised"))
        np.testing.assert_allclose(
            np.asarray(ntk_equivalent(net, s, kurtosis="realised").matvec(v)), N @ v,
            rtol=1e-11, atol=1e-13 * np.abs(N).max())
        # diagonal="exact" replaces the whole diagonal by the exact per-sample one
        np.testing.assert_allclose(
            np.diag(ck_equivalent(net, s, kurtosis="realised", diagonal="exact")),
            np.diag(ck_equivalent(net, s, kurtosis=True, diagonal="exact")), rtol=1e-12)


def _relu_sparse_ternary_errors(n, p, log2_features):
    """ReLU, L = 1, sparse ternary eps = 0.95 (kappa4 = 17), 'mixed' preset: per kind, the
    Gaussian-weight equivalent's error against the exact Gaussian-weight kernel (the floor),
    the Monte Carlo noise, the realised equivalent's total error against the Monte Carlo
    E_W[K], and the errors of the kurtosis EFFECT ``E_W[K](sparse) - E_W[K](Gaussian)`` of
    the realised and of THEORY's (kurtosis=True) terms, as fractions of ||K||."""
    s = gmm_preset("mixed", p).sample(jax.random.PRNGKey(0), n)
    X = np.asarray(s.X, dtype=np.float64)
    tau0 = float(s.stats.tau0)
    law = weight_law("sparse_ternary", eps=0.95)
    net = MLP([n], ["relu"], weights=law, tau0=tau0)
    gnet = MLP([n], ["relu"], weights="gaussian", tau0=tau0)
    mc = mc_layer1(net, law, X, 2 ** log2_features)
    exact_g = expected_kernels(gnet, X)
    out = {}
    for kind, fn, exact in (("ck", ck_equivalent, exact_g["ck"][0]),
                            ("ntk", ntk_equivalent, exact_g["ntk"])):
        ref, exact = np.asarray(mc[kind]), np.asarray(exact)
        K_gauss = np.asarray(fn(gnet, s))
        K_real = np.asarray(fn(net, s, kurtosis="realised"))
        K_theory = np.asarray(fn(net, s, kurtosis=True))
        effect = ref - exact
        out[kind] = {
            "floor": relative_operator_error(K_gauss, exact),
            "noise": float(mc[f"{kind}_noise"]),
            "err_r": relative_operator_error(K_real, ref),
            "eff_r": relative_operator_error(K_real - K_gauss, effect) * _op(effect) / _op(ref),
            "eff_t": relative_operator_error(K_theory - K_gauss, effect) * _op(effect) / _op(ref),
        }
    return out


def test_realised_relu_sparse_ternary_beats_theory_small():
    # The fast version of the full-size check below (n = 256, p = 128, 2^17 neurons: the
    # Monte Carlo noise sqrt(n / N) is the same as at full size, the cost 8x smaller). At
    # this size kappa4 / p = 0.13 is twice as large, so the realised term's own higher-order
    # error is no longer below the noise; measured: floor CK 0.056 / NTK 0.053, noise 0.020
    # / 0.012, realised total 0.066 / 0.055, effect error realised 0.040 / 0.022 against
    # THEORY's 0.113 / 0.063. Asserted: the total error within the floor + 0.02 (the
    # universality check's margin) and THEORY's effect error > 2x the realised one (2.8x
    # measured; a realised term no better than THEORY's would fail both).
    errs = _relu_sparse_ternary_errors(256, 128, 17)
    for kind, e in errs.items():
        assert 0.01 < e["floor"] < 0.08, (kind, e)
        assert e["noise"] < 0.03, (kind, e)
        assert e["err_r"] <= e["floor"] + 0.02, (kind, e)
        assert e["eff_t"] > 2.0 * e["eff_r"], (kind, e)


@pytest.mark.slow   # Monte Carlo over 2^18 neurons at n = 512; fast version just above
def test_realised_relu_sparse_ternary_returns_to_the_gaussian_level_ck_and_ntk():
    # ReLU, L = 1, sparse ternary eps = 0.95 (kappa4 = 17, kappa4 / p = 0.066), n = 512,
    # p = 256, 'mixed', against a Monte Carlo over 2^18 sparse ternary first-layer neurons.
    # (1) Total error: the floor is the Gaussian-weight equivalent's own error against the
    # exact Gaussian-weight kernel (CK 0.042, NTK 0.038: its O(n^-1/2) error); measured
    # realised 0.040 / 0.035, tolerance the floor + 0.02 (the universality check's margin).
    # (2) The kurtosis EFFECT alone, E_W[K](sparse) - E_W[K](Gaussian), Monte Carlo minus
    # exact, against K~(realised) - K~(Gaussian weights): measured 0.020 / 0.011 of ||K||,
    # at the Monte Carlo noise (0.017 / 0.010, from two halves); THEORY's kurtosis=True
    # 0.069 / 0.038; the realised term without its covariance terms 0.040 / 0.024 -- whose
    # smaller TOTAL error (0.021 / 0.026) came from cancelling part of the Gaussian
    # equivalent's own per-sample-variance error, not from a better kurtosis term.
    # Tolerance: the noise + 0.01, and THEORY's effect error at least 2.5x the realised one.
    errs = _relu_sparse_ternary_errors(512, 256, 18)
    for kind, e in errs.items():
        assert 0.01 < e["floor"] < 0.05, (kind, e)
        assert e["noise"] < 0.02, (kind, e)
        assert e["err_r"] <= e["floor"] + 0.02, (kind, e)
        assert e["eff_r"] <= e["noise"] + 0.01, (kind, e)
        assert e["eff_t"] > 2.5 * e["eff_r"], (kind, e)


def _op(A):
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (A + A.T)))))


def test_realised_cubic_term_is_the_step_activations_kurtosis(monkeypatch):
    # A ternary step activation (thresholds -0.6 tau0, 0.8 tau0) has a2 ~ 0, so THEORY's
    # kappa4 T_diag term is ~0, but a3 = E[sigma^(3)] != 0: its first-order kurtosis term is
    # the kappa(u,u,u,v) = kappa4 sum_k x_ik^3 x_jk one (cubic_coefficient). Against the
    # exact first-order Edgeworth term F_1 - F_gauss (off the diagonal), the realised term
    # misses 0.165 of it (measured; 0.264 without the terms linear in c_ij and dv_i of
    # covariance_coefficients -- what is left is of higher order in c_ij, dv_i), without its
    # cubic part 1.09 and THEORY's 1.006.
    from theory_checks import _common as C

    s = C.sample("mixed", 512, seed=0)
    X = np.asarray(s.X)
    law = weight_law("sparse_ternary", eps=0.9)
    net = C.make_net("ternary", 1, s, weights=law)
    M = X @ X.T
    off = ~np.eye(512, dtype=bool)
    exact = np.where(off, expected_layer_maps(net)[0](M, X)
                     - expected_layer_maps(net, weight_kurtosis=False)[0](M), 0.0)
    K0 = np.asarray(ck_equivalent(net, s))

    def miss(K):
        return np.linalg.norm(np.where(off, K - K0, 0.0) - exact, 2) / np.linalg.norm(exact, 2)

    with_cubic = miss(np.asarray(ck_equivalent(net, s, kurtosis="realised")))
    theory = miss(np.asarray(ck_equivalent(net, s, kurtosis=True)))
    with monkeypatch.context() as m:
        m.setattr(eq_realised, "covariance_coefficients", lambda *a, **k: (0.0, 0.0, 0.0))
        no_cov = miss(np.asarray(ck_equivalent(net, s, kurtosis="realised")))
    monkeypatch.setattr(eq_realised, "cubic_coefficient", lambda *a, **k: 0.0)
    without = miss(np.asarray(ck_equivalent(net, s, kurtosis="realised")))
    assert with_cubic < 0.2, with_cubic
    assert no_cov > 0.22, no_cov
    assert without > 0.9 and theory > 0.9, (without, theory)
