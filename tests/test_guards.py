"""Numerical guards (issue 8 item 4): float32 precision warnings, NaN/Inf never silently in a
report, eigen-solver and moment-solver non-convergence reported."""
import json
import math
import os
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp._guards import (ConvergenceWarning, NonFiniteError, PrecisionWarning,
                             check_eigenpairs_converged, check_finite, check_report_finite,
                             ritz_residuals, warn_if_float32)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_float32_precision_warning_in_subprocess():
    # the test process is float64 (conftest); JAX's default float32 needs a fresh interpreter
    code = (
        "import warnings, json\n"
        "from ntkcomp.config import x64_enabled\n"
        "from ntkcomp._guards import warn_if_float32, PrecisionWarning\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    a = warn_if_float32(1e-10, where='t')\n"
        "    b = warn_if_float32(1e-3, where='t')\n"
        "print(json.dumps([x64_enabled(), a, b,"
        " [issubclass(x.category, PrecisionWarning) for x in w]]))\n")
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    x64, warned_tight, warned_loose, cats = json.loads(out.stdout.strip().splitlines()[-1])
    assert x64 is False
    assert warned_tight is True and warned_loose is False   # 1e-10 < 1e-6 <= 1e-3
    assert cats == [True]                                    # exactly one PrecisionWarning


def test_no_precision_warning_in_float64():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_float32(1e-12, where="t") is False


def test_nan_in_report_raises_naming_the_key():
    rep = {"n": 10, "exact": {"ck_1": {"rel_op_diff": 0.1, "w1": float("nan")}},
           "s": "inf", "spikes": [1.0, 2.0]}
    with pytest.raises(NonFiniteError, match=r"\['exact'\]\['ck_1'\]\['w1'\]"):
        check_report_finite(rep, where="unit")
    # NonFiniteError is a ValueError (bad-result handling) and a FloatingPointError
    assert issubclass(NonFiniteError, ValueError) and issubclass(NonFiniteError, FloatingPointError)
    rep["exact"]["ck_1"]["w1"] = 0.3
    assert check_report_finite(rep) is rep              # the string "inf" is intentional
    rep["spikes"][1] = np.inf
    with pytest.raises(NonFiniteError, match=r"\['spikes'\]\[1\]"):
        check_report_finite(rep)
    # an explicitly allowed key may be +-Inf but never NaN
    check_report_finite({"s": np.inf}, allow_inf=("s",))
    with pytest.raises(NonFiniteError, match="'s'"):
        check_report_finite({"s": np.nan}, allow_inf=("s",))
    with pytest.raises(NonFiniteError, match="NTK"):
        check_finite("NTK", jnp.array([[1.0, jnp.inf]]))


def test_rundir_refuses_nan_results_and_writes_nothing(tmp_path):
    from experiments.harness.rundir import RunDir

    rd = RunDir(tmp_path / "run")
    with pytest.raises(ValueError, match="top_eigenvalue"):
        rd.write_results({"top_eigenvalue": float("nan"), "s": float("inf")})
    assert not (rd.path / "results.json").exists()
    rd.write_results({"top_eigenvalue": 1.0, "s": float("inf")})   # Inf allowed, NaN not
    assert (rd.path / "results.json").exists()
    with pytest.raises(ValueError, match="eigs"):
        rd.write_results({"ok": 1.0}, {"eigs": np.array([1.0, np.nan])})
    rd.commit()
    assert (tmp_path / "run" / "results.json").exists()


