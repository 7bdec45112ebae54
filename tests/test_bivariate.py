"""The bivariate map (ck, dd) = (E[(s(u)-c)(s(v)-c)], E[s'(u) s'(v)]) vs independent computations
(docs/theory/moments.md, section Bivariate maps).

Independent references:
* a 1-D integral written from scratch here: with u = s1 x, v = s2 (rho x + sqrt(1-rho^2) y),
  E[f(u) g(v)] = int phi(x) f(s1 x) G(s2 rho x, s2 sqrt(1-rho^2)) dx, G(a, b) = E[g(a + b y)]
  in closed form (relu, erf, sin, cos, steps) or by a composite Gauss-Legendre rule in NumPy
  (smooth activations), and the outer integral by composite Gauss-Legendre in NumPy;
* Monte Carlo with 1e7 pairs (fixed seed, chunked; ``-m slow``);
* bvn_upper against scipy quadrature of the same probability;
* finiteness over the whole supported input scale of every built-in family.
"""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from ntkcomp.activations import available, bivariate, get, moments
from ntkcomp.activations._bvn import bvn_upper

SQ2 = math.sqrt(2.0)


# --------------------------------------------------------------------------------------
# Reference: outer integral over x, inner conditional expectation over y (NumPy only)
# --------------------------------------------------------------------------------------
def _composite(edges, n=20):
    """Composite Gauss-Legendre nodes/weights (Gaussian density included) on sorted edges."""
    x, w = np.polynomial.legendre.leggauss(n)
    a, b = edges[:-1, None], edges[1:, None]
    nodes = ((a + b) / 2 + (b - a) / 2 * x).ravel()
    weights = ((b - a) / 2 * w).ravel() * stats.norm.pdf(nodes)
    return nodes, weights


def _np_act(name, params):
    """NumPy activations and derivatives, written independently of the package."""
    sig = lambda t: 0.5 * (1 + np.tanh(t / 2))
    alpha = {"relu": 0.0, "abs": -1.0, "leaky_relu": params.get("slope", 0.0)}.get(name)
    if alpha is not None:
        return (lambda t: np.where(t > 0, t, alpha * t)), (lambda t: np.where(t > 0, 1.0, alpha))
    return {
        "erf": (special.erf, lambda t: 2 / math.sqrt(math.pi) * np.exp(-t * t)),
        "sin": (np.sin, np.cos),
        "cos": (np.cos, lambda t: -np.sin(t)),
        "tanh": (np.tanh, lambda t: 1 / np.cosh(t) ** 2),
        "sigmoid": (sig, lambda t: sig(t) * (1 - sig(t))),
        "gelu": (lambda t: t * special.ndtr(t),
                 lambda t: special.ndtr(t) + t * np.exp(-t * t / 2) / math.sqrt(2 * math.pi)),
        "swish": (lambda t: t * sig(t), lambda t: sig(t) + t * sig(t) * (1 - sig(t))),
        "softplus": (lambda t: np.logaddexp(0, t), sig),
    }[name]


def _inner_closed(name, params, a, b):
    """(E[g(a + b y)], E[g'(a + b y)]), y ~ N(0,1), b > 0, by textbook closed forms."""
    if name in ("relu", "leaky_relu", "abs"):
        alpha = {"relu": 0.0, "abs": -1.0}.get(name, params.get("slope"))
        z = a / b
        r, dr = a * stats.norm.cdf(z) + b * stats.norm.pdf(z), stats.norm.cdf(z)
        return (1 - alpha) * r + alpha * a, (1 - alpha) * dr + alpha
    if name == "erf":
        d = math.sqrt(1 + 2 * b * b)
        return special.erf(a / d), 2 / math.sqrt(math.pi) * np.exp(-a * a / d ** 2) / d
    if name == "sin":
        e = math.exp(-b * b / 2)
        return np.sin(a) * e, np.cos(a) * e
    if name == "cos":
        e = math.exp(-b * b / 2)
        return np.cos(a) * e, -np.sin(a) * e
    return None


_OUTER = _composite(np.linspace(-13.0, 13.0, 131))     # 0 is an edge (kinks at 0)
_INNER = _composite(np.linspace(-13.0, 13.0, 66))      # smooth inner integrands


