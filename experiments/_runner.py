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
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "experiments" / "_runs" / name),
                    help="sweep directory (default experiments/_runs/NAME)")
    ap.add_argument("--quick", action="store_true", help="tiny grid (seconds; for checks)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="run only the first N points of the grid (checks, partial runs)")
    return ap.parse_args(argv)


def run(name: str, fn, points, args, summarize) -> int:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import matplotlib

    matplotlib.use("Agg")
    import ntkcomp
    from ntkcomp.experiments_lib import RunDir, run_sweep

    ntkcomp.enable_x64()
    t0 = time.perf_counter()
    if getattr(args, "limit", None) is not None:
        if args.limit < 1:
            raise SystemExit(f"--limit must be a positive integer, got {args.limit}")
        points = points[:args.limit]
    out = run_sweep(fn, points, args.out, name=name, on_error="record",
                    progress=not args.no_progress)
    print(f"[{name}] computed {len(out.computed)}, reused {len(out.skipped)}, failed "
          f"{len(out.failed)} (see {args.out}/points/*.error.json)", file=sys.stderr)
    ok = [(p, r) for p, r in zip(points, out.results) if r is not None]
    table, fig = summarize(ok)
    rd = RunDir(args.out, {"experiment": name, "n_points": len(points)},
                seeds={"points": sorted({p.get("seed", 0) for p in points})})
    rd.write_results({"table": table, "failed": out.failed,
                      "wall_time_s": time.perf_counter() - t0})
    if fig is not None:
        rd.save_figure(fig, name)
    for row in table:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()))
    return 0 if not out.failed else 1
