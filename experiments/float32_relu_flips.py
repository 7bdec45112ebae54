"""How often a float32 ReLU network flips a derivative against float64, and what one flip
does to the empirical NTK -- the reason why ``empirical_ntk`` in float32 can differ from
neural-tangents (or from float64) by ~1e-4 at n = 2048 while agreeing to ~3e-6 otherwise.

    python -m experiments.float32_relu_flips                       # 20 draws, n = 2048, ~2 min
    python -m experiments.float32_relu_flips --draws 5 --n 512     # quick

Setup of ``experiments/benchmarks/ntk_speed.py``: p = 784, widths 1000 x 3, ReLU, Gaussian
weights, X = N(0, 1)/sqrt(p); draw ``s`` uses ``init(PRNGKey(s))`` and data
``PRNGKey(1000 + s)``, both made in float64 and rounded to float32. Per draw:

* sign flips of every layer's pre-activation ``g_l`` against float64, for two float32
  implementations of the same forward pass: ours (one jitted XLA program, as in
  ``empirical_ntk``) and numpy's (OpenBLAS summation order) -- a stand-in for "another
  float32 library": neural-tangents' own float32 sum is a third order;
* ``empirical_ntk`` float32 vs float64: max-entry and Frobenius relative error, plain
  and with ``signal_dtype="float64"`` (float64 signals, float32 Grams).

A pre-activation closer to 0 than its float32 rounding error (~1e-7 of a typical |g| ~ 0.7)
has an implementation-dependent sign, so sigma' of ReLU (a step) differs and the NTK row of
that sample moves by O(1/d). No float32 implementation avoids this; it only changes which
draws are hit. Writes ``--out/results.json`` and ``--out/summary.md`` atomically.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

from experiments.harness import Parser, RunDir, check_out_path, run_main, setup_runtime
from experiments.harness.args import add_run_options
from ntkcomp.io import run_metadata

P = 784
WIDTHS = [1000, 1000, 1000]


def _numpy_preactivations(net, params, X) -> list:
    """float32 forward pass in numpy (its BLAS's summation order), same formula as
    ``MLP.preactivations_and_features``."""
    import numpy as np

    h, gs = np.asarray(X), []
    for l, (act, m) in enumerate(zip(net.activations, net.centers)):
        g = h @ np.asarray(params["W"][l])
        gs.append(g)
        d = np.float32(math.sqrt(net.widths[l]))
        h = ((np.asarray(act(g)) - np.float32(m)) / d).astype(np.float32)
    return gs


def _flips(gs32, gs64) -> list:
    import numpy as np

    return [int(((np.asarray(a) > 0) != (np.asarray(b) > 0)).sum()) for a, b in zip(gs32, gs64)]


def one_draw(net, forward32, s: int, n: int) -> dict:
    """One draw's flips and NTK errors; ``forward32``: the jitted float32 forward pass."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ntkcomp import kernels

    p64 = net.init(jax.random.PRNGKey(s), P, dtype=jnp.float64)
    X64 = jax.random.normal(jax.random.PRNGKey(1000 + s), (n, P), jnp.float64) / math.sqrt(P)
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), p64)
    X32 = X64.astype(jnp.float32)
    # the float64 reference starts from the float32-rounded inputs: only the arithmetic differs
    p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p32)
    X64 = X32.astype(jnp.float64)
    g64, _ = net.preactivations_and_features(p64, X64)
    g32, _ = forward32(p32, X32)
    K64 = np.asarray(kernels.empirical_ntk(net, p64, X64))
    scale, fro = np.abs(K64).max(), np.linalg.norm(K64)
    row = {"draw": s, "flips_ours": _flips(g32, g64),
           "flips_numpy": _flips(_numpy_preactivations(net, p32, X32), g64)}
    for tag, sd in (("", None), ("mixed_", "float64")):
        D = np.asarray(kernels.empirical_ntk(net, p32, X32, signal_dtype=sd), np.float64) - K64
        row[f"{tag}ntk_max_rel"] = float(np.abs(D).max() / scale)
        row[f"{tag}ntk_fro_rel"] = float(np.linalg.norm(D) / fro)
    return row


def summary(rows: list, n: int) -> str:
    import numpy as np

    lines = [f"# float32 ReLU derivative flips vs float64 (n = {n}, p = {P}, widths "
             f"{WIDTHS})", "",
             "| draw | flips ours (layers 1..3) | flips numpy | NTK f32 vs f64 max-entry | "
             "Frobenius | float64 signals: max-entry | Frobenius |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['draw']} | {r['flips_ours']} | {r['flips_numpy']} | "
                     f"{r['ntk_max_rel']:.1e} | {r['ntk_fro_rel']:.1e} | "
                     f"{r['mixed_ntk_max_rel']:.1e} | {r['mixed_ntk_fro_rel']:.1e} |")
    hit = [r for r in rows if sum(r["flips_ours"])]
    clean = [r for r in rows if not sum(r["flips_ours"])]
    tot = lambda key: sum(sum(r[key]) for r in rows)  # noqa: E731
    lines += ["", f"Flips per draw: ours {tot('flips_ours') / len(rows):.2f} "
              f"({len(hit)} of {len(rows)} draws hit), numpy "
              f"{tot('flips_numpy') / len(rows):.2f} "
              f"({sum(1 for r in rows if sum(r['flips_numpy']))} of {len(rows)} hit)."]
    for name, group in (("with a flip", hit), ("without", clean)):
        if group:
            mx = np.array([r["ntk_max_rel"] for r in group])
            fr = np.array([r["ntk_fro_rel"] for r in group])
            lines.append(f"NTK error, draws {name}: max-entry {mx.min():.1e} .. {mx.max():.1e},"
                         f" Frobenius {fr.min():.1e} .. {fr.max():.1e}.")
    mm = [r["mixed_ntk_max_rel"] for r in rows]
    lines.append(f"With float64 signals (`signal_dtype=\"float64\"`), all draws: max-entry "
                 f"{min(mm):.1e} .. {max(mm):.1e}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run the experiment (``--help`` for the options); returns the exit status."""
    return run_main("python -m experiments.float32_relu_flips", _main, argv)


def _main(argv) -> int:
    ap = Parser(prog="python -m experiments.float32_relu_flips", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=20, help="weight/data draws (>= 1)")
    ap.add_argument("--n", type=int, default=2048, help="samples (>= 2)")
    add_run_options(ap, "ntkcomp_runs/experiments/float32_relu_flips",
                    out_help="The committed run is experiments/results/float32_relu_flips.")
    args = ap.parse_args(argv)
    if args.draws < 1:
        ap.error(f"--draws must be >= 1, got {args.draws}")
    if args.n < 2:
        ap.error(f"--n must be >= 2, got {args.n}")
    check_out_path(args.out)
    setup_runtime(args.platform, float64=True)

    import jax

    from ntkcomp import networks

    net = networks.MLP(WIDTHS, "relu")
    forward32 = jax.jit(net.preactivations_and_features)  # compiled once for all draws
    t0, rows = time.perf_counter(), []
    for s in range(args.draws):
        rows.append(one_draw(net, forward32, s, args.n))
        print(rows[-1], flush=True)
    text = summary(rows, args.n)
    config = {"n": args.n, "p": P, "widths": WIDTHS, "draws": args.draws,
              "seconds": round(time.perf_counter() - t0, 1)}
    seeds = {"params": "s", "X": "1000 + s"}
    with RunDir(args.out, config, seeds=seeds) as rd:
        rd.write_json("results.json", {"meta": run_metadata(config, seeds=seeds),
                                       "rows": rows})
        rd.write_text("summary.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