def reference(name, params, var1, var2, cov, center):
    """(ck, dd) = E_x[(f(s1 x) - c) (E_y[g(v) | x] - c)], v = s2 (rho x + sqrt(1-rho^2) y).

    Outer / inner: composite 20-point Gauss-Legendre on width-0.2 / 0.4 panels over
    [-13, 13] (integrands smooth inside panels; error ~1e-15); inner closed forms where known."""
    s1, s2 = math.sqrt(var1), math.sqrt(var2)
    rho = cov / (s1 * s2)
    b = s2 * math.sqrt(1 - rho * rho)
    f, df = _np_act(name, params)
    x, wx = _OUTER
    a = s2 * rho * x
    inner = _inner_closed(name, params, a, b)
    if inner is None:
        y, wy = _INNER
        t = a[:, None] + b * y[None, :]
        inner = (f(t) @ wy, df(t) @ wy)
    mean_u = wx @ f(s1 * x)
    mean_v = wx @ f(s2 * x)
    ss = wx @ (f(s1 * x) * inner[0])
    dd = wx @ (df(s1 * x) * inner[1])
    return ss - center * (mean_u + mean_v) + center ** 2, dd


CASES = [  # (var1, var2, cov, center)
    (1.0, 1.0, 0.3, 0.0), (0.5, 2.0, -0.6, 0.25), (1.7, 0.3, 0.69, -0.1),
    (0.8, 0.8, 0.79, 0.4), (2.5, 1.2, -1.7, 0.0), (0.04, 0.09, 0.01, 0.05),
]


@pytest.mark.parametrize("name,params", [("relu", {}), ("leaky_relu", {"slope": 0.15}),
                                         ("abs", {}), ("erf", {}), ("sin", {}), ("cos", {})])
def test_closed_forms_vs_1d_integral(name, params):
    act = get(name, **params)
    for var1, var2, cov, c in CASES:
        ck, dd = bivariate(act, var1, var2, cov, center=c)
        rck, rdd = reference(name, params, var1, var2, cov, c)
        # the 1e-10 target; atol for entries that are ~0 by cancellation
        np.testing.assert_allclose(ck, rck, rtol=1e-10, atol=1e-13, err_msg=f"ck {var1, var2, cov}")
        np.testing.assert_allclose(dd, rdd, rtol=1e-10, atol=1e-13, err_msg=f"dd {var1, var2, cov}")


@pytest.mark.parametrize("name", ["tanh"] + [pytest.param(n, marks=pytest.mark.slow) for n in
                                             ("sigmoid", "gelu", "swish", "softplus")])
def test_mehler_vs_1d_integral_and_bound(name):
    """Mehler series (K = 96) vs the nested 1-D reference; the error must respect the
    Cauchy-Schwarz bound |rho|^{K+1} sqrt(R(s1) R(s2)) (plus 1e-12 of quadrature rounding)
    and, for these scales (s <= 1.6), be below 1e-9."""
    act = get(name)
    for var1, var2, cov, c in CASES[:5]:
        ck, dd = bivariate(act, var1, var2, cov, center=c)
        rck, rdd = reference(name, {}, var1, var2, cov, c)
        bck, bdd = act.mehler_error_bound(var1, var2, cov)
        assert abs(float(ck) - rck) <= float(bck) + 1e-12
        assert abs(float(dd) - rdd) <= float(bdd) + 1e-12
        assert abs(float(ck) - rck) <= 1e-9 and abs(float(dd) - rdd) <= 1e-9