def _clustered(n=120, seed=0):
    """Symmetric A = Q diag(ev) Q^T: 5 top eigenvalues clustered within 4e-3 of 1, the rest
    spread in [0, 0.5] (Lanczos separates the top cluster only after many steps)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.concatenate([1.0 + 1e-3 * np.arange(5), np.linspace(0.0, 0.5, n - 5)])
    return (Q * ev) @ Q.T


def test_lanczos_nonconvergence_reported_and_convergence_certified():
    from ntkcomp.spectral import top_eigenpairs

    A = _clustered()
    n, k = A.shape[0], 3
    Aj = jnp.asarray(A)
    mv = lambda v: Aj @ v  # noqa: E731
    lam = np.linalg.eigh(A)[0][::-1][:k]                 # independent reference: LAPACK
    with pytest.warns(ConvergenceWarning, match="not converged"):
        few = top_eigenpairs(mv, n, k, jax.random.PRNGKey(0), num_steps=6)
    assert not np.all(few.converged)
    # the flag is honest: the unconverged Ritz values really are off by more than 1e-6
    assert np.max(np.abs(np.asarray(few.values) - lam)) > 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        many = top_eigenpairs(mv, n, k, jax.random.PRNGKey(0), num_steps=100)
    assert np.all(many.converged)
    # converged => |theta - lambda| <= residual (Kahan bound) and <= 1e-6 * ||A||
    assert np.max(np.abs(np.asarray(many.values) - lam)) <= 1e-6
    # residuals returned by the solver agree with an independent recomputation
    r = ritz_residuals(lambda v: A @ v, many.values, many.vectors)
    np.testing.assert_allclose(np.asarray(many.residuals), r, atol=1e-12)
    # Kahan: SOME eigenvalue of A lies within the residual of each (even unconverged) theta
    lam_all = np.linalg.eigh(A)[0]
    dist = np.min(np.abs(np.asarray(few.values)[:, None] - lam_all[None, :]), axis=1)
    assert np.all(dist <= ritz_residuals(lambda v: A @ v, few.values, few.vectors) + 1e-12)


def test_check_eigenpairs_converged_nan_is_not_converged():
    with pytest.warns(ConvergenceWarning):
        ok = check_eigenpairs_converged(np.array([2.0, 1.0]), np.array([0.0, np.nan]))
    assert ok.tolist() == [True, False]


def test_moment_solver_lm_nonconvergence_reported():
    from ntkcomp.activations import get
    from ntkcomp.compress import (InfeasibleError, SolverOptions, solve_layer,
                                  target_from_activation)

    t = target_from_activation(get("relu"), 1.0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        sol = solve_layer(t, 1.0, family="binary", iters=1, solver=SolverOptions(n_starts=8))
    assert not sol.feasible and not sol.lm_converged
    assert sol.to_json()["lm_converged"] is False
    with pytest.warns(ConvergenceWarning), pytest.raises(InfeasibleError, match="NOT converge"):
        solve_layer(t, 1.0, family="binary", iters=1,
                    solver=SolverOptions(n_starts=8), require_feasible=True)
    # enough iterations: feasible, converged, no warning (relu is matchable by binary)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        good = solve_layer(t, 1.0, family="binary", solver=SolverOptions(n_starts=8))
    assert good.feasible and good.lm_converged and good.max_residual <= 1e-10
    assert math.isfinite(good.lm_rel_gradient)


def test_entry_points_call_the_float32_guard(monkeypatch):
    # simulate float32 mode for the guard only (arrays stay float64): the public entry points
    # that take a tolerance must warn before doing any work; a bad later argument then stops
    # them cheaply (the warning comes first, so it is observed)
    import ntkcomp.config
    from ntkcomp.compress import SolverOptions, compress
    from ntkcomp.networks import MLP
    from ntkcomp.spectral import top_eigenpairs

    monkeypatch.setattr(ntkcomp.config, "x64_enabled", lambda: False)
    net = MLP([8, 8], ["relu", "relu"])
    with pytest.warns(PrecisionWarning, match="compress"), pytest.raises(ValueError,
                                                                         match="eps"):
        compress(net, 1.0, solver=SolverOptions(tol=1e-10), eps=1.5)
    with pytest.warns(PrecisionWarning, match="top_eigenpairs"), pytest.raises(ValueError):
        top_eigenpairs(lambda v: v, 4, 1, jax.random.PRNGKey(0), tol=1e-9, method="lobpcg",
                       which="smallest")


# --- dtype policy of the public entry points (ntkcomp._validate) ---------------------------

@pytest.mark.parametrize("value,expected", [(3, 3), (np.int64(4), 4), (np.array(5), 5),
                                            (jnp.int32(6), 6), (np.uint8(7), 7)])
def test_integer_parameters_are_converted(value, expected):
    from ntkcomp._validate import check_positive_int

    out = check_positive_int("n", value)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", [2.0, 2.5, True, "3", None, np.array([1, 2]), 0])
def test_integer_parameters_are_refused_naming_them(value):
    from ntkcomp._validate import check_positive_int

    with pytest.raises(ValueError, match=r"^n must be an integer >= 1"):
        check_positive_int("n", value)


def test_real_parameters_converted_or_refused():
    from ntkcomp._validate import as_float

    assert as_float("tau", jnp.int32(2)) == 2.0 and as_float("tau", np.float32(0.5)) == 0.5
    for bad, why in ((float("nan"), "finite"), (float("inf"), "finite"), (True, "real"),
                     (1j, "real"), ("1", "real"), ([1.0], "real")):
        with pytest.raises(ValueError, match=rf"^tau must be (a )?{why}"):
            as_float("tau", bad)


def test_data_policy_casts_integers_and_refuses_non_finite_and_overflow():
    from ntkcomp._validate import check_data

    out = check_data("X", np.arange(6).reshape(2, 3))
    assert out.dtype == jnp.result_type(float)          # integers -> the default float
    np.testing.assert_array_equal(np.asarray(out), np.arange(6).reshape(2, 3))
    assert check_data("X", np.ones((2, 3), np.float32)).dtype == jnp.float32   # kept
    bad = np.ones((4, 3))
    bad[1, 2] = np.nan
    bad[3, 0] = -np.inf
    with pytest.raises(ValueError, match="X must be finite; found 2 NaN/Inf"):
        check_data("X", bad)
    with pytest.raises(ValueError, match="weights must be a real numeric array"):
        check_data("weights", np.ones((2, 2), complex))
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        check_data("X", np.ones(3))
    # float64 max is 1.8e308: with 3 features, entries above sqrt(1.8e308 / 3) ~ 7.7e153
    # make X @ X.T overflow, so 1e200 is refused and 1e150 accepted
    with pytest.raises(ValueError, match="X has entries up to 1e.200.*overflow float64"):
        check_data("X", np.full((2, 3), 1e200))
    check_data("X", np.full((2, 3), 1e150))


def test_entry_points_refuse_nan_and_overflowing_data_and_weights():
    """NaN/Inf data or weights, and data whose Gram overflows, are refused by name at the
    public entry points (equivalents, exact and empirical kernels) instead of giving NaN/Inf
    kernels."""
    import jax
    import numpy as np
    import pytest

    from ntkcomp import data, equivalents, kernels, networks

    s = data.gmm_preset("mixed", 16).sample(jax.random.PRNGKey(0), 24)
    net = networks.MLP([16, 16], ["relu", "tanh"], tau0=float(s.stats.tau0))
    X = np.array(s.X)
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        equivalents.ck_equivalent(net, s, X=X)
    with pytest.raises(ValueError, match="X must be finite"):
        equivalents.ntk_equivalent(net, s, X=X)
    with pytest.raises(ValueError, match="X has entries up to .* overflow"):
        kernels.expected_kernels(net, np.array(s.X) * 1e200)
    params = net.init(jax.random.PRNGKey(1), 16)
    params["w"] = params["w"].at[0].set(np.inf)
    with pytest.raises(ValueError, match=r"params\['w'\] must be finite"):
        kernels.empirical_ntk(net, params, s.X)
    params = net.init(jax.random.PRNGKey(1), 16)
    params["W"][1] = params["W"][1].at[0, 0].set(np.nan)
    with pytest.raises(ValueError, match=r"params\['W'\]\[1\] must be finite"):
        kernels.conjugate_kernels(net, params, s.X)
