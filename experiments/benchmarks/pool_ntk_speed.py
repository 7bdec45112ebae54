"""Pool several ``ntk_speed.py`` runs at one size into one speedup estimate.

    python experiments/benchmarks/pool_ntk_speed.py results/ntk_speed_run{5,6,7}_2048.json
    python experiments/benchmarks/pool_ntk_speed.py --n 2048 --config w1000x3 FILE ...

Speedup = median of every neural-tangents implementation-1 call (the compile call excluded,
as in ``ntk_speed.py``) over the median of every call of ours (the calls before AND after
the NT child: the bracketing protocol), pooled over the files. The 95 % interval is a
percentile bootstrap of that ratio of medians: each side is resampled with replacement
within the pool (``--resamples`` per side, seed ``--seed``). Runs whose row lacks NT
timings (NT failed or skipped) are reported and left out.

Only numbers measured with the same protocol belong in one pool (``--malloc`` is printed
per file; the default-allocator runs 1-2 of the README are not comparable).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load_row(path: Path, n: int, config: str, dtype: str) -> dict | None:
    """The benchmark row of ``(config, dtype, n)`` in one result file, or None."""
    data = json.loads(path.read_text())
    for row in data.get("rows", []):
        if (row.get("n"), row.get("config"), row.get("dtype")) == (n, config, dtype):
            return {"malloc": data.get("meta", {}).get("config", {}).get("malloc", "?"),
                    **row}
    return None


def call_times(row: dict) -> tuple[list, list]:
    """``(NT impl 1 call times, our call times before and after NT)`` of one row."""
    nt = list((row.get("nt1") or {}).get("times_s") or [])
    return nt, list(row.get("times_s", [])) + list(row.get("times_after_nt_s", []))


def pooled_speedup(nt_times, our_times, *, resamples: int = 20000, seed: int = 0):
    """``(ratio of medians, (lo, hi) 95 % percentile bootstrap)``."""
    nt = np.asarray(nt_times, float)
    ours = np.asarray(our_times, float)
    if nt.size == 0 or ours.size == 0:
        raise ValueError("need at least one NT call and one call of ours")
    rng = np.random.default_rng(seed)
    nt_b = np.median(rng.choice(nt, (resamples, nt.size)), axis=1)
    our_b = np.median(rng.choice(ours, (resamples, ours.size)), axis=1)
    lo, hi = np.percentile(nt_b / our_b, [2.5, 97.5])
    return float(np.median(nt) / np.median(ours)), (float(lo), float(hi))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--config", default="w1000x3")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--resamples", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.resamples < 100:
        ap.error(f"--resamples must be >= 100, got {args.resamples}")
    nt_all, ours_all = [], []
    print(f"{'file':40s} malloc  NT calls  NT median s  ours calls  ours median s  speedup")
    for f in args.files:
        row = load_row(f, args.n, args.config, args.dtype)
        if row is None:
            print(f"{f.name:40s} no row for n = {args.n}, {args.config}, {args.dtype}: skipped")
            continue
        nt, ours = call_times(row)
        if not nt or not ours:
            print(f"{f.name:40s} no NT impl 1 timings: skipped")
            continue
        r = np.median(nt) / np.median(ours)
        print(f"{f.name:40s} {row['malloc']:7s} {len(nt):8d} {np.median(nt):12.1f} "
              f"{len(ours):11d} {np.median(ours):14.4f} {r:8.1f}x")
        nt_all += nt
        ours_all += ours
    if not nt_all:
        print("nothing to pool", file=sys.stderr)
        return 1
    ratio, (lo, hi) = pooled_speedup(nt_all, ours_all, resamples=args.resamples, seed=args.seed)
    print(f"pooled: {len(nt_all)} NT calls (median {np.median(nt_all):.1f} s), "
          f"{len(ours_all)} of ours (median {np.median(ours_all):.4f} s): {ratio:.1f}x, "
          f"95 % bootstrap {lo:.0f}-{hi:.0f}x ({args.resamples} resamples per side)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
