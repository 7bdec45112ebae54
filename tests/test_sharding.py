"""Sharded kernels equal single-device kernels, and really are spread over 8 devices.

Runs in a subprocess because ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` must
be set before jax is imported (the test process has already imported jax).
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ntkcomp.kernels._sharding import cyclic_offsets

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    import ntkcomp
    ntkcomp.enable_x64()
    from ntkcomp.kernels import (empirical_ntk, conjugate_kernels, sharded_empirical_ntk,
                                 sharded_conjugate_kernels)
    from ntkcomp._mesh import device_mesh
    from ntkcomp.networks import MLP

    def rel(a, b):
        a, b = np.asarray(a), np.asarray(b)
        return float(np.abs(a - b).max() / np.abs(b).max())

    out = {"n_devices": len(jax.devices())}
    net = MLP([24, 16], ["relu", "tanh"])
    params = net.init(jax.random.PRNGKey(0), 10)
    X = jax.random.normal(jax.random.PRNGKey(1), (32, 10)) / np.sqrt(10)
    X2 = jax.random.normal(jax.random.PRNGKey(2), (12, 10)) / np.sqrt(10)
    K1 = empirical_ntk(net, params, X)
    Ks = empirical_ntk(net, params, X, sharded=True, block_size=3)
    out["ntk_rel"] = rel(Ks, K1)
    out["ntk_devices"] = len(Ks.sharding.device_set)
    out["ntk_shard_shapes"] = sorted({tuple(s.data.shape) for s in Ks.addressable_shards})
    out["ntk_spec"] = str(Ks.sharding.spec)
    Kx = sharded_empirical_ntk(net, params, X, X2, mesh=device_mesh())
    out["ntk_cross_rel"] = rel(Kx, empirical_ntk(net, params, X, X2))
    out["ntk_cross_devices"] = len(Kx.sharding.device_set)
    C1 = conjugate_kernels(net, params, X, X2)
    Cs = sharded_conjugate_kernels(net, params, X, X2)
    out["ck_rel"] = max(rel(a, b) for a, b in zip(Cs, C1))
    out["ck_devices"] = min(len(c.sharding.device_set) for c in Cs)
    # symmetric CK (cyclic half-row scheme) and meshes of 1, 2, 3, 5 devices
    Cs_sym = sharded_conjugate_kernels(net, params, X, block_size=3)
    out["ck_sym_rel"] = max(rel(a, b) for a, b in zip(Cs_sym, conjugate_kernels(net, params, X)))
    out["ck_sym_devices"] = min(len(c.sharding.device_set) for c in Cs_sym)
    out["mesh_rel"] = {}
    for D in (1, 2, 3, 5):
        mesh = device_mesh(jax.devices()[:D])
        Km = sharded_empirical_ntk(net, params, X, mesh=mesh)
        out["mesh_rel"][str(D)] = [rel(Km, K1), float(jnp.abs(Km - Km.T).max()),
                                   len(Km.sharding.device_set)]
    out["ntk_sym_asym"] = float(jnp.abs(Ks - Ks.T).max())
    # rows not divisible by 8: padded and cut
    Xo = X[:29]
    out["odd_rel"] = rel(sharded_empirical_ntk(net, params, Xo), empirical_ntk(net, params, Xo))
    out["odd_shape"] = list(sharded_empirical_ntk(net, params, Xo).shape)
    # mixed precision (float64 signals, float32 Grams) on data with 64 layer-1
    # pre-activations planted at ReLU's jump (see test_kernels): equal to float64
    from tests.test_kernels import _planted_near_zero
    pnet, p32, X32 = _planted_near_zero()
    p64, X64 = jax.tree.map(lambda a: a.astype(jnp.float64), p32), X32.astype(jnp.float64)
    Km = sharded_empirical_ntk(pnet, p32, X32, signal_dtype="float64")
    out["mixed_dtype"] = str(Km.dtype)
    out["mixed_rel"] = rel(Km, empirical_ntk(pnet, p64, X64))
    Cm = sharded_conjugate_kernels(pnet, p32, X32, X32[:40], signal_dtype="float64")
    out["mixed_ck_rel"] = max(rel(a, b) for a, b in zip(
        Cm, conjugate_kernels(pnet, p64, X64, X64[:40])))
    print("RESULT" + json.dumps(out))
""")


def test_sharded_equals_single_device_over_8_cpu_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    r = json.loads(line[len("RESULT"):])
    assert r["n_devices"] == 8
    # same float64 arithmetic per entry (row blocks of the same Gram products): 1e-12
    assert r["ntk_rel"] <= 1e-12 and r["ntk_cross_rel"] <= 1e-12 and r["ck_rel"] <= 1e-12
    assert r["odd_rel"] <= 1e-12 and r["odd_shape"] == [29, 29]
    assert r["ntk_devices"] == 8 and r["ntk_cross_devices"] == 8 and r["ck_devices"] == 8
    assert r["ntk_shard_shapes"] == [[4, 32]]  # 32 rows / 8 devices, all columns
    assert "rows" in r["ntk_spec"]
    # symmetric kernels: K = Z + Z^T is symmetric to the last bit, on any mesh size
    assert r["ck_sym_rel"] <= 1e-12 and r["ck_sym_devices"] == 8 and r["ntk_sym_asym"] == 0.0
    # float32 Gram rounding only, 1e-5 (see test_kernels: one flipped sign costs ~6e-5)
    assert r["mixed_dtype"] == "float32"
    assert r["mixed_rel"] <= 1e-5 and r["mixed_ck_rel"] <= 1e-5
    for D, (err, asym, ndev) in r["mesh_rel"].items():
        assert err <= 1e-12 and asym == 0.0 and ndev == int(D), (D, err, asym, ndev)


@pytest.mark.parametrize("D", [1, 2, 3, 4, 7, 8, 16])
def test_cyclic_offsets_cover_every_block_pair_once(D):
    """Device k computes block (k, k + m mod D) with weight w; K = Z + Z^T must give every
    ordered block pair total weight 1 (diagonal: 1/2 from Z and 1/2 from Z^T)."""
    total = np.zeros((D, D))
    for k in range(D):
        for m, w in cyclic_offsets(D):
            j = (k + m) % D
            total[k, j] += w        # Z
            total[j, k] += w        # Z^T
    np.testing.assert_array_equal(total, np.ones((D, D)))
    assert len(cyclic_offsets(D)) == D // 2 + 1  # the work per device: floor(D/2) + 1 blocks
    with pytest.raises(ValueError, match="n_devices"):
        cyclic_offsets(0)
