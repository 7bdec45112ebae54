"""Cost of the dense CK / NTK equivalents against one ``X @ X.T`` of the same data.

The equivalent is one Gram product plus low-rank and diagonal terms, so materialising it
should cost little more than the product itself. For each ``n`` the same run draws one
sample (``mixed`` GMM preset, dimension ``p``), builds a ReLU MLP centred at the data scale
and times, after one warm-up call each (compilation excluded):

* ``gemm``: ``X @ X.T`` (jitted, same dtype and precision as the equivalent's product);
* ``ck``: ``np.asarray(ck_equivalent(net, sample))`` end to end (coefficients included);
* ``ntk``: ``np.asarray(ntk_equivalent(net, sample))``;
* ``eager`` (with ``--eager``): the same matrix assembled term by term without
  compilation (Gram product, low-rank product, identity, diagonal, symmetrisation as
  separate ``(n, n)`` arrays), the way the equivalent was built before.

Each time is the best of ``--repeats`` runs; the claim is the ratio ``ck / gemm`` and
``ntk / gemm`` measured in the same process (seconds depend on the machine and its load,
recorded as the 1-minute load average before and after each ``n``).

    ntkcomp bench equivalent_speed [--n 2000,4000,8000] [--p 4000] [--quick] [--out PATH]
"""
from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from experiments.harness import Parser, setup_runtime
from experiments.harness.args import int_list
from ntkcomp.data import gmm_preset
from ntkcomp.equivalents import ck_equivalent, ntk_equivalent
from ntkcomp.io import atomic_write_json, run_metadata
from ntkcomp.networks import MLP

__all__ = ["main", "time_point"]

DEFAULT_OUT = "ntkcomp_runs/benchmarks/equivalent_speed.json"


@jax.jit
def _gram(X):
    return lax.dot_general(X, X, (((1,), (1,)), ((), ())), precision=lax.Precision.HIGHEST)


def _eager(k) -> np.ndarray:
    """The equivalent assembled term by term, each term a separate ``(n, n)`` array."""
    n = k.n
    K = (k.c_lin * (k.X @ k.X.T) + k.V @ k.M @ k.V.T + (k.c_id - k.b) * jnp.eye(n, dtype=k.dtype)
         + k.b + jnp.diag(k.dvec))
    return np.asarray(0.5 * (K + K.T))


def _best(fn, repeats: int) -> float:
    fn()                                          # warm-up: compilation, first-touch memory
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_point(n: int, p: int, widths: list[int], repeats: int, eager: bool,
               seed: int = 0) -> dict:
    """Time the Gram product and both equivalents at one ``n``.

    Args:
      n: samples; p: dimension; widths: hidden widths of the ReLU MLP.
      repeats: timed runs per quantity (the best is kept), >= 1.
      eager: also time the term-by-term assembly.
      seed: sample seed.

    Returns:
      ``{"n", "p", "widths", "seconds": {...}, "ratio": {...}, "load": [before, after],
      "max_abs_diff_eager"}`` (ratios are to ``gemm``).
    """
    load0 = os.getloadavg()[0]
    sample = gmm_preset("mixed", p).sample(jax.random.PRNGKey(seed), n)
    X = jnp.asarray(sample.X)
    net = MLP(widths, "relu", tau0=float(sample.stats.tau0))
    secs = {
        "gemm": _best(lambda: np.asarray(_gram(X)), repeats),
        "ck": _best(lambda: np.asarray(ck_equivalent(net, sample)), repeats),
        "ntk": _best(lambda: np.asarray(ntk_equivalent(net, sample)), repeats),
    }
    out = {"n": n, "p": p, "widths": list(widths), "dtype": str(X.dtype)}
    if eager:
        k = ck_equivalent(net, sample)
        secs["eager_ck"] = _best(lambda: _eager(k), repeats)
        ref = _eager(k)
        out["max_abs_diff_eager"] = float(np.max(np.abs(np.asarray(k) - ref))
                                          / np.max(np.abs(ref)))
    out["seconds"] = secs
    out["ratio"] = {key: secs[key] / secs["gemm"] for key in secs if key != "gemm"}
    out["load"] = [load0, os.getloadavg()[0]]
    return out


def _parser() -> Parser:
    ap = Parser(prog="ntkcomp bench equivalent_speed", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int_list, default=[2000, 4000, 8000],
                    help="sample sizes (default 2000,4000,8000)")
    ap.add_argument("--p", type=int, default=4000, help="data dimension (default 4000)")
    ap.add_argument("--widths", type=int_list, default=[2000, 2000, 1000],
                    help="hidden widths of the ReLU MLP (default 2000,2000,1000)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per quantity (>= 1)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (n = 256, 512; p = 128; widths 64,64,32)")
    ap.add_argument("--eager", action="store_true",
                    help="also time the term-by-term (uncompiled) assembly")
    ap.add_argument("--float32", action="store_true", help="float32 instead of float64")
    ap.add_argument("--platform", default=None, choices=("cpu", "gpu", "tpu"),
                    help="JAX platform (default: JAX's choice)")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"result JSON (default {DEFAULT_OUT})")
    return ap


def main(argv=None) -> int:
    """Run the benchmark, print a table and write the result JSON; returns 0."""
    a = _parser().parse_args(argv)
    if a.quick:
        a.n, a.p, a.widths = [256, 512], 128, [64, 64, 32]
    if not 1 <= a.repeats <= 20:
        raise ValueError(f"repeats must be an integer in [1, 20], got {a.repeats}")
    if a.p < 1 or min(a.n) < 2 or min(a.widths) < 1:
        raise ValueError("n must be >= 2, p >= 1 and every width >= 1")
    if not a.out.strip():
        raise ValueError("out must be a non-empty file path")
    setup_runtime(a.platform, float64=not a.float32)
    points = []
    print(f"{'n':>6} {'gemm s':>8} {'ck s':>8} {'ntk s':>8} {'ck/gemm':>8} {'ntk/gemm':>9}"
          f" {'load':>10}")
    for n in a.n:
        r = time_point(n, a.p, a.widths, a.repeats, a.eager)
        points.append(r)
        s, q = r["seconds"], r["ratio"]
        extra = f"  eager/gemm {q['eager_ck']:.2f}" if a.eager else ""
        print(f"{n:>6} {s['gemm']:>8.3f} {s['ck']:>8.3f} {s['ntk']:>8.3f} {q['ck']:>8.2f}"
              f" {q['ntk']:>9.2f} {r['load'][0]:>4.1f}-{r['load'][1]:<4.1f}{extra}")
    config = {"n": a.n, "p": a.p, "widths": a.widths, "repeats": a.repeats,
              "float32": a.float32, "eager": a.eager, "preset": "mixed", "activation": "relu"}
    result = {"benchmark": "equivalent_speed", "device": str(jax.devices()[0]),
              "points": points, "metadata": run_metadata(config, {"sample": 0})}
    atomic_write_json(a.out, result)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
