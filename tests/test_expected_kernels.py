"""expected_kernels (exact infinite-width E_W kernels) vs independent computations:
NumPy closed forms (arc-cosine / arcsine recursions written here from scratch), 2-D
Gauss-Hermite quadrature (tanh), and Monte Carlo averages of empirical kernels."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.activations import get
from ntkcomp.kernels import conjugate_kernels, empirical_ntk, expected_kernels, monte_carlo_kernels
from ntkcomp.networks import MLP


def _data(n=6, p=10, seed=0):
    return np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (n, p))) / math.sqrt(p)


# ----------------------------------------------------------------- independent references
def _relu_pair(v1, v2, c):
    """E[relu u relu v], E[1{u>0}1{v>0}], E[relu u], E[relu v] (Cho & Saul, by angle)."""
    s1, s2 = np.sqrt(v1), np.sqrt(v2)
    th = np.arccos(np.clip(c / np.sqrt(v1 * v2), -1.0, 1.0))  # exactly 0 when c = v1 = v2
    E = s1 * s2 * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    return E, (np.pi - th) / (2 * np.pi), s1 / np.sqrt(2 * np.pi), s2 / np.sqrt(2 * np.pi)


def _erf_pair(v1, v2, c):
    """Williams' arcsine kernel for erf and E[erf'(u) erf'(v)]; means are 0."""
    a = (1 + 2 * v1) * (1 + 2 * v2)
    E = 2 / np.pi * np.arcsin(2 * c / np.sqrt(a))
    dd = 4 / np.pi / np.sqrt(a - 4 * c ** 2)
    return E, dd, 0 * v1, 0 * v2


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(200)
_GH_W = _GH_W / _GH_W.sum()


def _tanh_pair(v1, v2, c):
    """2-D Gauss-Hermite quadrature (200^2 nodes; tanh is analytic in a strip, so the
    error decays geometrically in sqrt(nodes): ~1e-13 at variance 1.5 (checked against
    scipy quad), vs 1e-8 with 80 nodes)."""
    v1, v2, c = np.broadcast_arrays(v1, v2, c)
    s1, s2 = np.sqrt(v1)[..., None, None], np.sqrt(v2)[..., None, None]
    rho = np.clip(c / np.sqrt(v1 * v2), -1, 1)[..., None, None]
    x, y = _GH_X[:, None], _GH_X[None, :]
    u = s1 * x
    v = s2 * (rho * x + np.sqrt(1 - rho ** 2) * y)
    w = _GH_W[:, None] * _GH_W[None, :]
    E = (np.tanh(u) * np.tanh(v) * w).sum((-1, -2))
    dd = ((1 - np.tanh(u) ** 2) * (1 - np.tanh(v) ** 2) * w).sum((-1, -2))
    return E, dd, 0 * v1, 0 * v2


def _reference(pair, X, X2, L, centers):
    """Layer recursion of expected.py written independently in NumPy float64.

    When X2 is X the diagonal (rho = 1) is set from the exact one-point values: the
    kernels have a sqrt singularity at rho = 1, so an O(1e-16) rounding of rho there
    would move them by O(1e-8)."""
    symmetric = X2 is X
    C = X @ X2.T
    v1, v2 = (X ** 2).sum(1), (X2 ** 2).sum(1)
    theta = C.copy()
    cks = []
    for l in range(L):
        m = centers[l]
        E, dd, mu1, mu2 = pair(v1[:, None], v2[None, :], C)
        ck = E - m * (mu1 + mu2) + m ** 2
        E1, dd1, mu, _ = pair(v1, v1, v1)
        E2, _, mu_, _ = pair(v2, v2, v2)
        v1, v2 = E1 - 2 * m * mu + m ** 2, E2 - 2 * m * mu_ + m ** 2
        if symmetric:
            ck, dd = ck.copy(), dd.copy()
            np.fill_diagonal(ck, v1)
            np.fill_diagonal(dd, dd1)
        theta = ck + theta * dd
        C = ck
        cks.append(ck)
    return cks, theta


def _relu_centers(tau0, L):
    """m_l = tau_{l-1}/sqrt(2 pi), tau_l^2 = tau_{l-1}^2 (1/2 - 1/(2 pi))."""
    taus = [tau0 * math.sqrt(0.5 - 1 / (2 * math.pi)) ** l for l in range(L)]
    return [t / math.sqrt(2 * math.pi) for t in taus]


