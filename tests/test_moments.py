"""Gaussian moments: closed forms vs piecewise quadrature (two independent computations)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.activations import get, moments

TAUS = np.geomspace(0.1, 10.0, 41)

CLOSED = [
    ("relu", {}), ("leaky_relu", {"slope": 0.2}), ("abs", {}), ("erf", {}), ("sin", {}),
    ("cos", {}), ("quadratic", {}), ("polynomial", {"coeffs": [0.3, -1.0, 0.5, 0.2]}),
    ("binary", {"s1": -0.4, "s2": 1.3, "b": 1.0}),
    ("ternary", {"s1": -0.7, "s2": 0.3, "b_neg": 0.8, "b_pos": 1.5}),
    ("k_level", {"thresholds": [-1.0, 0.2, 0.5], "levels": [-2.0, -0.5, 0.3, 1.1]}),
]


@pytest.mark.parametrize("name,params", CLOSED)
def test_closed_form_matches_quadrature(name, params):
    act = get(name, **params)
    cf = moments(act, TAUS, method="closed_form")
    qd = moments(act, TAUS, method="quadrature")
    for field in cf._fields:
        x, y = np.asarray(getattr(cf, field)), np.asarray(getattr(qd, field))
        if act.kind == "piecewise_constant" and field == "s":
            assert np.all(np.isinf(x)) and np.all(np.isinf(y))
            continue
        # rtol 1e-10 is the target; atol 1e-13 is the float64 floor of summing
        # ~1000 O(1) terms (moments that are exactly 0 or ~e^{-50}, e.g. sin's a1 at tau=10,
        # cannot be resolved relatively by any quadrature of O(1) integrands).
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-13, err_msg=f"{name}.{field}")


def test_grad_wrt_tau_and_thresholds_vs_finite_differences():
    act = get("binary", s1=-0.4, s2=1.3, b=1.0)
    for method in ("closed_form", "quadrature"):
        for field in ("mean", "var", "a1", "a2", "q"):
            f = lambda a, t: getattr(moments(a, t, method=method), field)  # noqa: E731
            g_act, g_tau = jax.grad(f, argnums=(0, 1))(act, 0.7)
            h = 1e-5
            fd_tau = (f(act, 0.7 + h) - f(act, 0.7 - h)) / (2 * h)
            # central differences: truncation O(h^2) ~ 1e-10, rounding ~1e-16/h ~ 1e-11
            np.testing.assert_allclose(g_tau, fd_tau, rtol=1e-7, atol=1e-9)
            for pname in ("s1", "s2", "b"):
                plus = get("binary", **{**{k: float(v) for k, v in act.params.items()},
                                        pname: float(act.params[pname]) + h})
                minus = get("binary", **{**{k: float(v) for k, v in act.params.items()},
                                         pname: float(act.params[pname]) - h})
                fd = (f(plus, 0.7) - f(minus, 0.7)) / (2 * h)
                np.testing.assert_allclose(g_act.params[pname], fd, rtol=1e-7, atol=1e-9,
                                           err_msg=f"{method} {field} d/d{pname}")


def test_jit_and_vectorised():
    act = get("tanh")
    taus = jnp.asarray(TAUS).reshape(41, 1) * jnp.ones((1, 3))
    m = jax.jit(lambda t: moments(act, t))(taus)
    assert m.var.shape == (41, 3)
    m1 = moments(act, float(TAUS[7]))
    np.testing.assert_allclose(m.var[7, 2], m1.var, rtol=1e-14)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_bad_tau(bad):
    with pytest.raises(ValueError, match="tau"):
        moments(get("relu"), bad)
