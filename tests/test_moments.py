"""Gaussian moments (docs/theory/moments.md), checked against independent computations.

* closed forms vs piecewise Gauss-Legendre quadrature (two independent implementations);
* scipy adaptive quadrature on the t-scale, written here, for the quadrature-only families
  from small to very large tau;
* finiteness over the whole supported input scale of every built-in family;
* Monte Carlo with 1e7 draws (one shared, fixed-seed draw, chunked) for every activation
  (``-m slow``);
* hypothesis property tests: Stein identities, scaling (homogeneity) relations;
* jax.grad w.r.t. tau and activation parameters vs central finite differences.
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scipy import integrate, special

from ntkcomp.activations import available, bivariate, get, moments
from ntkcomp.activations._quadrature import gauss_nodes

TAUS = np.geomspace(0.1, 10.0, 41)

CLOSED = [
    ("relu", {}), ("leaky_relu", {"slope": 0.2}), ("abs", {}), ("erf", {}), ("sin", {}),
    ("cos", {}), ("quadratic", {}), ("polynomial", {"coeffs": [0.3, -1.0, 0.5, 0.2]}),
    ("binary", {"s1": -0.4, "s2": 1.3, "b": 1.0}),
    ("ternary", {"s1": -0.7, "s2": 0.3, "b_neg": 0.8, "b_pos": 1.5}),
    ("k_level", {"thresholds": [-1.0, 0.2, 0.5], "levels": [-2.0, -0.5, 0.3, 1.1]}),
]

# One representative parameter set per registered name (every registered name must appear).
EXAMPLES = {
    "relu": {}, "leaky_relu": {"slope": 0.1}, "abs": {}, "tanh": {}, "erf": {},
    "sigmoid": {}, "sin": {}, "cos": {}, "gelu": {}, "swish": {}, "softplus": {},
    "polynomial": {"coeffs": [0.2, 1.0, -0.5, 0.3]}, "quadratic": {},
    "binary": {"s1": -0.4, "s2": 1.1, "b": 1.0},
    "ternary": {"s1": -0.6, "s2": 0.4, "b_neg": 0.7, "b_pos": 1.3},
    "k_level": {"thresholds": [-1.0, 0.2, 0.9], "levels": [-1.5, -0.3, 0.4, 1.2]},
}
SMOOTH = ["tanh", "erf", "sigmoid", "sin", "cos", "gelu", "swish", "softplus", "quadratic"]


@pytest.mark.parametrize("name,params", CLOSED)
def test_closed_form_matches_quadrature(name, params):
    act = get(name, **params)
    cf = moments(act, TAUS, method="closed_form")
    qd = moments(act, TAUS, method="quadrature")
    for field in cf._fields:
        x, y = np.asarray(getattr(cf, field)), np.asarray(getattr(qd, field))
        if act.kind == "piecewise_constant" and field == "s":
            assert np.all(np.isposinf(x)) and np.all(np.isposinf(y))
            continue
        # rtol 1e-10 is the target; atol 1e-13 is the float64 floor of summing
        # ~1000 O(1) terms (moments that are exactly 0 or ~e^{-50}, e.g. sin's a1 at tau=10,
        # cannot be resolved relatively by any quadrature of O(1) integrands).
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-13, err_msg=f"{name}.{field}")


def test_every_registered_activation_has_an_example():
    assert set(EXAMPLES) == set(available())


# --------------------------------------------------------------------------------------
# Monte Carlo: 1e7 shared standard normal draws (fixed seed), 10 chunks of 1e6
# --------------------------------------------------------------------------------------
MC_TAU = 0.8
MC_N = 10_000_000
MC_CHUNK = 1_000_000


def _mc_estimators(act, tau, xi, m):
    """Per-draw unbiased estimators of (mean, var, a1, a2, q, s) given the exact mean m.

    Smooth activations use the derivatives directly (autodiff), the others Stein's forms
    (E[f'(tau xi)] = E[xi f]/tau, E[f''] = E[(xi^2-1) f]/tau^2): both are valid, and the
    direct form is an independent check of the Stein-based code paths."""
    t = tau * xi
    f = act(t)
    c = f - m
    h2 = xi * xi - 1.0
    if act.kind == "smooth":
        d1 = act.derivative(t)
        d2 = act.second_derivative(t)
        a1, a2, q = d1, d2, 2.0 * d1 * d1 + 2.0 * c * d2
    else:
        a1, a2, q = xi * c / tau, h2 * c / tau ** 2, h2 * c * c / tau ** 2
    s = act.derivative(t) ** 2
    return jnp.stack([f, c * c, a1, a2, q, s])


def _mc_all():
    acts = {name: get(name, **p) for name, p in EXAMPLES.items()}
    means = {name: moments(a, MC_TAU).mean for name, a in acts.items()}

    draw = jax.jit(lambda key: jax.random.normal(key, (MC_CHUNK,), jnp.float64))

    @jax.jit
    def chunk_sums(xi):   # separate jit: fusing the RNG into 16 consumers recomputes it
        out = {}
        for name, a in acts.items():
            e = _mc_estimators(a, MC_TAU, xi, means[name])
            out[name] = (jnp.sum(e, -1), jnp.sum(e * e, -1))
        return out

    keys = jax.random.split(jax.random.PRNGKey(20240601), MC_N // MC_CHUNK)
    tot = None
    for k in keys:
        r = chunk_sums(draw(k))
        tot = r if tot is None else jax.tree_util.tree_map(jnp.add, tot, r)
    res = {}
    for name, (s1, s2) in tot.items():
        mean = np.asarray(s1) / MC_N
        se = np.sqrt(np.maximum(np.asarray(s2) / MC_N - mean ** 2, 0.0) / MC_N)
        res[name] = (mean, se)
    return acts, res


@pytest.fixture(scope="module")
def mc_results():
    return _mc_all()


@pytest.mark.slow   # a second independent check; the fast suite has closed form vs
@pytest.mark.parametrize("name", sorted(EXAMPLES))   # quadrature and the scipy reference
def test_moments_vs_monte_carlo(mc_results, name):
    acts, res = mc_results
    act = acts[name]
    m = moments(act, MC_TAU)
    est, se = res[name]
    fields = ["mean", "var", "a1", "a2", "q", "s"]
    for i, field in enumerate(fields):
        exact = float(getattr(m, field))
        if field == "s" and act.kind == "piecewise_constant":
            assert np.isposinf(exact)
            continue
        # 4 standard errors (the criterion) plus 1e-12 for estimators that are
        # exactly constant (se = 0, e.g. relu's a1 with sigma' in {0, 1} is not constant
        # but quadratic's a2 = 2 is).
        assert abs(exact - est[i]) <= 4.0 * se[i] + 1e-12, (
            f"{name}.{field}: exact {exact} vs MC {est[i]} +- {se[i]}")


# --------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------
@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(SMOOTH), tau=st.floats(0.2, 5.0))
def test_stein_identities_smooth(name, tau):
    """a1 = E[xi sigma]/tau, a2 = E[(xi^2-1) sigma]/tau^2, q = E[(xi^2-1)(sigma-m)^2]/tau^2
    (Stein) against the autodiff-derivative forms used for smooth activations."""
    act = get(name)
    m = moments(act, tau, method="quadrature")
    xi, w = gauss_nodes(jnp.asarray(tau))
    f = act(tau * xi)
    c = f - m.mean
    h2 = xi * xi - 1.0
    stein_a1 = jnp.sum(w * xi * f) / tau
    stein_a2 = jnp.sum(w * h2 * f) / tau ** 2
    stein_q = jnp.sum(w * h2 * c * c) / tau ** 2
    # Stein forms divide by tau^2 >= 0.04: their rounding floor is ~1e-14 / 0.04.
    np.testing.assert_allclose(m.a1, stein_a1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.a2, stein_a2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.q, stein_q, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(tau=st.floats(0.1, 5.0), c=st.floats(0.2, 5.0),
       slope=st.floats(-1.0, 1.0))
def test_homogeneity_leaky_relu(tau, c, slope):
    """Positively homogeneous sigma: mean(c tau) = c mean(tau), var(c tau) = c^2 var(tau),
    a1, q, s constant, a2(c tau) = a2(tau)/c (checked on the quadrature path)."""
    act = get("leaky_relu", slope=slope)
    m1 = moments(act, tau, method="quadrature")
    m2 = moments(act, c * tau, method="quadrature")
    for f, p in (("mean", 1), ("var", 2), ("a1", 0), ("a2", -1), ("q", 0), ("s", 0)):
        np.testing.assert_allclose(getattr(m2, f), c ** p * getattr(m1, f),
                                   rtol=1e-11, atol=1e-13, err_msg=f)


@settings(max_examples=25, deadline=None)
@given(tau=st.floats(0.2, 5.0), c=st.floats(0.3, 3.0), s1=st.floats(-2.0, 0.0),
       gap=st.floats(0.0, 2.0))
def test_step_threshold_scaling(tau, c, s1, gap):
    """Steps: sigma_{c s}(c t) = sigma_s(t), so moments at (c s, c tau) equal those at
    (s, tau), with a1 scaled by 1/c and a2, q by 1/c^2 (closed form vs quadrature)."""
    a = get("ternary", s1=s1, s2=s1 + gap, b_neg=0.6, b_pos=1.4)
    b = get("ternary", s1=c * s1, s2=c * (s1 + gap), b_neg=0.6, b_pos=1.4)
    m1 = moments(a, tau, method="closed_form")
    m2 = moments(b, c * tau, method="quadrature")
    for f, p in (("mean", 0), ("var", 0), ("a1", -1), ("a2", -2), ("q", -2)):
        np.testing.assert_allclose(getattr(m2, f), c ** p * getattr(m1, f),
                                   rtol=1e-9, atol=1e-12, err_msg=f)


def test_odd_activations_have_zero_mean_and_a2():
    for name in ("tanh", "erf", "sin"):
        m = moments(get(name), TAUS)
        np.testing.assert_allclose(m.mean, 0.0, atol=1e-15)
        np.testing.assert_allclose(m.a2, 0.0, atol=1e-13)


# --------------------------------------------------------------------------------------
# Gradients vs finite differences
# --------------------------------------------------------------------------------------
FIELDS = ("mean", "var", "a1", "a2", "q")


def _stack(m):
    return jnp.stack([getattr(m, f) for f in FIELDS])


@pytest.mark.parametrize("method", ["closed_form", "quadrature"])
@pytest.mark.parametrize("name,params", [
    ("binary", {"s1": -0.4, "s2": 1.3, "b": 1.0}),
    pytest.param("ternary", {"s1": -0.7, "s2": 0.3, "b_neg": 0.8, "b_pos": 1.5},
                 marks=pytest.mark.slow),
    ("leaky_relu", {"slope": 0.3}),
])
def test_grad_vs_finite_differences(name, params, method):
    act = get(name, **params)
    tau0 = 0.7
    fn = jax.jit(lambda a, t: _stack(moments(a, t, method=method)))
    j_act, j_tau = jax.jacrev(fn, argnums=(0, 1))(act, tau0)
    h = 1e-5
    # central differences: truncation O(h^2) ~ 1e-10, rounding ~1e-16/h ~ 1e-11
    fd_tau = (fn(act, tau0 + h) - fn(act, tau0 - h)) / (2 * h)
    np.testing.assert_allclose(j_tau, fd_tau, rtol=1e-7, atol=1e-9)
    for pname in params:
        plus = get(name, **{**params, pname: params[pname] + h})
        minus = get(name, **{**params, pname: params[pname] - h})
        fd = (fn(plus, tau0) - fn(minus, tau0)) / (2 * h)
        np.testing.assert_allclose(j_act.params[pname], fd, rtol=1e-7, atol=1e-9,
                                   err_msg=f"d/d{pname}")


def test_grad_smooth_quadrature_wrt_tau():
    act = get("tanh")
    fn = jax.jit(lambda t: _stack(moments(act, t)))
    g = jax.jacrev(fn)(1.3)
    h = 1e-5
    np.testing.assert_allclose(g, (fn(1.3 + h) - fn(1.3 - h)) / (2 * h), rtol=1e-7, atol=1e-9)


def test_jit_and_vectorised():
    act = get("tanh")
    taus = jnp.asarray(TAUS).reshape(41, 1) * jnp.ones((1, 3))
    m = jax.jit(lambda t: moments(act, t))(taus)
    assert m.var.shape == (41, 3)
    m1 = moments(act, float(TAUS[7]))
    np.testing.assert_allclose(m.var[7, 2], m1.var, rtol=1e-14)
    mv = jax.vmap(lambda t: moments(act, t).var)(jnp.asarray(TAUS))
    np.testing.assert_allclose(mv, moments(act, TAUS).var, rtol=1e-14)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), [1.0, -0.5]])
def test_bad_tau(bad):
    with pytest.raises(ValueError, match="tau"):
        moments(get("relu"), bad)


def test_bad_method_and_missing_closed_form():
    with pytest.raises(ValueError, match="method"):
        moments(get("relu"), 1.0, method="exact")
    with pytest.raises(ValueError, match="closed_form"):
        moments(get("tanh"), 1.0, method="closed_form")


@settings(max_examples=12, deadline=None)
@given(tau=st.sampled_from([0.5, 0.7, 1.0, 2.0]) | st.floats(0.2, 3.0),
       s1=st.sampled_from([-1.0, -0.5, 0.0]) | st.floats(-2.0, 0.5),
       gap=st.sampled_from([0.5, 1.0, 2.0]) | st.floats(0.01, 2.0))
def test_threshold_gradients_quadrature_vs_closed_form(tau, s1, gap):
    """jax.grad through the quadrature (moving panel ends = Leibniz terms) equals the
    gradient of the closed form, including thresholds that coincide with the fixed panel
    grid (round values), which once produced zero-width panels and a wrong gradient."""
    act = get("binary", s1=s1, s2=s1 + gap, b=1.3)
    f = lambda a, method: _stack(moments(a, tau, method=method))
    gq = jax.jacrev(f)(act, "quadrature")
    gc = jax.jacrev(f)(act, "closed_form")
    for k in ("s1", "s2", "b"):
        # both are exact derivatives of ~1e-15-accurate approximations; a2, q carry 1/tau^2
        np.testing.assert_allclose(gq.params[k], gc.params[k], rtol=1e-9, atol=1e-11,
                                   err_msg=k)


# --------------------------------------------------------------------------------------
# Guarded numerics: finite over the supported input scale, accurate at large tau
# --------------------------------------------------------------------------------------
def _tau_grid(act):
    lo, hi = act.tau_range()
    return np.concatenate([[lo], np.geomspace(1e-3, hi, 45)])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_moments_finite_over_the_supported_scale(name):
    """Every field finite (s = +inf exactly for steps) on tau_min and a log-grid from 1e-3
    to tau_max, and var >= 0."""
    act = get(name, **EXAMPLES[name])
    m = moments(act, _tau_grid(act))
    for field in m._fields:
        v = np.asarray(getattr(m, field))
        if field == "s" and act.kind == "piecewise_constant":
            assert np.all(np.isposinf(v))
        else:
            assert np.all(np.isfinite(v)), (field, v)
    assert np.all(np.asarray(m.var) >= 0)


_SIG = special.expit
# (sigma, sigma', sigma'') in NumPy, written independently of the package
_NP_SMOOTH = {
    "tanh": (np.tanh, lambda t: 1 / np.cosh(t) ** 2,
             lambda t: -2 * np.tanh(t) / np.cosh(t) ** 2),
    "sigmoid": (_SIG, lambda t: _SIG(t) * _SIG(-t),
                lambda t: _SIG(t) * _SIG(-t) * (1 - 2 * _SIG(t))),
    "gelu": (lambda t: t * special.ndtr(t),
             lambda t: special.ndtr(t) + t * np.exp(-t * t / 2) / np.sqrt(2 * np.pi),
             lambda t: (2 - t * t) * np.exp(-t * t / 2) / np.sqrt(2 * np.pi)),
    "swish": (lambda t: t * _SIG(t), lambda t: _SIG(t) * (1 + t * _SIG(-t)),
              lambda t: _SIG(t) * _SIG(-t) * (2 + t * (1 - 2 * _SIG(t)))),
    "softplus": (lambda t: np.logaddexp(0, t), _SIG, lambda t: _SIG(t) * _SIG(-t)),
}


def _scipy_expectation(g, tau):
    """E[g(tau xi)] = int g(t) phi(t / tau) / tau dt by scipy's adaptive quad, split at
    the activation's scale (|t| = 1, 4, 16, 64) and the Gaussian's (|t| = tau * k)."""
    pts = sorted({0.0, *(s * x for x in (1, 4, 16, 64) for s in (-1, 1)),
                  *(s * tau * x for x in (1, 3, 6, 10, 14) for s in (-1, 1))})
    f = lambda t: g(t) * np.exp(-0.5 * (t / tau) ** 2) / (np.sqrt(2 * np.pi) * tau)
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-13, limit=400)[0]
                   for a, b in zip(pts[:-1], pts[1:]))


@pytest.mark.parametrize("name", sorted(_NP_SMOOTH))
def test_quadrature_families_vs_scipy_from_small_to_large_tau(name):
    """The quadrature-only families against an independent adaptive quadrature, from
    tau = 0.05 to 1e6 (where the transition of sigma is 1e-6 wide on the xi-scale).
    Tolerance rtol 1e-10 (both sides reach ~1e-15) with atol 1e-14 for the fields that are
    exactly zero by symmetry (tanh's mean and a2, sigmoid's a2 - 0 after centring)."""
    f, d1, d2 = _NP_SMOOTH[name]
    act = get(name)
    for tau in (0.05, 0.8, 3.0, 30.0, 1e3, 1e6):
        m = moments(act, tau)
        mean = _scipy_expectation(f, tau)
        s = _scipy_expectation(lambda t: d1(t) ** 2, tau)
        ref = {"mean": mean, "var": _scipy_expectation(lambda t: (f(t) - mean) ** 2, tau),
               "a1": _scipy_expectation(d1, tau), "a2": _scipy_expectation(d2, tau), "s": s,
               "q": 2 * s + 2 * _scipy_expectation(lambda t: (f(t) - mean) * d2(t), tau)}
        for field, r in ref.items():
            np.testing.assert_allclose(getattr(m, field), r, rtol=1e-10, atol=1e-14,
                                       err_msg=f"{name}.{field} at tau={tau}")


def test_gradients_finite_and_right_at_large_tau():
    """d/dtau of every moment of tanh at tau = 50 and 1e4 (where tanh'' once overflowed to
    inf / inf) is finite and matches central differences (h = 1e-4 tau: truncation error
    ~1e-8 relative)."""
    act = get("tanh")
    taus = jnp.asarray([50.0, 1e4])
    fn = jax.jit(lambda t: _stack(moments(act, t)))          # (5,) + taus.shape
    jac = np.asarray(jax.vmap(jax.jacrev(lambda t: _stack(moments(act, t))))(taus))
    assert np.all(np.isfinite(jac))
    h = 1e-4 * taus
    fd = (np.asarray(fn(taus + h)) - np.asarray(fn(taus - h))) / (2 * np.asarray(h))
    # atol: the mean and a2 are 0 by symmetry; their difference quotients are quadrature
    # rounding (~1e-16) divided by h >= 5e-3
    np.testing.assert_allclose(jac.T, fd, rtol=1e-6, atol=1e-13)


def test_tau_outside_the_supported_range():
    act = get("tanh")
    lo, hi = act.tau_range()
    for bad in (10 * hi, lo / 10, [1.0, 2 * hi], float("inf"), -0.0):
        with pytest.raises(ValueError, match="tau"):
            moments(act, bad)
    # a degree-20 polynomial: tau^40 must stay representable, so the range shrinks
    poly = get("polynomial", coeffs=[0.0] * 20 + [1.0])
    assert poly.tau_range()[1] < hi
    with pytest.raises(ValueError, match="tau"):
        moments(poly, 2 * poly.tau_range()[1])
    with pytest.raises(ValueError, match="var1"):
        bivariate(act, 4 * hi * hi, 1.0, 0.0)