@pytest.mark.parametrize("name,center", [("relu", True), ("relu", False), ("erf", True),
                                         ("tanh", True)])
def test_expected_kernels_match_independent_recursion(name, center):
    """Closed forms (relu, erf): 1e-12 relative (float64 rounding through 3 layers and
    arccos/arcsin; the diagonal rho = 1 is taken exactly on both sides). tanh: the
    quadrature reference is accurate to ~1e-13 and bivariate's Mehler series to ~1e-10 for
    |rho| <= 0.9, so 1e-9."""
    L = 3
    X, X2 = _data(6), _data(4, seed=1)
    net = MLP([7] * L, name, tau0=1.0, center=center)
    pair = {"relu": _relu_pair, "erf": _erf_pair, "tanh": _tanh_pair}[name]
    centers = (_relu_centers(1.0, L) if center else [0.0] * L) if name == "relu" else [0.0] * L
    tol = 1e-9 if name == "tanh" else 1e-12
    for Y in (None, X2):
        E = expected_kernels(net, X, Y)
        cks, ntk = _reference(pair, X, X if Y is None else Y, L, centers)  # X2 is X: symmetric
        for a, b in zip(E["ck"], cks):
            np.testing.assert_allclose(np.asarray(a), b, rtol=0, atol=tol * np.abs(b).max())
        np.testing.assert_allclose(np.asarray(E["ntk"]), ntk, rtol=0, atol=tol * np.abs(ntk).max())


def test_relu_uncentred_diagonal_closed_form():
    """On the diagonal (rho = 1): CK_l(x,x) = ||x||^2 / 2^l and
    Theta_l = CK_l + Theta_{l-1} / 2 (kappa recursion with s = 1/2)."""
    X = _data(5)
    net = MLP([3, 3, 3], "relu", center=False)
    E = expected_kernels(net, X)
    v = (X ** 2).sum(1)
    theta = v.copy()
    for l in range(3):
        v = v / 2
        theta = v + theta / 2
        np.testing.assert_allclose(np.diag(np.asarray(E["ck"][l])), v, rtol=1e-13)
    np.testing.assert_allclose(np.diag(np.asarray(E["ntk"])), theta, rtol=1e-13)


def test_piecewise_constant_ntk_is_last_ck_and_cross_consistency():
    X, X2 = _data(5), _data(3, seed=2)
    net = MLP([4], get("binary", s1=-0.4, s2=0.5, b=1.0))
    E = expected_kernels(net, X)
    np.testing.assert_allclose(np.asarray(E["ntk"]), np.asarray(E["ck"][-1]), rtol=1e-14)
    # the cross kernel is the off-diagonal block of the kernel on the stacked data
    net2 = MLP([4, 4], ["relu", "erf"])
    full = expected_kernels(net2, np.concatenate([X, X2]))
    cross = expected_kernels(net2, X, X2)
    np.testing.assert_allclose(np.asarray(cross["ntk"]), np.asarray(full["ntk"])[:5, 5:],
                               rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="X2"):
        expected_kernels(net2, X, np.ones((2, 3)))
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="X must be finite"):
        expected_kernels(net2, bad)


# ----------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("name", ["relu", "erf"])
def test_monte_carlo_converges_at_inverse_sqrt_rate(name):
    """L = 1, Gaussian weights: each draw's CK_1 and NTK are *unbiased* for the E_W kernel
    (g = x @ W is exactly Gaussian), so MC error must be pure noise of size SE ~ 1/sqrt(D).
    Checks: (i) z = (MC - E)/SE satisfies mean z^2 ~ 1 (chi^2 over 8 replicates x 21
    entries; bounds [0.4, 2.2] are far outside its sampling range yet fail under a bias of
    ~1.2 SE); (ii) replicate mean squared error ratio MSE(D)/MSE(4D) ~ 4, bounds [2, 8];
    (iii) the SE itself halves from D to 4D (within 10%)."""
    X = _data(6)
    net = MLP([32], name)
    E = expected_kernels(net, X)
    iu = np.triu_indices(6)
    res = {}
    for D in (100, 400):
        z2, mse, se = [], [], []
        for r in range(8):
            mc = monte_carlo_kernels(net, X, jax.random.PRNGKey(1000 * D + r), D, progress=False)
            for est, s, ref in [(mc["ntk"], mc["ntk_se"], E["ntk"]),
                                (mc["ck"][0], mc["ck_se"][0], E["ck"][0])]:
                err = np.asarray(est - ref)[iu]
                z2.append((err / np.asarray(s)[iu]) ** 2)
                mse.append(err ** 2)
                se.append(np.asarray(s)[iu])
        res[D] = (np.mean(z2), np.mean(mse), np.mean(se))
    for D, (mz2, _, _) in res.items():
        assert 0.4 < mz2 < 2.2, (D, mz2)
    ratio = res[100][1] / res[400][1]
    assert 2.0 < ratio < 8.0, ratio
    assert abs(res[100][2] / res[400][2] - 2.0) < 0.2


