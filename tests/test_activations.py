"""Activation registry: names, evaluation, derivatives, metadata, pytree behaviour, validation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from ntkcomp.activations import Activation, available, get, moments, register
from ntkcomp.activations import registry as _registry

NAMES = {"relu", "leaky_relu", "abs", "tanh", "erf", "sigmoid", "sin", "cos", "gelu", "swish",
         "softplus", "polynomial", "quadratic", "binary", "ternary", "k_level"}

T = np.linspace(-4.0, 4.0, 801) + 1e-3          # avoids the breakpoints exactly


def test_available_lists_the_contract_names():
    assert NAMES <= set(available())


# NumPy reference formulas, written independently of the package
REF = {
    "relu": ({}, lambda t: np.maximum(t, 0)),
    "leaky_relu": ({"slope": 0.2}, lambda t: np.where(t > 0, t, 0.2 * t)),
    "abs": ({}, np.abs),
    "tanh": ({}, np.tanh),
    "erf": ({}, special.erf),
    "sigmoid": ({}, special.expit),
    "sin": ({}, np.sin),
    "cos": ({}, np.cos),
    "gelu": ({}, lambda t: t * stats.norm.cdf(t)),
    "swish": ({}, lambda t: t * special.expit(t)),
    "softplus": ({}, lambda t: np.logaddexp(0.0, t)),
    "polynomial": ({"coeffs": [0.5, -1.0, 0.25, 2.0]},
                   lambda t: 0.5 - t + 0.25 * t ** 2 + 2.0 * t ** 3),
    "quadratic": ({}, lambda t: t ** 2),
    "binary": ({"s1": -0.5, "s2": 1.0, "b": 1.5},
               lambda t: 1.5 * ((t < -0.5).astype(float) + (t > 1.0))),
    "ternary": ({"s1": -0.5, "s2": 1.0, "b_neg": 0.7, "b_pos": 1.3},
                lambda t: -0.7 * (t < -0.5) + 1.3 * (t > 1.0)),
    "k_level": ({"thresholds": [-1.0, 0.0, 2.0], "levels": [-2.0, -0.5, 0.5, 3.0]},
                lambda t: np.select([t <= -1.0, t <= 0.0, t <= 2.0], [-2.0, -0.5, 0.5], 3.0)),
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_evaluation_matches_formula(name):
    params, ref = REF[name]
    act = get(name, **params)
    np.testing.assert_allclose(act(T), ref(T), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", sorted(NAMES - {"binary", "ternary", "k_level"}))
def test_derivatives_match_autodiff_and_finite_differences(name):
    params, ref = REF[name]
    act = get(name, **params)
    d_auto = jax.vmap(jax.grad(lambda t: act(t)))(jnp.asarray(T))
    np.testing.assert_allclose(act.derivative(T), d_auto, rtol=1e-12, atol=1e-14)
    h = 1e-6   # central differences of the NumPy formula: error ~h^2 + 1e-16/h ~ 1e-10
    np.testing.assert_allclose(act.derivative(T), (ref(T + h) - ref(T - h)) / (2 * h),
                               rtol=1e-7, atol=1e-7)
    if act.kind == "smooth":
        fd2 = (ref(T + 1e-4) - 2 * ref(T) + ref(T - 1e-4)) / 1e-8
        np.testing.assert_allclose(act.second_derivative(T), fd2, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["binary", "ternary", "k_level"])
def test_piecewise_constant_metadata(name):
    params, _ref = REF[name]
    act = get(name, **params)
    assert act.kind == "piecewise_constant"
    np.testing.assert_array_equal(act.derivative(T), 0.0)     # autodiff convention
    thr, lev = np.asarray(act.thresholds()), np.asarray(act.levels())
    assert lev.shape == (thr.size + 1,) and np.all(np.diff(thr) >= 0)
    np.testing.assert_array_equal(act.breakpoints(), thr)
    # sigma = levels[j] on (thresholds[j-1], thresholds[j]] (checked at interior points)
    edges = np.concatenate([[-10.0], thr, [10.0]])
    for j in range(lev.size):
        mid = np.linspace(edges[j], edges[j + 1], 7)[1:-1]
        np.testing.assert_allclose(act(mid), lev[j], atol=0)


def test_breakpoints_and_kinds():
    assert get("tanh").kind == "smooth" and get("tanh").breakpoints().shape == (0,)
    assert get("relu").kind == "piecewise_smooth"
    np.testing.assert_array_equal(get("relu").breakpoints(), [0.0])
    with pytest.raises(ValueError, match="thresholds"):
        get("relu").thresholds()
    with pytest.raises(ValueError, match="levels"):
        get("tanh").levels()


def test_pytree_roundtrip_jit_and_grad_wrt_params():
    act = get("leaky_relu", slope=0.3)
    leaves, treedef = jax.tree_util.tree_flatten(act)
    assert len(leaves) == 1
    back = jax.tree_util.tree_unflatten(treedef, leaves)
    assert back == act and hash(back) == hash(act)
    f = jax.jit(lambda a, t: a(t))
    np.testing.assert_allclose(f(act, T), act(T), rtol=1e-15)
    # d/d slope of sum(leaky(t)) = sum(min(t, 0))
    g = jax.grad(lambda a: jnp.sum(a(jnp.asarray(T))))(act)
    np.testing.assert_allclose(g.params["slope"], np.minimum(T, 0).sum(), rtol=1e-12)
    # batched parameters via vmap over the pytree
    acts = jax.tree_util.tree_map(lambda x: jnp.stack([x, x * 2]), act)
    out = jax.vmap(lambda a: a(jnp.asarray([-1.0, 2.0])))(acts)
    np.testing.assert_allclose(out, [[-0.3, 2.0], [-0.6, 2.0]], rtol=1e-15)


def test_equality_and_hash():
    assert get("relu") == get("relu")
    assert get("binary", s1=-1.0, s2=1.0, b=1.0) == get("binary")
    assert get("binary", s1=-1.0, s2=1.0, b=2.0) != get("binary")
    assert get("tanh") != get("erf")
    assert len({get("relu"), get("relu"), get("tanh")}) == 2


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda: get("swishy"), "name"),
    (lambda: get("leaky_relu", alpha=0.1), "alpha"),
    (lambda: get("leaky_relu", slope=float("nan")), "slope"),
    (lambda: get("binary", s1=1.0, s2=-1.0), "s1"),
    (lambda: get("ternary", s1=0.5, s2=0.1), "s1"),
    (lambda: get("k_level", thresholds=[1.0, 0.0], levels=[0.0, 1.0, 2.0]), "thresholds"),
    (lambda: get("k_level", thresholds=[0.0, 1.0], levels=[0.0, 1.0]), "levels"),
    (lambda: get("k_level", levels=[0.0, 1.0]), "thresholds"),
    (lambda: get("polynomial", coeffs=[[1.0, 2.0]]), "coeffs"),
    (lambda: get("binary", b=[1.0, 2.0]), "b"),
])
def test_bad_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------
# User registration
# --------------------------------------------------------------------------------------
@pytest.fixture
def scratch_names():
    added = []
    yield added
    for n in added:                       # keep the registry as other tests expect it
        _registry._REGISTRY.pop(n, None)


def test_register_piecewise_smooth_user_activation(scratch_names):
    """A user 'scaled relu' c*relu(t): quadrature moments equal the relu closed forms scaled."""
    scratch_names.append("scaled_relu_test")
    register("scaled_relu_test", lambda c: (lambda t: c * jnp.maximum(t, 0.0)),
             kind="piecewise_smooth", breakpoints=lambda c: jnp.zeros(1), defaults={"c": 2.0})
    assert "scaled_relu_test" in available()
    act = get("scaled_relu_test", c=1.7)
    assert isinstance(act, Activation)
    taus = np.array([0.3, 1.0, 4.0])
    m = moments(act, taus)                               # quadrature (no closed form)
    phi0 = 1 / math.sqrt(2 * math.pi)
    c = 1.7
    np.testing.assert_allclose(m.mean, c * taus * phi0, rtol=1e-12)
    np.testing.assert_allclose(m.var, c * c * taus ** 2 * (0.5 - 1 / (2 * math.pi)), rtol=1e-12)
    np.testing.assert_allclose(m.a1, c / 2, rtol=1e-12)
    np.testing.assert_allclose(m.a2, c * phi0 / taus, rtol=1e-12)
    np.testing.assert_allclose(m.q, c * c * (1 - 1 / math.pi), rtol=1e-12)
    np.testing.assert_allclose(m.s, c * c / 2, rtol=1e-12)
    g = jax.grad(lambda a: moments(a, 1.0).var)(act)
    np.testing.assert_allclose(g.params["c"], 2 * c * (0.5 - 1 / (2 * math.pi)), rtol=1e-10)


def test_register_piecewise_constant_user_activation(scratch_names):
    """A user sign function gets the closed-form step moments (same as ternary(0, 0, 1, 1))."""
    scratch_names.append("sign_test")
    register("sign_test", kind="piecewise_constant",
             thresholds_levels=lambda: (jnp.zeros(1), jnp.array([-1.0, 1.0])))
    act = get("sign_test")
    np.testing.assert_allclose(act(np.array([-2.0, 3.0])), [-1.0, 1.0])
    m1 = moments(act, 0.8)
    m2 = moments(get("ternary", s1=0.0, s2=0.0, b_neg=1.0, b_pos=1.0), 0.8)
    for f in ("mean", "var", "a1", "a2", "q"):
        np.testing.assert_allclose(getattr(m1, f), getattr(m2, f), rtol=1e-14, atol=1e-15)
    assert np.isposinf(m1.s)
    # sign: var = 1, a1 = 2 phi(0)/tau
    np.testing.assert_allclose(m1.var, 1.0, rtol=1e-14)
    np.testing.assert_allclose(m1.a1, 2 / math.sqrt(2 * math.pi) / 0.8, rtol=1e-14)


def test_register_errors(scratch_names):
    with pytest.raises(ValueError, match="name"):
        register("relu", lambda: jnp.tanh)                       # already registered
    with pytest.raises(ValueError, match="kind"):
        register("x_test", lambda: jnp.tanh, kind="wiggly")
    with pytest.raises(ValueError, match="breakpoints"):
        register("x_test", lambda: jnp.abs, kind="piecewise_smooth")
    with pytest.raises(ValueError, match="thresholds_levels"):
        register("x_test", None, kind="piecewise_constant")
    assert "x_test" not in available()


def test_pickle_and_deepcopy_roundtrip():
    import copy
    import pickle

    act = get("k_level", thresholds=[-1.0, 0.5], levels=[-1.0, 0.0, 2.0])
    for back in (pickle.loads(pickle.dumps(act)), copy.deepcopy(act)):
        assert back == act
        np.testing.assert_array_equal(back(T), act(T))
