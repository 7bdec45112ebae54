"""Shared command line of the experiment sweeps in experiments/ (resumable: rerun the same
command after an interruption and only the unfinished points are computed)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse(name: str, doc: str, argv=None):
    ap = argparse.ArgumentParser(prog=f"python experiments/{name}.py", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Resumable: every finished point is one atomic file "
                                        "in OUT/points/; stop the sweep at any time (Ctrl-C, "
                                        "SIGTERM) and rerun the same command: finished points "
                                        "are skipped, the rest computed. OUT also receives "
                                        "manifest.json, config.json, metadata.json (versions, "
                                        "git revision, seeds), results.json/.npz and the "
                                        "figure (PNG + PDF).")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "_runs" / name), metavar="DIR",
                    help="sweep directory (default experiments/_runs/NAME)")
    ap.add_argument("--quick", action="store_true", help="tiny grid (seconds; for checks)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="run only the first N points of the grid (N >= 1; checks, partial "
                         "runs)")
    ap.add_argument("--debug", action="store_true", help="full tracebacks on errors")
    return ap.parse_args(argv)


def run(name: str, fn, points, args, summarize) -> int:
    """Run the sweep; bad input -> one line ``error: ...`` and status 2; an interrupted
    sweep (Ctrl-C / SIGTERM) says how many points are kept and exits 130 / 143."""
    prog = f"python experiments/{name}.py"
    try:
        return _run(name, fn, points, args, summarize)
    except ValueError as e:
        if getattr(args, "debug", False) or os.environ.get("NTKCOMP_DEBUG") == "1":
            raise
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemExit) as e:
        code = 130 if isinstance(e, KeyboardInterrupt) else e.code
        if code not in (130, 143):      # 143: SIGTERM (experiments.harness.sweep)
            raise
        done = _n_finished(args.out)
        print(f"\n[{name}] interrupted: {done} of {len(points)} points finished and kept in "
              f"{args.out}/points; rerun the same command to compute the rest", file=sys.stderr)
        return code


def _n_finished(out) -> int:
    from experiments.harness import load_sweep

    try:
        return len(load_sweep(out))
    except (OSError, ValueError, KeyError):
        return 0


def _run(name: str, fn, points, args, summarize) -> int:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    import ntkcomp
    from experiments.harness import RunDir, run_sweep

    ntkcomp.enable_x64()
    t0 = time.perf_counter()
    if getattr(args, "limit", None) is not None:
        if args.limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {args.limit}")
        points = points[:args.limit]
    seeds = {"points": sorted({p.get("seed", 0) for p in points})}
    # config + metadata (versions, git revision, seeds) before any point is computed
    rd = RunDir(args.out, {"experiment": name, "quick": bool(args.quick),
                           "limit": args.limit, "n_points": len(points), "points": points},
                seeds=seeds)
    out = run_sweep(fn, points, args.out, name=name, on_error="record",
                    progress=not args.no_progress)
    print(f"[{name}] computed {len(out.computed)}, reused {len(out.skipped)}, failed "
          f"{len(out.failed)} (see {args.out}/points/*.error.json)", file=sys.stderr)
    ok = [(p, r) for p, r in zip(points, out.results) if r is not None]
    table, fig = summarize(ok)
    # the table's numeric columns also as arrays (results.npz), one entry per row; only
    # columns numeric and non-NaN in every row (a None / NaN entry stays in results.json)
    def num(v):
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

    cols = sorted({k for row in table for k in row})
    arrays = {k: np.array([float(row[k]) for row in table]) for k in cols
              if table and all(num(row.get(k)) and not np.isnan(row[k]) for row in table)}
    rd.write_results({"table": table, "failed": out.failed,
                      "wall_time_s": time.perf_counter() - t0}, arrays)
    if fig is not None:
        rd.save_figure(fig, name)
    for row in table:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()))
    return 0 if not out.failed else 1
