"""Benchmark: dense eigvalsh vs SLQ / KPM for CK and NTK spectra of an MLP on a GMM.

    python -m experiments.benchmarks.spectra_speed            # n = 2048 ... 32768 (long)
    python -m experiments.benchmarks.spectra_speed --quick    # small sizes, < 2 min
    python -m experiments.benchmarks.spectra_speed --sizes 8192 --dense-max 8192

For every n (each in its own subprocess, so "peak RSS" is per size) and kernel
(``ck`` = CK_L, ``ntk`` = empirical NTK) it reports:

* ``build_s``: CK -- one forward pass (features ``H_L (n, d_L)``, matrix-free operator
  ``v -> H (H^T v)``); NTK -- forward/backward + materialising the n x n kernel in float32
  with ``ntkcomp.kernels.empirical_ntk`` (symmetric tiles). Materialising once is the cheapest
  route for the NTK at these widths (see ``ntkcomp.spectral.matfree``): matrix-free NTK
  products cost ``4 n sum d_{l-1} d_l`` flops *per vector* (~1.6 TF at n = 32768), vs one
  ``2 n^2 sum (d_{l-1} + d_l)`` build and then ``2 n^2`` per product.
* ``slq_s``, ``kpm_s``, ``top_s``, ``dense_s``: wall time of SLQ (``--probes`` Rademacher
  probes, ``--steps`` Lanczos steps, no reorthogonalisation unless ``--reorth``), KPM (``--moments`` Chebyshev
  moments, Jackson kernel, bounds by Lanczos), top-4 eigenpairs (Lanczos, 80 steps) and
  dense ``scipy.linalg.eigvalsh`` on the float32 kernel (LAPACK ssyevr; only for
  n <= ``--dense-max``; float64 would be ~2x slower and 2x larger). Times include JIT
  compilation (a few seconds).
* ``W1_slq``, ``W1_kpm``: Wasserstein-1 distance between the estimated spectral measure and
  the exact eigenvalue measure ``(1/n) sum_i delta_{lambda_i}``, **divided by the spectral
  scale tr(K)/n (the mean eigenvalue)** -- a relative, unit-free number; the absolute W1 is
  in the JSON too. Exact eigenvalues: dense eigvalsh for the NTK (so only n <= --dense-max);
  for the CK always, from the small Gram ``H^T H (d_L x d_L)`` plus ``n - d_L`` zeros
  (the nonzero spectra of ``H H^T`` and ``H^T H`` coincide).
* ``spike_rel``: max relative error of the top-4 eigenvalues (Lanczos) vs exact.
* ``rss_GB``: peak resident memory of the worker process *up to the end of that stage*
  (``ru_maxrss``; cumulative, so later stages include earlier ones) and ``K_GB``, the size of
  the stored kernel.

Kernels are built and stored in float32 (the Lanczos/Chebyshev vectors are float64); exact
eigenvalues are computed from the same float32 kernel. Results go to ``--out`` (JSON,
written atomically, with run metadata); one table is printed. Timings depend on machine load:
the JSON records the load average at the start of each size.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "spectra_speed.json"
FULL_SIZES = (2048, 4096, 8192, 16384, 32768)
QUICK_SIZES = (512, 1024)


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB


def _timed(fn):
    import jax

    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def run_size(n: int, cfg: dict) -> dict:
    """Benchmark one size in this process; returns {"ck": {...}, "ntk": {...}}."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.linalg

    import ntkcomp
    from ntkcomp.data import gmm_preset
    from ntkcomp.kernels import empirical_ntk
    from ntkcomp.networks import MLP
    from ntkcomp.spectral.kpm import kpm_density, kpm_wasserstein1
    from ntkcomp.spectral.lanczos import top_eigenpairs
    from ntkcomp.spectral.matfree import (ck_matvec, materialized_kernel_matvec, row_mesh,
                                          shard_rows)
    from ntkcomp.spectral.slq import slq_density, wasserstein1_weighted

    ntkcomp.enable_x64()
    f32 = jnp.float32
    key = jax.random.PRNGKey(cfg["seed"])
    kd, kw, ks, kk, kt = jax.random.split(key, 5)
    p = cfg["p"]
    sample = gmm_preset(cfg["preset"], p=p).sample(kd, n)
    X = jnp.asarray(sample.X, f32)
    del sample
    net = MLP(cfg["widths"], cfg["activation"], tau0=float(jnp.sqrt(jnp.mean(jnp.sum(X * X, 1)))))
    params = jax.tree_util.tree_map(lambda a: a.astype(f32), net.init(kw, p))
    out = {"n": n, "loadavg": os.getloadavg()[0], "devices": len(jax.devices())}

    def estimators(op, exact, res):
        """SLQ, KPM, top-4 on ``op``; W1 vs ``exact`` (None if unavailable)."""
        slq, res["slq_s"] = _timed(lambda: slq_density(op, n, ks, num_probes=cfg["probes"],
                                                       num_steps=cfg["steps"],
                                                       reorth=cfg["reorth"]))
        res["rss_slq_GB"] = _rss_gb()
        kpm, res["kpm_s"] = _timed(lambda: kpm_density(op, n, kk, num_moments=cfg["moments"],
                                                       num_probes=cfg["probes"]))
        res["rss_kpm_GB"] = _rss_gb()
        top, res["top_s"] = _timed(lambda: top_eigenpairs(op, n, 4, kt, num_steps=80))
        res["top4"] = np.asarray(top.values).tolist()
        res["top4_residuals"] = np.asarray(top.residuals).tolist()
        res["slq_top"] = float(np.max(slq.nodes))
        if exact is not None:
            accuracy(res, slq, kpm, top, exact)
        return slq, kpm, top

    def accuracy(res, slq, kpm, top, exact):
        ev = np.sort(np.asarray(exact, np.float64))
        scale = float(np.mean(ev))
        res["scale"] = scale
        res["W1_slq_abs"] = wasserstein1_weighted(slq.nodes, slq.weights, ev)
        res["W1_kpm_abs"] = kpm_wasserstein1(kpm.info["moments"], kpm.info["bounds"], ev)
        res["W1_slq"] = res["W1_slq_abs"] / scale
        res["W1_kpm"] = res["W1_kpm_abs"] / scale
        res["exact_top4"] = ev[::-1][:4].tolist()
        res["spike_rel"] = float(np.max(np.abs(np.asarray(top.values) - ev[::-1][:4])
                                        / np.abs(ev[::-1][:4])))

    # ------------------------------------------------------------------ CK_L (matrix-free)
    ck = {}
    op, ck["build_s"] = _timed(lambda: ck_matvec(net, params, X))
    if cfg["shard"]:
        op = shard_rows(op)
    H = op.grams[0]
    d = H.shape[1]
    ck["K_GB"] = 0.0
    ck["factors_GB"] = H.size * 4 / 1024 ** 3
    (gram_ev), ck["exact_gram_s"] = _timed(
        lambda: scipy.linalg.eigvalsh(np.asarray(H, np.float64).T @ np.asarray(H, np.float64)))
    exact = np.concatenate([np.zeros(max(n - d, 0)), np.asarray(gram_ev)[-min(n, d):]])
    estimators(op, exact, ck)
    if n <= cfg["dense_max"]:
        Kc = np.asarray(H @ H.T)  # float32 (n, n)
        ev, ck["dense_s"] = _timed(lambda: scipy.linalg.eigvalsh(Kc, overwrite_a=True,
                                                                 check_finite=False))
        ck["dense_vs_gram_W1"] = wasserstein1_weighted(ev, np.ones(n), exact) / ck["scale"]
        del Kc, ev
    ck["rss_GB"] = _rss_gb()
    out["ck"] = ck
    del op, H

    # ------------------------------------------------------------------ NTK (materialised)
    nt = {}
    K, nt["build_s"] = _timed(lambda: empirical_ntk(net, params, X, block_size=cfg["block"],
                                                    sharded=cfg["shard"]))
    nt["K_GB"] = n * n * 4 / 1024 ** 3
    nt["rss_build_GB"] = _rss_gb()
    del X
    op = materialized_kernel_matvec(K, mesh=row_mesh() if cfg["shard"] else None)
    slq, kpm, top = estimators(op, None, nt)
    if n <= cfg["dense_max"]:
        Kn = np.asarray(K)
        del op, K
        ev, nt["dense_s"] = _timed(lambda: scipy.linalg.eigvalsh(Kn, overwrite_a=True,
                                                                 check_finite=False))
        del Kn
        accuracy(nt, slq, kpm, top, ev)
    nt["rss_GB"] = _rss_gb()
    out["ntk"] = nt
    return out


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def table(results: list[dict]) -> str:
    head = (f"{'n':>6} {'kernel':>6} {'build_s':>8} {'dense_s':>8} {'slq_s':>7} {'kpm_s':>7} "
            f"{'top_s':>6} {'W1_slq':>8} {'W1_kpm':>8} {'spike_rel':>9} {'K_GB':>5} "
            f"{'rss_GB':>6} {'load':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        for kind in ("ck", "ntk"):
            x = r.get(kind, {})
            lines.append(
                f"{r['n']:>6} {kind:>6} {_fmt(x.get('build_s'), '8.1f')} "
                f"{_fmt(x.get('dense_s'), '8.1f')} {_fmt(x.get('slq_s'), '7.1f')} "
                f"{_fmt(x.get('kpm_s'), '7.1f')} {_fmt(x.get('top_s'), '6.1f')} "
                f"{_fmt(x.get('W1_slq'), '8.1e')} {_fmt(x.get('W1_kpm'), '8.1e')} "
                f"{_fmt(x.get('spike_rel'), '9.1e')} {_fmt(x.get('K_GB'), '5.2f')} "
                f"{_fmt(x.get('rss_GB'), '6.2f')} {r.get('loadavg', 0):5.1f}")
    lines.append("W1 = Wasserstein-1 to the exact eigenvalue measure / (tr K / n); '-' = no exact "
                 "spectrum (dense skipped). rss = peak RSS of the size's worker process.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and network (< 2 min)")
    ap.add_argument("--sizes", type=int, nargs="+", help="n values (default 2048 ... 32768)")
    ap.add_argument("--dense-max", type=int, default=16384,
                    help="largest n for dense eigvalsh (default 16384)")
    ap.add_argument("--p", type=int, default=4096)
    ap.add_argument("--widths", type=int, nargs="+", default=[2048, 2048])
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--preset", default="means")
    ap.add_argument("--probes", type=int, default=32)
    ap.add_argument("--reorth", action="store_true",
                    help="full reorthogonalisation in SLQ (default off: ~3x slower, same W1)")
    ap.add_argument("--shard", action="store_true",
                    help="shard kernel rows over jax.devices() (n must be divisible)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--moments", type=int, default=800)
    ap.add_argument("--block", type=int, default=2048, help="NTK materialisation tile")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker is not None:  # child process: one size, JSON on the last stdout line
        res = run_size(a.worker, json.loads(a.cfg))
        print("RESULT " + json.dumps(res, default=float), flush=True)
        return 0

    if a.quick:
        sizes = a.sizes or list(QUICK_SIZES)
        cfg = dict(p=256, widths=[256, 256], dense_max=max(sizes), probes=16, steps=120,
                   moments=600, block=512)
    else:
        sizes = a.sizes or list(FULL_SIZES)
        cfg = dict(p=a.p, widths=a.widths, dense_max=a.dense_max, probes=a.probes,
                   steps=a.steps, moments=a.moments, block=a.block)
    cfg.update(activation=a.activation, preset=a.preset, seed=a.seed, reorth=a.reorth,
               shard=a.shard)
    for n in sizes:
        if n < 16:
            raise ValueError(f"sizes must be >= 16, got {n}")

    from ntkcomp._io import atomic_write_json, run_metadata

    results = []
    for n in sizes:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "experiments.benchmarks.spectra_speed",
                               "--worker", str(n), "--cfg", json.dumps(cfg)],
                              capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[2])
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            res = {"n": n, "error": (proc.stderr or "")[-2000:], "returncode": proc.returncode}
            print(f"n={n}: worker failed (rc={proc.returncode})\n{res['error']}", file=sys.stderr)
        else:
            res = json.loads(lines[-1][len("RESULT "):])
        res["total_s"] = time.perf_counter() - t0
        results.append(res)
        atomic_write_json(a.out, {"benchmark": "spectra_speed", "results": results,
                                  **run_metadata(cfg, {"seed": a.seed})})
        print(f"n={n} done in {res['total_s']:.0f} s", file=sys.stderr, flush=True)
    print(table([r for r in results if "error" not in r]))
    print(f"written {a.out}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
