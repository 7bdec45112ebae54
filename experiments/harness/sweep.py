"""Resumable sweep runner: one atomic result file per point, a manifest, restart-safe.

A *sweep* maps a function ``fn(config) -> result`` over a list of point configurations
(JSON-able dicts). Layout of the sweep directory::

    out/
      manifest.json          sweep name, the list of points (key + config), metadata
      points/<key>.json      one file per FINISHED point: {"key", "config", "result", ...}
      points/<key>.npz       optional arrays of that point (written before its .json)
      points/<key>.error.json  the last error of a failed point (not "finished")

``key`` is a hash of the point's canonical JSON, so a point is identified by its config,
not by its position: adding points to a sweep, or reordering them, keeps finished work.

Guarantees:
- every file is written atomically (:mod:`ntkcomp.io`): after SIGKILL at any instant a
  result file is either complete or absent; after SIGTERM the runner also removes its
  temporary files (SIGTERM is turned into an orderly exit);
- a point counts as finished only when its ``.json`` exists, parses, and records the same
  config; finished points are skipped on restart, so a sweep stopped half-way and started
  again loses nothing and recomputes only unfinished points.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ntkcomp.io import to_jsonable, atomic_write_json, atomic_write_npz, run_metadata

from .args import Parser, add_run_options, run_main, setup_runtime
from .rundir import RunDir, check_out_path, check_writable_dir

__all__ = ["SweepOutcome", "canonical_json", "load_sweep", "point_key", "run_sweep",
           "run_sweep_command", "sweep_parser"]


def canonical_json(config: dict) -> str:
    """Canonical JSON text of a config (sorted keys, no spaces) used for hashing."""
    return json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))


def point_key(config: dict) -> str:
    """Stable 16-hex-digit identifier of a point configuration."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: results in point order, and counts."""

    results: list[Any]
    computed: list[str] = field(default_factory=list)   # keys computed in this call
    skipped: list[str] = field(default_factory=list)    # keys already finished on disk
    failed: list[str] = field(default_factory=list)     # keys whose fn raised (on_error="record")
    path: Path | None = None


class _SigtermToExit:
    """Context manager: SIGTERM raises SystemExit(143) so ``finally`` blocks run.

    The signal is also remembered (``received``): if the SystemExit is swallowed where the
    handler happened to run (e.g. inside a ``__del__`` or a callback from C++, where Python
    only prints "Exception ignored"), the sweep loop still stops before the next point.
    """

    def __enter__(self):
        self._old = None
        self.received = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                self.received = signum
                raise SystemExit(128 + signum)

            self._old = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


def _load_finished(pdir: Path, key: str, config: dict) -> tuple[bool, Any]:
    f = pdir / f"{key}.json"
    if not f.exists():
        return False, None
    try:
        with open(f) as fh:
            rec = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return False, None  # unreadable: recompute (cannot happen with atomic writes)
    if canonical_json(rec.get("config", {})) != canonical_json(config):
        return False, None  # hash collision or edited file: recompute
    result = rec.get("result")
    npz = pdir / f"{key}.npz"
    if rec.get("has_arrays") and npz.exists():
        import numpy as np

        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if isinstance(result, dict):
            result = {**result, "_arrays": arrays}
    return True, result


def _clean_stale_tmp(pdir: Path) -> None:
    for f in pdir.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            f.unlink()