# --------------------------------------------------------------------------------------
# Steps: orthant probabilities
# --------------------------------------------------------------------------------------
def _bvn_ref(h, k, r):
    """P(X > h, Y > k) by scipy quad of int_h^inf phi(x) Phi((r x - k)/sqrt(1-r^2)) dx,
    split around the steep point x = k/r."""
    if r == 1:
        return stats.norm.sf(max(h, k))
    if r == -1:
        return max(0.0, stats.norm.sf(h) - stats.norm.cdf(k))
    sr = math.sqrt(1 - r * r)
    f = lambda x: stats.norm.pdf(x) * stats.norm.cdf((r * x - k) / sr)
    pts = [h]
    if r != 0:
        c = k / r
        pts += [c + d * sr / abs(r) for d in (-30, -10, -3, -1, 0, 1, 3, 10, 30)
                if c + d * sr / abs(r) > h]
    pts = sorted(pts) + [np.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(integrate.quad(f, a, b, epsabs=1e-17, epsrel=1e-14, limit=500)[0]
                   for a, b in zip(pts[:-1], pts[1:]))


@pytest.mark.parametrize("n_random", [2, pytest.param(10, marks=pytest.mark.slow)])
def test_bvn_upper_vs_quadrature(n_random):
    """Random points (n_random anywhere, n_random / 2 with r near 1 and near -1) plus the
    branch edges; the scipy reference is the slow part, so the fast suite takes few points."""
    rng = np.random.default_rng(7)
    rs = np.concatenate([rng.uniform(-1, 1, n_random), rng.uniform(0.9, 1, n_random // 2),
                         -rng.uniform(0.9, 1, n_random // 2),
                         [1.0, -1.0, 0.9999999, -0.9999999, 0.0, 0.29, 0.74, 0.93, -0.926]])
    hs = rng.normal(size=rs.size) * 2
    ks = rng.normal(size=rs.size) * 2
    ours = np.asarray(bvn_upper(hs, ks, rs))
    ref = np.array([_bvn_ref(h, k, r) for h, k, r in zip(hs, ks, rs)])
    # Genz's algorithm is accurate to ~1e-15 absolute; quad to ~1e-16
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-15)
    # infinite arguments: exact limits
    np.testing.assert_allclose(bvn_upper(-np.inf, 0.3, 0.5), stats.norm.sf(0.3), rtol=1e-15)
    np.testing.assert_allclose(bvn_upper(0.3, -np.inf, -0.95), stats.norm.sf(0.3), rtol=1e-15)
    assert float(bvn_upper(np.inf, 0.3, 0.5)) == 0.0
    assert float(bvn_upper(-np.inf, -np.inf, 0.2)) == 1.0
    # each branch (6/12/20 nodes, near-one) evaluated on its own, not only in a mixed array
    m = max(1, n_random // 3)
    for r in (0.2, 0.6, 0.9, 0.97, -0.97):
        np.testing.assert_allclose(bvn_upper(hs[:m], ks[:m], r),
                                   [_bvn_ref(h, k, r) for h, k in zip(hs[:m], ks[:m])],
                                   rtol=0, atol=2e-15)


def _steps_reference(act, var1, var2, cov, center):
    """E[(s(u)-c)(s(v)-c)] = E_x[(s(s1 x)-c) (E[s(v) | x] - c)], with the conditional mean in
    closed form (normal cdf differences) and the outer integral by composite Gauss-Legendre
    with the thresholds/s1 as panel edges."""
    thr = np.asarray(act.thresholds())
    lev = np.asarray(act.levels())
    s1, s2 = math.sqrt(var1), math.sqrt(var2)
    rho = cov / (s1 * s2)
    b = s2 * math.sqrt(1 - rho * rho)
    edges = np.unique(np.concatenate([np.linspace(-13, 13, 131),
                                      [t / s1 for t in thr if abs(t / s1) < 13]]))
    x, w = _composite(edges)
    cdf = stats.norm.cdf((thr[None, :] - s2 * rho * x[:, None]) / b)
    p = np.diff(np.concatenate([np.zeros((x.size, 1)), cdf, np.ones((x.size, 1))], 1), axis=1)
    cond = p @ lev - center
    sig = lev[np.searchsorted(thr, s1 * x, side="left")] - center
    return w @ (sig * cond)


STEPS = [pytest.param("binary", {"s1": -0.3, "s2": 1.1, "b": 1.2}, marks=pytest.mark.slow),
         pytest.param("ternary", {"s1": -0.8, "s2": 0.4, "b_neg": 0.6, "b_pos": 1.4},
                      marks=pytest.mark.slow),
         ("k_level", {"thresholds": [-1.0, 0.1, 0.7], "levels": [-1.0, -0.2, 0.5, 2.0]})]


@pytest.mark.parametrize("name,params", STEPS)
def test_steps_vs_1d_integral(name, params):
    act = get(name, **params)
    for var1, var2, cov, c in CASES:
        ck, dd = bivariate(act, var1, var2, cov, center=c)
        ref = _steps_reference(act, var1, var2, cov, c)
        np.testing.assert_allclose(ck, ref, rtol=1e-10, atol=1e-13)
        assert float(dd) == 0.0          # autodiff convention for piecewise constant


# --------------------------------------------------------------------------------------
# Monte Carlo, 1e7 pairs
# --------------------------------------------------------------------------------------
MC_N, MC_CHUNK = 10_000_000, 1_000_000
MC_CASE = (1.3, 0.7, 0.55, 0.2)              # var1, var2, cov, center
MC_ACTS = {"tanh": {}, "sigmoid": {}, "gelu": {}, "relu": {}, "erf": {},
           "binary": {"s1": -0.3, "s2": 1.1, "b": 1.2},
           "ternary": {"s1": -0.8, "s2": 0.4, "b_neg": 0.6, "b_pos": 1.4}}


@pytest.mark.slow   # a second independent check of the 1-D integral references above
def test_bivariate_vs_monte_carlo():
    var1, var2, cov, c = MC_CASE
    s1, s2 = math.sqrt(var1), math.sqrt(var2)
    rho = cov / (s1 * s2)
    acts = {n: get(n, **p) for n, p in MC_ACTS.items()}
    draw = jax.jit(lambda k: jax.random.normal(k, (2, MC_CHUNK), jnp.float64))

    @jax.jit
    def sums(z):
        u = s1 * z[0]
        v = s2 * (rho * z[0] + math.sqrt(1 - rho * rho) * z[1])
        out = {}
        for n, a in acts.items():
            e = jnp.stack([(a(u) - c) * (a(v) - c), a.derivative(u) * a.derivative(v)])
            out[n] = (jnp.sum(e, -1), jnp.sum(e * e, -1))
        return out

    tot = None
    for k in jax.random.split(jax.random.PRNGKey(99), MC_N // MC_CHUNK):
        r = sums(draw(k))
        tot = r if tot is None else jax.tree_util.tree_map(jnp.add, tot, r)
    for n, a in acts.items():
        m1, m2 = (np.asarray(x) for x in tot[n])
        mean = m1 / MC_N
        se = np.sqrt(np.maximum(m2 / MC_N - mean ** 2, 0) / MC_N)
        ck, dd = bivariate(a, var1, var2, cov, center=c)
        # 4 standard errors (issue criterion); dd of steps is exactly 0 both ways
        assert abs(float(ck) - mean[0]) <= 4 * se[0], (n, float(ck), mean[0], se[0])
        assert abs(float(dd) - mean[1]) <= 4 * se[1] + 1e-15, (n, float(dd), mean[1], se[1])


# --------------------------------------------------------------------------------------
# Kernel-matrix use, diagonal, broadcasting
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "tanh", "binary", "erf", "quadratic",
                                  pytest.param("gelu", marks=pytest.mark.slow)])
def test_kernel_matrix_shape_symmetry_psd_and_diagonal(name):
    act = get(name)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 12)) / 3
    G = X @ X.T
    d = np.diag(G)
    tau = float(np.sqrt(d.mean()))
    c = float(moments(act, tau).mean)
    ck, dd = bivariate(act, d[:, None], d[None, :], G, center=c)
    assert ck.shape == dd.shape == (40, 40)
    np.testing.assert_allclose(ck, ck.T, rtol=1e-12, atol=1e-14)
    # a covariance kernel (and E[s'(u)s'(v)]) is positive semi-definite
    assert np.linalg.eigvalsh(np.asarray(ck)).min() > -1e-10
    assert np.linalg.eigvalsh(np.asarray(dd)).min() > -1e-10
    # diagonal: E[(s(u)-c)^2] = var + (mean - c)^2 from the moments at tau_i = sqrt(d_i)
    m = moments(act, np.sqrt(d))
    np.testing.assert_allclose(np.diag(ck), m.var + (m.mean - c) ** 2, rtol=1e-10, atol=1e-13)
    if act.kind != "piecewise_constant":
        np.testing.assert_allclose(np.diag(dd), m.s, rtol=1e-10, atol=1e-13)


