"""Moment-matching solver and compress(): exact hidden matches, honest infeasibility."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.activations import get, moments
from ntkcomp.compress import (InfeasibleError, SolverOptions, compress, solve_layer,
                              target_from_activation)
from ntkcomp.networks import MLP

# tanh/erf are odd: a2 = 0, so binary (for which q = b (1 - 2 P_out) a2) cannot match q != 0
CASES = [("relu", "binary"), ("tanh", "ternary"), ("erf", "ternary")]


@pytest.mark.parametrize("name,family", CASES)
def test_hidden_layer_match_verified_independently(name, family):
    tau_d, tau_c = 0.9, 1.3  # design at a different (compressed) input scale
    t = target_from_activation(get(name), tau_d)
    sol = solve_layer(t, tau_c, family=family, solver=SolverOptions(tol=1e-10))
    assert sol.feasible and sol.max_residual <= 1e-10
    # independent check 1: the activations module's piecewise Gauss-Legendre quadrature of
    # the solved activation (a different code path from the solver's erf/exp closed forms);
    # THEORY section 3 reports ~1e-14 for that path, so 1e-9 relative leaves ample margin
    m = moments(sol.activation(), jnp.asarray(tau_c), method="quadrature")
    d = moments(get(name), jnp.asarray(tau_d), method="quadrature")
    assert float(m.a1) ** 2 == pytest.approx(float(d.a1) ** 2, rel=1e-9)
    assert abs(float(m.a2) ** 2 - float(d.a2) ** 2) <= 1e-9 * max(float(d.a2) ** 2,
                                                                  float(d.var) / tau_d ** 4)
    assert float(m.q) ** 2 == pytest.approx(float(d.q) ** 2, rel=1e-9)
    # independent check 2: Monte Carlo Stein identities a1 = E[xi sigma(tau xi)]/tau,
    # 2^21 samples: standard error ~ sd/sqrt(N) ~ 1e-3 * scale; 6 sigma bound
    xi = jax.random.normal(jax.random.PRNGKey(0), (2 ** 21,))
    s = np.asarray(sol.activation()(tau_c * xi))
    xi = np.asarray(xi)
    a1_mc = np.mean(xi * s) / tau_c
    se = np.std(xi * s) / tau_c / math.sqrt(xi.size)
    assert abs(abs(a1_mc) - abs(float(d.a1))) <= 6 * se


def test_binary_cannot_match_odd_activation_and_says_so():
    t = target_from_activation(get("tanh"), 1.0)
    sol = solve_layer(t, 1.0, family="binary", solver=SolverOptions(tol=1e-10))
    assert not sol.feasible and sol.max_residual > 1e-6
    # closed-form reason: for binary q = b (1 - 2 P_out) a2, hence a2 -> 0 forces q -> 0
    b = abs(float(sol.levels[0]))      # the activation's amplitude (moments even in b)
    m = moments(sol.activation(), jnp.asarray(1.0), method="quadrature")
    p_out = float(m.mean) / b
    # quadrature moments (another code path than the solver's closed forms): ~1e-13
    assert float(m.q) == pytest.approx(b * (1 - 2 * p_out) * float(m.a2),
                                       rel=1e-8, abs=1e-12)
    with pytest.raises(InfeasibleError):
        solve_layer(t, 1.0, family="binary", solver=SolverOptions(tol=1e-10),
                    require_feasible=True)


def test_solver_is_deterministic():
    t = target_from_activation(get("relu"), 1.0)
    a = solve_layer(t, 0.7, family="binary", solver=SolverOptions(seed=5))
    b = solve_layer(t, 0.7, family="binary", solver=SolverOptions(seed=5))
    np.testing.assert_array_equal(a.theta, b.theta)


def test_infeasible_last_layer_reports_identity_shift():
    """2-layer ReLU, binary everywhere: tau_L cannot be matched (THEORY section 8)."""
    from ntkcomp.data import gmm_preset
    from ntkcomp.equivalents import ck_equivalent

    sample = gmm_preset("mixed", 64).sample(jax.random.PRNGKey(1), 96)
    tau0 = float(sample.stats.tau0)
    net = MLP([64, 64], "relu", tau0=tau0)
    with pytest.warns(RuntimeWarning, match="identity shift"):
        res = compress(net, tau0, eps=0.5, family="binary")
    assert not res.feasible and res.layers[0].feasible and not res.layers[1].feasible
    last = res.layers[1]
    assert last.primary_residual <= 1e-10 and abs(last.residuals["tau_sq"]) > 1e-3
    # delta from an independent route: the MLP's own moment recursion (net.taus, computed by
    # ntkcomp.activations.moments) -- alphas agree, so delta = tau_c^2 - tau_d^2
    delta = res.compressed.taus[-1] ** 2 - net.taus[-1] ** 2
    assert res.identity_shift == pytest.approx(delta, rel=1e-9)
    assert abs(delta) > 1e-3
    # and in the equivalent matrices: K~_c - K~_d = delta I up to rounding (kurtosis off)
    diff = np.asarray(ck_equivalent(res.compressed, sample)) - np.asarray(
        ck_equivalent(net, sample))
    scale = np.linalg.norm(np.asarray(ck_equivalent(net, sample)), 2)
    np.testing.assert_allclose(diff, delta * np.eye(96), atol=1e-10 * scale)


@pytest.mark.parametrize("eps", [1.0, -0.1, 1.5, [0.5]])
def test_eps_validation(eps):
    net = MLP([8, 8], "relu", tau0=1.0)
    with pytest.raises(ValueError, match="eps"):
        compress(net, 1.0, eps=eps, family="binary")


def test_other_argument_validation():
    net = MLP([8], "relu", tau0=1.0)
    with pytest.raises(ValueError, match="family"):
        compress(net, 1.0, family="quaternary")
    with pytest.raises(ValueError, match="target"):
        compress(net, 1.0, target="cka")
    with pytest.raises(ValueError, match="levels"):
        compress(net, 1.0, family="k_level")