def run_sweep(fn: Callable[[dict], Any], points: Iterable[dict], out: str | os.PathLike, *,
              name: str = "sweep", on_error: str = "raise", progress: bool = True,
              metadata: dict | None = None) -> SweepOutcome:
    """Run ``fn`` over ``points``, skipping points already finished in ``out``.

    Args:
      fn: ``fn(config: dict) -> result``. ``result`` must be JSON-able; a dict result
        may carry NumPy arrays under the key ``"_arrays"`` (a dict name -> array), which
        are stored in ``points/<key>.npz`` and returned again on restart.
      points: point configurations (JSON-able dicts); duplicates are run once.
      out: sweep directory (created if missing).
      name: sweep name recorded in the manifest.
      on_error: ``"raise"`` (stop at the first failing point; earlier points are kept)
        or ``"record"`` (write ``points/<key>.error.json`` and continue; the point is
        retried on the next run).
      progress: show a tqdm progress bar.
      metadata: extra JSON-able info recorded in the manifest.

    Returns:
      SweepOutcome with ``results`` in the order of ``points`` (``None`` for failed points).
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be one of ['raise', 'record'], got {on_error!r}")
    points = [dict(p) for p in points]
    for i, p in enumerate(points):
        try:
            canonical_json(p)
        except (TypeError, ValueError) as e:
            raise ValueError(f"points[{i}] must be a JSON-able dict ({e})") from None
    out = check_writable_dir(out)
    pdir = out / "points"
    pdir.mkdir(exist_ok=True)
    _clean_stale_tmp(pdir)
    keys = [point_key(p) for p in points]
    manifest = {"name": name, "n_points": len(points),
                "points": [{"key": k, "config": p} for k, p in zip(keys, points)],
                **run_metadata({"sweep": name, **(metadata or {})})}
    atomic_write_json(out / "manifest.json", manifest)

    outcome = SweepOutcome(results=[None] * len(points), path=out)
    done: dict[str, Any] = {}
    todo = []
    for i, (k, p) in enumerate(zip(keys, points)):
        if k in done:
            continue
        ok, res = _load_finished(pdir, k, p)
        if ok:
            done[k] = res
            outcome.skipped.append(k)
        else:
            todo.append((i, k, p))
            done[k] = None
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"{name} ({len(outcome.skipped)} done before)",
                   unit="pt")
    seen = set()
    with _SigtermToExit() as sigterm:
        try:
            for i, k, p in todo:
                if sigterm.received is not None:  # a SIGTERM whose SystemExit was swallowed
                    raise SystemExit(128 + sigterm.received)
                if k in seen:
                    continue
                seen.add(k)
                t0 = time.perf_counter()
                try:
                    res = fn(dict(p))
                except Exception as e:
                    if on_error == "raise":
                        raise
                    atomic_write_json(pdir / f"{k}.error.json", {
                        "key": k, "config": p, "error": f"{type(e).__name__}: {e}",
                        "traceback": traceback.format_exc()})
                    outcome.failed.append(k)
                    if bar is not None:
                        bar.update(1)
                    continue
                arrays = None
                if isinstance(res, dict) and "_arrays" in res:
                    arrays = res["_arrays"]
                    stored = {kk: vv for kk, vv in res.items() if kk != "_arrays"}
                else:
                    stored = res
                if arrays:
                    atomic_write_npz(pdir / f"{k}.npz", **arrays)
                # the .json is the "finished" marker: written last
                atomic_write_json(pdir / f"{k}.json", {
                    "key": k, "config": p, "result": stored, "has_arrays": bool(arrays),
                    "elapsed_s": time.perf_counter() - t0})
                with contextlib.suppress(OSError):
                    (pdir / f"{k}.error.json").unlink()
                done[k] = res
                outcome.computed.append(k)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    outcome.results = [done.get(k) for k in keys]
    return outcome


def load_sweep(out: str | os.PathLike) -> list[dict]:
    """Finished point records of a sweep directory, in manifest order (unfinished skipped)."""
    out = Path(out)
    with open(out / "manifest.json") as f:
        manifest = json.load(f)
    recs = []
    for entry in manifest["points"]:
        ok, res = _load_finished(out / "points", entry["key"], entry["config"])
        if ok:
            recs.append({"key": entry["key"], "config": entry["config"], "result": res})
    return recs


# ----------------------------------------------------------- the sweep command line ----

def sweep_parser(name: str, doc: str) -> Parser:
    """Options of an experiment sweep: ``--quick``, ``--limit`` and the run options."""
    ap = Parser(prog=f"python -m experiments.{name}", description=doc,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Resumable: every finished point is one atomic file; stop the sweep at "
                       "any time (Ctrl-C, SIGTERM) and rerun the same command: finished "
                       "points are reused, the rest computed. OUT is replaced whole when the "
                       "sweep completes and receives manifest.json, points/, config.json, "
                       "metadata.json (versions, device, git revision, seeds), "
                       "results.json/.npz and the figure (PNG + PDF).")
    ap.add_argument("--quick", action="store_true", help="tiny grid (seconds; for checks)")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="run only the first N points of the grid (N >= 1)")
    add_run_options(ap, os.path.join("ntkcomp_runs", "experiments", name))
    return ap


def run_sweep_command(name: str, fn, points_of, summarize, argv=None, *,
                      doc: str = "") -> int:
    """Run an experiment sweep as a command (``python -m experiments.NAME``).

    Args:
      name: the experiment's name (default run directory ``ntkcomp_runs/experiments/NAME``).
      fn: ``fn(config) -> result`` of one point.
      points_of: ``points_of(quick: bool) -> list[dict]``, the grid.
      summarize: ``summarize([(config, result), ...]) -> (table rows, figure or None)``.
      argv: arguments (default ``sys.argv[1:]``).
      doc: the description shown by ``--help``.

    Returns:
      Exit status: 0, 1 when a point failed, 2 on bad input, 130 / 143 when interrupted
      (finished points are kept for the next run).
    """
    prog = f"python -m experiments.{name}"
    return run_main(prog, lambda a: _sweep_main(name, fn, points_of, summarize, a, doc), argv)


def _sweep_main(name, fn, points_of, summarize, argv, doc) -> int:
    import numpy as np

    args = sweep_parser(name, doc).parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"limit must be an integer >= 1, got {args.limit}")
    check_out_path(args.out)
    setup_runtime(args.platform, float64=True)
    points = points_of(args.quick)[:args.limit]
    t0 = time.perf_counter()
    seeds = {"points": sorted({p.get("seed", 0) for p in points})}
    rd = RunDir(args.out, {"experiment": name, "quick": bool(args.quick), "limit": args.limit,
                           "n_points": len(points), "points": points}, seeds=seeds)
    try:
        out = run_sweep(fn, points, rd.path, name=name, on_error="record",
                        progress=not args.no_progress)
    except (KeyboardInterrupt, SystemExit):
        done = len(load_sweep(rd.path)) if (rd.path / "manifest.json").exists() else 0
        print(f"\n[{name}] interrupted: {done} of {len(points)} points finished and kept for "
              f"the next run; {args.out} is unchanged", file=sys.stderr)
        raise
    print(f"[{name}] computed {len(out.computed)}, reused {len(out.skipped)}, failed "
          f"{len(out.failed)}", file=sys.stderr)
    table, fig = summarize([(p, r) for p, r in zip(points, out.results) if r is not None])

    def num(v):
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

    cols = sorted({k for row in table for k in row})
    arrays = {k: np.array([float(row[k]) for row in table]) for k in cols
              if table and all(num(row.get(k)) and not np.isnan(row[k]) for row in table)}
    rd.write_results({"table": table, "failed": out.failed,
                      "wall_time_s": time.perf_counter() - t0}, arrays)
    if fig is not None:
        rd.save_figure(fig, name)
    rd.commit()
    for row in table:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()))
    print(f"[{name}] wrote {rd.final}/", file=sys.stderr)
    return 0 if not out.failed else 1