def test_elementwise_calls_agree_with_broadcast_call():
    """The broadcast call shares the per-sample Hermite coefficients (var2 repeats var1)."""
    act = get("tanh")
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 5)) / 2
    G = X @ X.T
    d = np.diag(G)
    ck, dd = bivariate(act, d[:, None], d[None, :], G, center=0.1)
    i, j = np.triu_indices(6, 1)
    cke, dde = bivariate(act, d[i], d[j], G[i, j], center=0.1)
    np.testing.assert_allclose(cke, ck[i, j], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dde, dd[i, j], rtol=1e-12, atol=1e-14)


def test_antidiagonal_u_equals_minus_v():
    """rho = -1 (v = -u) takes the exact 1-D path: E[s(u) s(-u)]."""
    act = get("tanh")
    ck, dd = bivariate(act, 0.9, 0.9, -0.9)
    xs = np.linspace(-14, 14, 200001)
    w = stats.norm.pdf(xs) * (xs[1] - xs[0])
    t = np.sqrt(0.9) * xs
    np.testing.assert_allclose(ck, np.sum(w * np.tanh(t) * np.tanh(-t)), rtol=1e-9)
    np.testing.assert_allclose(dd, np.sum(w / np.cosh(t) ** 4), rtol=1e-9)


def test_polynomial_is_exact_finite_series():
    """quadratic: E[u^2 v^2] = var1 var2 + 2 cov^2, E[2u 2v] = 4 cov (Isserlis)."""
    act = get("quadratic")
    v1, v2, cv = 1.3, 0.6, -0.5
    ck, dd = bivariate(act, v1, v2, cv, center=0.3)
    np.testing.assert_allclose(ck, v1 * v2 + 2 * cv ** 2 - 0.3 * (v1 + v2) + 0.09, rtol=1e-13)
    np.testing.assert_allclose(dd, 4 * cv, rtol=1e-13)


