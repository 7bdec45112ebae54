"""Matrix-free kernel operators (``ntkcomp.kernels.ck_operator`` / ``ntk_operator``) against
independently materialised kernels, the operator protocol of ``ntkcomp.spectral``, and sharding.

References: ``ntkcomp.kernels.empirical_ntk`` / ``conjugate_kernels`` (tiled Gram
implementation written separately) and ``ntk_autodiff`` (jax.jacrev, an independent route to
the NTK), ``ntkcomp.equivalents`` dense equivalents. All in float64: agreement to 1e-12
relative is roundoff of sums of O(d) products.

Sharding: a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (set
before jax is imported) computes the SLQ and KPM results with the operator on one device
and sharded by rows over 8 devices; they must agree to 1e-9 (same probes, same arithmetic
up to the order of the reductions).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkcomp.kernels import ck_operator, ntk_operator
from ntkcomp.kernels._operators import FactorKernel
from ntkcomp.spectral import wasserstein1
from ntkcomp.spectral._operator import DenseOperator, as_operator, shard_rows


@pytest.fixture(scope="module")
def setup():
    from ntkcomp.data import gmm_preset
    from ntkcomp.networks import MLP

    p, n = 40, 150
    sample = gmm_preset("means", p=p).sample(jax.random.PRNGKey(0), n)
    net = MLP([30, 20], ["tanh", "relu"], tau0=float(sample.stats.tau0))
    params = net.init(jax.random.PRNGKey(1), p)
    return net, params, sample


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("method,block", [("features", 64), ("tiled", 64), ("tiled", 150),
                                          ("tiled", 1000)])
def test_ntk_operator_matches_materialised_ntk(setup, method, block):
    from ntkcomp.kernels import empirical_ntk

    net, params, s = setup
    K = np.asarray(empirical_ntk(net, params, s.X))
    op = ntk_operator(net, params, s.X, method=method, block_size=block)  # 64: padded last tile
    V = np.random.default_rng(0).standard_normal((s.X.shape[0], 3))
    assert _rel(jax.vmap(op, in_axes=1, out_axes=1)(jnp.asarray(V)), K @ V) < 1e-12
    assert _rel(op.to_dense(), K) < 1e-12
    assert _rel(op.diag(), np.diag(K)) < 1e-12


def test_ntk_operator_matches_autodiff_ntk(setup):
    from ntkcomp.kernels._autodiff import ntk_autodiff

    net, params, s = setup
    X = s.X[:40]
    K = np.asarray(ntk_autodiff(net, params, X))
    op = ntk_operator(net, params, X, method="features")
    assert _rel(op.to_dense(), K) < 1e-12


def test_ck_operator_all_layers(setup):
    from ntkcomp.kernels import conjugate_kernels

    net, params, s = setup
    cks = conjugate_kernels(net, params, s.X)
    v = jnp.asarray(np.random.default_rng(1).standard_normal(s.X.shape[0]))
    for layer in (1, 2):
        assert _rel(ck_operator(net, params, s.X, layer)(v), np.asarray(cks[layer - 1]) @ v) < 1e-12
    X = np.asarray(s.X)
    assert _rel(ck_operator(net, params, s.X, 0)(v), X @ (X.T @ np.asarray(v))) < 1e-12
    assert _rel(ck_operator(net, params, s.X)(v), np.asarray(cks[-1]) @ v) < 1e-12
    with pytest.raises(ValueError, match="layer"):
        ck_operator(net, params, s.X, 3)


@pytest.mark.parametrize("kind", ["ck", "ntk"])
def test_spectral_functions_take_equivalent_operators(setup, kind):
    """A structured equivalent kernel (a pytree with ``shape``/``matvec``) and a plain
    callable ``v -> K v`` with ``n`` go straight into ``spectrum`` / ``operator_norm`` /
    ``top_eigenpairs``: the results equal those of the dense matrix (numpy's eigvalsh)."""
    from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
    from ntkcomp.spectral import operator_norm, spectrum, top_eigenpairs

    net, _, s = setup
    op = ck_equivalent(net, s) if kind == "ck" else ntk_equivalent(net, s)
    E = np.asarray(op)
    ev = np.linalg.eigvalsh(E)
    top = np.max(np.abs(ev))
    assert np.max(np.abs(spectrum(op, method="dense").nodes - ev)) < 1e-12 * top
    assert abs(operator_norm(op) - top) < 1e-12 * top
    assert abs(operator_norm(op, dense_max=10) - top) < 1e-9 * top      # ARPACK path
    assert abs(operator_norm(lambda v: E @ v, E.shape[0], dense_max=10) - top) < 1e-9 * top
    r = top_eigenpairs(op, None, 2, jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.asarray(r.values), ev[::-1][:2], rtol=1e-10)
    slq = spectrum(op, method="slq", num_probes=4, num_steps=40)
    # the largest Ritz value of 40 reorthogonalisation-free steps converges to the isolated
    # top eigenvalue (geometrically in the gap ratio)
    assert abs(float(np.max(slq.nodes)) - ev[-1]) < 1e-8 * top


def test_auto_method_picks_cheaper_product():
    rng = np.random.default_rng(3)
    n = 128
    narrow = [(jnp.asarray(rng.standard_normal((n, 4))), jnp.asarray(rng.standard_normal((n, 4))))]
    wide = [(jnp.asarray(rng.standard_normal((n, 200))), jnp.asarray(rng.standard_normal((n, 200))))]
    # narrow: features 4n*16 << tiled 2n^2*8; wide: features 4n*40000 = 20.5e6 > tiled 2n^2*400 = 13.1e6
    assert FactorKernel(narrow).cost_per_vector("features") < FactorKernel(narrow).cost_per_vector("tiled")
    assert FactorKernel(wide).cost_per_vector("features") > FactorKernel(wide).cost_per_vector("tiled")
    # dtype is preserved: a float32 operator applied to a float64 vector returns float64
    op = FactorKernel([(a.astype(jnp.float32), b.astype(jnp.float32)) for a, b in narrow])
    out = op(jnp.ones(n))
    assert out.dtype == jnp.float64
    K64 = np.asarray(FactorKernel(narrow).to_dense())
    assert _rel(out, K64 @ np.ones(n)) < 1e-5  # float32 products: ~1e-7 relative


def test_operators_validate_input():
    with pytest.raises(ValueError, match="square"):
        as_operator(np.ones((3, 4)))
    with pytest.raises(ValueError, match="2-D"):
        FactorKernel(grams=(jnp.ones(3),))
    with pytest.raises(ValueError, match="method"):
        FactorKernel(grams=(jnp.ones((3, 2)),), method="dense")
    with pytest.raises(ValueError, match="pair or gram"):
        FactorKernel()


def test_shard_rows_single_device_roundtrip(setup):
    net, params, s = setup
    op = ntk_operator(net, params, s.X, method="tiled", block_size=50)
    sh = shard_rows(op)  # 1 device here: a no-op placement that must not change results
    v = jnp.asarray(np.random.default_rng(4).standard_normal(s.X.shape[0]))
    assert _rel(sh(v), op(v)) < 1e-14
    assert isinstance(shard_rows(DenseOperator(jnp.eye(4))), DenseOperator)


_SHARD_SCRIPT = textwrap.dedent("""
    import os, json
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp, numpy as np
    assert len(jax.devices()) == 8, jax.devices()
    from ntkcomp.data import gmm_preset
    from ntkcomp.networks import MLP
    from ntkcomp.kernels import ntk_operator, ck_operator
    from ntkcomp.spectral import spectrum, top_eigenpairs, wasserstein1
    from ntkcomp._mesh import device_mesh
    from ntkcomp.spectral._operator import DenseOperator, shard_rows
    from ntkcomp.spectral._slq import slq_quadrature
    from ntkcomp.spectral._kpm import kpm_moments
    p, n = 32, 256
    s = gmm_preset("means", p=p).sample(jax.random.PRNGKey(0), n)
    net = MLP([24, 16], "tanh", tau0=float(s.stats.tau0))
    prm = net.init(jax.random.PRNGKey(1), p)
    mesh = device_mesh()
    out = {}
    ops = {"ntk_tiled": ntk_operator(net, prm, s.X, method="tiled", block_size=32),
           "ck": ck_operator(net, prm, s.X)}
    ops["dense"] = DenseOperator(ops["ntk_tiled"].dense())
    key = jax.random.PRNGKey(2)
    for name, op in ops.items():
        sh = shard_rows(op, mesh)
        leaf = jax.tree_util.tree_leaves(sh)[0]
        assert len(leaf.sharding.device_set) == 8, leaf.sharding
        a = slq_quadrature(op, n, key, num_probes=4, num_steps=20, reorth=True)
        b = slq_quadrature(sh, n, key, num_probes=4, num_steps=20, reorth=True)
        y = jax.jit(lambda o, v: o(v))(sh, jnp.ones(n))
        w1 = lambda a, b: wasserstein1(np.ravel(a[0]), np.ravel(b[0]), weights_a=np.ravel(a[1]), weights_b=np.ravel(b[1]))
        r = dict(w1=w1(a, b),
                 scale=float(np.abs(np.asarray(a[0])).max()),
                 matvec_devices=len(y.sharding.device_set),
                 matvec=float(np.abs(np.asarray(y) - np.asarray(op(jnp.ones(n)))).max()))
        if name == "ntk_tiled":
            ka = kpm_moments(op, n, key, num_moments=40, num_probes=4, bounds=(-1.0, 40.0))
            kb = kpm_moments(sh, n, key, num_moments=40, num_probes=4, bounds=(-1.0, 40.0))
            r["kpm"] = float(np.abs(ka - kb).max())
            # the public entry point: spectrum(..., mesh=) (materialises this small NTK, then
            # shards the stored kernel's rows; KPM bounds by Lanczos with reorthogonalisation)
            sa = spectrum(op, method="kpm", key=key, num_moments=60, num_probes=4)
            sb = spectrum(op, method="kpm", key=key, num_moments=60, num_probes=4, mesh=mesh)
            r["spectrum_kpm"] = float(np.abs(sa.info["moments"] - sb.info["moments"]).max())
            r["spectrum_kpm_bounds"] = float(np.abs(np.subtract(sa.info["bounds"], sb.info["bounds"])).max())
        if name == "dense":
            a0 = slq_quadrature(op, n, key, num_probes=4, num_steps=20)
            b0 = slq_quadrature(sh, n, key, num_probes=4, num_steps=20)
            r["w1_noreorth"] = w1(a0, b0)
            sa = spectrum(op, method="slq", key=key, num_probes=4, num_steps=20, reorth=True)
            sb = spectrum(op, method="slq", key=key, num_probes=4, num_steps=20, reorth=True,
                          mesh=mesh)
            r["spectrum_slq"] = w1((sa.nodes, sa.weights), (sb.nodes, sb.weights))
            ta = top_eigenpairs(op, n, 2, key, num_steps=40).values
            tb = top_eigenpairs(sh, n, 2, key, num_steps=40).values
            r["top"] = float(np.abs(np.asarray(ta) - np.asarray(tb)).max() / abs(float(ta[0])))
        out[name] = r
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow  # the fast check of sharded spectra is tests/test_multiprocess.py
def test_sharded_density_equals_single_device_8_virtual_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", _SHARD_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][0]
    res = json.loads(line[len("RESULT"):])
    assert set(res) == {"ntk_tiled", "ck", "dense"}
    for name, r in res.items():
        # same probes and arithmetic, only the order of the reductions differs: the SLQ
        # measures agree to roundoff (W1 compared, not node-by-node: the low-rank CK breaks
        # down and its repeated zero Ritz values split their weight arbitrarily)
        assert r["w1"] <= 1e-10 * r["scale"], (name, r)
        assert r["matvec"] <= 1e-12 * r["scale"], (name, r)
        assert r["matvec_devices"] == 8, (name, r)
    assert res["ntk_tiled"]["kpm"] <= 1e-12
    # spectrum(..., mesh=mesh) over 8 devices == spectrum(...) on one: same probes, roundoff
    assert res["ntk_tiled"]["spectrum_kpm"] <= 1e-10, res["ntk_tiled"]
    assert res["ntk_tiled"]["spectrum_kpm_bounds"] <= 1e-10 * res["ntk_tiled"]["scale"]
    assert res["dense"]["spectrum_slq"] <= 1e-10 * res["dense"]["scale"]
    assert res["dense"]["top"] <= 1e-12
    # without reorthogonalisation (the SLQ default) the recurrence amplifies roundoff
    # differences (ghost Ritz values appear at slightly different steps): still <= 1e-6
    # relative, four orders below the statistical error of SLQ itself
    assert res["dense"]["w1_noreorth"] <= 1e-6 * res["dense"]["scale"]


def test_should_materialize_and_spectrum_paths_agree(setup):
    from ntkcomp.spectral import spectrum

    net, params, s = setup
    op = ntk_operator(net, params, s.X, method="features")
    # n = 150: storing 150^2 floats and 2 n^2 per product beats 4 n sum d_a d_b per vector
    assert op.should_materialize(100, 16)
    assert not op.should_materialize(100, 16, max_bytes=1000)  # does not fit
    assert not ck_operator(net, params, s.X).should_materialize(100, 16)  # Gram: never
    key = jax.random.PRNGKey(3)
    a = spectrum(op, method="slq", key=key, num_steps=40, num_probes=4, materialize=True,
                 reorth=True)
    b = spectrum(op, method="slq", key=key, num_steps=40, num_probes=4, materialize=False,
                 reorth=True)
    # same probes, same operator: identical measures up to roundoff (with reorthogonalisation;
    # without it roundoff differences are amplified, see the sharding test)
    assert wasserstein1(a, b) < 1e-10
