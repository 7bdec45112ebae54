"""Activation families: names, evaluation, derivatives, metadata, pytree behaviour,
validation, and user-defined families (one subclass each)."""
import copy
import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from ntkcomp.activations import Activation, Kind, available, bivariate, get, moments

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
# User-defined families: one subclass each, no registry
# --------------------------------------------------------------------------------------
class ScaledReLU(Activation):
    """c relu(t): piecewise smooth, no closed forms (quadrature and Mehler series)."""

    name = "scaled_relu_test"
    kind = Kind.PIECEWISE_SMOOTH
    c: float = 2.0

    def sigma(self, t):
        return self.c * jnp.maximum(t, 0.0)

    def breakpoints(self):
        return jnp.zeros((1,))


class Sign(Activation):
    """sign(t): a user step function without closed forms (quadrature)."""

    name = "sign_test"
    kind = Kind.PIECEWISE_CONSTANT

    def sigma(self, t):
        return jnp.where(t > 0, 1.0, -1.0) + 0.0 * t

    def dsigma(self, t):
        return jnp.zeros_like(t)

    def breakpoints(self):
        return jnp.zeros((1,))


def test_user_piecewise_smooth_family():
    """A user 'scaled relu' c relu(t): quadrature moments equal the relu closed forms
    scaled, its Mehler bivariate map the arc-cosine kernel scaled, and grad w.r.t. c works."""
    act = get(ScaledReLU, c=1.7)
    assert isinstance(act, Activation) and act == ScaledReLU(c=1.7)
    assert "scaled_relu_test" not in available()           # built-ins only, no global state
    assert not act.has_closed_form("moments")
    taus = np.array([0.3, 1.0, 4.0])
    m = moments(act, taus)
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
    # The Mehler series (K = 96 terms) at correlation 0.3 / sqrt(0.8) ~ 0.34: truncation
    # below 0.34^97 ~ 1e-45 times O(1), so the quadrature of the coefficients (~1e-13) rules.
    ck, dd = bivariate(act, 1.0, 0.8, 0.3)
    rck, rdd = bivariate(get("relu"), 1.0, 0.8, 0.3)
    np.testing.assert_allclose([ck, dd], [c * c * rck, c * c * rdd], rtol=1e-10)


def test_user_piecewise_constant_family():
    """A user sign function: quadrature moments equal the closed-form step moments of
    ternary(0, 0, 1, 1) and k_level([0], [-1, 1])."""
    act = Sign()
    np.testing.assert_allclose(act(np.array([-2.0, 3.0])), [-1.0, 1.0])
    m1 = moments(act, 0.8)
    for ref in (get("ternary", s1=0.0, s2=0.0, b_neg=1.0, b_pos=1.0),
                get("k_level", thresholds=[0.0], levels=[-1.0, 1.0])):
        m2 = moments(ref, 0.8)
        for f in ("mean", "var", "a1", "a2", "q"):
            np.testing.assert_allclose(getattr(m1, f), getattr(m2, f), rtol=1e-12, atol=1e-14)
    assert np.isposinf(m1.s)
    np.testing.assert_allclose(m1.var, 1.0, rtol=1e-14)
    np.testing.assert_allclose(m1.a1, 2 / math.sqrt(2 * math.pi) / 0.8, rtol=1e-12)


def test_get_accepts_instances_and_classes():
    act = get("leaky_relu", slope=0.2)
    assert get(act) is act
    assert get(act, slope=0.3) == get("leaky_relu", slope=0.3)
    assert get(type(act)) == get("leaky_relu")
    assert type(act).from_params(slope=0.2) == act
    with pytest.raises(ValueError, match="name"):
        get(3.0)
    with pytest.raises(ValueError, match="slope"):
        get(act, slope=float("inf"))


def test_instances_are_immutable_and_kinds_are_strings():
    act = get("relu")
    with pytest.raises(AttributeError):
        act.slope = 1.0
    assert act.kind == "piecewise_smooth" and act.kind is Kind.PIECEWISE_SMOOTH
    assert str(get("binary").kind) == "piecewise_constant"
    assert {get(n).kind for n in ("tanh", "relu", "binary")} == set(Kind)


def test_bad_family_definition():
    with pytest.raises(ValueError, match="kind"):
        type("Wiggly", (Activation,), {"name": "wiggly", "kind": "wiggly"})
    with pytest.raises(NotImplementedError, match="sigma"):
        type("NoSigma", (Activation,), {"name": "no_sigma"})()(1.0)


def test_pickle_and_deepcopy_roundtrip():
    for act in (get("k_level", thresholds=[-1.0, 0.5], levels=[-1.0, 0.0, 2.0]),
                get("polynomial", coeffs=[0.1, 1.0, 0.5]), ScaledReLU(c=0.5)):
        for back in (pickle.loads(pickle.dumps(act)), copy.deepcopy(act)):
            assert back == act
            np.testing.assert_array_equal(back(T), act(T))
