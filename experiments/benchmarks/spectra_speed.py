"""Benchmark: dense eigvalsh vs SLQ / KPM for CK and NTK spectra of an MLP on a GMM.

    python -m experiments.benchmarks.spectra_speed            # n = 2048 ... 32768 (long)
    python -m experiments.benchmarks.spectra_speed --quick    # small sizes, < 2 min
    python -m experiments.benchmarks.spectra_speed --sizes 8192 --kernels ck

Timed runs are meaningful on an otherwise idle machine; large sizes can be run one size (or
one kernel) per invocation::

    python -m experiments.benchmarks.spectra_speed --sizes 16384 --kernels ntk

Results are *merged* into ``--out`` (atomic rewrite): a row exists per n and holds one entry
per kernel; an existing (n, kernel) entry is kept and that stage skipped unless ``--force``.

For every (n, kernel) -- each in its own subprocess, so "peak RSS" is that stage's -- with
``ck`` = CK_L and ``ntk`` = the empirical NTK, it reports:

* ``build_s``: CK -- one forward pass (features ``H_L (n, d_L)``, matrix-free operator
  ``v -> H (H^T v)``, ``4 n d`` flops per product); NTK -- forward/backward + materialising the
  n x n kernel in float32 with ``ntkcomp.kernels.empirical_ntk`` (symmetric tiles).
  Materialising once is the cheapest route for the NTK at these widths (see
  ``ntkcomp.spectral.matfree``): a matrix-free NTK product costs ``4 n sum d_{l-1} d_l``
  flops *per vector* (~1.6 TF at n = 32768, widths 2048 -- ``method="features"``) or
  ``2 n^2 sum (d_{l-1} + d_l)`` per probe block (~2.6e13 at n = 32768 -- ``"tiled"``, i.e.
  rebuilding the kernel at every product), vs one build of that cost and then ``2 n^2`` per
  vector. n = 32768 in float32 is 4 GiB.
* ``slq_s``, ``kpm_s``, ``top_s``, ``dense_s``: wall time of SLQ (``probes`` Rademacher
  probes, ``--steps`` Lanczos steps, no reorthogonalisation unless ``--reorth``), KPM
  (``--moments`` Chebyshev moments, Jackson kernel, bounds by Lanczos with a 0.1 % margin),
  top-4 eigenpairs (Lanczos, 80 steps) and dense ``scipy.linalg.eigvalsh`` on the float32
  kernel (LAPACK ssyevr; only for n <= ``--dense-max``; float64 would be ~2x slower and 2x
  larger). ``*_cpu_s``: CPU seconds (user + sys) of the same stage -- less sensitive to other
  jobs on the machine than wall time. Times include JIT compilation (a few seconds).
* **SLQ and KPM use the same probe vectors** (same key), so the difference of their W1 is the
  method error, not the luck of the draw. ``probes`` defaults to ``max(8, 2^19 / n)``
  (``n * probes = 2^19``): for a full-rank kernel (the NTK) the Hutchinson error of both
  methods is ``~ (spectral range) / sqrt(n * probes)`` with a range/mean-eigenvalue ratio
  independent of n, so constant ``n * probes`` keeps W1/mean constant while the cost per step
  stays ``O(n^2)``. **Not so for the CK when n > d_L**: its mean eigenvalue stays fixed while
  the nonzero eigenvalues grow like n/d_L (range/mean = 6, 11, 19, 68 at n = 2048, 4096,
  8192, 32768), and the error relative to the mean behaves like ``1/sqrt(d_L * probes)``:
  16 probes at n = 32768 give 1.3e-2 for the probe-weighted measure itself (measured with
  the exact eigenvectors, infinite resolution). For such kernels ``ntkcomp.spectral.spectrum``
  uses the exact ``d_L x d_L`` Gram route instead (:func:`ntkcomp.spectral.slq.gram_spectrum`,
  the ``exact_gram_s`` column here).
* ``W1_slq``, ``W1_kpm`` (the accuracy criterion of issue 7, W1 <= 1e-2): the Wasserstein-1
  distance between the estimated spectral measure and the exact eigenvalue measure
  ``(1/n) sum_i delta_{lambda_i}``, **divided by the mean eigenvalue tr(K)/n** -- the same
  definition for both methods. (SLQ: exact W1 between atomic measures; KPM: integral of
  ``|F_KPM - F_exact|`` from the closed-form Chebyshev CDF, trapezoid rule on 100001
  points.) For information ``W1_*_range`` is W1 divided by ``lambda_max - lambda_min`` (a
  more lenient normalisation: ~20x smaller for the CK, whose mean eigenvalue is small because
  ``1 - d_L/n`` of its eigenvalues are 0), and ``W1_slq_kpm`` the W1 between the two
  estimates / mean eigenvalue (available without an exact spectrum, e.g. the NTK at n = 32768).
  Exact eigenvalues: dense eigvalsh for the NTK (so only n <= --dense-max); for the CK always,
  from the small Gram ``H^T H (d_L x d_L)`` in float64 plus ``n - d_L`` zeros (the nonzero
  spectra of ``H H^T`` and ``H^T H`` coincide).
* ``spike_rel``: max relative error of the top-4 eigenvalues (Lanczos) vs exact.
* ``rss_GB``: peak resident memory of the stage's worker process (``ru_maxrss``; the
  ``rss_<stage>_GB`` values are cumulative up to the end of that stage) and ``K_GB``, the
  size of the stored kernel.
* ``loadavg`` / ``loadavg_end``: 1-minute load average at the start / end of the stage. On a
  loaded machine wall times are upper bounds; compare CPU seconds.

Kernels are built and stored in float32 (the Lanczos/Chebyshev vectors are float64); exact
eigenvalues are computed from the same float32 kernel.
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
QUICK_OUT = Path(__file__).resolve().parents[2] / "runs" / "benchmarks" / "spectra_speed_quick.json"
FULL_SIZES = (2048, 4096, 8192, 16384, 32768)
QUICK_SIZES = (512, 1024)


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn):
    import jax

    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def auto_probes(n: int) -> int:
    """Default number of probes: ``max(8, 2^19 // n)`` (constant Hutchinson error)."""
    return max(8, 2 ** 19 // n)


def matfree_slq(op, n: int, key, probes: int, steps: int, reorth: bool) -> dict:
    """The same SLQ measure through the ``matfree`` library (``matfree.decomp.tridiag_sym``):
    Lanczos from the same Rademacher probes as ``ntkcomp.spectral.spectrum``, Gauss nodes and
    weights from the tridiagonal; returns its time and (under ``_nodes``/``_weights``) the
    measure."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from matfree import decomp

    dtype = jnp.zeros(()).dtype
    V = jax.random.rademacher(key, (probes, n), dtype=dtype)  # the probes spectrum() draws
    alg = decomp.tridiag_sym(steps, reortho="full" if reorth else "none")
    arr = jnp.asarray(op) if hasattr(op, "shape") and not hasattr(op, "matvec") else None
    mv = (lambda v, K: K @ v.astype(K.dtype)) if arr is not None else (lambda v: op.matvec(v))
    extra = (arr,) if arr is not None else ()

    @jax.jit
    def rule(V, *extra):
        def one(v):
            T = alg(mv, v, *extra).J_small
            theta, U = jnp.linalg.eigh(T)
            return theta, U[0, :] ** 2
        return jax.vmap(one)(V)

    t0 = time.perf_counter()
    nodes, weights = rule(V, *extra)
    nodes.block_until_ready()
    secs = time.perf_counter() - t0
    return {"matfree_slq_s": secs, "_nodes": np.ravel(np.asarray(nodes)),
            "_weights": np.ravel(np.asarray(weights)) / probes}


def run_stage(n: int, kernel: str, cfg: dict) -> dict:
    """Benchmark one (n, kernel) in this process; returns the kernel's result dict."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.linalg

    import ntkcomp
    from ntkcomp.data import gmm_preset
    from ntkcomp.kernels import ck_operator, empirical_ntk
    from ntkcomp.networks import MLP
    from ntkcomp.spectral import spectrum, top_eigenpairs, wasserstein1

    ntkcomp.enable_x64()
    f32 = jnp.float32
    key = jax.random.PRNGKey(cfg["seed"])
    kd, kw, ks, _, kt = jax.random.split(key, 5)
    p = cfg["p"]
    probes = cfg["probes"] or auto_probes(n)
    sample = gmm_preset(cfg["preset"], p=p).sample(kd, n)
    X = jnp.asarray(sample.X, f32)
    del sample
    net = MLP(cfg["widths"], cfg["activation"], tau0=float(jnp.sqrt(jnp.mean(jnp.sum(X * X, 1)))))
    params = jax.tree_util.tree_map(lambda a: a.astype(f32), net.init(kw, p))
    res = {"loadavg": os.getloadavg()[0], "devices": len(jax.devices()), "probes": probes,
           "steps": cfg["steps"], "moments": cfg["moments"],
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def timed(name, fn):
        c0 = _cpu_s()
        out, res[f"{name}_s"] = _timed(fn)
        res[f"{name}_cpu_s"] = _cpu_s() - c0
        return out

    mesh = jax.make_mesh((jax.device_count(),), ("rows",),
                         axis_types=(jax.sharding.AxisType.Auto,)) if cfg["shard"] else None

    def estimators(op):
        """SLQ, KPM (same probes), top-4 on ``op``."""
        slq = timed("slq", lambda: spectrum(op, method="slq", key=ks, num_probes=probes,
                                            num_steps=cfg["steps"], reorth=cfg["reorth"],
                                            mesh=mesh, materialize=False))
        res["rss_slq_GB"] = _rss_gb()
        if cfg.get("matfree"):
            res.update(matfree_slq(op, n, ks, probes, cfg["steps"], cfg["reorth"]))
            res["matfree_nodes"] = (res.pop("_nodes"), res.pop("_weights"))
        kpm = timed("kpm", lambda: spectrum(op, method="kpm", key=ks,
                                            num_moments=cfg["moments"], num_probes=probes,
                                            mesh=mesh, materialize=False))
        res["kpm_bounds"] = list(kpm.info["bounds"])
        res["rss_kpm_GB"] = _rss_gb()
        top = timed("top", lambda: top_eigenpairs(op, n, 4, kt, num_steps=80))
        res["top4"] = np.asarray(top.values).tolist()
        res["top4_residuals"] = np.asarray(top.residuals).tolist()
        res["slq_top"] = float(np.max(slq.nodes))
        res["trace_mean_slq"] = float(np.sum(np.asarray(slq.nodes) * np.asarray(slq.weights)))
        res["W1_slq_kpm"] = wasserstein1(slq, kpm) / res["trace_mean_slq"]
        return slq, kpm, top

    def accuracy(slq, kpm, top, exact):
        ev = np.sort(np.asarray(exact, np.float64))
        scale = float(np.mean(ev))
        rng = float(ev[-1] - ev[0])
        res["scale"] = scale
        res["range"] = rng
        res["W1_slq_abs"] = wasserstein1(slq, ev)
        res["W1_kpm_abs"] = wasserstein1(kpm, ev)
        if "matfree_nodes" in res:
            nodes, weights = res.pop("matfree_nodes")
            res["W1_matfree"] = wasserstein1(nodes, ev, weights_a=weights) / scale
        for m in ("slq", "kpm"):
            res[f"W1_{m}"] = res[f"W1_{m}_abs"] / scale
            res[f"W1_{m}_range"] = res[f"W1_{m}_abs"] / rng
        res["W1_slq_kpm"] = res["W1_slq_kpm"] * res["trace_mean_slq"] / scale
        res["exact_top4"] = ev[::-1][:4].tolist()
        res["spike_rel"] = float(np.max(np.abs(np.asarray(top.values) - ev[::-1][:4])
                                        / np.abs(ev[::-1][:4])))

    if kernel == "ck":  # ------------------------------------------- CK_L (matrix-free)
        op = timed("build", lambda: ck_operator(net, params, X))
        H = op.gram_factors()[0]
        d = H.shape[1]
        res["K_GB"] = 0.0
        res["factors_GB"] = H.size * 4 / 1024 ** 3

        def gram_spectrum():
            Hd = np.asarray(H, np.float64)
            return scipy.linalg.eigvalsh(Hd.T @ Hd)

        gram_ev = timed("exact_gram", gram_spectrum)
        exact = np.concatenate([np.zeros(max(n - d, 0)), np.asarray(gram_ev)[-min(n, d):]])
        if cfg.get("dense_only"):
            res["scale"] = float(np.mean(exact))
        else:
            slq, kpm, top = estimators(op)
            accuracy(slq, kpm, top, exact)
        if n <= cfg["dense_max"] or cfg.get("dense_only"):
            Kc = np.asarray(H @ H.T)  # float32 (n, n)
            ev = timed("dense", lambda: scipy.linalg.eigvalsh(Kc, overwrite_a=True,
                                                              check_finite=False))
            res["dense_vs_gram_W1"] = wasserstein1(ev, exact) / res["scale"]
            del Kc, ev
    elif cfg.get("dense_only"):
        raise ValueError("--dense-only is implemented for the CK only")
    else:  # ---------------------------------------------------------- NTK (materialised)
        K = timed("build", lambda: empirical_ntk(net, params, X, block_size=cfg["block"],
                                                 sharded=cfg["shard"]))
        res["K_GB"] = n * n * 4 / 1024 ** 3
        res["rss_build_GB"] = _rss_gb()
        del X
        slq, kpm, top = estimators(K)
        if n <= cfg["dense_max"]:
            Kn = np.asarray(K)
            del K
            ev = timed("dense", lambda: scipy.linalg.eigvalsh(Kn, overwrite_a=True,
                                                              check_finite=False))
            del Kn
            accuracy(slq, kpm, top, ev)
    res["rss_GB"] = _rss_gb()
    res["loadavg_end"] = os.getloadavg()[0]
    return res


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def table(results: list[dict]) -> str:
    head = (f"{'n':>6} {'kernel':>6} {'probes':>6} {'build_s':>8} {'dense_s':>8} {'slq_s':>7} "
            f"{'kpm_s':>7} {'top_s':>6} {'W1_slq':>8} {'W1_kpm':>8} {'slq~kpm':>8} "
            f"{'spike_rel':>9} {'K_GB':>5} {'rss_GB':>6} {'load':>5}")
    lines = [head, "-" * len(head)]
    for r in sorted(results, key=lambda r: r["n"]):
        for kind in ("ck", "ntk"):
            x = r.get(kind)
            if not x or "error" in x:
                continue
            lines.append(
                f"{r['n']:>6} {kind:>6} {x.get('probes', 0):>6} {_fmt(x.get('build_s'), '8.1f')} "
                f"{_fmt(x.get('dense_s'), '8.1f')} {_fmt(x.get('slq_s'), '7.1f')} "
                f"{_fmt(x.get('kpm_s'), '7.1f')} {_fmt(x.get('top_s'), '6.1f')} "
                f"{_fmt(x.get('W1_slq'), '8.1e')} {_fmt(x.get('W1_kpm'), '8.1e')} "
                f"{_fmt(x.get('W1_slq_kpm'), '8.1e')} "
                f"{_fmt(x.get('spike_rel'), '9.1e')} {_fmt(x.get('K_GB'), '5.2f')} "
                f"{_fmt(x.get('rss_GB'), '6.2f')} {x.get('loadavg', 0):5.1f}")
    lines.append("W1 = Wasserstein-1 to the exact eigenvalue measure / (tr K / n); slq~kpm = W1 "
                 "between the two estimates / (tr K / n); '-' = no exact spectrum (dense skipped). "
                 "rss = peak RSS of the stage's worker process; load = 1-min load average.")
    return "\n".join(lines)


def _load(path: Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data.get("results"), list) else {}


#: configuration keys that must agree for rows to share one results file
_SAME_RUN_KEYS = ("p", "widths", "activation", "preset", "seed", "steps", "moments", "probes",
                  "block", "reorth", "shard")


def config_clash(old: dict | None, cfg: dict) -> str:
    """'' if rows of ``cfg`` may be merged into a file written with config ``old``, else a
    description of the first differing key."""
    if not old:
        return ""
    for k in _SAME_RUN_KEYS:
        if k in old and k in cfg and old[k] != cfg[k]:
            return f"{k} = {old[k]!r} there, {cfg[k]!r} here"
    return ""


def _merge(path: Path, n: int, kernel: str, entry: dict, cfg: dict, seed: int,
           update: bool = False) -> None:
    """Re-read ``path``, put ``entry`` at (n, kernel) (``update``: merge its keys into the
    existing entry), rewrite atomically."""
    from ntkcomp.io import atomic_write_json, run_metadata

    data = _load(path)
    rows = [r for r in data.get("results", []) if isinstance(r, dict) and "n" in r]
    rows = [{k: v for k, v in r.items() if k in ("n", "ck", "ntk")} for r in rows]
    row = next((r for r in rows if r["n"] == n), None)
    if row is None:
        row = {"n": n}
        rows.append(row)
    if update and isinstance(row.get(kernel), dict):
        extra = {k: v for k, v in entry.items() if k.startswith("dense")}
        extra.update({f"dense_{k}": entry[k] for k in ("loadavg", "loadavg_end", "started",
                                                        "rss_GB", "total_s") if k in entry})
        entry = {**row[kernel], **extra}
    row[kernel] = entry
    rows.sort(key=lambda r: r["n"])
    meta = run_metadata(cfg, {"seed": seed})
    atomic_write_json(path, {"benchmark": "spectra_speed", "results": rows, **meta})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and network (< 2 min)")
    ap.add_argument("--sizes", type=int, nargs="+", help="n values (default 2048 ... 32768)")
    ap.add_argument("--kernels", nargs="+", default=["ck", "ntk"], choices=["ck", "ntk"],
                    help="which kernels (default both; one subprocess each)")
    ap.add_argument("--dense-max", type=int, default=16384,
                    help="largest n for dense eigvalsh (default 16384)")
    ap.add_argument("--p", type=int, default=4096)
    ap.add_argument("--widths", type=int, nargs="+", default=[2048, 2048])
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--preset", default="means")
    ap.add_argument("--probes", type=int, default=None,
                    help="Rademacher probes for SLQ and KPM (default max(8, 2^19 / n))")
    ap.add_argument("--reorth", action="store_true",
                    help="full reorthogonalisation in SLQ (default off: ~3x slower, same W1)")
    ap.add_argument("--shard", action="store_true",
                    help="shard kernel rows over jax.devices() (n must be divisible)")
    ap.add_argument("--matfree", action="store_true",
                    help="also time the matfree library's SLQ on the same probes (W1_matfree)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--moments", type=int, default=800)
    ap.add_argument("--block", type=int, default=2048, help="NTK materialisation tile")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true",
                    help="recompute (n, kernel) entries already in --out")
    ap.add_argument("--dense-only", action="store_true",
                    help="CK only: time dense eigvalsh (whatever --dense-max) and add it to the "
                         "existing entry (dense_s, dense_cpu_s, dense_vs_gram_W1, dense_rss_GB)")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"results JSON, merged per (n, kernel) (default: {DEFAULT_OUT} "
                         f"for the full run, {QUICK_OUT} with --quick); refused if it holds "
                         "results of another configuration")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker is not None:  # child process: one stage, JSON on the last stdout line
        cfg = json.loads(a.cfg)
        res = run_stage(a.worker, cfg.pop("kernel"), cfg)
        print("RESULT " + json.dumps(res, default=float), flush=True)
        return 0

    if a.quick:
        sizes = a.sizes or list(QUICK_SIZES)
        cfg = {"p": 256, "widths": [256, 256], "dense_max": max(sizes), "probes": a.probes or 16,
                   "steps": 120, "moments": 600, "block": 512}
    else:
        sizes = a.sizes or list(FULL_SIZES)
        cfg = {"p": a.p, "widths": a.widths, "dense_max": a.dense_max, "probes": a.probes,
                   "steps": a.steps, "moments": a.moments, "block": a.block}
    cfg.update(activation=a.activation, preset=a.preset, seed=a.seed, reorth=a.reorth,
               shard=a.shard, dense_only=a.dense_only, matfree=a.matfree)
    for n in sizes:
        if n < 16:
            raise ValueError(f"sizes must be >= 16, got {n}")
    if a.out is None:
        a.out = QUICK_OUT if a.quick else DEFAULT_OUT
    clash = config_clash(_load(a.out).get("config"), cfg)
    if clash:
        raise SystemExit(f"error: --out {a.out} holds results of another configuration "
                         f"({clash}); merging would mix them. Pass another --out.")

    ok = True
    for n in sizes:
        for kernel in a.kernels:
            have = next((r for r in _load(a.out).get("results", []) if r.get("n") == n), {})
            if a.dense_only:
                if kernel != "ck":
                    raise ValueError("--dense-only is implemented for --kernels ck only")
                if "dense_s" in have.get(kernel, {}) and not a.force:
                    print(f"n={n} {kernel}: dense kept (use --force)", file=sys.stderr)
                    continue
            elif kernel in have and "error" not in have[kernel] and not a.force:
                print(f"n={n} {kernel}: kept (use --force to recompute)", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "experiments.benchmarks.spectra_speed",
                                   "--worker", str(n), "--cfg", json.dumps({**cfg, "kernel": kernel})],
                                  capture_output=True, text=True, check=False,
                                  cwd=Path(__file__).resolve().parents[2])
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                res = {"error": (proc.stderr or "")[-2000:], "returncode": proc.returncode}
                print(f"n={n} {kernel}: worker failed (rc={proc.returncode})\n{res['error']}",
                      file=sys.stderr)
                ok = False
            else:
                res = json.loads(lines[-1][len("RESULT "):])
            res["total_s"] = time.perf_counter() - t0
            _merge(a.out, n, kernel, res, cfg, a.seed, update=a.dense_only and "error" not in res)
            print(f"n={n} {kernel} done in {res['total_s']:.0f} s", file=sys.stderr, flush=True)
    print(table(_load(a.out).get("results", [])))
    print(f"written {a.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