@pytest.mark.slow   # the Mehler path is checked against the 1-D integral above (tanh)
def test_mehler_method_agrees_with_closed_form_for_erf():
    act = get("erf")
    for var1, var2, cov, c in CASES:
        a = bivariate(act, var1, var2, cov, center=c)
        b = bivariate(act, var1, var2, cov, center=c, method="mehler")
        bound = act.mehler_error_bound(var1, var2, cov)
        assert abs(float(a[0]) - float(b[0])) <= float(bound[0]) + 1e-12
        assert abs(float(a[1]) - float(b[1])) <= float(bound[1]) + 1e-12


def test_jit_and_grad():
    act = get("leaky_relu", slope=0.1)
    f = jax.jit(lambda a, c: bivariate(a, 1.0, 0.8, c))
    np.testing.assert_allclose(f(act, 0.3)[0], bivariate(act, 1.0, 0.8, 0.3)[0], rtol=1e-14)
    g = jax.grad(lambda cov: bivariate(get("relu"), 1.0, 0.8, cov)[0])(0.3)
    h = 1e-6
    fd = (bivariate(get("relu"), 1.0, 0.8, 0.3 + h)[0] - bivariate(get("relu"), 1.0, 0.8, 0.3 - h)[0]) / (2 * h)
    # d/dcov E[relu(u)relu(v)] = E[relu'(u) relu'(v)] (Price's theorem) = dd
    np.testing.assert_allclose(g, fd, rtol=1e-7)
    np.testing.assert_allclose(g, bivariate(get("relu"), 1.0, 0.8, 0.3)[1], rtol=1e-12)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
def test_bad_inputs():
    act = get("relu")
    with pytest.raises(ValueError, match="var1"):
        bivariate(act, -1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="var2"):
        bivariate(act, 1.0, float("nan"), 0.0)
    with pytest.raises(ValueError, match="cov"):
        bivariate(act, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="method"):
        bivariate(act, 1.0, 1.0, 0.5, method="exact")
    with pytest.raises(ValueError, match="mehler"):
        bivariate(get("binary"), 1.0, 1.0, 0.5, method="mehler")
    with pytest.raises(ValueError, match="closed_form"):
        bivariate(get("tanh"), 1.0, 1.0, 0.5, method="closed_form")


# --------------------------------------------------------------------------------------
# Guarded numerics: finite over the supported input scale
# --------------------------------------------------------------------------------------
EXAMPLES = {"leaky_relu": {"slope": 0.1}, "polynomial": {"coeffs": [0.2, 1.0, -0.5, 0.3]},
            "k_level": {"thresholds": [-1.0, 0.2, 0.9], "levels": [-1.5, -0.3, 0.4, 1.2]}}
# the same code paths as tanh (Mehler series) and k_level (orthant probabilities)
SLOW_TWINS = ("sigmoid", "gelu", "swish", "softplus", "binary", "ternary")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TWINS
                                  else n for n in available()])
def test_bivariate_finite_over_the_supported_scale(name):
    """Scales s1, s2 from 0 (a zero variance) and 1e-3 to tau_max, correlations from -1 to
    1 (both diagonals exact), every entry finite; ck on the diagonal is the variance from
    the moments (an identity that also holds at the extremes)."""
    act = get(name, **EXAMPLES.get(name, {}))
    hi = act.tau_range()[1]
    s = np.concatenate([[0.0], np.geomspace(1e-3, hi, 12)])
    rho = np.array([-1.0, -0.999, -0.5, 0.0, 0.7, 0.999, 1.0])
    s1, s2, r = s[:, None, None], s[None, :, None], rho[None, None, :]
    ck, dd = bivariate(act, s1 ** 2, s2 ** 2, r * s1 * s2, center=0.1)
    assert ck.shape == dd.shape == (s.size, s.size, rho.size)
    assert np.all(np.isfinite(ck)) and np.all(np.isfinite(dd))
    m = moments(act, s[1:])
    diag = np.asarray(ck)[np.arange(1, s.size), np.arange(1, s.size), -1]
    np.testing.assert_allclose(diag, m.var + (m.mean - 0.1) ** 2, rtol=1e-9,
                               atol=1e-12 * max(1.0, float(np.max(np.abs(diag)))))