def test_monte_carlo_deep_matches_expected_up_to_finite_width_bias():
    """L = 2 (checks the backward recursion P_{l-1} = P_l o dd_{l-1}): the finite-width
    mean differs from the limit by O(1/d) (THEORY.md section 6), so the tolerance is
    5 SE + 3/d relative to max|E|; at d = 512 and 100 draws both are ~1e-3..5e-3."""
    X = _data(5)
    d = 512
    net = MLP([d, d], ["relu", "tanh"])
    E = expected_kernels(net, X)
    mc = monte_carlo_kernels(net, X, jax.random.PRNGKey(7), 100, progress=False)
    for est, se, ref in [(mc["ntk"], mc["ntk_se"], E["ntk"]),
                         (mc["ck"][1], mc["ck_se"][1], E["ck"][1])]:
        err = np.abs(np.asarray(est - ref))
        assert np.all(err <= 5 * np.asarray(se) + 3.0 / d * np.abs(np.asarray(ref)).max())
    # and the kernels really are averaged: a single draw is further away than the mean
    params = net.init(jax.random.PRNGKey(99), X.shape[1])
    one = np.abs(np.asarray(empirical_ntk(net, params, X) - E["ntk"])).max()
    assert one > np.abs(np.asarray(mc["ntk"] - E["ntk"])).max()
    assert len(conjugate_kernels(net, params, X)) == 2


def test_monte_carlo_output_structure():
    X = _data(4)
    net = MLP([8, 8], "relu")
    mc = monte_carlo_kernels(net, X, jax.random.PRNGKey(0), 3, X2=_data(2, seed=5),
                             progress=False)
    assert mc["draws"] == 3 and len(mc["ck"]) == 2 and len(mc["ck_se"]) == 2
    assert mc["ntk"].shape == (4, 2) and mc["ntk_se"].shape == (4, 2)
    # mean of the same 3 draws computed by hand
    manual = np.mean([np.asarray(empirical_ntk(net, net.init(jax.random.fold_in(
        jax.random.PRNGKey(0), t), 10), X, _data(2, seed=5))) for t in range(3)], axis=0)
    np.testing.assert_allclose(np.asarray(mc["ntk"]), manual, rtol=1e-12)
    with pytest.raises(ValueError, match="draws"):
        monte_carlo_kernels(net, X, jax.random.PRNGKey(0), 0)
    one = monte_carlo_kernels(net, X, jax.random.PRNGKey(0), 1, progress=False)
    assert bool(jnp.all(jnp.isnan(one["ntk_se"])))


def test_monte_carlo_mixed_precision_matches_per_draw_kernels():
    """dtype=float32 with signal_dtype="float64": the mean of the same 3 float32 draws,
    each computed by empirical_ntk with float64 signals (a second computation), to 1e-6
    relative (float32 Welford update over 3 draws and float32 Grams: ~1e-7); output float32;
    float32 signals under float64 parameters are refused."""
    X = _data(6)
    net = MLP([16, 16], "relu")
    key = jax.random.PRNGKey(3)
    mc = monte_carlo_kernels(net, X, key, 3, progress=False, dtype=jnp.float32,
                             signal_dtype="float64")
    assert mc["ntk"].dtype == jnp.float32
    X32 = X.astype(jnp.float32)
    manual = np.mean([np.asarray(empirical_ntk(
        net, net.init(jax.random.fold_in(key, t), 10, dtype=jnp.float32), X32,
        signal_dtype="float64"), np.float64) for t in range(3)], axis=0)
    np.testing.assert_allclose(np.asarray(mc["ntk"], np.float64), manual,
                               rtol=1e-6, atol=1e-6 * np.abs(manual).max())
    with pytest.raises(ValueError, match="signal_dtype=float32 is below"):
        monte_carlo_kernels(net, X, key, 2, progress=False, signal_dtype="float32")
