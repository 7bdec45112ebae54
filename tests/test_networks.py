"""ntkcomp.networks: weight laws, the centred MLP, its flax view, and input validation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.networks import (
    MLP,
    WeightLaw,
    weight_law,
)

LAWS = [weight_law("gaussian"), weight_law("rademacher"), weight_law("sparse_ternary", eps=0.8),
        weight_law("sparse_gaussian", eps=0.5), weight_law("student_t", nu=12.0)]


# --------------------------------------------------------------------------- weight laws
@pytest.mark.parametrize("law", LAWS, ids=lambda w: w.name)
def test_weight_law_moments_match_kappa4(law):
    """Sample mean 0, variance 1 and fourth cumulant kappa4, each within 6 standard errors
    of its sample estimate (standard errors estimated from the sample itself; N = 400k)."""
    N = 400_000
    w = np.asarray(law.sample(jax.random.PRNGKey(7), (N,), jnp.float64))
    assert w.shape == (N,) and w.dtype == np.float64
    se_mean = w.std() / math.sqrt(N)
    assert abs(w.mean()) < 6 * se_mean
    w2 = w ** 2
    assert abs(w2.mean() - 1.0) <= 6 * w2.std() / math.sqrt(N) + 1e-12
    w4 = w ** 4
    k4_hat = w4.mean() - 3.0
    assert abs(k4_hat - law.kappa4) < 6 * w4.std() / math.sqrt(N) + 1e-12


def test_kappa4_closed_forms():
    """kappa4 values from the definitions E[w^4] - 3 computed by hand."""
    assert weight_law("gaussian").kappa4 == 0.0
    assert weight_law("rademacher").kappa4 == -2.0
    # sparse ternary: E[w^4] = (1-eps) * (1/(1-eps))^2
    assert math.isclose(weight_law("sparse_ternary", eps=0.9).kappa4, 0.1 * 100 - 3)
    # sparse gaussian: E[w^4] = (1-eps) * 3/(1-eps)^2
    assert math.isclose(weight_law("sparse_gaussian", eps=0.75).kappa4, 3 * 4 - 3)
    # scaled t: E[t^4] = 3 nu^2/((nu-2)(nu-4)), times ((nu-2)/nu)^2
    nu = 7.0
    assert math.isclose(weight_law("student_t", nu=nu).kappa4, 3 * (nu - 2) / (nu - 4) - 3)


def test_sparse_ternary_support_and_sparsity():
    eps = 0.7
    w = np.asarray(weight_law("sparse_ternary", eps=eps).sample(jax.random.PRNGKey(1), (200_000,)))
    nz = w[w != 0]
    np.testing.assert_allclose(np.abs(nz), 1 / math.sqrt(1 - eps), rtol=1e-12)
    # zero fraction ~ Binomial(N, eps)/N: sd = sqrt(eps(1-eps)/N) ~ 1e-3; 6 sd
    assert abs((w == 0).mean() - eps) < 6 * math.sqrt(eps * (1 - eps) / w.size)
    r = np.asarray(weight_law("rademacher").sample(jax.random.PRNGKey(2), (1000,)))
    assert set(np.unique(r)) == {-1.0, 1.0}


def test_sample_dtype():
    for law in (LAWS[2],):  # float64 for every law in the moment test above
        assert law.sample(jax.random.PRNGKey(0), (3, 4), jnp.float32).dtype == jnp.float32
        assert law.sample(jax.random.PRNGKey(0), (3, 4), jnp.float64).dtype == jnp.float64


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "sparse_ternary", "eps": 1.0}, "eps"),
    ({"name": "sparse_ternary", "eps": -0.1}, "eps"),
    ({"name": "sparse_gaussian", "eps": 1.5}, "eps"),
    ({"name": "student_t", "nu": 4.0}, "nu"),
    ({"name": "student_t", "nu": 3.0}, "nu"),
    ({"name": "cauchy"}, "weight law name"),
    ({"name": "sparse_ternary"}, "eps"),
    ({"name": "gaussian", "eps": 0.5}, "eps"),
])
def test_weight_law_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        weight_law(**kwargs)


def test_weight_law_hashable():
    assert weight_law("sparse_ternary", eps=0.5) == weight_law("sparse_ternary", eps=0.5)
    assert hash(weight_law("student_t", nu=9)) == hash(weight_law("student_t", nu=9.0))
    assert set(WeightLaw.available()) == {w.name for w in LAWS}
    assert isinstance(LAWS[0], WeightLaw)


# --------------------------------------------------------------------------- MLP
def test_taus_centers_relu_closed_form():
    """ReLU at scale tau: mean tau/sqrt(2 pi), variance tau^2 (1/2 - 1/(2 pi))."""
    tau0 = 1.3
    net = MLP([5, 6, 7], "relu", tau0=tau0)
    c = math.sqrt(0.5 - 1 / (2 * math.pi))
    taus = [tau0 * c ** l for l in range(4)]
    np.testing.assert_allclose(net.taus, taus, rtol=1e-10)
    np.testing.assert_allclose(net.centers, [t / math.sqrt(2 * math.pi) for t in taus[:3]],
                               rtol=1e-10)
    assert net.depth == 3 and net.widths == (5, 6, 7)
    off = MLP([5, 6, 7], "relu", tau0=tau0, center=False)
    assert off.centers == (0.0, 0.0, 0.0)
    # tau is the *variance* recursion (the centring does not change it)
    np.testing.assert_allclose(off.taus, taus, rtol=1e-10)


def test_taus_erf_closed_form():
    """erf(tau xi): mean 0, variance (2/pi) arcsin(2 tau^2/(1 + 2 tau^2))."""
    net = MLP([4, 4], "erf", tau0=0.7)
    t = [0.7]
    for _ in range(2):
        t.append(math.sqrt(2 / math.pi * math.asin(2 * t[-1] ** 2 / (1 + 2 * t[-1] ** 2))))
    np.testing.assert_allclose(net.taus, t, rtol=1e-10)
    np.testing.assert_allclose(net.centers, [0.0, 0.0], atol=1e-12)


def _numpy_forward(net, params, X):
    """Independent NumPy float64 forward pass (THEORY.md section 2, transposed)."""
    from scipy.special import erf

    fns = {"relu": lambda t: np.maximum(t, 0), "tanh": np.tanh, "erf": erf}
    h = np.asarray(X, np.float64)
    hs = []
    for W, act, m, d in zip(params["W"], net.activations, net.centers, net.widths):
        h = (fns[act.name](h @ np.asarray(W)) - m) / math.sqrt(d)
        hs.append(h)
    return hs, hs[-1] @ np.asarray(params["w"])


def test_forward_matches_numpy_and_shapes():
    net = MLP([8, 16, 12], ["relu", "tanh", "erf"],
              weights=["gaussian", weight_law("sparse_ternary", eps=0.5), "rademacher"],
              tau0=0.9)
    params = net.init(jax.random.PRNGKey(0), 5)
    assert [W.shape for W in params["W"]] == [(5, 8), (8, 16), (16, 12)]
    assert params["w"].shape == (12,) and params["W"][0].dtype == jnp.float64
    X = jax.random.normal(jax.random.PRNGKey(1), (7, 5))
    hs_ref, f_ref = _numpy_forward(net, params, X)
    hs = net.features(params, X)
    assert len(hs) == 3
    for h, r in zip(hs, hs_ref):
        np.testing.assert_allclose(np.asarray(h), r, rtol=1e-12, atol=1e-14)
    f = net.apply(params, X)
    assert f.shape == (7,)
    np.testing.assert_allclose(np.asarray(f), f_ref, rtol=1e-12, atol=1e-14)


def test_per_layer_law_used():
    net = MLP([50, 40], "relu", weights=["rademacher", weight_law("sparse_ternary", eps=0.5)])
    params = net.init(jax.random.PRNGKey(3), 30)
    assert set(np.unique(np.asarray(params["W"][0]))) == {-1.0, 1.0}
    assert set(np.unique(np.round(np.asarray(params["W"][1]) ** 2, 12))) == {0.0, 2.0}


def test_init_float32():
    net = MLP([4], "relu")
    params = net.init(jax.random.PRNGKey(0), 3, dtype=jnp.float32)
    assert all(W.dtype == jnp.float32 for W in params["W"]) and params["w"].dtype == jnp.float32


def test_mlp_hashable_static_jit_arg():
    a = MLP([8, 8], "relu", weights=weight_law("sparse_ternary", eps=0.5))
    b = MLP([8, 8], ["relu", "relu"], weights=[weight_law("sparse_ternary", eps=0.5)] * 2)
    c = MLP([8, 8], "relu", weights=weight_law("sparse_ternary", eps=0.6))
    assert a == b and hash(a) == hash(b) and a != c
    with pytest.raises(AttributeError):
        a.tau0 = 2.0

    params = a.init(jax.random.PRNGKey(0), 3)
    X = jnp.ones((2, 3))
    f = jax.jit(lambda net, p, x: net.preactivations_and_features(p, x)[1][-1] @ p["w"],
                static_argnums=0)
    np.testing.assert_allclose(f(a, params, X), a.apply(params, X), rtol=1e-14)
    np.testing.assert_allclose(f(b, params, X), a.apply(params, X), rtol=1e-14)


def test_flax_module_same_forward():
    net = MLP([6, 5], ["tanh", "relu"], weights=["gaussian", "rademacher"], tau0=1.1)
    params = net.init(jax.random.PRNGKey(0), 4)
    X = jax.random.normal(jax.random.PRNGKey(1), (9, 4))
    module = net.as_flax()
    variables = MLP.flax_variables(params)
    np.testing.assert_allclose(np.asarray(module.apply(variables, X)),
                               np.asarray(net.apply(params, X)), rtol=1e-13, atol=1e-15)
    own = module.init(jax.random.PRNGKey(5), X)
    assert jax.tree.map(jnp.shape, own) == jax.tree.map(jnp.shape, variables)
    back = MLP.params_from_flax(own)
    np.testing.assert_allclose(np.asarray(module.apply(own, X)),
                               np.asarray(net.apply(back, X)), rtol=1e-13, atol=1e-15)
    # flax init draws from the layer's law: second layer Rademacher
    assert set(np.unique(np.asarray(own["params"]["W_1"]))) == {-1.0, 1.0}


@pytest.mark.parametrize("kwargs,match", [
    ({"widths": [4, 0], "activations": "relu"}, r"widths\[1\]"),
    ({"widths": [-3], "activations": "relu"}, r"widths\[0\]"),
    ({"widths": [], "activations": "relu"}, "widths"),
    ({"widths": [4, 4], "activations": ["relu"]}, "activations"),
    ({"widths": [4, 4], "activations": "relu", "weights": ["gaussian"] * 3}, "weights"),
    ({"widths": [4], "activations": "relu", "tau0": 0.0}, "tau0"),
    ({"widths": [4], "activations": "relu", "weights": "normal"}, "weight law name"),
])
def test_mlp_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_input_errors():
    net = MLP([4, 3], "relu")
    params = net.init(jax.random.PRNGKey(0), 5)
    with pytest.raises(ValueError, match="feature dimension"):
        net.apply(params, jnp.ones((3, 6)))
    with pytest.raises(ValueError, match="X must have shape"):
        net.apply(params, jnp.ones((5,)))
    X = np.ones((3, 5))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        net.features(params, X)
    with pytest.raises(ValueError, match="p must be"):
        net.init(jax.random.PRNGKey(0), 0)
    with pytest.raises(ValueError, match=r"params\['W'\]"):
        net.apply({"W": params["W"][:1], "w": params["w"]}, jnp.ones((3, 5)))
