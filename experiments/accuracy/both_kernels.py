"""Can one compressed network match both the conjugate kernel and the NTK?

For every activation family (ternary, k-level with 4..8 levels, auto) and both design
targets (``ck``, ``ntk``) the dense reference network of ``ntkcomp compress``'s default run
(GMM ``mixed``, ``n = 512``, ``p = 256``, widths ``[1024, 1024, 512]``, ReLU, eps 0.9) is
compressed with :func:`ntkcomp.compress.compress`, and
:func:`ntkcomp.compress.assess` measures the exact weight-averaged kernel differences
``||K_c - delta I - K_d|| / ||K_d||`` of CK_L and of the NTK on the data (``delta`` the
identity shift of each kernel).

    python -m experiments.accuracy both-kernels            # writes results/both_kernels.json

A design "matches both" when both differences are below ``--tol`` (0.1).
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from experiments.harness.pipeline import dense_network, load_data
from ntkcomp import enable_x64
from ntkcomp.compress import SolverOptions, assess, compress
from ntkcomp.io import atomic_write_json, versions

__all__ = ["FAMILIES", "main", "measure"]

RESULTS = Path(__file__).resolve().parent / "results"
#: (family, levels) pairs measured
FAMILIES = (("ternary", None), ("k_level", 4), ("k_level", 5), ("k_level", 6),
            ("k_level", 7), ("k_level", 8), ("auto", None))


def measure(dense, tau0: float, X, family: str, levels, target: str, *, eps: float = 0.9,
            n_starts: int = 16, k_max: int = 8) -> dict:
    """Compress ``dense`` with one family and target; the kernel differences on ``X (n, p)``.

    Args:
        dense: the dense MLP.
        tau0: data scale.
        X: data ``(n, p)`` on which the expected kernels are compared.
        family: ``"ternary"``, ``"k_level"`` or ``"auto"``.
        levels: levels of ``k_level`` (None otherwise).
        target: ``"ck"`` or ``"ntk"``.
        eps: sparsity of the hidden weights.
        n_starts: solver starts per layer.
        k_max: most levels tried by ``auto``.

    Returns:
        A JSON-able row: options, feasibility, per-layer levels, identity shifts and the
        relative CK_L / NTK differences (with and without the identity shift removed).
    """
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = compress(dense, tau0, eps=eps, family=family, levels=levels, target=target,
                       solver=SolverOptions(n_starts=n_starts, k_max=k_max))
    a = assess(dense, res.compressed, res.tau0, target=target, X=X)
    k = a.kernels
    coef = a.coefficients
    return {"family": family, "levels": levels, "target": target, "eps": eps,
            "feasible": bool(res.feasible),
            "n_levels": [int(s.n_levels) for s in res.layers],
            "max_residual": [float(s.max_residual) for s in res.layers],
            "delta_ck": float(coef.delta_ck[-1]), "delta_ntk": float(coef.delta_ntk),
            "ck_rel_diff": float(k.ck_rel_diff), "ntk_rel_diff": float(k.ntk_rel_diff),
            "ck_rel_diff_raw": float(k.ck_rel_diff_raw),
            "ntk_rel_diff_raw": float(k.ntk_rel_diff_raw),
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    """Measure every (family, target) pair; write ``results/both_kernels.json``.

    Args:
        argv: command-line arguments (``--n``, ``--p``, ``--tol``, ``--out``).

    Returns:
        0.
    """
    ap = argparse.ArgumentParser(prog="python -m experiments.accuracy both-kernels",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--p", type=int, default=256)
    ap.add_argument("--tol", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=RESULTS / "both_kernels.json")
    args = ap.parse_args(argv)
    enable_x64()
    data = load_data("mixed", args.n, args.p, K=2, seed=0)
    tau0 = float(data.train.stats.tau0)
    dense = dense_network([1024, 1024, 512], ["relu"] * 3, tau0)
    rows = []
    for family, levels in FAMILIES:
        for target in ("ck", "ntk"):
            r = measure(dense, tau0, data.train.X, family, levels, target)
            r["both_within_tol"] = bool(r["ck_rel_diff"] < args.tol
                                        and r["ntk_rel_diff"] < args.tol)
            rows.append(r)
            print(f"{family:8s} {str(levels):4s} target={target:3s} levels={r['n_levels']} "
                  f"feasible={r['feasible']} CK {r['ck_rel_diff']:.4f} NTK "
                  f"{r['ntk_rel_diff']:.4f} ({r['seconds']:.0f} s)", flush=True)
    # written once, complete: an interrupted run leaves the previous file as it was
    atomic_write_json(args.out, {"config": {"data": "mixed", "n": args.n, "p": args.p,
                                            "widths": [1024, 1024, 512], "eps": 0.9,
                                            "tol": args.tol, "tau0": tau0},
                                 "rows": rows, "versions": versions()})
    return 0
