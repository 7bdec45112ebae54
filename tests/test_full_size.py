"""The paper-size path of the figures (``paper_figures._full_size``, ``fig1 full_point``) at a
tiny size, against the default (dense) path and a Monte Carlo average written out here."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.networks import MLP
from ntkcomp.spectral import wasserstein1
from paper_figures import _full_size


def test_mc_ck_is_the_mean_of_the_draws():
    X = jax.random.normal(jax.random.PRNGKey(0), (50, 20)) / 20 ** 0.5
    net = MLP([40, 30], ["relu", "tanh"], tau0=1.0)
    K = _full_size.mc_ck(net, X, jax.random.PRNGKey(3), 6, chunk=4)   # ragged last chunk
    assert K.dtype == jnp.float32
    ref = 0.0
    for k in jax.random.split(jax.random.PRNGKey(3), 6):
        with jax.enable_x64(False):
            pr = net.init(k, 20, dtype=jnp.float32)
        pr = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), pr)
        H = np.asarray(net.features(pr, jnp.asarray(X, jnp.float64))[-1])
        ref = ref + H @ H.T / 6
    # float32 forward pass and GEMM against float64 from the same weights
    assert np.max(np.abs(np.asarray(K) - ref)) <= 1e-5 * np.max(np.abs(ref))


def test_stored_and_shifted_measures():
    arrays = {}
    m = _full_size.measure(jnp.diag(jnp.arange(1.0, 129.0)), 0)
    _full_size.store(arrays, "k", m)
    back = _full_size.stored(arrays, "k")
    assert back.weights.sum() == pytest.approx(1.0)
    # SLQ of diag(1..128): W1 to the exact eigenvalues within the probe error
    # (range / sqrt(n probes) ~ 127 / 50)
    assert wasserstein1(back, np.arange(1.0, 129.0)) < 3.0
    np.testing.assert_allclose(_full_size.shifted(back, 0.5).nodes, back.nodes - 0.5)
    np.testing.assert_allclose(_full_size.shifted(np.ones(3), 1.0), np.zeros(3))


def test_fig1_full_point_agrees_with_the_dense_path():
    from experiments.harness.definitions import spectral_equivalence
    from paper_figures.fig1_spectra import full_point

    cfg = {"data": "mixed", "n": 160, "p": 80, "K": 2, "widths": [64, 64, 32],
           "activations": ["relu"], "seed": 0, "kinds": ["ck", "ntk"], "exact": True}
    full = full_point({**cfg, "method": "slq"})
    dense = spectral_equivalence({**cfg, "method": "dense", "rf_law": False})
    for kind in ("ck", "ntk"):
        # the same float64 operator-norm error (same data, network and equivalent)
        assert full[kind]["relop_expected_equiv"] == pytest.approx(
            dense[kind]["relop_expected_equiv"], rel=1e-6)
        # SLQ measure of E_W vs its exact eigenvalues: W1 within a few % of the spread
        e = dense["_arrays"][f"{kind}_expected"]
        m = _full_size.stored(full["_arrays"], f"{kind}_expected")
        assert wasserstein1(m, e) < 0.05 * (e.max() - e.min())
    # the single draw's CK_L from its d_L x d_L Gram: n - d_L exact zeros, d_L positive
    ev = np.sort(full["_arrays"]["ck_single"])
    assert ev.size == 160
    assert np.all(np.abs(ev[:160 - 32]) <= 1e-6 * ev[-1]) and np.all(ev[160 - 32:] > 0)
