"""The sharded NTK and CK, and a matrix-free spectrum, over two processes (``jax.distributed`` on localhost, CPU, gloo).

Two Python processes, each with two CPU devices, join one JAX runtime through a coordinator
on ``127.0.0.1:<free port>``; each calls ``sharded_empirical_ntk`` / ``sharded_conjugate_kernels``
on the same inputs, gathers the global result with ``process_allgather`` and compares it with
the single-process ``empirical_ntk`` computed in the same process. The sharded kernels use the
same tile arithmetic (the symmetric scheme halves and re-adds diagonal blocks, exact in binary
floating point; only the order of the reductions differs), so float64 agreement is at the
level of roundoff: <= 1e-12 relative to the largest entry.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_x64", True)
    port, pid = sys.argv[1], int(sys.argv[2])
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid, initialization_timeout=60)
    import numpy as np
    from jax.experimental.multihost_utils import process_allgather
    from ntkcomp.kernels import (conjugate_kernels, empirical_ntk, sharded_conjugate_kernels,
                                 sharded_empirical_ntk)
    from ntkcomp.networks import MLP

    def rel(a, b):
        return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())

    net = MLP([24, 16], ["relu", "tanh"])
    params = net.init(jax.random.PRNGKey(0), 10)
    X = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (30, 10))) / np.sqrt(10)
    X2 = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (12, 10))) / np.sqrt(10)
    K = sharded_empirical_ntk(net, params, X)          # symmetric scheme, 30 rows padded to 32
    Kx = sharded_empirical_ntk(net, params, X, X2)     # cross scheme
    Cs = sharded_conjugate_kernels(net, params, X)
    out = {"devices": jax.device_count(), "local": jax.local_device_count(),
           "processes": jax.process_count(),
           "shards": len(K.addressable_shards),
           "ntk": rel(process_allgather(K, tiled=True), empirical_ntk(net, params, X)),
           "ntk_cross": rel(process_allgather(Kx, tiled=True),
                            empirical_ntk(net, params, X, X2)),
           "ck": max(rel(process_allgather(c, tiled=True), r)
                     for c, r in zip(Cs, conjugate_kernels(net, params, X)))}
    # matrix-free spectrum with the operator's rows over the 4 devices of both processes
    from ntkcomp.kernels import ntk_operator
    from ntkcomp.spectral import spectrum, wasserstein1
    X32 = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (32, 10))) / np.sqrt(10)
    op = ntk_operator(net, params, X32, method="tiled", block_size=8)
    key = jax.random.PRNGKey(4)
    kw = dict(method="slq", key=key, num_probes=2, num_steps=12, reorth=True, materialize=False)
    a = spectrum(op, **kw)
    b = spectrum(op, mesh=jax.make_mesh((4,), ("rows",),
                                        axis_types=(jax.sharding.AxisType.Auto,)), **kw)
    out["slq_w1"] = wasserstein1(a, b) / float(np.max(a.nodes))
    print("RESULT" + json.dumps(out), flush=True)
    jax.distributed.shutdown()
""")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sharded_ntk_over_two_processes_equals_single_process():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                        + " --xla_force_host_platform_device_count=2").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, port, str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(json.loads(next(ln for ln in stdout.splitlines()
                                        if ln.startswith("RESULT"))[len("RESULT"):]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r in outs:
        assert (r["processes"], r["devices"], r["local"], r["shards"]) == (2, 4, 2, 2), r
        assert r["ntk"] <= 1e-12 and r["ntk_cross"] <= 1e-12 and r["ck"] <= 1e-12, r
        # same probes and arithmetic up to the order of reductions (reorthogonalised SLQ)
        assert r["slq_w1"] <= 1e-10, r
