"""Time to first result: the default ``ntkcomp compress`` run, first in a fresh JAX
compilation cache, then repeated with the cache filled.

Each run is a separate process (``python -m experiments.cli compress ...``) with
``NTKCOMP_JAX_CACHE`` pointing at a new temporary directory, so the first run compiles
everything and the repeat loads the compiled programs from the persistent cache. Recorded
per run: wall time, the child's CPU time (user + system), the step timings of
``report.json`` and the load average before the run (timings are only meaningful on an
otherwise idle machine).

    ntkcomp bench time_to_first_result [--repeats 1] [--out PATH] [-- extra compress args]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments.harness import Parser
from ntkcomp.io import atomic_write_json, run_metadata

__all__ = ["main", "time_run"]


def time_run(cache: Path, out: Path, extra: list[str]) -> dict:
    """Run ``ntkcomp compress`` once in a child process; return its timings.

    Args:
      cache: the JAX compilation cache directory of the child.
      out: the run directory of the child.
      extra: extra arguments of ``ntkcomp compress``.

    Returns:
      ``{"wall_s", "cpu_s", "load_before", "steps_s", "returncode"}``.
    """
    env = {**os.environ, "NTKCOMP_JAX_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "experiments.cli", "compress", "--no-progress",
           "--out", str(out), *extra]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"ntkcomp compress failed ({r.returncode}): {r.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    return {"wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "load_before": load, "steps_s": report.get("timings_s", {}),
            "returncode": r.returncode}


def main(argv=None) -> int:
    """Run the benchmark; returns the exit status."""
    ap = Parser(prog="ntkcomp bench time_to_first_result", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1,
                    help="repeat runs after the first (default 1; >= 1)")
    ap.add_argument("--out", default="ntkcomp_runs/benchmarks/time_to_first_result.json",
                    help="result JSON (default under the current directory)")
    ap.add_argument("extra", nargs="*", help="extra arguments of ntkcomp compress (after --)")
    a = ap.parse_args(argv)
    if not 1 <= a.repeats <= 20:
        raise ValueError(f"repeats must be an integer in [1, 20], got {a.repeats}")
    if not a.out.strip():
        raise ValueError("out must be a non-empty file path")
    out = Path(a.out)
    with tempfile.TemporaryDirectory(prefix="ntkcomp_ttfr_") as tmp:
        cache, runs = Path(tmp) / "cache", []
        for i in range(1 + a.repeats):
            runs.append(time_run(cache, Path(tmp) / "run", list(a.extra)))
            kind = "first (fresh cache)" if i == 0 else "repeat (cache filled)"
            print(f"{kind:24s} wall {runs[-1]['wall_s']:6.1f} s  cpu {runs[-1]['cpu_s']:6.1f} s"
                  f"  load {runs[-1]['load_before']:.1f}  steps "
                  + ", ".join(f"{k} {v:.1f}" for k, v in runs[-1]["steps_s"].items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, {"benchmark": "time_to_first_result",
                            "command": ["ntkcomp", "compress", *a.extra],
                            "first": runs[0], "repeats": runs[1:],
                            **run_metadata({"benchmark": "time_to_first_result"})})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
